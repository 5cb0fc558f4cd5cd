// The "nccl" backend: CUDA tensors through NCCL, loaded with dlopen on first use like cuBLAS and
// cuDNN (src/core/cuda_libs.h), so a CPU-only process never maps it. Rank 0's unique id travels
// through the group's store. Each collective runs on the communicator's own CUDA stream, after
// an event that orders it behind the work already queued on the device's default stream (where
// mlcore's kernels run); the worker waits for it by polling its done event and NCCL's async
// error, so a peer that is gone or late ends in ncclCommAbort and an error within the timeout,
// never a hang. The Work holds the tensors until the collective finished, so the caching
// allocator cannot hand out their blocks while NCCL still reads them.
#if defined(MLCORE_WITH_CUDA) && defined(MLCORE_HAVE_NCCL_HEADERS)

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "core/cuda_libs.h"
#include "dist/collective_checks.h"
#include "dist/queued_communicator.h"
#include "mlcore/core/cuda.h"

namespace mlcore::dist::internal {
namespace {

using mlcore::internal::CudaLibraries;
using mlcore::internal::kNccl;

// The NCCL entry points mlcore calls, resolved once from the dlopen'ed library.
struct NcclApi {
  decltype(&ncclGetUniqueId) get_unique_id;
  decltype(&ncclCommInitRank) init_rank;
  decltype(&ncclCommDestroy) destroy;
  decltype(&ncclCommAbort) abort;
  decltype(&ncclCommGetAsyncError) async_error;
  decltype(&ncclGetErrorString) error_string;
  decltype(&ncclAllReduce) all_reduce;
  decltype(&ncclBroadcast) broadcast;
  decltype(&ncclReduce) reduce;
  decltype(&ncclAllGather) all_gather;
  decltype(&ncclReduceScatter) reduce_scatter;
  decltype(&ncclSend) send;
  decltype(&ncclRecv) recv;
  decltype(&ncclGroupStart) group_start;
  decltype(&ncclGroupEnd) group_end;
};

StatusOr<const NcclApi*> Api() {
  static StatusOr<NcclApi> api = []() -> StatusOr<NcclApi> {
    NcclApi a;
    auto get = [](const char* name, auto& slot) -> Status {
      MLCORE_ASSIGN_OR_RETURN(void* fn, CudaLibraries().Symbol(kNccl, name));
      slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(fn);
      return absl::OkStatus();
    };
    MLCORE_RETURN_IF_ERROR(get("ncclGetUniqueId", a.get_unique_id));
    MLCORE_RETURN_IF_ERROR(get("ncclCommInitRank", a.init_rank));
    MLCORE_RETURN_IF_ERROR(get("ncclCommDestroy", a.destroy));
    MLCORE_RETURN_IF_ERROR(get("ncclCommAbort", a.abort));
    MLCORE_RETURN_IF_ERROR(get("ncclCommGetAsyncError", a.async_error));
    MLCORE_RETURN_IF_ERROR(get("ncclGetErrorString", a.error_string));
    MLCORE_RETURN_IF_ERROR(get("ncclAllReduce", a.all_reduce));
    MLCORE_RETURN_IF_ERROR(get("ncclBroadcast", a.broadcast));
    MLCORE_RETURN_IF_ERROR(get("ncclReduce", a.reduce));
    MLCORE_RETURN_IF_ERROR(get("ncclAllGather", a.all_gather));
    MLCORE_RETURN_IF_ERROR(get("ncclReduceScatter", a.reduce_scatter));
    MLCORE_RETURN_IF_ERROR(get("ncclSend", a.send));
    MLCORE_RETURN_IF_ERROR(get("ncclRecv", a.recv));
    MLCORE_RETURN_IF_ERROR(get("ncclGroupStart", a.group_start));
    MLCORE_RETURN_IF_ERROR(get("ncclGroupEnd", a.group_end));
    return a;
  }();
  if (!api.ok()) return api.status();
  return &*api;
}

Status CudaCheck(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(std::string(what) + ": " + cudaGetErrorString(e));
}

// Bool travels as uint8: NCCL has no bool, and sum/max (or) and product/min (and) stay in {0, 1}
// as max and min.
ncclDataType_t NcclType(DType d) {
  switch (d) {
    case DType::kBool:
    case DType::kUInt8:
      return ncclUint8;
    case DType::kInt32:
      return ncclInt32;
    case DType::kInt64:
      return ncclInt64;
    case DType::kFloat16:
      return ncclFloat16;
    case DType::kBFloat16:
      return ncclBfloat16;
    case DType::kFloat32:
      return ncclFloat32;
    case DType::kFloat64:
      break;
  }
  return ncclFloat64;
}

StatusOr<ncclRedOp_t> NcclOp(DType d, ReduceOp op) {
  if (op == ReduceOp::kAvg && !IsFloatingPoint(d)) {
    return TypeError(std::string("avg needs a floating-point tensor, not ") + DTypeName(d));
  }
  if (d == DType::kBool) {
    return (op == ReduceOp::kSum || op == ReduceOp::kMax) ? ncclMax : ncclMin;
  }
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kAvg:
      return ncclAvg;
    case ReduceOp::kMin:
      return ncclMin;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kProduct:
      break;
  }
  return ncclProd;
}

class NcclCommunicator : public QueuedCommunicator {
 public:
  NcclCommunicator(std::shared_ptr<Store> store, CommunicatorOptions options)
      : QueuedCommunicator(std::move(store), std::move(options)) {}

  ~NcclCommunicator() override {
    StopWorker();
    if (comm_ != nullptr) (aborted_ ? api_->abort : api_->destroy)(comm_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    if (ready_ != nullptr) cudaEventDestroy(ready_);
    if (done_ != nullptr) cudaEventDestroy(done_);
  }

  Status Connect() {
    MLCORE_ASSIGN_OR_RETURN(api_, Api());
    device_ = options().device_index;
    if (device_ < 0) MLCORE_RETURN_IF_ERROR(CudaCheck(cudaGetDevice(&device_), "cudaGetDevice"));
    MLCORE_RETURN_IF_ERROR(CudaCheck(cudaSetDevice(device_), "cudaSetDevice"));
    ncclUniqueId id;
    if (rank() == 0) {
      MLCORE_RETURN_IF_ERROR(Nccl(api_->get_unique_id(&id), "ncclGetUniqueId"));
      MLCORE_RETURN_IF_ERROR(store()->Set("nccl/id", std::string(id.internal, sizeof(id))));
    } else {
      MLCORE_ASSIGN_OR_RETURN(std::string bytes, store()->Get("nccl/id", options().timeout));
      if (bytes.size() != sizeof(id)) return absl::DataLossError("nccl: bad unique id size");
      std::memcpy(id.internal, bytes.data(), sizeof(id));
    }
    MLCORE_RETURN_IF_ERROR(Nccl(api_->init_rank(&comm_, world_size(), id, rank()), "init"));
    MLCORE_RETURN_IF_ERROR(
        CudaCheck(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream"));
    MLCORE_RETURN_IF_ERROR(
        CudaCheck(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "event"));
    return CudaCheck(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "event");
  }

  std::string backend() const override { return "nccl"; }
  std::string transport() const override { return "nccl"; }

  StatusOr<std::shared_ptr<Work>> AllReduceAsync(Tensor t, ReduceOp op,
                                                 absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCuda(t, "allreduce"));
    MLCORE_ASSIGN_OR_RETURN(ncclRedOp_t rop, NcclOp(t.dtype(), op));
    return Launch("allreduce", Describe(t, op), timeout, {t}, [this, t, rop] {
      return api_->all_reduce(t.data(), t.data(), t.numel(), NcclType(t.dtype()), rop, comm_,
                              stream_);
    });
  }

  StatusOr<std::shared_ptr<Work>> BroadcastAsync(Tensor t, int root,
                                                 absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCuda(t, "broadcast"));
    MLCORE_RETURN_IF_ERROR(CheckRank(root, world_size(), "broadcast", "root"));
    return Launch("broadcast", Describe(t), timeout, {t}, [this, t, root] {
      return api_->broadcast(t.data(), t.data(), t.numel(), NcclType(t.dtype()), root, comm_,
                             stream_);
    });
  }

  StatusOr<std::shared_ptr<Work>> ReduceAsync(Tensor t, int root, ReduceOp op,
                                              absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCuda(t, "reduce"));
    MLCORE_RETURN_IF_ERROR(CheckRank(root, world_size(), "reduce", "root"));
    MLCORE_ASSIGN_OR_RETURN(ncclRedOp_t rop, NcclOp(t.dtype(), op));
    // Non-root ranks reduce into a scratch tensor so that their own stays as it was.
    Tensor out = t;
    if (rank() != root) {
      MLCORE_ASSIGN_OR_RETURN(out, Tensor::Empty(t.shape(), t.dtype(), t.device()));
    }
    return Launch("reduce", Describe(t, op), timeout, {t, out}, [this, t, out, root, rop] {
      return api_->reduce(t.data(), out.data(), t.numel(), NcclType(t.dtype()), rop, root, comm_,
                          stream_);
    });
  }

  StatusOr<std::shared_ptr<Work>> AllGatherAsync(Tensor in, Tensor out,
                                                 absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCuda(in, "allgather"));
    MLCORE_RETURN_IF_ERROR(CheckCuda(out, "allgather"));
    MLCORE_RETURN_IF_ERROR(CheckBlocks(in, out, world_size(), 1, "allgather"));
    return Launch("allgather", Describe(in), timeout, {in, out}, [this, in, out] {
      return api_->all_gather(in.data(), out.data(), in.numel(), NcclType(in.dtype()), comm_,
                              stream_);
    });
  }

  StatusOr<std::shared_ptr<Work>> ReduceScatterAsync(Tensor in, Tensor out, ReduceOp op,
                                                     absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCuda(in, "reduce_scatter"));
    MLCORE_RETURN_IF_ERROR(CheckCuda(out, "reduce_scatter"));
    MLCORE_RETURN_IF_ERROR(CheckBlocks(out, in, world_size(), 1, "reduce_scatter"));
    MLCORE_ASSIGN_OR_RETURN(ncclRedOp_t rop, NcclOp(in.dtype(), op));
    return Launch("reduce_scatter", Describe(in, op), timeout, {in, out}, [this, in, out, rop] {
      return api_->reduce_scatter(in.data(), out.data(), out.numel(), NcclType(in.dtype()), rop,
                                  comm_, stream_);
    });
  }

  // NCCL has no all-to-all call: a group of sends and receives, one block per peer.
  StatusOr<std::shared_ptr<Work>> AllToAllAsync(Tensor in, Tensor out,
                                                absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCuda(in, "all_to_all"));
    MLCORE_RETURN_IF_ERROR(CheckCuda(out, "all_to_all"));
    MLCORE_RETURN_IF_ERROR(CheckBlocks(in, out, world_size(), 0, "all_to_all"));
    return Launch("all_to_all", Describe(in), timeout, {in, out}, [this, in, out] {
      size_t count = in.numel() / world_size();
      size_t bytes = count * DTypeSize(in.dtype());
      ncclDataType_t type = NcclType(in.dtype());
      ncclResult_t r = api_->group_start();
      for (int peer = 0; r == ncclSuccess && peer < world_size(); ++peer) {
        r = api_->send(static_cast<char*>(in.data()) + peer * bytes, count, type, peer, comm_,
                       stream_);
        if (r == ncclSuccess) {
          r = api_->recv(static_cast<char*>(out.data()) + peer * bytes, count, type, peer, comm_,
                         stream_);
        }
      }
      ncclResult_t end = api_->group_end();
      return r != ncclSuccess ? r : end;
    });
  }

  // A one-element allreduce on the device: NCCL has no barrier.
  StatusOr<std::shared_ptr<Work>> BarrierAsync(absl::Duration timeout) override {
    if (!barrier_.defined()) {
      MLCORE_ASSIGN_OR_RETURN(barrier_, Tensor::Zeros({1}, DType::kFloat32, Device::CUDA(device_)));
    }
    Tensor t = barrier_;
    return Launch("barrier", "no tensor", timeout, {t}, [this, t] {
      return api_->all_reduce(t.data(), t.data(), 1, ncclFloat32, ncclSum, comm_, stream_);
    });
  }

  StatusOr<std::shared_ptr<Work>> SendAsync(Tensor t, int dst, int tag,
                                            absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCuda(t, "send"));
    MLCORE_RETURN_IF_ERROR(CheckPeer(dst, rank(), world_size(), "send"));
    return Launch("send to rank " + std::to_string(dst), Describe(t), timeout, {t}, [this, t, dst] {
      return api_->send(t.data(), t.numel(), NcclType(t.dtype()), dst, comm_, stream_);
    });
  }

  StatusOr<std::shared_ptr<Work>> RecvAsync(Tensor t, int src, int tag,
                                            absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(CheckCuda(t, "recv"));
    MLCORE_RETURN_IF_ERROR(CheckPeer(src, rank(), world_size(), "recv"));
    return Launch(
        "recv from rank " + std::to_string(src), Describe(t), timeout, {t}, [this, t, src] {
          return api_->recv(t.data(), t.numel(), NcclType(t.dtype()), src, comm_, stream_);
        });
  }

 private:
  Status Nccl(ncclResult_t r, const char* what) const {
    if (r == ncclSuccess) return absl::OkStatus();
    return absl::UnavailableError(std::string("nccl ") + what + ": " + api_->error_string(r));
  }

  // Queues `call` (which enqueues NCCL work on stream_) behind the default stream's work, then
  // waits for it up to the timeout. `keep` holds the tensors until then.
  StatusOr<std::shared_ptr<Work>> Launch(std::string name, std::string what, absl::Duration timeout,
                                         std::vector<Tensor> keep,
                                         std::function<ncclResult_t()> call) {
    return Enqueue(
        std::move(name), std::move(what), timeout,
        [this, keep = std::move(keep), call = std::move(call)](absl::Duration to) {
          MLCORE_RETURN_IF_ERROR(CudaCheck(cudaSetDevice(device_), "cudaSetDevice"));
          MLCORE_RETURN_IF_ERROR(CudaCheck(cudaEventRecord(ready_, 0), "record"));
          MLCORE_RETURN_IF_ERROR(CudaCheck(cudaStreamWaitEvent(stream_, ready_, 0), "wait event"));
          MLCORE_RETURN_IF_ERROR(Nccl(call(), "launch"));
          MLCORE_RETURN_IF_ERROR(CudaCheck(cudaEventRecord(done_, stream_), "record"));
          return Poll(to);
        });
  }

  Status Poll(absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (true) {
      cudaError_t e = cudaEventQuery(done_);
      if (e == cudaSuccess) return absl::OkStatus();
      if (e != cudaErrorNotReady) return CudaCheck(e, "collective");
      ncclResult_t async = ncclSuccess;
      MLCORE_RETURN_IF_ERROR(Nccl(api_->async_error(comm_, &async), "async error"));
      if (async != ncclSuccess && async != ncclInProgress) {
        aborted_ = true;
        return Nccl(async, "collective");
      }
      if (absl::Now() >= deadline) {
        aborted_ = true;
        api_->abort(comm_);
        comm_ = nullptr;
        return absl::DeadlineExceededError("nccl: the collective did not finish in time");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  const NcclApi* api_ = nullptr;
  ncclComm_t comm_ = nullptr;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;
  cudaEvent_t done_ = nullptr;
  bool aborted_ = false;
  Tensor barrier_;
};

StatusOr<std::unique_ptr<Communicator>> NewNccl(std::shared_ptr<Store> store,
                                                const CommunicatorOptions& options) {
  if (cuda::DeviceCount() == 0) {
    return absl::FailedPreconditionError("the nccl backend needs a CUDA device: " +
                                         cuda::UnavailableReason());
  }
  auto comm = std::make_unique<NcclCommunicator>(std::move(store), options);
  MLCORE_RETURN_IF_ERROR(comm->Connect());
  return std::unique_ptr<Communicator>(std::move(comm));
}

Registrar<CommunicatorFactory> registration(CommunicatorRegistry(), "nccl", &NewNccl);

}  // namespace
}  // namespace mlcore::dist::internal

#endif  // MLCORE_WITH_CUDA && MLCORE_HAVE_NCCL_HEADERS
