#include "cuda_libs.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/cuda_version_headers.h"
#include "mlcore/build_config.h"

namespace mlcore::internal {
namespace {

std::vector<std::string> SplitDirs(const char* list) {
  if (list == nullptr) return {};
  return absl::StrSplit(list, ':', absl::SkipEmpty());
}

// dlopen with the dynamic linker's reason on failure.
void* TryOpen(const std::string& file, std::string* why) {
  void* h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = dlerror();
    *why = e != nullptr ? e : "unknown dlopen error";
  }
  return h;
}

#define MLCORE_STRINGIFY_(x) #x
#define MLCORE_STRINGIFY(x) MLCORE_STRINGIFY_(x)

}  // namespace

std::vector<LibrarySpec> CudaLibrarySpecs() {
  std::vector<LibrarySpec> specs(4);
#ifdef MLCORE_WITH_CUDA
  specs[kCublasLt] = {"cuBLASLt", "libcublasLt.so." MLCORE_STRINGIFY(CUBLAS_VER_MAJOR)};
  specs[kCublas] = {"cuBLAS", "libcublas.so." MLCORE_STRINGIFY(CUBLAS_VER_MAJOR), kCublasLt};
#else
  specs[kCublasLt] = {"cuBLASLt", ""};
  specs[kCublas] = {"cuBLAS", ""};
#endif
#if defined(MLCORE_WITH_CUDA) && defined(MLCORE_HAVE_CUDNN)
  specs[kCudnn] = {"cuDNN", "libcudnn.so." MLCORE_STRINGIFY(CUDNN_MAJOR)};
#else
  specs[kCudnn] = {"cuDNN", ""};
#endif
#if defined(MLCORE_WITH_CUDA) && defined(MLCORE_HAVE_NCCL_HEADERS)
  specs[kNccl] = {"NCCL", "libnccl.so." MLCORE_STRINGIFY(NCCL_MAJOR)};
#else
  specs[kNccl] = {"NCCL", ""};
#endif
  return specs;
}

LibrarySearchPath CudaLibrarySearchPath() {
  LibrarySearchPath path;
  path.dirs_first = SplitDirs(std::getenv("MLCORE_CUDA_LIB_DIR"));
  path.dynamic_linker = true;
  path.dirs_last = SplitDirs(MLCORE_CUDA_LIBRARY_DIRS);
  return path;
}

StatusOr<OpenedLibrary> OpenLibrary(const LibrarySpec& spec, const LibrarySearchPath& path) {
  std::vector<std::string> tried;
  std::string why;
  auto in_dir = [&](const std::string& dir, const char* what) -> void* {
    const std::string file = absl::StrCat(dir, "/", spec.soname);
    void* h = TryOpen(file, &why);
    if (h == nullptr) tried.push_back(absl::StrCat(what, " ", dir, " (", why, ")"));
    return h;
  };
  for (const std::string& dir : path.dirs_first) {
    if (void* h = in_dir(dir, "MLCORE_CUDA_LIB_DIR"))
      return OpenedLibrary{h, dir + "/" + spec.soname};
  }
  if (path.dynamic_linker) {
    if (void* h = TryOpen(spec.soname, &why)) return OpenedLibrary{h, spec.soname};
    tried.push_back(absl::StrCat(
        "the dynamic linker's path (LD_LIBRARY_PATH, ld.so.cache, system folders) (", why, ")"));
  }
  for (const std::string& dir : path.dirs_last) {
    if (void* h = in_dir(dir, "the CUDA toolkit folder of the build")) {
      return OpenedLibrary{h, dir + "/" + spec.soname};
    }
  }
  if (tried.empty()) tried.push_back("nowhere (the search path is empty)");
  return absl::FailedPreconditionError(
      absl::StrCat(spec.name, " (", spec.soname,
                   ") could not be loaded; looked in: ", absl::StrJoin(tried, "; "),
                   ". Install it, or set MLCORE_CUDA_LIB_DIR to the folder that holds it."));
}

struct LazyLibraries::Entry {
  LibrarySpec spec;
  std::once_flag once;
  std::atomic<void*> handle{nullptr};
  Status status;  // of the load, written once inside `once`
  mutable std::mutex mu;
  std::unique_ptr<const std::string> first_error;  // set once, then never changed
};

LazyLibraries::LazyLibraries(std::vector<LibrarySpec> specs,
                             std::function<LibrarySearchPath()> search_path)
    : search_path_(std::move(search_path)) {
  for (LibrarySpec& spec : specs) {
    entries_.push_back(std::make_unique<Entry>());
    entries_.back()->spec = std::move(spec);
  }
}

LazyLibraries::~LazyLibraries() = default;

const LibrarySpec& LazyLibraries::spec(int index) const { return entries_.at(index)->spec; }

bool LazyLibraries::IsLoaded(int index) const {
  return entries_.at(index)->handle.load(std::memory_order_acquire) != nullptr;
}

const char* LazyLibraries::FirstError(int index) const {
  const Entry& e = *entries_.at(index);
  std::lock_guard<std::mutex> lock(e.mu);
  return e.first_error ? e.first_error->c_str() : nullptr;
}

StatusOr<void*> LazyLibraries::Handle(int index) {
  Entry& e = *entries_.at(index);
  std::call_once(e.once, [&] {
    if (e.spec.soname.empty()) {
      e.status = absl::FailedPreconditionError(
          absl::StrCat(e.spec.name, " is unavailable: this build of mlcore does not use it"));
    } else if (Status needed = e.spec.needs >= 0 ? Handle(e.spec.needs).status() : Status();
               !needed.ok()) {
      e.status = absl::FailedPreconditionError(absl::StrCat(e.spec.name, " (", e.spec.soname,
                                                            ") needs ", spec(e.spec.needs).name,
                                                            ", which failed: ", needed.message()));
    } else {
      StatusOr<OpenedLibrary> opened = OpenLibrary(e.spec, search_path_());
      if (opened.ok()) {
        e.handle.store(opened->handle, std::memory_order_release);
      } else {
        e.status = opened.status();
      }
    }
    if (!e.status.ok()) {
      std::lock_guard<std::mutex> lock(e.mu);
      e.first_error = std::make_unique<const std::string>(e.status.message());
    }
  });
  if (!e.status.ok()) return e.status;
  return e.handle.load(std::memory_order_acquire);
}

StatusOr<void*> LazyLibraries::Symbol(int index, const char* name) {
  MLCORE_ASSIGN_OR_RETURN(void* handle, Handle(index));
  dlerror();
  void* sym = dlsym(handle, name);
  if (sym != nullptr) return sym;
  Entry& e = *entries_.at(index);
  const char* why = dlerror();
  Status st = absl::FailedPreconditionError(absl::StrCat(
      e.spec.name, " (", e.spec.soname, ") has no symbol ", name, " (",
      why != nullptr ? why : "null", "): it may be older than the headers mlcore was built with"));
  std::lock_guard<std::mutex> lock(e.mu);
  if (!e.first_error) e.first_error = std::make_unique<const std::string>(st.message());
  return st;
}

LazyLibraries& CudaLibraries() {
  static LazyLibraries* libs = new LazyLibraries(CudaLibrarySpecs(), CudaLibrarySearchPath);
  return *libs;
}

bool CudaLibraryAvailable(CudaLibrary lib) { return CudaLibraries().Handle(lib).ok(); }

}  // namespace mlcore::internal
