#include "dist/collective_checks.h"

namespace mlcore::dist::internal {

Status CheckCpu(const Tensor& t, const char* collective) {
  if (!t.defined()) {
    return absl::InvalidArgumentError(std::string(collective) + ": the tensor is undefined");
  }
  if (t.device().is_cuda()) {
    return absl::InvalidArgumentError(std::string(collective) + ": the gloo backend carries CPU " +
                                      "tensors; " + t.ToString() + " needs the nccl backend");
  }
  return absl::OkStatus();
}

Status CheckCuda(const Tensor& t, const char* collective) {
  if (!t.defined()) {
    return absl::InvalidArgumentError(std::string(collective) + ": the tensor is undefined");
  }
  if (!t.device().is_cuda()) {
    return absl::InvalidArgumentError(std::string(collective) + ": the nccl backend carries " +
                                      "CUDA tensors; " + t.ToString() + " needs the gloo backend");
  }
  return absl::OkStatus();
}

Status CheckRank(int rank, int world_size, const char* collective, const char* what) {
  if (rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(std::string(collective) + ": " + what + " " +
                                      std::to_string(rank) + " is outside [0, " +
                                      std::to_string(world_size) + ")");
  }
  return absl::OkStatus();
}

Status CheckPeer(int peer, int self, int world_size, const char* collective) {
  MLCORE_RETURN_IF_ERROR(CheckRank(peer, world_size, collective, "peer rank"));
  if (peer == self) {
    return absl::InvalidArgumentError(std::string(collective) + ": rank " + std::to_string(self) +
                                      " cannot be its own peer");
  }
  return absl::OkStatus();
}

Status CheckBlocks(const Tensor& small, const Tensor& big, int world_size, int gather,
                   const char* collective) {
  if (small.dtype() != big.dtype()) {
    return TypeError(std::string(collective) + ": input and output dtypes differ (" +
                     DTypeName(small.dtype()) + " and " + DTypeName(big.dtype()) + ")");
  }
  bool ok = gather ? big.numel() == small.numel() * world_size
                   : (big.numel() == small.numel() && small.numel() % world_size == 0);
  if (!ok) {
    std::string want = gather ? "the larger must hold world_size (" + std::to_string(world_size) +
                                    ") times the smaller's elements"
                              : "both must hold the same number of elements, a multiple of " +
                                    std::to_string(world_size);
    return absl::InvalidArgumentError(std::string(collective) + ": " + small.ToString() + " and " +
                                      big.ToString() + " do not fit: " + want);
  }
  return absl::OkStatus();
}

std::string Describe(const Tensor& t) {
  return std::string(DTypeName(t.dtype())) + "[" + std::to_string(t.numel()) + "]";
}

std::string Describe(const Tensor& t, ReduceOp op) { return Describe(t) + ", " + ReduceOpName(op); }

}  // namespace mlcore::dist::internal
