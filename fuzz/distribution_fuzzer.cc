// Search-space distributions as stored with trials and written in study specs: JSON in, a
// distribution or an error out, and a parsed one survives its own round trip.
#include "mlcore/hpo/distribution.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto d = mlcore::hpo::Distribution::FromJson(text);
  if (!d.ok()) return 0;
  auto again = mlcore::hpo::Distribution::FromJson(d->ToJson());
  if (!again.ok() || *again != *d) __builtin_trap();
  return 0;
}
