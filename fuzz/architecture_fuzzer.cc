// A checkpoint's architecture.json (an untrusted or damaged checkpoint): every document must give
// a model or an error. The weights file beside it is a valid empty safetensors file, so the
// architecture is what gets parsed and built.
#include <fstream>

#include "fuzz_util.h"
#include "mlcore/nn/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool weights_written = [] {
    const std::string empty_header = "{}      ";
    std::ofstream out(mlcore::fuzz::ScratchDir() + "/model.safetensors", std::ios::binary);
    const uint64_t len = empty_header.size();
    out.write(reinterpret_cast<const char*>(&len), sizeof(len));
    out << empty_header;
    return true;
  }();
  (void)weights_written;
  mlcore::fuzz::WriteInput("architecture.json", data, size);
  auto model = mlcore::nn::LoadAnyModel(mlcore::fuzz::ScratchDir());
  (void)model;
  return 0;
}
