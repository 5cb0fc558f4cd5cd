// Incremental sha256 over OpenSSL's EVP interface, for hashing artifacts as they stream through.
#pragma once

#include <string>
#include <string_view>

#include "mlcore/core/status.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace mlcore::store::internal {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  // The digest as 64 lowercase hex digits; call once, after the last Update. Internal when
  // OpenSSL failed at any step (out of memory, or no sha256 provider loaded).
  StatusOr<std::string> HexDigest();

 private:
  EVP_MD_CTX* ctx_;
  bool ok_;
};

}  // namespace mlcore::store::internal
