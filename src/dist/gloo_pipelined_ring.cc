#include "dist/gloo_pipelined_ring.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>

namespace mlcore::dist::internal {
namespace {

// Slots of this schedule: a prefix byte of its own (p2p uses 0x70, Gloo's algorithms small
// ones), the call's tag, then the message's index in the call.
constexpr uint64_t kSlotPrefix = 0x71;
constexpr int64_t kMaxMessages = int64_t{1} << 24;

uint64_t SlotOf(uint32_t tag, int64_t index) {
  return (kSlotPrefix << 56) | (uint64_t{tag & 0xffffffu} << 24) | static_cast<uint64_t>(index);
}

// Where message `index` (= step * segments + segment) of a rank lies in the tensor.
struct Piece {
  int64_t step;
  int64_t offset;  // elements
  int64_t count;
};

class Geometry {
 public:
  Geometry(int64_t n, int world, int rank, int64_t segments)
      : n_(n), world_(world), rank_(rank), segments_(segments) {}

  // Message `index` received at step t carries block (rank - t - 1); the one sent at step t
  // carries block (rank - t), which the right neighbour receives as its step t.
  Piece Received(int64_t index) const { return At(index, 1); }
  Piece Sent(int64_t index) const { return At(index, 0); }

 private:
  Piece At(int64_t index, int64_t shift) const {
    const int64_t step = index / segments_;
    const int64_t j = index % segments_;
    const int64_t b = ((rank_ - step - shift) % world_ + world_) % world_;
    const int64_t lo = n_ * b / world_;
    const int64_t len = n_ * (b + 1) / world_ - lo;
    const int64_t from = lo + len * j / segments_;
    return Piece{step, from, lo + len * (j + 1) / segments_ - from};
  }

  int64_t n_;
  int64_t world_;
  int64_t rank_;
  int64_t segments_;
};

std::chrono::milliseconds Left(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left < absl::Milliseconds(1)) left = absl::Milliseconds(1);
  return absl::ToChronoMilliseconds(left);
}

}  // namespace

PipelinedRing::PipelinedRing(std::shared_ptr<gloo::Context> context, PipelinedRingOptions options)
    : options_(options), context_(std::move(context)) {}

PipelinedRing::~PipelinedRing() = default;

void PipelinedRing::Reserve(size_t segment_bytes) {
  if (segment_bytes <= scratch_segment_) return;
  scratch_buffers_.clear();
  scratch_.assign(segment_bytes * options_.in_flight, 0);
  for (int k = 0; k < options_.in_flight; ++k) {
    scratch_buffers_.push_back(
        context_->createUnboundBuffer(scratch_.data() + k * segment_bytes, segment_bytes));
  }
  scratch_segment_ = segment_bytes;
}

Status PipelinedRing::AllReduce(void* data, int64_t n, size_t esize, ReduceFn fn, uint32_t tag,
                                absl::Duration timeout) {
  const int world = context_->size;
  const int rank = context_->rank;
  if (n <= 0 || world == 1) return absl::OkStatus();
  const absl::Time deadline = absl::Now() + timeout;
  const int left = (rank + world - 1) % world;
  const int right = (rank + 1) % world;
  const int64_t block = (n + world - 1) / world;
  const int64_t per_segment = std::max<int64_t>(1, options_.segment_bytes / esize);
  const int64_t segments = (block + per_segment - 1) / per_segment;
  const int64_t messages = (2 * int64_t{world} - 2) * segments;
  if (messages >= kMaxMessages) {
    return absl::InvalidArgumentError("allreduce: tensor too large for the TCP ring");
  }
  const int64_t reduce_messages = (int64_t{world} - 1) * segments;
  const int window = options_.in_flight;
  const Geometry geometry(n, world, rank, segments);
  char* bytes = static_cast<char*>(data);

  std::unique_ptr<gloo::transport::UnboundBuffer> out;
  // The allgather's receives, straight into the tensor: one buffer per message in flight.
  std::vector<std::unique_ptr<gloo::transport::UnboundBuffer>> gathered(window);
  int64_t sends = 0;
  auto send = [&](int64_t index) {
    const Piece p = geometry.Sent(index);
    if (p.count == 0) return;  // every rank knows the piece is empty: nothing to match
    out->send(right, SlotOf(tag, index), p.offset * esize, p.count * esize);
    ++sends;
  };
  auto post = [&](int64_t index) {
    const Piece p = geometry.Received(index);
    if (p.count == 0) return;
    if (index < reduce_messages) {
      scratch_buffers_[index % window]->recv(left, SlotOf(tag, index), 0, p.count * esize);
    } else {
      auto& buffer = gathered[index % window];
      buffer = context_->createUnboundBuffer(bytes + p.offset * esize, p.count * esize);
      buffer->recv(left, SlotOf(tag, index));
    }
  };
  try {
    Reserve(static_cast<size_t>(std::min(per_segment, block)) * esize);
    out = context_->createUnboundBuffer(data, n * esize);
    for (int64_t index = 0; index < messages && index < window; ++index) post(index);
    for (int64_t j = 0; j < segments; ++j) send(j);
    for (int64_t index = 0; index < messages; ++index) {
      const Piece p = geometry.Received(index);
      if (p.count > 0) {
        if (index < reduce_messages) {
          scratch_buffers_[index % window]->waitRecv(Left(deadline));
          char* mine = bytes + p.offset * esize;
          // incoming (op) own: block b accumulates as ((x_b op x_b+1) op x_b+2) ...
          fn(mine, scratch_.data() + (index % window) * scratch_segment_, mine, p.count);
        } else {
          gathered[index % window]->waitRecv(Left(deadline));
          gathered[index % window].reset();
        }
      }
      // The slot just consumed takes the receive `window` messages ahead.
      if (index + window < messages) post(index + window);
      // Forward what arrived (reduced, or final) as the next step's message.
      if (p.count > 0 && p.step + 1 < 2 * int64_t{world} - 2) send(index + segments);
    }
    for (int64_t k = 0; k < sends; ++k) out->waitSend(Left(deadline));
  } catch (const std::exception& e) {
    // Gloo's pairs may still hold pointers to these buffers (a receive posted for a message that
    // never came): they stay allocated until the context is gone, so no late byte lands in freed
    // memory. The communicator is broken from here on, so this happens once.
    retired_.push_back(std::move(out));
    for (auto& buffer : gathered) retired_.push_back(std::move(buffer));
    for (auto& buffer : scratch_buffers_) retired_.push_back(std::move(buffer));
    scratch_buffers_.clear();
    retired_memory_.push_back(std::move(scratch_));
    scratch_segment_ = 0;
    std::string what = e.what();
    bool late = what.find("imed out") != std::string::npos ||
                what.find("timeout") != std::string::npos;
    return late ? absl::DeadlineExceededError("gloo ring: " + what)
                : absl::UnavailableError("gloo ring: " + what);
  }
  return absl::OkStatus();
}

}  // namespace mlcore::dist::internal
