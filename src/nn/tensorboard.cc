// TensorBoard event files. A file is a sequence of TFRecords (core/tfrecord.h), each data an
// Event protobuf: wall_time (field 1, double), step (2, int64), file_version (3, string) or
// summary (5, message Summary { repeated Value value = 1 { tag = 1 (string), simple_value = 2
// (float) } }).
#include "mlcore/nn/tensorboard.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/file_util.h"
#include "core/tfrecord.h"

namespace mlcore::nn {
namespace {

void PutFixed(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Protobuf field key: (field number << 3) | wire type.
void PutKey(std::string& out, int field, int wire) { PutVarint(out, (field << 3) | wire); }

void PutBytes(std::string& out, int field, const std::string& bytes) {
  PutKey(out, field, 2);
  PutVarint(out, bytes.size());
  out += bytes;
}

std::string EventHeader(int64_t step) {
  std::string e;
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  uint64_t bits;
  std::memcpy(&bits, &now, 8);
  PutKey(e, 1, 1);  // wall_time, fixed64
  PutFixed(e, bits, 8);
  PutKey(e, 2, 0);  // step, varint (two's complement for negatives, as protobuf int64)
  PutVarint(e, static_cast<uint64_t>(step));
  return e;
}

// Keras's layout: training scalars in <log_dir>/train, validation ones (val_loss, ...) in
// <log_dir>/validation under the same tags (epoch_loss, ...), so TensorBoard overlays the two
// runs' curves. The validation run is created on the first epoch that has validation logs.
class TensorBoardCallback : public Callback {
 public:
  TensorBoardCallback(std::string log_dir, std::unique_ptr<SummaryWriter> train)
      : log_dir_(std::move(log_dir)), train_(std::move(train)) {}
  Status OnEpochEnd(Model&, int epoch, const Logs& logs, bool*) override {
    for (const auto& [key, value] : logs) {
      if (key.rfind("val_", 0) == 0) {
        if (validation_ == nullptr) {
          MLCORE_ASSIGN_OR_RETURN(validation_, SummaryWriter::Open(log_dir_ + "/validation"));
        }
        MLCORE_RETURN_IF_ERROR(validation_->AddScalar("epoch_" + key.substr(4), value, epoch));
      } else {
        MLCORE_RETURN_IF_ERROR(train_->AddScalar("epoch_" + key, value, epoch));
      }
    }
    if (validation_ != nullptr) MLCORE_RETURN_IF_ERROR(validation_->Flush());
    return train_->Flush();
  }

 private:
  std::string log_dir_;
  std::unique_ptr<SummaryWriter> train_;
  std::unique_ptr<SummaryWriter> validation_;
};

}  // namespace

StatusOr<std::unique_ptr<SummaryWriter>> SummaryWriter::Open(const std::string& log_dir) {
  MLCORE_RETURN_IF_ERROR(mlcore::internal::MakeDirectories(log_dir));
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  const std::string path = log_dir + "/events.out.tfevents." + std::to_string(seconds) + "." +
                           host + "." + std::to_string(::getpid()) + ".mlcore";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return mlcore::internal::ErrnoStatus(errno, "cannot create", path);
  std::unique_ptr<SummaryWriter> writer(new SummaryWriter(path, f));
  std::string first = EventHeader(0);
  PutBytes(first, 3, "brain.Event:2");  // file_version
  MLCORE_RETURN_IF_ERROR(writer->WriteRecord(first));
  MLCORE_RETURN_IF_ERROR(writer->Flush());
  return writer;
}

SummaryWriter::~SummaryWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

Status SummaryWriter::AddScalar(const std::string& tag, double value, int64_t step) {
  std::string v;
  PutBytes(v, 1, tag);
  const float f = static_cast<float>(value);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  PutKey(v, 2, 5);  // simple_value, fixed32
  PutFixed(v, bits, 4);
  std::string summary;
  PutBytes(summary, 1, v);
  std::string event = EventHeader(step);
  PutBytes(event, 5, summary);
  return WriteRecord(event);
}

Status SummaryWriter::WriteRecord(const std::string& event) {
  std::string record;
  mlcore::internal::AppendTFRecord(&record, event);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size()) {
    return mlcore::internal::ErrnoStatus(errno, "cannot write", path_);
  }
  return absl::OkStatus();
}

Status SummaryWriter::Flush() {
  if (std::fflush(file_) != 0) return mlcore::internal::ErrnoStatus(errno, "cannot flush", path_);
  return absl::OkStatus();
}

StatusOr<std::shared_ptr<Callback>> TensorBoard(const std::string& log_dir) {
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<SummaryWriter> writer,
                          SummaryWriter::Open(log_dir + "/train"));
  return std::shared_ptr<Callback>(
      std::make_shared<TensorBoardCallback>(log_dir, std::move(writer)));
}

}  // namespace mlcore::nn
