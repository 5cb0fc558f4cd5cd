// Katib Experiment YAML (users' files, `kubectl get -o yaml` output): parse into a study
// definition; deep nesting and alias bombs must end in an error, never a crash or a hang.
#include "mlcore/hpo/katib.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto options = mlcore::hpo::KatibExperimentFromYaml(text);
  (void)options;
  return 0;
}
