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

// A one-value float (dtype 1) or double (dtype 2) TensorProto.
bool TensorScalar(std::string_view bytes, double* out) {
  Wire w(bytes);
  uint64_t dtype = 0;
  std::optional<double> value;
  while (!w.done()) {
    uint32_t n;
    int t;
    uint64_t v = 0;
    std::string_view b;
    if (!w.Field(&n, &t, &v, &b)) return false;
    if (n == 1 && t == 0) dtype = v;
    if (n == 4 && t == 2 && b.size() == 4) value = Load<float>(b.data());
    if (n == 4 && t == 2 && b.size() == 8) value = Load<double>(b.data());
    if (n == 5 && ((t == 2 && b.size() == 4) || t == 5)) value = Load<float>(b.data());
    if (n == 6 && ((t == 2 && b.size() == 8) || t == 1)) value = Load<double>(b.data());
  }
  if (!value || (dtype != 1 && dtype != 2)) return false;
  *out = *value;
  return true;
}

bool ParseValue(std::string_view bytes, std::string* tag, std::optional<double>* value) {
  Wire w(bytes);
  while (!w.done()) {
    uint32_t n;
    int t;
    uint64_t v = 0;
    std::string_view b;
    if (!w.Field(&n, &t, &v, &b)) return false;
    if (n == 1 && t == 2) *tag = std::string(b);
    if (n == 2 && t == 5) *value = Load<float>(b.data());
    double scalar;
    if (n == 8 && t == 2 && TensorScalar(b, &scalar)) *value = scalar;
  }
  return true;
}

bool ParseEvent(std::string_view bytes, std::vector<ScalarEvent>* out) {
  Wire w(bytes);
  double wall = 0;
  int64_t step = 0;
  std::vector<ScalarEvent> found;
  while (!w.done()) {
    uint32_t n;
    int t;
    uint64_t v = 0;
    std::string_view b;
    if (!w.Field(&n, &t, &v, &b)) return false;
    if (n == 1 && t == 1) wall = Load<double>(b.data());
    if (n == 2 && t == 0) step = static_cast<int64_t>(v);
    if (n != 5 || t != 2) continue;
    Wire summary(b);
    while (!summary.done()) {
      uint32_t sn;
      int st;
      uint64_t sv = 0;
      std::string_view sb;
      if (!summary.Field(&sn, &st, &sv, &sb)) return false;
      if (sn != 1 || st != 2) continue;
      std::string tag;
      std::optional<double> value;
      if (!ParseValue(sb, &tag, &value)) return false;
      if (value) found.push_back({tag, 0, *value, 0});
    }
  }
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
