// Collectives through one shared-memory segment, for ranks on one host: what beats loopback TCP
// (which copies every byte through the kernel twice and wakes a thread per segment). An
// allreduce step: each rank copies the parts of a chunk of its tensor that other ranks reduce
// into its slot, a barrier, each rank reduces its 1/n share from its own tensor and the others'
// slots (into its tensor and the result area), a barrier, each copies the other shares out.
// A rank moves (n - 1) / n of its tensor in and out, never a socket. Two sets of slots
// alternate, so one barrier per step suffices (docs/dist.md has the argument).
//
// The barrier spins briefly, then sleeps on a futex in the segment with the collective's
// deadline, so a dead or late rank costs DeadlineExceeded, never a hang.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "dist/reduce.h"
#include "mlcore/dist/store.h"

namespace mlcore::dist::internal {

class ShmGroup {
 public:
  // Bytes of one rank's slot: the chunk a step moves. Each step costs two barriers, and on a
  // machine with more runnable threads than cores a barrier can cost a scheduling quantum, so
  // the chunk is large (4 MiB: a 256 MiB allreduce takes 64 steps); smaller chunks would keep a
  // step in cache on an idle machine.
  static constexpr size_t kDefaultSlotBytes = size_t{4} << 20;

  // Rank 0 creates the segment and posts its name; every rank maps it and reports whether it
  // could. nullptr (use TCP) unless all ranks could: ranks on several hosts, or containers that
  // do not share /dev/shm.
  static StatusOr<std::unique_ptr<ShmGroup>> Join(Store& store, int rank, int world_size,
                                                  absl::Duration timeout,
                                                  size_t slot_bytes = kDefaultSlotBytes);
  ~ShmGroup();
  ShmGroup(const ShmGroup&) = delete;
  ShmGroup& operator=(const ShmGroup&) = delete;

  // The collectives of the Communicator, on raw CPU memory; `n` counts elements of `esize` bytes.
  Status AllReduce(void* data, int64_t n, size_t esize, ReduceFn fn, absl::Duration timeout);
  Status Reduce(void* data, int64_t n, size_t esize, ReduceFn fn, int root, absl::Duration timeout);
  Status Broadcast(void* data, size_t bytes, int root, absl::Duration timeout);
  Status AllGather(const void* in, void* out, size_t bytes, absl::Duration timeout);
  // `in` holds world_size blocks of `n` elements; `out` one.
  Status ReduceScatter(const void* in, void* out, int64_t n, size_t esize, ReduceFn fn,
                       absl::Duration timeout);
  // `in` and `out` hold world_size blocks of `block_bytes`.
  Status AllToAll(const void* in, void* out, size_t block_bytes, absl::Duration timeout);
  Status Barrier(absl::Duration timeout);

 private:
  struct Header;
  ShmGroup(int rank, int world_size, size_t slot_bytes, void* base, size_t size);

  Status Wait(absl::Time deadline);
  // Slot `rank` (or the result area for rank == world_size) of buffer set `set`.
  char* Slot(int set, int rank) const;
  // The set the next step uses.
  int NextSet() { return static_cast<int>(step_++ & 1); }
  // Reduces slots [0, world_size) at byte `offset`, `n` elements, into `out`.
  void ReduceSlots(int set, size_t offset, int64_t n, size_t esize, ReduceFn fn, char* out) const;

  int rank_;
  int world_size_;
  size_t slot_bytes_;
  char* base_;
  size_t size_;
  Header* header_;
  uint64_t step_ = 0;
};

}  // namespace mlcore::dist::internal
