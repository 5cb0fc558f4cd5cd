// Command-line placeholders ({{inputs.parameters.x}}, {{outputs.artifacts.m.path}}, {{$}}):
// checked when a component is defined and expanded when its task runs.
#pragma once

#include <string>

#include "mlcore/core/status.h"
#include "mlcore/pipeline/component.h"

namespace mlcore::pipeline::internal {

// InvalidArgument naming the component and placeholder when `arg` refers to an unknown input or
// output, or to one of the wrong kind (an artifact's path for a parameter).
Status CheckPlaceholders(const Component& component, const std::string& arg);

// `arg` with every placeholder replaced by the value `context` holds for it.
StatusOr<std::string> ExpandPlaceholders(const std::string& arg, const TaskContext& context);

// A parameter as a command-line argument: strings as they are, everything else as JSON.
std::string ParameterText(const Json& value);

}  // namespace mlcore::pipeline::internal
