// The CUDA libraries mlcore calls beyond the statically linked runtime (cuBLAS and the cuBLASLt it
// needs, cuDNN, NCCL) are opened with dlopen on first GPU use, never when libmlcore loads: a
// CPU-only process does not pay their resident memory (cuBLASLt alone maps ~150 MB), and a host
// without them still imports and trains on the CPU. This is the one loader for all of them.
//
// Where it looks, in order: the directories of MLCORE_CUDA_LIB_DIR (':'-separated), the dynamic
// linker's own search (LD_LIBRARY_PATH, ld.so.cache, the system folders), then the toolkit
// folders CMake found when mlcore was built. A library that fails to load stays failed for the
// process (the attempt is not repeated on every call); its error names the library, its soname
// and every place tried.
//
// The kernels keep calling cublasGemmEx & co.: src/core/cuda_libs_cublas.cc and
// cuda_libs_cudnn.cc define those entry points inside libmlcore (hidden, so they never interpose
// on another copy of cuBLAS in the process) as forwarders through ForwardOr below.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/core/status.h"

namespace mlcore::internal {

// Where to look for a shared library, in order.
struct LibrarySearchPath {
  std::vector<std::string> dirs_first;  // MLCORE_CUDA_LIB_DIR
  bool dynamic_linker = true;           // dlopen(soname): LD_LIBRARY_PATH, ld.so.cache, /usr/lib
  std::vector<std::string> dirs_last;   // the toolkit folders of the build
};

// The search path of the CUDA libraries now: MLCORE_CUDA_LIB_DIR is read on each call.
LibrarySearchPath CudaLibrarySearchPath();

struct LibrarySpec {
  std::string name;    // for messages: "cuBLAS"
  std::string soname;  // "libcublas.so.13"
  int needs = -1;      // index (in the same LazyLibraries) of a library to open first, or -1
};

// One dlopen'ed library: its handle and the file it came from.
struct OpenedLibrary {
  void* handle = nullptr;
  std::string path;
};

// Opens the first `spec.soname` found along `path`. FailedPrecondition when none opens, naming
// the library and each place tried with the dynamic linker's reason.
StatusOr<OpenedLibrary> OpenLibrary(const LibrarySpec& spec, const LibrarySearchPath& path);

// A fixed set of libraries, each opened on its first use and at most once (thread-safe).
// Handles are never closed: the libraries stay for the life of the process, as linked ones do.
class LazyLibraries {
 public:
  LazyLibraries(std::vector<LibrarySpec> specs, std::function<LibrarySearchPath()> search_path);
  ~LazyLibraries();
  LazyLibraries(const LazyLibraries&) = delete;
  LazyLibraries& operator=(const LazyLibraries&) = delete;

  // The handle of library `index`, opening it (and what it needs) on first use.
  StatusOr<void*> Handle(int index);
  // A function or variable of library `index`; FailedPrecondition naming both when the library
  // or the symbol is missing.
  StatusOr<void*> Symbol(int index, const char* name);
  bool IsLoaded(int index) const;
  // The first error met for library `index` (its load or a symbol), or nullptr. The text stays
  // valid for the object's life: cuBLAS/cuDNN's error-string forwarders return it.
  const char* FirstError(int index) const;
  const LibrarySpec& spec(int index) const;

 private:
  struct Entry;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::function<LibrarySearchPath()> search_path_;
};

// The CUDA libraries of this build (indices into CudaLibraries()).
enum CudaLibrary : int { kCublasLt = 0, kCublas, kCudnn, kNccl };

// The CUDA libraries' specs, by CudaLibrary: sonames carry the major versions of the headers the
// kernels were compiled against, so a library of another ABI is never picked up. Without CUDA
// (or without a library's headers) the soname is empty and loading it fails saying so.
std::vector<LibrarySpec> CudaLibrarySpecs();

// The process-wide set, searched along CudaLibrarySearchPath().
LazyLibraries& CudaLibraries();

// True when library `lib` is loaded or loads now (a GPU code path choosing a fallback, e.g.
// Conv2d's im2col when cuDNN is missing). Never call it on a CPU-only path: it loads the library.
bool CudaLibraryAvailable(CudaLibrary lib);

// The body of every forwarder: calls `symbol` of library `lib` (resolved once into `slot`) with
// `args`, or returns `failed` (the library's own "not initialized" status) when it cannot be
// resolved; the reason stays in libs.FirstError(lib) for the error-string forwarder to show.
template <typename Fn, typename Result, typename... Args>
Result ForwardOr(LazyLibraries& libs, int lib, std::atomic<void*>& slot, const char* symbol,
                 Result failed, Args... args) {
  void* fn = slot.load(std::memory_order_acquire);
  if (fn == nullptr) {
    StatusOr<void*> found = libs.Symbol(lib, symbol);
    if (!found.ok()) return failed;
    fn = *found;
    slot.store(fn, std::memory_order_release);
  }
  return reinterpret_cast<Fn*>(fn)(args...);
}

}  // namespace mlcore::internal
