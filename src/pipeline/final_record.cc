#include "pipeline/final_record.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "mlcore/pipeline/client.h"

namespace mlcore::pipeline::internal {
namespace {

bool Terminal(const std::string& st) {
  return st == state::kSucceeded || st == state::kFailed || st == state::kSkipped ||
         st == state::kCached;
}

}  // namespace

Status WriteFinalRecord(store::SqlDatabase& db, const FinalRecord& record,
                        const std::string& note) {
  std::string error = record.error;
  if (!note.empty()) error = error.empty() ? note : absl::StrCat(error, "; ", note);
  return db.Transaction([&]() -> Status {
    for (const Json& t : record.tasks) {
      const std::string st = t.value("state", "");
      if (!Terminal(st)) continue;
      MLCORE_RETURN_IF_ERROR(
          db.Query("UPDATE pipeline_tasks SET state = ?3, error = ?4, outputs = ?5, "
                   "finished_at = COALESCE(finished_at, ?6) WHERE run_id = ?1 AND name = ?2 AND "
                   "state NOT IN ('succeeded', 'failed', 'skipped', 'cached')",
                   {record.run_id, t.value("name", ""), st, t.value("error", ""),
                    t.value("outputs", Json::object()).dump(), record.finished_at})
              .status());
    }
    return db
        .Query(
            "UPDATE pipeline_runs SET state = ?2, error = ?3, outputs = ?4, finished_at = ?5 "
            "WHERE id = ?1",
            {record.run_id, record.state, error, record.outputs.dump(), record.finished_at})
        .status();
  });
}

std::string OutcomePath(const std::string& home, const std::string& run_id) {
  return absl::StrCat(home, "/pipeline/runs/", run_id, "/outcome.json");
}

Status SaveOutcome(const std::string& path, const FinalRecord& record) {
  const Json j = {{"run_id", record.run_id},
                  {"state", record.state},
                  {"error", record.error},
                  {"outputs", record.outputs},
                  {"finished_at", record.finished_at},
                  {"tasks", record.tasks}};
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << j.dump();
    out.flush();
    if (!out) {
      const int err = errno;
      return absl::InternalError(
          absl::StrCat("writing the run's outcome to ", tmp, ": ", std::strerror(err)));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("renaming ", tmp, " to ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

std::optional<FinalRecord> LoadOutcome(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Json j = Json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("state") || !j["state"].is_string()) return std::nullopt;
  FinalRecord r;
  r.run_id = j.value("run_id", "");
  r.state = j["state"].get<std::string>();
  if (!Terminal(r.state)) return std::nullopt;
  r.error = j.value("error", "");
  r.outputs = j.value("outputs", Json::object());
  r.finished_at = j.value("finished_at", 0.0);
  r.tasks = j.value("tasks", Json::array());
  if (!r.tasks.is_array()) r.tasks = Json::array();
  return r;
}

}  // namespace mlcore::pipeline::internal
