// The metric formats' names, as specs and the Python API spell them.
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "mlcore/hpo/command_objective.h"

namespace mlcore::hpo {

StatusOr<MetricsFormat> ParseMetricsFormat(std::string_view name) {
  if (name == "text") return MetricsFormat::kText;
  if (name == "json") return MetricsFormat::kJsonLines;
  return absl::InvalidArgumentError(
      absl::StrCat("format must be 'text' or 'json', not '", std::string(name), "'"));
}

const char* MetricsFormatName(MetricsFormat format) {
  return format == MetricsFormat::kText ? "text" : "json";
}

}  // namespace mlcore::hpo
