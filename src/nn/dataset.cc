// The Dataset stages. Each stage is a Dataset holding its upstream; MakeIterator builds the
// chain of iterators for one pass. Prefetch owns a producer thread that runs the upstream
// iterator and hands elements over a bounded queue; the consumer's iterator destructor cancels
// and joins it, so stopping early never leaves a thread behind or blocked.
#include "mlcore/nn/dataset.h"

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

namespace mlcore::nn {
namespace {

std::string Where(size_t i, bool input) {
  return std::string(input ? "input " : "target ") + std::to_string(i);
}

// ---- FromTensors ----

class TensorIterator : public DatasetIterator {
 public:
  TensorIterator(const Element* rows, int64_t n) : rows_(rows), n_(n) {}
  StatusOr<bool> Next(Element* out) override {
    if (next_ >= n_) return false;
    Element e;
    auto row = [&](const Tensor& t) -> StatusOr<Tensor> {
      MLCORE_ASSIGN_OR_RETURN(Tensor r, t.Slice(next_, next_ + 1));
      return r.Reshape(Shape(t.shape().begin() + 1, t.shape().end()));
    };
    for (const Tensor& t : rows_->inputs) {
      MLCORE_ASSIGN_OR_RETURN(Tensor r, row(t));
      e.inputs.push_back(std::move(r));
    }
    for (const Tensor& t : rows_->targets) {
      MLCORE_ASSIGN_OR_RETURN(Tensor r, row(t));
      e.targets.push_back(std::move(r));
    }
    ++next_;
    *out = std::move(e);
    return true;
  }

 private:
  const Element* rows_;
  int64_t n_;
  int64_t next_ = 0;
};

class TensorSource : public Dataset {
 public:
  TensorSource(Element data, int64_t n) : data_(std::move(data)), n_(n) {}
  bool batched() const override { return false; }
  StatusOr<std::unique_ptr<DatasetIterator>> MakeIterator(int) const override {
    // The iterator reads data_ through this stage, which the iterator's owner keeps alive.
    return std::unique_ptr<DatasetIterator>(new KeepAlive(shared_from_this(), &data_, n_));
  }

 private:
  struct KeepAlive : TensorIterator {
    KeepAlive(std::shared_ptr<const Dataset> owner, const Element* rows, int64_t n)
        : TensorIterator(rows, n), owner_(std::move(owner)) {}
    std::shared_ptr<const Dataset> owner_;
  };
  Element data_;
  int64_t n_;
};

// ---- FromGenerator ----

class GeneratorIterator : public DatasetIterator {
 public:
  explicit GeneratorIterator(Dataset::NextFn next) : next_(std::move(next)) {}
  StatusOr<bool> Next(Element* out) override {
    if (done_) return false;
    StatusOr<bool> more = next_(out);
    if (!more.ok() || !*more) done_ = true;
    return more;
  }

 private:
  Dataset::NextFn next_;
  bool done_ = false;
};

class GeneratorSource : public Dataset {
 public:
  GeneratorSource(StartFn start, bool batched) : start_(std::move(start)), batched_(batched) {}
  bool batched() const override { return batched_; }
  StatusOr<std::unique_ptr<DatasetIterator>> MakeIterator(int) const override {
    MLCORE_ASSIGN_OR_RETURN(NextFn next, start_());
    if (!next) return absl::InvalidArgumentError("Dataset generator: start returned no function");
    return std::unique_ptr<DatasetIterator>(new GeneratorIterator(std::move(next)));
  }

 private:
  StartFn start_;
  bool batched_;
};

// ---- Shuffle ----

class ShuffleIterator : public DatasetIterator {
 public:
  ShuffleIterator(std::unique_ptr<DatasetIterator> up, int64_t size, uint64_t seed)
      : up_(std::move(up)), size_(size), rng_(seed) {}
  StatusOr<bool> Next(Element* out) override {
    while (!exhausted_ && static_cast<int64_t>(buffer_.size()) < size_) {
      Element e;
      MLCORE_ASSIGN_OR_RETURN(bool more, up_->Next(&e));
      if (!more) {
        exhausted_ = true;
        break;
      }
      buffer_.push_back(std::move(e));
    }
    if (buffer_.empty()) return false;
    std::uniform_int_distribution<size_t> pick(0, buffer_.size() - 1);
    const size_t i = pick(rng_);
    *out = std::move(buffer_[i]);
    buffer_[i] = std::move(buffer_.back());
    buffer_.pop_back();
    return true;
  }

 private:
  std::unique_ptr<DatasetIterator> up_;
  int64_t size_;
  std::mt19937_64 rng_;
  std::vector<Element> buffer_;
  bool exhausted_ = false;
};

class ShuffleStage : public Dataset {
 public:
  ShuffleStage(std::shared_ptr<const Dataset> up, int64_t size, uint64_t seed)
      : up_(std::move(up)), size_(size), seed_(seed) {}
  bool batched() const override { return up_->batched(); }
  StatusOr<std::unique_ptr<DatasetIterator>> MakeIterator(int epoch) const override {
    MLCORE_ASSIGN_OR_RETURN(auto up, up_->MakeIterator(epoch));
    const uint64_t seed = seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch);
    return std::unique_ptr<DatasetIterator>(new ShuffleIterator(std::move(up), size_, seed));
  }

 private:
  std::shared_ptr<const Dataset> up_;
  int64_t size_;
  uint64_t seed_;
};

// ---- Batch ----

class BatchIterator : public DatasetIterator {
 public:
  BatchIterator(std::unique_ptr<DatasetIterator> up, int64_t size, bool drop)
      : up_(std::move(up)), size_(size), drop_(drop) {}
  StatusOr<bool> Next(Element* out) override {
    std::vector<Element> examples;
    while (static_cast<int64_t>(examples.size()) < size_) {
      Element e;
      MLCORE_ASSIGN_OR_RETURN(bool more, up_->Next(&e));
      if (!more) break;
      examples.push_back(std::move(e));
    }
    if (examples.empty()) return false;
    if (drop_ && static_cast<int64_t>(examples.size()) < size_) return false;
    MLCORE_ASSIGN_OR_RETURN(*out, StackExamples(examples));
    return true;
  }

 private:
  std::unique_ptr<DatasetIterator> up_;
  int64_t size_;
  bool drop_;
};

class BatchStage : public Dataset {
 public:
  BatchStage(std::shared_ptr<const Dataset> up, int64_t size, bool drop)
      : up_(std::move(up)), size_(size), drop_(drop) {}
  bool batched() const override { return true; }
  StatusOr<std::unique_ptr<DatasetIterator>> MakeIterator(int epoch) const override {
    MLCORE_ASSIGN_OR_RETURN(auto up, up_->MakeIterator(epoch));
    return std::unique_ptr<DatasetIterator>(new BatchIterator(std::move(up), size_, drop_));
  }

 private:
  std::shared_ptr<const Dataset> up_;
  int64_t size_;
  bool drop_;
};

// ---- Map ----

class MapIterator : public DatasetIterator {
 public:
  MapIterator(std::unique_ptr<DatasetIterator> up, const Dataset::MapFn* fn)
      : up_(std::move(up)), fn_(fn) {}
  StatusOr<bool> Next(Element* out) override {
    Element e;
    MLCORE_ASSIGN_OR_RETURN(bool more, up_->Next(&e));
    if (!more) return false;
    StatusOr<Element> mapped = (*fn_)(std::move(e));
    if (!mapped.ok()) {
      return WithPrefix(mapped.status(), "Dataset map function failed: ");
    }
    *out = std::move(*mapped);
    return true;
  }

 private:
  std::unique_ptr<DatasetIterator> up_;
  const Dataset::MapFn* fn_;
};

class MapStage : public Dataset {
 public:
  MapStage(std::shared_ptr<const Dataset> up, MapFn fn) : up_(std::move(up)), fn_(std::move(fn)) {}
  bool batched() const override { return up_->batched(); }
  StatusOr<std::unique_ptr<DatasetIterator>> MakeIterator(int epoch) const override {
    MLCORE_ASSIGN_OR_RETURN(auto up, up_->MakeIterator(epoch));
    struct Owned : MapIterator {
      Owned(std::unique_ptr<DatasetIterator> up, std::shared_ptr<const MapStage> stage)
          : MapIterator(std::move(up), &stage->fn_), stage_(std::move(stage)) {}
      std::shared_ptr<const MapStage> stage_;
    };
    return std::unique_ptr<DatasetIterator>(
        new Owned(std::move(up), std::static_pointer_cast<const MapStage>(shared_from_this())));
  }

 private:
  std::shared_ptr<const Dataset> up_;
  MapFn fn_;
};

// ---- Prefetch ----

class PrefetchIterator : public DatasetIterator {
 public:
  PrefetchIterator(std::unique_ptr<DatasetIterator> up, int64_t size)
      : up_(std::move(up)), size_(static_cast<size_t>(size)) {
    thread_ = std::thread([this] { Produce(); });
  }
  ~PrefetchIterator() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
    }
    space_.notify_all();
    thread_.join();
  }
  StatusOr<bool> Next(Element* out) override {
    std::unique_lock<std::mutex> lock(mu_);
    ready_.wait(lock, [&] { return !queue_.empty() || finished_; });
    if (queue_.empty()) {
      if (!status_.ok()) return status_;
      return false;
    }
    *out = std::move(queue_.front());
    queue_.pop_front();
    space_.notify_one();
    return true;
  }

 private:
  void Produce() {
    Status status;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        space_.wait(lock, [&] { return queue_.size() < size_ || cancelled_; });
        if (cancelled_) break;
      }
      Element e;
      StatusOr<bool> more = up_->Next(&e);
      if (!more.ok()) {
        status = more.status();
        break;
      }
      if (!*more) break;
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(e));
      ready_.notify_one();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
      status_ = status;
    }
    ready_.notify_all();
  }

  std::unique_ptr<DatasetIterator> up_;
  const size_t size_;
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<Element> queue_;
  bool cancelled_ = false, finished_ = false;
  Status status_;
  std::thread thread_;  // last: started after everything it touches is constructed
};

class PrefetchStage : public Dataset {
 public:
  PrefetchStage(std::shared_ptr<const Dataset> up, int64_t size)
      : up_(std::move(up)), size_(size) {}
  bool batched() const override { return up_->batched(); }
  StatusOr<std::unique_ptr<DatasetIterator>> MakeIterator(int epoch) const override {
    MLCORE_ASSIGN_OR_RETURN(auto up, up_->MakeIterator(epoch));
    return std::unique_ptr<DatasetIterator>(new PrefetchIterator(std::move(up), size_));
  }

 private:
  std::shared_ptr<const Dataset> up_;
  int64_t size_;
};

}  // namespace

StatusOr<std::shared_ptr<Dataset>> Dataset::FromTensors(std::vector<Tensor> inputs,
                                                        std::vector<Tensor> targets) {
  if (inputs.empty()) return absl::InvalidArgumentError("Dataset::FromTensors: no inputs");
  int64_t n = -1;
  const Shape* first = nullptr;
  auto check = [&](const Tensor& t, size_t i, bool input) -> Status {
    if (!t.defined() || t.dim() < 1) {
      return absl::InvalidArgumentError("Dataset::FromTensors: " + Where(i, input) +
                                        " needs a leading sample axis");
    }
    if (!t.device().is_cpu()) {
      return absl::InvalidArgumentError("Dataset::FromTensors: " + Where(i, input) +
                                        " must be on the CPU");
    }
    if (n < 0) {
      n = t.shape()[0];
      first = &t.shape();
    } else if (t.shape()[0] != n) {
      return absl::InvalidArgumentError("Dataset::FromTensors: " + Where(i, input) + " " +
                                        ShapeToString(t.shape()) + " has " +
                                        std::to_string(t.shape()[0]) + " rows but input 0 " +
                                        ShapeToString(*first) + " has " + std::to_string(n));
    }
    return absl::OkStatus();
  };
  for (size_t i = 0; i < inputs.size(); ++i) MLCORE_RETURN_IF_ERROR(check(inputs[i], i, true));
  for (size_t i = 0; i < targets.size(); ++i) MLCORE_RETURN_IF_ERROR(check(targets[i], i, false));
  if (n == 0) return absl::InvalidArgumentError("Dataset::FromTensors: no samples");
  Element data{std::move(inputs), std::move(targets)};
  return std::shared_ptr<Dataset>(std::make_shared<TensorSource>(std::move(data), n));
}

std::shared_ptr<Dataset> Dataset::FromGenerator(StartFn start, bool batched) {
  return std::make_shared<GeneratorSource>(std::move(start), batched);
}

StatusOr<std::shared_ptr<Dataset>> Dataset::Shuffle(int64_t buffer_size, uint64_t seed) const {
  if (buffer_size <= 0) {
    return absl::InvalidArgumentError("Dataset::Shuffle: buffer_size must be > 0, got " +
                                      std::to_string(buffer_size));
  }
  return std::shared_ptr<Dataset>(
      std::make_shared<ShuffleStage>(shared_from_this(), buffer_size, seed));
}

StatusOr<std::shared_ptr<Dataset>> Dataset::Batch(int64_t batch_size, bool drop_remainder) const {
  if (batch_size <= 0) {
    return absl::InvalidArgumentError("Dataset::Batch: batch_size must be > 0, got " +
                                      std::to_string(batch_size));
  }
  if (batched()) {
    return absl::FailedPreconditionError("Dataset::Batch: the elements are already batches");
  }
  return std::shared_ptr<Dataset>(
      std::make_shared<BatchStage>(shared_from_this(), batch_size, drop_remainder));
}

std::shared_ptr<Dataset> Dataset::Map(MapFn fn) const {
  return std::make_shared<MapStage>(shared_from_this(), std::move(fn));
}

StatusOr<std::shared_ptr<Dataset>> Dataset::Prefetch(int64_t buffer_size) const {
  if (buffer_size <= 0) {
    return absl::InvalidArgumentError("Dataset::Prefetch: buffer_size must be > 0, got " +
                                      std::to_string(buffer_size));
  }
  return std::shared_ptr<Dataset>(std::make_shared<PrefetchStage>(shared_from_this(), buffer_size));
}

StatusOr<Element> StackExamples(const std::vector<Element>& examples) {
  if (examples.empty()) return absl::InvalidArgumentError("StackExamples: no examples");
  const Element& first = examples[0];
  const int64_t n = static_cast<int64_t>(examples.size());
  auto stack = [&](size_t slot, bool input) -> StatusOr<Tensor> {
    const Tensor& proto = input ? first.inputs[slot] : first.targets[slot];
    if (!proto.device().is_cpu()) {
      return absl::InvalidArgumentError("Dataset::Batch: " + Where(slot, input) +
                                        " of example 0 is not on the CPU");
    }
    Shape shape = proto.shape();
    shape.insert(shape.begin(), n);
    MLCORE_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(shape, proto.dtype()));
    const size_t bytes = proto.nbytes();
    auto* dst = static_cast<char*>(out.data());
    for (int64_t i = 0; i < n; ++i) {
      const Element& e = examples[i];
      const std::vector<Tensor>& list = input ? e.inputs : e.targets;
      if (list.size() <= slot) {
        return absl::InvalidArgumentError("Dataset::Batch: example " + std::to_string(i) +
                                          " has no " + Where(slot, input));
      }
      const Tensor& t = list[slot];
      if (t.shape() != proto.shape() || t.dtype() != proto.dtype() || !t.device().is_cpu()) {
        return absl::InvalidArgumentError(
            "Dataset::Batch: " + Where(slot, input) + " of example " + std::to_string(i) + " is " +
            ShapeToString(t.shape()) + " " + DTypeName(t.dtype()) + " but example 0's is " +
            ShapeToString(proto.shape()) + " " + DTypeName(proto.dtype()));
      }
      if (bytes > 0) std::memcpy(dst + i * bytes, t.data(), bytes);
    }
    return out;
  };
  Element batch;
  for (size_t i = 0; i < first.inputs.size(); ++i) {
    MLCORE_ASSIGN_OR_RETURN(Tensor t, stack(i, true));
    batch.inputs.push_back(std::move(t));
  }
  for (size_t i = 0; i < first.targets.size(); ++i) {
    MLCORE_ASSIGN_OR_RETURN(Tensor t, stack(i, false));
    batch.targets.push_back(std::move(t));
  }
  for (size_t i = 1; i < examples.size(); ++i) {
    if (examples[i].inputs.size() != first.inputs.size() ||
        examples[i].targets.size() != first.targets.size()) {
      return absl::InvalidArgumentError("Dataset::Batch: example " + std::to_string(i) +
                                        " has a different number of inputs or targets");
    }
  }
  return batch;
}

}  // namespace mlcore::nn
