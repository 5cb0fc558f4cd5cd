#include "mlcore/pipeline/io_type.h"

#include <utility>

namespace mlcore::pipeline {

StatusOr<IoSpec> ParseIoSpec(std::string name, std::string_view type_name) {
  constexpr std::string_view kList = "List[";
  IoSpec spec;
  spec.name = std::move(name);
  spec.list = type_name.size() > kList.size() + 1 && type_name.substr(0, kList.size()) == kList &&
              type_name.back() == ']';
  if (spec.list) type_name = type_name.substr(kList.size(), type_name.size() - kList.size() - 1);
  MLCORE_ASSIGN_OR_RETURN(spec.type, ParseValueType(type_name));
  return spec;
}

}  // namespace mlcore::pipeline
