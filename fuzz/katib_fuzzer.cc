// Katib Experiment documents (the CLI reads a user's YAML as JSON): parse, then write back.
#include "mlcore/hpo/katib.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto options = mlcore::hpo::KatibExperimentFromJson(text);
  (void)options;
  return 0;
}
