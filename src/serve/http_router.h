// What each HTTP endpoint does, apart from the sockets: KServe V1, Open Inference Protocol V2
// (health, metadata, readiness, infer, repository, statistics), /metrics and bearer-token auth.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mlcore/serve/server.h"

namespace mlcore::serve::internal {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query
  std::string body;
  std::string authorization;   // the Authorization header
  int64_t header_length = -1;  // Inference-Header-Content-Length
};

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  int64_t header_length = -1;  // Inference-Header-Content-Length of a binary response
  std::vector<std::pair<std::string, std::string>> headers = {};  // extra headers (mounts)
};

using ReplyFunction = std::function<void(HttpReply)>;

// The HTTP status of an error: 400 bad input, 404 unknown, 413 too large, 503 not ready or
// overloaded, 401 unauthenticated, 500 otherwise.
int HttpStatusOf(const Status& status);
HttpReply ErrorReply(const Status& status);

// True when `given` is "Bearer <token>" for `token`, compared in time independent of where the
// two differ.
bool BearerTokenMatches(const std::string& given, const std::string& token);

class Router {
 public:
  Router(ModelManager& models, const ServerOptions& options) : models_(models), options_(options) {}
  // Answers `request` through `reply`, at once or later from a model worker (inference).
  void Handle(HttpRequest request, ReplyFunction reply);

 private:
  void HandleModel(HttpRequest& request, const std::vector<std::string>& parts,
                   ReplyFunction& reply);
  void HandleV1(HttpRequest& request, const std::vector<std::string>& parts, ReplyFunction& reply);
  void HandleRepository(HttpRequest& request, const std::vector<std::string>& parts,
                        ReplyFunction& reply);
  void Infer(HttpRequest& request, const std::string& model, const std::string& version,
             ReplyFunction& reply);

  ModelManager& models_;
  const ServerOptions& options_;
};

}  // namespace mlcore::serve::internal
