// Resource slots: parallel trials never share a device, at most as many run as there are slots,
// and slots come back whatever the trial's end. Fake device lists, so no GPU is needed.
#include "mlcore/hpo/resources.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "mlcore/hpo/command_objective.h"
#include "mlcore/hpo/study.h"
#include "store/store_test_util.h"

namespace mlcore::hpo {
namespace {

using testing::NTrials;
using testing::SeededStudy;

struct Interval {
  absl::Time start, end;
  std::vector<int> devices;
};

// Checks that no two overlapping intervals share a device and returns the most at once.
int CheckNoSharing(const std::vector<Interval>& runs) {
  int most = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    int at_once = 1;
    for (size_t j = 0; j < runs.size(); ++j) {
      if (i == j) continue;
      const bool overlap = runs[j].start < runs[i].end && runs[i].start < runs[j].end;
      if (!overlap) continue;
      if (runs[j].start <= runs[i].start) ++at_once;
      for (int d : runs[i].devices) {
        EXPECT_EQ(std::count(runs[j].devices.begin(), runs[j].devices.end(), d), 0)
            << "device " << d << " shared by two running trials";
      }
    }
    most = std::max(most, at_once);
  }
  return most;
}

TEST(ResourcePoolTest, RejectsImpossibleRequests) {
  TrialResources r;
  r.gpus = {0, 1, 2};
  r.gpus_per_trial = 4;
  auto too_many = ResourcePool::Create(r);
  ASSERT_FALSE(too_many.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(too_many.status()));
  EXPECT_NE(too_many.status().message().find("asks for 4 GPU(s)"), std::string::npos);
  EXPECT_NE(too_many.status().message().find("0,1,2"), std::string::npos);
  r.gpus_per_trial = -1;
  EXPECT_NE(ResourcePool::Create(r).status().message().find("gpus_per_trial must be >= 0"),
            std::string::npos);
  r.gpus_per_trial = 1;
  r.gpus = {0, 0};
  EXPECT_NE(ResourcePool::Create(r).status().message().find("listed twice"), std::string::npos);
  r.gpus = {-2};
  EXPECT_NE(ResourcePool::Create(r).status().message().find("negative"), std::string::npos);
  TrialResources c;
  c.cpus = 2;
  c.cpus_per_trial = 3;
  EXPECT_NE(ResourcePool::Create(c).status().message().find("asks for 3 CPU(s)"),
            std::string::npos);
}

TEST(ResourcePoolTest, NamesDevicesAsCudaVisibleDevicesListsThem) {
  const char* saved = std::getenv("CUDA_VISIBLE_DEVICES");
  std::string old = saved == nullptr ? "" : saved;
  ::setenv("CUDA_VISIBLE_DEVICES", "5,7,GPU-abc", 1);
  TrialResources r;
  r.gpus = {2, 0};
  r.gpus_per_trial = 2;
  auto pool = ResourcePool::Create(r);
  r.gpus = {3};
  r.gpus_per_trial = 1;
  auto past = ResourcePool::Create(r);
  if (saved == nullptr) {
    ::unsetenv("CUDA_VISIBLE_DEVICES");
  } else {
    ::setenv("CUDA_VISIBLE_DEVICES", old.c_str(), 1);
  }
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto lease = (*pool)->Acquire(nullptr);
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->gpus, (std::vector<int>{2, 0}));
  EXPECT_EQ(lease->cuda_visible_devices, "GPU-abc,5");
  ASSERT_FALSE(past.ok());
  EXPECT_NE(past.status().message().find("not among CUDA_VISIBLE_DEVICES=5,7,GPU-abc"),
            std::string::npos);
}

TEST(ResourcePoolTest, AcquireWaitsForARelease) {
  TrialResources r;
  r.gpus = {0};
  r.gpus_per_trial = 1;
  auto pool = *ResourcePool::Create(r);
  auto first = pool->Acquire(nullptr);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(pool->free_gpus(), 0);
  // A waiter that is cancelled gives up without a lease.
  EXPECT_FALSE(pool->Acquire([] { return true; }).has_value());
  std::optional<ResourceLease> second;
  std::thread waiter([&] { second = pool->Acquire(nullptr); });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(second.has_value());
  pool->Release(*first);
  waiter.join();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->gpus, std::vector<int>{0});
}

TEST(ResourcesTest, ParallelCallableTrialsNeverShareADevice) {
  auto study = SeededStudy("random", 3);
  std::mutex mu;
  std::vector<Interval> runs;
  Objective objective = [&](Trial& t) -> StatusOr<double> {
    Interval in;
    in.start = absl::Now();
    in.devices = t.devices();
    EXPECT_EQ(t.devices().size(), 1u);
    EXPECT_EQ(t.cuda_visible_devices(), std::to_string(t.devices()[0]));
    MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", 0, 1));
    absl::SleepFor(absl::Milliseconds(30));
    in.end = absl::Now();
    std::lock_guard<std::mutex> lock(mu);
    runs.push_back(in);
    // Failing and pruned trials must return their slot too.
    if (t.number() % 4 == 1) return absl::InternalError("boom");
    if (t.number() % 4 == 2) return TrialPrunedError();
    return x;
  };
  OptimizeOptions o = NTrials(18, 6);
  o.catch_error = CatchAllErrors();
  o.resources.gpus = {0, 1, 2};
  o.resources.gpus_per_trial = 1;
  ASSERT_TRUE(study->Optimize(objective, o).ok());
  ASSERT_EQ(runs.size(), 18u);
  const int most = CheckNoSharing(runs);
  EXPECT_LE(most, 3);
  EXPECT_GE(most, 2);  // the slots were used in parallel, not one at a time
  std::set<int> used;
  for (const Interval& r : runs) used.insert(r.devices.begin(), r.devices.end());
  EXPECT_EQ(used, (std::set<int>{0, 1, 2}));
  EXPECT_EQ(study->Trials()->size(), 18u);
}

TEST(ResourcesTest, CommandTrialsSeeOnlyTheirDevices) {
  store::testing::ScratchDir dir;
  CommandObjectiveOptions c;
  // Each trial records its devices and the time it ran (ns), then reports its value.
  c.command_template =
      "s=$(date +%s%N); sleep 0.2; e=$(date +%s%N); echo \"$s $e "
      "$CUDA_VISIBLE_DEVICES $MLCORE_TRIAL_CPUS\" > " +
      dir.path() + "/t{trial_number}; echo loss={x}";
  c.metric = "loss";
  c.env["CUDA_VISIBLE_DEVICES"] = "overridden-by-the-trial";
  SearchSpace space;
  ASSERT_TRUE(space.Add("x", *Distribution::Float(0, 1)).ok());
  auto objective = *MakeCommandObjective(c, space);
  auto study = SeededStudy("random", 3);
  OptimizeOptions o = NTrials(9, 6);
  o.resources.gpus = {0, 1, 2};
  o.resources.gpus_per_trial = 1;
  o.resources.cpus = 8;
  o.resources.cpus_per_trial = 2;
  ASSERT_TRUE(study->Optimize(objective, o).ok());
  std::vector<Interval> runs;
  for (int i = 0; i < 9; ++i) {
    std::ifstream in(dir.path() + "/t" + std::to_string(i));
    int64_t s = 0, e = 0;
    std::string device;
    int cpus = 0;
    ASSERT_TRUE(in >> s >> e >> device >> cpus) << "trial " << i << " left no record";
    EXPECT_EQ(cpus, 2);
    ASSERT_TRUE(device == "0" || device == "1" || device == "2") << device;
    runs.push_back({absl::FromUnixNanos(s), absl::FromUnixNanos(e), {std::stoi(device)}});
  }
  EXPECT_LE(CheckNoSharing(runs), 3);
  TrialList trials = *study->Trials();
  for (const auto& t : trials) EXPECT_EQ(t->state, TrialState::kComplete) << t->error;
}

TEST(ResourcesTest, CpuSlotsBoundTheTrialsAtOnce) {
  auto study = SeededStudy("random", 3);
  std::atomic<int> running{0}, most{0};
  Objective objective = [&](Trial& t) -> StatusOr<double> {
    EXPECT_EQ(t.cpus(), 3);
    EXPECT_TRUE(t.devices().empty());
    int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    absl::SleepFor(absl::Milliseconds(20));
    --running;
    return 1.0;
  };
  OptimizeOptions o = NTrials(8, 4);
  o.resources.cpus = 7;
  o.resources.cpus_per_trial = 3;
  ASSERT_TRUE(study->Optimize(objective, o).ok());
  EXPECT_EQ(most.load(), 2);
}

TEST(ResourcesTest, BadResourcesFailBeforeAnyTrial) {
  auto study = SeededStudy("random", 3);
  OptimizeOptions o = NTrials(3);
  o.resources.gpus = {0, 1};
  o.resources.gpus_per_trial = 3;
  Status s = study->Optimize([](Trial&) -> StatusOr<double> { return 1.0; }, o);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_TRUE(study->Trials()->empty());
}

}  // namespace
}  // namespace mlcore::hpo
