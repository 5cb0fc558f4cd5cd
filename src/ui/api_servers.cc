// The model servers and resources pages' data: servers that recorded themselves in this home
// (with request rate and latency from their last two heartbeats), devices and what holds them.
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "mlcore/core/cuda.h"
#include "serve/server_record.h"
#include "ui/stores.h"

namespace mlcore::ui {

namespace {

// A recorded server's row, as ServerStatus and ServerRow read it.
constexpr char kServerRows[] =
    "SELECT id, url, grpc_port, host, pid, started_at, heartbeat_at, stopped_at, snapshot FROM "
    "serve_servers ";

std::string HostName() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

// "running", "stopped", or "gone" (no Stop, no heartbeat for three intervals, or, on this host,
// no such process).
std::string ServerStatus(const store::Row& r, double now) {
  if (!Number(r[7]).is_null()) return "stopped";
  double beat = Number(r[6]).get<double>();
  if (now - beat > 3 * serve::kServerHeartbeatSeconds) return "gone";
  if (Text(r[3]) == HostName() && ::kill(static_cast<pid_t>(Int(r[4])), 0) != 0 && errno == ESRCH) {
    return "gone";
  }
  return "running";
}

Json ModelRows(const Json& snapshot, int64_t grpc_port) {
  Json rows = Json::array();
  if (!snapshot.is_object() || !snapshot.contains("models")) return rows;
  double dt = 0;
  if (snapshot.contains("prev_sampled_at")) {
    dt = snapshot["sampled_at"].get<double>() - snapshot["prev_sampled_at"].get<double>();
  }
  for (const Json& m : snapshot["models"]) {
    Json row = m;
    row["protocol"] = grpc_port > 0 ? "v1, v2 (HTTP), v2 (gRPC)" : "v1, v2 (HTTP)";
    double requests = m.value("requests", 0.0), ns = m.value("latency_ns", 0.0);
    double rate = 0, latency_ms = requests > 0 ? ns / requests / 1e6 : 0;
    if (dt > 0 && m.contains("prev_requests")) {
      double dr = requests - m["prev_requests"].get<double>();
      double dns = ns - m.value("prev_latency_ns", 0.0);
      rate = dr / dt;
      if (dr > 0) latency_ms = dns / dr / 1e6;
    }
    row["request_rate"] = rate;
    row["latency_ms"] = latency_ms;
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

StatusOr<std::string> Dashboard::Servers() {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  Json out = {{"servers", Json::array()}};
  MLCORE_ASSIGN_OR_RETURN(
      auto rows, s->QueryTable("serve_servers",
                               absl::StrCat(kServerRows,
                                            "ORDER BY stopped_at IS NOT NULL, started_at DESC "
                                            "LIMIT 200")));
  const double now = internal::NowSeconds();
  for (const store::Row& r : rows) {
    out["servers"].push_back({{"id", Text(r[0])},
                              {"url", Text(r[1])},
                              {"grpc_port", Int(r[2])},
                              {"host", Text(r[3])},
                              {"pid", Int(r[4])},
                              {"started_at", Number(r[5])},
                              {"age_s", now - Number(r[5]).get<double>()},
                              {"heartbeat_at", Number(r[6])},
                              {"stopped_at", Number(r[7])},
                              {"status", ServerStatus(r, now)},
                              {"models", ModelRows(ParseJson(Text(r[8])), Int(r[2]))}});
  }
  return out.dump();
}

StatusOr<std::string> Dashboard::Resources() {
  Json devices = Json::array();
  const int count = cuda::DeviceCount();
  for (int i = 0; i < count; ++i) {
    StatusOr<cuda::DeviceProperties> p = cuda::GetDeviceProperties(i);
    if (!p.ok()) continue;
    devices.push_back({{"index", i},
                       {"name", p->name},
                       {"memory_total", p->total_memory},
                       {"memory_free", p->free_memory},
                       {"memory_used", p->total_memory - p->free_memory}});
  }
  Json out = {{"gpus", devices},
              {"gpu_reason", count > 0 ? "" : cuda::UnavailableReason()},
              {"cpu_slots", std::max(1u, std::thread::hardware_concurrency())},
              {"holders", Json::array()}};
  std::lock_guard lock(mu_);
  StatusOr<Stores*> opened = OpenStores();
  if (!opened.ok()) {
    out["store_error"] = std::string(opened.status().message());
    return out.dump();
  }
  Stores* s = *opened;
  {
    MLCORE_ASSIGN_OR_RETURN(
        auto rows,
        s->QueryTable(
            "hpo_trials",
            "SELECT s.name, t.number, t.started_at, (SELECT value FROM hpo_trial_user_attrs a "
            "WHERE a.trial_id = t.trial_id AND a.key = 'cuda_visible_devices') FROM "
            "hpo_trials t JOIN hpo_studies s ON s.study_id = t.study_id WHERE t.state = "
            "'running' ORDER BY t.started_at LIMIT 500"));
    for (const store::Row& r : rows) {
      Json gpus = ParseJson(Text(r[3]));
      out["holders"].push_back({{"kind", "trial"},
                                {"name", absl::StrCat(Text(r[0]), " #", Int(r[1]))},
                                {"device", gpus.is_string() && !gpus.get<std::string>().empty()
                                               ? absl::StrCat("cuda:", gpus.get<std::string>())
                                               : "cpu"},
                                {"since", Number(r[2])}});
    }
  }
  {
    MLCORE_ASSIGN_OR_RETURN(
        auto rows, s->QueryTable("pipeline_tasks",
                                 "SELECT run_id, name, started_at FROM pipeline_tasks WHERE "
                                 "state = 'running' ORDER BY started_at LIMIT 500"));
    for (const store::Row& r : rows) {
      out["holders"].push_back({{"kind", "task"},
                                {"name", absl::StrCat(Text(r[0]), "/", Text(r[1]))},
                                {"device", "cpu"},
                                {"since", Number(r[2])}});
    }
  }
  {
    const double now = internal::NowSeconds();
    MLCORE_ASSIGN_OR_RETURN(
        auto rows,
        s->QueryTable("serve_servers", absl::StrCat(kServerRows, "WHERE stopped_at IS NULL")));
    for (const store::Row& r : rows) {
      if (ServerStatus(r, now) != "running") continue;
      Json snapshot = ParseJson(Text(r[8]));
      if (!snapshot.is_object() || !snapshot.contains("models")) continue;
      for (const Json& m : snapshot["models"]) {
        out["holders"].push_back(
            {{"kind", "model instance"},
             {"name", absl::StrCat(m.value("name", ""), "/", m.value("version", ""), " x",
                                   m.value("instances", 1), " @ ", Text(r[1]))},
             {"device", m.value("device", "cpu")},
             {"since", Number(r[5])}});
      }
    }
  }
  int64_t on_cpu = 0;
  for (const Json& h : out["holders"]) on_cpu += h["device"] == "cpu" ? 1 : 0;
  out["cpu_slots_held"] = on_cpu;  // each running trial, task or instance on the CPU holds one
  return out.dump();
}

}  // namespace mlcore::ui
