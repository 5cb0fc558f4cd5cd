// Allreduce through Gloo's classic algorithms (gloo::AllreduceRing, or
// gloo::AllreduceHalvingDoubling for larger messages: fewer, bigger steps), instances cached by
// (dtype, op, count) and bound to a staging buffer. Measured on Debian's Gloo (2022 snapshot):
// its options-based gloo::allreduce pays a rendezvous per message between the caller and the
// transport's loop thread, some milliseconds per call on a loaded machine, where the classic
// ring with pre-registered buffers takes a fraction of that, and with the pairs in sync mode
// (the caller reads its socket itself) a few tens of microseconds for small messages. The
// communicator uses it up to 64 KiB; larger messages take the segmented ring
// (gloo_pipelined_ring.h).
//
// The key holds nothing rank-specific (no pointers): every rank issues the same collectives with
// the same sizes, so every rank builds and evicts the same instances in the same order, which the
// classic algorithms need (their construction is itself collective).
#pragma once

#include <gloo/context.h>

#include <list>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "mlcore/core/dtype.h"
#include "mlcore/dist/communicator.h"

namespace mlcore::dist::internal {

class GlooRingCache {
 public:
  // The staging bytes the cached instances may hold together (the algorithms hold about as much
  // again); one instance larger than this is still built, alone.
  static constexpr size_t kMaxCachedBytes = size_t{512} << 20;

  // At most `max_entries` instances live; the least recently used goes first.
  GlooRingCache(std::shared_ptr<gloo::Context> context, size_t max_entries, bool halving_doubling);
  ~GlooRingCache();

  // The dtypes and ops the classic ring reduces like mlcore does (sum of uint8 wraps alike; bool
  // and the half types are left to the other path). Avg is a sum here; the caller scales.
  static bool Supports(DType dtype, ReduceOp op);
  // Copies `data` in, runs the ring, copies the result back. Gloo's exceptions become statuses.
  Status AllReduce(void* data, int64_t n, DType dtype, ReduceOp op);

 private:
  struct Entry;
  using Key = std::tuple<DType, ReduceOp, int64_t>;
  StatusOr<Entry*> Find(const Key& key);

  std::shared_ptr<gloo::Context> context_;
  size_t max_entries_;
  bool halving_doubling_;
  size_t bytes_ = 0;
  std::list<Key> lru_;  // most recent first
  std::map<Key, std::unique_ptr<Entry>> entries_;
};

}  // namespace mlcore::dist::internal
