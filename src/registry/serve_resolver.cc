#include "mlcore/registry/serve_resolver.h"

#include <string>
#include <utility>

namespace mlcore::registry {
namespace {

class RegistryResolver : public serve::ModelResolver {
 public:
  explicit RegistryResolver(std::unique_ptr<ModelRegistry> registry)
      : registry_(std::move(registry)) {}

  StatusOr<serve::ResolvedModel> Resolve(const std::string& reference) override {
    // One read names the version (an alias moving meanwhile gives the old or the new one); its
    // files never change afterwards, so materialising outside that read is safe.
    MLCORE_ASSIGN_OR_RETURN(ModelVersion version, registry_->Resolve(reference));
    MLCORE_ASSIGN_OR_RETURN(std::string path, registry_->Materialize(version));
    serve::ResolvedModel resolved;
    resolved.version = version.version;
    resolved.path = std::move(path);
    if (version.tags.contains("backend") && version.tags["backend"].is_string()) {
      resolved.backend = version.tags["backend"].get<std::string>();
    }
    return resolved;
  }

 private:
  std::unique_ptr<ModelRegistry> registry_;
};

}  // namespace

StatusOr<std::shared_ptr<serve::ModelResolver>> MakeServeResolver(
    const ModelRegistryOptions& options) {
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<ModelRegistry> registry, ModelRegistry::Open(options));
  return std::shared_ptr<serve::ModelResolver>(
      std::make_shared<RegistryResolver>(std::move(registry)));
}

}  // namespace mlcore::registry
