#include "mlcore/core/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mlcore/core/thread_pool.h"

namespace mlcore {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "mlcore_subprocess_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Whether `pid` is a live process (a zombie waiting for its reaper counts as dead).
bool Alive(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat) return false;
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z' &&
         text[close + 2] != 'X';
}

bool DiesWithin(pid_t pid, absl::Duration limit) {
  const absl::Time end = absl::Now() + limit;
  while (Alive(pid)) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

// Waits for a file a child writes its pid into.
pid_t ReadPidFile(const std::string& path, absl::Duration limit = absl::Seconds(10)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    std::string text = ReadFile(path);
    if (!text.empty() && text.back() == '\n') return static_cast<pid_t>(std::stol(text));
    absl::SleepFor(absl::Milliseconds(10));
  }
  return -1;
}

SubprocessResult MustRun(SubprocessOptions o) {
  auto r = RunSubprocess(std::move(o));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : SubprocessResult{};
}

SubprocessOptions Shell(std::string command) {
  SubprocessOptions o;
  o.argv = ShellCommand(std::move(command));
  return o;
}

TEST(SubprocessTest, ReportsExitCodes) {
  SubprocessOptions o;
  o.argv = {"true"};
  SubprocessResult ok = MustRun(o);
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.exit_code, 0);
  SubprocessResult three = MustRun(Shell("exit 3"));
  EXPECT_FALSE(three.ok());
  EXPECT_EQ(three.exit_code, 3);
  EXPECT_EQ(three.term_signal, 0);
  EXPECT_EQ(three.Describe(), "exited with status 3");
}

TEST(SubprocessTest, ReportsTheSignalThatKilledTheChild) {
  SubprocessResult r = MustRun(Shell("kill -SEGV $$"));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.term_signal, SIGSEGV);
  EXPECT_NE(r.Describe().find("killed by signal 11"), std::string::npos) << r.Describe();
}

TEST(SubprocessTest, ArgvIsNotParsedByAShell) {
  SubprocessOptions o;
  std::vector<std::string> lines;
  o.argv = {"printf", "%s\\n", "a b; echo injected", "$HOME"};
  o.on_stdout_line = [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  MustRun(o);
  EXPECT_EQ(lines, (std::vector<std::string>{"a b; echo injected", "$HOME"}));
}

TEST(SubprocessTest, RefusesWhatCannotStart) {
  SubprocessOptions o;
  EXPECT_TRUE(absl::IsInvalidArgument(RunSubprocess(o).status()));
  o.argv = {"mlcore-no-such-program"};
  auto r = RunSubprocess(o);
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("cannot start 'mlcore-no-such-program'"), std::string::npos);
  o.argv = {"/no/such/dir/program"};
  EXPECT_TRUE(absl::IsNotFound(RunSubprocess(o).status()));
  o.argv = {"true"};
  o.working_dir = "/no/such/dir";
  r = RunSubprocess(o);
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("/no/such/dir"), std::string::npos) << r.status();
}

TEST(SubprocessTest, TimeoutStopsTheWholeGroup) {
  TempDir dir;
  const std::string pidfile = dir.path() + "/bg.pid";
  SubprocessOptions o = Shell(absl::StrCat("sleep 30 & echo $! > ", pidfile, "; wait"));
  o.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  SubprocessResult r = MustRun(o);
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.term_signal, SIGTERM);
  EXPECT_EQ(r.Describe(), "timed out");
  pid_t background = ReadPidFile(pidfile);
  ASSERT_GT(background, 0);
  EXPECT_TRUE(DiesWithin(background, absl::Seconds(5)));
}

TEST(SubprocessTest, AChildIgnoringSigtermIsKilledAfterTheGrace) {
  SubprocessOptions o = Shell("trap '' TERM; sleep 30 & wait; wait");
  o.timeout = absl::Milliseconds(200);
  o.kill_grace = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  SubprocessResult r = MustRun(o);
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(480));
  EXPECT_LT(took, absl::Seconds(4));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.term_signal, SIGKILL);
}

TEST(SubprocessTest, CancelFromAnotherThread) {
  SubprocessOptions o;
  o.argv = {"sleep", "30"};
  auto child = Subprocess::Start(o);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_GT((*child)->pid(), 0);
  const absl::Time start = absl::Now();
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(100));
    (*child)->Cancel();
    (*child)->Cancel();  // idempotent
  });
  auto r = (*child)->Wait();
  canceller.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_TRUE(r->cancelled);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->term_signal, SIGTERM);
  EXPECT_TRUE(absl::IsFailedPrecondition((*child)->Wait().status()));
}

TEST(SubprocessTest, ACancelFlagStopsEveryChildWatchingIt) {
  std::atomic<bool> cancel{false};
  std::vector<std::thread> threads;
  std::vector<SubprocessResult> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      SubprocessOptions o;
      o.argv = {"sleep", "30"};
      o.cancel_flag = &cancel;
      results[i] = MustRun(o);
    });
  }
  absl::SleepFor(absl::Milliseconds(150));
  cancel = true;
  for (std::thread& t : threads) t.join();
  for (const SubprocessResult& r : results) EXPECT_TRUE(r.cancelled);
}

TEST(SubprocessTest, ALineCallbackCanStopTheChild) {
  SubprocessOptions o = Shell("while true; do echo tick; sleep 0.01; done");
  int seen = 0;
  o.on_stdout_line = [&](std::string_view line) {
    EXPECT_EQ(line, "tick");
    return ++seen < 3;
  };
  SubprocessResult r = MustRun(o);
  EXPECT_TRUE(r.cancelled);
  EXPECT_GE(seen, 3);
}

TEST(SubprocessTest, LinesSplitAcrossReadsAreJoined) {
  SubprocessOptions o =
      Shell("printf ab; sleep 0.1; printf 'c\\nde'; sleep 0.1; printf 'f\\n\\n'; printf last");
  std::vector<std::string> lines;
  o.on_stdout_line = [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  MustRun(o);
  EXPECT_EQ(lines, (std::vector<std::string>{"abc", "def", "", "last"}));
}

TEST(SubprocessTest, HugeOutputOnBothStreamsAtOnce) {
  // Both pipes fill at once: a runner that read one stream to its end first would deadlock.
  SubprocessOptions o = Shell("seq 1 300000 >&2 & seq 1 400000; wait");
  int64_t out_lines = 0, err_lines = 0;
  std::string last_out, last_err;
  o.on_stdout_line = [&](std::string_view l) {
    ++out_lines;
    last_out = l;
    return true;
  };
  o.on_stderr_line = [&](std::string_view l) {
    ++err_lines;
    last_err = l;
    return true;
  };
  SubprocessResult r = MustRun(o);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(out_lines, 400000);
  EXPECT_EQ(err_lines, 300000);
  EXPECT_EQ(last_out, "400000");
  EXPECT_EQ(last_err, "300000");
  EXPECT_EQ(r.stderr_tail.substr(r.stderr_tail.size() - 7), "300000\n");
  EXPECT_TRUE(r.stderr_tail_truncated);
  EXPECT_LE(r.stderr_tail.size(), o.stderr_tail_bytes);
}

TEST(SubprocessTest, ALineWithoutNewlinesComesInBoundedPieces) {
  SubprocessOptions o = Shell("head -c 2500000 /dev/zero | tr '\\0' x");
  o.max_line_bytes = 1 << 20;
  std::vector<size_t> sizes;
  o.on_stdout_line = [&](std::string_view l) {
    sizes.push_back(l.size());
    return true;
  };
  MustRun(o);
  EXPECT_EQ(sizes, (std::vector<size_t>{1 << 20, 1 << 20, 2500000 - 2 * (1 << 20)}));
}

TEST(SubprocessTest, EnvironmentIsInheritedMergedAndTrimmed) {
  ::setenv("MLCORE_SUBPROCESS_TEST_KEEP", "inherited", 1);
  ::setenv("MLCORE_SUBPROCESS_TEST_DROP", "dropped", 1);
  ::setenv("MLCORE_SUBPROCESS_TEST_OVER", "old", 1);
  SubprocessOptions o = Shell(
      "echo \"$MLCORE_SUBPROCESS_TEST_KEEP|${MLCORE_SUBPROCESS_TEST_DROP-unset}|"
      "$MLCORE_SUBPROCESS_TEST_OVER|$MLCORE_SUBPROCESS_TEST_NEW\"");
  o.unset_env = {"MLCORE_SUBPROCESS_TEST_DROP"};
  o.env = {{"MLCORE_SUBPROCESS_TEST_OVER", "new"}, {"MLCORE_SUBPROCESS_TEST_NEW", "x=y"}};
  std::string line;
  o.on_stdout_line = [&](std::string_view l) {
    line = l;
    return true;
  };
  MustRun(o);
  EXPECT_EQ(line, "inherited|unset|new|x=y");

  o.inherit_env = false;
  o.argv = {"/usr/bin/env"};
  std::vector<std::string> lines;
  o.on_stdout_line = [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  MustRun(o);
  EXPECT_EQ(lines, (std::vector<std::string>{"MLCORE_SUBPROCESS_TEST_NEW=x=y",
                                             "MLCORE_SUBPROCESS_TEST_OVER=new"}));
  ::unsetenv("MLCORE_SUBPROCESS_TEST_KEEP");
  ::unsetenv("MLCORE_SUBPROCESS_TEST_DROP");
  ::unsetenv("MLCORE_SUBPROCESS_TEST_OVER");
}

TEST(SubprocessTest, WorkingDirectoryAndStdin) {
  TempDir dir;
  SubprocessOptions o = Shell("pwd; cat");  // stdin is /dev/null: cat ends at once
  std::vector<std::string> lines;
  o.working_dir = dir.path();
  o.on_stdout_line = [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  MustRun(o);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(fs::canonical(lines[0]), fs::canonical(dir.path()));
}

TEST(SubprocessTest, OutputToFilesAndTheStderrTail) {
  TempDir dir;
  const std::string out = dir.path() + "/out.log", err = dir.path() + "/err.log";
  SubprocessOptions o = Shell("echo to-out; echo to-err >&2; exit 4");
  o.stdout_path = out;
  o.stderr_path = err;
  SubprocessResult r = MustRun(o);
  MustRun(o);  // appended, as a retried step's logs are
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.stderr_tail, "to-err\n");
  EXPECT_FALSE(r.stderr_tail_truncated);
  EXPECT_EQ(ReadFile(out), "to-out\nto-out\n");
  EXPECT_EQ(ReadFile(err), "to-err\nto-err\n");

  // A callback and a file: the runner writes the file with every byte it reads.
  const std::string tee = dir.path() + "/tee.log";
  SubprocessOptions t = Shell("printf 'a\\nb'");
  t.stdout_path = tee;
  std::vector<std::string> lines;
  t.on_stdout_line = [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  MustRun(t);
  EXPECT_EQ(ReadFile(tee), "a\nb");
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "b"}));

  // The tail keeps the end of a long stderr (read through a pipe when no file is named; with
  // no callback either, the bytes still reach this process's stderr).
  SubprocessOptions l = Shell("seq 1 300 >&2");
  l.stderr_tail_bytes = 8;
  SubprocessResult lr = MustRun(l);
  EXPECT_EQ(lr.stderr_tail, "299\n300\n");
  EXPECT_TRUE(lr.stderr_tail_truncated);
}

TEST(SubprocessTest, LeftoverBackgroundJobsDieWithTheChild) {
  TempDir dir;
  const std::string pidfile = dir.path() + "/bg.pid";
  SubprocessOptions o = Shell(absl::StrCat("sleep 30 & echo $! > ", pidfile));
  SubprocessResult r = MustRun(o);
  EXPECT_TRUE(r.ok());
  pid_t background = ReadPidFile(pidfile);
  ASSERT_GT(background, 0);
  EXPECT_TRUE(DiesWithin(background, absl::Seconds(5)));
}

TEST(SubprocessTest, ManyChildrenAtOnceFromAThreadPool) {
  // Each waiter reaps only its own child: none sees another's exit status.
  ThreadPool pool(8);
  std::mutex mu;
  std::vector<int> codes;
  pool.ParallelFor(32, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      SubprocessOptions o = Shell(absl::StrCat("sleep 0.0", i % 5, "; echo ", i, "; exit ", i));
      std::string line;
      o.on_stdout_line = [&](std::string_view l) {
        line = l;
        return true;
      };
      SubprocessResult r = MustRun(o);
      EXPECT_EQ(line, absl::StrCat(i));
      std::lock_guard<std::mutex> lock(mu);
      codes.push_back(r.exit_code - static_cast<int>(i));
    }
  });
  EXPECT_EQ(codes, std::vector<int>(32, 0));
}

TEST(SubprocessTest, DestroyingAnUnwaitedChildKillsIt) {
  TempDir dir;
  const std::string pidfile = dir.path() + "/child.pid";
  pid_t pid;
  {
    auto child = Subprocess::Start(Shell(absl::StrCat("echo $$ > ", pidfile, "; exec sleep 30")));
    ASSERT_TRUE(child.ok());
    pid = (*child)->pid();
    EXPECT_EQ(ReadPidFile(pidfile), pid);
  }
  EXPECT_FALSE(Alive(pid));
}

// The driver of the test below: run as a separate process (this test program again), it starts
// a child that writes its pid to $MLCORE_SUBPROCESS_DRIVER and sleeps, and waits for it.
TEST(SubprocessDriver, StartsAChildAndWaits) {
  const char* pidfile = ::getenv("MLCORE_SUBPROCESS_DRIVER");
  if (pidfile == nullptr) GTEST_SKIP() << "only run as the driver of DiesWithItsDriver";
  SubprocessOptions o = Shell(absl::StrCat("echo $$ > ", pidfile, ".tmp; mv ", pidfile, ".tmp ",
                                           pidfile, "; exec sleep 60"));
  o.die_with_parent = ::getenv("MLCORE_SUBPROCESS_DRIVER_KEEP") == nullptr;
  MustRun(o);
}

// Kills the driver with SIGKILL (no chance to clean up) and checks what became of its child.
pid_t OrphanAfterKillingTheDriver(const std::string& pidfile, bool die_with_parent) {
  SubprocessOptions o;
  o.argv = {"/proc/self/exe", "--gtest_filter=SubprocessDriver.StartsAChildAndWaits"};
  o.env["MLCORE_SUBPROCESS_DRIVER"] = pidfile;
  if (!die_with_parent) o.env["MLCORE_SUBPROCESS_DRIVER_KEEP"] = "1";
  o.stdout_path = "/dev/null";
  auto driver = Subprocess::Start(o);
  EXPECT_TRUE(driver.ok()) << driver.status();
  if (!driver.ok()) return -1;
  pid_t child = ReadPidFile(pidfile);
  ::kill((*driver)->pid(), SIGKILL);
  auto r = (*driver)->Wait();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r->term_signal, SIGKILL);
  return child;
}

TEST(SubprocessTest, AChildDiesWithItsDriver) {
  TempDir dir;
  pid_t child = OrphanAfterKillingTheDriver(dir.path() + "/child.pid", true);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(DiesWithin(child, absl::Seconds(5)));

  // The control: with die_with_parent off the orphan lives on (so the check above means
  // something); kill it here.
  pid_t kept = OrphanAfterKillingTheDriver(dir.path() + "/kept.pid", false);
  ASSERT_GT(kept, 0);
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_TRUE(Alive(kept));
  ::kill(kept, SIGKILL);
  EXPECT_TRUE(DiesWithin(kept, absl::Seconds(5)));
}

}  // namespace
}  // namespace mlcore
