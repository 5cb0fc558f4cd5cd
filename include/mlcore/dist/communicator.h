// Collective communication between the ranks of a process group: one interface, backends by name
// ("gloo" for CPU tensors over TCP, with a shared-memory path for ranks on one host; "nccl" for
// CUDA tensors; "auto" picks by device). Every collective is issued in the same order on every
// rank, works in place on the caller's tensor (no copy where the memory allows), and has a
// timeout: a peer that is gone or late makes every other rank fail with DeadlineExceeded (late)
// or Unavailable (gone) whose message names the collective, the missing ranks and the timeout.
// After such an error the communicator is broken; every later call fails with the same error.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "mlcore/core/registry.h"
#include "mlcore/core/status.h"
#include "mlcore/core/tensor.h"
#include "mlcore/dist/store.h"

namespace mlcore::dist {

enum class ReduceOp { kSum, kAvg, kMin, kMax, kProduct };
// "sum", "avg", "min", "max", "product".
const char* ReduceOpName(ReduceOp op);
// Parses the names above (and "mean", "prod"); InvalidArgument listing them otherwise.
StatusOr<ReduceOp> ParseReduceOp(std::string_view name);

// A timeout argument that means "the communicator's own timeout" (CommunicatorOptions::timeout).
inline constexpr absl::Duration kUseDefaultTimeout = absl::ZeroDuration();

// The handle of an asynchronous collective. Collectives run on the communicator's own thread in
// the order they were issued; Wait blocks until this one is done.
class Work {
 public:
  virtual ~Work() = default;
  // The collective's status once it finished; DeadlineExceeded when `timeout` (an extra bound on
  // the wait only: the collective keeps its own timeout) passes first.
  virtual Status Wait(absl::Duration timeout = absl::InfiniteDuration()) = 0;
  virtual bool IsCompleted() const = 0;
};

struct CommunicatorOptions {
  int rank = 0;
  int world_size = 1;
  // The default timeout of every collective, and how long creation waits for every rank.
  absl::Duration timeout = kDefaultTimeout;
  // Ranks on one host exchange through shared memory instead of loopback TCP (gloo only). Off
  // forces TCP everywhere (what a multi-host group does between hosts).
  bool same_host_shm = true;
  // The address other ranks reach this one at (gloo's TCP device). "" picks 127.0.0.1 when the
  // rendezvous host is a loopback address, the host's name otherwise.
  std::string host = "";
  // Which machine this rank is on, for the shared-memory path: ranks with equal ids share
  // memory. "" is this host's name and boot id; tests set it to make one machine look like
  // several.
  std::string host_id = "";
  // How often each rank posts its heartbeat into the store; a rank whose heartbeat stops for
  // three periods is named as gone when a collective times out.
  absl::Duration heartbeat_interval = absl::Milliseconds(250);
  // The CUDA device of the NCCL backend (-1: the current one).
  int device_index = -1;
};

// Thread-compatible for the issuing side: issue collectives from one thread (or serialise them),
// as every rank must issue them in the same order. Work handles may be waited on from any thread.
class Communicator {
 public:
  virtual ~Communicator() = default;

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  const CommunicatorOptions& options() const { return options_; }
  // "gloo", "nccl".
  virtual std::string backend() const = 0;
  // How tensors travel between the ranks now: "shm", "tcp", "shm+tcp", "nccl".
  virtual std::string transport() const = 0;

  // In place on every rank: `tensor` ends holding the reduction over all ranks.
  virtual StatusOr<std::shared_ptr<Work>> AllReduceAsync(Tensor tensor, ReduceOp op,
                                                         absl::Duration timeout) = 0;
  // `tensor` on every rank ends holding root's tensor.
  virtual StatusOr<std::shared_ptr<Work>> BroadcastAsync(Tensor tensor, int root,
                                                         absl::Duration timeout) = 0;
  // Root's `tensor` ends holding the reduction; the other ranks' tensors are left as they were.
  virtual StatusOr<std::shared_ptr<Work>> ReduceAsync(Tensor tensor, int root, ReduceOp op,
                                                      absl::Duration timeout) = 0;
  // `output` (world_size * input.numel() elements, same dtype) ends holding every rank's input,
  // rank after rank.
  virtual StatusOr<std::shared_ptr<Work>> AllGatherAsync(Tensor input, Tensor output,
                                                         absl::Duration timeout) = 0;
  // `input` holds world_size equal blocks of output.numel() elements; rank r's `output` ends
  // holding the reduction of block r over all ranks.
  virtual StatusOr<std::shared_ptr<Work>> ReduceScatterAsync(Tensor input, Tensor output,
                                                             ReduceOp op,
                                                             absl::Duration timeout) = 0;
  // `input` and `output` hold world_size equal blocks: block j of rank i's input becomes block i
  // of rank j's output.
  virtual StatusOr<std::shared_ptr<Work>> AllToAllAsync(Tensor input, Tensor output,
                                                        absl::Duration timeout) = 0;
  virtual StatusOr<std::shared_ptr<Work>> BarrierAsync(absl::Duration timeout) = 0;
  // Point to point: `tensor` to rank `dst`, matched by a Recv on `dst` with this rank and `tag`.
  virtual StatusOr<std::shared_ptr<Work>> SendAsync(Tensor tensor, int dst, int tag,
                                                    absl::Duration timeout) = 0;
  virtual StatusOr<std::shared_ptr<Work>> RecvAsync(Tensor tensor, int src, int tag,
                                                    absl::Duration timeout) = 0;

  // The blocking forms: the async call, then Wait.
  Status AllReduce(Tensor tensor, ReduceOp op = ReduceOp::kSum,
                   absl::Duration timeout = kUseDefaultTimeout);
  Status Broadcast(Tensor tensor, int root = 0, absl::Duration timeout = kUseDefaultTimeout);
  Status Reduce(Tensor tensor, int root = 0, ReduceOp op = ReduceOp::kSum,
                absl::Duration timeout = kUseDefaultTimeout);
  Status AllGather(Tensor input, Tensor output, absl::Duration timeout = kUseDefaultTimeout);
  Status ReduceScatter(Tensor input, Tensor output, ReduceOp op = ReduceOp::kSum,
                       absl::Duration timeout = kUseDefaultTimeout);
  Status AllToAll(Tensor input, Tensor output, absl::Duration timeout = kUseDefaultTimeout);
  Status Barrier(absl::Duration timeout = kUseDefaultTimeout);
  Status Send(Tensor tensor, int dst, int tag = 0, absl::Duration timeout = kUseDefaultTimeout);
  Status Recv(Tensor tensor, int src, int tag = 0, absl::Duration timeout = kUseDefaultTimeout);

 protected:
  explicit Communicator(CommunicatorOptions options) : options_(std::move(options)) {}
  // `timeout`, or options().timeout for kUseDefaultTimeout.
  absl::Duration EffectiveTimeout(absl::Duration timeout) const {
    return timeout == kUseDefaultTimeout ? options_.timeout : timeout;
  }

 private:
  CommunicatorOptions options_;
};

// Builds a backend over a group's store (already joined: rank and world size settled).
using CommunicatorFactory = std::function<StatusOr<std::unique_ptr<Communicator>>(
    std::shared_ptr<Store> store, const CommunicatorOptions& options)>;
// "gloo", "nccl" (registered by their own files).
Registry<CommunicatorFactory>& CommunicatorRegistry();

// Everything a process needs to join a group, as torch.distributed.init_process_group takes it.
struct InitOptions {
  // "gloo", "nccl", or "auto" (nccl when this build has CUDA and a device is present, else gloo).
  std::string backend = "auto";
  // "tcp://host:port", "file:///path" or "env://" (see RendezvousOptions).
  std::string init_method = "env://";
  // -1: from the environment (env://) or required (InvalidArgument) for the other methods.
  int rank = -1;
  int world_size = -1;
  absl::Duration timeout = kDefaultTimeout;
  // Passed to the backend (rank, world_size and timeout are overwritten by the rendezvous).
  CommunicatorOptions communicator;
};

// Rendezvous, a check that every rank agrees on the world size (a disagreement is
// InvalidArgument on every rank that can see it, naming both sizes), then the backend.
StatusOr<std::unique_ptr<Communicator>> InitProcessGroup(const InitOptions& options);
// The backend "auto" resolves to in this process.
std::string AutoBackend();

}  // namespace mlcore::dist
