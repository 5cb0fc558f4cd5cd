// ProgramCodeVersion: what a C++ callable's cache key holds when it names no code version. The
// GNU build-id is a hash the linker computes over the code it links, so it changes when the code
// does and costs nothing to read (it is in the loaded image). System libraries are left out:
// they hold no pipeline code, and an update of libc should not empty every cache.
#include "pipeline/code_version.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "mlcore/pipeline/component.h"
#include "mlcore/store/artifact_store.h"

namespace mlcore::pipeline {
namespace {

constexpr std::string_view kSystemDirectories[] = {"/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/",
                                                   "/usr/local/cuda"};

bool IsSystemObject(std::string_view path) {
  if (path.find("linux-vdso") != std::string_view::npos) return true;
  for (std::string_view dir : kSystemDirectories) {
    if (path.substr(0, dir.size()) == dir) return true;
  }
  return false;
}

// The NT_GNU_BUILD_ID note of a loaded object, as hex; empty when it has none.
std::string BuildId(const dl_phdr_info* info) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof(ElfW(Nhdr));
      const char* desc = name + ((note->n_namesz + 3) & ~3u);
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
          std::string_view(name, 3) == "GNU" && desc + note->n_descsz <= end) {
        return absl::BytesToHexString(absl::string_view(desc, note->n_descsz));
      }
      p = desc + ((note->n_descsz + 3) & ~3u);
    }
  }
  return "";
}

int Collect(dl_phdr_info* info, size_t, void* data) {
  auto* ids = static_cast<std::vector<std::string>*>(data);
  // The program itself comes first, with an empty name.
  const bool program = ids->empty();
  std::string path = program ? "/proc/self/exe" : info->dlpi_name;
  if (!program && (path.empty() || IsSystemObject(path))) return 0;
  std::string id = BuildId(info);
  if (id.empty()) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      id = absl::StrCat(path, ":", st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec);
    } else {
      id = path;
    }
  }
  ids->push_back(std::move(id));
  return 0;
}

// How many objects the dynamic linker has loaded and unloaded so far: the version is computed
// again after a dlopen (a plugin of callables loaded after the first run) or a dlclose.
int LoadCounters(dl_phdr_info* info, size_t size, void* data) {
  auto* counters = static_cast<std::pair<unsigned long long, unsigned long long>*>(data);
  if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
    *counters = {info->dlpi_adds, info->dlpi_subs};
  }
  return 1;  // the first object holds them
}

std::string ComputeProgramCodeVersion() {
  std::vector<std::string> ids;
  dl_iterate_phdr(&Collect, &ids);
  // The program first, then its libraries in a fixed order (load order may vary).
  std::sort(ids.begin() + std::min<size_t>(1, ids.size()), ids.end());
  std::string all;
  for (const std::string& id : ids) absl::StrAppend(&all, id, "\n");
  return absl::StrCat("build-id:", store::Sha256Hex(all).value_or(all));
}

// The object (program or shared library) that defines `fn`'s code: a function pointer's
// target, else the type_info of the lambda or functor, which the compiler emits into the object
// defining the type. Empty when unknown.
std::string DefiningObject(const Callable& fn) {
  using Pointer = Status (*)(TaskContext&);
  const void* address = &fn.target_type();
  if (const Pointer* p = fn.target<Pointer>()) address = reinterpret_cast<const void*>(*p);
  Dl_info info{};
  if (::dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "";
  return info.dli_fname;
}

struct Match {
  std::string path;
  std::string id;
};

int FindObject(dl_phdr_info* info, size_t, void* data) {
  auto* match = static_cast<Match*>(data);
  if (info->dlpi_name == nullptr || match->path != info->dlpi_name) return 0;
  match->id = BuildId(info);
  return 1;
}

}  // namespace

const std::string& ProgramCodeVersion() {
  static std::mutex mu;
  static std::set<std::string>* versions = new std::set<std::string>();
  static const std::string* current = nullptr;
  static std::pair<unsigned long long, unsigned long long> seen{~0ull, ~0ull};
  std::pair<unsigned long long, unsigned long long> counters{0, 0};
  dl_iterate_phdr(&LoadCounters, &counters);
  std::lock_guard<std::mutex> lock(mu);
  if (current == nullptr || counters != seen) {
    // Kept for the process's life: callers hold references to earlier versions.
    current = &*versions->insert(ComputeProgramCodeVersion()).first;
    seen = counters;
  }
  return *current;
}

std::string CallableCodeVersion(const Callable& fn) {
  const std::string& program = ProgramCodeVersion();
  const std::string object = DefiningObject(fn);
  // Objects outside the system directories are in the program's version already; a library of
  // callables installed in /usr/lib is not, so it is added here.
  if (object.empty() || !IsSystemObject(object)) return program;
  Match match{object, ""};
  dl_iterate_phdr(&FindObject, &match);
  if (match.id.empty()) {
    struct stat st {};
    if (::stat(object.c_str(), &st) != 0) return program;
    match.id = absl::StrCat(object, ":", st.st_size, ":", st.st_mtim.tv_sec);
  }
  return absl::StrCat(program, "+", match.id);
}

}  // namespace mlcore::pipeline
