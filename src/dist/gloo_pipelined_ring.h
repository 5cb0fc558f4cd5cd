// The TCP allreduce for messages beyond what sync-mode pairs carry: a ring (reduce-scatter, then
// allgather) scheduled by mlcore over Gloo's transport pairs and unbound buffers. Gloo moves the
// bytes; only the order of sends, receives and reductions is ours.
//
// Why not Gloo's own algorithms: Debian's Gloo (a 2022 snapshot) offers the options-based
// gloo::allreduce, which pays a rendezvous with the transport's loop thread per message, and the
// classic ring / halving-doubling, which stage the tensor in a copy and run each step to the end
// before the next starts. Here each block of the ring is cut into segments and several segments
// are in flight at once: a segment is forwarded as soon as it is reduced, so the reduction of one
// overlaps the transfer of the next, receives are posted ahead (Gloo's pairs then write at once
// instead of waiting for the receiver's "ready"), and the allgather receives straight into the
// caller's tensor. The reduction order of an element is fixed by the ring (rank b+1, b+2, ...
// for block b), identical on every rank, so every rank ends with the same bits.
#pragma once

#include <gloo/context.h>
#include <gloo/transport/unbound_buffer.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "dist/reduce.h"
#include "mlcore/core/status.h"

namespace mlcore::dist::internal {

struct PipelinedRingOptions {
  // Bytes of one message: large enough that a message's fixed cost (a wake-up of Gloo's loop
  // thread and of the caller) is small against its transfer, small enough that a block of a
  // few hundred KiB is cut into several pieces that overlap.
  size_t segment_bytes = size_t{128} << 10;
  // Receives posted ahead of the one being waited for.
  int in_flight = 4;
};

class PipelinedRing {
 public:
  PipelinedRing(std::shared_ptr<gloo::Context> context, PipelinedRingOptions options = {});
  ~PipelinedRing();
  PipelinedRing(const PipelinedRing&) = delete;
  PipelinedRing& operator=(const PipelinedRing&) = delete;

  // In place on `data` (`n` elements of `esize` bytes). Every rank calls it with the same n and
  // a fresh `tag` (the same on every rank) per call. Gloo's errors become statuses (a timeout is
  // DeadlineExceeded).
  Status AllReduce(void* data, int64_t n, size_t esize, ReduceFn fn, uint32_t tag,
                   absl::Duration timeout);

 private:
  // Receive buffers of the reduce-scatter, `in_flight` segments, grown on demand.
  void Reserve(size_t segment_bytes);

  PipelinedRingOptions options_;
  size_t scratch_segment_ = 0;
  std::vector<char> scratch_;
  std::vector<std::unique_ptr<gloo::transport::UnboundBuffer>> scratch_buffers_;
  // Buffers of a failed call, which the pairs may still point to.
  std::vector<std::unique_ptr<gloo::transport::UnboundBuffer>> retired_;
  std::vector<std::vector<char>> retired_memory_;
  // Last, so it goes first: the pairs close before the buffers they might write to are freed.
  std::shared_ptr<gloo::Context> context_;
};

}  // namespace mlcore::dist::internal
