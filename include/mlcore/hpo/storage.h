// Where studies and trials live: in memory (one process, fastest) or in the SQLite metadata
// store (several processes, survives crashes). Every mutation is atomic in the storage, so
// parallel workers, threads or processes, never share a trial number or lose a result.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"
#include "mlcore/hpo/distribution.h"
#include "mlcore/hpo/trial.h"

namespace mlcore::store {
class MetadataStore;
}

namespace mlcore::hpo {

struct StudyRecord {
  int64_t id = -1;
  std::string name;
  // The first objective's direction (the only one of a single-objective study).
  StudyDirection direction = StudyDirection::kMinimize;
  absl::Time created = absl::InfinitePast();
  // One direction per objective; never empty, directions[0] == direction.
  std::vector<StudyDirection> directions = {StudyDirection::kMinimize};
};

class Storage {
 public:
  virtual ~Storage() = default;

  // AlreadyExists when `name` is taken; InvalidArgument for no direction. Two or more
  // directions make a multi-objective study.
  virtual StatusOr<StudyRecord> CreateStudy(const std::string& name,
                                            const std::vector<StudyDirection>& directions) = 0;
  StatusOr<StudyRecord> CreateStudy(const std::string& name, StudyDirection direction) {
    return CreateStudy(name, std::vector<StudyDirection>{direction});
  }
  // NotFound naming the study.
  virtual StatusOr<StudyRecord> LoadStudy(const std::string& name) = 0;
  virtual StatusOr<std::vector<StudyRecord>> ListStudies() = 0;
  virtual Status DeleteStudy(const std::string& name) = 0;

  // Adds a trial with the next number of the study (atomically). `trial` gives its state,
  // params, value and reports (a finished trial added to a study, an enqueued one); its id and
  // number are assigned. Returns the stored record.
  virtual StatusOr<FrozenTrial> CreateTrial(int64_t study_id, const FrozenTrial& trial) = 0;
  // Starts a trial: the oldest waiting one when there is one (as PopWaitingTrial), else a new
  // running one (as CreateTrial); one transaction in SQLite. The default calls the two.
  virtual StatusOr<FrozenTrial> StartTrial(int64_t study_id);
  // Atomically takes the oldest waiting trial of the study and marks it running; nullopt when
  // none waits. Two workers never get the same one.
  virtual StatusOr<std::optional<FrozenTrial>> PopWaitingTrial(int64_t study_id) = 0;
  virtual Status SetParam(int64_t trial_id, const std::string& name,
                          const Distribution& distribution, double internal_value) = 0;
  // Keeps the first value reported at a step.
  virtual Status ReportIntermediate(int64_t trial_id, int64_t step, double value) = 0;
  // Several reports at once (one transaction in SQLite). The default calls ReportIntermediate.
  virtual Status ReportIntermediates(int64_t trial_id,
                                     const std::vector<std::pair<int64_t, double>>& values);
  // Moves a running trial to complete, pruned or failed with its objective `values` (empty: no
  // value; one per objective otherwise), writing its last unsaved `reports` in the same
  // transaction. FailedPrecondition when it is not running (already finished elsewhere, or
  // marked failed by a recovery); then nothing is written.
  virtual Status FinishTrial(int64_t trial_id, TrialState state, const std::vector<double>& values,
                             const std::string& error,
                             const std::vector<std::pair<int64_t, double>>& reports) = 0;
  // Sets a trial's user attribute (any state: a finished trial may be annotated later).
  // `json_value` must be a JSON document; InvalidArgument otherwise.
  virtual Status SetTrialUserAttr(int64_t trial_id, const std::string& key,
                                  const std::string& json_value) = 0;
  // A study's system attributes: state that samplers and tools keep with the study (CMA-ES's
  // mean and covariance, so a resumed study continues the search). Values are opaque text.
  virtual Status SetStudySystemAttr(int64_t study_id, const std::string& key,
                                    const std::string& value) = 0;
  virtual StatusOr<std::map<std::string, std::string>> GetStudySystemAttrs(int64_t study_id) = 0;
  virtual StatusOr<TrialList> GetTrials(int64_t study_id) = 0;
  virtual StatusOr<FrozenTrial> GetTrial(int64_t trial_id) = 0;

  // For trials left running by processes that are gone (kill -9, power loss): marks them failed
  // ("process <pid> on <host> is gone") or, with requeue, puts them back to waiting with their
  // parameters. Trials of live processes are left alone. Returns how many were recovered.
  virtual StatusOr<int> RecoverStaleTrials(int64_t study_id, bool requeue) = 0;

  // "memory" or the SQLite file's path.
  virtual std::string description() const = 0;
};

// A study at a glance, for listings (`mlcore hpo list`).
struct StudySummary {
  StudyRecord study;
  int64_t trials = 0;
  int64_t complete = 0;
  int64_t pruned = 0;
  int64_t failed = 0;
  int64_t running = 0;
  // The best complete value of a single-objective study; empty for none or several objectives.
  std::optional<double> best;
};

// Every study of `storage` (ListStudies order) with its trial counts. Reads only: trials left
// running by dead processes are counted as running, not recovered.
StatusOr<std::vector<StudySummary>> SummarizeStudies(Storage& storage);

std::shared_ptr<Storage> NewInMemoryStorage();

struct SqliteStorageOptions {
  // The database file; empty: the default metadata store ($MLCORE_HOME/mlcore.db).
  std::string path;
  // How long a store call waits for another connection's write lock (the SQLite busy timeout)
  // before it fails with DeadlineExceeded naming the store. Default 30 s. Shorter fails fast
  // (tests, interactive tools); longer rides out slow writers on a network file system or many
  // writer processes. Negative is InvalidArgument.
  absl::Duration busy_timeout = absl::Seconds(30);
};

// Opens (creating its tables through the "hpo" migrations when needed) a SQLite storage.
StatusOr<std::shared_ptr<Storage>> OpenSqliteStorage(const SqliteStorageOptions& options = {});
// Uses an already open metadata store (shared with other modules of this process).
StatusOr<std::shared_ptr<Storage>> NewSqliteStorage(std::shared_ptr<store::MetadataStore> store);

// "memory" -> in memory; "" or "sqlite" -> the default store; "sqlite:///rel/path.db" (relative
// to the working directory), "sqlite:////abs/path.db" (absolute, as SQLAlchemy reads both) or a
// path -> that file. A SQLite storage waits SqliteStorageOptions' default busy timeout.
StatusOr<std::shared_ptr<Storage>> OpenStorage(const std::string& url);
// As above with the SQLite busy timeout given (see SqliteStorageOptions::busy_timeout); unused
// by "memory", but negative is InvalidArgument for every url so a typo never goes unnoticed.
StatusOr<std::shared_ptr<Storage>> OpenStorage(const std::string& url, absl::Duration busy_timeout);

}  // namespace mlcore::hpo
