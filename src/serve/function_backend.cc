// The backend registry, the function backend (Python models, C++ lambdas) and the "sequence"
// ensemble, which runs served models one after the other through the manager.
#include "absl/strings/str_cat.h"
#include "mlcore/serve/backend.h"
#include "mlcore/serve/model_manager.h"

namespace mlcore::serve {

Registry<BackendFactory>& BackendRegistry() {
  static auto* registry = new Registry<BackendFactory>("serving backend");
  return *registry;
}

namespace {

class FunctionBackend : public Backend {
 public:
  FunctionBackend(Signature signature, ExecuteFunction fn, std::string platform)
      : signature_(std::move(signature)), fn_(std::move(fn)), platform_(std::move(platform)) {}
  const Signature& signature() const override { return signature_; }
  std::string platform() const override { return platform_; }
  StatusOr<std::vector<InferTensor>> Execute(const std::vector<InferTensor>& inputs) override {
    return fn_(inputs);
  }

 private:
  Signature signature_;
  ExecuteFunction fn_;
  std::string platform_;
};

// KServe's InferenceGraph "Sequence": each step's outputs feed the next step's inputs, by name
// where the next step names them alike, else by position when the counts agree.
class SequenceBackend : public Backend {
 public:
  SequenceBackend(ModelManager* manager, std::vector<std::string> steps, Signature signature)
      : manager_(manager), steps_(std::move(steps)), signature_(std::move(signature)) {}

  const Signature& signature() const override { return signature_; }
  std::string platform() const override { return "ensemble"; }

  StatusOr<std::vector<InferTensor>> Execute(const std::vector<InferTensor>& inputs) override {
    std::vector<InferTensor> current = inputs;
    for (const std::string& step : steps_) {
      MLCORE_ASSIGN_OR_RETURN(ModelMetadata meta, manager_->Metadata(step));
      InferRequest request;
      request.model_name = step;
      bool by_name = true;
      for (const TensorInfo& info : meta.inputs) {
        bool found = false;
        for (const InferTensor& t : current) found = found || t.name == info.name;
        by_name = by_name && found;
      }
      if (!by_name && meta.inputs.size() != current.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence step '", step, "' takes ", meta.inputs.size(),
                         " inputs, the step before gives ", current.size()));
      }
      for (size_t i = 0; i < current.size(); ++i) {
        if (!by_name) current[i].name = meta.inputs[i].name;
        current[i].binary = false;
        request.inputs.push_back(std::move(current[i]));
      }
      MLCORE_ASSIGN_OR_RETURN(InferResponse response, manager_->Infer(request));
      current = std::move(response.outputs);
    }
    return current;
  }

 private:
  ModelManager* manager_;
  std::vector<std::string> steps_;
  Signature signature_;
};

StatusOr<std::unique_ptr<Backend>> NewSequenceBackend(const BackendContext& context) {
  if (context.manager == nullptr) {
    return absl::FailedPreconditionError("a sequence model needs a model manager");
  }
  const std::vector<std::string>& steps = context.config.steps;
  if (steps.empty()) return absl::InvalidArgumentError("a sequence model needs 'steps'");
  for (const std::string& step : steps) {
    if (step == context.model_name) {
      return absl::InvalidArgumentError(absl::StrCat("sequence '", step, "' names itself"));
    }
  }
  MLCORE_ASSIGN_OR_RETURN(ModelMetadata first, context.manager->Metadata(steps.front()));
  MLCORE_ASSIGN_OR_RETURN(ModelMetadata last, context.manager->Metadata(steps.back()));
  Signature signature{first.inputs, last.outputs};
  return std::unique_ptr<Backend>(
      new SequenceBackend(context.manager, steps, std::move(signature)));
}

Registrar<BackendFactory> sequence_registration(BackendRegistry(), "sequence", &NewSequenceBackend);

}  // namespace

std::unique_ptr<Backend> MakeFunctionBackend(Signature signature, ExecuteFunction fn,
                                             std::string platform) {
  return std::make_unique<FunctionBackend>(std::move(signature), std::move(fn),
                                           std::move(platform));
}

}  // namespace mlcore::serve
