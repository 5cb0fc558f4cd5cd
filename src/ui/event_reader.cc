// ParseScalarEvents: TFRecord framing and the few protobuf fields of Event, Summary and
// TensorProto that scalars use, decoded by hand (no protobuf dependency in the library).
#include "mlcore/ui/event_reader.h"

#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/tfrecord.h"

namespace mlcore::ui {
namespace {

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;  // little-endian, as TFRecord and protobuf fixed fields are (and x86/arm64 hosts)
}

// A protobuf reader over one message's bytes; every read checks the bounds.
class Wire {
 public:
  explicit Wire(std::string_view b) : b_(b) {}
  bool done() const { return pos_ >= b_.size(); }
  std::optional<uint64_t> Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) return std::nullopt;
      uint8_t byte = static_cast<uint8_t>(b_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    return std::nullopt;
  }
  std::optional<std::string_view> Bytes(size_t n) {
    if (n > b_.size() - pos_) return std::nullopt;
    std::string_view out = b_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  // Reads one field: its number, wire type, and for length-delimited fields its bytes, for
  // fixed fields their raw bytes, for varints the value. False on malformed input.
  bool Field(uint32_t* number, int* type, uint64_t* varint, std::string_view* bytes) {
    auto key = Varint();
    if (!key) return false;
    *number = static_cast<uint32_t>(*key >> 3);
    *type = static_cast<int>(*key & 7);
    switch (*type) {
      case 0: {
        auto v = Varint();
        if (!v) return false;
        *varint = *v;
        return true;
      }
      case 1:
      case 5: {
        auto b = Bytes(*type == 1 ? 8 : 4);
        if (!b) return false;
        *bytes = *b;
        return true;
      }
      case 2: {
        auto n = Varint();
        if (!n) return false;
        auto b = Bytes(static_cast<size_t>(std::min<uint64_t>(*n, SIZE_MAX)));
        if (!b) return false;
        *bytes = *b;
        return true;
      }
      default:
        return false;  // groups (3, 4) are not used by these messages
    }
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

// One protobuf field as Wire::Field reads it.
struct Field {
  uint32_t number = 0;
  int type = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

// Calls visit(field) for each field of the message `bytes`; false when the message is malformed
// or visit returns false.
template <typename Visit>
bool ForEachField(std::string_view bytes, Visit visit) {
  Wire w(bytes);
  while (!w.done()) {
    Field f;
    if (!w.Field(&f.number, &f.type, &f.varint, &f.bytes) || !visit(f)) return false;
  }
  return true;
}

// A one-value float (dtype 1) or double (dtype 2) TensorProto.
bool TensorScalar(std::string_view bytes, double* out) {
  uint64_t dtype = 0;
  std::optional<double> value;
  bool ok = ForEachField(bytes, [&](const Field& f) {
    const size_t size = f.bytes.size();
    if (f.number == 1 && f.type == 0) dtype = f.varint;
    if (f.number == 4 && f.type == 2 && size == 4) value = Load<float>(f.bytes.data());
    if (f.number == 4 && f.type == 2 && size == 8) value = Load<double>(f.bytes.data());
    if (f.number == 5 && ((f.type == 2 && size == 4) || f.type == 5)) {
      value = Load<float>(f.bytes.data());
    }
    if (f.number == 6 && ((f.type == 2 && size == 8) || f.type == 1)) {
      value = Load<double>(f.bytes.data());
    }
    return true;
  });
  if (!ok || !value || (dtype != 1 && dtype != 2)) return false;
  *out = *value;
  return true;
}

// A Summary.Value: its tag and its scalar (simple_value, or a scalar tensor), if any.
bool ParseValue(std::string_view bytes, std::string* tag, std::optional<double>* value) {
  return ForEachField(bytes, [&](const Field& f) {
    if (f.number == 1 && f.type == 2) *tag = std::string(f.bytes);
    if (f.number == 2 && f.type == 5) *value = Load<float>(f.bytes.data());
    double scalar;
    if (f.number == 8 && f.type == 2 && TensorScalar(f.bytes, &scalar)) *value = scalar;
    return true;
  });
}

bool ParseEvent(std::string_view bytes, std::vector<ScalarEvent>* out) {
  double wall = 0;
  int64_t step = 0;
  std::vector<ScalarEvent> found;
  // Field 5 is the Summary, whose repeated field 1 is a Value.
  auto summary_value = [&](const Field& f) {
    if (f.number != 1 || f.type != 2) return true;
    std::string tag;
    std::optional<double> value;
    if (!ParseValue(f.bytes, &tag, &value)) return false;
    if (value) found.push_back({tag, 0, *value, 0});
    return true;
  };
  bool ok = ForEachField(bytes, [&](const Field& f) {
    if (f.number == 1 && f.type == 1) wall = Load<double>(f.bytes.data());
    if (f.number == 2 && f.type == 0) step = static_cast<int64_t>(f.varint);
    if (f.number != 5 || f.type != 2) return true;
    return ForEachField(f.bytes, summary_value);
  });
  if (!ok) return false;
  for (ScalarEvent& e : found) {
    e.step = step;
    e.wall_time = wall;
    out->push_back(std::move(e));
  }
  return true;
}

}  // namespace

StatusOr<std::vector<ScalarEvent>> ParseScalarEvents(std::string_view bytes, size_t* consumed) {
  std::vector<ScalarEvent> out;
  size_t pos = 0;
  // One Event larger than this is no scalar log; refusing it keeps a damaged length from
  // making the reader wait for gigabytes that never come.
  constexpr uint64_t kMaxRecord = 64 << 20;
  while (true) {
    const size_t at = pos;
    MLCORE_ASSIGN_OR_RETURN(auto data,
                            mlcore::internal::NextTFRecord(bytes, &pos, kMaxRecord, "event file"));
    if (!data) break;  // still being written
    if (!ParseEvent(*data, &out)) {
      return absl::DataLossError(absl::StrCat("event file: malformed Event at byte ", at));
    }
  }
  *consumed = pos;
  return out;
}

}  // namespace mlcore::ui
