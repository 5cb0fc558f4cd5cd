#include "mlcore/dist/env.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

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
  StatusOr<DistEnv> e = Parse({});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->source, "none");
  EXPECT_EQ(e->rank, 0);
  EXPECT_EQ(e->world_size, 1);
  EXPECT_FALSE(e->distributed());
  EXPECT_EQ(e->num_threads, 8);
  EXPECT_EQ(e->init_method(), "");
}

TEST(DistEnvTest, TorchrunTwoNodesOfTwo) {
  StatusOr<DistEnv> e = Parse(Torchrun(3, 1, 2, 1, 4));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->source, "torchrun");
  EXPECT_EQ(e->rank, 3);
  EXPECT_EQ(e->world_size, 4);
  EXPECT_EQ(e->local_rank, 1);
  EXPECT_EQ(e->local_world_size, 2);
  EXPECT_EQ(e->node_rank, 1);
  EXPECT_EQ(e->num_nodes, 2);
  EXPECT_EQ(e->init_method(), "tcp://10.0.0.1:29500");
  EXPECT_EQ(e->num_threads, 4);  // 8 cores shared by 2 local ranks
}

TEST(DistEnvTest, ThreadsFromVariableAndRestartCount) {
  Vars v = Torchrun(0, 0, 2, 0, 2);
  v["MLCORE_NUM_THREADS"] = "3";
  v["TORCHELASTIC_RESTART_COUNT"] = "2";
  StatusOr<DistEnv> e = Parse(v);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->num_threads, 3);
  EXPECT_EQ(e->restart_count, 2);
  v["MLCORE_RESTART_COUNT"] = "5";
  EXPECT_EQ(Parse(v)->restart_count, 5);
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
  Vars v = Torchrun(0, 0, 2, 0, 4);
  v["GROUP_WORLD_SIZE"] = "3";
  ExpectError(v, absl::StatusCode::kInvalidArgument, "GROUP_WORLD_SIZE=3");
  v = Torchrun(0, 0, 2, 0, 2);
  v["RANK"] = "zero";
  ExpectError(v, absl::StatusCode::kInvalidArgument, "RANK='zero' is not an integer");
  v = Torchrun(0, 0, 2, 0, 2);
  v.erase("LOCAL_WORLD_SIZE");
  ExpectError(v, absl::StatusCode::kInvalidArgument, "LOCAL_WORLD_SIZE is not set");
}

TEST(DistEnvTest, MissingOrBadMasterPort) {
  Vars v = Torchrun(0, 0, 2, 0, 2);
  v.erase("MASTER_PORT");
  ExpectError(v, absl::StatusCode::kFailedPrecondition, "MASTER_PORT is not set");
  v["MASTER_PORT"] = "70000";
  ExpectError(v, absl::StatusCode::kInvalidArgument, "MASTER_PORT='70000' is not a port");
  v = Torchrun(0, 0, 2, 0, 2);
  v.erase("MASTER_ADDR");
  ExpectError(v, absl::StatusCode::kFailedPrecondition, "MASTER_ADDR is not set");
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
  StatusOr<DistEnv> e = Parse(v);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->source, "pytorchjob");
  EXPECT_EQ(e->rank, 2);
  EXPECT_EQ(e->world_size, 3);
  EXPECT_EQ(e->node_rank, 2);
  EXPECT_EQ(e->master_addr, "job-master-0");
  EXPECT_EQ(e->num_threads, 8);

  Vars bad = v;
  bad["WORLD_SIZE"] = "6";
  ExpectError(bad, absl::StatusCode::kInvalidArgument, "WORLD_SIZE=6 is neither");
  bad = v;
  bad["PET_NODE_RANK"] = "1";
  ExpectError(bad, absl::StatusCode::kInvalidArgument, "RANK=2 and PET_NODE_RANK=1 differ");
  bad = v;
  bad["PET_NPROC_PER_NODE"] = "4";
  ExpectError(bad, absl::StatusCode::kFailedPrecondition, "PET_NPROC_PER_NODE='4'");
  bad = v;
  bad["PET_NPROC_PER_NODE"] = "auto";
  ExpectError(bad, absl::StatusCode::kFailedPrecondition, "mlcore launch");
  bad = v;
  bad["PET_NNODES"] = "1:4";
  ExpectError(bad, absl::StatusCode::kFailedPrecondition, "elastic");
}

// PET_MASTER_* (what the operator gives torchrun) are enough without MASTER_*.
TEST(DistEnvTest, PyTorchJobPetMasterVariables) {
  StatusOr<DistEnv> e = Parse({{"PET_MASTER_ADDR", "m"},
                               {"PET_MASTER_PORT", "1234"},
                               {"PET_NNODES", "2"},
                               {"PET_NODE_RANK", "1"}});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->init_method(), "tcp://m:1234");
  EXPECT_EQ(e->rank, 1);
  EXPECT_EQ(e->world_size, 2);
}

// Under a launcher in a PyTorchJob pod (nprocPerNode 2, 2 pods), the launcher's per-process
// variables win, and WORLD_SIZE counts processes.
TEST(DistEnvTest, PyTorchJobUnderLauncher) {
  Vars v = Torchrun(3, 1, 2, 1, 4);
  v["PET_NNODES"] = "2";
  v["PET_NPROC_PER_NODE"] = "2";
  v["PET_NODE_RANK"] = "1";
  StatusOr<DistEnv> e = Parse(v);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->source, "torchrun");
  EXPECT_EQ(e->rank, 3);
  EXPECT_EQ(e->num_nodes, 2);
}

TEST(DistEnvTest, PlainEnvAndMpiDisagreement) {
  Vars v = {{"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}, {"RANK", "1"}, {"WORLD_SIZE", "2"}};
  StatusOr<DistEnv> e = Parse(v);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->source, "env");
  EXPECT_EQ(e->rank, 1);
  v["OMPI_COMM_WORLD_RANK"] = "0";
  ExpectError(v, absl::StatusCode::kInvalidArgument, "OMPI_COMM_WORLD_RANK=0 differ");
  ExpectError({{"RANK", "0"}}, absl::StatusCode::kInvalidArgument, "WORLD_SIZE is not set");
}

TEST(DistEnvTest, MpiJob) {
  Vars v = {{"OMPI_COMM_WORLD_RANK", "5"},       {"OMPI_COMM_WORLD_SIZE", "8"},
            {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"},
            {"MASTER_ADDR", "launcher"},         {"MASTER_PORT", "2000"}};
  StatusOr<DistEnv> e = Parse(v);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->source, "mpi");
  EXPECT_EQ(e->rank, 5);
  EXPECT_EQ(e->world_size, 8);
  EXPECT_EQ(e->local_rank, 1);
  EXPECT_EQ(e->node_rank, 1);
  EXPECT_EQ(e->num_nodes, 2);
  EXPECT_EQ(e->num_threads, 2);
  v.erase("MASTER_ADDR");
  ExpectError(v, absl::StatusCode::kFailedPrecondition, "MASTER_ADDR is not set");
  v["MASTER_ADDR"] = "launcher";
  v["OMPI_COMM_WORLD_RANK"] = "8";
  ExpectError(v, absl::StatusCode::kInvalidArgument, "RANK=8 must be below WORLD_SIZE=8");
}

TEST(DistEnvTest, TfConfigChiefAndWorkers) {
  const std::string cluster =
      R"("cluster": {"chief": ["chief-0:2222"], "worker": ["w-0:2222", "w-1:2222"],
                     "ps": ["ps-0:2222"]})";
  StatusOr<DistEnv> e =
      Parse({{"TF_CONFIG", "{" + cluster + R"(, "task": {"type": "worker", "index": 1}})"}});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->source, "tf_config");
  EXPECT_EQ(e->rank, 2);
  EXPECT_EQ(e->world_size, 3);
  EXPECT_EQ(e->init_method(), "tcp://chief-0:2222");
  e = Parse({{"TF_CONFIG", "{" + cluster + R"(, "task": {"type": "chief", "index": 0}})"}});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->rank, 0);

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
  StatusOr<DistEnv> e = Parse(
      {{"TF_CONFIG",
        R"({"cluster": {"worker": ["[::1]:2222", "b:2222"]}, "task": {"type": "worker", "index": 0}})"},
       {"MASTER_PORT", "3333"}});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->master_addr, "::1");
  EXPECT_EQ(e->init_method(), "tcp://[::1]:3333");
}

}  // namespace
}  // namespace mlcore::dist
