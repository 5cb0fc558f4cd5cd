#include "mlcore/hpo/trials_table.h"

#include <cmath>
#include <set>
#include <variant>

#include "mlcore/hpo/study.h"

namespace mlcore::hpo {
namespace {

Json ParamCell(const ParamValue& value) {
  return std::visit([](const auto& v) { return Json(v); }, value);
}

// A user attribute is stored as JSON text: the cell is the value it holds (its text when the
// text is not JSON, as attributes written by hand may be).
Json AttrCell(const std::string& text) {
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Json(text);
  return parsed;
}

Json NumberCell(double v) { return std::isfinite(v) ? Json(v) : Json(); }

std::string CsvField(const Json& cell) {
  if (cell.is_null()) return "";
  std::string text = cell.is_string() ? cell.get_ref() : cell.dump();
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace

TrialsTable MakeTrialsTable(const TrialList& trials, size_t n_objectives) {
  std::set<std::string> params, attrs;
  for (const auto& t : trials) {
    for (const auto& [name, v] : t->params) params.insert(name);
    for (const auto& [key, v] : t->user_attrs) attrs.insert(key);
  }
  TrialsTable table;
  table.columns = {"number", "state"};
  if (n_objectives <= 1) {
    table.columns.push_back("value");
  } else {
    for (size_t i = 0; i < n_objectives; ++i)
      table.columns.push_back("values_" + std::to_string(i));
  }
  for (const auto& name : params) table.columns.push_back("params_" + name);
  for (const auto& key : attrs) table.columns.push_back("user_attrs_" + key);
  table.columns.push_back("duration");
  table.columns.push_back("error");

  for (const auto& t : trials) {
    std::vector<Json> row = {Json(t->number), Json(TrialStateName(t->state))};
    for (size_t i = 0; i < std::max<size_t>(n_objectives, 1); ++i) {
      row.push_back(t->has_value && i < t->values.size() ? NumberCell(t->values[i])
                    : t->has_value && i == 0             ? NumberCell(t->value)
                                                         : Json());
    }
    for (const auto& name : params) {
      auto it = t->params.find(name);
      row.push_back(it == t->params.end() ? Json() : ParamCell(it->second));
    }
    for (const auto& key : attrs) {
      auto it = t->user_attrs.find(key);
      row.push_back(it == t->user_attrs.end() ? Json() : AttrCell(it->second));
    }
    const bool ended = t->started != absl::InfinitePast() && t->finished != absl::InfinitePast();
    row.push_back(ended ? Json(absl::ToDoubleSeconds(t->finished - t->started)) : Json());
    row.push_back(Json(t->error));
    table.rows.push_back(std::move(row));
  }
  return table;
}

StatusOr<TrialsTable> TrialsTableOf(Study& study) {
  MLCORE_ASSIGN_OR_RETURN(TrialList trials, study.Trials());
  return MakeTrialsTable(trials, study.directions().size());
}

std::string TrialsTable::ToCsv() const {
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) out += (i ? "," : "") + CsvField(Json(columns[i]));
  out += "\n";
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + CsvField(row[i]);
    out += "\n";
  }
  return out;
}

}  // namespace mlcore::hpo
