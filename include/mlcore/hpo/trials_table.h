// A study's trials as a table, one row per trial, for reports, CSV files and Python's
// Study.trials_table (which turns it into a pandas DataFrame). Columns: number, state, value
// (values_0, values_1, ... for a multi-objective study), params_<name> and user_attrs_<key>
// (sorted by name, the union over all trials), duration (seconds), error. A cell a trial has no
// value for is null.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "mlcore/core/json.h"
#include "mlcore/core/status.h"
#include "mlcore/hpo/trial.h"

namespace mlcore::hpo {

class Study;

struct TrialsTable {
  std::vector<std::string> columns;
  std::vector<std::vector<Json>> rows;  // one cell per column: null, a number, bool or string

  // The table as CSV (RFC 4180 quoting; null cells empty), header line first.
  std::string ToCsv() const;
};

// The table of `trials` from a study with `n_objectives` objectives.
TrialsTable MakeTrialsTable(const TrialList& trials, size_t n_objectives = 1);
// The table of every trial of `study`, by number.
StatusOr<TrialsTable> TrialsTableOf(Study& study);

}  // namespace mlcore::hpo
