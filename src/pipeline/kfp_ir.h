// Building blocks of KFP's IR (PipelineSpec) that the DAG compiler assembles.
#pragma once

#include <string>
#include <vector>

#include "mlcore/pipeline/compiler.h"
#include "mlcore/pipeline/pipeline.h"

namespace mlcore::pipeline::internal {

// NUMBER_INTEGER, NUMBER_DOUBLE, STRING, BOOLEAN, LIST or STRUCT.
const char* KfpParameterType(ValueType t);
// {schemaTitle: system.<Type>, schemaVersion}.
Json ArtifactType(ValueType t);
// Our placeholders become KFP's ({{$.inputs.parameters['x']}}, ...).
std::string KfpPlaceholders(const std::string& arg);
std::string DurationText(absl::Duration d);
// A constant as CEL writes it (strings single-quoted).
std::string CelLiteral(const Json& v);
// KFP's name for a parameter or task output passed into a sub-DAG: pipelinechannel--<...>.
std::string Channel(const InputBinding& b);
// An input parameter's spec: its type, and its default when it has one.
Json ParameterSpec(const IoSpec& s);
// The component input a loop's sub-DAG receives its current item as.
std::string LoopItemInput(const Loop& loop);
// Whether two bindings name the same value.
bool SameBinding(const InputBinding& a, const InputBinding& b);
// The executor of a task running `command` (image, command, env, resources).
Json ExecutorSpec(const Component& c, const std::vector<std::string>& command,
                  const CompileOptions& options);

}  // namespace mlcore::pipeline::internal
