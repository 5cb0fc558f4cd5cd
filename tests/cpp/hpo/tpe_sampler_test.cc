#include <memory>

#include "gtest/gtest.h"
#include "mlcore/hpo/sampler.h"

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

}  // namespace
}  // namespace mlcore::hpo
