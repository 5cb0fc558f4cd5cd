// GlobalAveragePooling2D and GlobalMaxPooling2D (Keras' names): one value per (sample, channel)
// plane, [N, C, H, W] -> [N, C]. They are pooling with the whole plane as the window, so CUDA
// runs the MaxPool2d / AvgPool2d kernels with that window (a [N, C] output is a [N, C, 1, 1]
// one); the CPU reduces each plane directly, planes in parallel.
#include <algorithm>
#include <cstring>

#include "core/cpu_math.h"
#include "core/device_dispatch.h"
#include "mlcore/nn/layers.h"
#include "nn/pooling.h"

namespace mlcore::nn {
namespace {

class GlobalPoolLayer : public Layer {
 public:
  explicit GlobalPoolLayer(bool max) : max_(max) {}
  std::string type() const override { return max_ ? "global_max_pool2d" : "global_avg_pool2d"; }
  bool SupportsCuda() const override { return kCudaTwinsBuilt; }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t) override {
    if (input_shape.size() != 3 || input_shape[1] <= 0 || input_shape[2] <= 0) {
      return absl::InvalidArgumentError(Describe() +
                                        " needs input [batch, channels, height, width] with a "
                                        "non-empty plane, got per-sample shape " +
                                        ShapeToString(input_shape));
    }
    channels_ = input_shape[0];
    plane_ = input_shape[1] * input_shape[2];
    height_ = input_shape[1];
    width_ = input_shape[2];
    return Shape{channels_};
  }

  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    const int64_t batch = x.shape()[0], planes = batch * channels_;
    MLCORE_ASSIGN_OR_RETURN(Tensor y,
                            Tensor::Empty({batch, channels_}, DType::kFloat32, x.device()));
    Tensor argmax;
    if (training && max_) {
      MLCORE_ASSIGN_OR_RETURN(argmax, Tensor::Empty({batch, channels_}, DType::kInt32, x.device()));
      argmax_ = argmax;
    }
    int32_t* arg = argmax.defined() ? argmax.data<int32_t>() : nullptr;
    if (x.device().is_cuda()) {
      const cuda::PoolArgs a = CudaArgs(x.device().index, planes);
      if (max_)
        return Done(
            MLCORE_CUDA_TWIN(cuda::MaxPoolForward(a, x.data<float>(), y.data<float>(), arg)), y);
      return Done(MLCORE_CUDA_TWIN(cuda::AvgPoolForward(a, x.data<float>(), y.data<float>())), y);
    }
    const float* in = x.data<float>();
    float* out = y.data<float>();
    cpu::ParallelFor(planes, plane_, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const float* xp = in + p * plane_;
        if (!max_) {
          double sum = 0.0;
          for (int64_t i = 0; i < plane_; ++i) sum += xp[i];
          out[p] = static_cast<float>(sum / static_cast<double>(plane_));
          continue;
        }
        // The first maximum wins ties; a NaN wins (the last one, as in MaxPool2d and the kernel).
        float best = xp[0];
        int32_t where = 0;
        for (int64_t i = 1; i < plane_; ++i) {
          if (xp[i] > best || xp[i] != xp[i]) {
            best = xp[i];
            where = static_cast<int32_t>(i);
          }
        }
        out[p] = best;
        if (arg != nullptr) arg[p] = where;
      }
    });
    return y;
  }

  StatusOr<Tensor> DoBackward(const Tensor& grad_output) override {
    if (!input_grad_needed()) return Tensor();
    const int64_t batch = grad_output.shape()[0], planes = batch * channels_;
    MLCORE_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty({batch, channels_, height_, width_},
                                                     DType::kFloat32, grad_output.device()));
    if (grad_output.device().is_cuda()) {
      const cuda::PoolArgs a = CudaArgs(grad_output.device().index, planes);
      if (max_) {
        return Done(MLCORE_CUDA_TWIN(cuda::MaxPoolBackward(
                        a, grad_output.data<float>(), argmax_.data<int32_t>(), dx.data<float>())),
                    dx);
      }
      return Done(
          MLCORE_CUDA_TWIN(cuda::AvgPoolBackward(a, grad_output.data<float>(), dx.data<float>())),
          dx);
    }
    const float* dy = grad_output.data<float>();
    const int32_t* arg = max_ ? argmax_.data<int32_t>() : nullptr;
    const float inv = 1.0f / static_cast<float>(plane_);
    cpu::ParallelFor(planes, plane_, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        float* dxp = dx.data<float>() + p * plane_;
        if (max_) {
          std::memset(dxp, 0, sizeof(float) * plane_);
          dxp[arg[p]] = dy[p];
        } else {
          std::fill(dxp, dxp + plane_, dy[p] * inv);
        }
      }
    });
    return dx;
  }

 private:
  static StatusOr<Tensor> Done(Status status, const Tensor& t) {
    if (!status.ok()) return status;
    return t;
  }

  // The whole plane as one window with one output.
  cuda::PoolArgs CudaArgs(int device, int64_t planes) const {
    cuda::PoolArgs a;
    a.device = device;
    a.planes = planes;
    a.height = a.kernel_h = a.stride_h = height_;
    a.width = a.kernel_w = a.stride_w = width_;
    a.out_height = a.out_width = 1;
    return a;
  }

  bool max_;
  int64_t channels_ = 0, plane_ = 0, height_ = 0, width_ = 0;
  Tensor argmax_;  // int32 offset of each plane's maximum, from the last training Forward
};

static LayerRegistration global_avg_registration(
    "global_avg_pool2d", [](const LayerConfig&) -> StatusOr<std::shared_ptr<Layer>> {
      return GlobalAveragePooling2D();
    });
static LayerRegistration global_max_registration(
    "global_max_pool2d",
    [](const LayerConfig&) -> StatusOr<std::shared_ptr<Layer>> { return GlobalMaxPooling2D(); });

}  // namespace

std::shared_ptr<Layer> GlobalAveragePooling2D() { return std::make_shared<GlobalPoolLayer>(false); }
std::shared_ptr<Layer> GlobalMaxPooling2D() { return std::make_shared<GlobalPoolLayer>(true); }

}  // namespace mlcore::nn
