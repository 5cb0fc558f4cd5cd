// Uploads that the server must confirm byte for byte: each body goes with its MD5
// (Content-MD5, checked by the server) and its sha256 (signed), and the ETag that comes back is
// compared with the MD5 sent; a multipart upload checks every part and the combined ETag, and is
// aborted when anything fails, so no half-written object is left behind.
#pragma once

#include <cstdint>
#include <string>

#include "store/s3_transport.h"

namespace mlcore::store::internal {

StatusOr<int64_t> FileSize(const std::string& path);

// DataLoss unless `response` carries the ETag `expected` (hex MD5, or "<hex>-<parts>" for a
// multipart object). Objects encrypted with SSE-KMS have ETags that are not MD5s: for them the
// server's own Content-MD5 check stands alone.
Status CheckETag(const S3Call& call, const HttpResponse& response, const std::string& expected);

// Sends `length` bytes of `path` from `offset` as `call`'s body (a PUT or an UploadPart) and
// checks the ETag. Returns the raw MD5 of the range.
StatusOr<std::string> UploadRange(const S3Transport& transport, S3Call call,
                                  const std::string& path, int64_t offset, int64_t length);

Status UploadMultipart(const S3Transport& transport, const std::string& bucket,
                       const std::string& key, const std::string& path, int64_t size);

}  // namespace mlcore::store::internal
