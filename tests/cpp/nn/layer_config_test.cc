// Layer configs come from architecture.json, which may be damaged: integer fields that are not
// whole numbers within +-2**53 are errors naming the layer type and key, never an undefined
// double-to-integer conversion (fuzz/architecture_fuzzer found a max_pool2d stride_w of 2.7e89;
// issue 12 saw "units: 1e300" reported as INT64_MIN).
#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "mlcore/nn/layer.h"

namespace mlcore::nn {
namespace {

TEST(LayerConfigTest, IntegerFieldsOutOfRangeOrFractionalAreNamedErrors) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    std::string type;
    LayerConfig config;
    std::string key;
  };
  const Case cases[] = {
      {"dense", {{"units", 1e300}}, "units"},
      {"dense", {{"units", nan}}, "units"},
      {"dense", {{"units", 2.5}}, "units"},
      {"embedding", {{"num_embeddings", 1e19}, {"dim", 2}}, "num_embeddings"},
      {"max_pool2d", {{"kernel_size", 2}, {"stride_h", 2}, {"stride_w", 2.67e89}}, "stride_w"},
      {"avg_pool2d", {{"kernel_size", -1e200}}, "kernel_size"},
      {"conv2d", {{"filters", 2}, {"kernel_size", 3}, {"dilation_h", 1e30}}, "dilation_h"},
      {"conv2d", {{"filters", INFINITY}, {"kernel_size", 3}}, "filters"},
  };
  for (const Case& c : cases) {
    auto layer = CreateLayer(c.type, c.config);
    ASSERT_FALSE(layer.ok()) << c.type << " " << c.key;
    EXPECT_TRUE(absl::IsInvalidArgument(layer.status())) << layer.status();
    const std::string message(layer.status().message());
    EXPECT_NE(message.find("'" + c.type + "' config '" + c.key + "'"), std::string::npos)
        << message;
    EXPECT_EQ(message.find("-9223372036854775808"), std::string::npos) << message;
  }
  auto seed = CreateLayer("dropout", {{"rate", 0.5}, {"seed", -1}});
  EXPECT_TRUE(absl::IsInvalidArgument(seed.status())) << seed.status();
}

TEST(LayerConfigTest, WholeNumbersStillBuildEveryLayer) {
  EXPECT_TRUE(CreateLayer("dense", {{"units", 4}}).ok());
  EXPECT_TRUE(CreateLayer("embedding", {{"num_embeddings", 10}, {"dim", 3}}).ok());
  EXPECT_TRUE(
      CreateLayer("max_pool2d", {{"kernel_size", 2}, {"stride_h", 1}, {"stride_w", 2}}).ok());
  EXPECT_TRUE(CreateLayer("conv2d", {{"filters", 2}, {"kernel_size", 3}, {"padding", 1}}).ok());
  EXPECT_TRUE(CreateLayer("dropout", {{"rate", 0.5}, {"seed", 18446744073709549568.0}}).ok());
}

}  // namespace
}  // namespace mlcore::nn
