#include "pipeline/run_graph.h"

#include <algorithm>
#include <set>

namespace mlcore::pipeline::internal {

RunGraph::RunGraph(const Pipeline& pipeline) : pipeline_(pipeline) {
  const auto& tasks = pipeline.tasks();
  const auto& loops = pipeline.loops();
  for (size_t i = 0; i < tasks.size(); ++i) index_[tasks[i].name] = static_cast<int32_t>(i);
  for (size_t li = 0; li < loops.size(); ++li) {
    index_[loops[li].name] = static_cast<int32_t>(tasks.size() + li);
  }
  task_loop_.assign(tasks.size(), -1);
  loop_parent_.assign(loops.size(), -1);
  for (size_t li = 0; li < loops.size(); ++li) {
    if (!loops[li].parent.empty()) {
      loop_parent_[li] = index_.at(loops[li].parent) - static_cast<int32_t>(tasks.size());
    }
  }
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (!tasks[i].options.loop.empty()) {
      task_loop_[i] = index_.at(tasks[i].options.loop) - static_cast<int32_t>(tasks.size());
    }
  }
}

int32_t RunGraph::MemberOf(const Level& level, int32_t loop, int32_t task) const {
  int32_t l = task_loop_[task];
  if (l == loop) return level.task_member[task];
  while (l != -1 && loop_parent_[l] != loop) l = loop_parent_[l];
  return l == -1 ? -1 : level.loop_member[l];
}

bool RunGraph::Within(int32_t l, int32_t ancestor) const {
  for (; l != -1; l = loop_parent_[l]) {
    if (l == ancestor) return true;
  }
  return false;
}

Level RunGraph::BuildLevel(int32_t loop) const {
  const auto& tasks = pipeline_.tasks();
  const auto& loops = pipeline_.loops();
  Level level;
  level.task_member.assign(tasks.size(), -1);
  level.loop_member.assign(loops.size(), -1);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (task_loop_[i] != loop) continue;
    level.task_member[i] = static_cast<int32_t>(level.tasks.size());
    level.tasks.push_back(static_cast<int32_t>(i));
  }
  for (size_t li = 0; li < loops.size(); ++li) {
    if (loop_parent_[li] == loop) level.loops.push_back(static_cast<int32_t>(li));
  }
  for (size_t k = 0; k < level.loops.size(); ++k) {
    level.loop_member[level.loops[k]] = static_cast<int32_t>(level.tasks.size() + k);
  }
  level.nodes.resize(level.tasks.size() + level.loops.size());
  for (size_t n = 0; n < level.nodes.size(); ++n) LinkNode(level, loop, n);
  return level;
}

void RunGraph::LinkNode(Level& level, int32_t loop, size_t n) const {
  const auto& tasks = pipeline_.tasks();
  const auto& loops = pipeline_.loops();
  DagNode& node = level.nodes[n];
  std::vector<int32_t> up;
  auto add = [&](const std::string& name) {
    int32_t m = MemberOf(level, loop, index_.at(name));
    if (m >= 0) up.push_back(m);
  };
  // Tasks read only through OneOf inputs: one branch runs, the others' skips are expected.
  std::set<std::string> strict, oneof;
  auto note_oneof = [&](const Task& t) {
    Task plain = t;
    for (auto it = plain.arguments.begin(); it != plain.arguments.end();) {
      if (it->second.kind != InputBinding::Kind::kOneOf) {
        ++it;
        continue;
      }
      for (const InputBinding& item : it->second.items) oneof.insert(item.task);
      it = plain.arguments.erase(it);
    }
    for (const std::string& u : plain.Upstream()) strict.insert(u);
  };
  if (n < level.tasks.size()) {
    const Task& t = tasks[level.tasks[n]];
    note_oneof(t);
    for (const std::string& u : t.Upstream()) add(u);
    node.cpu = t.component->resources.cpu;
    node.gpu = t.component->resources.gpu;
    node.run_always = t.options.run_always;
  } else {
    // A loop waits for its items' task and for everything its body (nested loops included)
    // reads from outside, holds no CPU slot itself (its iterations have their own) and the
    // most GPUs one body task needs.
    const int32_t li = level.loops[n - level.tasks.size()];
    const Loop& l = loops[li];
    if (l.items.kind == InputBinding::Kind::kTaskOutput) add(l.items.task);
    node.cpu = 0;
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (!Within(task_loop_[i], li)) continue;
      node.gpu = std::max(node.gpu, tasks[i].component->resources.gpu);
      note_oneof(tasks[i]);
      for (const std::string& u : tasks[i].Upstream()) add(u);
    }
    for (size_t ci = 0; ci < loops.size(); ++ci) {
      const Loop& c = loops[ci];
      if (static_cast<int32_t>(ci) != li && Within(static_cast<int32_t>(ci), li) &&
          c.items.kind == InputBinding::Kind::kTaskOutput) {
        add(c.items.task);
      }
    }
  }
  std::sort(up.begin(), up.end());
  up.erase(std::unique(up.begin(), up.end()), up.end());
  up.erase(std::remove(up.begin(), up.end(), static_cast<int32_t>(n)), up.end());
  node.upstream = std::move(up);
  std::set<int32_t> strict_members;
  for (const std::string& u : strict) strict_members.insert(MemberOf(level, loop, index_.at(u)));
  for (const std::string& u : oneof) {
    const int32_t m = MemberOf(level, loop, index_.at(u));
    if (m >= 0 && m != static_cast<int32_t>(n) && strict_members.count(m) == 0) {
      node.skip_ok.push_back(m);
    }
  }
}

}  // namespace mlcore::pipeline::internal
