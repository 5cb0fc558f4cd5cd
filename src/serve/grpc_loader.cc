// The "grpc" front end as libmlcore sees it: a factory that opens libmlcore_grpc (the gRPC front
// end with grpc++ and protobuf, built by cmake/grpc.cmake) the first time a server asks for a
// gRPC port, and hands over to the factory inside it. A server without gRPC, and every process
// that only imports mlcore, never maps grpc++ (about 10 MB resident, see docs/serving.md).
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/cuda_libs.h"
#include "mlcore/build_config.h"
#include "mlcore/serve/server.h"

namespace mlcore::serve {
namespace {

// The C entry point of libmlcore_grpc (src/serve/grpc/frontend.cc): returns its factory.
constexpr char kEntryPoint[] = "mlcore_grpc_frontend_factory";
using EntryPoint = const FrontendFactory* (*)();

// The folder libmlcore was loaded from: libmlcore_grpc is installed beside it (the build tree,
// the installed prefix's lib/, the Python package).
std::string ThisLibraryDir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&ThisLibraryDir), &info) == 0 || info.dli_fname == nullptr) {
    return "";
  }
  return std::filesystem::path(info.dli_fname).parent_path().string();
}

// "libmlcore_grpc.so.<major>": the soname CMake gives it, the major version libmlcore has.
std::string Soname() {
  const std::string version = MLCORE_VERSION_STRING;
  return absl::StrCat("libmlcore_grpc.so.", version.substr(0, version.find('.')));
}

internal::LazyLibraries& GrpcLibrary() {
  static auto* libs = new internal::LazyLibraries({{"the gRPC front end", Soname()}}, [] {
    internal::LibrarySearchPath path;
    if (const char* dir = std::getenv("MLCORE_GRPC_LIB_DIR"); dir != nullptr && *dir != '\0') {
      path.dirs_first.push_back(dir);
    }
    if (std::string dir = ThisLibraryDir(); !dir.empty()) path.dirs_first.push_back(dir);
    return path;
  });
  return *libs;
}

StatusOr<std::unique_ptr<Frontend>> CreateGrpcFrontend(ModelManager& models,
                                                       const ServerOptions& options, int port) {
  StatusOr<void*> entry = GrpcLibrary().Symbol(0, kEntryPoint);
  if (!entry.ok()) {
    return absl::NotFoundError(absl::StrCat(
        "this mlcore has no gRPC front end (it is built when Debian's libgrpc++-dev and "
        "protobuf-compiler-grpc are installed): ",
        entry.status().message()));
  }
  const FrontendFactory* factory = reinterpret_cast<EntryPoint>(*entry)();
  return (*factory)(models, options, port);
}

const Registrar<FrontendFactory> kRegistrar(FrontendRegistry(), "grpc", &CreateGrpcFrontend);

}  // namespace
}  // namespace mlcore::serve
