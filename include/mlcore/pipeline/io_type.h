// The type of a component's input or output as its declaration spells it: a value type name
// ("int", "Model"), or "List[Model]" for an input that takes a list of artifacts (KFP's
// Input[List[Model]]).
#pragma once

#include <string>
#include <string_view>

#include "mlcore/core/status.h"
#include "mlcore/pipeline/component.h"

namespace mlcore::pipeline {

// An IoSpec named `name` of type `type_name`: "List[T]" sets IoSpec::list with T's type.
// InvalidArgument naming the type for an unknown type name.
StatusOr<IoSpec> ParseIoSpec(std::string name, std::string_view type_name);

}  // namespace mlcore::pipeline
