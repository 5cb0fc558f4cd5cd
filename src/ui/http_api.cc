// The dashboard's JSON endpoints, by path (docs/dashboard.md lists them).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "ui/http_util.h"

namespace mlcore::ui::internal {
namespace {

using Json = nlohmann::json;

HttpReply NoEndpoint(const HttpRequest& request) {
  return ErrorJson(absl::NotFoundError(absl::StrCat(
      "no endpoint ", request.method, " ", request.target.substr(0, request.target.find('?')))));
}

// Reads an integer path segment; InvalidArgument naming `what` otherwise.
StatusOr<int64_t> IntSegment(const std::string& text, const char* what) {
  int64_t v;
  if (!absl::SimpleAtoi(text, &v)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be an integer, not '", text, "'"));
  }
  return v;
}

// A log's text, or the error as JSON.
HttpReply TextReply(const StatusOr<std::string>& text) {
  HttpReply r = FromResult(text);
  if (r.status == 200) r.content_type = "text/plain; charset=utf-8";
  return r;
}

HttpReply Runs(Dashboard& d, const HttpRequest& request, const Parsed& p) {
  const auto& parts = p.parts;
  if (parts.size() == 2) {
    RunQuery q;
    q.state = Param(p, "state");
    q.experiment = Param(p, "experiment");
    q.pipeline = Param(p, "pipeline");
    auto min = DoubleParam(p, "min_duration", -1);
    auto max = DoubleParam(p, "max_duration", -1);
    auto offset = IntParam(p, "offset", 0);
    auto limit = IntParam(p, "limit", 50);
    for (const Status& s : {min.status(), max.status(), offset.status(), limit.status()}) {
      if (!s.ok()) return ErrorJson(s);
    }
    q.min_duration_s = *min;
    q.max_duration_s = *max;
    q.offset = *offset;
    q.limit = *limit;
    return FromResult(d.Runs(q));
  }
  const std::string& id = parts[2];
  if (parts.size() == 3) return FromResult(d.Run(id));
  if (parts.size() == 4 && parts[3] == "dag") {
    HttpReply r = FromResult(d.RunDag(id));
    if (r.status == 200) r.content_type = "image/svg+xml";
    return r;
  }
  // /api/runs/<id>/tasks/<task>/logs/<stream>
  if (parts.size() == 7 && parts[3] == "tasks" && parts[5] == "logs") {
    return TextReply(d.TaskLog(id, parts[4], parts[6]));
  }
  return NoEndpoint(request);
}

HttpReply Artifacts(Dashboard& d, const HttpRequest& request, const Parsed& p) {
  const auto& parts = p.parts;
  if (parts.size() == 2) {
    auto offset = IntParam(p, "offset", 0);
    auto limit = IntParam(p, "limit", 50);
    if (!offset.ok()) return ErrorJson(offset.status());
    if (!limit.ok()) return ErrorJson(limit.status());
    return FromResult(d.Artifacts(*offset, *limit));
  }
  StatusOr<int64_t> id = IntSegment(parts[2], "an artifact id");
  if (!id.ok()) return ErrorJson(id.status());
  if (parts.size() == 3) return FromResult(d.Artifact(*id));
  if (parts.size() == 4 && parts[3] == "download") {
    std::string name;
    StatusOr<std::string> bytes = d.ArtifactBytes(*id, Param(p, "path"), &name);
    if (!bytes.ok()) return ErrorJson(bytes.status());
    HttpReply r = JsonReply(200, *std::move(bytes));
    r.content_type = "application/octet-stream";
    std::string safe;
    for (char c : name)
      safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')
                  ? c
                  : '_';
    r.headers.emplace_back(
        "Content-Disposition",
        absl::StrCat("attachment; filename=\"", safe.empty() ? "artifact" : safe, "\""));
    return r;
  }
  return NoEndpoint(request);
}

HttpReply Studies(Dashboard& d, const HttpRequest& request, const Parsed& p) {
  const auto& parts = p.parts;
  if (parts.size() == 2) return FromResult(d.Studies());
  const std::string& study = parts[2];
  if (parts.size() == 4 && parts[3] == "plots") return FromResult(d.StudyPlots(study));
  if (parts.size() == 4 && parts[3] == "trials") {
    TrialQuery q;
    q.state = Param(p, "state");
    if (!Param(p, "sort").empty()) q.sort = Param(p, "sort");
    q.descending = Param(p, "order") == "desc";
    auto offset = IntParam(p, "offset", 0);
    auto limit = IntParam(p, "limit", 50);
    if (!offset.ok()) return ErrorJson(offset.status());
    if (!limit.ok()) return ErrorJson(limit.status());
    q.offset = *offset;
    q.limit = *limit;
    return FromResult(d.Trials(study, q));
  }
  if (parts.size() == 5 && parts[3] == "trials") {
    StatusOr<int64_t> number = IntSegment(parts[4], "a trial number");
    if (!number.ok()) return ErrorJson(number.status());
    return FromResult(d.Trial(study, *number));
  }
  // /api/studies/<study>/trials/<n>/logs/<stream>?max_bytes=N
  if (parts.size() == 7 && parts[3] == "trials" && parts[5] == "logs") {
    StatusOr<int64_t> number = IntSegment(parts[4], "a trial number");
    if (!number.ok()) return ErrorJson(number.status());
    auto max_bytes = IntParam(p, "max_bytes", 1 << 20);
    if (!max_bytes.ok()) return ErrorJson(max_bytes.status());
    return TextReply(
        d.TrialLog(study, *number, parts[6], std::clamp<int64_t>(*max_bytes, 1, 16 << 20)));
  }
  return NoEndpoint(request);
}

HttpReply Models(Dashboard& d, const HttpRequest& request, const Parsed& p) {
  const auto& parts = p.parts;
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (parts.size() == 2 && get) return FromResult(d.Models());
  if (parts.size() == 3 && get) return FromResult(d.Model(parts[2]));
  // POST /api/models/<name>/aliases/<alias> {"version": N}, with the token.
  if (parts.size() == 5 && parts[3] == "aliases" && request.method == "POST") {
    Json body = Json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("version") || !body["version"].is_number_integer()) {
      return ErrorJson(absl::InvalidArgumentError("the body must be {\"version\": <integer>}"));
    }
    const std::string bearer = "Bearer ";
    std::string token = request.authorization.rfind(bearer, 0) == 0
                            ? request.authorization.substr(bearer.size())
                            : "";
    Status done = d.PromoteAlias(token, parts[2], parts[4], body["version"].get<int64_t>());
    if (!done.ok()) {
      if (absl::IsPermissionDenied(done) && token.empty() && !d.options().token.empty()) {
        return ErrorJson(
            absl::UnauthenticatedError("this call needs Authorization: Bearer <token>"));
      }
      return ErrorJson(done);
    }
    return FromResult(d.Model(parts[2]));
  }
  if (!get && parts.size() <= 3)
    return ErrorJson(absl::InvalidArgumentError("this endpoint takes GET"));
  return NoEndpoint(request);
}

}  // namespace

HttpReply RouteApi(Dashboard& d, const HttpRequest& request, const Parsed& p) {
  const auto& parts = p.parts;
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (parts.size() < 2) return NoEndpoint(request);
  const std::string& area = parts[1];
  if (area == "models") return Models(d, request, p);
  if (!get) return ErrorJson(absl::InvalidArgumentError("this endpoint takes GET"));
  if (area == "runs") return Runs(d, request, p);
  if (area == "artifacts") return Artifacts(d, request, p);
  if (area == "studies") return Studies(d, request, p);
  if (area == "schedules" && parts.size() == 2) return FromResult(d.Schedules());
  if (area == "servers" && parts.size() == 2) return FromResult(d.Servers());
  if (area == "resources" && parts.size() == 2) return FromResult(d.Resources());
  if (area == "training" && parts.size() == 2) return FromResult(d.TrainingRuns());
  if (area == "training" && parts.size() == 3 && parts[2] == "curves") {
    auto after = IntParam(p, "after", -1);
    if (!after.ok()) return ErrorJson(after.status());
    return FromResult(d.TrainingCurves(Param(p, "name"), *after));
  }
  if (area == "info" && parts.size() == 2) {
    Json info = {{"home", d.home()},
                 {"read_only", d.options().token.empty()},
                 {"log_dirs", d.options().log_dirs}};
    return JsonReply(200, info.dump());
  }
  return NoEndpoint(request);
}

}  // namespace mlcore::ui::internal

namespace mlcore::ui {

serve::HttpMount MountDashboard(std::shared_ptr<Dashboard> dashboard, const std::string& prefix) {
  return serve::HttpMount{prefix, [dashboard, prefix](const HttpRequest& request) {
                            return dashboard->HandleHttp(request, prefix);
                          }};
}

Status MountDashboardOf(const std::string& home, serve::ServerOptions& options) {
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Dashboard> dashboard,
                          Dashboard::Open({.home = home, .token = options.auth_token}));
  options.http_mounts.push_back(MountDashboard(std::move(dashboard)));
  return absl::OkStatus();
}

}  // namespace mlcore::ui
