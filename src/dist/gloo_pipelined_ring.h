// The TCP allreduce for messages beyond the small-message path: a ring (reduce-scatter, then
// allgather) scheduled by mlcore over Gloo's transport pairs. Gloo moves the bytes; only the
// order of sends, receives and reductions is ours.
//
// Why not Gloo's own algorithms: Debian's Gloo (a 2022 snapshot) offers the options-based
// gloo::allreduce, which pays a rendezvous with the transport's loop thread per message, and the
// classic ring / halving-doubling, which stage the tensor in a copy and run a whole block per
// step. On a machine with more runnable threads than cores every hand-off between the caller and
// Gloo's loop thread costs a scheduling delay (about a millisecond at load 15), so this ring runs
// on pairs in sync mode: the caller writes and reads its sockets itself, no other thread is
// involved. Each block is cut into segments that are forwarded as soon as they are reduced, so
// segments flow around the ring like a pipeline, and the allgather receives straight into the
// caller's tensor.
//
// Sync-mode writes block while the socket is full. Rank r sends message i only after it received
// message i - 1, so no rank runs more than world_size messages ahead of its right neighbour: at
// most world_size segments are ever in flight on a link. Gloo sizes a socket's send buffer to the
// message (the kernel doubles it, up to twice net.core.wmem_max), so with two ranks the two
// segments in flight always fit when a segment fits wmem_max; with more ranks the segments stay
// small enough that world_size of them fit the default buffers. Either way the ring can never
// stall with every rank writing.
//
// The reduction order of an element is fixed by the ring, and every rank receives the final
// blocks as bytes, so every rank ends with the same bits.
#pragma once

#include <gloo/context.h>
#include <gloo/transport/buffer.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "dist/reduce.h"
#include "mlcore/core/status.h"

namespace mlcore::dist::internal {

class PipelinedRing {
 public:
  // Beyond two ranks, the bytes in flight on one link at most (world_size segments): within the
  // 416 KiB a socket buffers with Linux's default net.core.wmem_max.
  static constexpr size_t kInFlightBytes = size_t{256} << 10;
  // Two ranks: segments up to this size (and net.core.wmem_max): fewer, larger messages mean
  // fewer sleeps in recv and wake-ups, which on a loaded machine cost more than the copies.
  static constexpr size_t kMaxPairSegmentBytes = size_t{1} << 20;

  // `context`: a full mesh whose pairs are in sync mode and carry nothing else (slots 1-4).
  explicit PipelinedRing(std::shared_ptr<gloo::Context> context);
  ~PipelinedRing();
  PipelinedRing(const PipelinedRing&) = delete;
  PipelinedRing& operator=(const PipelinedRing&) = delete;

  // In place on `data` (`n` elements of `esize` bytes); every rank calls it with the same n. The
  // pairs' timeout (the group's) bounds each receive; Gloo's errors become statuses (a timeout
  // is DeadlineExceeded).
  Status AllReduce(void* data, int64_t n, size_t esize, ReduceFn fn);

 private:
  // First, so it goes last: a Gloo buffer unregisters itself from its pair when destroyed.
  std::shared_ptr<gloo::Context> context_;
  std::vector<char> scratch_;
  std::unique_ptr<gloo::transport::Buffer> scratch_recv_;  // from the left neighbour
  int scratch_peer_ = -1;
  size_t segment_bytes_;  // at most, per message
};

}  // namespace mlcore::dist::internal
