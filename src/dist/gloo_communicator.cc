// The "gloo" backend: CPU tensors over Gloo's TCP transport, with every collective given its own
// timeout. When every rank of the group can map one shared-memory segment (ranks on one host),
// the collectives run through ShmGroup instead (dist/shm_group.h); point to point always uses
// Gloo's pairs.
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/alltoall.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/reduce.h>
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "dist/collective_checks.h"
#include "dist/gloo_pipelined_ring.h"
#include "dist/gloo_ring_cache.h"
#include "dist/gloo_store.h"
#include "dist/host_layout.h"
#include "dist/queued_communicator.h"
#include "dist/reduce.h"
#include "dist/shm_group.h"

namespace mlcore::dist::internal {
namespace {

// Up to where the TCP allreduce takes Gloo's classic ring (whole messages on sync-mode pairs,
// which block on write, so only messages that fit the sockets' buffers), and how many sizes its
// cache keeps (a training step allreduces a few fixed bucket sizes). Larger messages take the
// segmented ring of gloo_pipelined_ring.h.
constexpr size_t kSyncRingMaxBytes = size_t{64} << 10;
constexpr size_t kRingCacheEntries = 16;

// p2p slots use their own prefix so that user tags never meet a collective's slot.
constexpr uint8_t kP2pSlotPrefix = 0x70;

std::chrono::milliseconds Chrono(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return std::chrono::hours(24 * 365);
  if (d < absl::Milliseconds(1)) return std::chrono::milliseconds(1);
  return absl::ToChronoMilliseconds(d);
}

// Runs a Gloo call, turning its exceptions into a Status (a timeout is DeadlineExceeded).
template <typename Fn>
Status Guard(Fn&& fn) {
  try {
    fn();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (what.find("Timed out") != std::string::npos ||
        what.find("timed out") != std::string::npos) {
      return absl::DeadlineExceededError("gloo: " + what);
    }
    return absl::UnavailableError("gloo: " + what);
  }
}

// Calls fn(T{}) with an unsigned type of `size` bytes: Gloo splits buffers on element boundaries
// by sizeof(T), and mlcore supplies the arithmetic itself.
template <typename Fn>
void WithElementType(size_t size, Fn&& fn) {
  switch (size) {
    case 1:
      return fn(uint8_t{});
    case 2:
      return fn(uint16_t{});
    case 4:
      return fn(uint32_t{});
    default:
      return fn(uint64_t{});
  }
}

// A posted send or recv. The first Wait waits for the transfer (up to its timeout); later ones
// return its status.
class P2pWork : public Work {
 public:
  Status Wait(absl::Duration timeout) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!done_) {
      absl::Duration limit = std::min(timeout, this->timeout);
      status_ = Guard([&] {
        if (send) {
          buffer->waitSend(Chrono(limit));
        } else {
          buffer->waitRecv(Chrono(limit));
        }
      });
      if (!status_.ok()) {
        status_ =
            Status(status_.code(), std::string(send ? "send to" : "recv from") + " rank " +
                                       std::to_string(peer) + " (" + Describe(tensor) +
                                       ") failed: rank " + std::to_string(peer) +
                                       " did not answer within " + absl::FormatDuration(limit) +
                                       " [" + std::string(status_.message()) + "]");
      }
      done_ = true;
    }
    return status_;
  }
  bool IsCompleted() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

  Tensor tensor;
  bool send = false;
  int peer = 0;
  absl::Duration timeout;
  std::unique_ptr<gloo::transport::UnboundBuffer> buffer;

 private:
  mutable std::mutex mu_;
  bool done_ = false;
  Status status_;
};

class GlooCommunicator : public QueuedCommunicator {
 public:
  GlooCommunicator(std::shared_ptr<Store> store, CommunicatorOptions options)
      : QueuedCommunicator(std::move(store), std::move(options)) {}
  ~GlooCommunicator() override { StopWorker(); }

  Status Connect() {
    gloo::transport::tcp::attr attr;
    attr.hostname = options().host;
    if (attr.hostname.empty()) {
      char name[256] = {};
      gethostname(name, sizeof(name) - 1);
      attr.hostname = name;
    }
    GlooStore gloo_store(store(), options().timeout);
    MLCORE_RETURN_IF_ERROR(Guard([&] {
      device_ = gloo::transport::tcp::CreateDevice(attr);
      context_ = std::make_shared<gloo::rendezvous::Context>(rank(), world_size());
      context_->setTimeout(Chrono(options().timeout));
      context_->connectFullMesh(gloo_store, device_);
    }));
    if (options().same_host_shm && world_size() > 1) MLCORE_RETURN_IF_ERROR(JoinSharedMemory());
    if (!shm_ && !hierarchical_ && world_size() > 1) MLCORE_RETURN_IF_ERROR(ConnectRings());
    return absl::OkStatus();
  }

  // Two more full meshes, both with their pairs in sync mode (the caller reads its socket): one
  // for Gloo's classic ring (small messages), one for the segmented ring.
  Status ConnectRings() {
    auto mesh = [&](const char* prefix) -> StatusOr<std::shared_ptr<gloo::Context>> {
      GlooStore mesh_store(PrefixStore(prefix, store()), options().timeout);
      std::shared_ptr<gloo::rendezvous::Context> context;
      MLCORE_RETURN_IF_ERROR(Guard([&] {
        context = std::make_shared<gloo::rendezvous::Context>(rank(), world_size());
        context->setTimeout(Chrono(options().timeout));
        context->connectFullMesh(mesh_store, device_);
        for (int r = 0; r < world_size(); ++r) {
          if (r != rank()) context->getPair(r)->setSync(true, /*busyPoll=*/false);
        }
      }));
      return std::shared_ptr<gloo::Context>(context);
    };
    MLCORE_ASSIGN_OR_RETURN(auto sync_context, mesh("sync"));
    MLCORE_ASSIGN_OR_RETURN(auto ring_context, mesh("ring"));
    small_rings_ = std::make_unique<GlooRingCache>(sync_context, kRingCacheEntries, false);
    rings_ = std::make_unique<PipelinedRing>(ring_context);
    return absl::OkStatus();
  }

  // The TCP allreduce: the classic ring or the segmented one (their pairs time out after the
  // group's timeout, so a call with another timeout takes Gloo's options path).
  Status TcpAllReduce(const Tensor& t, ReduceOp op, ReduceFn fn, absl::Duration to) {
    size_t bytes = t.nbytes();
    if (!rings_ || to != options().timeout) {
      return GlooAllReduce(context_, t.data(), t.numel(), DTypeSize(t.dtype()), fn, to);
    }
    if (bytes <= kSyncRingMaxBytes && GlooRingCache::Supports(t.dtype(), op)) {
      return small_rings_->AllReduce(t.data(), t.numel(), t.dtype(), op);
    }
    return rings_->AllReduce(t.data(), t.numel(), DTypeSize(t.dtype()), fn);
  }

  // One host: every collective through shared memory. Several hosts, some with several ranks:
  // allreduce within each host through shared memory and between hosts through Gloo among one
  // leader per host. Every rank must take the same path, so the choice is agreed in the store.
  Status JoinSharedMemory() {
    absl::Duration timeout = options().timeout;
    MLCORE_ASSIGN_OR_RETURN(HostLayout layout, ExchangeHosts(*store(), rank(), world_size(),
                                                             options().host_id, timeout));
    if (layout.num_hosts == 1) {
      MLCORE_ASSIGN_OR_RETURN(shm_, ShmGroup::Join(*store(), rank(), world_size(), timeout));
      return absl::OkStatus();
    }
    if (layout.max_local_size == 1) return absl::OkStatus();
    std::unique_ptr<ShmGroup> local;
    bool ok = true;
    if (layout.local_size > 1) {
      auto host_store = PrefixStore("host" + std::to_string(layout.host_index), store());
      MLCORE_ASSIGN_OR_RETURN(
          local, ShmGroup::Join(*host_store, layout.local_rank, layout.local_size, timeout));
      ok = local != nullptr;
    }
    MLCORE_RETURN_IF_ERROR(store()->Set("hier/ok/" + std::to_string(rank()), ok ? "1" : "0"));
    for (int r = 0; r < world_size(); ++r) {
      MLCORE_ASSIGN_OR_RETURN(std::string v, store()->Get("hier/ok/" + std::to_string(r), timeout));
      if (v != "1") return absl::OkStatus();  // some host cannot share memory: TCP everywhere
    }
    local_ = std::move(local);
    hierarchical_ = true;
    if (layout.local_rank == 0) {
      GlooStore leader_store(PrefixStore("leaders", store()), timeout);
      MLCORE_RETURN_IF_ERROR(Guard([&] {
        leaders_ = std::make_shared<gloo::rendezvous::Context>(layout.host_index, layout.num_hosts);
        leaders_->setTimeout(Chrono(timeout));
        leaders_->connectFullMesh(leader_store, device_);
      }));
    }
    return absl::OkStatus();
  }

  // Reduce to each host's leader, allreduce among leaders, broadcast back: the bytes cross the
  // network once per host instead of once per rank.
  Status HierarchicalAllReduce(void* data, int64_t n, size_t esize, ReduceFn fn,
                               absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    if (local_) MLCORE_RETURN_IF_ERROR(local_->Reduce(data, n, esize, fn, 0, timeout));
    if (leaders_) {
      MLCORE_RETURN_IF_ERROR(GlooAllReduce(leaders_, data, n, esize, fn, deadline - absl::Now()));
    }
    if (local_)
      MLCORE_RETURN_IF_ERROR(local_->Broadcast(data, n * esize, 0, deadline - absl::Now()));
    return absl::OkStatus();
  }

  std::string backend() const override { return "gloo"; }
  std::string transport() const override {
    return shm_ ? "shm" : hierarchical_ ? "shm+tcp" : "tcp";
  }

  StatusOr<std::shared_ptr<Work>> AllReduceAsync(Tensor t, ReduceOp op,
                                                 absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCpu(t, "allreduce"));
    MLCORE_ASSIGN_OR_RETURN(ReduceFn fn, ReduceFunction(t.dtype(), op));
    return Enqueue("allreduce", Describe(t, op), timeout, [this, t, op, fn](absl::Duration to) {
      if (t.numel() == 0) return absl::OkStatus();
      size_t esize = DTypeSize(t.dtype());
      if (shm_) {
        MLCORE_RETURN_IF_ERROR(shm_->AllReduce(t.data(), t.numel(), esize, fn, to));
      } else if (hierarchical_) {
        MLCORE_RETURN_IF_ERROR(HierarchicalAllReduce(t.data(), t.numel(), esize, fn, to));
      } else {
        MLCORE_RETURN_IF_ERROR(TcpAllReduce(t, op, fn, to));
      }
      if (op == ReduceOp::kAvg) Scale(t.data(), t.dtype(), t.numel(), 1.0 / world_size());
      return absl::OkStatus();
    });
  }

  StatusOr<std::shared_ptr<Work>> BroadcastAsync(Tensor t, int root,
                                                 absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCpu(t, "broadcast"));
    MLCORE_RETURN_IF_ERROR(CheckRank(root, world_size(), "broadcast", "root"));
    return Enqueue("broadcast", Describe(t), timeout, [this, t, root](absl::Duration to) {
      if (t.numel() == 0) return absl::OkStatus();
      if (shm_) return shm_->Broadcast(t.data(), t.nbytes(), root, to);
      return Guard([&] {
        gloo::BroadcastOptions opts(context_);
        opts.setOutput(static_cast<uint8_t*>(t.data()), t.nbytes());
        opts.setRoot(root);
        opts.setTag(NextTag());
        opts.setTimeout(Chrono(to));
        gloo::broadcast(opts);
      });
    });
  }

  StatusOr<std::shared_ptr<Work>> ReduceAsync(Tensor t, int root, ReduceOp op,
                                              absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCpu(t, "reduce"));
    MLCORE_RETURN_IF_ERROR(CheckRank(root, world_size(), "reduce", "root"));
    MLCORE_ASSIGN_OR_RETURN(ReduceFn fn, ReduceFunction(t.dtype(), op));
    return Enqueue("reduce", Describe(t, op), timeout, [this, t, root, op, fn](absl::Duration to) {
      if (t.numel() == 0) return absl::OkStatus();
      size_t esize = DTypeSize(t.dtype());
      if (shm_) {
        MLCORE_RETURN_IF_ERROR(shm_->Reduce(t.data(), t.numel(), esize, fn, root, to));
      } else {
        MLCORE_RETURN_IF_ERROR(GlooReduce(t, root, fn, to));
      }
      if (op == ReduceOp::kAvg && rank() == root) {
        Scale(t.data(), t.dtype(), t.numel(), 1.0 / world_size());
      }
      return absl::OkStatus();
    });
  }

  StatusOr<std::shared_ptr<Work>> AllGatherAsync(Tensor in, Tensor out,
                                                 absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCpu(in, "allgather"));
    MLCORE_RETURN_IF_ERROR(CheckCpu(out, "allgather"));
    MLCORE_RETURN_IF_ERROR(CheckBlocks(in, out, world_size(), 1, "allgather"));
    return Enqueue("allgather", Describe(in), timeout, [this, in, out](absl::Duration to) {
      if (in.numel() == 0) return absl::OkStatus();
      if (shm_) return shm_->AllGather(in.data(), out.data(), in.nbytes(), to);
      return Guard([&] {
        gloo::AllgatherOptions opts(context_);
        opts.setInput(static_cast<uint8_t*>(in.data()), in.nbytes());
        opts.setOutput(static_cast<uint8_t*>(out.data()), out.nbytes());
        opts.setTag(NextTag());
        opts.setTimeout(Chrono(to));
        gloo::allgather(opts);
      });
    });
  }

  StatusOr<std::shared_ptr<Work>> ReduceScatterAsync(Tensor in, Tensor out, ReduceOp op,
                                                     absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCpu(in, "reduce_scatter"));
    MLCORE_RETURN_IF_ERROR(CheckCpu(out, "reduce_scatter"));
    MLCORE_RETURN_IF_ERROR(CheckBlocks(out, in, world_size(), 1, "reduce_scatter"));
    MLCORE_ASSIGN_OR_RETURN(ReduceFn fn, ReduceFunction(in.dtype(), op));
    return Enqueue(
        "reduce_scatter", Describe(in, op), timeout, [this, in, out, op, fn](absl::Duration to) {
          if (out.numel() == 0) return absl::OkStatus();
          size_t esize = DTypeSize(in.dtype());
          if (shm_) {
            MLCORE_RETURN_IF_ERROR(
                shm_->ReduceScatter(in.data(), out.data(), out.numel(), esize, fn, to));
          } else {
            // Gloo's reduce-scatter is a legacy algorithm without timeouts: allreduce a copy and
            // keep this rank's block (twice the bytes of a true reduce-scatter).
            std::vector<char> scratch(in.nbytes());
            std::memcpy(scratch.data(), in.data(), in.nbytes());
            MLCORE_RETURN_IF_ERROR(
                GlooAllReduce(context_, scratch.data(), in.numel(), esize, fn, to));
            std::memcpy(out.data(), scratch.data() + out.nbytes() * rank(), out.nbytes());
          }
          if (op == ReduceOp::kAvg) Scale(out.data(), out.dtype(), out.numel(), 1.0 / world_size());
          return absl::OkStatus();
        });
  }

  StatusOr<std::shared_ptr<Work>> AllToAllAsync(Tensor in, Tensor out,
                                                absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCpu(in, "all_to_all"));
    MLCORE_RETURN_IF_ERROR(CheckCpu(out, "all_to_all"));
    MLCORE_RETURN_IF_ERROR(CheckBlocks(in, out, world_size(), 0, "all_to_all"));
    return Enqueue("all_to_all", Describe(in), timeout, [this, in, out](absl::Duration to) {
      if (in.numel() == 0) return absl::OkStatus();
      if (shm_) return shm_->AllToAll(in.data(), out.data(), in.nbytes() / world_size(), to);
      return Guard([&] {
        gloo::AlltoallOptions opts(context_);
        opts.setInput(static_cast<uint8_t*>(in.data()), in.nbytes());
        opts.setOutput(static_cast<uint8_t*>(out.data()), out.nbytes());
        opts.setTag(NextTag());
        opts.setTimeout(Chrono(to));
        gloo::alltoall(opts);
      });
    });
  }

  StatusOr<std::shared_ptr<Work>> BarrierAsync(absl::Duration timeout) override {
    return Enqueue("barrier", "no tensor", timeout, [this](absl::Duration to) {
      if (shm_) return shm_->Barrier(to);
      return Guard([&] {
        gloo::BarrierOptions opts(context_);
        opts.setTag(NextTag());
        opts.setTimeout(Chrono(to));
        gloo::barrier(opts);
      });
    });
  }

  // Point to point bypasses the collective queue (a recv waiting there would block the send
  // that feeds it): the transfer is posted now and Work::Wait waits for it, as Gloo allows.
  StatusOr<std::shared_ptr<Work>> SendAsync(Tensor t, int dst, int tag,
                                            absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCpu(t, "send"));
    MLCORE_RETURN_IF_ERROR(CheckPeer(dst, rank(), world_size(), "send"));
    return PostP2p(std::move(t), dst, tag, /*send=*/true, EffectiveTimeout(timeout));
  }

  StatusOr<std::shared_ptr<Work>> RecvAsync(Tensor t, int src, int tag,
                                            absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCpu(t, "recv"));
    MLCORE_RETURN_IF_ERROR(CheckPeer(src, rank(), world_size(), "recv"));
    return PostP2p(std::move(t), src, tag, /*send=*/false, EffectiveTimeout(timeout));
  }

 private:
  StatusOr<std::shared_ptr<Work>> PostP2p(Tensor t, int peer, int tag, bool send,
                                          absl::Duration timeout) {
    auto work = std::make_shared<P2pWork>();
    work->tensor = t;
    work->send = send;
    work->peer = peer;
    work->timeout = timeout;
    MLCORE_RETURN_IF_ERROR(Guard([&] {
      work->buffer = context_->createUnboundBuffer(t.data(), t.nbytes());
      uint64_t slot = gloo::Slot::build(kP2pSlotPrefix, static_cast<uint32_t>(tag));
      if (send) {
        work->buffer->send(peer, slot);
      } else {
        work->buffer->recv(peer, slot);
      }
    }));
    return std::shared_ptr<Work>(std::move(work));
  }

  uint32_t NextTag() { return tag_++; }

  Status GlooAllReduce(const std::shared_ptr<gloo::Context>& context, void* data, int64_t n,
                       size_t esize, ReduceFn fn, absl::Duration to) {
    return Guard([&] {
      gloo::AllreduceOptions opts(context);
      WithElementType(esize, [&](auto t) {
        using T = decltype(t);
        opts.setOutput<T>(context->createUnboundBuffer(data, n * esize));
      });
      opts.setReduceFunction(fn);
      // The leaders' context counts its own tags: the other ranks never see its collectives.
      opts.setTag(context == context_ ? NextTag() : leader_tag_++);
      opts.setTimeout(Chrono(to));
      gloo::allreduce(opts);
    });
  }

  // Non-root ranks reduce into a scratch copy, so their tensors stay as they were.
  Status GlooReduce(const Tensor& t, int root, ReduceFn fn, absl::Duration to) {
    std::vector<char> scratch;
    void* out = t.data();
    if (rank() != root) {
      scratch.assign(static_cast<const char*>(t.data()),
                     static_cast<const char*>(t.data()) + t.nbytes());
      out = scratch.data();
    }
    return Guard([&] {
      gloo::ReduceOptions opts(context_);
      WithElementType(DTypeSize(t.dtype()), [&](auto e) {
        using T = decltype(e);
        opts.setInput<T>(context_->createUnboundBuffer(out, t.nbytes()));
        opts.setOutput<T>(context_->createUnboundBuffer(out, t.nbytes()));
      });
      opts.setRoot(root);
      opts.setReduceFunction(fn);
      opts.setTag(NextTag());
      opts.setTimeout(Chrono(to));
      gloo::reduce(opts);
    });
  }

  std::shared_ptr<gloo::transport::Device> device_;
  std::shared_ptr<gloo::rendezvous::Context> context_;
  std::unique_ptr<ShmGroup> shm_;  // every rank on this host
  // Several hosts: this host's ranks (null when alone on it) and, on each host's leader, Gloo
  // among the leaders.
  bool hierarchical_ = false;
  std::unique_ptr<ShmGroup> local_;
  std::shared_ptr<gloo::rendezvous::Context> leaders_;
  // The TCP path's rings: Gloo's classic one (cached instances) and the segmented one.
  std::unique_ptr<GlooRingCache> small_rings_;
  std::unique_ptr<PipelinedRing> rings_;
  uint32_t tag_ = 0;
  uint32_t leader_tag_ = 0;
};

StatusOr<std::unique_ptr<Communicator>> NewGloo(std::shared_ptr<Store> store,
                                                const CommunicatorOptions& options) {
  auto comm = std::make_unique<GlooCommunicator>(std::move(store), options);
  MLCORE_RETURN_IF_ERROR(comm->Connect());
  return std::unique_ptr<Communicator>(std::move(comm));
}

Registrar<CommunicatorFactory> registration(CommunicatorRegistry(), "gloo", &NewGloo);

}  // namespace
}  // namespace mlcore::dist::internal
