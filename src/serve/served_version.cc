// The dynamic batcher and the instance workers of one served model version.
#include "serve/served_version.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "mlcore/core/logging.h"

namespace mlcore::serve::internal {
namespace {

uint64_t Ns(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

bool DimsMatch(const Dims& want, const Dims& got) {
  if (want.size() != got.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] != -1 && want[i] != got[i]) return false;
  }
  return true;
}

// Rows [row0, row0 + rows) of `t`, whose first axis has `total` rows.
StatusOr<InferTensor> SliceRows(const InferTensor& t, int64_t total, int64_t row0, int64_t rows) {
  InferTensor out;
  out.name = t.name;
  out.datatype = t.datatype;
  out.shape = t.shape;
  out.shape[0] = rows;
  MLCORE_ASSIGN_OR_RETURN(int64_t numel, t.NumElements());
  int64_t per_row = total == 0 ? 0 : numel / total;
  if (t.datatype != DataType::kBytes) {
    size_t row_bytes = static_cast<size_t>(per_row) * DataTypeSize(t.datatype);
    out.data.assign(t.data, row0 * row_bytes, rows * row_bytes);
    return out;
  }
  MLCORE_ASSIGN_OR_RETURN(std::vector<std::string_view> elements, t.BytesElements());
  for (int64_t i = row0 * per_row; i < (row0 + rows) * per_row; ++i) {
    out.AppendBytesElement(elements[i]);
  }
  return out;
}

}  // namespace

ServedVersion::ServedVersion(std::string model, int64_t version, ModelConfig config)
    : model_(std::move(model)),
      version_(version),
      version_text_(absl::StrCat(version)),
      config_(std::move(config)),
      stats_(model_, version_text_) {}

ServedVersion::~ServedVersion() { Stop(); }

Status ServedVersion::Load(const BackendFactory& factory, BackendContext context) {
  for (int64_t i = 0; i < config_.instance_count; ++i) {
    context.instance_index = i;
    MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, factory(context));
    if (backend == nullptr) return absl::InternalError("a backend factory returned nothing");
    device_bytes_ += backend->device_memory_bytes();
    backends_.push_back(std::move(backend));
  }
  signature_ = backends_.front()->signature();
  platform_ = backends_.front()->platform();
  // A model that declares no inputs takes whatever it is sent, so it cannot be batched.
  batching_ = config_.max_batch_size > 0 && !signature_.inputs.empty();
  for (auto& backend : backends_) {
    workers_.emplace_back([this, b = backend.get()] { WorkerLoop(b); });
  }
  return absl::OkStatus();
}

Status ServedVersion::Prepare(InferRequest& request, Pending& pending) const {
  for (const InferTensor& input : request.inputs) MLCORE_RETURN_IF_ERROR(input.Validate());
  for (const RequestedOutput& out : request.outputs) {
    if (signature_.outputs.empty()) break;
    bool known = std::any_of(signature_.outputs.begin(), signature_.outputs.end(),
                             [&](const TensorInfo& info) { return info.name == out.name; });
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", model_, "' has no output '", out.name, "'"));
    }
  }
  if (signature_.inputs.empty()) return absl::OkStatus();
  if (request.inputs.size() != signature_.inputs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("model '", model_, "' takes ",
                                                   signature_.inputs.size(), " inputs, got ",
                                                   request.inputs.size()));
  }
  std::vector<InferTensor> ordered;
  ordered.reserve(signature_.inputs.size());
  int64_t rows = -1;
  for (const TensorInfo& info : signature_.inputs) {
    auto it = std::find_if(request.inputs.begin(), request.inputs.end(),
                           [&](const InferTensor& t) { return t.name == info.name; });
    if (it == request.inputs.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", model_, "' needs input '", info.name, "'"));
    }
    if (it->datatype != info.datatype) {
      return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "' must be ",
                                                     DataTypeName(info.datatype), ", got ",
                                                     DataTypeName(it->datatype)));
    }
    if (!DimsMatch(info.shape, it->shape)) {
      return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "' has shape ",
                                                     ShapeToString(it->shape), ", the model takes ",
                                                     ShapeToString(info.shape)));
    }
    if (batching_) {
      int64_t r = it->shape.empty() ? 0 : it->shape[0];
      if (r < 1 || r > config_.max_batch_size) {
        return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "' has ", r,
                                                       " rows; the batch axis takes 1 to ",
                                                       config_.max_batch_size));
      }
      if (rows != -1 && r != rows) {
        return absl::InvalidArgumentError("the inputs differ in their batch size");
      }
      rows = r;
    }
    absl::StrAppend(&pending.shape_key, static_cast<int>(it->datatype), ":");
    for (size_t d = 1; d < it->shape.size(); ++d)
      absl::StrAppend(&pending.shape_key, it->shape[d], ",");
    pending.shape_key.push_back(';');
    ordered.push_back(std::move(*it));
  }
  request.inputs = std::move(ordered);
  pending.rows = batching_ ? rows : 1;
  return absl::OkStatus();
}

Status ServedVersion::Enqueue(InferRequest request, InferCallback done, Clock::time_point arrival) {
  Pending pending;
  MLCORE_RETURN_IF_ERROR(Prepare(request, pending));
  pending.request = std::move(request);
  pending.done = std::move(done);
  pending.arrival = arrival;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return absl::UnavailableError(
          absl::StrCat("model '", model_, "' version ", version_, " is unloading"));
    }
    if (static_cast<int64_t>(queue_.size()) >= config_.max_queue_size) {
      return absl::UnavailableError(absl::StrCat(
          "model '", model_, "' has ", config_.max_queue_size, " requests waiting; retry later"));
    }
    queue_.push_back(std::move(pending));
  }
  cv_.notify_one();
  return absl::OkStatus();
}

std::vector<ServedVersion::Pending> ServedVersion::NextBatch() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
  std::vector<Pending> batch;
  if (queue_.empty()) return batch;
  if (batching_) {
    int64_t target = config_.max_batch_size;
    if (!config_.preferred_batch_sizes.empty()) {
      target = *std::max_element(config_.preferred_batch_sizes.begin(),
                                 config_.preferred_batch_sizes.end());
    }
    while (!stopping_ && !queue_.empty()) {
      auto deadline =
          queue_.front().arrival + std::chrono::microseconds(config_.max_queue_delay_us);
      int64_t rows = 0;
      const std::string& key = queue_.front().shape_key;
      for (const Pending& p : queue_) {
        if (p.shape_key == key && rows + p.rows <= config_.max_batch_size) rows += p.rows;
      }
      if (rows >= target || Clock::now() >= deadline) break;
      cv_.wait_until(lock, deadline);
    }
    if (queue_.empty()) return batch;
  }
  // The oldest request, and (when batching) every queued one of its shape that still fits.
  std::string key = queue_.front().shape_key;
  int64_t rows = 0;
  for (auto it = queue_.begin(); it != queue_.end();) {
    bool take = batch.empty() ||
                (batching_ && it->shape_key == key && rows + it->rows <= config_.max_batch_size);
    if (take) {
      rows += it->rows;
      batch.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
    if (!batching_ || rows >= config_.max_batch_size) break;
  }
  if (!queue_.empty()) cv_.notify_one();  // another worker can start on what is left
  return batch;
}

void ServedVersion::WorkerLoop(Backend* backend) {
  while (true) {
    std::vector<Pending> batch = NextBatch();
    if (batch.empty()) return;
    RunBatch(backend, batch);
  }
}

StatusOr<InferResponse> ServedVersion::Answer(const Pending& pending,
                                              std::vector<InferTensor>& outputs, int64_t row0,
                                              int64_t rows, bool whole) const {
  InferResponse response;
  response.model_name = model_;
  response.model_version = version_text_;
  response.id = pending.request.id;
  const InferRequest& req = pending.request;
  for (InferTensor& out : outputs) {
    bool binary = req.binary_data_output;
    if (!req.outputs.empty()) {
      auto it = std::find_if(req.outputs.begin(), req.outputs.end(),
                             [&](const RequestedOutput& r) { return r.name == out.name; });
      if (it == req.outputs.end()) continue;
      binary = binary || it->binary;
    }
    InferTensor piece;
    if (whole) {
      piece = out;  // copied: another request's answer may still need it
    } else {
      int64_t total = out.shape.empty() ? 0 : out.shape[0];
      MLCORE_ASSIGN_OR_RETURN(piece, SliceRows(out, total, row0, rows));
    }
    piece.binary = binary;
    response.outputs.push_back(std::move(piece));
  }
  return response;
}

void ServedVersion::RunBatch(Backend* backend, std::vector<Pending>& batch) {
  Clock::time_point start = Clock::now();
  int64_t total_rows = 0;
  for (const Pending& p : batch) total_rows += p.rows;
  std::vector<InferTensor> merged;
  const std::vector<InferTensor>* inputs = &batch.front().request.inputs;
  if (batch.size() > 1) {
    merged = batch.front().request.inputs;
    for (size_t i = 1; i < batch.size(); ++i) {
      for (size_t k = 0; k < merged.size(); ++k) merged[k].data += batch[i].request.inputs[k].data;
    }
    for (InferTensor& t : merged) t.shape[0] = total_rows;
    inputs = &merged;
  }
  Clock::time_point computed_from = Clock::now();
  StatusOr<std::vector<InferTensor>> outputs = backend->Execute(*inputs);
  Clock::time_point computed = Clock::now();
  if (outputs.ok() && batch.size() > 1) {
    for (const InferTensor& out : *outputs) {
      if (out.shape.empty() || out.shape[0] != total_rows) {
        outputs = absl::InternalError(absl::StrCat("output '", out.name, "' of model '", model_,
                                                   "' does not keep the batch axis"));
        break;
      }
    }
  }
  int64_t row0 = 0;
  for (Pending& p : batch) {
    StatusOr<InferResponse> response =
        outputs.ok() ? Answer(p, *outputs, row0, p.rows, batch.size() == 1) : outputs.status();
    row0 += p.rows;
    Clock::time_point now = Clock::now();
    stats_.RecordRequest(response.ok(), Ns(start - p.arrival), Ns(now - p.arrival));
    p.done(std::move(response));
  }
  stats_.RecordExecution(total_rows, Ns(computed_from - start), Ns(computed - computed_from),
                         Ns(Clock::now() - computed));
}

void ServedVersion::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopping_ = true;
    stopped_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace mlcore::serve::internal
