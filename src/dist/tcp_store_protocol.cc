#include "dist/tcp_store_protocol.h"

#include <cstring>

namespace mlcore::dist::internal {
namespace {

void PutU32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}

void PutI64(std::string& out, int64_t value) {
  uint64_t v = static_cast<uint64_t>(value);
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 8);
}

void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Reads fields off the front of a payload; every read checks the bytes left.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  bool U8(uint8_t* v) {
    if (data_.empty()) return false;
    *v = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t* v) {
    if (data_.size() < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v |= uint32_t{static_cast<uint8_t>(data_[i])} << (8 * i);
    data_.remove_prefix(4);
    return true;
  }
  bool I64(int64_t* v) {
    if (data_.size() < 8) return false;
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u |= uint64_t{static_cast<uint8_t>(data_[i])} << (8 * i);
    *v = static_cast<int64_t>(u);
    data_.remove_prefix(8);
    return true;
  }
  bool String(std::string* s) {
    uint32_t n = 0;
    if (!U32(&n) || n > data_.size()) return false;
    s->assign(data_.data(), n);
    data_.remove_prefix(n);
    return true;
  }
  bool Count(uint32_t* n) { return U32(n) && *n <= kMaxKeysPerRequest && *n <= data_.size(); }
  bool done() const { return data_.empty(); }

 private:
  std::string_view data_;
};

Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError("malformed store " + std::string(what));
}

bool IsKnownOp(uint8_t op) { return op >= 1 && op <= 7; }

}  // namespace

std::string FrameHeader(uint32_t size) {
  std::string out;
  PutU32(out, size);
  return out;
}

uint32_t ParseFrameHeader(const char header[4]) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(header[i])} << (8 * i);
  return v;
}

std::string EncodeRequest(const StoreRequest& r) {
  std::string out;
  out.push_back(static_cast<char>(r.op));
  switch (r.op) {
    case StoreOp::kWait:
    case StoreOp::kCheck:
      PutU32(out, static_cast<uint32_t>(r.keys.size()));
      for (const std::string& key : r.keys) PutString(out, key);
      if (r.op == StoreOp::kWait) PutI64(out, r.number);
      return out;
    default:
      break;
  }
  PutString(out, r.keys.empty() ? std::string_view() : std::string_view(r.keys[0]));
  switch (r.op) {
    case StoreOp::kSet:
      PutString(out, r.value);
      break;
    case StoreOp::kGet:
    case StoreOp::kAdd:
      PutI64(out, r.number);
      break;
    case StoreOp::kCompareSet:
      PutString(out, r.expected);
      PutString(out, r.value);
      break;
    default:
      break;
  }
  return out;
}

StatusOr<StoreRequest> DecodeRequest(std::string_view payload) {
  Reader in(payload);
  uint8_t op = 0;
  if (!in.U8(&op)) return Malformed("request: empty");
  if (!IsKnownOp(op)) return Malformed("request: unknown opcode " + std::to_string(op));
  StoreRequest r;
  r.op = static_cast<StoreOp>(op);
  bool ok = true;
  if (r.op == StoreOp::kWait || r.op == StoreOp::kCheck) {
    uint32_t n = 0;
    ok = in.Count(&n);
    for (uint32_t i = 0; ok && i < n; ++i) {
      r.keys.emplace_back();
      ok = in.String(&r.keys.back());
    }
    if (ok && r.op == StoreOp::kWait) ok = in.I64(&r.number);
  } else {
    r.keys.emplace_back();
    ok = in.String(&r.keys[0]);
    if (ok && r.op == StoreOp::kSet) ok = in.String(&r.value);
    if (ok && (r.op == StoreOp::kGet || r.op == StoreOp::kAdd)) ok = in.I64(&r.number);
    if (ok && r.op == StoreOp::kCompareSet) ok = in.String(&r.expected) && in.String(&r.value);
  }
  if (!ok) return Malformed("request: a field runs past the end of the message");
  if (!in.done()) return Malformed("request: trailing bytes");
  return r;
}

std::string EncodeResponse(StoreOp op, const StoreResponse& r) {
  std::string out;
  out.push_back(static_cast<char>(r.reply));
  if (r.reply != StoreReply::kOk) {
    PutString(out, r.value);
    return out;
  }
  switch (op) {
    case StoreOp::kGet:
    case StoreOp::kCompareSet:
      PutString(out, r.value);
      break;
    case StoreOp::kAdd:
    case StoreOp::kDelete:
      PutI64(out, r.number);
      break;
    case StoreOp::kCheck:
      PutU32(out, static_cast<uint32_t>(r.found.size()));
      for (bool f : r.found) out.push_back(f ? 1 : 0);
      break;
    default:
      break;
  }
  return out;
}

StatusOr<StoreResponse> DecodeResponse(StoreOp op, std::string_view payload) {
  Reader in(payload);
  uint8_t reply = 0;
  if (!in.U8(&reply) || reply > 2) return Malformed("response: bad status byte");
  StoreResponse r;
  r.reply = static_cast<StoreReply>(reply);
  bool ok = true;
  if (r.reply != StoreReply::kOk) {
    ok = in.String(&r.value);
  } else if (op == StoreOp::kGet || op == StoreOp::kCompareSet) {
    ok = in.String(&r.value);
  } else if (op == StoreOp::kAdd || op == StoreOp::kDelete) {
    ok = in.I64(&r.number);
  } else if (op == StoreOp::kCheck) {
    uint32_t n = 0;
    ok = in.Count(&n);
    for (uint32_t i = 0; ok && i < n; ++i) {
      uint8_t f = 0;
      ok = in.U8(&f);
      r.found.push_back(f != 0);
    }
  }
  if (!ok) return Malformed("response: a field runs past the end of the message");
  if (!in.done()) return Malformed("response: trailing bytes");
  return r;
}

}  // namespace mlcore::dist::internal
