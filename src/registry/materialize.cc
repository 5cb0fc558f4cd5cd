// A version's files as a directory a backend can load. The shared copy is named by the
// manifest digest, so every version with the same files (and every process) shares one, and it
// appears by rename, so a reader never sees half of it.
#include <filesystem>
#include <mutex>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "mlcore/registry/model_registry.h"

namespace mlcore::registry {
namespace fs = std::filesystem;
namespace {

// GetDirectory stages beside its destination under a per-process name, so two threads of one
// process copying the same shared directory would share a staging folder: they take turns.
std::mutex& SharedCopyMutex() {
  static auto* mu = new std::mutex;
  return *mu;
}

}  // namespace

StatusOr<std::string> ModelRegistry::Materialize(const ModelVersion& version,
                                                 const std::string& dest) {
  std::string target = dest;
  std::error_code ec;
  std::unique_lock<std::mutex> lock(SharedCopyMutex(), std::defer_lock);
  if (target.empty()) {
    lock.lock();
    target = absl::StrCat(home_, "/registry/models/", version.digest);
    if (fs::is_directory(target, ec)) return target;
    fs::create_directories(fs::path(target).parent_path(), ec);
    if (ec) {
      return absl::InternalError(absl::StrCat(
          "cannot create ", fs::path(target).parent_path().string(), ": ", ec.message()));
    }
  }
  MLCORE_RETURN_IF_ERROR(artifacts_->VerifyDirectory(version.digest));
  Status copied = artifacts_->GetDirectory(version.digest, target);
  // Another process materialising the same digest may have renamed its copy into place first:
  // same digest, same files, so that copy serves.
  if (!copied.ok() && dest.empty() && fs::is_directory(target, ec)) return target;
  if (!copied.ok()) {
    return absl::Status(copied.code(), absl::StrCat("materialising ", version.name, "/",
                                                    version.version, ": ", copied.message()));
  }
  return target;
}

StatusOr<std::string> ModelRegistry::Materialize(std::string_view ref, const std::string& dest) {
  MLCORE_ASSIGN_OR_RETURN(ModelVersion version, Resolve(ref));
  return Materialize(version, dest);
}

}  // namespace mlcore::registry
