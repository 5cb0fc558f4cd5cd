// Shared pieces of the dashboard tests: a home with a pipeline run, a study, a registered model
// and a training log, and a plain blocking HTTP client for 127.0.0.1.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "gtest/gtest.h"
#include "mlcore/hpo/command_objective.h"
#include "mlcore/hpo/study.h"
#include "mlcore/nn/tensorboard.h"
#include "mlcore/pipeline/client.h"
#include "mlcore/registry/model_registry.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::ui::testing {

using Json = nlohmann::json;
using pipeline::testing::Fn;
using pipeline::testing::ScratchHome;

struct HttpAnswer {
  int status = 0;
  std::string headers;
  std::string body;
};

// One request on a fresh connection ("Connection: close"), read to the end.
inline HttpAnswer Http(int port, const std::string& method, const std::string& target,
                       const std::string& body = "", const std::string& authorization = "") {
  HttpAnswer out;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    ADD_FAILURE() << "cannot connect to port " << port;
    return out;
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                        "Connection: close\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n";
  if (!authorization.empty()) request += "Authorization: " + authorization + "\r\n";
  request += "\r\n" + body;
  ::send(fd, request.data(), request.size(), 0);
  std::string raw;
  char buffer[65536];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) raw.append(buffer, n);
  ::close(fd);
  size_t head = raw.find("\r\n\r\n");
  if (raw.size() < 12 || head == std::string::npos) return out;
  out.status = std::stoi(raw.substr(9, 3));
  out.headers = raw.substr(0, head);
  out.body = raw.substr(head + 4);
  return out;
}

// A succeeded run of load -> train in experiment "exp"; returns its id.
inline std::string RunPipeline(const std::string& home) {
  pipeline::ClientOptions o;
  o.home = home;
  o.sync_artifacts = false;
  auto client = pipeline::Client::Open(o);
  EXPECT_TRUE(client.ok()) << client.status();
  using pipeline::InputBinding;
  using pipeline::ValueType;
  auto load = Fn("load", {}, {{"data", ValueType::kDataset}}, [](pipeline::TaskContext& ctx) {
    std::filesystem::create_directories(ctx.outputs["data"].path);
    std::ofstream(ctx.outputs["data"].path + "/rows.csv") << "1\n2\n";
    return absl::OkStatus();
  });
  auto train = Fn("train", {{"data", ValueType::kDataset}}, {{"model", ValueType::kModel}},
                  [](pipeline::TaskContext& ctx) {
                    std::ofstream(ctx.outputs["model"].path) << "weights";
                    return absl::OkStatus();
                  });
  auto p = pipeline::Pipeline::Create("digits");
  EXPECT_TRUE(p.ok());
  EXPECT_TRUE(p->AddTask("load", load).ok());
  EXPECT_TRUE(p->AddTask("train", train, {{"data", InputBinding::Output("load", "data")}}).ok());
  pipeline::RunOptions ro;
  ro.experiment = "exp";
  auto run = (*client)->Run(*p, ro);
  EXPECT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "succeeded") << run->error;
  return run.ok() ? run->id : "";
}

// A random-sampling study `name` in the home's store.
inline StatusOr<std::unique_ptr<hpo::Study>> CreateStudy(const std::string& home,
                                                         const std::string& name) {
  hpo::StudyOptions so;
  so.name = name;
  so.storage = home + "/mlcore.db";
  so.sampler = "random";
  return hpo::Study::Create(so);
}

// A study "search" of 6 trials minimizing (x - 2)^2, one of them failed.
inline void RunStudy(const std::string& home) {
  auto study = CreateStudy(home, "search");
  ASSERT_TRUE(study.ok()) << study.status();
  for (int i = 0; i < 6; ++i) {
    auto trial = (*study)->Ask();
    ASSERT_TRUE(trial.ok()) << trial.status();
    double x = (*trial)->SuggestFloat("x", -5, 5).value();
    ASSERT_TRUE(
        (*trial)->SuggestCategorical("opt", {std::string("sgd"), std::string("adam")}).ok());
    ASSERT_TRUE((*trial)->Report((x - 2) * (x - 2) + 1, 0).ok());
    Status told = i == 3 ? (*study)->Tell(**trial, hpo::TrialState::kFailed)
                         : (*study)->Tell(**trial, (x - 2) * (x - 2));
    ASSERT_TRUE(told.ok()) << told;
  }
}

// A study "cmd" of two command trials (trial n prints "hello from trial n", loss=n and, on
// stderr, "warning n"), their logs kept under <home>/hpo/logs/cmd.
inline void RunCommandStudy(const std::string& home) {
  auto study = CreateStudy(home, "cmd");
  ASSERT_TRUE(study.ok()) << study.status();
  hpo::CommandObjectiveOptions o;
  o.command_template =
      "echo hello from trial {trial_number}; echo loss={trial_number}; echo warning "
      "{trial_number} >&2";
  o.metric = "loss";
  o.log_dir = home + "/hpo/logs/cmd";
  hpo::SearchSpace space;
  ASSERT_TRUE(space.Add("x", *hpo::Distribution::Float(0, 1)).ok());
  auto objective = hpo::MakeCommandObjective(o, space);
  ASSERT_TRUE(objective.ok()) << objective.status();
  hpo::OptimizeOptions opt;
  opt.n_trials = 2;
  ASSERT_TRUE((*study)->Optimize(*objective, opt).ok());
}

// Model "digits" version 1 (a directory), aliased "staging".
inline void RegisterModel(const std::string& home) {
  std::string dir = home + "/model_src";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/weights.bin") << "w";
  registry::ModelRegistryOptions ro;
  ro.home = home;
  auto reg = registry::ModelRegistry::Open(ro);
  ASSERT_TRUE(reg.ok()) << reg.status();
  registry::RegisterOptions opts;
  opts.metrics = {{"accuracy", 0.93}};
  auto v = (*reg)->Register("digits", dir, opts);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE((*reg)->SetAlias("digits", "staging", 1).ok());
}

// Three epochs of loss and lr in <home>/logs/fit1/train.
inline void WriteTrainingLog(const std::string& home) {
  auto w = nn::SummaryWriter::Open(home + "/logs/fit1/train");
  ASSERT_TRUE(w.ok()) << w.status();
  for (int step = 0; step < 3; ++step) {
    ASSERT_TRUE((*w)->AddScalar("epoch_loss", 1.0 / (step + 1), step).ok());
    ASSERT_TRUE((*w)->AddScalar("epoch_lr", 0.01, step).ok());
  }
  ASSERT_TRUE((*w)->Flush().ok());
}

}  // namespace mlcore::ui::testing
