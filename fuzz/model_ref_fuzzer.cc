// Model references ("name", "name/3", "name@alias") as the server and the registry take them from
// URLs and command lines: parse; what parses must name a valid model, print back to the same
// text, and never hold a path that leaves a directory.
#include <string>

#include "mlcore/registry/model_ref.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto ref = mlcore::registry::ParseModelRef(text);
  if (!ref.ok()) return 0;
  if (!mlcore::registry::ValidateModelName(ref->name).ok()) __builtin_trap();
  if (ref->ToString() != text) __builtin_trap();
  if (ref->name.find("..") != std::string::npos || ref->name.find('/') != std::string::npos) {
    __builtin_trap();
  }
  if (ref->version && *ref->version <= 0) __builtin_trap();
  return 0;
}
