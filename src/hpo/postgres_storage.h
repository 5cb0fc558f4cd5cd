// Internal: the PostgreSQL Storage (see mlcore/hpo/postgres_storage.h for the contract). Tables
// hpo_* as in SQLite plus a per-study trial counter (hpo_studies.next_number) and a heartbeat
// column. Each hot call is one statement, so one round trip: a trial costs its start (take the
// oldest waiting trial or number a new one, in one statement), one upsert per parameter and its
// end (state, values and the buffered reports, in one statement). Finished trials never change,
// so each process caches them, as the SQLite storage does, and reads only from the first
// unfinished trial on.
//
// Split by concern: postgres_storage.cc (opening, schema, studies, heartbeats),
// postgres_storage_trials.cc (trial writes and recovery), postgres_storage_reads.cc (reads).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "mlcore/hpo/postgres_storage.h"
#include "mlcore/store/postgres.h"

namespace mlcore::hpo::internal {

using store::PostgresStore;
using store::Row;
using store::Value;

class PostgresStorage : public Storage {
 public:
  PostgresStorage(std::shared_ptr<PostgresStore> store, const PostgresStorageOptions& options);
  ~PostgresStorage() override;

  StatusOr<StudyRecord> CreateStudy(const std::string& name,
                                    const std::vector<StudyDirection>& directions) override;
  StatusOr<StudyRecord> LoadStudy(const std::string& name) override;
  StatusOr<std::vector<StudyRecord>> ListStudies() override;
  Status DeleteStudy(const std::string& name) override;
  StatusOr<FrozenTrial> CreateTrial(int64_t study_id, const FrozenTrial& trial) override;
  StatusOr<FrozenTrial> StartTrial(int64_t study_id) override;
  StatusOr<std::optional<FrozenTrial>> PopWaitingTrial(int64_t study_id) override;
  Status SetParam(int64_t trial_id, const std::string& name, const Distribution& distribution,
                  double internal_value) override;
  Status ReportIntermediate(int64_t trial_id, int64_t step, double value) override;
  Status ReportIntermediates(int64_t trial_id,
                             const std::vector<std::pair<int64_t, double>>& values) override;
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
  std::string description() const override { return store_->description(); }

 private:
  struct Cache {
    int64_t watermark = 0;  // every trial numbered below it is finished and in `finished`
    std::vector<std::shared_ptr<const FrozenTrial>> finished;
    // Whether the study's trials were ever read (its sampler reads them): then a trial start
    // reads the tail in its own statement, for the GetTrials that follows it.
    bool read = false;
    // Valid for the next GetTrials of the thread that started the trial, within
    // kPrefetchLifetime and with no write of this storage in between (Study::Ask reads the
    // trials for its sampler right after the start).
    std::optional<std::vector<std::shared_ptr<FrozenTrial>>> prefetched;
    int64_t prefetched_from = -1;
    std::thread::id prefetched_by;
    absl::Time prefetched_at;
  };
  static constexpr absl::Duration kPrefetchLifetime = absl::Milliseconds(100);

  // After a write of this storage: no prefetched tail is current any more.
  void DropPrefetched();

  StatusOr<StudyRecord> ToStudy(const Row& r);
  StatusOr<Distribution> ParseDistribution(const std::string& json);
  const std::string& DistributionJson(const Distribution& d);

  // Trials of a study from number `from` on, or the one with id `trial_id` (from < 0), with
  // their params, reports and user attributes.
  StatusOr<std::vector<std::shared_ptr<FrozenTrial>>> ReadTrials(int64_t study_id, int64_t from,
                                                                 int64_t trial_id);
  // Trials from rows of TrialsSql (kind first; trials in number order before the rest).
  StatusOr<std::vector<std::shared_ptr<FrozenTrial>>> ToTrials(std::vector<Row>& rows);

  // Inside a transaction: inserts `t` with the study's next number and its params and reports.
  Status InsertTrial(store::PostgresSession& s, int64_t study_id, FrozenTrial& t);

  // The heartbeat thread's set of trials this process runs.
  void Running(int64_t trial_id, bool running);
  void HeartbeatLoop();
  // Fails the study's trials whose heartbeats stopped, at most once per heartbeat interval.
  void FailExpiredTrials(int64_t study_id);

  std::shared_ptr<PostgresStore> store_;
  std::string owner_;
  absl::Duration heartbeat_interval_;
  absl::Duration grace_period_;

  std::mutex mu_;  // guards the caches
  std::map<int64_t, Cache> cache_;
  std::map<std::string, Distribution> distribution_cache_;
  std::vector<std::pair<Distribution, std::string>> json_cache_;
  std::map<int64_t, absl::Time> last_expiry_check_;

  std::mutex heartbeat_mu_;  // guards the heartbeat state
  std::condition_variable heartbeat_cv_;
  std::set<int64_t> running_;
  bool stopping_ = false;
  std::thread heartbeat_;
};

// The trials matching `where` (over hpo_trials t) with their params, reports and attributes,
// as one UNION ALL of rows (kind, trial_id, ...), without ORDER BY.
std::string TrialsSql(std::string_view where);

// "{1,2,3}" and "{0.5,NULL}": arrays as PostgreSQL's text form, for unnest($n::bigint[]).
std::string IntArray(const std::vector<int64_t>& v);
std::string DoubleArray(const std::vector<double>& v);
// A double parameter; NaN binds as NULL (as SQLite stores it).
Value Number(double v);

}  // namespace mlcore::hpo::internal
