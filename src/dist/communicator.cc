// The backend-independent half of the Communicator: blocking forms, op names, the registry and
// InitProcessGroup's agreement on the world size.
#include "mlcore/dist/communicator.h"

#include <thread>

#include "dist/health.h"
#include "dist/queued_communicator.h"
#include "dist/socket_util.h"
#include "mlcore/core/cuda.h"

namespace mlcore::dist {
namespace {

// A blocking form: issues the collective as one its caller waits for at once, then waits.
template <typename Issue>
Status Await(Issue issue) {
  StatusOr<std::shared_ptr<Work>> work;
  {
    internal::CallerWaitsScope waits;
    work = issue();
  }
  if (!work.ok()) return work.status();
  return (*work)->Wait();
}

// The store lives in rank 0's process. When rank 0 is the rank that disagrees, it waits (up to 2
// s) until every rank that proposed before it has read the error, so that theirs names the
// disagreement rather than a store that vanished as rank 0 exited.
void LingerUntilErrorRead(Store& store) {
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  while (absl::Now() < deadline) {
    StatusOr<int64_t> proposed = store.Add("init/proposed", 0);
    StatusOr<int64_t> read = store.Add("init/error_read", 0);
    if (!proposed.ok() || !read.ok() || *read >= *proposed - 1) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Every rank proposes its world size; the first proposal fixes it. A rank that disagrees posts
// "init/error" (so the others fail too) instead of its arrival key.
Status JoinGroup(Store& store, int rank, int world_size, absl::Duration timeout) {
  std::string mine = std::to_string(world_size);
  MLCORE_RETURN_IF_ERROR(store.Add("init/proposed", 1).status());
  MLCORE_ASSIGN_OR_RETURN(std::string held, store.CompareSet("init/world_size", "", mine));
  if (held != mine) {
    std::string message = "ranks disagree on the world size: rank " + std::to_string(rank) +
                          " has WORLD_SIZE " + mine + ", another rank started the group with " +
                          held;
    store.Set("init/error", message).IgnoreError();
    if (rank == 0) LingerUntilErrorRead(store);
    return absl::InvalidArgumentError(message);
  }
  MLCORE_RETURN_IF_ERROR(store.Set("init/arrived/" + std::to_string(rank), "1"));
  std::vector<std::string> keys;
  for (int r = 0; r < world_size; ++r) keys.push_back("init/arrived/" + std::to_string(r));
  keys.push_back("init/error");
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    MLCORE_ASSIGN_OR_RETURN(std::vector<bool> found, store.Check(keys));
    if (found.back()) {
      MLCORE_ASSIGN_OR_RETURN(std::string error, store.Get("init/error", absl::Seconds(5)));
      store.Add("init/error_read", 1).IgnoreError();
      return absl::InvalidArgumentError(error);
    }
    std::vector<int> missing;
    for (int r = 0; r < world_size; ++r) {
      if (!found[r]) missing.push_back(r);
    }
    if (missing.empty()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          "init_process_group: rank(s) " + internal::RankList(missing) + " of " + mine +
          " did not join within the timeout of " + absl::FormatDuration(timeout));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

const char* ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return "sum";
    case ReduceOp::kAvg:
      return "avg";
    case ReduceOp::kMin:
      return "min";
    case ReduceOp::kMax:
      return "max";
    case ReduceOp::kProduct:
      break;
  }
  return "product";
}

StatusOr<ReduceOp> ParseReduceOp(std::string_view name) {
  if (name == "sum") return ReduceOp::kSum;
  if (name == "avg" || name == "mean") return ReduceOp::kAvg;
  if (name == "min") return ReduceOp::kMin;
  if (name == "max") return ReduceOp::kMax;
  if (name == "product" || name == "prod") return ReduceOp::kProduct;
  return absl::InvalidArgumentError("unknown reduce op '" + std::string(name) +
                                    "' (known: avg, max, min, product, sum)");
}

Status Communicator::AllReduce(Tensor tensor, ReduceOp op, absl::Duration timeout) {
  return Await([&] { return AllReduceAsync(std::move(tensor), op, timeout); });
}
Status Communicator::Broadcast(Tensor tensor, int root, absl::Duration timeout) {
  return Await([&] { return BroadcastAsync(std::move(tensor), root, timeout); });
}
Status Communicator::Reduce(Tensor tensor, int root, ReduceOp op, absl::Duration timeout) {
  return Await([&] { return ReduceAsync(std::move(tensor), root, op, timeout); });
}
Status Communicator::AllGather(Tensor input, Tensor output, absl::Duration timeout) {
  return Await([&] { return AllGatherAsync(std::move(input), std::move(output), timeout); });
}
Status Communicator::ReduceScatter(Tensor input, Tensor output, ReduceOp op,
                                   absl::Duration timeout) {
  return Await(
      [&] { return ReduceScatterAsync(std::move(input), std::move(output), op, timeout); });
}
Status Communicator::AllToAll(Tensor input, Tensor output, absl::Duration timeout) {
  return Await([&] { return AllToAllAsync(std::move(input), std::move(output), timeout); });
}
Status Communicator::Barrier(absl::Duration timeout) {
  return Await([&] { return BarrierAsync(timeout); });
}
Status Communicator::Send(Tensor tensor, int dst, int tag, absl::Duration timeout) {
  return Await([&] { return SendAsync(std::move(tensor), dst, tag, timeout); });
}
Status Communicator::Recv(Tensor tensor, int src, int tag, absl::Duration timeout) {
  return Await([&] { return RecvAsync(std::move(tensor), src, tag, timeout); });
}

Registry<CommunicatorFactory>& CommunicatorRegistry() {
  static auto* registry = new Registry<CommunicatorFactory>("communicator backend");
  return *registry;
}

std::string AutoBackend() {
  if (CommunicatorRegistry().Contains("nccl") && cuda::DeviceCount() > 0) return "nccl";
  return "gloo";
}

StatusOr<std::unique_ptr<Communicator>> InitProcessGroup(const InitOptions& options) {
  std::string backend = options.backend == "auto" ? AutoBackend() : options.backend;
  MLCORE_ASSIGN_OR_RETURN(CommunicatorFactory factory, CommunicatorRegistry().Find(backend));
  RendezvousOptions rv;
  rv.init_method = options.init_method;
  rv.rank = options.rank;
  rv.world_size = options.world_size;
  rv.timeout = options.timeout;
  MLCORE_ASSIGN_OR_RETURN(Rendezvous group, OpenRendezvous(rv));
  MLCORE_RETURN_IF_ERROR(JoinGroup(*group.store, group.rank, group.world_size, options.timeout));
  CommunicatorOptions comm = options.communicator;
  comm.rank = group.rank;
  comm.world_size = group.world_size;
  comm.timeout = options.timeout;
  // Ranks meeting at a loopback address are all on this machine: their pairs use it too.
  std::string master;
  if (options.init_method.rfind("tcp://", 0) == 0) {
    master = options.init_method.substr(6, options.init_method.rfind(':') - 6);
  } else if (options.init_method.rfind("env://", 0) == 0 && std::getenv("MASTER_ADDR")) {
    master = std::getenv("MASTER_ADDR");
  }
  if (comm.host.empty() && !master.empty() && internal::IsLoopbackHost(master)) {
    comm.host = "127.0.0.1";
  }
  return factory(PrefixStore(backend, group.store), comm);
}

}  // namespace mlcore::dist
