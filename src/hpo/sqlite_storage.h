// Internal: the SQLite Storage (see storage.h for the contract). Studies in the SQLite metadata
// store (tables hpo_*, created by the "hpo" migrations). Every write is one statement or one BEGIN
// IMMEDIATE transaction, so several processes share a study safely: trial numbers come from
// MAX(number) + 1 inside the write lock and a UNIQUE constraint backs it up. Finished trials never
// change, so each process caches them and reads only the trials from the first unfinished one on. A
// trial costs three commits: its start, its parameters (one autocommit statement each) and its end
// with every buffered report; all statements are prepared once per storage.
//
// The class is split by concern: sqlite_storage.cc (opening, the schema, statements),
// sqlite_storage_studies.cc, sqlite_storage_trials.cc (trial writes), sqlite_storage_reads.cc
// (trial reads and the per-process cache) and sqlite_storage_rows.cc (column conversions).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "hpo/process_identity.h"
#include "mlcore/hpo/storage.h"
#include "mlcore/store/metadata_store.h"

namespace mlcore::hpo::internal {

using store::MetadataStore;
using store::Value;

// The "hpo" migrations: the hpo_* tables.
const std::vector<store::Migration>& HpoMigrations();

// Column conversions: times as seconds since the epoch (NULL for InfinitePast), numbers and
// text read leniently (NULL reads as NaN, 0 or ""), values as JSON.
double Seconds(absl::Time t);
absl::Time FromSeconds(const Value& v);
Value TimeValue(absl::Time t);
double AsDouble(const Value& v);
int64_t AsInt(const Value& v);
std::string AsText(const Value& v);
std::string FixedToJson(const ParamValue& v);
// DataLoss for text that is not a JSON boolean, number or string.
StatusOr<ParamValue> FixedFromJson(const std::string& text);
std::string DirectionsToJson(const std::vector<StudyDirection>& directions);
std::string ValuesToJson(const std::vector<double>& values);

// The row decoders both backends share. TrialFromRow: a trial from (trial_id, number, state,
// value, error, started_at, finished_at, objective_values); DataLoss naming `store` for values
// that are not a JSON array. AddParamRow: one (trial_id, name, value, distribution, fixed) row
// into its trial's params and distributions, with the storage's (caching) distribution parser.
using DistributionParser = std::function<StatusOr<Distribution>(const std::string&)>;
StatusOr<std::shared_ptr<FrozenTrial>> TrialFromRow(const store::Row& r, std::string_view store);
// A study from (study_id, name, direction, created_at, directions); DataLoss naming `store`.
StatusOr<StudyRecord> StudyFromRow(const store::Row& r, std::string_view store);
Status AddParamRow(FrozenTrial& trial, const store::Row& r, const DistributionParser& parse);

// The row writers both backends share. NewStudyValues: a new study's hpo_studies values (name,
// direction, created_at, directions) created at `now`; InvalidArgument without a direction.
StatusOr<std::vector<Value>> NewStudyValues(const std::string& name,
                                            const std::vector<StudyDirection>& directions,
                                            absl::Time now);
// NewTrialValues completes a trial about to be inserted (a running trial's start time, its
// single value as its values) and returns its hpo_trials values (state, value, error, owner,
// started_at, finished_at, objective_values); `owner` is stored for running trials only.
std::vector<Value> NewTrialValues(FrozenTrial& t, const std::string& owner);
// InsertTrialParams hands each param of `t` to `fixed(name, json)` when it has no distribution
// (a fixed value), else to `sampled(name, distribution, internal value)`.
using FixedParamWriter = std::function<Status(const std::string&, const std::string&)>;
using SampledParamWriter = std::function<Status(const std::string&, const Distribution&, double)>;
Status InsertTrialParams(const FrozenTrial& t, const FixedParamWriter& fixed,
                         const SampledParamWriter& sampled);
// A user attribute written to a trial that a storage's cache holds as finished (such trials are
// cached for good): the cached copy is replaced by one that carries it (copy on write).
void SetCachedUserAttr(std::vector<std::shared_ptr<const FrozenTrial>>& finished, int64_t trial_id,
                       const std::string& key, const std::string& json_value);

class SqliteStorage : public Storage {
 public:
  // `exclusive`: no one else writes through this connection, so PRAGMA data_version (which
  // changes only for other connections' commits) tells when this storage's view is stale.
  SqliteStorage(std::shared_ptr<MetadataStore> store, bool exclusive)
      : store_(std::move(store)), owner_(internal::ThisProcessOwner()), exclusive_(exclusive) {}

  StatusOr<StudyRecord> CreateStudy(const std::string& name,
                                    const std::vector<StudyDirection>& directions) override;

  StatusOr<StudyRecord> LoadStudy(const std::string& name) override;

  StatusOr<std::vector<StudyRecord>> ListStudies() override;

  Status DeleteStudy(const std::string& name) override;

  StatusOr<FrozenTrial> CreateTrial(int64_t study_id, const FrozenTrial& trial) override;

  StatusOr<std::optional<FrozenTrial>> PopWaitingTrial(int64_t study_id) override;

  Status SetParam(int64_t trial_id, const std::string& name, const Distribution& distribution,
                  double internal_value) override;

  Status ReportIntermediate(int64_t trial_id, int64_t step, double value) override;

  Status ReportIntermediates(int64_t trial_id,
                             const std::vector<std::pair<int64_t, double>>& values) override;

  StatusOr<FrozenTrial> StartTrial(int64_t study_id) override;

  Status FinishTrial(int64_t trial_id, TrialState state, const std::vector<double>& values,
                     const std::string& error,
                     const std::vector<std::pair<int64_t, double>>& reports) override;

  Status SetTrialUserAttr(int64_t trial_id, const std::string& key,
                          const std::string& json_value) override;

  Status SetStudySystemAttr(int64_t study_id, const std::string& key,
                            const std::string& value) override;

  StatusOr<std::map<std::string, std::string>> GetStudySystemAttrs(int64_t study_id) override;

  StatusOr<TrialList> GetTrials(int64_t study_id) override;

  StatusOr<FrozenTrial> GetTrial(int64_t trial_id) override;

  StatusOr<int> RecoverStaleTrials(int64_t study_id, bool requeue) override;

  std::string description() const override { return store_->path(); }

 private:
  struct Cache {
    int64_t watermark = 0;  // every trial numbered below it is finished and in `finished`
    std::vector<std::shared_ptr<const FrozenTrial>> finished;
    // The trials from the watermark on, as read at data_version, with this storage's writes
    // since applied (copy on write: snapshots handed out never change).
    bool tail_valid = false;
    int64_t data_version = -1;
    std::vector<std::shared_ptr<const FrozenTrial>> tail;
  };

  static void AddReports(FrozenTrial& t, const std::vector<std::pair<int64_t, double>>& reports);

  // After this storage inserted `t` (committed): the tail gains it when it is the next number,
  // else (another process numbered in between) the next GetTrials reads again.
  void AppendToTail(int64_t study_id, const FrozenTrial& t);

  // After this storage changed trial `trial_id` (committed): the tail's copy, replaced.
  template <typename Fn>
  void UpdateTail(int64_t trial_id, Fn&& fn) {
    for (auto& [study, cache] : cache_) {
      if (!cache.tail_valid) continue;
      for (auto& t : cache.tail) {
        if (t->id != trial_id) continue;
        auto copy = std::make_shared<FrozenTrial>(*t);
        fn(*copy);
        t = std::move(copy);
        return;
      }
    }
  }

  // The trial filters ReadTrials knows, over hpo_trials t.
  static constexpr const char* kByStudyFrom = "t.study_id = ?1 AND t.number >= ?2";
  static constexpr const char* kById = "t.trial_id = ?1";

  StatusOr<StudyRecord> ToStudy(const store::Row& r);

  // Runs `sql` with a statement prepared once per storage (SQLite then parses each hot
  // statement once, not at every trial). Needs mu_, which guards the statements; mu_ is always
  // taken before the store's own lock, so the two cannot deadlock.
  StatusOr<std::vector<store::Row>> Run(const std::string& sql, const std::vector<Value>& params);

  // Inside a transaction: the oldest waiting trial of the study, now running; -1 when none.
  StatusOr<int64_t> TakeWaiting(int64_t study_id);

  // Inside a transaction: inserts `t` with the study's next number and sets its id and number.
  Status InsertTrial(int64_t study_id, FrozenTrial& t);

  // Up to kReportsPerInsert reports per statement: one multi-row INSERT steps the VM once
  // rather than once per report (a trial's buffered reports are written at its end).
  static constexpr size_t kReportsPerInsert = 32;

  Status InsertReports(int64_t trial_id, const std::vector<std::pair<int64_t, double>>& values);

  // "INSERT OR IGNORE ... VALUES (?1, ?2, ?3), (?1, ?4, ?5), ..." for `rows` reports, built once
  // per row count.
  const std::string& ReportsSql(size_t rows);

  Status InsertParam(int64_t trial_id, const std::string& name, const Distribution& d,
                     double internal);

  // Distribution::ToJson of the distributions this storage has written, so a define-by-run
  // loop suggesting the same parameter every trial serializes it once.
  const std::string& DistributionJson(const Distribution& d);

  StatusOr<Distribution> ParseDistribution(const std::string& json);

  // Trials matching `where` (over hpo_trials t) with their params and intermediate values. Three
  // autocommit reads, no write lock: writers add params and reports before they finish a trial
  // and never change a finished one, so a trial read as finished has all its rows, and a running
  // one read part-way is read again at the next call.
  StatusOr<std::vector<std::shared_ptr<FrozenTrial>>> ReadTrials(const char* where,
                                                                 const std::vector<Value>& args);

  std::shared_ptr<MetadataStore> store_;
  std::string owner_;
  const bool exclusive_;
  // Guards everything below and is taken by every public method before the store's lock.
  std::recursive_mutex mu_;
  // Declared after store_ so the statements are finalized before the store closes.
  std::map<std::string, store::Statement> statements_;
  std::map<int64_t, Cache> cache_;
  std::map<std::string, Distribution> distribution_cache_;
  std::vector<std::string> reports_sql_;
  std::vector<std::pair<Distribution, std::string>> json_cache_;
};

}  // namespace mlcore::hpo::internal
