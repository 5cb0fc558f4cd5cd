// Building blocks of KFP's IR (PipelineSpec) that the DAG compiler assembles.
#pragma once

#include <map>
#include <optional>
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
// KFP's names for the pipeline's loops (by mlcore loop name): the loop's for-loop-N and the
// component input its body receives the current item as. KFP numbers loops together with the
// groups, one counter in the order they open, and a loop over a constant list takes two numbers
// (pipelinechannel--loop-item-param-N, then for-loop-N+1); mlcore keeps its own loop names for
// run records, so the compiler renames them.
struct KfpLoopNames {
  std::map<std::string, std::string> loops;
  std::map<std::string, std::string> item_inputs;
};
KfpLoopNames NameLoopsAsKfp(const Pipeline& p);
// The channel of a loop item binding: the loop's item input, or KFP's `<item>-subvar-<field>`.
std::string ItemChannel(const std::map<std::string, std::string>& item_inputs,
                        const InputBinding& b);
// The type of a loop item (or its field) when the loop runs over a constant list, as KFP infers
// it from the first element; nullopt for a list known only at run time.
std::optional<ValueType> ConstantItemType(const Pipeline& p, const InputBinding& b);
// Whether two bindings name the same value.
bool SameBinding(const InputBinding& a, const InputBinding& b);
// The executor of a task running `command` (image, command, env, resources).
Json ExecutorSpec(const Component& c, const std::vector<std::string>& command,
                  const CompileOptions& options);

}  // namespace mlcore::pipeline::internal
