// ProgramCodeVersion: what a C++ callable's cache key holds when it names no code version. The
// GNU build-id is a hash the linker computes over the code it links, so it changes when the code
// does and costs nothing to read (it is in the loaded image). System libraries are left out:
// they hold no pipeline code, and an update of libc should not empty every cache.
#include <elf.h>
#include <link.h>
#include <sys/stat.h>

#include <algorithm>
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

}  // namespace

const std::string& ProgramCodeVersion() {
  static const std::string* version = [] {
    std::vector<std::string> ids;
    dl_iterate_phdr(&Collect, &ids);
    // The program first, then its libraries in a fixed order (load order may vary).
    std::sort(ids.begin() + std::min<size_t>(1, ids.size()), ids.end());
    std::string all;
    for (const std::string& id : ids) absl::StrAppend(&all, id, "\n");
    return new std::string(absl::StrCat("build-id:", store::Sha256Hex(all).value_or(all)));
  }();
  return *version;
}

}  // namespace mlcore::pipeline
