// Output of C++ callables lands in their task's logs, as a Python component's does: in-process,
// what a callable writes through std::cout / std::cerr / std::clog / MLCORE_LOG on its thread
// and through TaskContext::Out()/Err() from any thread, never mixed between tasks running at
// once; in a subprocess (CallableMode::kSubprocess, this test program doubling as the task
// program through RunTaskMain) everything, printf and raw writes to fd 1/2 included.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "mlcore/core/logging.h"
#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/task_main.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::FindTask;

// Set when this test program runs as a task's process (below).
bool g_task_program = false;

// speak(word: str) -> said: str, printing every way a C++ program prints.
std::shared_ptr<Component> Speak(CallableMode mode) {
  auto c = testing::Fn("speak", {{"word", ValueType::kString}}, {{"said", ValueType::kString}},
                       [](TaskContext& ctx) {
                         const std::string w = ctx.params["word"].get<std::string>();
                         for (int i = 0; i < 20; ++i) {
                           std::cout << "cout " << w << " " << i << "\n";
                           std::this_thread::yield();
                         }
                         std::cout << std::flush;
                         std::cerr << "cerr " << w << "\n";
                         std::clog << "clog " << w << "\n";
                         MLCORE_LOG(Error) << "log " << w;
                         std::thread([&] { ctx.Out() << "thread " << w << "\n"; }).join();
                         ctx.Err() << "err-stream " << w << "\n";
                         if (g_task_program) {  // in-process, these are the program's own
                           std::printf("printf %s\n", w.c_str());
                           std::fflush(stdout);
                           const std::string raw = "raw " + w + "\n";
                           (void)!::write(2, raw.data(), raw.size());
                         }
                         ctx.output_params["said"] = w;
                         return absl::OkStatus();
                       });
  c->mode = mode;
  return c;
}

StatusOr<Pipeline> Chorus(CallableMode mode, int voices) {
  MLCORE_ASSIGN_OR_RETURN(Pipeline p, Pipeline::Create("chorus"));
  auto speak = Speak(mode);
  for (int i = 0; i < voices; ++i) {
    MLCORE_RETURN_IF_ERROR(p.AddTask("v" + std::to_string(i), speak,
                                     {{"word", InputBinding::Constant("w" + std::to_string(i))}}));
  }
  return p;
}

// This test program is also the task program of the subprocess tests: started with
// --mlcore-task it runs that one task (RunTaskMain) and exits before any test runs.
const bool kTaskProgram = [] {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  bool asked = false;
  for (const std::string& a : args) asked |= a == "--mlcore-task";
  if (!asked) return false;
  g_task_program = true;
  StatusOr<Pipeline> p = Chorus(CallableMode::kSubprocess, 1);
  if (!p.ok()) std::exit(3);
  std::optional<int> code = RunTaskMain(static_cast<int>(argv.size()), argv.data(), *p);
  std::cout.flush();
  std::exit(code.value_or(4));
}();

// Runs Chorus(mode, voices) four tasks at a time and returns its task records in voice order
// (a default record where a task is missing, which the failed expectation names).
std::vector<TaskRecord> Sing(Client& client, CallableMode mode, int voices) {
  std::vector<TaskRecord> records;
  auto p = Chorus(mode, voices);
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return records;
  RunOptions parallel;
  parallel.max_parallelism = 4;
  auto run = client.Run(*p, parallel);
  EXPECT_TRUE(run.ok()) << run.status();
  if (!run.ok()) return records;
  EXPECT_EQ(run->state, "succeeded") << run->error;
  auto tasks = client.ListTasks(run->id);
  EXPECT_TRUE(tasks.ok()) << tasks.status();
  if (!tasks.ok()) return records;
  for (int v = 0; v < voices; ++v) {
    const TaskRecord* t = FindTask(*tasks, "v" + std::to_string(v));
    EXPECT_NE(t, nullptr) << "task v" << v;
    records.push_back(t != nullptr ? *t : TaskRecord{});
  }
  return records;
}

using TaskLogTest = testing::ScratchClientTest;

TEST_F(TaskLogTest, InProcessCallablesWriteToTheirOwnTaskLogs) {
  const std::vector<TaskRecord> tasks = Sing(*client, CallableMode::kInProcess, 6);
  ASSERT_EQ(tasks.size(), 6u);
  for (int v = 0; v < 6; ++v) {
    const std::string w = "w" + std::to_string(v);
    const std::string out = tasks[v].Logs(), err = tasks[v].Logs(/*stderr_log=*/true);
    std::string expected;
    for (int i = 0; i < 20; ++i) expected += "cout " + w + " " + std::to_string(i) + "\n";
    expected += "thread " + w + "\n";
    EXPECT_EQ(out, expected) << "task v" << v;
    EXPECT_HAS(err, "cerr " + w + "\n");
    EXPECT_HAS(err, "clog " + w + "\n");
    EXPECT_HAS(err, "log " + w);
    EXPECT_HAS(err, "err-stream " + w + "\n");
    // Nothing of another task's.
    for (int o = 0; o < 6; ++o) {
      if (o == v) continue;
      EXPECT_EQ(err.find(" w" + std::to_string(o) + "\n"), std::string::npos) << err;
    }
  }
}

TEST_F(TaskLogTest, OutsideATaskStdCoutIsTheProgramsOwn) {
  auto p = Chorus(CallableMode::kInProcess, 1);
  ASSERT_TRUE(client->Run(*p, {}).ok());
  ::testing::internal::CaptureStdout();
  std::cout << "after the run\n" << std::flush;
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "after the run\n");
}

TEST_F(TaskLogTest, SubprocessCallablesCaptureEveryWrite) {
  const std::vector<TaskRecord> tasks = Sing(*client, CallableMode::kSubprocess, 2);
  ASSERT_EQ(tasks.size(), 2u);
  for (int v = 0; v < 2; ++v) {
    const std::string w = "w" + std::to_string(v);
    EXPECT_EQ(tasks[v].outputs["parameters"]["said"], w);
    const std::string out = tasks[v].Logs(), err = tasks[v].Logs(true);
    EXPECT_HAS(out, "cout " + w + " 19\n");
    EXPECT_HAS(out, "thread " + w + "\n");
    EXPECT_HAS(out, "printf " + w + "\n");
    EXPECT_HAS(err, "cerr " + w + "\n");
    EXPECT_HAS(err, "log " + w);
    EXPECT_HAS(err, "raw " + w + "\n");
  }
}

TEST_F(TaskLogTest, AProgramWhoseMainSkipsRunTaskMainFailsTheTaskInsteadOfLooping) {
  auto p = Chorus(CallableMode::kSubprocess, 1);
  ::setenv("MLCORE_TASK_PROCESS", "v0", 1);  // as if this program were that task's process
  auto run = client->Run(*p, {});
  ::unsetenv("MLCORE_TASK_PROCESS");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, "failed");
  EXPECT_HAS(run->error, "main must call mlcore::pipeline::RunTaskMain");
}

}  // namespace
}  // namespace mlcore::pipeline
