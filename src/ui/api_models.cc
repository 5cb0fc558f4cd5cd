// The models page's data: the registry's models, versions, aliases, metrics and lineage, and
// promoting an alias (only with the dashboard's token).
#include "absl/strings/str_cat.h"
#include "core/json_nlohmann.h"
#include "serve/http_router.h"
#include "ui/stores.h"

namespace mlcore::ui {

namespace {

double Seconds(absl::Time t) {
  return t == absl::InfinitePast() ? 0 : absl::ToDoubleSeconds(t - absl::UnixEpoch());
}

// The registry, opened on first use once its tables exist; null when the home has none.
StatusOr<registry::ModelRegistry*> Registry(Dashboard::Stores* s, const std::string& home,
                                            absl::Duration busy_timeout) {
  if (s->registry != nullptr) return s->registry.get();
  MLCORE_ASSIGN_OR_RETURN(bool has, s->HasTable("registry_models"));
  if (!has) return nullptr;
  registry::ModelRegistryOptions options;
  options.home = home;
  options.busy_timeout = busy_timeout;
  StatusOr<std::unique_ptr<registry::ModelRegistry>> opened =
      registry::ModelRegistry::Open(options);
  if (!opened.ok()) return internal::Friendly(opened.status());
  s->registry = *std::move(opened);
  return s->registry.get();
}

Json VersionJson(const registry::ModelVersion& v) {
  return {{"version", v.version},
          {"digest", v.digest},
          {"size", v.size},
          {"source", v.source},
          {"metrics", ToNlohmann(v.metrics)},
          {"tags", ToNlohmann(v.tags)},
          {"lineage", ToNlohmann(v.lineage.ToJson())},
          {"description", v.description},
          {"aliases", v.aliases},
          {"created_at", Seconds(v.created_at)}};
}

}  // namespace

StatusOr<std::string> Dashboard::Models() {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  Json out = {{"models", Json::array()}};
  MLCORE_ASSIGN_OR_RETURN(registry::ModelRegistry * r, Registry(s, s->home, options_.busy_timeout));
  if (r == nullptr) return out.dump();
  StatusOr<std::vector<registry::RegisteredModel>> models = r->ListModels();
  if (!models.ok()) return internal::Friendly(models.status());
  for (const registry::RegisteredModel& m : *models) {
    Json latest = nullptr;
    if (m.latest_version > 0) {
      if (auto v = r->Resolve(absl::StrCat(m.name, "/", m.latest_version)); v.ok()) {
        latest = VersionJson(*v);
      }
    }
    out["models"].push_back({{"name", m.name},
                             {"latest_version", m.latest_version},
                             {"version_count", m.version_count},
                             {"aliases", m.aliases},
                             {"created_at", Seconds(m.created_at)},
                             {"latest", latest}});
  }
  return out.dump();
}

StatusOr<std::string> Dashboard::Model(const std::string& name) {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  MLCORE_ASSIGN_OR_RETURN(registry::ModelRegistry * r, Registry(s, s->home, options_.busy_timeout));
  if (r == nullptr) return absl::NotFoundError(absl::StrCat("no registered model '", name, "'"));
  StatusOr<registry::RegisteredModel> model = r->GetModel(name);
  if (!model.ok()) return internal::Friendly(model.status());
  StatusOr<std::vector<registry::ModelVersion>> versions = r->ListVersions(name);
  if (!versions.ok()) return internal::Friendly(versions.status());
  Json list = Json::array();
  for (const registry::ModelVersion& v : *versions) list.push_back(VersionJson(v));
  Json out = {{"name", model->name},
              {"latest_version", model->latest_version},
              {"aliases", model->aliases},
              {"created_at", Seconds(model->created_at)},
              {"versions", list}};
  return out.dump();
}

Status Dashboard::PromoteAlias(const std::string& token, const std::string& model,
                               const std::string& alias, int64_t version) {
  if (options_.token.empty()) {
    return absl::PermissionDeniedError(
        "this dashboard is read-only: start it with a token to change aliases");
  }
  if (!serve::internal::BearerTokenMatches("Bearer " + token, options_.token)) {
    return absl::PermissionDeniedError("wrong token");
  }
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  MLCORE_ASSIGN_OR_RETURN(registry::ModelRegistry * r, Registry(s, s->home, options_.busy_timeout));
  if (r == nullptr) return absl::NotFoundError(absl::StrCat("no registered model '", model, "'"));
  return internal::Friendly(r->SetAlias(model, alias, version));
}

}  // namespace mlcore::ui
