#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mlcore/core/build_info.h"
#include "mlcore/core/cuda.h"
#include "mlcore/core/logging.h"

namespace mlcore {
namespace {

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = GetLogLevel();
    SetLogSink([this](LogLevel level, std::string_view msg) { lines_.emplace_back(msg); });
  }
  void TearDown() override {
    SetLogSink({});
    SetLogLevel(saved_);
  }
  LogLevel saved_;
  std::vector<std::string> lines_;
};

TEST_F(LoggingTest, MessagesBelowTheLevelAreNotEvaluated) {
  SetLogLevel(LogLevel::kWarning);
  int evaluated = 0;
  auto count = [&] { return ++evaluated; };
  MLCORE_LOG(Info) << "hidden " << count();
  MLCORE_LOG(Warning) << "shown " << count();
  EXPECT_EQ(evaluated, 1);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("warning"), std::string::npos);
  EXPECT_NE(lines_[0].find("shown 1"), std::string::npos);
  EXPECT_NE(lines_[0].find("logging_build_info_test.cc"), std::string::npos);
}

TEST_F(LoggingTest, ParsesLevelNames) {
  EXPECT_EQ(*ParseLogLevel("DEBUG"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("off"), LogLevel::kOff);
  EXPECT_EQ(ParseLogLevel("loud").status().code(), absl::StatusCode::kInvalidArgument);
  SetLogLevel(LogLevel::kOff);
  MLCORE_LOG(Error) << "silenced";
  EXPECT_TRUE(lines_.empty());
}

TEST(BuildInfoTest, DescribesTheBuildAndTheDevices) {
  BuildInfo info = GetBuildInfo();
  EXPECT_FALSE(info.version.empty());
  EXPECT_FALSE(info.compiler.empty());
  EXPECT_EQ(info.cuda_device_count, cuda::DeviceCount());
  if (info.cuda_device_count == 0) {
    EXPECT_FALSE(info.cuda_unavailable_reason.empty());
  }
  if (info.cuda_enabled) {
    EXPECT_FALSE(info.cuda_toolkit_version.empty());
    EXPECT_FALSE(info.cuda_runtime_version.empty());
    EXPECT_FALSE(info.cublas_version.empty());
  } else {
    EXPECT_NE(info.cuda_unavailable_reason.find("without CUDA"), std::string::npos);
  }
}

TEST(CudaQueryTest, PropertiesOfAMissingDeviceAreAnError) {
  auto props = cuda::GetDeviceProperties(cuda::DeviceCount());
  EXPECT_FALSE(props.ok());
  EXPECT_EQ(cuda::IsAvailable(), cuda::DeviceCount() > 0);
}

TEST(CudaQueryTest, PropertiesOfDeviceZero) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << cuda::UnavailableReason();
  auto props = cuda::GetDeviceProperties(0);
  ASSERT_TRUE(props.ok()) << props.status();
  EXPECT_FALSE(props->name.empty());
  EXPECT_GT(props->total_memory, 0u);
  EXPECT_LE(props->free_memory, props->total_memory);
}

}  // namespace
}  // namespace mlcore
