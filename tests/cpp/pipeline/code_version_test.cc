// A C++ callable without a code version is keyed on the program's build-ids, so a rebuild with
// other code is a cache miss, never a stale hit. (tests/cpp/install/check_install.sh rebuilds an
// application with other behaviour and checks the miss end to end.)
#include <dlfcn.h>

#include <cctype>

#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::FindTask;
using testing::Fn;
using testing::ScratchHome;

TEST(CodeVersion, ProgramVersionIsTheBuildIdsDigest) {
  const std::string& v = ProgramCodeVersion();
  ASSERT_EQ(v.size(), std::string("build-id:").size() + 64) << v;
  EXPECT_EQ(v.substr(0, 9), "build-id:");
  for (char c : v.substr(9)) EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(c))) << v;
  EXPECT_EQ(&ProgramCodeVersion(), &v);  // computed once
}

TEST(CodeVersion, CallablesWithoutOneGetTheProgramsAndCommandsNone) {
  auto fn = Fn("f", {}, {}, [](TaskContext&) { return absl::OkStatus(); });
  fn->code_version = "";
  EXPECT_EQ(fn->EffectiveCodeVersion(), ProgramCodeVersion());
  auto pinned = std::make_shared<Component>(*fn);
  pinned->code_version = ProgramCodeVersion();
  EXPECT_EQ(fn->DefinitionDigest(), pinned->DefinitionDigest());
  pinned->code_version = "1";
  EXPECT_NE(fn->DefinitionDigest(), pinned->DefinitionDigest());
  Component cmd;
  cmd.name = "c";
  cmd.command = {"true"};
  EXPECT_EQ(cmd.EffectiveCodeVersion(), "");
}

// A library loaded after the version was first computed (a plugin of callables) counts from then
// on: its code may define the callables of the next run.
TEST(CodeVersion, ALibraryLoadedLaterChangesTheVersion) {
  const std::string library = std::string(MLCORE_TEST_BINARY_DIR) + "/../libmlcore_grpc.so";
  if (void* loaded = ::dlopen(library.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
    ::dlclose(loaded);
    GTEST_SKIP() << library << " is loaded already";
  }
  const std::string before = ProgramCodeVersion();
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) GTEST_SKIP() << "no " << library << ": " << ::dlerror();
  const std::string after = ProgramCodeVersion();
  EXPECT_NE(after, before);
  auto fn = Fn("f", {}, {}, [](TaskContext&) { return absl::OkStatus(); });
  fn->code_version = "";
  EXPECT_EQ(fn->EffectiveCodeVersion(), after);  // defined in this program, not a system library
}

// Within one build the derived version is stable: a rerun is a hit.
TEST(CodeVersion, DerivedVersionCachesWithinABuild) {
  ScratchHome home;
  auto client = home.Open();
  int calls = 0;
  auto fn = Fn("f", {}, {{"v", ValueType::kInt}}, [&calls](TaskContext& ctx) {
    ++calls;
    ctx.output_params["v"] = 7;
    return absl::OkStatus();
  });
  fn->code_version = "";
  auto p = Pipeline::Create("derived");
  ASSERT_TRUE(p->AddTask("f", fn).ok());
  ASSERT_EQ(client->Run(*p, {})->state, "succeeded");
  auto again = client->Run(*p, {});
  ASSERT_EQ(again->state, "succeeded");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(FindTask(client->ListTasks(again->id).value(), "f")->state, "cached");
}

}  // namespace
}  // namespace mlcore::pipeline
