// The TcpStore's wire format. Every message is a frame: a 4-byte little-endian payload length,
// then the payload. A request's payload is an opcode byte and its fields; a response's is a
// status byte and the fields its request asks for. Strings are a 4-byte length and the bytes,
// integers 8 bytes little-endian. The server parses bytes from any process that can reach its
// port, so DecodeRequest checks every length against what is left (fuzz/tcp_store_fuzzer.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mlcore/core/status.h"

namespace mlcore::dist::internal {

// A frame longer than this is refused (a value of hundreds of MiB is not rendezvous traffic).
inline constexpr uint32_t kMaxFrameBytes = 64u << 20;
// Keys per Wait/Check request.
inline constexpr uint32_t kMaxKeysPerRequest = 1u << 16;

enum class StoreOp : uint8_t {
  kSet = 1,
  kGet = 2,  // waits for the key
  kWait = 3,
  kAdd = 4,
  kCompareSet = 5,
  kDelete = 6,
  kCheck = 7,
};

struct StoreRequest {
  StoreOp op = StoreOp::kSet;
  std::vector<std::string> keys;  // one key, except for kWait and kCheck
  std::string value;              // kSet's value, kCompareSet's desired value
  std::string expected;           // kCompareSet
  int64_t number = 0;             // kAdd's delta; kGet/kWait's timeout in milliseconds
};

enum class StoreReply : uint8_t { kOk = 0, kTimeout = 1, kError = 2 };

struct StoreResponse {
  StoreReply reply = StoreReply::kOk;
  std::string value;        // kGet, kCompareSet; the message of kTimeout/kError
  int64_t number = 0;       // kAdd's sum; kDelete's 1/0
  std::vector<bool> found;  // kCheck
};

// The payload (without the frame length) of a request or a response to a request of `op`.
std::string EncodeRequest(const StoreRequest& request);
std::string EncodeResponse(StoreOp op, const StoreResponse& response);
// InvalidArgument naming what is wrong for a malformed payload (unknown opcode, a length past
// the end, trailing bytes, too many keys).
StatusOr<StoreRequest> DecodeRequest(std::string_view payload);
StatusOr<StoreResponse> DecodeResponse(StoreOp op, std::string_view payload);

// The 4-byte length prefix of a payload of `size` bytes, and its inverse.
std::string FrameHeader(uint32_t size);
uint32_t ParseFrameHeader(const char header[4]);

}  // namespace mlcore::dist::internal
