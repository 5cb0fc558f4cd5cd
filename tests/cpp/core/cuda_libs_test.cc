// The loader behind cuBLAS/cuDNN/NCCL (src/core/cuda_libs.h): its search order, its error when a
// library is missing (which library, every place tried), a missing symbol, and the forwarders'
// failure value. A stand-in library (SQLite, which the tests link anyway, under a made-up
// soname in a scratch folder) plays the found library, so this runs on any machine.
#include "core/cuda_libs.h"

#include <dlfcn.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace mlcore::internal {
namespace {

namespace fs = std::filesystem;

#define EXPECT_HAS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << (text) << "\n  lacks: " << (part)

class CudaLibsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/mlcore_cuda_libs_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    empty_ = root_ / "empty";
    found_ = root_ / "found";
    fs::create_directories(empty_);
    fs::create_directories(found_);
    // The file SQLite was loaded from, under the stand-in soname.
    Dl_info info{};
    ASSERT_NE(dladdr(reinterpret_cast<void*>(&sqlite3_libversion), &info), 0);
    fs::create_symlink(fs::canonical(info.dli_fname), found_ / kFake);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
    ::unsetenv("MLCORE_CUDA_LIB_DIR");
  }

  static constexpr const char* kFake = "libmlcore_test_stand_in.so.7";
  fs::path root_, empty_, found_;
};

TEST_F(CudaLibsTest, MissingLibraryNamesItAndEveryPlaceTried) {
  LibrarySearchPath path;
  path.dirs_first = {empty_.string()};
  path.dynamic_linker = true;
  path.dirs_last = {(root_ / "toolkit").string()};
  auto opened = OpenLibrary({"cuWhatever", "libmlcore_no_such_library.so.3"}, path);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(opened.status().message());
  EXPECT_HAS(message, "cuWhatever (libmlcore_no_such_library.so.3) could not be loaded");
  EXPECT_HAS(message, "MLCORE_CUDA_LIB_DIR " + empty_.string());
  EXPECT_HAS(message, "the dynamic linker's path");
  EXPECT_HAS(message, "the CUDA toolkit folder of the build " + (root_ / "toolkit").string());
  EXPECT_HAS(message, "set MLCORE_CUDA_LIB_DIR");
}

TEST_F(CudaLibsTest, SearchesTheEnvironmentFoldersFirstAndTheToolkitLast) {
  LibrarySearchPath path;
  path.dirs_first = {empty_.string(), found_.string()};
  path.dynamic_linker = false;
  auto opened = OpenLibrary({"Stand-in", kFake}, path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->path, (found_ / kFake).string());

  path.dirs_first = {empty_.string()};
  path.dirs_last = {found_.string()};
  opened = OpenLibrary({"Stand-in", kFake}, path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->path, (found_ / kFake).string());
}

TEST_F(CudaLibsTest, EnvironmentVariableIsAListOfFolders) {
  ::setenv("MLCORE_CUDA_LIB_DIR", (empty_.string() + "::" + found_.string()).c_str(), 1);
  LibrarySearchPath path = CudaLibrarySearchPath();
  EXPECT_EQ(path.dirs_first, (std::vector<std::string>{empty_.string(), found_.string()}));
  EXPECT_TRUE(path.dynamic_linker);
#ifdef MLCORE_WITH_CUDA
  EXPECT_FALSE(path.dirs_last.empty());  // the toolkit folder CMake found
#endif
  ::unsetenv("MLCORE_CUDA_LIB_DIR");
  EXPECT_TRUE(CudaLibrarySearchPath().dirs_first.empty());
}

TEST_F(CudaLibsTest, LoadsOnceResolvesSymbolsAndKeepsTheFirstError) {
  int searches = 0;
  LazyLibraries libs(
      {{"Stand-in", kFake}, {"Missing", "libmlcore_missing.so.1"}, {"Needy", kFake, /*needs=*/1}},
      [&] {
        ++searches;
        LibrarySearchPath path;
        path.dirs_first = {found_.string()};
        path.dynamic_linker = false;
        return path;
      });
  EXPECT_FALSE(libs.IsLoaded(0));
  auto version = libs.Symbol(0, "sqlite3_libversion");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_TRUE(libs.IsLoaded(0));
  EXPECT_STREQ(reinterpret_cast<const char* (*)()>(*version)(), sqlite3_libversion());
  EXPECT_EQ(libs.FirstError(0), nullptr);

  auto absent = libs.Symbol(0, "cublasNoSuchEntryPoint");
  ASSERT_FALSE(absent.ok());
  EXPECT_HAS(absent.status().message(),
             "Stand-in (" + std::string(kFake) + ") has no symbol cublasNoSuchEntryPoint");
  ASSERT_NE(libs.FirstError(0), nullptr);
  EXPECT_HAS(libs.FirstError(0), "cublasNoSuchEntryPoint");

  auto missing = libs.Handle(1);
  ASSERT_FALSE(missing.ok());
  EXPECT_HAS(missing.status().message(), "Missing (libmlcore_missing.so.1) could not be loaded");
  EXPECT_HAS(missing.status().message(), found_.string());
  EXPECT_EQ(libs.Handle(1).status(), missing.status());  // not searched again
  const int searched = searches;
  EXPECT_FALSE(libs.Handle(1).ok());
  EXPECT_EQ(searches, searched);

  auto needy = libs.Handle(2);
  ASSERT_FALSE(needy.ok());
  EXPECT_HAS(needy.status().message(),
             "Needy (" + std::string(kFake) + ") needs Missing, which failed");
  EXPECT_FALSE(libs.IsLoaded(2));
}

TEST_F(CudaLibsTest, ForwarderReturnsTheFailureValueWhenTheLibraryIsMissing) {
  LazyLibraries libs({{"Stand-in", kFake}, {"Missing", "libmlcore_missing.so.1"}}, [&] {
    LibrarySearchPath path;
    path.dirs_first = {found_.string()};
    path.dynamic_linker = false;
    return path;
  });
  std::atomic<void*> slot{nullptr};
  const char* version = ForwardOr<const char*()>(libs, 0, slot, "sqlite3_libversion",
                                                 static_cast<const char*>(nullptr));
  ASSERT_NE(version, nullptr);
  EXPECT_STREQ(version, sqlite3_libversion());
  EXPECT_NE(slot.load(), nullptr);  // resolved once, then called directly

  std::atomic<void*> missing_slot{nullptr};
  EXPECT_EQ(ForwardOr<int(int)>(libs, 1, missing_slot, "anything", -7, 3), -7);
  EXPECT_EQ(missing_slot.load(), nullptr);
  ASSERT_NE(libs.FirstError(1), nullptr);
  EXPECT_HAS(libs.FirstError(1), "libmlcore_missing.so.1");
}

// The real table, searched only in an empty MLCORE_CUDA_LIB_DIR: what a host without the CUDA
// libraries reports on first GPU use.
TEST_F(CudaLibsTest, CudaLibrariesMissingFromAnEmptyFolder) {
  ::setenv("MLCORE_CUDA_LIB_DIR", empty_.c_str(), 1);
  LazyLibraries libs(CudaLibrarySpecs(), [] {
    LibrarySearchPath path = CudaLibrarySearchPath();
    path.dynamic_linker = false;
    path.dirs_last.clear();
    return path;
  });
  auto cublas = libs.Handle(kCublas);
  ASSERT_FALSE(cublas.ok());
  EXPECT_EQ(cublas.status().code(), absl::StatusCode::kFailedPrecondition);
#ifdef MLCORE_WITH_CUDA
  EXPECT_HAS(cublas.status().message(), "cuBLAS (libcublas.so.");
  EXPECT_HAS(cublas.status().message(), "needs cuBLASLt, which failed: cuBLASLt (libcublasLt.so.");
  EXPECT_HAS(cublas.status().message(), "MLCORE_CUDA_LIB_DIR " + empty_.string());
#else
  EXPECT_HAS(cublas.status().message(), "this build of mlcore does not use it");
  EXPECT_HAS(CudaLibraries().Handle(kCudnn).status().message(), "does not use it");
#endif
}

}  // namespace
}  // namespace mlcore::internal
