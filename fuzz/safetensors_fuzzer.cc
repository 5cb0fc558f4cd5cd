// safetensors files come from elsewhere (checkpoints, the Hugging Face hub): any header, sizes
// and offsets must give a tensor set or an error, never a crash or a wrapped size.
#include "fuzz_util.h"
#include "mlcore/nn/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = mlcore::fuzz::WriteInput("in.safetensors", data, size);
  auto file = mlcore::nn::ReadSafetensors(path);
  if (file.ok()) {
    for (const auto& [name, tensor] : file->tensors) {
      if (tensor.numel() > 0 && tensor.data() == nullptr) __builtin_trap();
    }
  }
  return 0;
}
