// Attend on the CPU (mlcore's GEMMs over bf16-rounded copies when the precision is bf16) and on
// CUDA (cuBLAS, which rounds to bf16 itself). Leading axes are flattened into rows.
#include "nn/attend.h"

#include "core/cpu_math.h"
#include "core/device_dispatch.h"
#include "nn/bf16.h"
#include "nn/dense.h"

namespace mlcore::nn::internal {
namespace {

bool Bf16() { return ComputePrecision() == Precision::kBFloat16; }

}  // namespace

StatusOr<Tensor> AttendForward(const Tensor& x, const Tensor& table) {
  const int64_t vocab = table.shape()[0], dim = table.shape()[1];
  const int64_t rows = x.numel() / dim;
  Shape shape = x.shape();
  shape.back() = vocab;
  MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(shape, DType::kFloat32, x.device()));
  if (x.device().is_cuda()) {
    MLCORE_RETURN_IF_ERROR(
        MLCORE_CUDA_TWIN(cuda::Gemm(x.device().index, false, true, rows, vocab, dim,
                                    x.data<float>(), table.data<float>(), y.data<float>(), false)));
    return y;
  }
  const Bf16Operand x_op(x.data<float>(), x.numel(), Bf16());
  const Bf16Operand t_op(table.data<float>(), table.numel(), Bf16());
  cpu::MatMulNT(x_op.get(), t_op.get(), y.data<float>(), rows, dim, vocab);
  return y;
}

StatusOr<Tensor> AttendBackward(const Tensor& dy, const Tensor& x, const Tensor& table,
                                Tensor& dtable, bool input_grad) {
  const int64_t vocab = table.shape()[0], dim = table.shape()[1];
  const int64_t rows = x.numel() / dim;
  Tensor dx;
  if (input_grad) {
    MLCORE_ASSIGN_OR_RETURN(dx, Tensor::Empty(x.shape(), DType::kFloat32, x.device()));
  }
  if (dy.device().is_cuda()) {
    const int dev = dy.device().index;
    MLCORE_RETURN_IF_ERROR(
        MLCORE_CUDA_TWIN(cuda::Gemm(dev, true, false, vocab, dim, rows, dy.data<float>(),
                                    x.data<float>(), dtable.data<float>(), false)));
    if (input_grad) {
      MLCORE_RETURN_IF_ERROR(
          MLCORE_CUDA_TWIN(cuda::Gemm(dev, false, false, rows, dim, vocab, dy.data<float>(),
                                      table.data<float>(), dx.data<float>(), false)));
    }
    return dx;
  }
  const Bf16Operand dy_op(dy.data<float>(), dy.numel(), Bf16());
  const Bf16Operand x_op(x.data<float>(), x.numel(), Bf16());
  cpu::MatMulTN(dy_op.get(), x_op.get(), dtable.data<float>(), rows, vocab, dim);
  if (input_grad) {
    const Bf16Operand t_op(table.data<float>(), table.numel(), Bf16());
    cpu::MatMul(dy_op.get(), t_op.get(), dx.data<float>(), rows, vocab, dim);
  }
  return dx;
}

}  // namespace mlcore::nn::internal
