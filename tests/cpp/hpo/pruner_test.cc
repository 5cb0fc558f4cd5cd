#include "mlcore/hpo/pruner.h"

#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "mlcore/hpo/study.h"

namespace mlcore::hpo {
namespace {

std::shared_ptr<const FrozenTrial> Make(int64_t number, TrialState state,
                                        std::map<int64_t, double> values) {
  auto t = std::make_shared<FrozenTrial>();
  t->number = number;
  t->state = state;
  t->intermediate_values = std::move(values);
  return t;
}

TEST(MedianPrunerTest, PrunesBelowMedianAfterEnoughTrials) {
  auto pruner = *CreatePruner("median", {.min_trials_required = 3, .start_step = 2});
  PrunerContext c;
  c.trials = {Make(0, TrialState::kComplete, {{1, 1.0}, {2, 1.0}, {3, 1.0}}),
              Make(1, TrialState::kComplete, {{1, 2.0}, {2, 2.0}, {3, 2.0}})};
  FrozenTrial bad = *Make(5, TrialState::kRunning, {{1, 9.0}, {2, 9.0}});
  EXPECT_FALSE(*pruner->Prune(c, bad));  // only two completed trials
  c.trials.push_back(Make(2, TrialState::kComplete, {{1, 3.0}, {2, 3.0}}));
  EXPECT_TRUE(*pruner->Prune(c, bad));  // median at step 2 is 2.0
  FrozenTrial good = *Make(6, TrialState::kRunning, {{1, 9.0}, {2, 1.5}});
  EXPECT_FALSE(*pruner->Prune(c, good));
  FrozenTrial early = *Make(7, TrialState::kRunning, {{1, 9.0}});
  EXPECT_FALSE(*pruner->Prune(c, early));  // before start_step
  c.direction = StudyDirection::kMaximize;
  EXPECT_FALSE(*pruner->Prune(c, bad));
}

TEST(SuccessiveHalvingTest, KeepsTopThirdAtEachRung) {
  PrunerOptions o{.min_resource = 1, .reduction_factor = 3};
  auto pruner = *CreatePruner("successive_halving", o);
  PrunerContext c;
  for (int i = 0; i < 5; ++i) {
    c.trials.push_back(Make(i, TrialState::kComplete, {{1, static_cast<double>(i)}}));
  }
  // Six at rung 1 (step 1): the best two go on.
  EXPECT_FALSE(*pruner->Prune(c, *Make(9, TrialState::kRunning, {{1, 0.5}})));
  EXPECT_TRUE(*pruner->Prune(c, *Make(9, TrialState::kRunning, {{1, 2.5}})));
  // Between rungs no decision is taken.
  EXPECT_FALSE(*pruner->Prune(c, *Make(9, TrialState::kRunning, {{1, 0.5}, {2, 99}})));
  // The very first trial at a rung goes on.
  PrunerContext empty;
  EXPECT_FALSE(*pruner->Prune(empty, *Make(0, TrialState::kRunning, {{1, 100}})));
  o.reduction_factor = 1;
  EXPECT_FALSE(CreatePruner("successive_halving", o).ok());
}

TEST(HyperbandTest, PrunesWithinBracketsEndToEnd) {
  StudyOptions so = testing::Seeded("random", 2);
  so.pruner = "hyperband";
  so.pruner_options.max_resource = 27;
  auto study = *Study::Create(so);
  OptimizeOptions opt = testing::NTrials(60);
  int64_t steps = 0;
  ASSERT_TRUE(study
                  ->Optimize(
                      [&](Trial& t) -> StatusOr<double> {
                        double x = *t.SuggestFloat("x", 0, 1);
                        for (int64_t step = 1; step <= 27; ++step) {
                          ++steps;
                          MLCORE_RETURN_IF_ERROR(t.Report(x + 1.0 / step, step));
                          MLCORE_ASSIGN_OR_RETURN(bool prune, t.ShouldPrune());
                          if (prune) return TrialPrunedError();
                        }
                        return x;
                      },
                      opt)
                  .ok());
  int pruned = 0;
  TrialList trials = *study->Trials();
  for (const auto& t : trials) {
    if (t->state == TrialState::kPruned) {
      ++pruned;
      EXPECT_TRUE(t->has_value);  // the last intermediate value
    }
  }
  EXPECT_GT(pruned, 20);
  EXPECT_LT(steps, 60 * 27 / 2);
  EXPECT_FALSE(CreatePruner("median", PrunerOptions{.min_trials_required = 0}).ok());
  EXPECT_EQ(*CreatePruner("none"), nullptr);
}

}  // namespace
}  // namespace mlcore::hpo
