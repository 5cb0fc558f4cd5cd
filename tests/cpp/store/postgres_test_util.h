// A real PostgreSQL server for the tests, started by scripts/pg-test-cluster.sh (the script the
// pytest fixture and the ctest fixture use too). Under ctest the fixture "mlcore_pg_cluster"
// starts one cluster for the whole run in <build>/tests/pg-cluster; a test binary run by hand
// starts its own in a temp dir and a gtest environment stops it at exit. Each test gets a fresh
// database. Tests skip (naming why) only where the server binaries are not installed.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "mlcore/core/subprocess.h"
#include "mlcore/store/postgres.h"
#include "store/store_test_util.h"

namespace mlcore::store::testing {

// Written at configure time by cmake/postgres_tests.cmake.
inline std::string PgClusterScript() {
  return ReadAll(std::string(MLCORE_TEST_BINARY_DIR) + "/pg-cluster-script");
}

// Runs the cluster script; its stdout (the URL for start) in *out.
inline Status RunPgScript(const std::vector<std::string>& args, std::string* out = nullptr) {
  SubprocessOptions o;
  o.argv = {"bash", PgClusterScript()};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.timeout = absl::Seconds(120);
  std::string text;
  o.on_stdout_line = [&](std::string_view line) {
    text.append(line.data(), line.size());
    return true;
  };
  MLCORE_ASSIGN_OR_RETURN(SubprocessResult r, RunSubprocess(std::move(o)));
  if (out != nullptr) *out = text;
  if (r.exit_code == 3) return absl::NotFoundError(r.stderr_tail);
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("pg-test-cluster.sh ", args[0], " failed (exit ",
                                            r.exit_code, "): ", r.stderr_tail));
  }
  return absl::OkStatus();
}

class PgCluster {
 public:
  // The cluster, started on first use; nullptr when the server binaries are absent (see
  // skip_reason()). A failure to start a present server fails the test.
  static PgCluster* Get() {
    static PgCluster* cluster = Start();
    return cluster;
  }
  static std::string& skip_reason() {
    static std::string reason;
    return reason;
  }

  const std::string& url() const { return url_; }
  const std::string& dir() const { return dir_; }

  // A new empty database on the cluster; its URL.
  std::string NewDatabase() {
    static std::atomic<int> counter{0};
    std::string name = absl::StrCat("t", ::getpid(), "_", counter++, "_", std::rand() % 100000);
    auto admin = PostgresStore::Open({.url = url_});
    EXPECT_TRUE(admin.ok()) << admin.status();
    if (!admin.ok()) return "";
    Status s = (*admin)->Execute(absl::StrCat("CREATE DATABASE ", name));
    EXPECT_TRUE(s.ok()) << s;
    return WithDatabase(name);
  }

  // The cluster's URL with another database.
  std::string WithDatabase(const std::string& name) const {
    return url_.substr(0, url_.rfind('/') + 1) + name;
  }

  // A cluster of one's own (for tests that restart or kill the server), stopped at destruction.
  static std::unique_ptr<PgCluster> StartPrivate() {
    std::string dir =
        absl::StrCat(::testing::TempDir(), "/mlcore_pg_", ::getpid(), "_", std::rand());
    std::string url;
    Status s = RunPgScript({"start", dir}, &url);
    if (!s.ok()) {
      ADD_FAILURE() << s;
      return nullptr;
    }
    while (!url.empty() && url.back() == '\n') url.pop_back();
    return std::unique_ptr<PgCluster>(new PgCluster(dir, url, /*owned=*/true));
  }

  Status Restart() const { return RunPgScript({"restart", dir_}); }
  Status Kill() const { return RunPgScript({"kill", dir_}); }
  Status Up() const { return RunPgScript({"up", dir_}); }

  ~PgCluster() {
    // Only the process that started it: a forked test child leaving by exit() must not.
    if (owned_ && ::getpid() == creator_) (void)RunPgScript({"stop", dir_});
  }

 private:
  PgCluster(std::string dir, std::string url, bool owned)
      : dir_(std::move(dir)), url_(std::move(url)), owned_(owned) {}

  static PgCluster* Start();

  std::string dir_;
  std::string url_;
  bool owned_;
  pid_t creator_ = ::getpid();
};

// Stops the binary's own cluster when the tests end (registered by postgres_store_test.cc).
class PgClusterEnvironment : public ::testing::Environment {
 public:
  static std::unique_ptr<PgCluster>& own() {
    static std::unique_ptr<PgCluster> cluster;
    return cluster;
  }
  void TearDown() override { own().reset(); }
};

inline PgCluster* PgCluster::Start() {
  std::string shared = std::string(MLCORE_TEST_BINARY_DIR) + "/pg-cluster";
  std::string url = ReadAll(shared + "/url");
  while (!url.empty() && url.back() == '\n') url.pop_back();
  if (!url.empty() && PostgresStore::Open({.url = url}).ok()) {
    return new PgCluster(shared, url, /*owned=*/false);
  }
  std::string bindir;
  if (Status s = RunPgScript({"bindir"}, &bindir); !s.ok()) {
    skip_reason() = absl::StrCat("PostgreSQL server binaries not installed (", s.message(),
                                 "); scripts/install-deps.sh installs them");
    return nullptr;
  }
  PgClusterEnvironment::own() = StartPrivate();
  return PgClusterEnvironment::own().get();
}

}  // namespace mlcore::store::testing

// Skips the test (with the reason) where no PostgreSQL server can be run.
#define MLCORE_REQUIRE_POSTGRES()                                         \
  do {                                                                    \
    if (::mlcore::store::testing::PgCluster::Get() == nullptr) {          \
      GTEST_SKIP() << ::mlcore::store::testing::PgCluster::skip_reason(); \
    }                                                                     \
  } while (0)
