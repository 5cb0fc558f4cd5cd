#include "store/s3_upload.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "store/s3_xml.h"

namespace mlcore::store::internal {
namespace {

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

struct RangeDigests {
  std::string sha256_hex;
  std::string md5_raw;
};

// One read of the range for both digests: sha256 to sign, MD5 for Content-MD5 and the ETag.
StatusOr<RangeDigests> HashRange(const std::string& path, int64_t offset, int64_t length) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return mlcore::internal::ErrnoStatus(errno, "cannot open", path);
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> md5(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  bool ok = sha && md5 && EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr) == 1 &&
            EVP_DigestInit_ex(md5.get(), EVP_md5(), nullptr) == 1;
  std::vector<char> buffer(1 << 20);
  for (int64_t done = 0; ok && done < length;) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(buffer.size(), length - done));
    ssize_t got = ::pread(fd, buffer.data(), want, offset + done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      Status s = mlcore::internal::ErrnoStatus(got == 0 ? EIO : errno, "cannot read", path);
      ::close(fd);
      return s;
    }
    ok = EVP_DigestUpdate(sha.get(), buffer.data(), got) == 1 &&
         EVP_DigestUpdate(md5.get(), buffer.data(), got) == 1;
    done += got;
  }
  ::close(fd);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  RangeDigests d;
  ok = ok && EVP_DigestFinal_ex(sha.get(), out, &n) == 1;
  if (ok) d.sha256_hex = HexOf(std::string_view(reinterpret_cast<char*>(out), n));
  ok = ok && EVP_DigestFinal_ex(md5.get(), out, &n) == 1;
  if (ok) d.md5_raw = std::string(reinterpret_cast<char*>(out), n);
  if (!ok) return absl::InternalError("OpenSSL failed to hash " + path);
  return d;
}

}  // namespace

StatusOr<int64_t> FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return mlcore::internal::ErrnoStatus(errno, "cannot stat", path);
  }
  return static_cast<int64_t>(st.st_size);
}

Status CheckETag(const S3Call& call, const HttpResponse& response, const std::string& expected) {
  auto sse = response.headers.find("x-amz-server-side-encryption");
  if (sse != response.headers.end() && sse->second.rfind("aws:kms", 0) == 0) {
    return absl::OkStatus();
  }
  auto etag = response.headers.find("etag");
  const std::string got = etag == response.headers.end() ? "" : Unquote(etag->second);
  if (got != expected) {
    return absl::DataLossError(absl::StrCat(
        "S3 ", call.operation, " ", S3Transport::Where(call), ": the server answered ETag '", got,
        "', not '", expected, "' (the MD5 of what was sent): the stored bytes cannot be trusted"));
  }
  return absl::OkStatus();
}

StatusOr<std::string> UploadRange(const S3Transport& transport, S3Call call,
                                  const std::string& path, int64_t offset, int64_t length) {
  MLCORE_ASSIGN_OR_RETURN(RangeDigests digests, HashRange(path, offset, length));
  call.headers.emplace_back("content-md5", Base64(digests.md5_raw));
  call.body_file = path;
  call.body_offset = offset;
  call.body_length = length;
  call.payload_hash = digests.sha256_hex;
  MLCORE_ASSIGN_OR_RETURN(HttpResponse response, transport.Send(call));
  MLCORE_RETURN_IF_ERROR(CheckETag(call, response, HexOf(digests.md5_raw)));
  return digests.md5_raw;
}

Status UploadMultipart(const S3Transport& transport, const std::string& bucket,
                       const std::string& key, const std::string& path, int64_t size) {
  S3Call start{"CreateMultipartUpload", "POST", bucket, key, {{"uploads", ""}}};
  MLCORE_ASSIGN_OR_RETURN(HttpResponse started, transport.Send(start));
  StatusOr<std::string> upload_id = ParseUploadId(started.body);
  if (!upload_id.ok()) {
    return absl::DataLossError(absl::StrCat("S3 CreateMultipartUpload ", S3Transport::Where(start),
                                            ": unreadable answer: ", upload_id.status().message()));
  }
  auto upload = [&]() -> Status {
    const int64_t part_size = transport.options().part_size;
    std::string all_md5;
    std::string parts_xml;
    int parts = 0;
    for (int64_t offset = 0; offset < size || parts == 0; offset += part_size) {
      ++parts;
      S3Call part{absl::StrCat("UploadPart ", parts),
                  "PUT",
                  bucket,
                  key,
                  {{"partNumber", std::to_string(parts)}, {"uploadId", *upload_id}}};
      MLCORE_ASSIGN_OR_RETURN(std::string md5, UploadRange(transport, part, path, offset,
                                                           std::min(part_size, size - offset)));
      all_md5 += md5;
      absl::StrAppend(&parts_xml, "<Part><PartNumber>", parts, "</PartNumber><ETag>\"", HexOf(md5),
                      "\"</ETag></Part>");
    }
    const std::string body =
        absl::StrCat("<CompleteMultipartUpload>", parts_xml, "</CompleteMultipartUpload>");
    S3Call complete{"CompleteMultipartUpload", "POST", bucket, key, {{"uploadId", *upload_id}}};
    complete.body = body;
    complete.error_in_ok_body = true;
    MLCORE_ASSIGN_OR_RETURN(complete.payload_hash, Sha256HexOf(body));
    MLCORE_ASSIGN_OR_RETURN(HttpResponse done, transport.Send(complete));
    // The completed object's ETag is in the body here, not in a header.
    StatusOr<XmlElement> result = ParseXml(done.body);
    if (result.ok()) done.headers["etag"] = result->ChildText("ETag");
    return CheckETag(complete, done, absl::StrCat(HexOf(Md5Raw(all_md5)), "-", parts));
  };
  Status status = upload();
  if (!status.ok()) {
    // Parts already stored cost money and show in no listing; the abort's own failure is not
    // what the caller needs to hear about.
    S3Call abort{"AbortMultipartUpload", "DELETE", bucket, key, {{"uploadId", *upload_id}}};
    (void)transport.Send(abort);
  }
  return status;
}

}  // namespace mlcore::store::internal
