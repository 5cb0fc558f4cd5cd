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

namespace mlcore::pipeline::internal {

NodeOutcome RunState::RunLoop(int32_t li, const std::vector<int>& gpus, const Scope* parent) {
  const auto& tasks = pipeline_.tasks();
  const auto& loops = pipeline_.loops();
  const Loop& loop = loops[li];
  const std::string outer = parent == nullptr ? "" : parent->suffix;
  int32_t loop_slot = static_cast<int32_t>(tasks.size()) + li;
  if (parent != nullptr) {
    std::lock_guard<std::mutex> lock(results_mu_);
    loop_slot = parent->local.at(loop.name);
  }
  Task loop_task;  // stands in for the loop's own row
  loop_task.name = loop.name + outer;
  const std::string where = absl::StrCat("ParallelFor '", loop_task.name, "'");

  auto items = ResolveParameter(loop_task, loop.items, parent);
  if (!items.ok() || !items->is_array()) {
    MarkFinished(loop_task, loop_slot, state::kFailed,
                 absl::StrCat(where, ": its items are ",
                              items.ok() ? absl::StrCat("not a list but ", items->dump())
                                         : std::string(items.status().message())));
    return NodeOutcome::kFailed;
  }
  const int64_t n = static_cast<int64_t>(items->size());
  // One iteration's members: the body's own tasks, then the loops nested directly in it.
  const Level level = BuildLevel(li);
  const size_t per = level.nodes.size();
  auto member_name = [&](size_t k) {
    return k < level.tasks.size() ? tasks[level.tasks[k]].name
                                  : loops[level.loops[k - level.tasks.size()]].name;
  };

  // Expand: per iteration a scope, a slot per member and their rows (one transaction; on resume
  // the rows exist and keep what they recorded).
  std::vector<Scope*> scopes(n);
  std::vector<Task> expanded(n * per);  // tasks as they run (loops: stand-ins naming the row)
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    results_[loop_slot].state = state::kRunning;
    auto& iterations = expansions_[{li, parent}];
    iterations.clear();  // a loop expands once per run; nothing points into an older one
    for (int64_t i = 0; i < n; ++i) {
      auto scope = std::make_unique<Scope>();
      scope->loop = li;
      scope->iteration = i;
      scope->item = (*items)[i];
      scope->parent = parent;
      scope->suffix = absl::StrCat(outer, "[", i, "]");
      for (size_t k = 0; k < per; ++k) {
        Task& t = expanded[i * per + k];
        if (k < level.tasks.size()) t = tasks[level.tasks[k]];
        t.name = member_name(k) + scope->suffix;
        TaskResult r;
        r.name = t.name;
        r.state = state::kPending;
        auto prior = prior_.find(t.name);
        if (k < level.tasks.size() && prior != prior_.end() &&
            (prior->second.state == state::kSucceeded || prior->second.state == state::kCached)) {
          r = prior->second;
        }
        const int32_t slot = static_cast<int32_t>(results_.size());
        results_.push_back(std::move(r));
        scope->local[member_name(k)] = slot;
      }
      scopes[i] = scope.get();
      iterations.push_back(std::move(scope));
    }
  }
  Status rows = Write([&]() -> Status {
    for (size_t e = 0; e < expanded.size(); ++e) {
      const bool is_loop = e % per >= level.tasks.size();
      MLCORE_RETURN_IF_ERROR(
          Cached("INSERT OR IGNORE INTO pipeline_tasks(run_id, name, component, state) VALUES "
                 "(?1, ?2, ?3, 'pending')",
                 {run_id_, expanded[e].name,
                  is_loop ? std::string("ParallelFor") : expanded[e].component->name})
              .status());
    }
    // A nested loop's row is one per enclosing iteration, made here if it is not there yet.
    MLCORE_RETURN_IF_ERROR(Cached("INSERT OR IGNORE INTO pipeline_tasks(run_id, name, component, "
                                  "state) VALUES (?1, ?2, ?3, 'pending')",
                                  {run_id_, loop_task.name, std::string("ParallelFor")})
                               .status());
    return Cached(
               "UPDATE pipeline_tasks SET state = 'running', outputs = ?3, error = '', "
               "started_at = COALESCE(started_at, ?4) WHERE run_id = ?1 AND name = ?2",
               {run_id_, loop_task.name, Json({{"parameters", {{"iterations", n}}}}).dump(),
                ToSeconds(absl::Now())})
        .status();
  });
  if (!rows.ok()) {
    MarkFinished(loop_task, loop_slot, state::kFailed,
                 absl::StrCat(where, ": recording its iterations: ", rows.message()));
    return NodeOutcome::kFailed;
  }

  // The iterations' DAG: each iteration a copy of the level's nodes, shifted.
  std::vector<DagNode> nodes(expanded.size());
  for (size_t e = 0; e < expanded.size(); ++e) {
    nodes[e] = level.nodes[e % per];
    const int32_t base = static_cast<int32_t>(e - e % per);
    for (int32_t& u : nodes[e].upstream) u += base;
    for (int32_t& u : nodes[e].skip_ok) u += base;
  }
  const int workers = options_.max_parallelism > 0
                          ? options_.max_parallelism
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  DagOptions so;
  so.max_parallelism = workers;
  if (loop.parallelism > 0 && per == 1 && level.loops.empty()) {
    // One task per iteration: the worker count is the bound, and any free worker takes the next.
    so.max_parallelism = std::min(loop.parallelism, workers);
  } else if (loop.parallelism > 0) {
    // The limit counts iterations (Kubeflow's parallelismLimit): iteration i starts once
    // iteration i - parallelism has finished, so at most `parallelism` are ever under way.
    // Only an iteration's first members wait, and they run whatever happened to the earlier
    // iteration: one failing iteration must not skip the others.
    for (size_t e = static_cast<size_t>(loop.parallelism) * per; e < expanded.size(); ++e) {
      if (!nodes[e].upstream.empty()) continue;
      const size_t prev = e - e % per - static_cast<size_t>(loop.parallelism) * per;
      for (size_t k = 0; k < per; ++k) nodes[e].upstream.push_back(static_cast<int32_t>(prev + k));
      nodes[e].run_always = true;
    }
  }
  so.gpu_slots = static_cast<int>(gpus.size());
  DagCallbacks cb;
  auto slot_of = [&](int32_t e) {
    std::lock_guard<std::mutex> lock(results_mu_);
    return scopes[e / per]->local.at(member_name(e % per));
  };
  cb.run = [&](int32_t e, const std::vector<int>& slots) {
    std::vector<int> devices;  // the loop's devices, by the nested run's slot numbers
    for (int s : slots) devices.push_back(gpus[s]);
    const size_t k = e % per;
    if (k >= level.tasks.size()) {
      return RunLoop(level.loops[k - level.tasks.size()], devices, scopes[e / per]);
    }
    return RunTask(expanded[e], slot_of(e), component_digests_[level.tasks[k]], devices,
                   scopes[e / per]);
  };
  cb.on_skip = [&](int32_t e) {
    MarkFinished(expanded[e], slot_of(e), state::kSkipped,
                 "an upstream task failed or was skipped");
  };
  cb.on_unrunnable = [&](int32_t e, const Status& why) {
    MarkFinished(expanded[e], slot_of(e), state::kFailed,
                 absl::StrCat("task '", expanded[e].name, "' cannot run: ", why.message()));
  };
  Status ran = absl::OkStatus();
  if (!nodes.empty()) {
    auto stats = RunDag(nodes, cb, so);
    if (!stats.ok()) ran = stats.status();
  }

  // The first failed iteration (in item order) names the loop's failure.
  std::string error;
  if (!ran.ok()) error = absl::StrCat(where, ": ", ran.message());
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    for (int64_t i = 0; i < n && error.empty(); ++i) {
      for (size_t k = 0; k < per; ++k) {
        const TaskResult& r = results_[scopes[i]->local.at(member_name(k))];
        if (r.state == state::kFailed) {
          error = absl::StrCat(where, " iteration ", i, " (item ", scopes[i]->item.dump(),
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
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    results_[loop_slot].state = state::kSucceeded;
    results_[loop_slot].outputs = {{"parameters", {{"iterations", n}}}};
  }
  Status rec = Write([&] {
    return Cached(
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
