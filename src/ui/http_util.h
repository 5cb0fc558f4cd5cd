// What the dashboard's HTTP side shares: a parsed target, replies, and query parameters.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "mlcore/ui/dashboard.h"

namespace mlcore::ui::internal {

struct Parsed {
  std::vector<std::string> parts;  // decoded path segments after the prefix
  std::map<std::string, std::string> query;
};

// JSON replies carry the dashboard's security headers; errors are {"error", "code"} with the
// status's HTTP code (a missing, damaged or busy store is 503).
HttpReply JsonReply(int status, std::string body);
HttpReply ErrorJson(const Status& status);
HttpReply FromResult(const StatusOr<std::string>& result);

StatusOr<int64_t> IntParam(const Parsed& p, const std::string& key, int64_t fallback);
StatusOr<double> DoubleParam(const Parsed& p, const std::string& key, double fallback);
std::string Param(const Parsed& p, const std::string& key);

// The /api/... endpoints; `parts` starts with "api".
HttpReply RouteApi(Dashboard& dashboard, const HttpRequest& request, const Parsed& parsed);

}  // namespace mlcore::ui::internal
