// postgresql:// URLs as users type them and server messages that may quote them: parsing and
// redaction must never crash or read out of bounds (ASan), a parsed port is in range, and
// redaction never grows a message beyond the inserted "***" marks.
#include <string>

#include "mlcore/store/postgres.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto url = mlcore::store::ParsePostgresUrl(text);
  if (url.ok()) {
    if (url->port < 0 || url->port > 65535) __builtin_trap();
    if (url->Endpoint().empty()) __builtin_trap();
    (void)url->Redacted();
  }
  const std::string redacted = mlcore::store::RedactPostgresUrl(text);
  // Each "scheme://user:secret@" loses its secret and gains "***": at most 3 bytes per "://".
  size_t schemes = 0;
  for (size_t at = text.find("://"); at != std::string::npos; at = text.find("://", at + 1)) {
    ++schemes;
  }
  if (redacted.size() > text.size() + 3 * schemes) __builtin_trap();
  return 0;
}
