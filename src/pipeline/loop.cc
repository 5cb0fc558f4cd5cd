// Runtime fan-out: a ParallelFor's body is expanded once its items are known (its upstream tasks
// are done), one copy of each body task per item named `task[i]`, and the iterations run as a
// nested DAG bounded by the loop's parallelism. A loop nested in the body is one member of each
// iteration and expands the same way when that iteration reaches it (`task[i][j]`), bounded by
// its own parallelism. Each iteration task is recorded, cached and resumed like any other task;
// a later task reads the iterations' outputs as one list (Gather), nested per loop level.
#include <algorithm>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "mlcore/core/logging.h"
#include "pipeline/executor.h"
#include "pipeline/records.h"
#include "pipeline/run_graph.h"

namespace mlcore::pipeline::internal {

// One expansion of a loop: the iterations' scopes and, per iteration, a copy of each member of
// the loop's level (tasks as they run; loops as stand-ins naming their rows).
struct RunState::Expansion {
  Level level;
  size_t per = 0;  // members per iteration
  std::vector<Scope*> scopes;
  std::vector<Task> expanded;  // iteration i's member k at i * per + k
  // The body's name of member k.
  std::string MemberName(const Pipeline& p, size_t k) const {
    return k < level.tasks.size() ? p.tasks()[level.tasks[k]].name
                                  : p.loops()[level.loops[k - level.tasks.size()]].name;
  }
};

NodeOutcome RunState::RunLoop(int32_t li, const std::vector<int>& gpus, const Scope* parent) {
  const Loop& loop = pipeline_.loops()[li];
  const std::string outer = parent == nullptr ? "" : parent->suffix;
  int32_t loop_slot = graph_.num_tasks() + li;
  if (parent != nullptr) {
    std::lock_guard<std::mutex> lock(results_.mu);
    loop_slot = parent->local.at(loop.name);
  }
  Task loop_task;  // stands in for the loop's own row
  loop_task.name = loop.name + outer;
  const std::string where = absl::StrCat("ParallelFor '", loop_task.name, "'");

  auto items = inputs_.ResolveParameter(loop_task, loop.items, parent);
  if (!items.ok() || !items->is_array()) {
    MarkFinished(loop_task, loop_slot, state::kFailed,
                 absl::StrCat(where, ": its items are ",
                              items.ok() ? absl::StrCat("not a list but ", items->dump())
                                         : std::string(items.status().message())));
    return NodeOutcome::kFailed;
  }
  auto x = Expand(li, *items, parent, loop_task, loop_slot);
  if (!x.ok()) {
    MarkFinished(loop_task, loop_slot, state::kFailed,
                 absl::StrCat(where, ": recording its iterations: ", x.status().message()));
    return NodeOutcome::kFailed;
  }
  return RunIterations(li, *x, gpus, loop_task, loop_slot);
}

StatusOr<RunState::Expansion> RunState::Expand(int32_t li, const Json& items, const Scope* parent,
                                               const Task& loop_task, int32_t loop_slot) {
  const std::string outer = parent == nullptr ? "" : parent->suffix;
  const int64_t n = static_cast<int64_t>(items.size());
  Expansion x;
  // One iteration's members: the body's own tasks, then the loops nested directly in it.
  x.level = graph_.BuildLevel(li);
  x.per = x.level.nodes.size();
  x.scopes.resize(n);
  x.expanded.resize(n * x.per);
  // Per iteration a scope, a slot per member and their rows (one transaction; on resume the
  // rows exist and keep what they recorded).
  {
    std::lock_guard<std::mutex> lock(results_.mu);
    results_.slots[loop_slot].state = state::kRunning;
    auto& iterations = results_.expansions[{li, parent}];
    iterations.clear();  // a loop expands once per run; nothing points into an older one
    for (int64_t i = 0; i < n; ++i) {
      auto scope = std::make_unique<Scope>();
      scope->loop = li;
      scope->iteration = i;
      scope->item = items[i];
      scope->parent = parent;
      scope->suffix = absl::StrCat(outer, "[", i, "]");
      for (size_t k = 0; k < x.per; ++k) {
        Task& t = x.expanded[i * x.per + k];
        const bool is_task = k < x.level.tasks.size();
        if (is_task) t = pipeline_.tasks()[x.level.tasks[k]];
        t.name = x.MemberName(pipeline_, k) + scope->suffix;
        TaskResult r;
        r.name = t.name;
        r.state = state::kPending;
        auto prior = results_.prior.find(t.name);
        if (is_task && prior != results_.prior.end() &&
            (prior->second.state == state::kSucceeded || prior->second.state == state::kCached)) {
          r = prior->second;
        }
        scope->local[x.MemberName(pipeline_, k)] = static_cast<int32_t>(results_.slots.size());
        results_.slots.push_back(std::move(r));
      }
      x.scopes[i] = scope.get();
      iterations.push_back(std::move(scope));
    }
  }
  MLCORE_RETURN_IF_ERROR(recorder_.Write([&]() -> Status {
    for (size_t e = 0; e < x.expanded.size(); ++e) {
      const bool is_loop = e % x.per >= x.level.tasks.size();
      MLCORE_RETURN_IF_ERROR(
          recorder_
              .Cached("INSERT INTO pipeline_tasks(run_id, name, component, state) "
                      "VALUES (?1, ?2, ?3, 'pending') ON CONFLICT DO NOTHING",
                      {run_id_, x.expanded[e].name,
                       is_loop ? std::string("ParallelFor") : x.expanded[e].component->name})
              .status());
    }
    // A nested loop's row is one per enclosing iteration, made here if it is not there yet.
    MLCORE_RETURN_IF_ERROR(recorder_
                               .Cached("INSERT INTO pipeline_tasks(run_id, name, component, state) "
                                       "VALUES (?1, ?2, ?3, 'pending') ON CONFLICT DO NOTHING",
                                       {run_id_, loop_task.name, std::string("ParallelFor")})
                               .status());
    return recorder_
        .Cached(
            "UPDATE pipeline_tasks SET state = 'running', outputs = ?3, error = '', "
            "started_at = COALESCE(started_at, ?4) WHERE run_id = ?1 AND name = ?2",
            {run_id_, loop_task.name, Json({{"parameters", {{"iterations", n}}}}).dump(),
             ToSeconds(absl::Now())})
        .status();
  }));
  return x;
}

namespace {

// The iterations' DAG: each iteration a copy of the level's nodes, shifted; with a parallelism
// limit, iteration i also waits for iteration i - parallelism. Sets the runner's worker count.
std::vector<DagNode> IterationDag(const Level& level, size_t count, int parallelism,
                                  int max_parallelism, DagOptions* so) {
  const size_t per = level.nodes.size();
  std::vector<DagNode> nodes(count);
  for (size_t e = 0; e < count; ++e) {
    nodes[e] = level.nodes[e % per];
    const int32_t base = static_cast<int32_t>(e - e % per);
    for (int32_t& u : nodes[e].upstream) u += base;
    for (int32_t& u : nodes[e].skip_ok) u += base;
  }
  const int workers = max_parallelism > 0
                          ? max_parallelism
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  so->max_parallelism = workers;
  if (parallelism > 0 && per == 1 && level.loops.empty()) {
    // One task per iteration: the worker count is the bound, and any free worker takes the next.
    so->max_parallelism = std::min(parallelism, workers);
  } else if (parallelism > 0) {
    // The limit counts iterations (Kubeflow's parallelismLimit): iteration i starts once
    // iteration i - parallelism has finished, so at most `parallelism` are ever under way.
    // Only an iteration's first members wait, and they run whatever happened to the earlier
    // iteration: one failing iteration must not skip the others.
    for (size_t e = static_cast<size_t>(parallelism) * per; e < count; ++e) {
      if (!nodes[e].upstream.empty()) continue;
      const size_t prev = e - e % per - static_cast<size_t>(parallelism) * per;
      for (size_t k = 0; k < per; ++k) nodes[e].upstream.push_back(static_cast<int32_t>(prev + k));
      nodes[e].run_always = true;
    }
  }
  return nodes;
}

}  // namespace

NodeOutcome RunState::RunIterations(int32_t li, const Expansion& x, const std::vector<int>& gpus,
                                    const Task& loop_task, int32_t loop_slot) {
  const std::string where = absl::StrCat("ParallelFor '", loop_task.name, "'");
  const size_t per = x.per;
  DagOptions so;
  std::vector<DagNode> nodes = IterationDag(
      x.level, x.expanded.size(), pipeline_.loops()[li].parallelism, options_.max_parallelism, &so);
  so.gpu_slots = static_cast<int>(gpus.size());
  DagCallbacks cb;
  auto slot_of = [&](int32_t e) {
    std::lock_guard<std::mutex> lock(results_.mu);
    return x.scopes[e / per]->local.at(x.MemberName(pipeline_, e % per));
  };
  cb.run = [&](int32_t e, const std::vector<int>& slots) {
    std::vector<int> devices;  // the loop's devices, by the nested run's slot numbers
    for (int s : slots) devices.push_back(gpus[s]);
    const size_t k = e % per;
    if (k >= x.level.tasks.size()) {
      return RunLoop(x.level.loops[k - x.level.tasks.size()], devices, x.scopes[e / per]);
    }
    return RunTask(x.expanded[e], slot_of(e), component_digests_[x.level.tasks[k]], devices,
                   x.scopes[e / per]);
  };
  cb.on_skip = [&](int32_t e) {
    MarkFinished(x.expanded[e], slot_of(e), state::kSkipped,
                 "an upstream task failed or was skipped");
  };
  cb.on_unrunnable = [&](int32_t e, const Status& why) {
    MarkFinished(x.expanded[e], slot_of(e), state::kFailed,
                 absl::StrCat("task '", x.expanded[e].name, "' cannot run: ", why.message()));
  };
  std::string error;
  if (!nodes.empty()) {
    auto stats = RunDag(nodes, cb, so);
    if (!stats.ok()) error = absl::StrCat(where, ": ", stats.status().message());
  }
  // The first failed iteration (in item order) names the loop's failure.
  {
    std::lock_guard<std::mutex> lock(results_.mu);
    for (size_t i = 0; i < x.scopes.size() && error.empty(); ++i) {
      for (size_t k = 0; k < per; ++k) {
        const TaskResult& r = results_.slots[x.scopes[i]->local.at(x.MemberName(pipeline_, k))];
        if (r.state == state::kFailed) {
          error = absl::StrCat(where, " iteration ", i, " (item ", x.scopes[i]->item.dump(),
                               ") failed: ", r.error);
          break;
        }
      }
    }
  }
  if (!error.empty()) {
    MarkFinished(loop_task, loop_slot, state::kFailed, error);
    return NodeOutcome::kFailed;
  }
  const int64_t n = static_cast<int64_t>(x.scopes.size());
  results_.SetOutputs(loop_slot, state::kSucceeded, {{"parameters", {{"iterations", n}}}});
  Status rec = recorder_.Write([&] {
    return recorder_
        .Cached(
            "UPDATE pipeline_tasks SET state = ?3, finished_at = ?4, error = '' WHERE "
            "run_id = ?1 AND name = ?2",
            {run_id_, loop_task.name, std::string(state::kSucceeded), ToSeconds(absl::Now())})
        .status();
  });
  if (!rec.ok()) {
    MLCORE_LOG(Error) << "recording " << where << ": " << rec;
  }
  return NodeOutcome::kSucceeded;
}

}  // namespace mlcore::pipeline::internal
