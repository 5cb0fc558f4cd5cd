#include <algorithm>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "mlcore/hpo/sampler.h"
#include "mlcore/hpo/study.h"

namespace mlcore::hpo {
namespace {

// Complete trials over x in [-2, 2] whose value is smallest near `best`.
void FillTrials(double best, TrialList* trials) {
  const Distribution d = *Distribution::Float(-2, 2);
  for (size_t i = 0; i < trials->size(); ++i) {
    auto t = std::make_shared<FrozenTrial>();
    t->number = static_cast<int64_t>(i);
    t->state = TrialState::kComplete;
    t->has_value = true;
    const double x = -2 + 4.0 * static_cast<double>(i) / static_cast<double>(trials->size() - 1);
    t->params["x"] = x;
    t->distributions.emplace("x", d);
    t->value = (x - best) * (x - best);
    (*trials)[i] = std::move(t);
  }
}

double MeanSuggestion(Sampler& sampler, const SamplerContext& context) {
  const Distribution d = *Distribution::Float(-2, 2);
  double sum = 0;
  for (int k = 0; k < 20; ++k) {
    FrozenTrial trial;
    trial.number = 1000 + k;
    sum += *sampler.SampleIndependent(context, trial, "x", d);
  }
  return sum / 20;
}

TEST(TpeSamplerTest, ANewTrialListInTheSameBufferIsNotMistakenForTheOldOne) {
  SamplerOptions o;
  o.seed = 1;
  o.n_startup_trials = 5;
  o.multivariate = false;
  auto sampler = *CreateSampler("tpe", o);
  SamplerContext context;
  context.trials.resize(40);
  FillTrials(1.0, &context.trials);
  const void* buffer = context.trials.data();
  EXPECT_GT(MeanSuggestion(*sampler, context), 0.5);
  // Same vector, same size, same address: different trials with the optimum mirrored.
  FillTrials(-1.0, &context.trials);
  ASSERT_EQ(buffer, static_cast<const void*>(context.trials.data()));
  EXPECT_LT(MeanSuggestion(*sampler, context), -0.5);
}

// A float, an int with its optimum inside the range and two categoricals (the benchmark's
// "mixed" problem): 100 trials leave many trials tied at each int value.
StatusOr<double> Mixed(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", -5, 5));
  MLCORE_ASSIGN_OR_RETURN(int64_t n, t.SuggestInt("n", 0, 20));
  MLCORE_ASSIGN_OR_RETURN(ParamValue act,
                          t.SuggestCategorical("act", {std::string("relu"), std::string("tanh"),
                                                       std::string("gelu"), std::string("none")}));
  MLCORE_ASSIGN_OR_RETURN(ParamValue opt,
                          t.SuggestCategorical("opt", {std::string("sgd"), std::string("adam")}));
  const std::string& a = std::get<std::string>(act);
  const double act_cost = a == "relu" ? 0.5 : a == "tanh" ? 1.0 : a == "gelu" ? 0.0 : 2.0;
  return (x - 1.3) * (x - 1.3) + static_cast<double>((n - 7) * (n - 7)) / 10 + act_cost +
         (std::get<std::string>(opt) == "adam" ? 0.0 : 0.7);
}

TEST(TpeSamplerTest, TiedIntValuesDoNotTieKernelWidthsToTheTrialsRanks) {
  // Trials tied at one int value get kernel widths by their order among the ties: the first
  // and last of a run get the gaps to the neighbouring values, the ones between the narrowest
  // width. Ordered by value (the best of each run first), the joint estimator of the poor
  // group gave the best trials at each int value the wide kernels, and the multivariate search
  // refined the float parameter about ten times less well (median best 0.0096 against Optuna's
  // 0.0009 over 20 seeds). In trial order, as Optuna's observations are, the widths do not
  // depend on the values.
  SamplerOptions options;
  options.multivariate = true;
  std::vector<double> best;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    options.seed = seed;
    best.push_back(testing::RunStudy("tpe", options, Mixed, 100)->BestTrial()->value);
  }
  std::sort(best.begin(), best.end());
  const double median = (best[9] + best[10]) / 2;
  EXPECT_LT(median, 0.004) << "in rank order it was 0.0096; in trial order 0.0011";
}

}  // namespace
}  // namespace mlcore::hpo
