// Helpers for the pipeline tests: a scratch MLCORE home per test and small component makers.
#pragma once

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

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

  std::unique_ptr<Client> Open(const std::string& ns = "default") const {
    ClientOptions o;
    o.home = path_;
    o.ns = ns;
    o.sync_artifacts = false;
    auto c = Client::Open(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

 private:
  std::string path_;
};

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

// What loop bodies count: calls, how many run at once (the most seen), and which item fails.
struct LoopCounters {
  std::atomic<int> calls{0};
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> fail_item{-1};
};

}  // namespace mlcore::pipeline::testing
