// Per-version counters and histograms behind the statistics endpoint and /metrics.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "mlcore/serve/model_manager.h"

namespace mlcore::serve::internal {

// Cumulative buckets as Prometheus counts them; `bounds` are the upper edges.
template <size_t N>
struct Histogram {
  const std::array<double, N>* bounds;
  std::array<uint64_t, N> counts{};  // per bucket, not cumulative (cumulated when written)
  uint64_t count = 0;
  double sum = 0;
  void Add(double value) {
    ++count;
    sum += value;
    for (size_t i = 0; i < N; ++i) {
      if (value <= (*bounds)[i]) {
        ++counts[i];
        return;
      }
    }
  }
};

inline constexpr std::array<double, 14> kSecondsBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};
inline constexpr std::array<double, 10> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

class VersionStats {
 public:
  VersionStats(std::string name, std::string version);
  // One request answered: `ok`, its time in the queue and from arrival to answer (ns).
  void RecordRequest(bool ok, uint64_t queue_ns, uint64_t total_ns);
  // One backend execution of `batch` rows: input assembly, compute, output split (ns).
  void RecordExecution(int64_t batch, uint64_t input_ns, uint64_t infer_ns, uint64_t output_ns);
  ModelStatistics Snapshot() const;
  // Appends this version's samples of each family to `families` (family name -> sample lines).
  void AppendPrometheus(std::map<std::string, std::string>* families) const;

 private:
  mutable std::mutex mu_;
  ModelStatistics stats_;
  std::map<int64_t, DurationStat> batches_;
  Histogram<kSecondsBounds.size()> latency_{&kSecondsBounds};
  Histogram<kSecondsBounds.size()> queue_{&kSecondsBounds};
  Histogram<kBatchBounds.size()> batch_sizes_{&kBatchBounds};
};

// The "# HELP"/"# TYPE" header of each metric family this module writes, by family name.
const std::map<std::string, std::string>& MetricHeaders();
// Writes a histogram's _bucket/_sum/_count lines with `labels` (`a="b",c="d"`).
template <size_t N>
void AppendHistogram(const std::string& family, const std::string& labels, const Histogram<N>& h,
                     std::string* out);
// Label value escaping (backslash, quote, newline).
std::string EscapeLabel(const std::string& value);

}  // namespace mlcore::serve::internal
