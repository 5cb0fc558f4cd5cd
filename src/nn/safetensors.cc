// safetensors reader and writer. Header offsets are validated completely (in range, ordered,
// sizes matching dtype x shape) because checkpoints may come from elsewhere.
#include "mlcore/nn/safetensors.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/file_util.h"

namespace mlcore::nn {
namespace {

using Json = nlohmann::json;

const char* SafetensorsDType(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return "BOOL";
    case DType::kUInt8:
      return "U8";
    case DType::kInt32:
      return "I32";
    case DType::kInt64:
      return "I64";
    case DType::kFloat16:
      return "F16";
    case DType::kBFloat16:
      return "BF16";
    case DType::kFloat32:
      return "F32";
    case DType::kFloat64:
      return "F64";
  }
  return "?";
}

StatusOr<DType> ParseSafetensorsDType(const std::string& name) {
  for (DType d : {DType::kBool, DType::kUInt8, DType::kInt32, DType::kInt64, DType::kFloat16,
                  DType::kBFloat16, DType::kFloat32, DType::kFloat64}) {
    if (name == SafetensorsDType(d)) return d;
  }
  return absl::DataLossError("unsupported safetensors dtype '" + name + "'");
}

std::string Dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

}  // namespace

Status WriteSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> host;
  size_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || name.empty()) {
      return absl::InvalidArgumentError("WriteSafetensors: invalid tensor name '" + name + "'");
    }
    Tensor t = tensor;
    if (!t.device().is_cpu()) {
      MLCORE_ASSIGN_OR_RETURN(t, tensor.To(Device::CPU()));
    }
    header[name] = {{"dtype", SafetensorsDType(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
    host.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string prefix(8, '\0');
  const uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((len >> (8 * i)) & 0xff);

  MLCORE_ASSIGN_OR_RETURN(mlcore::internal::TempFile file,
                          mlcore::internal::TempFile::Create(Dir(path)));
  MLCORE_RETURN_IF_ERROR(file.Write(prefix));
  MLCORE_RETURN_IF_ERROR(file.Write(text));
  for (const Tensor& t : host) {
    MLCORE_RETURN_IF_ERROR(
        file.Write(std::string_view(static_cast<const char*>(t.data()), t.nbytes())));
  }
  MLCORE_RETURN_IF_ERROR(file.Finish(/*sync=*/true));
  if (std::rename(file.path().c_str(), path.c_str()) != 0) {
    return mlcore::internal::ErrnoStatus(errno, "rename into", path);
  }
  file.Release();
  return mlcore::internal::SyncDirectory(Dir(path));
}

StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open safetensors file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  auto corrupt = [&](const std::string& why) {
    return absl::DataLossError("safetensors file " + path + ": " + why);
  };
  if (bytes.size() < 8) return corrupt("shorter than its 8-byte header length");
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i)
    len |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  if (len > bytes.size() - 8)
    return corrupt("header length " + std::to_string(len) + " past the end");
  Json header = Json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(len),
                            nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) return corrupt("header is not a JSON object");
  const size_t data_begin = 8 + len;
  const size_t data_size = bytes.size() - data_begin;
  SafetensorsFile file;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return corrupt("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) return corrupt("metadata values must be strings");
        file.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const Json& e = *it;
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") ||
        !e.contains("data_offsets") || !e["dtype"].is_string() || !e["shape"].is_array() ||
        !e["data_offsets"].is_array() || e["data_offsets"].size() != 2) {
      return corrupt("entry '" + it.key() + "' lacks dtype, shape or data_offsets");
    }
    MLCORE_ASSIGN_OR_RETURN(DType dtype, ParseSafetensorsDType(e["dtype"].get<std::string>()));
    Shape shape;
    for (const Json& d : e["shape"]) {
      if (!d.is_number_unsigned()) return corrupt("entry '" + it.key() + "' has a bad shape");
      shape.push_back(d.get<int64_t>());
    }
    if (!e["data_offsets"][0].is_number_unsigned() || !e["data_offsets"][1].is_number_unsigned()) {
      return corrupt("entry '" + it.key() + "' has bad data_offsets");
    }
    const uint64_t begin = e["data_offsets"][0].get<uint64_t>();
    const uint64_t end = e["data_offsets"][1].get<uint64_t>();
    // Sizes are checked before anything is allocated: a damaged header must not ask for
    // exabytes, nor wrap a huge shape's byte count to the size of an empty range.
    StatusOr<size_t> nbytes = NumBytes(shape, dtype);
    if (!nbytes.ok())
      return corrupt("entry '" + it.key() + "': " + std::string(nbytes.status().message()));
    if (begin > end || end > data_size || end - begin != *nbytes) {
      return corrupt("entry '" + it.key() + "' has data_offsets [" + std::to_string(begin) + ", " +
                     std::to_string(end) + ") that do not fit " + ShapeToString(shape) + " " +
                     DTypeName(dtype) + " in " + std::to_string(data_size) + " data bytes");
    }
    MLCORE_ASSIGN_OR_RETURN(Tensor t, Tensor::Empty(shape, dtype));
    if (t.nbytes() > 0) std::memcpy(t.data(), bytes.data() + data_begin + begin, t.nbytes());
    file.tensors.emplace(it.key(), std::move(t));
  }
  return file;
}

}  // namespace mlcore::nn
