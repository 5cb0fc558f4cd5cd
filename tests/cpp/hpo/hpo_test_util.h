// Helpers for the HPO tests: two objectives, seeded studies (new or run to completion), trial
// counts, and the options of a named study in a SQLite file.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gtest/gtest.h"
#include "mlcore/hpo/study.h"

namespace mlcore::hpo::testing {

// Study `name` stored in the SQLite file `db`, its sampler seeded with 1.
inline StudyOptions StoredStudy(const std::string& db, const std::string& name) {
  StudyOptions o;
  o.name = name;
  o.storage = db;
  o.sampler_options.seed = 1;
  return o;
}

// The options of an in-memory study with `sampler` seeded `seed`.
inline StudyOptions Seeded(const std::string& sampler, uint64_t seed) {
  StudyOptions o;
  o.sampler = sampler;
  o.sampler_options.seed = seed;
  return o;
}

// A new in-memory study with `sampler` seeded `seed`, over the declared `space` where one is
// given, minimizing unless told otherwise.
inline std::unique_ptr<Study> SeededStudy(const std::string& sampler, uint64_t seed,
                                          std::optional<SearchSpace> space = std::nullopt,
                                          StudyDirection direction = StudyDirection::kMinimize) {
  StudyOptions o = Seeded(sampler, seed);
  o.search_space = std::move(space);
  o.direction = direction;
  auto study = Study::Create(o);
  EXPECT_TRUE(study.ok()) << study.status();
  return study.ok() ? *std::move(study) : nullptr;
}

// Optimize's options for `n` trials, `parallel` of them at once.
inline OptimizeOptions NTrials(int64_t n, int parallel = 1) {
  OptimizeOptions o;
  o.n_trials = n;
  o.n_parallel = parallel;
  return o;
}

// Branin on [-5, 10] x [0, 15]; its minimum is 0.397887.
inline StatusOr<double> Branin(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", -5, 10));
  MLCORE_ASSIGN_OR_RETURN(double y, t.SuggestFloat("y", 0, 15));
  const double pi = 3.14159265358979;
  double a = y - 5.1 / (4 * pi * pi) * x * x + 5 / pi * x - 6;
  return a * a + 10 * (1 - 1 / (8 * pi)) * std::cos(x) + 10;
}

// A log float, a stepped int and a categorical; its minimum is 0 at x=0.01, n=5, c="b".
inline StatusOr<double> Mixed(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", 1e-4, 1, /*log=*/true));
  MLCORE_ASSIGN_OR_RETURN(int64_t n, t.SuggestInt("n", 1, 9, false, 2));
  MLCORE_ASSIGN_OR_RETURN(
      ParamValue c,
      t.SuggestCategorical("c", {std::string("a"), std::string("b"), std::string("c")}));
  double penalty = std::get<std::string>(c) == "b" ? 0.0 : 1.0;
  return std::pow(std::log10(x) + 2, 2) + std::abs(static_cast<double>(n) - 5) + penalty;
}

// An in-memory study with `sampler` (and its options) after `n` trials of `f`.
inline std::unique_ptr<Study> RunStudy(const std::string& sampler, SamplerOptions options,
                                       const Objective& f, int n) {
  StudyOptions so;
  so.sampler = sampler;
  so.sampler_options = std::move(options);
  auto study = *Study::Create(so);
  OptimizeOptions o;
  o.n_trials = n;
  EXPECT_TRUE(study->Optimize(f, o).ok());
  return study;
}

inline std::unique_ptr<Study> RunStudy(const std::string& sampler, uint64_t seed,
                                       const Objective& f, int n) {
  SamplerOptions options;
  options.seed = seed;
  return RunStudy(sampler, std::move(options), f, n);
}

// Every trial's parameters, in trial order.
inline std::vector<std::map<std::string, ParamValue>> Params(Study& study) {
  std::vector<std::map<std::string, ParamValue>> out;
  TrialList trials = *study.Trials();
  for (const auto& t : trials) out.push_back(t->params);
  return out;
}

}  // namespace mlcore::hpo::testing
