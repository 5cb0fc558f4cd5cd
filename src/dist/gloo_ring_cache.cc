#include "dist/gloo_ring_cache.h"

#include <gloo/allreduce_halving_doubling.h>
#include <gloo/allreduce_ring.h>

#include <cstring>

namespace mlcore::dist::internal {

struct GlooRingCache::Entry {
  std::vector<char> staging;
  std::unique_ptr<gloo::Algorithm> algorithm;
};

namespace {

template <typename T>
const gloo::ReductionFunction<T>* Function(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      return gloo::ReductionFunction<T>::sum;
    case ReduceOp::kProduct:
      return gloo::ReductionFunction<T>::product;
    case ReduceOp::kMin:
      return gloo::ReductionFunction<T>::min;
    case ReduceOp::kMax:
      break;
  }
  return gloo::ReductionFunction<T>::max;
}

template <typename T>
std::unique_ptr<gloo::Algorithm> Ring(const std::shared_ptr<gloo::Context>& context, void* data,
                                      int64_t n, ReduceOp op, bool halving_doubling) {
  std::vector<T*> ptrs{static_cast<T*>(data)};
  if (halving_doubling) {
    return std::make_unique<gloo::AllreduceHalvingDoubling<T>>(context, ptrs, static_cast<int>(n),
                                                               Function<T>(op));
  }
  return std::make_unique<gloo::AllreduceRing<T>>(context, ptrs, static_cast<int>(n),
                                                  Function<T>(op));
}

}  // namespace

GlooRingCache::GlooRingCache(std::shared_ptr<gloo::Context> context, size_t max_entries,
                             bool halving_doubling)
    : context_(std::move(context)),
      max_entries_(max_entries),
      halving_doubling_(halving_doubling) {}
GlooRingCache::~GlooRingCache() = default;

bool GlooRingCache::Supports(DType dtype, ReduceOp op) {
  switch (dtype) {
    case DType::kFloat32:
    case DType::kFloat64:
      return true;
    case DType::kUInt8:
    case DType::kInt32:
    case DType::kInt64:
      return op != ReduceOp::kAvg;
    default:
      return false;
  }
}

StatusOr<GlooRingCache::Entry*> GlooRingCache::Find(const Key& key) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    lru_.remove(key);
    lru_.push_front(key);
    return it->second.get();
  }
  auto [dtype, op, n] = key;
  size_t bytes = n * DTypeSize(dtype);
  while (!lru_.empty() && (entries_.size() >= max_entries_ || bytes_ + bytes > kMaxCachedBytes)) {
    bytes_ -= entries_[lru_.back()]->staging.size();
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  auto entry = std::make_unique<Entry>();
  entry->staging.resize(n * DTypeSize(dtype));
  void* data = entry->staging.data();
  try {
    switch (dtype) {
      case DType::kFloat32:
        entry->algorithm = Ring<float>(context_, data, n, op, halving_doubling_);
        break;
      case DType::kFloat64:
        entry->algorithm = Ring<double>(context_, data, n, op, halving_doubling_);
        break;
      case DType::kUInt8:
        entry->algorithm = Ring<uint8_t>(context_, data, n, op, halving_doubling_);
        break;
      case DType::kInt32:
        entry->algorithm = Ring<int32_t>(context_, data, n, op, halving_doubling_);
        break;
      default:
        entry->algorithm = Ring<int64_t>(context_, data, n, op, halving_doubling_);
        break;
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(std::string("gloo: ") + e.what());
  }
  Entry* raw = entry.get();
  bytes_ += bytes;
  entries_.emplace(key, std::move(entry));
  lru_.push_front(key);
  return raw;
}

Status GlooRingCache::AllReduce(void* data, int64_t n, DType dtype, ReduceOp op) {
  MLCORE_ASSIGN_OR_RETURN(Entry * entry, Find(Key{dtype, op, n}));
  size_t bytes = n * DTypeSize(dtype);
  std::memcpy(entry->staging.data(), data, bytes);
  try {
    entry->algorithm->run();
  } catch (const std::exception& e) {
    std::string what = e.what();
    bool timeout =
        what.find("timeout") != std::string::npos || what.find("Timed out") != std::string::npos;
    return timeout ? absl::DeadlineExceededError("gloo: " + what)
                   : absl::UnavailableError("gloo: " + what);
  }
  std::memcpy(data, entry->staging.data(), bytes);
  return absl::OkStatus();
}

}  // namespace mlcore::dist::internal
