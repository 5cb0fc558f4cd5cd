// Argument checks every backend applies before queueing a collective (so a bad call fails on the
// caller's thread, names the collective, and leaves the communicator usable), and the short
// tensor description that error messages carry.
#pragma once

#include <string>

#include "mlcore/core/tensor.h"
#include "mlcore/dist/communicator.h"

namespace mlcore::dist::internal {

// InvalidArgument unless `t` is a defined CPU tensor.
Status CheckCpu(const Tensor& t, const char* collective);
// InvalidArgument unless `t` is a defined tensor on a CUDA device.
Status CheckCuda(const Tensor& t, const char* collective);
// InvalidArgument unless 0 <= rank < world_size.
Status CheckRank(int rank, int world_size, const char* collective, const char* what);
// CheckRank, and not this rank itself.
Status CheckPeer(int peer, int self, int world_size, const char* collective);
// Same dtype, and big.numel() == world_size * small.numel() (same_size: equal numel, a multiple
// of world_size, for all_to_all).
Status CheckBlocks(const Tensor& small, const Tensor& big, int world_size, int gather,
                   const char* collective);
// "float32[1000]" or "float32[1000], sum".
std::string Describe(const Tensor& t);
std::string Describe(const Tensor& t, ReduceOp op);

}  // namespace mlcore::dist::internal
