#include <gtest/gtest.h>

#include "mlcore/hpo/katib.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {
namespace {

TEST(KatibParameterToJsonTest, WritesOnlyTheFieldsTheParameterHas) {
  Distribution lr = *Distribution::Float(1e-4, 0.1, /*log=*/true);
  EXPECT_EQ(KatibParameterToJson(DistributionToKatib("lr", lr)),
            R"({"name":"lr","parameterType":"double","feasibleSpace":)"
            R"({"min":"0.0001","max":"0.1","distribution":"logUniform"}})");

  Distribution opt = *Distribution::Categorical({std::string("sgd"), std::string("adam")});
  nlohmann::json j = nlohmann::json::parse(KatibParameterToJson(DistributionToKatib("opt", opt)));
  EXPECT_EQ(j["parameterType"], "categorical");
  EXPECT_EQ(j["feasibleSpace"]["list"], nlohmann::json({"sgd", "adam"}));
  EXPECT_FALSE(j["feasibleSpace"].contains("min"));
}

TEST(KatibParameterToJsonTest, ReadsBackThroughDistributionFromKatib) {
  Distribution layers = *Distribution::Int(2, 8, /*log=*/false, /*step=*/2);
  nlohmann::json j =
      nlohmann::json::parse(KatibParameterToJson(DistributionToKatib("layers", layers)));
  const nlohmann::json& fs = j["feasibleSpace"];
  KatibParameter p{j["name"], j["parameterType"], fs["min"], fs["max"], fs["step"], {}, ""};
  EXPECT_EQ(*DistributionFromKatib(p), layers);
}

}  // namespace
}  // namespace mlcore::hpo
