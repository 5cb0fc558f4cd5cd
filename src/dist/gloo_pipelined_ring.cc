#include "dist/gloo_pipelined_ring.h"

#include <algorithm>
#include <exception>
#include <fstream>
#include <string>

namespace mlcore::dist::internal {
namespace {

// The reduce-scatter's messages land in the receiver's scratch segment, the allgather's in its
// tensor at the sender's offset. A message's slot is its send buffer's, and destroying any Gloo
// buffer unregisters its slot on the pair, so with two ranks (left and right neighbour on one
// pair) a rank's send buffers must not share a slot with its receive buffers: the slot pairs
// alternate with the sender's parity.
int ScratchSlot(int sender) { return 1 + 2 * (sender % 2); }
int TensorSlot(int sender) { return 2 + 2 * (sender % 2); }

// Where message `index` (= step * segments + segment) lies in the tensor: the message sent at
// step t carries block (rank - t), which the right neighbour receives as its step t; the one
// received carries block (rank - t - 1).
struct Piece {
  int64_t step;
  int64_t offset;  // elements
  int64_t count;
};

Piece At(int64_t n, int64_t world, int64_t rank, int64_t segments, int64_t index, int64_t shift) {
  const int64_t step = index / segments;
  const int64_t j = index % segments;
  const int64_t b = ((rank - step - shift) % world + world) % world;
  const int64_t lo = n * b / world;
  const int64_t len = n * (b + 1) / world - lo;
  const int64_t from = lo + len * j / segments;
  return Piece{step, from, lo + len * (j + 1) / segments - from};
}

// net.core.wmem_max: how far Gloo's SO_SNDBUF request can grow a send buffer.
size_t WriteBufferMax() {
  std::ifstream in("/proc/sys/net/core/wmem_max");
  size_t value = 0;
  if (in >> value && value > 0) return value;
  return 212992;  // Linux's default
}

}  // namespace

PipelinedRing::PipelinedRing(std::shared_ptr<gloo::Context> context)
    : context_(std::move(context)) {
  segment_bytes_ = context_->size == 2 ? std::max(kInFlightBytes / 2,
                                                  std::min(kMaxPairSegmentBytes, WriteBufferMax()))
                                       : kInFlightBytes / context_->size;
}

PipelinedRing::~PipelinedRing() = default;

Status PipelinedRing::AllReduce(void* data, int64_t n, size_t esize, ReduceFn fn) {
  const int world = context_->size;
  const int rank = context_->rank;
  if (n <= 0 || world == 1) return absl::OkStatus();
  const int left = (rank + world - 1) % world;
  const int right = (rank + 1) % world;
  const int64_t block = (n + world - 1) / world;
  // At least 4 segments per block where the block allows segments of 32 KiB, so they overlap.
  const int64_t quarter = std::max<int64_t>((block + 3) / 4, (int64_t{32} << 10) / esize);
  const int64_t per_segment =
      std::max<int64_t>(1, std::min(quarter, static_cast<int64_t>(segment_bytes_ / esize)));
  const int64_t segments = (block + per_segment - 1) / per_segment;
  const int64_t messages = (2 * int64_t{world} - 2) * segments;
  const int64_t reduce_messages = (int64_t{world} - 1) * segments;
  char* bytes = static_cast<char*>(data);
  const size_t total = static_cast<size_t>(n) * esize;
  try {
    const size_t segment_bytes = static_cast<size_t>(std::min(per_segment, block)) * esize;
    if (scratch_.size() < segment_bytes || scratch_peer_ != left) {
      scratch_recv_.reset();
      scratch_.assign(std::max(scratch_.size(), segment_bytes), 0);
      scratch_recv_ = context_->getPair(left)->createRecvBuffer(ScratchSlot(left), scratch_.data(),
                                                                scratch_.size());
      scratch_peer_ = left;
    }
    auto& to_right = context_->getPair(right);
    auto to_scratch = to_right->createSendBuffer(ScratchSlot(rank), data, total);
    auto to_tensor = to_right->createSendBuffer(TensorSlot(rank), data, total);
    auto from_left = context_->getPair(left)->createRecvBuffer(TensorSlot(left), data, total);
    for (int64_t index = 0; index < messages; ++index) {
      // Message `index` goes out before message `index` comes in (for index >= segments it is
      // the one received `segments` messages ago, reduced or final): messages leave in order,
      // so they arrive in the order they are awaited.
      const Piece out = At(n, world, rank, segments, index, 0);
      if (out.count > 0) {  // every rank knows a piece is empty: nothing to match
        gloo::transport::Buffer& buffer = index < reduce_messages ? *to_scratch : *to_tensor;
        const size_t offset = out.offset * esize;
        buffer.send(offset, out.count * esize, index < reduce_messages ? 0 : offset);
        buffer.waitSend();
      }
      const Piece in = At(n, world, rank, segments, index, 1);
      if (in.count == 0) continue;
      if (index < reduce_messages) {
        scratch_recv_->waitRecv();
        char* mine = bytes + in.offset * esize;
        fn(mine, scratch_.data(), mine, in.count);  // incoming (op) own
      } else {
        from_left->waitRecv();
      }
    }
  } catch (const std::exception& e) {
    std::string what = e.what();
    bool late =
        what.find("imed out") != std::string::npos || what.find("timeout") != std::string::npos;
    return late ? absl::DeadlineExceededError("gloo ring: " + what)
                : absl::UnavailableError("gloo ring: " + what);
  }
  return absl::OkStatus();
}

}  // namespace mlcore::dist::internal
