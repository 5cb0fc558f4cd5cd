// The one registry every family built by name uses: registration, duplicates, the unknown-name
// message, lookups while another thread registers, registration at load time, and every built-in
// sampler, pruner, loss, metric, optimizer and layer present under its name.
#include "mlcore/core/registry.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mlcore/hpo/pruner.h"
#include "mlcore/hpo/sampler.h"
#include "mlcore/nn/layer.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/loss.h"
#include "mlcore/nn/metric.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/optimizer.h"

namespace mlcore {
namespace {

using IntFactory = std::function<StatusOr<int>(int)>;

Registry<IntFactory>& Widgets() {
  static auto* registry = new Registry<IntFactory>("widget");
  return *registry;
}

// Registered when the test program loads, as built-ins are.
Registrar<IntFactory> triple_registration(Widgets(), "triple",
                                          [](int x) -> StatusOr<int> { return 3 * x; });

bool Has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

TEST(RegistryTest, RegistersCreatesAndLists) {
  Registry<IntFactory> r("widget");
  EXPECT_EQ(r.kind(), "widget");
  ASSERT_TRUE(r.Register("double", [](int x) -> StatusOr<int> { return 2 * x; }).ok());
  ASSERT_TRUE(r.Register("add_one", [](int x) -> StatusOr<int> { return x + 1; }).ok());
  EXPECT_EQ(*r.Create("double", 21), 42);
  EXPECT_EQ(*r.Create("add_one", 1), 2);
  EXPECT_EQ((*r.Find("double"))(5).value(), 10);
  EXPECT_TRUE(r.Contains("double"));
  EXPECT_FALSE(r.Contains("Double"));
  EXPECT_EQ(r.Names(), (std::vector<std::string>{"add_one", "double"}));
}

TEST(RegistryTest, FactoryErrorsPassThrough) {
  Registry<IntFactory> r("widget");
  ASSERT_TRUE(
      r.Register("picky", [](int x) -> StatusOr<int> { return absl::OutOfRangeError("x"); }).ok());
  EXPECT_TRUE(absl::IsOutOfRange(r.Create("picky", 1).status()));
}

TEST(RegistryTest, DuplicateIsAlreadyExistsAndKeepsTheFirst) {
  Registry<IntFactory> r("widget");
  ASSERT_TRUE(r.Register("f", [](int) -> StatusOr<int> { return 1; }).ok());
  Status s = r.Register("f", [](int) -> StatusOr<int> { return 2; });
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_EQ(s.message(), "a widget named 'f' is already registered");
  EXPECT_EQ(*r.Create("f", 0), 1);
  EXPECT_TRUE(absl::IsAlreadyExists(r.Register("f", nullptr)));
}

TEST(RegistryTest, EmptyNameOrFactoryIsInvalid) {
  Registry<IntFactory> r("widget");
  EXPECT_TRUE(absl::IsInvalidArgument(r.Register("", [](int) -> StatusOr<int> { return 1; })));
  EXPECT_TRUE(absl::IsInvalidArgument(r.Register("g", nullptr)));
  EXPECT_TRUE(r.Names().empty());
}

TEST(RegistryTest, UnknownNameListsTheKnownOnes) {
  Registry<IntFactory> r("widget");
  Status s = r.Create("tripel", 1).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message(), "unknown widget 'tripel' (known: )");
  ASSERT_TRUE(r.Register("triple", [](int x) -> StatusOr<int> { return 3 * x; }).ok());
  ASSERT_TRUE(r.Register("double", [](int x) -> StatusOr<int> { return 2 * x; }).ok());
  s = r.Find("tripel").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message(), "unknown widget 'tripel' (known: double, triple)");
}

TEST(RegistryTest, RegistrarRegistersAtLoadTime) { EXPECT_EQ(*Widgets().Create("triple", 4), 12); }

TEST(RegistryDeathTest, RegistrarAbortsOnATakenName) {
  EXPECT_DEATH(Registrar<IntFactory>(Widgets(), "triple", [](int) -> StatusOr<int> { return 0; }),
               "a widget named 'triple' is already registered");
}

// Readers look up while a writer registers 200 names: every lookup of a name registered before
// the threads started succeeds, and every name the writer added is there at the end.
TEST(RegistryTest, ConcurrentLookupsWhileRegistering) {
  Registry<IntFactory> r("widget");
  ASSERT_TRUE(r.Register("base", [](int x) -> StatusOr<int> { return x; }).ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int i = 0; i < 200; ++i) {
      if (!r.Register("w" + std::to_string(i), [i](int) -> StatusOr<int> { return i; }).ok()) {
        ++failures;
      }
    }
  });
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        StatusOr<int> v = r.Create("base", t * 10000 + i);
        if (!v.ok() || *v != t * 10000 + i) ++failures;
        if (r.Names().empty()) ++failures;
        StatusOr<int> w = r.Create("w" + std::to_string(i % 200), 0);
        if (w.ok() ? *w != i % 200 : !absl::IsInvalidArgument(w.status())) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(r.Names().size(), 201u);
}

// Each built-in registers itself from its own file; all must be present in the library.
TEST(RegistryTest, EveryBuiltInIsRegistered) {
  for (const char* name : {"cmaes", "gp", "grid", "nsga2", "random", "sobol", "tpe"}) {
    EXPECT_TRUE(Has(hpo::SamplerNames(), name)) << name;
    StatusOr<std::unique_ptr<hpo::Sampler>> sampler = hpo::CreateSampler(name);
    EXPECT_TRUE(sampler.ok()) << name << ": " << sampler.status();
  }
  for (const char* name : {"hyperband", "median", "none", "successive_halving"}) {
    EXPECT_TRUE(Has(hpo::PrunerNames(), name)) << name;
    EXPECT_TRUE(hpo::CreatePruner(name).ok()) << name;
  }
  for (const char* name : {"bce", "binary_cross_entropy", "cross_entropy", "mean_squared_error",
                           "mse", "softmax_cross_entropy", "sparse_categorical_crossentropy"}) {
    EXPECT_TRUE(Has(nn::LossNames(), name)) << name;
    EXPECT_TRUE(nn::MakeLoss(name).ok()) << name;
  }
  for (const char* name : {"adam", "adamw", "sgd"}) {
    EXPECT_TRUE(Has(optim::OptimizerNames(), name)) << name;
    StatusOr<std::shared_ptr<optim::Optimizer>> opt = optim::MakeOptimizer(name, {});
    ASSERT_TRUE(opt.ok()) << name << ": " << opt.status();
    EXPECT_EQ((*opt)->name(), name);
  }
  for (const char* name :
       {"avg_pool2d", "batch_norm1d", "batch_norm2d", "conv2d", "dense", "dropout", "embedding",
        "flatten", "gelu", "global_avg_pool2d", "global_max_pool2d", "layer_norm", "max_pool2d",
        "relu", "sigmoid", "softmax", "tanh"}) {
    EXPECT_TRUE(Has(nn::RegisteredLayers(), name)) << name;
  }
}

// One error for a typo in any family: InvalidArgument "unknown <kind> '<name>' (known: ...)".
TEST(RegistryTest, EveryFamilyReportsAnUnknownNameAlike) {
  struct Case {
    Status status;
    std::string prefix;
    std::string known;
  };
  const Case cases[] = {
      {hpo::CreateSampler("tpee").status(), "unknown sampler 'tpee' (known: ", "tpe"},
      {hpo::CreatePruner("medain").status(), "unknown pruner 'medain' (known: ", "median"},
      {nn::MakeLoss("hinge").status(), "unknown loss 'hinge' (known: ", "cross_entropy"},
      {optim::MakeOptimizer("lamb", {}).status(), "unknown optimizer 'lamb' (known: ", "adamw"},
      {nn::CreateLayer("dense2", {}).status(), "unknown layer 'dense2' (known: ", "dense"},
      {nn::MakeMetric("f1").status(), "unknown metric 'f1' (known: ", "accuracy"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(absl::IsInvalidArgument(c.status)) << c.status;
    EXPECT_EQ(c.status.message().substr(0, c.prefix.size()), c.prefix) << c.status;
    EXPECT_NE(c.status.message().find(c.known), std::string::npos) << c.status;
  }
}

// A user's C++ sampler and loss, added through the public functions, are built by name.
TEST(RegistryTest, UsersAddTheirOwn) {
  ASSERT_TRUE(hpo::RegisterSampler("registry_test_sampler", [](const hpo::SamplerOptions& o) {
                return hpo::CreateSampler("random", o);
              }).ok());
  EXPECT_TRUE(Has(hpo::SamplerNames(), "registry_test_sampler"));
  EXPECT_TRUE(hpo::CreateSampler("registry_test_sampler").ok());
  ASSERT_TRUE(nn::RegisterLoss("registry_test_loss", [] { return nn::MakeLoss("mse"); }).ok());
  StatusOr<std::shared_ptr<nn::Loss>> loss = nn::MakeLoss("registry_test_loss");
  ASSERT_TRUE(loss.ok()) << loss.status();
  EXPECT_EQ((*loss)->name(), "mse");
}

TEST(RegistryTest, PublicRegisterFunctionsRefuseTakenNames) {
  EXPECT_TRUE(absl::IsAlreadyExists(hpo::RegisterPruner("none", nullptr)));
  EXPECT_TRUE(absl::IsAlreadyExists(hpo::RegisterPruner("", nullptr)));
  EXPECT_TRUE(absl::IsAlreadyExists(nn::RegisterLoss("mse", nullptr)));
  EXPECT_TRUE(absl::IsAlreadyExists(optim::RegisterOptimizer("adam", nullptr)));
  EXPECT_TRUE(absl::IsAlreadyExists(nn::RegisterLayer("dense", nullptr)));
}

// Compile takes its metrics from the registry: the typo's error is the registry's, and a name
// registered for a metric the model computes is accepted.
TEST(RegistryTest, CompileChoosesMetricsByName) {
  nn::Sequential model({*nn::Dense(2)});
  nn::CompileOptions c;
  c.optimizer = *optim::Sgd();
  c.metrics = {"f1"};
  Status s = model.Compile(c);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message(), "unknown metric 'f1' (known: acc, accuracy)");
  ASSERT_TRUE(nn::MetricRegistry()
                  .Register("registry_test_hits",
                            [] {
                              return nn::MetricSpec{nn::MetricKind::kAccuracy, "accuracy"};
                            })
                  .ok());
  c.metrics = {"registry_test_hits"};
  EXPECT_TRUE(model.Compile(c).ok());
  EXPECT_TRUE(Has(nn::MetricNames(), "registry_test_hits"));
}

}  // namespace
}  // namespace mlcore
