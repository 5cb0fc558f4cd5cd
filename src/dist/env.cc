// One reader for the four ways a job's processes learn their place (see env.h). The form is
// chosen by the variables present, most specific first: LOCAL_RANK means a per-process launcher
// ran (torchrun, `mlcore launch`), PET_* a PyTorchJob pod that runs the script itself, RANK and
// WORLD_SIZE alone a plain env:// job, then MPIJob and TFJob.
#include "mlcore/dist/env.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace mlcore::dist {
namespace {

std::string Show(std::string_view name, const std::string& value) {
  return std::string(name) + "='" + value + "'";
}

// Reads named variables as integers; each error names the variable and its value.
class Vars {
 public:
  Vars(const EnvLookup& env, std::string source) : env_(env), source_(std::move(source)) {}

  std::optional<std::string> Get(std::string_view name) const {
    std::optional<std::string> v = env_(name);
    if (v && v->empty()) return std::nullopt;  // an empty variable counts as unset
    return v;
  }
  bool Has(std::string_view name) const { return Get(name).has_value(); }

  // nullopt when unset; InvalidArgument when not an integer in [min, max].
  StatusOr<std::optional<int>> Int(std::string_view name, int min, int max) const {
    std::optional<std::string> v = Get(name);
    if (!v) return std::optional<int>();
    int out = 0;
    const char* end = v->data() + v->size();
    auto [ptr, ec] = std::from_chars(v->data(), end, out);
    if (ec != std::errc() || ptr != end) {
      return Error(Show(name, *v) + " is not an integer");
    }
    if (out < min || out > max) {
      return Error(Show(name, *v) + " must be in [" + std::to_string(min) + ", " +
                   std::to_string(max) + "]");
    }
    return std::optional<int>(out);
  }
  // Like Int, but an unset variable is an error naming it.
  StatusOr<int> Required(std::string_view name, int min, int max, std::string_view why) const {
    MLCORE_ASSIGN_OR_RETURN(std::optional<int> v, Int(name, min, max));
    if (!v) return Error(std::string(name) + " is not set (" + std::string(why) + ")");
    return *v;
  }
  Status Error(const std::string& what) const {
    return absl::InvalidArgumentError("distributed environment (" + source_ + "): " + what);
  }
  Status Precondition(const std::string& what) const {
    return absl::FailedPreconditionError("distributed environment (" + source_ + "): " + what);
  }
  const std::string& source() const { return source_; }

 private:
  const EnvLookup& env_;
  std::string source_;
};

constexpr int kMaxInt = 1 << 30;

// The checks every form shares once rank, world and node layout are known.
Status CheckLayout(const Vars& vars, const DistEnv& e) {
  if (e.world_size < 1) return vars.Error("WORLD_SIZE must be >= 1");
  if (e.rank >= e.world_size) {
    return vars.Error("RANK=" + std::to_string(e.rank) +
                      " must be below WORLD_SIZE=" + std::to_string(e.world_size));
  }
  if (e.local_rank >= e.local_world_size) {
    return vars.Error("LOCAL_RANK=" + std::to_string(e.local_rank) +
                      " must be below LOCAL_WORLD_SIZE=" + std::to_string(e.local_world_size));
  }
  if (e.node_rank >= e.num_nodes) {
    return vars.Error("node rank " + std::to_string(e.node_rank) + " must be below the " +
                      std::to_string(e.num_nodes) + " nodes");
  }
  return absl::OkStatus();
}

// torchrun and `mlcore launch`: one process per rank, every variable set by the launcher.
Status ReadTorchrun(const Vars& v, DistEnv& e) {
  MLCORE_ASSIGN_OR_RETURN(e.world_size, v.Required("WORLD_SIZE", 1, kMaxInt, "LOCAL_RANK is"));
  MLCORE_ASSIGN_OR_RETURN(e.rank, v.Required("RANK", 0, kMaxInt, "LOCAL_RANK is"));
  MLCORE_ASSIGN_OR_RETURN(e.local_rank, v.Required("LOCAL_RANK", 0, kMaxInt, ""));
  MLCORE_ASSIGN_OR_RETURN(e.local_world_size,
                          v.Required("LOCAL_WORLD_SIZE", 1, kMaxInt, "LOCAL_RANK is"));
  MLCORE_ASSIGN_OR_RETURN(std::optional<int> group_rank, v.Int("GROUP_RANK", 0, kMaxInt));
  MLCORE_ASSIGN_OR_RETURN(std::optional<int> pet_node, v.Int("PET_NODE_RANK", 0, kMaxInt));
  MLCORE_ASSIGN_OR_RETURN(std::optional<int> groups, v.Int("GROUP_WORLD_SIZE", 1, kMaxInt));
  e.node_rank = group_rank ? *group_rank : pet_node ? *pet_node : e.rank / e.local_world_size;
  if (e.world_size % e.local_world_size != 0) {
    return v.Error("WORLD_SIZE=" + std::to_string(e.world_size) +
                   " is not a multiple of LOCAL_WORLD_SIZE=" + std::to_string(e.local_world_size));
  }
  e.num_nodes = e.world_size / e.local_world_size;
  if (groups && *groups != e.num_nodes) {
    return v.Error("WORLD_SIZE=" + std::to_string(e.world_size) +
                   " is not GROUP_WORLD_SIZE=" + std::to_string(*groups) +
                   " x LOCAL_WORLD_SIZE=" + std::to_string(e.local_world_size));
  }
  MLCORE_RETURN_IF_ERROR(CheckLayout(v, e));
  const int expected = e.node_rank * e.local_world_size + e.local_rank;
  if (e.rank != expected) {
    return v.Error("RANK=" + std::to_string(e.rank) +
                   " disagrees with GROUP_RANK=" + std::to_string(e.node_rank) +
                   " x LOCAL_WORLD_SIZE=" + std::to_string(e.local_world_size) + " + LOCAL_RANK=" +
                   std::to_string(e.local_rank) + " = " + std::to_string(expected));
  }
  return absl::OkStatus();
}

// A PyTorchJob pod that runs the script itself (no launcher between): one process per pod.
// WORLD_SIZE may count pods (older operators) or processes (newer ones, PET_NNODES x
// PET_NPROC_PER_NODE); both are accepted when they agree with PET_NNODES, since with one
// process per pod they are the same number.
Status ReadPyTorchJob(const Vars& v, DistEnv& e) {
  if (std::optional<std::string> nproc = v.Get("PET_NPROC_PER_NODE")) {
    StatusOr<std::optional<int>> n = v.Int("PET_NPROC_PER_NODE", 1, kMaxInt);
    if (!n.ok() || **n != 1) {  // "auto", "gpu" and counts above 1 all need a launcher
      return v.Precondition(Show("PET_NPROC_PER_NODE", *nproc) +
                            " asks for several processes per pod, but no launcher started this "
                            "one (LOCAL_RANK is unset); run the script with `mlcore launch` or "
                            "torchrun, which read PET_NPROC_PER_NODE");
    }
  }
  MLCORE_ASSIGN_OR_RETURN(std::optional<int> world, v.Int("WORLD_SIZE", 1, kMaxInt));
  if (std::optional<std::string> nnodes = v.Get("PET_NNODES")) {
    StatusOr<std::optional<int>> n = v.Int("PET_NNODES", 1, kMaxInt);
    if (!n.ok()) {
      return v.Precondition(Show("PET_NNODES", *nnodes) +
                            " is an elastic range or not a number; an elastic job needs a "
                            "launcher (`mlcore launch` or torchrun) to agree on the members");
    }
    e.num_nodes = **n;
  } else if (world) {
    e.num_nodes = *world;
  } else {
    return v.Error("neither PET_NNODES nor WORLD_SIZE is set");
  }
  if (world && *world != e.num_nodes) {
    return v.Error("WORLD_SIZE=" + std::to_string(*world) + " is neither the pod count nor the " +
                   "process count PET_NNODES=" + std::to_string(e.num_nodes) +
                   " x PET_NPROC_PER_NODE=1 gives");
  }
  MLCORE_ASSIGN_OR_RETURN(std::optional<int> node, v.Int("PET_NODE_RANK", 0, kMaxInt));
  MLCORE_ASSIGN_OR_RETURN(std::optional<int> rank, v.Int("RANK", 0, kMaxInt));
  if (node && rank && *node != *rank) {
    return v.Error("RANK=" + std::to_string(*rank) + " and PET_NODE_RANK=" + std::to_string(*node) +
                   " differ for a pod with one process");
  }
  if (!node && !rank) return v.Error("neither PET_NODE_RANK nor RANK is set");
  e.node_rank = e.rank = node ? *node : *rank;
  e.world_size = e.num_nodes;
  return CheckLayout(v, e);
}

// RANK and WORLD_SIZE without a launcher's LOCAL_RANK: one process per node assumed.
Status ReadPlainEnv(const Vars& v, DistEnv& e) {
  MLCORE_ASSIGN_OR_RETURN(e.world_size, v.Required("WORLD_SIZE", 1, kMaxInt, "RANK is"));
  MLCORE_ASSIGN_OR_RETURN(e.rank, v.Required("RANK", 0, kMaxInt, "WORLD_SIZE is"));
  MLCORE_ASSIGN_OR_RETURN(std::optional<int> mpi, v.Int("OMPI_COMM_WORLD_RANK", 0, kMaxInt));
  if (mpi && *mpi != e.rank) {
    return v.Error("RANK=" + std::to_string(e.rank) +
                   " and OMPI_COMM_WORLD_RANK=" + std::to_string(*mpi) + " differ");
  }
  e.node_rank = e.rank;
  e.num_nodes = e.world_size;
  return CheckLayout(v, e);
}

// MPIJob: Open MPI numbers the processes; the rendezvous address still comes from MASTER_*.
Status ReadMpi(const Vars& v, DistEnv& e) {
  MLCORE_ASSIGN_OR_RETURN(
      e.world_size, v.Required("OMPI_COMM_WORLD_SIZE", 1, kMaxInt, "OMPI_COMM_WORLD_RANK is"));
  MLCORE_ASSIGN_OR_RETURN(
      e.rank, v.Required("OMPI_COMM_WORLD_RANK", 0, kMaxInt, "OMPI_COMM_WORLD_SIZE is"));
  MLCORE_ASSIGN_OR_RETURN(std::optional<int> lr, v.Int("OMPI_COMM_WORLD_LOCAL_RANK", 0, kMaxInt));
  MLCORE_ASSIGN_OR_RETURN(std::optional<int> ls, v.Int("OMPI_COMM_WORLD_LOCAL_SIZE", 1, kMaxInt));
  e.local_rank = lr.value_or(0);
  e.local_world_size = ls.value_or(1);
  e.node_rank = e.rank / e.local_world_size;
  e.num_nodes = (e.world_size + e.local_world_size - 1) / e.local_world_size;
  return CheckLayout(v, e);
}

// TFJob: ranks are the chief (or legacy master) first, then the workers in TF_CONFIG's order;
// rank 0's "host:port" is the rendezvous address unless MASTER_ADDR/MASTER_PORT say otherwise.
Status ReadTfConfig(const Vars& v, DistEnv& e, std::string* addr, std::string* port) {
  const std::string text = *v.Get("TF_CONFIG");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return v.Error("TF_CONFIG is not a JSON object");
  if (!j.contains("cluster") || !j["cluster"].is_object()) {
    return v.Error("TF_CONFIG has no \"cluster\" object");
  }
  if (!j.contains("task") || !j["task"].is_object() || !j["task"].contains("type") ||
      !j["task"]["type"].is_string() || !j["task"].contains("index") ||
      !j["task"]["index"].is_number_integer()) {
    return v.Error("TF_CONFIG's \"task\" needs a string \"type\" and an integer \"index\"");
  }
  const std::string type = j["task"]["type"];
  const int64_t index = j["task"]["index"];
  if (type != "chief" && type != "master" && type != "worker") {
    return v.Precondition("TF_CONFIG task type '" + type +
                          "' has no place in data-parallel training (chief, master and worker "
                          "tasks train; parameter servers and evaluators do not)");
  }
  std::vector<std::string> hosts;
  int64_t first_of_type = -1;
  for (const char* kind : {"chief", "master", "worker"}) {
    if (!j["cluster"].contains(kind)) continue;
    const nlohmann::json& list = j["cluster"][kind];
    if (!list.is_array())
      return v.Error(std::string("TF_CONFIG cluster.") + kind + " is not a list");
    if (type == kind) first_of_type = static_cast<int64_t>(hosts.size());
    for (const nlohmann::json& h : list) {
      if (!h.is_string())
        return v.Error(std::string("TF_CONFIG cluster.") + kind + " has a non-string");
      hosts.push_back(h.get<std::string>());
    }
    if (type == kind && (index < 0 || index >= static_cast<int64_t>(list.size()))) {
      return v.Error("TF_CONFIG task index " + std::to_string(index) + " is outside cluster." +
                     type + " (" + std::to_string(list.size()) + " entries)");
    }
  }
  if (first_of_type < 0) return v.Error("TF_CONFIG cluster has no '" + type + "' list");
  e.world_size = static_cast<int>(hosts.size());
  e.rank = static_cast<int>(first_of_type + index);
  e.node_rank = e.rank;
  e.num_nodes = e.world_size;
  const std::string& master = hosts[0];
  const size_t colon = master.rfind(':');
  if (colon == std::string::npos) {
    return v.Error("TF_CONFIG's first task address '" + master + "' has no port");
  }
  *addr = master.substr(0, colon);
  if (addr->size() >= 2 && addr->front() == '[' && addr->back() == ']') {
    *addr = addr->substr(1, addr->size() - 2);
  }
  *port = master.substr(colon + 1);
  return CheckLayout(v, e);
}

// MASTER_ADDR / MASTER_PORT (PyTorchJob also sets PET_MASTER_*), required for a group.
Status ReadMaster(const Vars& v, DistEnv& e, const std::string& fallback_addr,
                  const std::string& fallback_port) {
  std::optional<std::string> addr = v.Get("MASTER_ADDR");
  if (!addr) addr = v.Get("PET_MASTER_ADDR");
  if (!addr && !fallback_addr.empty()) addr = fallback_addr;
  std::string port_name = "MASTER_PORT";
  if (!v.Has(port_name) && v.Has("PET_MASTER_PORT")) port_name = "PET_MASTER_PORT";
  std::optional<std::string> port = v.Get(port_name);
  if (!port && !fallback_port.empty()) port = fallback_port;
  const std::string group = " for a group of " + std::to_string(e.world_size) + " processes";
  if (e.world_size > 1 && !addr) {
    return v.Precondition("MASTER_ADDR is not set: rank 0's address is needed" + group);
  }
  if (e.world_size > 1 && !port) {
    return v.Precondition("MASTER_PORT is not set: rank 0's store port is needed" + group);
  }
  if (port) {
    int p = 0;
    const char* end = port->data() + port->size();
    auto [ptr, ec] = std::from_chars(port->data(), end, p);
    if (ec != std::errc() || ptr != end || p < 1 || p > 65535) {
      return v.Error(Show(port_name, *port) + " is not a port number (1..65535)");
    }
    e.master_port = p;
  }
  if (addr) e.master_addr = *addr;
  return absl::OkStatus();
}

}  // namespace

std::string DistEnv::init_method() const {
  if (master_addr.empty() || master_port == 0) return "";
  const bool v6 = master_addr.find(':') != std::string::npos;
  return "tcp://" + (v6 ? "[" + master_addr + "]" : master_addr) + ":" +
         std::to_string(master_port);
}

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

int UsableCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

StatusOr<DistEnv> ParseDistEnv(const EnvLookup& env, int cores) {
  Vars probe(env, "");
  DistEnv e;
  if (probe.Has("LOCAL_RANK")) {
    e.source = "torchrun";
  } else if (probe.Has("PET_NNODES") || probe.Has("PET_NPROC_PER_NODE") ||
             probe.Has("PET_NODE_RANK")) {
    e.source = "pytorchjob";
  } else if (probe.Has("RANK") || probe.Has("WORLD_SIZE")) {
    e.source = "env";
  } else if (probe.Has("OMPI_COMM_WORLD_RANK") || probe.Has("OMPI_COMM_WORLD_SIZE")) {
    e.source = "mpi";
  } else if (probe.Has("TF_CONFIG")) {
    e.source = "tf_config";
  }
  Vars v(env, e.source);
  std::string tf_addr, tf_port;
  if (e.source == "torchrun") {
    MLCORE_RETURN_IF_ERROR(ReadTorchrun(v, e));
  } else if (e.source == "pytorchjob") {
    MLCORE_RETURN_IF_ERROR(ReadPyTorchJob(v, e));
  } else if (e.source == "env") {
    MLCORE_RETURN_IF_ERROR(ReadPlainEnv(v, e));
  } else if (e.source == "mpi") {
    MLCORE_RETURN_IF_ERROR(ReadMpi(v, e));
  } else if (e.source == "tf_config") {
    MLCORE_RETURN_IF_ERROR(ReadTfConfig(v, e, &tf_addr, &tf_port));
  }
  MLCORE_RETURN_IF_ERROR(ReadMaster(v, e, tf_addr, tf_port));
  MLCORE_ASSIGN_OR_RETURN(std::optional<int> threads, v.Int("MLCORE_NUM_THREADS", 1, 4096));
  if (threads) {
    e.num_threads = *threads;
  } else {
    e.num_threads = std::max(1, (cores > 0 ? cores : UsableCores()) / e.local_world_size);
  }
  MLCORE_ASSIGN_OR_RETURN(std::optional<int> restarts, v.Int("MLCORE_RESTART_COUNT", 0, kMaxInt));
  if (!restarts) {
    MLCORE_ASSIGN_OR_RETURN(restarts, v.Int("TORCHELASTIC_RESTART_COUNT", 0, kMaxInt));
  }
  e.restart_count = restarts.value_or(0);
  return e;
}

}  // namespace mlcore::dist
