// The safetensors file format (8-byte little-endian header length, a JSON header giving each
// tensor's dtype, shape and byte range, then the raw little-endian data), so that checkpoints
// are readable by the `safetensors` package, PyTorch, JAX and the serving module alike.
#pragma once

#include <map>
#include <string>

#include "mlcore/core/tensor.h"

namespace mlcore::nn {

// Writes CPU tensors (any dtype mlcore has) with optional string metadata. The file is written
// to a temporary name, synced and renamed, so a crash leaves the old file or the new one.
Status WriteSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};
// Reads a whole file into CPU tensors. DataLoss naming the path for a truncated or malformed
// file (bad header length, offsets out of range or overlapping, unknown dtype).
StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path);

}  // namespace mlcore::nn
