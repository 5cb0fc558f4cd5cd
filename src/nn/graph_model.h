// The CUDA twin of Concatenate's row copies in graph_model.cc (kernels/nn/graph_model.cu), also
// used by Conv2d to pad and crop for padding="same". The rule both twins obey: a copy, so the
// result is bit for bit the source; the inputs' rows of `width` bytes are laid side by side in
// the output's rows (forward) and cut back out of the gradient's (backward).
#pragma once

#include <cstddef>
#include <cstdint>

#include "mlcore/core/status.h"

namespace mlcore::nn::cuda {

// `rows` rows of `width` bytes from src (rows `src_pitch` bytes apart) to dst (`dst_pitch`
// apart), device to device on `device`, queued on the legacy default stream.
Status CopyRows(int device, void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                size_t width, int64_t rows);

}  // namespace mlcore::nn::cuda
