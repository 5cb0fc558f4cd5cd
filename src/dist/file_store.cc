// FileStore: the whole map lives in one file, rewritten under an exclusive flock on every change.
// Waiting polls the file; rendezvous traffic is a few keys per rank, so this is cheap enough and
// works on any shared file system with working flock (NFSv4, Lustre, local disks).
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <map>
#include <thread>

#include "mlcore/dist/store.h"

namespace mlcore::dist {
namespace {

using Map = std::map<std::string, std::string, std::less<>>;

constexpr absl::Duration kPollInterval = absl::Milliseconds(5);

void PutU32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

// A truncated or foreign file reads as the entries that parse: the store never crashes on it.
Map Parse(const std::string& bytes) {
  Map map;
  size_t at = 0;
  auto take = [&](std::string* s) {
    if (bytes.size() - at < 4) return false;
    uint32_t n;
    std::memcpy(&n, bytes.data() + at, 4);
    at += 4;
    if (bytes.size() - at < n) return false;
    s->assign(bytes.data() + at, n);
    at += n;
    return true;
  };
  std::string key, value;
  while (take(&key) && take(&value)) map[key] = value;
  return map;
}

std::string Serialize(const Map& map) {
  std::string out;
  for (const auto& [key, value] : map) {
    PutU32(out, static_cast<uint32_t>(key.size()));
    out += key;
    PutU32(out, static_cast<uint32_t>(value.size()));
    out += value;
  }
  return out;
}

class FileStoreImpl : public FileStore {
 public:
  explicit FileStoreImpl(std::string path) : path_(std::move(path)) {}

  Status Set(std::string_view key, std::string_view value) override {
    return Update([&](Map& m) {
      m[std::string(key)] = std::string(value);
      return absl::OkStatus();
    });
  }

  StatusOr<std::string> Get(std::string_view key, absl::Duration timeout) override {
    MLCORE_RETURN_IF_ERROR(Wait({std::string(key)}, timeout));
    MLCORE_ASSIGN_OR_RETURN(Map m, Read());
    auto it = m.find(key);
    if (it == m.end())
      return absl::NotFoundError("store: the key '" + std::string(key) +
                                 "' was deleted while being read");
    return it->second;
  }

  Status Wait(const std::vector<std::string>& keys, absl::Duration timeout) override {
    absl::Time deadline = absl::Now() + timeout;
    while (true) {
      MLCORE_ASSIGN_OR_RETURN(Map m, Read());
      std::string missing;
      for (const std::string& key : keys) {
        if (m.find(key) == m.end()) missing += (missing.empty() ? "" : ", ") + key;
      }
      if (missing.empty()) return absl::OkStatus();
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError("store: timed out after " +
                                           absl::FormatDuration(timeout) + " waiting for key(s) " +
                                           missing);
      }
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(kPollInterval));
    }
  }

  StatusOr<int64_t> Add(std::string_view key, int64_t delta) override {
    int64_t sum = 0;
    MLCORE_RETURN_IF_ERROR(Update([&](Map& m) {
      std::string& s = m[std::string(key)];
      int64_t current = 0;
      if (!s.empty()) {
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), current);
        if (ec != std::errc() || end != s.data() + s.size()) {
          return absl::FailedPreconditionError("store: the key '" + std::string(key) +
                                               "' does not hold an integer");
        }
      }
      sum = current + delta;
      s = std::to_string(sum);
      return absl::OkStatus();
    }));
    return sum;
  }

  StatusOr<std::string> CompareSet(std::string_view key, std::string_view expected,
                                   std::string_view desired) override {
    std::string now;
    MLCORE_RETURN_IF_ERROR(Update([&](Map& m) {
      auto it = m.find(key);
      bool matches = it == m.end() ? expected.empty() : it->second == expected;
      if (matches) m[std::string(key)] = std::string(desired);
      now = m[std::string(key)];
      return absl::OkStatus();
    }));
    return now;
  }

  StatusOr<bool> Delete(std::string_view key) override {
    bool erased = false;
    MLCORE_RETURN_IF_ERROR(Update([&](Map& m) {
      auto it = m.find(key);
      erased = it != m.end();
      if (erased) m.erase(it);
      return absl::OkStatus();
    }));
    return erased;
  }

  StatusOr<std::vector<bool>> Check(const std::vector<std::string>& keys) override {
    MLCORE_ASSIGN_OR_RETURN(Map m, Read());
    std::vector<bool> found;
    for (const std::string& key : keys) found.push_back(m.find(key) != m.end());
    return found;
  }

  Status Touch() {
    return Update([](Map&) { return absl::OkStatus(); });
  }

 private:
  // Runs fn on the map under the file's lock (shared for reads, exclusive for writes).
  template <typename Fn>
  Status Locked(bool exclusive, Fn&& fn) {
    int fd = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Errno("open");
    if (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
      close(fd);
      return Errno("flock");
    }
    std::string bytes;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) bytes.append(buf, static_cast<size_t>(n));
    Status status = fn(fd, bytes);
    close(fd);  // releases the lock
    return status;
  }

  StatusOr<Map> Read() {
    Map map;
    MLCORE_RETURN_IF_ERROR(Locked(false, [&](int, const std::string& bytes) {
      map = Parse(bytes);
      return absl::OkStatus();
    }));
    return map;
  }

  template <typename Fn>
  Status Update(Fn&& fn) {
    return Locked(true, [&](int fd, const std::string& bytes) -> Status {
      Map map = Parse(bytes);
      MLCORE_RETURN_IF_ERROR(fn(map));
      std::string out = Serialize(map);
      if (ftruncate(fd, 0) != 0) return Errno("ftruncate");
      if (pwrite(fd, out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) {
        return Errno("write");
      }
      return absl::OkStatus();
    });
  }

  Status Errno(const char* what) const {
    return absl::UnavailableError(std::string("file store ") + path_ + ": " + what + ": " +
                                  std::strerror(errno));
  }

  std::string path_;
};

class PrefixStoreImpl : public Store {
 public:
  PrefixStoreImpl(std::string prefix, std::shared_ptr<Store> store)
      : prefix_(std::move(prefix) + "/"), store_(std::move(store)) {
    set_timeout(store_->timeout());
  }

  Status Set(std::string_view key, std::string_view value) override {
    return store_->Set(K(key), value);
  }
  StatusOr<std::string> Get(std::string_view key, absl::Duration timeout) override {
    return store_->Get(K(key), timeout);
  }
  Status Wait(const std::vector<std::string>& keys, absl::Duration timeout) override {
    return store_->Wait(Ks(keys), timeout);
  }
  StatusOr<int64_t> Add(std::string_view key, int64_t delta) override {
    return store_->Add(K(key), delta);
  }
  StatusOr<std::string> CompareSet(std::string_view key, std::string_view expected,
                                   std::string_view desired) override {
    return store_->CompareSet(K(key), expected, desired);
  }
  StatusOr<bool> Delete(std::string_view key) override { return store_->Delete(K(key)); }
  StatusOr<std::vector<bool>> Check(const std::vector<std::string>& keys) override {
    return store_->Check(Ks(keys));
  }

 private:
  std::string K(std::string_view key) const { return prefix_ + std::string(key); }
  std::vector<std::string> Ks(const std::vector<std::string>& keys) const {
    std::vector<std::string> out;
    for (const std::string& key : keys) out.push_back(K(key));
    return out;
  }
  std::string prefix_;
  std::shared_ptr<Store> store_;
};

}  // namespace

StatusOr<std::shared_ptr<FileStore>> FileStore::Open(const std::string& path,
                                                     absl::Duration timeout) {
  auto store = std::make_shared<FileStoreImpl>(path);
  store->set_timeout(timeout);
  MLCORE_RETURN_IF_ERROR(store->Touch());
  return std::shared_ptr<FileStore>(std::move(store));
}

std::shared_ptr<Store> PrefixStore(std::string prefix, std::shared_ptr<Store> store) {
  return std::make_shared<PrefixStoreImpl>(std::move(prefix), std::move(store));
}

}  // namespace mlcore::dist
