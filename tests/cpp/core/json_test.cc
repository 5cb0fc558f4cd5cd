// mlcore::Json, the value type of the public API: built and read the way pipeline code uses it,
// and byte-for-byte nlohmann's text, since pipeline digests are taken over dump().
#include "mlcore/core/json.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/json_nlohmann.h"
#include "nlohmann/json.hpp"

namespace mlcore {
namespace {

TEST(JsonTest, BracedListsAreObjectsWhenEveryItemIsAKeyValuePair) {
  Json object = {{"lr", 0.1}, {"layers", 3}, {"name", "mlp"}};
  ASSERT_TRUE(object.is_object());
  EXPECT_EQ(object["layers"].get<int>(), 3);
  EXPECT_EQ(object.dump(), R"({"layers":3,"lr":0.1,"name":"mlp"})");
  Json array = {1, "two", 3.5, nullptr, true};
  ASSERT_TRUE(array.is_array());
  EXPECT_EQ(array.dump(), R"([1,"two",3.5,null,true])");
  EXPECT_TRUE(Json::array({Json::array({"k", 1})}).is_array());
  EXPECT_TRUE(Json::object().empty());
}

TEST(JsonTest, DumpAndParseMatchNlohmannExactly) {
  const std::string text =
      R"({"a":[1,-2,3.25,1e+300,18446744073709551615],"b":{"nested":"\u00e9\n"},"c":false,)"
      R"("d":null,"e":0.1})";
  Json ours = Json::parse(text);
  nlohmann::json theirs = nlohmann::json::parse(text);
  EXPECT_EQ(ours.dump(), theirs.dump());
  EXPECT_EQ(ours.dump(2), theirs.dump(2));
  EXPECT_EQ(ToNlohmann(ours), theirs);
  EXPECT_EQ(FromNlohmann(theirs), ours);
  EXPECT_TRUE(ours["a"][4].is_number_unsigned());
  EXPECT_EQ(ours["a"][4].get<uint64_t>(), 18446744073709551615ull);
}

TEST(JsonTest, InvalidTextThrowsOrIsDiscarded) {
  EXPECT_THROW(Json::parse("{nope"), JsonError);
  EXPECT_TRUE(Json::parse("{nope", nullptr, false).is_discarded());
  EXPECT_THROW(Json("text").get<int>(), JsonError);
  EXPECT_THROW(Json::object().at("missing"), JsonError);
}

TEST(JsonTest, NumbersCompareByValueAcrossKinds) {
  EXPECT_EQ(Json(1), Json(1.0));
  EXPECT_EQ(Json(2u), Json(2));
  EXPECT_LT(Json(-1), Json(0u));
  EXPECT_LT(Json(nullptr), Json(false));
  EXPECT_LT(Json(5), Json("a"));  // numbers before strings, as nlohmann orders kinds
  EXPECT_NE(Json("1"), Json(1));
}

TEST(JsonTest, ContainersConvertBothWays) {
  std::vector<std::string> names = {"a", "b"};
  std::map<std::string, double> scores = {{"x", 1.5}};
  Json j = {{"names", names}, {"scores", scores}};
  EXPECT_EQ(j["names"].get<std::vector<std::string>>(), names);
  EXPECT_EQ((j["scores"].get<std::map<std::string, double>>()), scores);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"names", "scores"}));
  auto it = j.find("scores");
  ASSERT_NE(it, j.end());
  EXPECT_EQ(it.key(), "scores");
  EXPECT_EQ(j.value("missing", 7), 7);
  EXPECT_EQ(j.value("missing", "dflt"), "dflt");
}

TEST(JsonTest, IndexingGrowsNullIntoObjectsAndArrays) {
  Json j;
  j["a"]["b"] = 1;
  j["list"][2] = "x";
  EXPECT_EQ(j.dump(), R"({"a":{"b":1},"list":[null,null,"x"]})");
  j = j["a"];  // assigning a part of itself
  EXPECT_EQ(j.dump(), R"({"b":1})");
  j.update({{"c", 2}});
  EXPECT_EQ(j.size(), 2u);
  EXPECT_EQ(j.erase("b"), 1u);
}

}  // namespace
}  // namespace mlcore
