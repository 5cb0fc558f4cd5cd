// Embedding: a trainable [num_embeddings, dim] table indexed by integers. Every index is
// range-checked before any row is read (on the host, also for CUDA inputs), so a bad token id is
// a clear error instead of a read out of bounds.
#include "nn/embedding.h"

#include <cmath>
#include <cstring>
#include <random>

#include "core/device_dispatch.h"
#include "mlcore/nn/layers.h"
#include "nn/layer_util.h"

namespace mlcore::nn {
namespace {

class EmbeddingLayer : public Layer {
 public:
  EmbeddingLayer(int64_t vocab, int64_t dim) : vocab_(vocab), dim_(dim) {}
  std::string type() const override { return "embedding"; }
  LayerConfig config() const override {
    return {{"num_embeddings", static_cast<double>(vocab_)}, {"dim", static_cast<double>(dim_)}};
  }
  bool SupportsCuda() const override { return kCudaTwinsBuilt; }
  std::vector<Parameter*> parameters() override {
    if (!table_.value.defined()) return {};
    return {&table_};
  }

 protected:
  bool AcceptsDType(DType dtype) const override {
    return dtype == DType::kInt32 || dtype == DType::kInt64 || dtype == DType::kFloat32;
  }

  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t seed) override {
    MLCORE_ASSIGN_OR_RETURN(table_,
                            internal::MakeParameter(name() + ".embeddings", {vocab_, dim_}));
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    float* w = table_.value.data<float>();
    for (int64_t i = 0; i < vocab_ * dim_; ++i) w[i] = dist(rng);
    Shape out = input_shape;
    out.push_back(dim_);
    return out;
  }

  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    Shape shape = x.shape();
    shape.push_back(dim_);
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(shape, DType::kFloat32, x.device()));
    MLCORE_ASSIGN_OR_RETURN(Tensor host,
                            x.device().is_cpu() ? StatusOr<Tensor>(x) : x.To(Device::CPU()));
    MLCORE_RETURN_IF_ERROR(CheckIndices(host));
    if (training) indices_ = x;
    if (x.device().is_cuda()) {
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(
          cuda::EmbeddingForward(x.device().index, x.data(), Kind(x), x.numel(),
                                 table_.value.data<float>(), dim_, y.data<float>())));
      return y;
    }
    const float* table = table_.value.data<float>();
    float* out = y.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      std::memcpy(out + i * dim_, table + Index(host, i) * dim_, sizeof(float) * dim_);
    }
    return y;
  }

  StatusOr<Tensor> DoBackward(const Tensor& dy) override {
    const int64_t count = indices_.numel();
    if (dy.device().is_cuda()) {
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(
          cuda::EmbeddingBackward(dy.device().index, indices_.data(), Kind(indices_), count,
                                  dy.data<float>(), dim_, vocab_, table_.grad.data<float>())));
    } else {
      float* g = table_.grad.data<float>();
      std::memset(g, 0, sizeof(float) * vocab_ * dim_);
      const float* d = dy.data<float>();
      for (int64_t i = 0; i < count; ++i) {
        float* row = g + Index(indices_, i) * dim_;
        for (int64_t j = 0; j < dim_; ++j) row[j] += d[i * dim_ + j];
      }
    }
    // Indices are not differentiable; a layer before this one gets a zero gradient.
    if (!input_grad_needed()) return Tensor();
    return Tensor::Zeros(indices_.shape(), DType::kFloat32, dy.device());
  }

 private:
  static cuda::IndexKind Kind(const Tensor& x) {
    if (x.dtype() == DType::kInt32) return cuda::IndexKind::kInt32;
    if (x.dtype() == DType::kInt64) return cuda::IndexKind::kInt64;
    return cuda::IndexKind::kFloat32;
  }

  static int64_t Index(const Tensor& x, int64_t i) {
    switch (x.dtype()) {
      case DType::kInt32:
        return x.data<int32_t>()[i];
      case DType::kInt64:
        return x.data<int64_t>()[i];
      default:
        return static_cast<int64_t>(x.data<float>()[i]);
    }
  }

  Status CheckIndices(const Tensor& host) const {
    for (int64_t i = 0; i < host.numel(); ++i) {
      if (host.dtype() == DType::kFloat32) {
        const float v = host.data<float>()[i];
        if (!(v == std::floor(v))) {
          return absl::InvalidArgumentError(Describe() + ": input " + std::to_string(v) +
                                            " at flat position " + std::to_string(i) +
                                            " is not a whole-number index");
        }
        if (v < 0.0f || v >= static_cast<float>(vocab_)) {
          return OutOfRange(static_cast<int64_t>(v), i);
        }
        continue;
      }
      const int64_t idx = Index(host, i);
      if (idx < 0 || idx >= vocab_) return OutOfRange(idx, i);
    }
    return absl::OkStatus();
  }

  Status OutOfRange(int64_t index, int64_t position) const {
    return absl::InvalidArgumentError(
        Describe() + ": index " + std::to_string(index) + " at flat position " +
        std::to_string(position) + " is out of range for a vocabulary of " +
        std::to_string(vocab_) + " (valid: 0.." + std::to_string(vocab_ - 1) + ")");
  }

  int64_t vocab_;
  int64_t dim_;
  Parameter table_;
  Tensor indices_;  // from the last training Forward
};

static LayerRegistration embedding_registration(
    "embedding", [](const LayerConfig& config) -> StatusOr<std::shared_ptr<Layer>> {
      MLCORE_ASSIGN_OR_RETURN(int64_t vocab,
                              internal::ConfigInt(config, "embedding", "num_embeddings"));
      MLCORE_ASSIGN_OR_RETURN(int64_t dim, internal::ConfigInt(config, "embedding", "dim"));
      return Embedding(vocab, dim);
    });

}  // namespace

StatusOr<std::shared_ptr<Layer>> Embedding(int64_t num_embeddings, int64_t dim) {
  if (num_embeddings <= 0 || dim <= 0) {
    return absl::InvalidArgumentError("Embedding: num_embeddings and dim must be positive, got " +
                                      std::to_string(num_embeddings) + " and " +
                                      std::to_string(dim));
  }
  return std::shared_ptr<Layer>(std::make_shared<EmbeddingLayer>(num_embeddings, dim));
}

}  // namespace mlcore::nn
