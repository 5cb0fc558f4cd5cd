// TensorBoard event files as the dashboard reads them (any file under a log dir): every input
// parses or is refused with a Status, and what parses consumed no more than it was given.
#include <string_view>

#include "mlcore/ui/event_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  size_t consumed = 0;
  auto events = mlcore::ui::ParseScalarEvents(bytes, &consumed);
  if (events.ok() && consumed > size) __builtin_trap();
  return 0;
}
