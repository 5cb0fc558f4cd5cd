// The HTTP endpoints, by path.
#include "serve/http_router.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "mlcore/core/build_info.h"
#include "serve/http_codec.h"
#include "serve/repository.h"

namespace mlcore::serve::internal {
namespace {

HttpReply Json(int status, std::string body) { return HttpReply{status, std::move(body)}; }

HttpReply NoEndpoint() { return Json(404, EncodeError("no such endpoint")); }

// Path segments of `target` (query dropped); InvalidArgument for "." or ".." segments, which
// could only be an attempt to name something outside the models.
StatusOr<std::vector<std::string>> Segments(const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  std::vector<std::string> parts;
  for (absl::string_view piece : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (piece == "." || piece == ".." || piece.find('%') != absl::string_view::npos) {
      return absl::InvalidArgumentError("path segments may not be '.', '..' or %-encoded");
    }
    parts.emplace_back(piece);
  }
  return parts;
}

}  // namespace

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kOutOfRange:
      return 413;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
      return 503;
    default:
      return 500;
  }
}

HttpReply ErrorReply(const Status& status) {
  return Json(HttpStatusOf(status), EncodeError(std::string(status.message())));
}

bool BearerTokenMatches(const std::string& given, const std::string& token) {
  const std::string expected = "Bearer " + token;
  // Every byte of the expected text is compared whatever the given length, so the time taken
  // says nothing about how much of a guess was right.
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= g ^ static_cast<unsigned char>(expected[i]);
  }
  return diff == 0;
}

namespace {

// The mount whose prefix `target`'s path starts with (at a segment boundary), or null.
const HttpMount* FindMount(const std::vector<HttpMount>& mounts, const std::string& target) {
  for (const HttpMount& mount : mounts) {
    const std::string& p = mount.prefix;
    if (target.compare(0, p.size(), p) != 0) continue;
    if (target.size() == p.size() || target[p.size()] == '/' || target[p.size()] == '?') {
      return &mount;
    }
  }
  return nullptr;
}

}  // namespace

void Router::Handle(HttpRequest request, ReplyFunction reply) {
  if (const HttpMount* mount = FindMount(options_.http_mounts, request.target)) {
    HttpMountReply r = mount->handler(HttpMountRequest{
        request.method, request.target, std::move(request.body), request.authorization});
    HttpReply out{r.status, std::move(r.body), std::move(r.content_type)};
    out.headers = std::move(r.headers);
    return reply(std::move(out));
  }
  StatusOr<std::vector<std::string>> segments = Segments(request.target);
  if (!segments.ok()) return reply(ErrorReply(segments.status()));
  const std::vector<std::string>& parts = *segments;
  const bool get = request.method == "GET" || request.method == "HEAD";
  // Health needs no token: probes (kubelet, load balancers) carry none.
  if (get && (parts.empty() || (parts.size() == 3 && parts[0] == "v2" && parts[1] == "health"))) {
    if (parts.empty()) return reply(Json(200, R"({"status":"alive"})"));
    if (parts[2] == "live") {
      bool live = models_.IsLive();
      return reply(
          Json(live ? 200 : 503, absl::StrCat("{\"live\":", live ? "true" : "false", "}")));
    }
    if (parts[2] == "ready") {
      bool ready = models_.IsReady();
      return reply(
          Json(ready ? 200 : 503, absl::StrCat("{\"ready\":", ready ? "true" : "false", "}")));
    }
    return reply(NoEndpoint());
  }
  if (!options_.auth_token.empty() &&
      !BearerTokenMatches(request.authorization, options_.auth_token)) {
    return reply(Json(401, EncodeError("missing or wrong bearer token")));
  }
  if (parts.size() == 1 && parts[0] == "metrics" && get) {
    HttpReply metrics{200, models_.PrometheusMetrics(), "text/plain; version=0.0.4"};
    return reply(std::move(metrics));
  }
  if (!parts.empty() && parts[0] == "v1") return HandleV1(request, parts, reply);
  if (parts.empty() || parts[0] != "v2") return reply(NoEndpoint());
  if (parts.size() == 1 && get) {
    nlohmann::json doc = {
        {"name", "mlcore"},
        {"version", GetBuildInfo().version},
        {"extensions",
         {"binary_tensor_data", "model_repository", "statistics", "schedule_policy"}}};
    return reply(Json(200, doc.dump()));
  }
  if (parts.size() >= 2 && parts[1] == "repository") {
    return HandleRepository(request, parts, reply);
  }
  if (parts.size() == 3 && parts[1] == "models" && parts[2] == "stats" && get) {
    auto stats = models_.Statistics();
    return reply(stats.ok() ? Json(200, EncodeStatistics(*stats)) : ErrorReply(stats.status()));
  }
  if (parts.size() >= 3 && parts[1] == "models") return HandleModel(request, parts, reply);
  reply(NoEndpoint());
}

void Router::HandleModel(HttpRequest& request, const std::vector<std::string>& parts,
                         ReplyFunction& reply) {
  // /v2/models/{m}[/versions/{v}][/ready|/infer|/stats|/config]
  const std::string& model = parts[2];
  std::string version;
  size_t next = 3;
  if (parts.size() >= 5 && parts[3] == "versions") {
    version = parts[4];
    next = 5;
  }
  std::string action = parts.size() > next ? parts[next] : "";
  if (parts.size() > next + 1 || (parts.size() == 4 && parts[3] == "versions")) {
    return reply(NoEndpoint());
  }
  if (Status name = CheckModelName(model); !name.ok()) return reply(ErrorReply(name));
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (action == "infer") {
    if (request.method != "POST") return reply(Json(405, EncodeError("infer takes POST")));
    return Infer(request, model, version, reply);
  }
  if (!get) return reply(Json(405, EncodeError("this endpoint takes GET")));
  if (action.empty()) {
    auto meta = models_.Metadata(model, version);
    return reply(meta.ok() ? Json(200, EncodeV2Metadata(*meta)) : ErrorReply(meta.status()));
  }
  if (action == "ready") {
    if (models_.IsModelReady(model, version)) return reply(Json(200, R"({"ready":true})"));
    auto meta = models_.Config(model);
    if (!meta.ok()) return reply(ErrorReply(meta.status()));
    return reply(Json(503, R"({"ready":false})"));
  }
  if (action == "stats") {
    auto stats = models_.Statistics(model, version);
    return reply(stats.ok() ? Json(200, EncodeStatistics(*stats)) : ErrorReply(stats.status()));
  }
  if (action == "config") {
    auto config = models_.Config(model);
    if (!config.ok()) return reply(ErrorReply(config.status()));
    nlohmann::json doc = nlohmann::json::parse(config->ToJson());
    doc["name"] = model;
    return reply(Json(200, doc.dump()));
  }
  reply(NoEndpoint());
}

void Router::Infer(HttpRequest& request, const std::string& model, const std::string& version,
                   ReplyFunction& reply) {
  StatusOr<InferRequest> parsed = ParseV2InferRequest(request.body, request.header_length);
  if (!parsed.ok()) return reply(ErrorReply(parsed.status()));
  parsed->model_name = model;
  parsed->model_version = version;
  models_.AsyncInfer(*std::move(parsed), [reply](StatusOr<InferResponse> response) {
    if (!response.ok()) return reply(ErrorReply(response.status()));
    HttpReply out;
    StatusOr<std::string> body = EncodeV2InferResponse(*response, &out.header_length);
    if (!body.ok()) return reply(ErrorReply(body.status()));
    out.body = *std::move(body);
    if (out.header_length >= 0) out.content_type = "application/octet-stream";
    reply(std::move(out));
  });
}

void Router::HandleV1(HttpRequest& request, const std::vector<std::string>& parts,
                      ReplyFunction& reply) {
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (parts.size() == 2 && parts[1] == "models" && get) {
    nlohmann::json names = nlohmann::json::array();
    for (const RepositoryEntry& e : models_.RepositoryIndex()) {
      if (e.state == ModelState::kReady && (names.empty() || names.back() != e.name)) {
        names.push_back(e.name);
      }
    }
    return reply(Json(200, nlohmann::json{{"models", names}}.dump()));
  }
  if (parts.size() != 3 || parts[1] != "models") return reply(NoEndpoint());
  std::string model = parts[2];
  const std::string suffix = ":predict";
  bool predict = model.size() > suffix.size() &&
                 model.compare(model.size() - suffix.size(), suffix.size(), suffix) == 0;
  if (predict) model.resize(model.size() - suffix.size());
  if (Status name = CheckModelName(model); !name.ok()) return reply(ErrorReply(name));
  if (!predict) {
    if (!get) return reply(Json(405, EncodeError("this endpoint takes GET")));
    auto config = models_.Config(model);
    if (!config.ok()) return reply(ErrorReply(config.status()));
    bool ready = models_.IsModelReady(model);
    nlohmann::json doc = {{"name", model}, {"ready", ready}};
    return reply(Json(200, doc.dump()));
  }
  if (request.method != "POST") return reply(Json(405, EncodeError("predict takes POST")));
  auto meta = models_.Metadata(model);
  if (!meta.ok()) return reply(ErrorReply(meta.status()));
  StatusOr<InferRequest> parsed = ParseV1PredictRequest(request.body, *meta);
  if (!parsed.ok()) return reply(ErrorReply(parsed.status()));
  parsed->model_name = model;
  models_.AsyncInfer(*std::move(parsed), [reply](StatusOr<InferResponse> response) {
    if (!response.ok()) return reply(ErrorReply(response.status()));
    StatusOr<std::string> body = EncodeV1PredictResponse(*response);
    reply(body.ok() ? Json(200, *std::move(body)) : ErrorReply(body.status()));
  });
}

void Router::HandleRepository(HttpRequest& request, const std::vector<std::string>& parts,
                              ReplyFunction& reply) {
  if (request.method != "POST") return reply(Json(405, EncodeError("repository calls take POST")));
  if (parts.size() == 3 && parts[2] == "index") {
    return reply(Json(200, EncodeRepositoryIndex(models_.RepositoryIndex())));
  }
  if (parts.size() == 5 && parts[2] == "models" && (parts[4] == "load" || parts[4] == "unload")) {
    Status done = parts[4] == "load" ? models_.LoadModel(parts[3]) : models_.UnloadModel(parts[3]);
    return reply(done.ok() ? Json(200, "{}") : ErrorReply(done));
  }
  reply(NoEndpoint());
}

}  // namespace mlcore::serve::internal
