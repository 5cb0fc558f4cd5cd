// Checkpoint-directory helpers (see model_io.h).
#include "nn/model_io.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/file_util.h"
#include "mlcore/nn/safetensors.h"

namespace mlcore::nn::internal {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

// What a checkpoint directory may hold: the files Save writes, nothing else.
constexpr const char* kCheckpointFiles[] = {"architecture.json", "model.safetensors",
                                            "optimizer.safetensors", "training_state.json",
                                            "signature.json"};

// Save replaces `target` by swapping a new directory in and deleting the old one, so it may only
// replace what mlcore wrote: nothing, an empty directory, or an mlcore checkpoint holding only
// checkpoint files. A user's directory or file at that path is never deleted.
Status CheckReplaceable(const fs::path& target, const std::string& dir) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(target, ec);
  if (!fs::exists(st)) return absl::OkStatus();
  if (!fs::is_directory(st)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot save a checkpoint to ", dir,
                     ": it is a file (or link), not a checkpoint directory, and saving would "
                     "delete it; choose another path or remove it yourself"));
  }
  std::vector<std::string> foreign;
  bool has_architecture = false;
  for (const fs::directory_entry& e : fs::directory_iterator(target, ec)) {
    const std::string name = e.path().filename().string();
    if (name == "architecture.json") has_architecture = true;
    if (std::find(std::begin(kCheckpointFiles), std::end(kCheckpointFiles), name) ==
        std::end(kCheckpointFiles)) {
      foreign.push_back(name);
    }
  }
  if (ec) return mlcore::internal::ErrnoStatus(ec.value(), "cannot list", dir);
  const bool empty = foreign.empty() && !has_architecture &&
                     fs::directory_iterator(target, ec) == fs::directory_iterator();
  if (empty || (has_architecture && foreign.empty())) return absl::OkStatus();
  if (foreign.size() > 3) foreign.resize(3);
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot save a checkpoint to ", dir, ": it is a directory that is not an mlcore checkpoint ",
      "(it holds ", absl::StrJoin(foreign, ", "), foreign.size() == 3 ? ", ..." : "",
      ") and saving would delete its contents; choose an empty or new directory"));
}

}  // namespace

Status WriteDirectoryAtomically(const std::string& dir,
                                const std::function<Status(const std::string& tmp)>& write) {
  const fs::path target = fs::absolute(fs::path(dir)).lexically_normal();
  MLCORE_RETURN_IF_ERROR(CheckReplaceable(target, dir));
  MLCORE_RETURN_IF_ERROR(mlcore::internal::MakeDirectories(target.parent_path().string()));
  std::string tmpl = target.string() + ".tmp-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return mlcore::internal::ErrnoStatus(errno, "cannot create a directory next to", dir);
  }
  const std::string tmp = tmpl;
  Status status = [&]() -> Status {
    MLCORE_RETURN_IF_ERROR(write(tmp));
    MLCORE_RETURN_IF_ERROR(mlcore::internal::SyncDirectory(tmp));
    std::error_code ec;
    if (fs::exists(target, ec)) {
      if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
        return mlcore::internal::ErrnoStatus(errno, "cannot swap in the checkpoint", dir);
      }
    } else if (::rename(tmp.c_str(), target.c_str()) != 0) {
      return mlcore::internal::ErrnoStatus(errno, "cannot move the checkpoint to", dir);
    }
    return mlcore::internal::SyncDirectory(target.parent_path().string());
  }();
  std::error_code ec;
  fs::remove_all(tmp, ec);  // the new checkpoint on failure, the old one after a swap
  return status;
}

Status WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return mlcore::internal::ErrnoStatus(errno, "cannot write", path);
  return absl::OkStatus();
}

StatusOr<Shape> JsonShape(const Json& dims, const std::string& where) {
  if (!dims.is_array()) return absl::DataLossError(where + " is not a list");
  Shape shape;
  for (const Json& d : dims) {
    if (!d.is_number_integer() ||
        (d.is_number_unsigned() &&
         d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))) {
      return absl::DataLossError(
          absl::StrCat(where, " holds ", d.dump(), ", not a 64-bit integer"));
    }
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

StatusOr<Json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return FileNotFound("checkpoint file " + path + " is missing");
  std::stringstream ss;
  ss << in.rdbuf();
  Json j = Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::DataLossError(path + " is not valid JSON");
  return j;
}

Status WriteCheckpointFiles(const Model& model, const std::string& tmp,
                            const std::map<std::string, Tensor>& weights, const std::string& format,
                            const std::string& architecture_json) {
  MLCORE_RETURN_IF_ERROR(
      WriteSafetensors(tmp + "/model.safetensors", weights, {{"format", format}}));
  MLCORE_RETURN_IF_ERROR(WriteTextFile(tmp + "/architecture.json", architecture_json));
  MLCORE_ASSIGN_OR_RETURN(ModelSignature sig, model.signature());
  MLCORE_RETURN_IF_ERROR(WriteTextFile(tmp + "/signature.json", sig.ToJson()));
  if (model.compiled()) {
    MLCORE_RETURN_IF_ERROR(
        WriteSafetensors(tmp + "/optimizer.safetensors", model.optimizer()->State()));
    MLCORE_RETURN_IF_ERROR(
        WriteTextFile(tmp + "/training_state.json", TrainingState(model).dump(2)));
  }
  return absl::OkStatus();
}

Json TrainingState(const Model& model) {
  const CompileOptions& c = model.compile_options();
  Json state = {
      {"epoch", model.epochs_trained()},
      {"optimizer", {{"name", model.optimizer()->name()}, {"config", model.optimizer()->config()}}},
      {"optimizer_steps", model.optimizer()->steps()},
      {"loss", c.loss},
      {"metrics", c.metrics},
      {"loss_weights", c.loss_weights},
      {"clip_grad_norm", c.clip_grad_norm},
      {"skip_non_finite", c.on_non_finite == NonFinitePolicy::kSkipStep}};
  const std::string schedule = c.schedule ? c.schedule->ToJson() : "";
  if (!schedule.empty()) state["schedule"] = Json::parse(schedule);
  return state;
}

Status AssignState(const std::vector<Parameter*>& state,
                   const std::map<std::string, Tensor>& weights, const std::string& dir) {
  for (Parameter* p : state) {
    auto it = weights.find(p->name);
    if (it == weights.end()) {
      return absl::InvalidArgumentError("checkpoint " + dir + " has no tensor '" + p->name +
                                        "'; it was saved from another architecture");
    }
    if (it->second.shape() != p->value.shape() || it->second.dtype() != DType::kFloat32) {
      return absl::InvalidArgumentError("checkpoint " + dir + ": tensor '" + p->name + "' is " +
                                        ShapeToString(it->second.shape()) + " " +
                                        DTypeName(it->second.dtype()) + " but the model needs " +
                                        ShapeToString(p->value.shape()) + " float32");
    }
  }
  if (weights.size() != state.size()) {
    return absl::InvalidArgumentError("checkpoint " + dir + " holds " +
                                      std::to_string(weights.size()) + " tensors, the model has " +
                                      std::to_string(state.size()) + " parameters and buffers");
  }
  for (Parameter* p : state) MLCORE_RETURN_IF_ERROR(p->value.CopyFrom(weights.at(p->name)));
  return absl::OkStatus();
}

Status RestoreTrainingState(const std::string& dir, CompileOptions* options, int* epoch) {
  MLCORE_ASSIGN_OR_RETURN(Json state, ReadJsonFile(dir + "/training_state.json"));
  MLCORE_ASSIGN_OR_RETURN(
      std::shared_ptr<optim::Optimizer> opt,
      optim::MakeOptimizer(state["optimizer"].value("name", ""),
                           state["optimizer"].value("config", std::map<std::string, double>{})));
  MLCORE_ASSIGN_OR_RETURN(SafetensorsFile slots, ReadSafetensors(dir + "/optimizer.safetensors"));
  MLCORE_RETURN_IF_ERROR(opt->LoadState(slots.tensors, state.value("optimizer_steps", 0)));
  options->optimizer = opt;
  options->loss = state.value("loss", "cross_entropy");
  options->metrics = state.value("metrics", std::vector<std::string>{});
  options->loss_weights = state.value("loss_weights", std::vector<double>{});
  options->clip_grad_norm = state.value("clip_grad_norm", 0.0);
  options->on_non_finite =
      state.value("skip_non_finite", false) ? NonFinitePolicy::kSkipStep : NonFinitePolicy::kStop;
  if (state.contains("schedule")) {
    StatusOr<std::shared_ptr<optim::LRSchedule>> schedule =
        optim::ScheduleFromJson(state["schedule"].dump());
    if (!schedule.ok()) {
      return absl::DataLossError(dir + "/training_state.json: " + StatusText(schedule.status()));
    }
    options->schedule = *std::move(schedule);
  }
  *epoch = state.value("epoch", 0);
  return absl::OkStatus();
}

}  // namespace mlcore::nn::internal
