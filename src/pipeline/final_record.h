// Internal: a run's final record (its outcome, and its tasks' when their records were not written
// either), kept when the store refuses it so that the run still ends, its waiters learn why, and
// the record is written later: by this process at its next RecoverInterrupted, or, from the
// run's outcome file, by whichever process recovers the run once this one is gone.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/pipeline/component.h"
#include "mlcore/store/metadata_store.h"

namespace mlcore::pipeline::internal {

struct FinalRecord {
  std::string run_id;
  std::string state;
  std::string error;
  Json outputs = Json::object();
  double finished_at = 0;
  // [{"name", "state", "error", "outputs"}]: terminal task outcomes, written only over rows that
  // are not terminal yet. Empty when the tasks' own records were written.
  Json tasks = Json::array();
};

// Writes `record` in one transaction: the run's row, and its tasks' rows that are not terminal
// yet. `note` (may be empty) is appended to the error, saying why the record comes late.
Status WriteFinalRecord(store::SqlDatabase& db, const FinalRecord& record, const std::string& note);

// <home>/pipeline/runs/<run id>/outcome.json
std::string OutcomePath(const std::string& home, const std::string& run_id);
// Atomically (a temporary file renamed over it); the error names the file.
Status SaveOutcome(const std::string& path, const FinalRecord& record);
// nullopt when the file is missing or not a final record.
std::optional<FinalRecord> LoadOutcome(const std::string& path);

// The final records a Client's runs could not write, retried by Client::RecoverInterrupted.
struct UnrecordedRuns {
  std::mutex mu;
  std::vector<FinalRecord> runs;  // under mu
};

}  // namespace mlcore::pipeline::internal
