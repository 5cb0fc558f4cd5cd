// Runtime fan-out: a ParallelFor's body is expanded once its items are known (its upstream tasks
// are done), one copy of each body task per item named `task[i]`, and the iterations run as a
// nested DAG bounded by the loop's parallelism. Each iteration task is recorded, cached and
// resumed like any other task; a later task reads the iterations' outputs as one list (Gather).
#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "mlcore/core/logging.h"
#include "pipeline/executor.h"
#include "pipeline/records.h"

namespace mlcore::pipeline::internal {

NodeOutcome RunState::RunLoop(int32_t li, const std::vector<int>& gpus) {
  const auto& tasks = pipeline_.tasks();
  const Loop& loop = pipeline_.loops()[li];
  const int32_t loop_slot = static_cast<int32_t>(tasks.size()) + li;
  Task loop_task;  // stands in for the loop's own row
  loop_task.name = loop.name;
  const std::string where = absl::StrCat("ParallelFor '", loop.name, "'");

  auto items = ResolveParameter(loop_task, loop.items, nullptr);
  if (!items.ok() || !items->is_array()) {
    MarkFinished(loop_task, loop_slot, state::kFailed,
                 absl::StrCat(where, ": its items are ",
                              items.ok() ? absl::StrCat("not a list but ", items->dump())
                                         : std::string(items.status().message())));
    return NodeOutcome::kFailed;
  }
  const int64_t n = static_cast<int64_t>(items->size());
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    results_[loop_slot].state = state::kRunning;
  }

  // Expand: copies of the body tasks per iteration, their slots and their rows (one
  // transaction; on resume the rows exist and keep what they recorded).
  std::vector<Task> expanded;
  std::vector<int32_t> template_of;  // expanded task -> pipeline task index
  std::vector<Scope> scopes(n);
  expanded.reserve(n * loop.body.size());
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    iterations_[li].assign(n, {});
    for (int64_t i = 0; i < n; ++i) {
      scopes[i].loop = li;
      scopes[i].iteration = i;
      scopes[i].item = (*items)[i];
      for (const std::string& b : loop.body) {
        Task t = tasks[index_.at(b)];
        t.name = absl::StrCat(b, "[", i, "]");
        TaskResult r;
        r.name = t.name;
        r.state = state::kPending;
        auto prior = prior_.find(t.name);
        if (prior != prior_.end() &&
            (prior->second.state == state::kSucceeded || prior->second.state == state::kCached)) {
          r = prior->second;
        }
        const int32_t slot = static_cast<int32_t>(results_.size());
        results_.push_back(std::move(r));
        scopes[i].local[b] = slot;
        iterations_[li][i][b] = slot;
        template_of.push_back(index_.at(b));
        expanded.push_back(std::move(t));
      }
    }
  }
  Status rows = Write([&]() -> Status {
    for (const Task& t : expanded) {
      MLCORE_RETURN_IF_ERROR(Cached("INSERT OR IGNORE INTO pipeline_tasks(run_id, name, component, "
                                    "state) VALUES (?1, ?2, ?3, 'pending')",
                                    {run_id_, t.name, t.component->name})
                                 .status());
    }
    return Cached(
               "UPDATE pipeline_tasks SET state = 'running', outputs = ?3, error = '', "
               "started_at = COALESCE(started_at, ?4) WHERE run_id = ?1 AND name = ?2",
               {run_id_, loop.name, Json({{"parameters", {{"iterations", n}}}}).dump(),
                ToSeconds(absl::Now())})
        .status();
  });
  if (!rows.ok()) {
    MarkFinished(loop_task, loop_slot, state::kFailed,
                 absl::StrCat(where, ": recording its iterations: ", rows.message()));
    return NodeOutcome::kFailed;
  }

  // The iterations' DAG: within an iteration, the body's own edges.
  const size_t per = loop.body.size();
  std::vector<SchedulerNode> nodes(expanded.size());
  std::map<std::string, size_t, std::less<>> body_pos;
  for (size_t k = 0; k < per; ++k) body_pos[loop.body[k]] = k;
  for (size_t e = 0; e < expanded.size(); ++e) {
    const Task& templ = tasks[template_of[e]];
    const size_t base = e - e % per;
    for (const std::string& u : templ.Upstream()) {
      auto it = body_pos.find(u);
      if (it != body_pos.end())
        nodes[e].upstream.push_back(static_cast<int32_t>(base + it->second));
    }
    nodes[e].cpu = templ.component->resources.cpu;
    nodes[e].gpu = templ.component->resources.gpu;
    nodes[e].run_always = templ.options.run_always;
  }
  const int workers = options_.max_parallelism > 0
                          ? options_.max_parallelism
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  SchedulerOptions so;
  so.max_parallelism = workers;
  if (loop.parallelism > 0 && per == 1) {
    // One task per iteration: the worker count is the bound, and any free worker takes the next.
    so.max_parallelism = std::min(loop.parallelism, workers);
  } else if (loop.parallelism > 0) {
    // The limit counts iterations (Kubeflow's parallelismLimit): iteration i starts once
    // iteration i - parallelism has finished, so at most `parallelism` are ever under way.
    // Only an iteration's first tasks wait, and they run whatever happened to the earlier
    // iteration: one failing iteration must not skip the others.
    for (size_t e = static_cast<size_t>(loop.parallelism) * per; e < expanded.size(); ++e) {
      if (!nodes[e].upstream.empty()) continue;
      const size_t prev = e - e % per - static_cast<size_t>(loop.parallelism) * per;
      for (size_t k = 0; k < per; ++k) nodes[e].upstream.push_back(static_cast<int32_t>(prev + k));
      nodes[e].run_always = true;
    }
  }
  so.gpu_slots = static_cast<int>(gpus.size());
  SchedulerCallbacks cb;
  auto slot_of = [&](int32_t e) { return scopes[e / per].local.at(loop.body[e % per]); };
  cb.run = [&](int32_t e, const std::vector<int>& slots) {
    std::vector<int> devices;  // the loop's devices, by the nested run's slot numbers
    for (int s : slots) devices.push_back(gpus[s]);
    return RunTask(expanded[e], slot_of(e), component_digests_[template_of[e]], devices,
                   &scopes[e / per]);
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
      for (const std::string& b : loop.body) {
        const TaskResult& r = results_[scopes[i].local.at(b)];
        if (r.state == state::kFailed) {
          error = absl::StrCat(where, " iteration ", i, " (item ", scopes[i].item.dump(),
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
               {run_id_, loop.name, std::string(state::kSucceeded), ToSeconds(absl::Now())})
        .status();
  });
  if (!rec.ok()) {
    MLCORE_LOG(Error) << "recording " << where << ": " << rec;
  }
  return NodeOutcome::kSucceeded;
}

}  // namespace mlcore::pipeline::internal
