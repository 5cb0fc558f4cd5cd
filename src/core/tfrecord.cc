#include "core/tfrecord.h"

#include <array>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace mlcore::internal {
namespace {

uint32_t Crc32c(std::string_view data) {
  // Reflected polynomial 0x82F63B78, one table lookup per byte.
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (char ch : data) crc = table[(crc ^ static_cast<uint8_t>(ch)) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

void PutLittleEndian(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

uint32_t MaskedCrc32c(std::string_view data) {
  const uint32_t crc = Crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

void AppendTFRecord(std::string* out, std::string_view data) {
  const size_t start = out->size();
  PutLittleEndian(out, data.size(), 8);
  PutLittleEndian(out, MaskedCrc32c(std::string_view(*out).substr(start, 8)), 4);
  out->append(data);
  PutLittleEndian(out, MaskedCrc32c(data), 4);
}

StatusOr<std::optional<std::string_view>> NextTFRecord(std::string_view bytes, size_t* pos,
                                                       uint64_t max_length, std::string_view what) {
  const size_t at = *pos;
  if (bytes.size() - at < 12) return std::nullopt;
  const char* p = bytes.data() + at;
  const uint64_t length = Load<uint64_t>(p);
  if (MaskedCrc32c(bytes.substr(at, 8)) != Load<uint32_t>(p + 8)) {
    return absl::DataLossError(absl::StrCat(AV(what), ": bad length checksum at byte ", at));
  }
  if (length > max_length) {
    return absl::DataLossError(
        absl::StrCat(AV(what), ": a record of ", length, " bytes at byte ", at));
  }
  if (bytes.size() - at - 12 < length + 4) return std::nullopt;  // still being written
  const std::string_view data = bytes.substr(at + 12, length);
  if (MaskedCrc32c(data) != Load<uint32_t>(p + 12 + length)) {
    return absl::DataLossError(absl::StrCat(AV(what), ": bad data checksum at byte ", at));
  }
  *pos = at + 12 + length + 4;
  return data;
}

}  // namespace mlcore::internal
