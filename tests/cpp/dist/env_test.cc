#include "mlcore/dist/env.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlcore::dist {
namespace {

using Vars = std::map<std::string, std::string>;

StatusOr<DistEnv> Parse(const Vars& vars, int cores = 8) {
  return ParseDistEnv(
      [&](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
      },
      cores);
}

void ExpectError(const Vars& vars, absl::StatusCode code, const std::string& needle) {
  StatusOr<DistEnv> e = Parse(vars);
  ASSERT_FALSE(e.ok()) << "expected an error mentioning " << needle;
  EXPECT_EQ(e.status().code(), code) << e.status();
  EXPECT_NE(e.status().message().find(needle), std::string::npos) << e.status();
}

// One bad variation of a good environment: variables set (or replaced) and removed, and the
// error the parse must give.
struct Bad {
  Vars set;
  std::vector<std::string> unset;
  absl::StatusCode code;
  std::string needle;
};

void ExpectErrors(const Vars& good, const std::vector<Bad>& cases) {
  for (const Bad& c : cases) {
    Vars v = good;
    for (const auto& [name, value] : c.set) v[name] = value;
    for (const std::string& name : c.unset) v.erase(name);
    ExpectError(v, c.code, c.needle);
  }
}

// What a parse must give: every field set here is compared, the rest is not looked at.
struct Want {
  std::optional<std::string> source;
  std::optional<int> rank, world_size, local_rank, local_world_size, node_rank, num_nodes;
  std::optional<std::string> master_addr, init_method;
  std::optional<int> num_threads, restart_count;
};

void ExpectEnv(const Vars& vars, const Want& want) {
  StatusOr<DistEnv> e = Parse(vars);
  ASSERT_TRUE(e.ok()) << e.status();
  auto check = [](const auto& expected, const auto& actual, const char* field) {
    if (expected) EXPECT_EQ(actual, *expected) << field;
  };
  check(want.source, e->source, "source");
  check(want.rank, e->rank, "rank");
  check(want.world_size, e->world_size, "world_size");
  check(want.local_rank, e->local_rank, "local_rank");
  check(want.local_world_size, e->local_world_size, "local_world_size");
  check(want.node_rank, e->node_rank, "node_rank");
  check(want.num_nodes, e->num_nodes, "num_nodes");
  check(want.master_addr, e->master_addr, "master_addr");
  check(want.init_method, e->init_method(), "init_method");
  check(want.num_threads, e->num_threads, "num_threads");
  check(want.restart_count, e->restart_count, "restart_count");
  if (want.world_size) EXPECT_EQ(e->distributed(), *want.world_size > 1);
}

Vars Torchrun(int rank, int local_rank, int local_world, int group, int world) {
  return {{"MASTER_ADDR", "10.0.0.1"},
          {"MASTER_PORT", "29500"},
          {"RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(world)},
          {"LOCAL_RANK", std::to_string(local_rank)},
          {"LOCAL_WORLD_SIZE", std::to_string(local_world)},
          {"GROUP_RANK", std::to_string(group)}};
}

TEST(DistEnvTest, NoVariablesIsOneProcess) {
  ExpectEnv({},
            {.source = "none", .rank = 0, .world_size = 1, .init_method = "", .num_threads = 8});
}

TEST(DistEnvTest, TorchrunTwoNodesOfTwo) {
  ExpectEnv(Torchrun(3, 1, 2, 1, 4), {.source = "torchrun",
                                      .rank = 3,
                                      .world_size = 4,
                                      .local_rank = 1,
                                      .local_world_size = 2,
                                      .node_rank = 1,
                                      .num_nodes = 2,
                                      .init_method = "tcp://10.0.0.1:29500",
                                      .num_threads = 4});  // 8 cores shared by 2 local ranks
}

TEST(DistEnvTest, ThreadsFromVariableAndRestartCount) {
  Vars v = Torchrun(0, 0, 2, 0, 2);
  v["MLCORE_NUM_THREADS"] = "3";
  v["TORCHELASTIC_RESTART_COUNT"] = "2";
  ExpectEnv(v, {.num_threads = 3, .restart_count = 2});
  v["MLCORE_RESTART_COUNT"] = "5";
  ExpectEnv(v, {.restart_count = 5});
  v["MLCORE_NUM_THREADS"] = "many";
  ExpectError(v, absl::StatusCode::kInvalidArgument, "MLCORE_NUM_THREADS='many'");
}

TEST(DistEnvTest, TorchrunInconsistencies) {
  ExpectError(Torchrun(2, 0, 2, 0, 2), absl::StatusCode::kInvalidArgument,
              "RANK=2 must be below WORLD_SIZE=2");
  ExpectError(Torchrun(1, 0, 2, 0, 2), absl::StatusCode::kInvalidArgument,
              "disagrees with GROUP_RANK=0");
  ExpectError(Torchrun(0, 0, 2, 0, 3), absl::StatusCode::kInvalidArgument,
              "WORLD_SIZE=3 is not a multiple of LOCAL_WORLD_SIZE=2");
  ExpectErrors(Torchrun(0, 0, 2, 0, 4), {{.set = {{"GROUP_WORLD_SIZE", "3"}},
                                          .code = absl::StatusCode::kInvalidArgument,
                                          .needle = "GROUP_WORLD_SIZE=3"}});
  ExpectErrors(Torchrun(0, 0, 2, 0, 2), {{.set = {{"RANK", "zero"}},
                                          .code = absl::StatusCode::kInvalidArgument,
                                          .needle = "RANK='zero' is not an integer"},
                                         {.unset = {"LOCAL_WORLD_SIZE"},
                                          .code = absl::StatusCode::kInvalidArgument,
                                          .needle = "LOCAL_WORLD_SIZE is not set"}});
}

TEST(DistEnvTest, MissingOrBadMasterPort) {
  ExpectErrors(Torchrun(0, 0, 2, 0, 2), {{.unset = {"MASTER_PORT"},
                                          .code = absl::StatusCode::kFailedPrecondition,
                                          .needle = "MASTER_PORT is not set"},
                                         {.set = {{"MASTER_PORT", "70000"}},
                                          .code = absl::StatusCode::kInvalidArgument,
                                          .needle = "MASTER_PORT='70000' is not a port"},
                                         {.unset = {"MASTER_ADDR"},
                                          .code = absl::StatusCode::kFailedPrecondition,
                                          .needle = "MASTER_ADDR is not set"}});
}

// A PyTorchJob with 3 pods, one process each, the script run directly: older operators count
// pods in WORLD_SIZE, newer ones processes; with one process per pod both say 3.
TEST(DistEnvTest, PyTorchJobPodWithoutLauncher) {
  Vars v = {{"MASTER_ADDR", "job-master-0"},
            {"MASTER_PORT", "23456"},
            {"WORLD_SIZE", "3"},
            {"RANK", "2"},
            {"PET_NNODES", "3"},
            {"PET_NPROC_PER_NODE", "1"},
            {"PET_NODE_RANK", "2"}};
  ExpectEnv(v, {.source = "pytorchjob",
                .rank = 2,
                .world_size = 3,
                .node_rank = 2,
                .master_addr = "job-master-0",
                .num_threads = 8});

  ExpectErrors(v, {{.set = {{"WORLD_SIZE", "6"}},
                    .code = absl::StatusCode::kInvalidArgument,
                    .needle = "WORLD_SIZE=6 is neither"},
                   {.set = {{"PET_NODE_RANK", "1"}},
                    .code = absl::StatusCode::kInvalidArgument,
                    .needle = "RANK=2 and PET_NODE_RANK=1 differ"},
                   {.set = {{"PET_NPROC_PER_NODE", "4"}},
                    .code = absl::StatusCode::kFailedPrecondition,
                    .needle = "PET_NPROC_PER_NODE='4'"},
                   {.set = {{"PET_NPROC_PER_NODE", "auto"}},
                    .code = absl::StatusCode::kFailedPrecondition,
                    .needle = "mlcore launch"},
                   {.set = {{"PET_NNODES", "1:4"}},
                    .code = absl::StatusCode::kFailedPrecondition,
                    .needle = "elastic"}});
}

// PET_MASTER_* (what the operator gives torchrun) are enough without MASTER_*.
TEST(DistEnvTest, PyTorchJobPetMasterVariables) {
  ExpectEnv({{"PET_MASTER_ADDR", "m"},
             {"PET_MASTER_PORT", "1234"},
             {"PET_NNODES", "2"},
             {"PET_NODE_RANK", "1"}},
            {.rank = 1, .world_size = 2, .init_method = "tcp://m:1234"});
}

// Under a launcher in a PyTorchJob pod (nprocPerNode 2, 2 pods), the launcher's per-process
// variables win, and WORLD_SIZE counts processes.
TEST(DistEnvTest, PyTorchJobUnderLauncher) {
  Vars v = Torchrun(3, 1, 2, 1, 4);
  v["PET_NNODES"] = "2";
  v["PET_NPROC_PER_NODE"] = "2";
  v["PET_NODE_RANK"] = "1";
  ExpectEnv(v, {.source = "torchrun", .rank = 3, .num_nodes = 2});
}

TEST(DistEnvTest, PlainEnvAndMpiDisagreement) {
  Vars v = {{"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}, {"RANK", "1"}, {"WORLD_SIZE", "2"}};
  ExpectEnv(v, {.source = "env", .rank = 1});
  v["OMPI_COMM_WORLD_RANK"] = "0";
  ExpectError(v, absl::StatusCode::kInvalidArgument, "OMPI_COMM_WORLD_RANK=0 differ");
  ExpectError({{"RANK", "0"}}, absl::StatusCode::kInvalidArgument, "WORLD_SIZE is not set");
}

TEST(DistEnvTest, MpiJob) {
  Vars v = {{"OMPI_COMM_WORLD_RANK", "5"},       {"OMPI_COMM_WORLD_SIZE", "8"},
            {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"},
            {"MASTER_ADDR", "launcher"},         {"MASTER_PORT", "2000"}};
  ExpectEnv(v, {.source = "mpi",
                .rank = 5,
                .world_size = 8,
                .local_rank = 1,
                .node_rank = 1,
                .num_nodes = 2,
                .num_threads = 2});
  ExpectErrors(v, {{.unset = {"MASTER_ADDR"},
                    .code = absl::StatusCode::kFailedPrecondition,
                    .needle = "MASTER_ADDR is not set"},
                   {.set = {{"OMPI_COMM_WORLD_RANK", "8"}},
                    .code = absl::StatusCode::kInvalidArgument,
                    .needle = "RANK=8 must be below WORLD_SIZE=8"}});
}

TEST(DistEnvTest, TfConfigChiefAndWorkers) {
  const std::string cluster =
      R"("cluster": {"chief": ["chief-0:2222"], "worker": ["w-0:2222", "w-1:2222"],
                     "ps": ["ps-0:2222"]})";
  ExpectEnv(
      {{"TF_CONFIG", "{" + cluster + R"(, "task": {"type": "worker", "index": 1}})"}},
      {.source = "tf_config", .rank = 2, .world_size = 3, .init_method = "tcp://chief-0:2222"});
  ExpectEnv({{"TF_CONFIG", "{" + cluster + R"(, "task": {"type": "chief", "index": 0}})"}},
            {.rank = 0});

  ExpectError({{"TF_CONFIG", "{" + cluster + R"(, "task": {"type": "ps", "index": 0}})"}},
              absl::StatusCode::kFailedPrecondition, "task type 'ps'");
  ExpectError({{"TF_CONFIG", "{" + cluster + R"(, "task": {"type": "worker", "index": 2}})"}},
              absl::StatusCode::kInvalidArgument, "index 2 is outside cluster.worker");
  ExpectError({{"TF_CONFIG", "{not json"}}, absl::StatusCode::kInvalidArgument,
              "TF_CONFIG is not a JSON object");
  ExpectError({{"TF_CONFIG", R"({"cluster": {"worker": ["w0"]}, "task": {"type": "worker",
              "index": 0}})"}},
              absl::StatusCode::kInvalidArgument, "has no port");
}

// Workers without a chief: the first worker is rank 0 and hosts the store; MASTER_PORT wins over
// TF_CONFIG's port.
TEST(DistEnvTest, TfConfigWorkersOnlyWithMasterOverride) {
  ExpectEnv(
      {{"TF_CONFIG",
        R"({"cluster": {"worker": ["[::1]:2222", "b:2222"]}, "task": {"type": "worker", "index": 0}})"},
       {"MASTER_PORT", "3333"}},
      {.master_addr = "::1", .init_method = "tcp://[::1]:3333"});
}

}  // namespace
}  // namespace mlcore::dist
