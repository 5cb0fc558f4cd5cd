#include "store/s3_http.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/file_util.h"

namespace mlcore::store::internal {
namespace {

struct Exchange {
  CURL* curl = nullptr;
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  int body_fd = -1;
  int64_t sent = 0;
  int out_fd = -1;
  Status failure;  // a local file error, which curl only sees as an aborted transfer
};

size_t ReadBody(char* buffer, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const HttpRequest& r = *x->request;
  const int64_t total = r.body_file.empty() ? static_cast<int64_t>(r.body.size()) : r.body_length;
  const size_t n = static_cast<size_t>(std::min<int64_t>(total - x->sent, size * count));
  if (n == 0) return 0;
  if (r.body_file.empty()) {
    std::memcpy(buffer, r.body.data() + x->sent, n);
  } else {
    ssize_t got = ::pread(x->body_fd, buffer, n, r.body_offset + x->sent);
    if (got <= 0) {
      x->failure =
          mlcore::internal::ErrnoStatus(got == 0 ? EIO : errno, "cannot read", r.body_file);
      return CURL_READFUNC_ABORT;
    }
    x->sent += got;
    return static_cast<size_t>(got);
  }
  x->sent += static_cast<int64_t>(n);
  return n;
}

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t n = size * count;
  x->response->body_bytes += static_cast<int64_t>(n);
  long status = 0;
  curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
  if (x->request->response_file.empty() || status < 200 || status >= 300) {
    x->response->body.append(data, n);
    return n;
  }
  if (x->out_fd < 0) {
    x->out_fd =
        ::open(x->request->response_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (x->out_fd < 0) {
      x->failure = mlcore::internal::ErrnoStatus(errno, "cannot create", x->request->response_file);
      return 0;
    }
  }
  for (size_t done = 0; done < n;) {
    ssize_t wrote = ::write(x->out_fd, data + done, n - done);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      x->failure = mlcore::internal::ErrnoStatus(errno, "cannot write", x->request->response_file);
      return 0;
    }
    done += static_cast<size_t>(wrote);
  }
  return n;
}

size_t ReadHeader(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  std::string_view line(data, size * count);
  if (line.substr(0, 5) == "HTTP/") x->response->headers.clear();  // a new (final) status line
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    const std::string name(line.substr(0, colon));
    const std::string value(line.substr(colon + 1));
    x->response->headers[absl::AsciiStrToLower(name)] =
        std::string(absl::StripAsciiWhitespace(value));
  }
  return size * count;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

StatusOr<HttpResponse> PerformHttp(const HttpRequest& request) {
  GlobalInit();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (curl == nullptr) return absl::InternalError("libcurl could not start a transfer");
  HttpResponse response;
  Exchange x;
  x.curl = curl.get();
  x.request = &request;
  x.response = &response;
  if (!request.body_file.empty()) {
    x.body_fd = ::open(request.body_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (x.body_fd < 0)
      return mlcore::internal::ErrnoStatus(errno, "cannot open", request.body_file);
  }
  struct curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
  }
  // curl would add "Expect: 100-continue" to large uploads and wait for the answer: one round
  // trip more per part, for nothing, since the request is signed and will be accepted.
  headers = curl_slist_append(headers, "Expect:");
  const int64_t body_size =
      request.body_file.empty() ? static_cast<int64_t>(request.body.size()) : request.body_length;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(request.connect_timeout)));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(
      c, CURLOPT_LOW_SPEED_TIME,
      static_cast<long>(std::max<int64_t>(1, absl::ToInt64Seconds(request.stall_timeout))));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(c, CURLOPT_READDATA, &x);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_size));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  CURLcode code = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (x.body_fd >= 0) ::close(x.body_fd);
  if (x.out_fd >= 0 && ::close(x.out_fd) != 0 && x.failure.ok()) {
    x.failure = mlcore::internal::ErrnoStatus(errno, "cannot write", request.response_file);
  }
  if (!x.failure.ok()) return x.failure;
  if (code != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat(request.method, " ", request.url, ": ", curl_easy_strerror(code)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  // An empty 2xx body still makes the file, so a zero-byte object downloads as a zero-byte file.
  if (!request.response_file.empty() && response.status >= 200 && response.status < 300 &&
      x.out_fd < 0) {
    int fd = ::open(request.response_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return mlcore::internal::ErrnoStatus(errno, "cannot create", request.response_file);
    ::close(fd);
  }
  return response;
}

}  // namespace mlcore::store::internal
