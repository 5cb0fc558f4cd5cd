// TFRecord framing, the container of TensorBoard event files, shared by the writer
// (nn/tensorboard.cc) and the dashboard's reader (ui/event_reader.cc). A file is a sequence of
//   uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)
// all little-endian (as the x86 and arm64 hosts mlcore builds for are).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mlcore/core/status.h"

namespace mlcore::internal {

// CRC-32C (Castagnoli) rotated and offset as TFRecord masks it.
uint32_t MaskedCrc32c(std::string_view data);

// Appends `data` framed as one record to *out.
void AppendTFRecord(std::string* out, std::string_view data);

// The data of the record at bytes[*pos], *pos moved past it; nullopt when the bytes end inside
// the record (a file still being written: read again from *pos later). DataLoss, naming `what`
// ("event file") and the record's offset, for a bad checksum or a length over `max_length` (a
// damaged length must not make a reader wait for gigabytes that never come).
StatusOr<std::optional<std::string_view>> NextTFRecord(std::string_view bytes, size_t* pos,
                                                       uint64_t max_length, std::string_view what);

}  // namespace mlcore::internal
