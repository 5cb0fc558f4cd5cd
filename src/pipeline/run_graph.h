// Internal: the shape of a pipeline as its run sees it, fixed before the run starts: every task
// and loop by name (its slot), which loop holds each task and each loop, and the DAG of one
// level (the pipeline's top, or one iteration of a loop) for the DAG runner.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mlcore/pipeline/dag.h"
#include "mlcore/pipeline/pipeline.h"

namespace mlcore::pipeline::internal {

// The things that run side by side at one level (the pipeline's top or one iteration of a
// loop): tasks (by index) and the loops nested directly in it (by loop index), with the edges
// among them.
struct Level {
  std::vector<int32_t> tasks;
  std::vector<int32_t> loops;
  std::vector<DagNode> nodes;        // tasks first, then loops
  std::vector<int32_t> task_member;  // by task index: its node here, -1 for none
  std::vector<int32_t> loop_member;  // by loop index: its node here, -1 for none
};

class RunGraph {
 public:
  explicit RunGraph(const Pipeline& pipeline);

  // The slot of a task (its index) or a loop (tasks.size() + its index), by name.
  int32_t slot(const std::string& name) const { return index_.at(name); }
  const std::map<std::string, int32_t>& index() const { return index_; }
  int32_t num_tasks() const { return static_cast<int32_t>(pipeline_.tasks().size()); }
  // By task index: its loop's index, -1 for none.
  int32_t task_loop(int32_t task) const { return task_loop_[task]; }
  // By loop index: the enclosing loop's index, -1 for none.
  int32_t loop_parent(int32_t loop) const { return loop_parent_[loop]; }
  // The members of level `loop` (-1: the top) and their edges.
  Level BuildLevel(int32_t loop) const;

 private:
  // Which member of level `loop` holds task `task`: its index in Level order, or -1 when the
  // task is outside that level (already done before the level runs).
  int32_t MemberOf(const Level& level, int32_t loop, int32_t task) const;
  // Fills `node`'s resources and upstream edges for member `n` of `level`.
  void LinkNode(Level& level, int32_t loop, size_t n) const;
  // Whether loop `l` is `ancestor` or nested in it.
  bool Within(int32_t l, int32_t ancestor) const;

  const Pipeline& pipeline_;
  std::map<std::string, int32_t> index_;
  std::vector<int32_t> task_loop_;
  std::vector<int32_t> loop_parent_;
};

}  // namespace mlcore::pipeline::internal
