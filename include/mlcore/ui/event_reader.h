// Reading the scalars of TensorBoard event files (what nn::TensorBoard and TensorFlow write), so
// the dashboard draws training curves without TensorBoard. Only scalar summaries are kept
// (simple_value, or a one-element float/double tensor); other records are skipped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mlcore/core/status.h"

namespace mlcore::ui {

struct ScalarEvent {
  std::string tag;  // "epoch_loss"
  int64_t step = 0;
  double value = 0;
  double wall_time = 0;  // seconds since the Unix epoch
};

// Parses the TFRecord-framed events in `bytes` (uint64 length, masked CRC-32C of the length,
// the Event, masked CRC-32C of the Event). A record cut short at the end (a writer still
// writing it) ends the parse without error; *consumed says how many bytes whole records took,
// so a reader of a growing file resumes there. DataLoss naming the offset for a bad checksum,
// an absurd length, or an Event that is not valid protobuf.
StatusOr<std::vector<ScalarEvent>> ParseScalarEvents(std::string_view bytes, size_t* consumed);

}  // namespace mlcore::ui
