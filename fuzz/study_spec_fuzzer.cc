// `mlcore hpo run spec.yaml`: the study file (YAML read by Python, handed to C++ as JSON, or a
// Katib Experiment) is user input, so every document gives a spec or an error.
#include "mlcore/hpo/study_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = mlcore::hpo::StudySpecFromJson(text);
  (void)spec;
  return 0;
}
