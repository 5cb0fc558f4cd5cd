// Statistics and Prometheus text for one served model version.
#include "serve/stats.h"

#include <chrono>

#include "absl/strings/str_cat.h"

namespace mlcore::serve::internal {
namespace {

uint64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Add(DurationStat& stat, uint64_t ns) {
  ++stat.count;
  stat.ns += ns;
}

std::string Number(double v) { return absl::StrCat(v); }

}  // namespace

std::string EscapeLabel(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

template <size_t N>
void AppendHistogram(const std::string& family, const std::string& labels, const Histogram<N>& h,
                     std::string* out) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < N; ++i) {
    cumulative += h.counts[i];
    absl::StrAppend(out, family, "_bucket{", labels, ",le=\"", Number((*h.bounds)[i]), "\"} ",
                    cumulative, "\n");
  }
  absl::StrAppend(out, family, "_bucket{", labels, ",le=\"+Inf\"} ", h.count, "\n");
  absl::StrAppend(out, family, "_sum{", labels, "} ", Number(h.sum), "\n");
  absl::StrAppend(out, family, "_count{", labels, "} ", h.count, "\n");
}

const std::map<std::string, std::string>& MetricHeaders() {
  static const auto* headers = new std::map<std::string, std::string>{
      {"mlcore_serve_inference_requests_total",
       "# HELP mlcore_serve_inference_requests_total Inference requests answered, by model, "
       "version and outcome.\n# TYPE mlcore_serve_inference_requests_total counter\n"},
      {"mlcore_serve_request_duration_seconds",
       "# HELP mlcore_serve_request_duration_seconds Time from a request's arrival at the model "
       "to its answer.\n# TYPE mlcore_serve_request_duration_seconds histogram\n"},
      {"mlcore_serve_queue_duration_seconds",
       "# HELP mlcore_serve_queue_duration_seconds Time a request waited in its model's "
       "queue.\n# TYPE mlcore_serve_queue_duration_seconds histogram\n"},
      {"mlcore_serve_batch_size",
       "# HELP mlcore_serve_batch_size Rows per backend execution.\n"
       "# TYPE mlcore_serve_batch_size histogram\n"},
      {"mlcore_serve_model_state",
       "# HELP mlcore_serve_model_state 1 for the state each model version is in.\n"
       "# TYPE mlcore_serve_model_state gauge\n"},
      {"mlcore_serve_device_memory_bytes",
       "# HELP mlcore_serve_device_memory_bytes Device memory held by a model version's "
       "instances.\n# TYPE mlcore_serve_device_memory_bytes gauge\n"},
      {"mlcore_serve_responses_total",
       "# HELP mlcore_serve_responses_total Responses of the network front ends, by protocol "
       "and status code.\n# TYPE mlcore_serve_responses_total counter\n"},
  };
  return *headers;
}

VersionStats::VersionStats(std::string name, std::string version) {
  stats_.name = std::move(name);
  stats_.version = std::move(version);
}

void VersionStats::RecordRequest(bool ok, uint64_t queue_ns, uint64_t total_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.last_inference_ms = NowMs();
  if (ok) {
    ++stats_.inference_count;
    Add(stats_.success, total_ns);
  } else {
    Add(stats_.fail, total_ns);
  }
  Add(stats_.queue, queue_ns);
  latency_.Add(total_ns * 1e-9);
  queue_.Add(queue_ns * 1e-9);
}

void VersionStats::RecordExecution(int64_t batch, uint64_t input_ns, uint64_t infer_ns,
                                   uint64_t output_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.execution_count;
  Add(stats_.compute_input, input_ns);
  Add(stats_.compute_infer, infer_ns);
  Add(stats_.compute_output, output_ns);
  Add(batches_[batch], input_ns + infer_ns + output_ns);
  batch_sizes_.Add(static_cast<double>(batch));
}

ModelStatistics VersionStats::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  ModelStatistics out = stats_;
  for (const auto& [size, stat] : batches_) out.batch_stats.push_back({size, stat});
  return out;
}

void VersionStats::AppendPrometheus(std::map<std::string, std::string>* families) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string labels = absl::StrCat("model=\"", EscapeLabel(stats_.name), "\",version=\"",
                                    EscapeLabel(stats_.version), "\"");
  std::string& requests = (*families)["mlcore_serve_inference_requests_total"];
  absl::StrAppend(&requests, "mlcore_serve_inference_requests_total{", labels,
                  ",outcome=\"success\"} ", stats_.success.count, "\n");
  absl::StrAppend(&requests, "mlcore_serve_inference_requests_total{", labels,
                  ",outcome=\"failure\"} ", stats_.fail.count, "\n");
  AppendHistogram("mlcore_serve_request_duration_seconds", labels, latency_,
                  &(*families)["mlcore_serve_request_duration_seconds"]);
  AppendHistogram("mlcore_serve_queue_duration_seconds", labels, queue_,
                  &(*families)["mlcore_serve_queue_duration_seconds"]);
  AppendHistogram("mlcore_serve_batch_size", labels, batch_sizes_,
                  &(*families)["mlcore_serve_batch_size"]);
}

template void AppendHistogram(const std::string&, const std::string&,
                              const Histogram<kSecondsBounds.size()>&, std::string*);

}  // namespace mlcore::serve::internal
