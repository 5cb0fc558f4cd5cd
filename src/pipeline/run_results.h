// Internal: what a run knows of its tasks' outcomes while it runs, shared by the threads that
// run them: one slot per task, loop and expanded loop iteration, and the iterations' scopes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "mlcore/pipeline/component.h"
#include "pipeline/run_graph.h"

namespace mlcore::pipeline::internal {

struct TaskResult {
  std::string name;
  std::string state;
  Json outputs = Json::object();  // {"parameters": {...}, "artifacts": {...}}
  std::string error;
};

// Where a task of a loop iteration resolves its bindings: the iteration's item, and the
// slots of the same iteration's tasks and nested loops (the body's names map to `task[i]`).
// A nested loop's iteration has the enclosing iteration as parent: names and items not found
// here are looked up there (`task[i][j]` reads `task[i]` and the outer item).
struct Scope {
  int32_t loop = -1;
  int64_t iteration = 0;
  Json item;
  std::map<std::string, int32_t, std::less<>> local;
  const Scope* parent = nullptr;
  std::string suffix;  // "[i]", "[i][j]", ...: appended to the body's names
};

// One slot per thing the run records: the pipeline's tasks (by index), then its loops, then
// the tasks of loop iterations as they are expanded. Members marked "under mu" are read and
// written holding `mu`.
struct RunResults {
  explicit RunResults(const RunGraph& graph) : graph(graph) {}

  // The slot `name` refers to from `scope`: the innermost iteration's copy, else the pipeline's.
  int32_t SlotLocked(const std::string& name, const Scope* scope) const {
    for (const Scope* s = scope; s != nullptr; s = s->parent) {
      auto it = s->local.find(name);
      if (it != s->local.end()) return it->second;
    }
    return graph.slot(name);
  }
  const Json& OutputsLocked(const std::string& task, const Scope* scope) const {
    return slots[SlotLocked(task, scope)].outputs;
  }
  void Set(int32_t slot, const std::string& state, const std::string& error) {
    std::lock_guard<std::mutex> lock(mu);
    slots[slot].state = state;
    slots[slot].error = error;
  }
  void SetState(int32_t slot, const std::string& state) {
    std::lock_guard<std::mutex> lock(mu);
    slots[slot].state = state;
  }
  void SetOutputs(int32_t slot, const std::string& state, Json outputs) {
    std::lock_guard<std::mutex> lock(mu);
    slots[slot].state = state;
    slots[slot].outputs = std::move(outputs);
  }
  std::string StateOf(int32_t slot) const {
    std::lock_guard<std::mutex> lock(mu);
    return slots[slot].state;
  }

  const RunGraph& graph;
  mutable std::mutex mu;
  std::vector<TaskResult> slots;  // under mu
  // Each expansion of a loop: (loop index, enclosing iteration or null) -> its iterations, in
  // item order (under mu). Scopes are never moved: tasks hold pointers to them.
  std::map<std::pair<int32_t, const Scope*>, std::vector<std::unique_ptr<Scope>>> expansions;
  // On resume: what the interrupted run recorded for loop rows and iteration tasks, which exist
  // only once their loop is expanded again. Written before the run starts.
  std::map<std::string, TaskResult> prior;
};

}  // namespace mlcore::pipeline::internal
