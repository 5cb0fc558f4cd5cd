// The TCP store's wire format (src/dist/tcp_store_protocol.h): the server decodes requests from
// any process that reaches its port. The first byte picks what the rest is read as: a request,
// or a response to one of the seven ops (what a client reads back). A decoded message must
// re-encode to bytes that decode to the same message.
#include <string>
#include <string_view>

#include "../src/dist/tcp_store_protocol.h"

using namespace mlcore::dist::internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const uint8_t selector = data[0] % 8;
  if (selector == 0) {
    auto request = DecodeRequest(bytes);
    if (!request.ok()) return 0;
    auto again = DecodeRequest(EncodeRequest(*request));
    if (!again.ok() || again->op != request->op || again->keys != request->keys ||
        again->value != request->value || again->expected != request->expected) {
      __builtin_trap();
    }
    return 0;
  }
  const StoreOp op = static_cast<StoreOp>(selector);
  auto response = DecodeResponse(op, bytes);
  if (!response.ok()) return 0;
  auto again = DecodeResponse(op, EncodeResponse(op, *response));
  if (!again.ok() || again->reply != response->reply || again->value != response->value ||
      again->found != response->found) {
    __builtin_trap();
  }
  return 0;
}
