#include "mlcore/hpo/distribution.h"

#include "gtest/gtest.h"

namespace mlcore::hpo {
namespace {

TEST(DistributionTest, RejectsInvalidRangesWithClearErrors) {
  auto reversed = Distribution::Float(1.0, 0.1);
  ASSERT_FALSE(reversed.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(reversed.status()));
  EXPECT_NE(reversed.status().message().find("low 1 > high 0.1"), std::string::npos)
      << reversed.status();

  auto log_zero = Distribution::Float(0.0, 1.0, /*log=*/true);
  ASSERT_FALSE(log_zero.ok());
  EXPECT_NE(log_zero.status().message().find("low > 0"), std::string::npos);
  EXPECT_FALSE(Distribution::Int(-1, 10, /*log=*/true).ok());

  auto bad_step = Distribution::Float(0.0, 1.0, false, 0.3);
  ASSERT_FALSE(bad_step.ok());
  EXPECT_NE(bad_step.status().message().find("does not divide"), std::string::npos);
  EXPECT_FALSE(Distribution::Int(0, 10, false, 3).ok());
  EXPECT_TRUE(Distribution::Int(0, 9, false, 3).ok());
  EXPECT_TRUE(Distribution::Float(0.0, 1.0, false, 0.1).ok());  // 10 steps despite rounding
  EXPECT_FALSE(Distribution::Float(0.0, 1.0, false, -0.1).ok());
  EXPECT_FALSE(Distribution::Float(0.0, 1.0, true, 0.1).ok());

  auto empty = Distribution::Categorical({});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);
  EXPECT_FALSE(Distribution::Categorical({std::string("a"), std::string("a")}).ok());
  EXPECT_FALSE(Distribution::Discrete({}).ok());
}

TEST(DistributionTest, ConvertsBetweenUserAndInternalValues) {
  Distribution f = *Distribution::Float(0.0, 1.0, false, 0.25);
  EXPECT_EQ(f.size(), 5);
  EXPECT_DOUBLE_EQ(f.Snap(0.3), 0.25);
  EXPECT_TRUE(f.ToInternal(0.5).ok());
  EXPECT_FALSE(f.ToInternal(0.3).ok());  // off the grid
  EXPECT_FALSE(f.ToInternal(2.0).ok());

  Distribution i = *Distribution::Int(2, 10, false, 2);
  EXPECT_EQ(std::get<int64_t>(i.ToExternal(5.2)), 6);
  EXPECT_EQ(*i.ToInternal(int64_t{8}), 8.0);
  EXPECT_FALSE(i.ToInternal(int64_t{7}).ok());

  Distribution c = *Distribution::Categorical({std::string("adam"), std::string("sgd"), true});
  EXPECT_EQ(*c.ToInternal(std::string("sgd")), 1.0);
  EXPECT_EQ(std::get<bool>(c.ToExternal(2.0)), true);
  EXPECT_FALSE(c.ToInternal(std::string("rmsprop")).ok());

  Distribution d = *Distribution::Discrete({0.5, 0.1, 1.0});
  EXPECT_EQ(std::get<double>(d.ToExternal(0.0)), 0.1);  // sorted
  EXPECT_EQ(*d.ToInternal(int64_t{1}), 2.0);
}

TEST(DistributionTest, JsonRoundTrip) {
  for (const Distribution& d :
       {*Distribution::Float(1e-5, 1e-1, true), *Distribution::Float(0, 1, false, 0.5),
        *Distribution::Int(1, 64, true), *Distribution::Int(0, 10, false, 5),
        *Distribution::Discrete({1, 2.5}),
        *Distribution::Categorical({std::string("x"), int64_t{3}, 0.5, false})}) {
    auto back = Distribution::FromJson(d.ToJson());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, d) << d.ToJson();
  }
  EXPECT_FALSE(Distribution::FromJson("{nonsense").ok());
}

// Found by fuzz/distribution_fuzzer: a stored form with a field of the wrong JSON type threw
// nlohmann's type_error out of FromJson and terminated the process.
TEST(DistributionTest, StoredFormsWithWrongFieldTypesAreErrors) {
  for (const char* text :
       {R"({"type":1.0,"log":true,"low":0.001,"~ype":"float"})",
        R"({"type":"float","low":"zero","high":1})", R"({"type":"float","low":0,"high":1,"log":1})",
        R"({"type":"float","low":0,"high":1,"step":"x"})", R"({"type":"int","low":0,"high":1e300})",
        R"({"type":"int","low":0,"high":5,"step":null})", R"({"type":"categorical","choices":3})",
        R"({"type":"discrete","choices":{"a":1}})"}) {
    auto d = Distribution::FromJson(text);
    EXPECT_TRUE(absl::IsInvalidArgument(d.status())) << text << ": " << d.status();
  }
}

TEST(SearchSpaceTest, ValidatesNamesAndConditions) {
  SearchSpace space;
  ASSERT_TRUE(
      space.Add("optimizer", *Distribution::Categorical({std::string("sgd"), std::string("adam")}))
          .ok());
  EXPECT_FALSE(space.Add("optimizer", *Distribution::Float(0, 1)).ok());
  EXPECT_FALSE(space.Add("", *Distribution::Float(0, 1)).ok());
  EXPECT_TRUE(
      space
          .Add("momentum", *Distribution::Float(0, 1), Condition{"optimizer", {std::string("sgd")}})
          .ok());
  Status missing_parent =
      space.Add("beta", *Distribution::Float(0, 1), Condition{"nope", {std::string("x")}});
  EXPECT_NE(missing_parent.message().find("not declared before"), std::string::npos);
  EXPECT_FALSE(
      space.Add("beta", *Distribution::Float(0, 1), Condition{"optimizer", {std::string("x")}})
          .ok());
}

TEST(KatibTest, MapsVocabularyOneToOne) {
  KatibParameter lr{"lr", "double", "0.0001", "0.1", "", {}, "logUniform"};
  Distribution d = *DistributionFromKatib(lr);
  EXPECT_EQ(d.type(), ParamType::kFloat);
  EXPECT_TRUE(d.log());
  EXPECT_DOUBLE_EQ(d.low(), 1e-4);
  KatibParameter back = DistributionToKatib("lr", d);
  EXPECT_EQ(back.parameter_type, "double");
  EXPECT_EQ(back.min, "0.0001");
  EXPECT_EQ(back.distribution, "logUniform");

  Distribution layers = *DistributionFromKatib({"layers", "int", "2", "8", "2", {}, ""});
  EXPECT_EQ(layers.size(), 4);
  EXPECT_EQ(DistributionToKatib("layers", layers).step, "2");
  Distribution batch = *DistributionFromKatib({"batch", "discrete", "", "", "", {"32", "64"}, ""});
  EXPECT_EQ(batch.type(), ParamType::kDiscrete);
  Distribution opt =
      *DistributionFromKatib({"opt", "categorical", "", "", "", {"sgd", "adam"}, ""});
  EXPECT_EQ(std::get<std::string>(opt.choices()[1]), "adam");

  auto bad = DistributionFromKatib({"lr", "double", "abc", "1", "", {}, ""});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'lr': min 'abc'"), std::string::npos) << bad.status();
  auto reversed = DistributionFromKatib({"lr", "double", "1", "0", "", {}, ""});
  EXPECT_NE(reversed.status().message().find("Katib parameter 'lr'"), std::string::npos);
  EXPECT_FALSE(DistributionFromKatib({"x", "string", "", "", "", {}, ""}).ok());
  EXPECT_FALSE(DistributionFromKatib({"x", "double", "0", "1", "", {}, "normal"}).ok());
}

}  // namespace
}  // namespace mlcore::hpo
