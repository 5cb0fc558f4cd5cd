// The training page's data: runs found as TensorBoard event files under the log dirs, and their
// curves, read incrementally (each file from where the last read stopped) so a page polling a
// live fit costs only the new records.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "mlcore/ui/event_reader.h"
#include "ui/stores.h"

namespace mlcore::ui {

namespace fs = std::filesystem;

namespace {

constexpr char kEventPrefix[] = "events.out.tfevents.";
constexpr int kMaxDepth = 5;

// Every directory under `root` (to kMaxDepth) holding event files, with those files.
void FindEventDirs(const fs::path& root, std::map<std::string, std::vector<fs::path>>* out) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() > kMaxDepth) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    if (!absl::StartsWith(it->path().filename().string(), kEventPrefix)) continue;
    (*out)[it->path().parent_path().string()].push_back(it->path());
  }
}

// A training run is the directory of its event files, or its parent for Keras's train/ and
// validation/ subdirectories (whose series are then prefixed "train/" and "validation/").
struct RunDirs {
  fs::path dir;
  std::vector<std::pair<std::string, fs::path>> files;  // (series prefix, file)
};

std::map<std::string, RunDirs> FindRuns(const std::vector<std::string>& roots) {
  std::map<std::string, RunDirs> runs;
  for (const std::string& root_text : roots) {
    fs::path root(root_text);
    std::map<std::string, std::vector<fs::path>> dirs;
    FindEventDirs(root, &dirs);
    for (const auto& [dir_text, files] : dirs) {
      fs::path dir(dir_text);
      std::string leaf = dir.filename().string();
      std::string prefix;
      if ((leaf == "train" || leaf == "validation") && dir != root) {
        prefix = leaf + "/";
        dir = dir.parent_path();
      }
      const std::string relative = fs::relative(dir, root).generic_string();
      const std::string name = relative.empty() ? std::string(".") : relative;
      if (runs.count(name) && runs[name].dir != dir) continue;  // an earlier root wins
      RunDirs& run = runs[name];
      run.dir = dir;
      for (const fs::path& f : files) run.files.emplace_back(prefix, f);
    }
  }
  return runs;
}

}  // namespace

StatusOr<std::string> Dashboard::TrainingRuns() {
  std::map<std::string, RunDirs> runs = FindRuns(options_.log_dirs);
  Json out = {{"log_dirs", options_.log_dirs}, {"runs", Json::array()}};
  for (const auto& [name, run] : runs) {
    double modified = 0;
    for (const auto& [prefix, file] : run.files) {
      struct stat st;
      if (::stat(file.c_str(), &st) == 0) modified = std::max<double>(modified, st.st_mtime);
    }
    out["runs"].push_back({{"name", name},
                           {"dir", run.dir.string()},
                           {"files", run.files.size()},
                           {"modified_at", modified}});
  }
  return out.dump();
}

StatusOr<std::string> Dashboard::TrainingCurves(const std::string& name, int64_t after_step) {
  for (absl::string_view piece : absl::StrSplit(name, '/')) {
    if (piece == "..") return absl::InvalidArgumentError("a training run name may not hold '..'");
  }
  std::map<std::string, RunDirs> runs = FindRuns(options_.log_dirs);
  auto found = runs.find(name);
  if (found == runs.end()) {
    return absl::NotFoundError(absl::StrCat("no training run '", name, "' under ",
                                            absl::StrJoin(options_.log_dirs, ", ")));
  }
  std::lock_guard lock(events_mu_);
  if (events_ == nullptr) events_ = std::make_unique<EventCache>();
  Json series = Json::object();
  Json errors = Json::array();
  int64_t last_step = -1;
  for (const auto& [prefix, path] : found->second.files) {
    EventCache::File& cached = events_->files[path.string()];
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(cached.offset));
    std::string fresh((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!fresh.empty() && cached.error.empty()) {
      size_t consumed = 0;
      StatusOr<std::vector<ScalarEvent>> events = ParseScalarEvents(fresh, &consumed);
      if (events.ok()) {
        cached.offset += consumed;
        for (ScalarEvent& e : *events) cached.events.push_back(std::move(e));
      } else {
        cached.error = std::string(events.status().message());
      }
    }
    if (!cached.error.empty()) errors.push_back(absl::StrCat(path.string(), ": ", cached.error));
    for (const ScalarEvent& e : cached.events) {
      last_step = std::max(last_step, e.step);
      if (e.step <= after_step) continue;
      Json& points = series[prefix + e.tag];
      if (points.is_null()) points = Json::array();
      points.push_back({e.step, e.value, e.wall_time});
    }
  }
  Json out = {{"name", name}, {"series", series}, {"last_step", last_step}, {"errors", errors}};
  return out.dump();
}

}  // namespace mlcore::ui
