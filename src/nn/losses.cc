// The three built-in losses, registered by name here. Each validates its inputs fully before
// computing, because a wrong label dtype or an out-of-range class id would otherwise read out of
// bounds or train on garbage.
#include "nn/losses.h"

#include <cmath>
#include <limits>

#include "core/cpu_math.h"
#include "core/device_dispatch.h"
#include "mlcore/nn/loss.h"

namespace mlcore::nn {
namespace {

Status CheckOutput(const std::string& loss, const Tensor& output) {
  if (!output.defined() || output.dtype() != DType::kFloat32) {
    return TypeError(loss + ": model output must be a float32 tensor, got " +
                     (output.defined() ? output.ToString() : std::string("undefined")));
  }
  if (output.dim() < 1 || output.shape()[0] == 0) {
    return absl::InvalidArgumentError(loss + ": empty batch " + ShapeToString(output.shape()));
  }
  return absl::OkStatus();
}

StatusOr<Tensor> NewGrad(const Tensor& output, Tensor* grad) {
  if (grad == nullptr) return Tensor();
  MLCORE_ASSIGN_OR_RETURN(*grad, Tensor::Empty(output.shape(), DType::kFloat32));
  return *grad;
}

// The per-sample weights of a batch as a host pointer, or null for none (all 1).
StatusOr<const float*> RowWeights(const std::string& loss, const Tensor& output,
                                  const Tensor& sample_weight) {
  if (!sample_weight.defined()) return static_cast<const float*>(nullptr);
  if (sample_weight.dtype() != DType::kFloat32 || sample_weight.dim() != 1 ||
      !sample_weight.device().is_cpu() || output.dim() < 1 ||
      sample_weight.shape()[0] != output.shape()[0]) {
    return absl::InvalidArgumentError(loss + ": sample_weight must be float32 [batch] on the " +
                                      "CPU for output " + ShapeToString(output.shape()) + ", got " +
                                      sample_weight.ToString());
  }
  return sample_weight.data<float>();
}

class SoftmaxCrossEntropy : public Loss {
 public:
  std::string name() const override { return "cross_entropy"; }

  StatusOr<double> Compute(const Tensor& output, const Tensor& target,
                           Tensor* grad) const override {
    return ComputeWeighted(output, target, Tensor(), grad);
  }

  StatusOr<double> ComputeWeighted(const Tensor& output, const Tensor& target,
                                   const Tensor& sample_weight, Tensor* grad) const override {
    MLCORE_ASSIGN_OR_RETURN(std::vector<int64_t> labels, Labels(output, target));
    MLCORE_ASSIGN_OR_RETURN(const float* w, RowWeights(name(), output, sample_weight));
    const int64_t batch = output.shape()[0];
    const int64_t c = output.shape()[1];
    MLCORE_ASSIGN_OR_RETURN(Tensor g, NewGrad(output, grad));
    const float* z = output.data<float>();
    float* dz = g.defined() ? g.data<float>() : nullptr;
    double total = 0.0;
    const float inv_batch = 1.0f / static_cast<float>(batch);
    for (int64_t r = 0; r < batch; ++r) {
      const float* zr = z + r * c;
      float m = zr[0];
      for (int64_t j = 1; j < c; ++j) m = std::max(m, zr[j]);
      double sum = 0.0;
      for (int64_t j = 0; j < c; ++j) sum += std::exp(static_cast<double>(zr[j] - m));
      const double log_sum = std::log(sum);
      // A weight of 1 multiplies exactly, so all-1 weights reproduce the unweighted loss.
      const float wr = w != nullptr ? w[r] : 1.0f;
      total += wr * (log_sum - (zr[labels[r]] - m));
      if (dz != nullptr) {
        for (int64_t j = 0; j < c; ++j) {
          const float p = static_cast<float>(std::exp(zr[j] - m - log_sum));
          dz[r * c + j] = (p - (j == labels[r] ? 1.0f : 0.0f)) * inv_batch * wr;
        }
      }
    }
    return total / static_cast<double>(batch);
  }

  StatusOr<int64_t> CountCorrect(const Tensor& output, const Tensor& target) const override {
    MLCORE_ASSIGN_OR_RETURN(std::vector<int64_t> labels, Labels(output, target));
    const int64_t c = output.shape()[1];
    const float* z = output.data<float>();
    int64_t correct = 0;
    for (int64_t r = 0; r < output.shape()[0]; ++r) {
      const float* zr = z + r * c;
      correct += (std::max_element(zr, zr + c) - zr) == labels[r];
    }
    return correct;
  }

  StatusOr<std::vector<int64_t>> Labels(const Tensor& output, const Tensor& target) const {
    MLCORE_RETURN_IF_ERROR(CheckOutput(name(), output));
    if (output.dim() != 2) {
      return absl::InvalidArgumentError(name() + ": output must be logits [batch, classes], got " +
                                        ShapeToString(output.shape()));
    }
    if (!target.defined() || (target.dtype() != DType::kInt64 && target.dtype() != DType::kInt32)) {
      return TypeError(name() + ": labels must be int32 or int64 class ids, got " +
                       (target.defined() ? std::string(DTypeName(target.dtype())) : "undefined"));
    }
    if (target.dim() != 1 || target.shape()[0] != output.shape()[0]) {
      return absl::InvalidArgumentError(name() + ": labels of shape " +
                                        ShapeToString(target.shape()) + " do not match output " +
                                        ShapeToString(output.shape()) + " (want [batch])");
    }
    const int64_t c = output.shape()[1];
    std::vector<int64_t> labels(target.numel());
    for (int64_t i = 0; i < target.numel(); ++i) {
      labels[i] =
          target.dtype() == DType::kInt64 ? target.data<int64_t>()[i] : target.data<int32_t>()[i];
      if (labels[i] < 0 || labels[i] >= c) {
        return absl::InvalidArgumentError(name() + ": label " + std::to_string(labels[i]) +
                                          " at index " + std::to_string(i) +
                                          " is out of range [0, " + std::to_string(c) + ")");
      }
    }
    return labels;
  }
};

// Shared checks for the losses whose target is a float tensor shaped like the output.
Status CheckDense(const std::string& loss, const Tensor& output, const Tensor& target) {
  MLCORE_RETURN_IF_ERROR(CheckOutput(loss, output));
  if (!target.defined() || target.dtype() != DType::kFloat32) {
    return TypeError(loss + ": targets must be float32, got " +
                     (target.defined() ? std::string(DTypeName(target.dtype())) : "undefined"));
  }
  if (target.shape() != output.shape()) {
    return absl::InvalidArgumentError(loss + ": targets of shape " + ShapeToString(target.shape()) +
                                      " do not match output " + ShapeToString(output.shape()));
  }
  return absl::OkStatus();
}

// Losses that are a mean over elements of one term each, weighted per row: the loop they share.
// Derived supplies `static Status CheckTarget(name, t, i)` and `static double Term(z, t, float*
// dz)` (the element's loss and its derivative); CRTP keeps the per-element call inlined.
template <typename Derived>
class ElementwiseLoss : public Loss {
 public:
  StatusOr<double> Compute(const Tensor& output, const Tensor& target,
                           Tensor* grad) const override {
    return ComputeWeighted(output, target, Tensor(), grad);
  }
  StatusOr<double> ComputeWeighted(const Tensor& output, const Tensor& target,
                                   const Tensor& sample_weight, Tensor* grad) const override {
    MLCORE_RETURN_IF_ERROR(CheckDense(name(), output, target));
    MLCORE_ASSIGN_OR_RETURN(const float* w, RowWeights(name(), output, sample_weight));
    MLCORE_ASSIGN_OR_RETURN(Tensor g, NewGrad(output, grad));
    const int64_t per_row = output.numel() / output.shape()[0];
    const float* z = output.data<float>();
    const float* t = target.data<float>();
    float* dz = g.defined() ? g.data<float>() : nullptr;
    const int64_t n = output.numel();
    const std::string loss = name();
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      MLCORE_RETURN_IF_ERROR(Derived::CheckTarget(loss, t[i], i));
      const float wi = w != nullptr ? w[i / per_row] : 1.0f;
      float d = 0.0f;
      total += wi * Derived::Term(z[i], t[i], &d);
      if (dz != nullptr) dz[i] = d / static_cast<float>(n) * wi;
    }
    return total / static_cast<double>(n);
  }
};

class BinaryCrossEntropy : public ElementwiseLoss<BinaryCrossEntropy> {
 public:
  std::string name() const override { return "binary_cross_entropy"; }
  static Status CheckTarget(const std::string& name, float t, int64_t i) {
    if (t >= 0.0f && t <= 1.0f) return absl::OkStatus();
    return absl::InvalidArgumentError(name + ": target " + std::to_string(t) + " at flat index " +
                                      std::to_string(i) + " is outside [0, 1]");
  }
  // On logits z: max(z, 0) - z t + log(1 + e^-|z|), stable for large |z|; d = sigmoid(z) - t.
  static double Term(float z, float t, float* d) {
    const double zi = z;
    const float s = z >= 0 ? 1.0f / (1.0f + std::exp(-z)) : std::exp(z) / (1.0f + std::exp(z));
    *d = s - t;
    return std::max(zi, 0.0) - zi * t + std::log1p(std::exp(-std::abs(zi)));
  }
  StatusOr<int64_t> CountCorrect(const Tensor& output, const Tensor& target) const override {
    MLCORE_RETURN_IF_ERROR(CheckDense(name(), output, target));
    int64_t correct = 0;
    for (int64_t i = 0; i < output.numel(); ++i) {
      correct += (output.data<float>()[i] > 0.0f) == (target.data<float>()[i] > 0.5f);
    }
    // Per element: with several outputs per sample accuracy is the fraction of correct bits.
    return correct * output.shape()[0] / output.numel();
  }
};

class MeanSquaredError : public ElementwiseLoss<MeanSquaredError> {
 public:
  std::string name() const override { return "mse"; }
  static Status CheckTarget(const std::string&, float, int64_t) { return absl::OkStatus(); }
  static double Term(float y, float t, float* d) {
    const float diff = y - t;
    *d = 2.0f * diff;
    return static_cast<double>(diff) * diff;
  }
  StatusOr<int64_t> CountCorrect(const Tensor&, const Tensor&) const override {
    return absl::InvalidArgumentError("mse: the accuracy metric needs a classification loss");
  }
};

// Runs a CPU loss on outputs that live on a CUDA device: the outputs (batch x classes, small)
// come to the host and the gradient goes back. Softmax cross-entropy has a fused kernel instead.
class OnAnyDevice : public Loss {
 public:
  explicit OnAnyDevice(std::shared_ptr<Loss> cpu) : cpu_(std::move(cpu)) {}
  std::string name() const override { return cpu_->name(); }
  StatusOr<double> Compute(const Tensor& output, const Tensor& target,
                           Tensor* grad) const override {
    if (!output.defined() || !output.device().is_cuda()) {
      MLCORE_ASSIGN_OR_RETURN(Tensor t, Host(target));
      return cpu_->Compute(output, t, grad);
    }
    if (name() == "cross_entropy") return CrossEntropyCuda(output, target, grad);
    MLCORE_ASSIGN_OR_RETURN(Tensor host, output.To(Device::CPU()));
    MLCORE_ASSIGN_OR_RETURN(Tensor t, Host(target));
    Tensor host_grad;
    MLCORE_ASSIGN_OR_RETURN(double loss, cpu_->Compute(host, t, grad ? &host_grad : nullptr));
    if (grad != nullptr) {
      MLCORE_ASSIGN_OR_RETURN(*grad, host_grad.To(output.device()));
    }
    return loss;
  }
  // Weighted batches run on the host twin on every device (the fused kernel is unweighted).
  StatusOr<double> ComputeWeighted(const Tensor& output, const Tensor& target,
                                   const Tensor& sample_weight, Tensor* grad) const override {
    if (!sample_weight.defined()) return Compute(output, target, grad);
    MLCORE_ASSIGN_OR_RETURN(Tensor t, Host(target));
    if (!output.defined() || !output.device().is_cuda()) {
      return cpu_->ComputeWeighted(output, t, sample_weight, grad);
    }
    MLCORE_ASSIGN_OR_RETURN(Tensor host, output.To(Device::CPU()));
    Tensor host_grad;
    MLCORE_ASSIGN_OR_RETURN(
        double loss, cpu_->ComputeWeighted(host, t, sample_weight, grad ? &host_grad : nullptr));
    if (grad != nullptr) {
      MLCORE_ASSIGN_OR_RETURN(*grad, host_grad.To(output.device()));
    }
    return loss;
  }
  StatusOr<int64_t> CountCorrect(const Tensor& output, const Tensor& target) const override {
    MLCORE_ASSIGN_OR_RETURN(Tensor host, Host(output));
    MLCORE_ASSIGN_OR_RETURN(Tensor t, Host(target));
    return cpu_->CountCorrect(host, t);
  }

 private:
  static StatusOr<Tensor> Host(const Tensor& t) {
    if (!t.defined() || t.device().is_cpu()) return t;
    return t.To(Device::CPU());
  }

  StatusOr<double> CrossEntropyCuda(const Tensor& output, const Tensor& target,
                                    Tensor* grad) const {
    // Labels are checked on the host (they are gathered there) with the CPU twin's messages.
    MLCORE_ASSIGN_OR_RETURN(Tensor t, Host(target));
    const auto* ce = static_cast<const SoftmaxCrossEntropy*>(cpu_.get());
    MLCORE_RETURN_IF_ERROR(CheckOutput(name(), output));
    if (output.dim() != 2) {
      return absl::InvalidArgumentError(name() + ": output must be logits [batch, classes], got " +
                                        ShapeToString(output.shape()));
    }
    MLCORE_ASSIGN_OR_RETURN(std::vector<int64_t> labels, ce->Labels(output, t));
    const int64_t rows = output.shape()[0], classes = output.shape()[1];
    MLCORE_ASSIGN_OR_RETURN(Tensor host_labels, Tensor::FromVector(labels, {rows}));
    MLCORE_ASSIGN_OR_RETURN(Tensor dev_labels, host_labels.To(output.device()));
    MLCORE_ASSIGN_OR_RETURN(Tensor row_loss,
                            Tensor::Empty({rows}, DType::kFloat32, output.device()));
    float* g = nullptr;
    if (grad != nullptr) {
      MLCORE_ASSIGN_OR_RETURN(*grad,
                              Tensor::Empty(output.shape(), DType::kFloat32, output.device()));
      g = grad->data<float>();
    }
    MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::SoftmaxCrossEntropy(
        output.device().index, output.data<float>(), dev_labels.data<int64_t>(), rows, classes, g,
        row_loss.data<float>())));
    MLCORE_ASSIGN_OR_RETURN(Tensor host_loss, row_loss.To(Device::CPU()));
    double total = 0.0;
    for (int64_t r = 0; r < rows; ++r) total += host_loss.data<float>()[r];
    return total / static_cast<double>(rows);
  }

  std::shared_ptr<Loss> cpu_;
};

// Every built-in runs on either device: the CPU twin, with CUDA where it has one.
template <typename CpuLoss>
StatusOr<std::shared_ptr<Loss>> NewLoss() {
  return std::shared_ptr<Loss>(std::make_shared<OnAnyDevice>(std::make_shared<CpuLoss>()));
}

// Each loss also under the names Keras and PyTorch users write.
Registrar<LossFactory> ce_registration(LossRegistry(), "cross_entropy",
                                       &NewLoss<SoftmaxCrossEntropy>);
Registrar<LossFactory> ce_softmax_registration(LossRegistry(), "softmax_cross_entropy",
                                               &NewLoss<SoftmaxCrossEntropy>);
Registrar<LossFactory> ce_keras_registration(LossRegistry(), "sparse_categorical_crossentropy",
                                             &NewLoss<SoftmaxCrossEntropy>);
Registrar<LossFactory> bce_registration(LossRegistry(), "binary_cross_entropy",
                                        &NewLoss<BinaryCrossEntropy>);
Registrar<LossFactory> bce_short_registration(LossRegistry(), "bce", &NewLoss<BinaryCrossEntropy>);
Registrar<LossFactory> mse_registration(LossRegistry(), "mse", &NewLoss<MeanSquaredError>);
Registrar<LossFactory> mse_long_registration(LossRegistry(), "mean_squared_error",
                                             &NewLoss<MeanSquaredError>);

}  // namespace

Registry<LossFactory>& LossRegistry() {
  static auto* registry = new Registry<LossFactory>("loss");
  return *registry;
}

Status RegisterLoss(const std::string& name, LossFactory factory) {
  return LossRegistry().Register(name, std::move(factory));
}

StatusOr<std::shared_ptr<Loss>> MakeLoss(const std::string& name) {
  return LossRegistry().Create(name);
}

std::vector<std::string> LossNames() { return LossRegistry().Names(); }

}  // namespace mlcore::nn
