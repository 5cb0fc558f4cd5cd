// Helpers for the pipeline tests: a scratch MLCORE home per test and small component makers.
#pragma once

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"

// Expects `text` (a std::string) to contain `part`, printing both otherwise.
#define EXPECT_HAS(text, part)                                                          \
  do {                                                                                  \
    std::string text_ = (text);                                                         \
    EXPECT_NE(text_.find(part), std::string::npos) << text_ << "\n  lacks: " << (part); \
  } while (0)

namespace mlcore::pipeline::testing {

class ScratchHome {
 public:
  ScratchHome() {
    std::string base = ::testing::TempDir();
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    std::string pattern = base + "/mlcore_pipeline_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~ScratchHome() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

  // busy_timeout: how long store calls wait for a lock held elsewhere (see StoreWriteLock).
  std::unique_ptr<Client> Open(const std::string& ns = "default",
                               absl::Duration busy_timeout = absl::Seconds(30)) const {
    ClientOptions o;
    o.home = path_;
    o.ns = ns;
    o.sync_artifacts = false;
    o.busy_timeout = busy_timeout;
    auto c = Client::Open(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

 private:
  std::string path_;
};

// Holds the write lock of a store's database on a connection of its own, as another process
// writing would: every write of the store waits for it, up to its busy timeout, then fails.
class StoreWriteLock {
 public:
  explicit StoreWriteLock(const std::string& home) {
    const std::string path = home + "/mlcore.db";
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK ||
        sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "could not lock " << path << ": " << sqlite3_errmsg(db_);
    }
  }
  ~StoreWriteLock() { Release(); }
  void Release() {
    if (db_ == nullptr) return;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

// Takes a StoreWriteLock from inside a task (the first `times` calls), as if another process
// began writing just as the run ended; the test releases it. `gated`: Take first waits for Allow,
// so that the test decides what gets written before the lock.
struct LockTaker {
  std::mutex mu;
  std::condition_variable allowed_cv;
  std::shared_ptr<StoreWriteLock> lock;  // under mu
  int times = 1;                         // under mu
  bool gated = false;                    // under mu
  bool allowed = false;                  // under mu
  void Take(const std::string& home) {
    std::unique_lock<std::mutex> l(mu);
    allowed_cv.wait(l, [&] { return !gated || allowed; });
    if (times-- > 0) lock = std::make_shared<StoreWriteLock>(home);
  }
  void Allow() {
    std::lock_guard<std::mutex> l(mu);
    allowed = true;
    allowed_cv.notify_all();
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu);
    if (lock != nullptr) lock->Release();
  }
};

// Runs `fn` in a child process (a real second process on the same store) and returns its exit
// code, -1 when it did not exit normally. The child ends with _exit(fn()), or sooner where `fn`
// calls _exit itself (to end before its objects' destructors run, as a killed process would).
// `pid`: where to put the child's pid.
inline int RunInChild(const std::function<int()>& fn, pid_t* pid = nullptr) {
  const pid_t child = fork();
  if (child == 0) _exit(fn());
  if (pid != nullptr) *pid = child;
  if (child < 0) return -1;
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::shared_ptr<Component> Fn(std::string name, std::vector<IoSpec> inputs,
                                     std::vector<IoSpec> outputs, Callable fn) {
  auto c = std::make_shared<Component>();
  c->name = std::move(name);
  c->inputs = std::move(inputs);
  c->outputs = std::move(outputs);
  c->fn = std::move(fn);
  c->code_version = "1";
  return c;
}

inline std::shared_ptr<Component> Cmd(std::string name, std::vector<IoSpec> inputs,
                                      std::vector<IoSpec> outputs, std::string shell) {
  auto c = std::make_shared<Component>();
  c->name = std::move(name);
  c->inputs = std::move(inputs);
  c->outputs = std::move(outputs);
  c->command = {"sh", "-c", std::move(shell)};
  return c;
}

inline const TaskRecord* FindTask(const std::vector<TaskRecord>& tasks, const std::string& name) {
  for (const TaskRecord& t : tasks) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// Runs `p` with `args` on 8 workers and waits, expecting it to start; returns its record (an
// empty one when it did not start). `resume`: the run id to resume.
inline RunRecord RunIt(Client& client, const Pipeline& p, Json args, bool caching = false,
                       std::string resume = "") {
  RunOptions o;
  o.arguments = std::move(args);
  o.max_parallelism = 8;
  o.enable_caching = caching;
  o.resume_run_id = std::move(resume);
  auto run = client.Run(p, o);
  EXPECT_TRUE(run.ok()) << run.status();
  return run.ok() ? *run : RunRecord();
}

// first -> last, with output `twice` (14); `last` calls taker->Take as its final act, so the
// records written after it, the run's final one included, are refused while the lock is held.
inline Pipeline LockingPipeline(const std::string& home, LockTaker* taker) {
  auto first = Fn("first", {}, {{"n", ValueType::kInt}}, [](TaskContext& ctx) {
    ctx.output_params["n"] = 7;
    return absl::OkStatus();
  });
  auto last = Fn("last", {{"n", ValueType::kInt}}, {{"twice", ValueType::kInt}},
                 [home, taker](TaskContext& ctx) {
                   ctx.output_params["twice"] = ctx.params["n"].get<int>() * 2;
                   taker->Take(home);
                   return absl::OkStatus();
                 });
  Pipeline p = *Pipeline::Create("locked");
  EXPECT_TRUE(p.AddTask("first", first).ok());
  EXPECT_TRUE(p.AddTask("last", last, {{"n", InputBinding::Output("first", "n")}}).ok());
  EXPECT_TRUE(p.AddOutput("twice", "last", "twice").ok());
  return p;
}

// What loop bodies count: calls, how many run at once (the most seen), and which item fails.
struct LoopCounters {
  std::atomic<int> calls{0};
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> fail_item{-1};
};

// sq(x) -> y = x * x, counted in `c` (calls, the most running at once), sleeping `sleep_ms` so
// that iterations allowed to overlap do; fails with "item <x> is bad" for c->fail_item.
inline std::shared_ptr<Component> CountingSquare(LoopCounters* c, int sleep_ms = 0) {
  return Fn("sq", {{"x", ValueType::kInt}}, {{"y", ValueType::kInt}},
            [c, sleep_ms](TaskContext& ctx) {
              int now = ++c->running;
              int seen = c->max_running.load();
              while (now > seen && !c->max_running.compare_exchange_weak(seen, now)) {
              }
              ++c->calls;
              if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
              --c->running;
              const int x = ctx.params["x"].get<int>();
              if (x == c->fail_item.load()) {
                return absl::InternalError("item " + std::to_string(x) + " is bad");
              }
              ctx.output_params["y"] = x * x;
              return absl::OkStatus();
            });
}

// A component `name`(values: list of ints) -> sum.
inline std::shared_ptr<Component> SumOf(std::string name) {
  return Fn(std::move(name), {{"values", ValueType::kList}}, {{"sum", ValueType::kInt}},
            [](TaskContext& ctx) {
              int sum = 0;
              for (const Json& v : ctx.params["values"]) sum += v.get<int>();
              ctx.output_params["sum"] = sum;
              return absl::OkStatus();
            });
}

// What most pipeline tests start with: a scratch home and a client on it.
class ScratchClientTest : public ::testing::Test {
 protected:
  ScratchHome home;
  std::unique_ptr<Client> client = home.Open();
};

// What every test of one pipeline shape starts with: a scratch home and its client, the counters
// the shape's components count in (`c`), and the pipeline Build(&c) makes (`p`, built before the
// test body, which a pipeline that does not build fails).
template <typename Counters, StatusOr<Pipeline> (*Build)(Counters*)>
class PipelineShapeTest : public ScratchClientTest {
 protected:
  void SetUp() override {
    auto built = Build(&c);
    ASSERT_TRUE(built.ok()) << built.status();
    p.emplace(*std::move(built));
  }

  Counters c;
  std::optional<Pipeline> p;
};

}  // namespace mlcore::pipeline::testing
