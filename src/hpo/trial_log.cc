#include "mlcore/hpo/trial_log.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {

StatusOr<std::unique_ptr<TrialLogFile>> TrialLogFile::Open(std::string path, int64_t max_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot write the trial log ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<TrialLogFile>(
      new TrialLogFile(std::move(path), std::max<int64_t>(max_bytes, 1), file));
}

TrialLogFile::TrialLogFile(std::string path, int64_t max_bytes, std::FILE* file)
    : path_(std::move(path)), max_bytes_(max_bytes), file_(file) {}

TrialLogFile::~TrialLogFile() {
  if (file_ != nullptr) std::fclose(file_);
}

void TrialLogFile::Rotate() {
  std::fclose(file_);
  std::rename(path_.c_str(), (path_ + ".1").c_str());
  file_ = std::fopen(path_.c_str(), "wb");
  written_ = 0;
  ++rotations_;
  if (file_ == nullptr) return;
  std::string marker =
      absl::StrCat("[mlcore: this log passed ", max_bytes_, " bytes (", rotations_,
                   rotations_ == 1 ? " time" : " times", "); the output before this line is in ",
                   std::filesystem::path(path_).filename().string(), ".1",
                   rotations_ == 1 ? "" : ", older output was dropped", "]\n");
  // The marker is not counted, so even a tiny bound keeps some output after it.
  std::fwrite(marker.data(), 1, marker.size(), file_);
}

void TrialLogFile::Append(std::string_view line) {
  if (file_ == nullptr) return;
  // A line longer than the whole bound still goes in (cut to it), after a rotation.
  if (line.size() + 1 > static_cast<size_t>(max_bytes_)) line = line.substr(0, max_bytes_ - 1);
  if (written_ > 0 && written_ + static_cast<int64_t>(line.size()) + 1 > max_bytes_) {
    Rotate();
    if (file_ == nullptr) return;
  }
  bool ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size() &&
            std::fputc('\n', file_) != EOF && std::fflush(file_) == 0;
  written_ += static_cast<int64_t>(line.size()) + 1;
  if (!ok) {
    std::fclose(file_);
    file_ = nullptr;
  }
}

StatusOr<std::string> ReadLogTail(const std::string& path, int64_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("no log file ", path));
  int64_t size = static_cast<int64_t>(in.tellg());
  int64_t start = size > max_bytes ? size - std::max<int64_t>(max_bytes, 0) : 0;
  in.seekg(start);
  std::string out(static_cast<size_t>(size - start), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

StatusOr<std::string> ReadTrialLog(const FrozenTrial& trial, std::string_view stream_view,
                                   int64_t max_bytes) {
  const std::string stream(stream_view);  // Debian's absl::StrCat takes no std::string_view
  if (stream != "stdout" && stream != "stderr") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log stream '", stream, "' (known: stdout, stderr)"));
  }
  auto it = trial.user_attrs.find(absl::StrCat(stream, "_path"));
  nlohmann::json path;
  if (it != trial.user_attrs.end()) path = nlohmann::json::parse(it->second, nullptr, false);
  if (!path.is_string()) {
    return absl::NotFoundError(
        absl::StrCat("trial ", trial.number, " recorded no ", stream, " log"));
  }
  return ReadLogTail(path.get<std::string>(), max_bytes);
}

}  // namespace mlcore::hpo
