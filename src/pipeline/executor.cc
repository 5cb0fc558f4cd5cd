#include "pipeline/executor.h"

#include "absl/strings/str_cat.h"
#include "mlcore/core/cuda.h"
#include "mlcore/core/logging.h"
#include "pipeline/records.h"
#include "pipeline/task_attempt.h"
#include "pipeline/task_cache.h"

namespace mlcore::pipeline::internal {

RunState::RunState(Client* client, const Pipeline& pipeline, RunOptions options)
    : client_(client),
      pipeline_(pipeline),
      options_(std::move(options)),
      graph_(pipeline_),
      results_(graph_),
      recorder_(client->metadata(), client->home(), client->unrecorded_.get(),
                client->options().run_heartbeat_interval),
      inputs_(pipeline_, results_, arguments_, client->artifacts()) {}

RunState::~RunState() {
  if (thread_.joinable()) thread_.join();
}

void RunState::Launch() {
  runs_dir_ = client_->home() + "/pipeline/runs/" + run_id_;
  recorder_.Start(run_id_, runs_dir_);
  thread_ = std::thread([this] { Execute(); });
}

void RunState::Execute() {
  // Outer DAG: one node per task outside loops and one per top-level loop (its body, nested
  // loops included, runs inside it).
  const auto& tasks = pipeline_.tasks();
  const auto& loops = pipeline_.loops();
  const int32_t num_tasks = graph_.num_tasks();
  const Level level = graph_.BuildLevel(-1);
  std::vector<int32_t> slot_of;  // node -> slot
  for (int32_t t : level.tasks) slot_of.push_back(t);
  for (int32_t l : level.loops) slot_of.push_back(num_tasks + l);
  DagOptions so;
  so.max_parallelism = options_.max_parallelism;
  so.cpu_slots = options_.cpu_slots;
  so.gpu_slots = options_.gpu_slots >= 0 ? options_.gpu_slots : cuda::DeviceCount();
  // A loop's row is recorded like a task's; a stand-in Task carries its name.
  auto task_at = [&](int32_t slot) {
    if (slot < num_tasks) return tasks[slot];
    Task t;
    t.name = loops[slot - num_tasks].name;
    return t;
  };
  DagCallbacks cb;
  cb.run = [&](int32_t n, const std::vector<int>& gpus) {
    const int32_t slot = slot_of[n];
    if (slot >= num_tasks) return RunLoop(slot - num_tasks, gpus, nullptr);
    return RunTask(tasks[slot], slot, component_digests_[slot], gpus, nullptr);
  };
  cb.on_skip = [&](int32_t n) {
    MarkFinished(task_at(slot_of[n]), slot_of[n], state::kSkipped,
                 "an upstream task failed or was skipped");
  };
  cb.on_unrunnable = [&](int32_t n, const Status& why) {
    Task t = task_at(slot_of[n]);
    MarkFinished(t, slot_of[n], state::kFailed,
                 absl::StrCat("task '", t.name, "' cannot run: ", why.message()));
  };
  auto stats = RunDag(level.nodes, cb, so);
  if (!stats.ok()) {
    MLCORE_LOG(Error) << "run " << run_id_ << ": " << StatusText(stats.status());
  }
  recorder_.Stop();
  Status finished = recorder_.Finish(Outcome(stats.status()));
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    final_error_ = std::move(finished);
    done_ = true;
  }
  done_cv_.notify_all();
}

NodeOutcome RunState::Fail(const Task& task, int32_t slot, const std::string& message, int attempts,
                           const std::string& cache_key) {
  results_.Set(slot, state::kFailed, message);
  Status st = recorder_.RecordTask(task, state::kFailed, attempts, cache_key, Json::object(),
                                   message, true);
  if (!st.ok()) {
    MLCORE_LOG(Error) << "recording task " << task.name << ": " << StatusText(st);
  }
  return NodeOutcome::kFailed;
}

void RunState::MarkFinished(const Task& task, int32_t slot, const std::string& st,
                            const std::string& error) {
  results_.Set(slot, st, error);
  Status rec = recorder_.RecordTask(task, st, 0, "", Json::object(), error, true);
  if (!rec.ok()) {
    MLCORE_LOG(Error) << "recording task " << task.name << ": " << rec;
  }
}

NodeOutcome RunState::RunTask(const Task& task, int32_t index, const std::string& digest,
                              const std::vector<int>& gpus, const Scope* scope) {
  const Component& comp = *task.component;
  const std::string prior = results_.StateOf(index);
  if (prior == state::kSucceeded || prior == state::kCached) return NodeOutcome::kSucceeded;
  auto holds = inputs_.ConditionsHold(task, scope);
  if (!holds.ok()) return Fail(task, index, std::string(holds.status().message()), 0, "");
  if (!*holds) {
    results_.SetState(index, state::kSkipped);
    Status st = recorder_.RecordTask(task, state::kSkipped, 0, "", Json::object(),
                                     "its condition did not hold", true);
    if (!st.ok()) {
      MLCORE_LOG(Error) << "recording task " << task.name << ": " << StatusText(st);
    }
    return NodeOutcome::kSkipped;
  }

  // Inputs: parameters with defaults applied, artifacts checked against their digests.
  TaskContext ctx;
  ctx.run_id = run_id_;
  ctx.task_name = task.name;
  ctx.gpus = gpus;
  const bool caching = options_.enable_caching && task.options.caching.value_or(comp.caching);
  auto resolved = inputs_.ResolveInputs(task, scope, caching, ctx);
  if (!resolved.ok()) return Fail(task, index, std::string(resolved.status().message()), 0, "");
  if (resolved->skip.has_value()) {
    MarkFinished(task, index, state::kSkipped, *resolved->skip);
    return NodeOutcome::kSkipped;
  }

  std::string cache_key;
  if (caching) {
    cache_key = CacheKey(digest, resolved->key_inputs);
    if (auto outputs = CachedOutputs(recorder_, client_->artifacts(), cache_key)) {
      results_.SetOutputs(index, state::kCached, *outputs);
      Status st = recorder_.RecordTask(task, state::kCached, 0, cache_key, *outputs, "", true);
      if (!st.ok())
        return Fail(task, index, absl::StrCat("recording: ", st.message()), 0, cache_key);
      return NodeOutcome::kSucceeded;
    }
  }
  return RunAttempts(task, index, cache_key, *resolved, ctx);
}

NodeOutcome RunState::RunAttempts(const Task& task, int32_t index, const std::string& cache_key,
                                  const ResolvedInputs& inputs, TaskContext& ctx) {
  const Component& comp = *task.component;
  const RetryPolicy retry = task.options.retry.value_or(comp.retry);
  ctx.task_dir = runs_dir_ + "/" + task.name;
  ctx.stdout_path = ctx.task_dir + "/stdout.log";
  ctx.stderr_path = ctx.task_dir + "/stderr.log";
  absl::Duration backoff = retry.backoff;
  for (int attempt = 1; attempt <= retry.max_retries + 1; ++attempt) {
    if (cancelled_) {
      return Fail(task, index,
                  absl::StrCat("task '", task.name, "' cancelled: the run was stopped"),
                  attempt - 1, cache_key);
    }
    results_.SetState(index, state::kRunning);
    Status st =
        recorder_.RecordTask(task, state::kRunning, attempt, cache_key, Json::object(), "", false);
    if (!st.ok()) {
      return Fail(task, index, absl::StrCat("recording: ", st.message()), attempt, cache_key);
    }
    ctx.attempt = attempt;
    PrepareOutputs(comp, ctx);
    st = MaterializeInputs(client_->artifacts(), ctx);
    {
      std::lock_guard<std::mutex> lock(running_mu_);
      running_.push_back(ctx.interrupter);
    }
    if (st.ok()) st = Attempt(task, ctx, &cancelled_);
    {
      std::lock_guard<std::mutex> lock(running_mu_);
      std::erase(running_, ctx.interrupter);
    }
    if (!st.ok() && cancelled_) {
      return Fail(task, index,
                  absl::StrCat("task '", task.name, "' cancelled: the run was stopped"), attempt,
                  cache_key);
    }
    std::vector<Produced> produced;
    StatusOr<Json> outputs =
        st.ok() ? CollectOutputs(task, ctx, client_->artifacts(), &produced) : StatusOr<Json>(st);
    if (outputs.ok()) {
      Status rec =
          recorder_.RecordSuccess(task, attempt, cache_key, produced, inputs.used, &*outputs);
      if (!rec.ok()) {
        return Fail(task, index, absl::StrCat("recording: ", rec.message()), attempt, cache_key);
      }
      results_.SetOutputs(index, state::kSucceeded, std::move(*outputs));
      return NodeOutcome::kSucceeded;
    }
    const std::string last_error(outputs.status().message());
    if (attempt > retry.max_retries) {
      return Fail(task, index,
                  absl::StrCat("task '", task.name, "' (component '", comp.name, "') failed after ",
                               attempt, attempt == 1 ? " attempt: " : " attempts: ", last_error),
                  attempt, cache_key);
    }
    MLCORE_LOG(Info) << "task " << task.name << " attempt " << attempt << " failed, retrying in "
                     << backoff << ": " << last_error;
    absl::SleepFor(backoff);
    backoff = std::min(retry.max_backoff, backoff * retry.backoff_factor);
  }
  return NodeOutcome::kFailed;
}

FinalRecord RunState::Outcome(const Status& dag) {
  FinalRecord final;
  final.run_id = run_id_;
  final.state = state::kSucceeded;
  if (!dag.ok()) {
    final.state = state::kFailed;
    final.error = absl::StrCat("the run's tasks could not be scheduled: ", dag.message());
  }
  const bool with_tasks = recorder_.records_refused();
  std::lock_guard<std::mutex> lock(results_.mu);
  for (const TaskResult& r : results_.slots) {
    if (r.state == state::kFailed) {
      final.state = state::kFailed;
    }
    if (r.state == state::kFailed && final.error.empty()) {
      final.error = r.error;
      if (final.error.empty()) {
        auto rows = client_->metadata().Query(
            "SELECT error FROM pipeline_tasks WHERE run_id = ?1 AND name = ?2", {run_id_, r.name});
        final.error =
            rows.ok() && !rows->empty() ? ValueText((*rows)[0][0]) : "task '" + r.name + "' failed";
      }
    }
    // The tasks' outcomes go with the run's when some of their own records were refused.
    if (with_tasks) {
      final.tasks.push_back(
          {{"name", r.name}, {"state", r.state}, {"error", r.error}, {"outputs", r.outputs}});
    }
  }
  for (const PipelineOutput& o : pipeline_.outputs()) {
    const Json& outs = results_.slots[graph_.slot(o.task)].outputs;
    if (outs.contains("parameters") && outs["parameters"].contains(o.output)) {
      final.outputs[o.name] = outs["parameters"][o.output];
    } else if (outs.contains("artifacts") && outs["artifacts"].contains(o.output)) {
      final.outputs[o.name] = outs["artifacts"][o.output];
    }
  }
  final.finished_at = ToSeconds(absl::Now());
  return final;
}

void RunState::Cancel() {
  cancelled_ = true;
  std::vector<std::shared_ptr<Interrupter>> running;
  {
    std::lock_guard<std::mutex> lock(running_mu_);
    running = running_;
  }
  for (const auto& interrupter : running) interrupter->Fire();
}

StatusOr<RunRecord> RunState::Wait(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(done_mu_);
  const absl::Time deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  while (!done_) {
    if (deadline == absl::InfiniteFuture()) {
      done_cv_.wait(lock);
    } else if (done_cv_.wait_for(lock, absl::ToChronoNanoseconds(deadline - absl::Now())) ==
                   std::cv_status::timeout &&
               !done_) {
      return absl::DeadlineExceededError(absl::StrCat("run '", run_id_, "' did not finish within ",
                                                      absl::FormatDuration(timeout)));
    }
  }
  if (!final_error_.ok()) return final_error_;
  lock.unlock();
  return client_->GetRun(run_id_);
}

}  // namespace mlcore::pipeline::internal
