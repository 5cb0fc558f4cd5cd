// Checkpoint-directory helpers shared by the model kinds that live outside checkpoint.cc: the
// atomic directory swap, JSON files, and the optimizer / training state every compiled model
// saves beside its weights.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "mlcore/nn/model.h"

namespace mlcore::nn::internal {

// Calls write(tmp) on a fresh sibling directory of `dir`, syncs it and swaps it in with
// renameat2(RENAME_EXCHANGE) (or a rename when `dir` does not exist yet), so readers see the
// old checkpoint or the new one, never a mix. The temporary directory is always removed.
Status WriteDirectoryAtomically(const std::string& dir,
                                const std::function<Status(const std::string& tmp)>& write);
Status WriteTextFile(const std::string& path, const std::string& text);
// NotFound when missing, DataLoss when not JSON.
StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);
// A shape read from an untrusted JSON list: each dimension an integer that fits int64 (a float
// such as 1e32 would not convert). DataLoss "<where> holds <value>, not a 64-bit integer".
StatusOr<Shape> JsonShape(const nlohmann::json& dims, const std::string& where);

// Writes a checkpoint's files into `tmp` (WriteDirectoryAtomically's folder): model.safetensors
// of `weights` tagged with `format`, architecture.json, signature.json and, for a compiled
// model, optimizer.safetensors and training_state.json. Both model kinds save through it.
Status WriteCheckpointFiles(const Model& model, const std::string& tmp,
                            const std::map<std::string, Tensor>& weights, const std::string& format,
                            const std::string& architecture_json);

// Copies `weights` (a checkpoint's tensors by name) into a model's parameters and buffers
// (`state`) after checking every name, shape and dtype; on any mismatch nothing is written and
// the error names the checkpoint folder `dir`.
Status AssignState(const std::vector<Parameter*>& state,
                   const std::map<std::string, Tensor>& weights, const std::string& dir);

// training_state.json's content for a compiled model.
nlohmann::json TrainingState(const Model& model);
// The CompileOptions (optimizer restored with its slots from <dir>/optimizer.safetensors) and
// epoch count saved by TrainingState.
Status RestoreTrainingState(const std::string& dir, CompileOptions* options, int* epoch);

}  // namespace mlcore::nn::internal
