#include "pipeline/executor.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlcore/core/cuda.h"
#include "mlcore/core/logging.h"
#include "pipeline/placeholders.h"
#include "pipeline/records.h"
#include "pipeline/subprocess.h"

namespace mlcore::pipeline::internal {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Status CallFn(const Callable& fn, TaskContext& ctx) {
  try {
    return fn(ctx);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("threw: ", e.what()));
  } catch (...) {
    return absl::InternalError("threw an exception");
  }
}

bool Compare(const Json& lhs, const std::string& op, const Json& rhs) {
  if (op == "==") return lhs == rhs;
  if (op == "!=") return lhs != rhs;
  if (op == "<") return lhs < rhs;
  if (op == "<=") return lhs <= rhs;
  if (op == ">") return lhs > rhs;
  return lhs >= rhs;
}

Json ParseOutputParameter(const std::string& text, ValueType type) {
  if (type == ValueType::kString) {
    // Strings are written as plain text (what a shell step echoes); a JSON string also works.
    Json j = Json::parse(text, nullptr, false);
    if (!j.is_discarded() && j.is_string()) return j;
    std::string t = text;
    if (!t.empty() && t.back() == '\n') t.pop_back();
    return t;
  }
  return Json::parse(text, nullptr, false);
}

}  // namespace

RunState::RunState(Client* client, const Pipeline& pipeline, RunOptions options)
    : client_(client), pipeline_(pipeline), options_(std::move(options)) {}

RunState::~RunState() {
  if (thread_.joinable()) thread_.join();
  if (flusher_.joinable()) flusher_.join();
}

void RunState::Launch() {
  runs_dir_ = client_->home() + "/pipeline/runs/" + run_id_;
  flusher_ = std::thread([this] { FlusherLoop(); });
  thread_ = std::thread([this] { Execute(); });
}

void RunState::Execute() {
  // Outer DAG: one node per task outside loops and one per top-level loop (its body, nested
  // loops included, runs inside it).
  const auto& tasks = pipeline_.tasks();
  const auto& loops = pipeline_.loops();
  const Level level = BuildLevel(-1);
  std::vector<int32_t> slot_of;  // node -> slot
  for (int32_t t : level.tasks) slot_of.push_back(t);
  for (int32_t l : level.loops) slot_of.push_back(static_cast<int32_t>(tasks.size()) + l);
  const std::vector<DagNode>& nodes = level.nodes;
  DagOptions so;
  so.max_parallelism = options_.max_parallelism;
  so.cpu_slots = options_.cpu_slots;
  so.gpu_slots = options_.gpu_slots >= 0 ? options_.gpu_slots : cuda::DeviceCount();
  DagCallbacks cb;
  cb.run = [&](int32_t n, const std::vector<int>& gpus) {
    const int32_t slot = slot_of[n];
    if (slot >= static_cast<int32_t>(tasks.size())) {
      return RunLoop(slot - static_cast<int32_t>(tasks.size()), gpus, nullptr);
    }
    return RunTask(tasks[slot], slot, component_digests_[slot], gpus, nullptr);
  };
  auto loop_task = [&](int32_t slot) {
    // A loop's row is recorded like a task's; a stand-in Task carries its name.
    Task t;
    t.name = loops[slot - tasks.size()].name;
    return t;
  };
  cb.on_skip = [&](int32_t n) {
    const int32_t slot = slot_of[n];
    if (slot < static_cast<int32_t>(tasks.size())) {
      MarkFinished(tasks[slot], slot, state::kSkipped, "an upstream task failed or was skipped");
    } else {
      MarkFinished(loop_task(slot), slot, state::kSkipped,
                   "an upstream task failed or was skipped");
    }
  };
  cb.on_unrunnable = [&](int32_t n, const Status& why) {
    const int32_t slot = slot_of[n];
    Task t = slot < static_cast<int32_t>(tasks.size()) ? tasks[slot] : loop_task(slot);
    MarkFinished(t, slot, state::kFailed,
                 absl::StrCat("task '", t.name, "' cannot run: ", why.message()));
  };
  auto stats = RunDag(nodes, cb, so);
  if (!stats.ok()) {
    MLCORE_LOG(Error) << "run " << run_id_ << ": " << stats.status();
  }
  {
    std::lock_guard<std::mutex> dl(deferred_mu_);
    stop_flusher_ = true;
  }
  deferred_cv_.notify_all();
  flusher_.join();
  Status finished = FinishRun();
  {
    std::lock_guard<std::recursive_mutex> lock(stmt_mu_);
    stmts_.clear();
  }
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    final_error_ = std::move(finished);
    done_ = true;
  }
  done_cv_.notify_all();
}

int32_t RunState::MemberOf(const Level& level, int32_t loop, int32_t task) const {
  int32_t l = task_loop_[task];
  if (l == loop) return level.task_member[task];
  while (l != -1 && loop_parent_[l] != loop) l = loop_parent_[l];
  return l == -1 ? -1 : level.loop_member[l];
}

RunState::Level RunState::BuildLevel(int32_t loop) const {
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
  // Whether loop `l` is `ancestor` or nested in it.
  auto within = [&](int32_t l, int32_t ancestor) {
    for (; l != -1; l = loop_parent_[l]) {
      if (l == ancestor) return true;
    }
    return false;
  };
  level.nodes.resize(level.tasks.size() + level.loops.size());
  for (size_t n = 0; n < level.nodes.size(); ++n) {
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
        if (!within(task_loop_[i], li)) continue;
        node.gpu = std::max(node.gpu, tasks[i].component->resources.gpu);
        note_oneof(tasks[i]);
        for (const std::string& u : tasks[i].Upstream()) add(u);
      }
      for (size_t ci = 0; ci < loops.size(); ++ci) {
        const Loop& c = loops[ci];
        if (static_cast<int32_t>(ci) != li && within(static_cast<int32_t>(ci), li) &&
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
  return level;
}

void RunState::MarkFinished(const Task& task, int32_t slot, const std::string& st,
                            const std::string& error) {
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    results_[slot].state = st;
    results_[slot].error = error;
  }
  Status rec = RecordTask(task, st, 0, "", Json::object(), error, true);
  if (!rec.ok()) {
    MLCORE_LOG(Error) << "recording task " << task.name << ": " << rec;
  }
}

const Json& RunState::UpstreamOutputsLocked(const std::string& task, const Scope* scope) const {
  for (const Scope* s = scope; s != nullptr; s = s->parent) {
    auto it = s->local.find(task);
    if (it != s->local.end()) return results_[it->second].outputs;
  }
  return results_[index_.at(task)].outputs;
}

StatusOr<Json> RunState::ResolveParameter(const Task& task, const InputBinding& b,
                                          const Scope* scope) const {
  switch (b.kind) {
    case InputBinding::Kind::kConstant:
      return b.constant;
    case InputBinding::Kind::kParameter:
      return arguments_.at(b.parameter);
    case InputBinding::Kind::kLoopItem: {
      // The iteration of the loop named, this task's own or an enclosing one.
      const int32_t li = index_.at(b.loop) - static_cast<int32_t>(pipeline_.tasks().size());
      while (scope != nullptr && scope->loop != li) scope = scope->parent;
      if (scope == nullptr) {
        return absl::InternalError(absl::StrCat("task '", task.name, "' reads a loop item"));
      }
      if (b.field.empty()) return scope->item;
      if (!scope->item.is_object() || !scope->item.contains(b.field)) {
        return absl::InvalidArgumentError(
            absl::StrCat("task '", task.name, "': loop item ", scope->item.dump(), " (iteration ",
                         scope->iteration, ") has no field '", b.field, "'"));
      }
      return scope->item[b.field];
    }
    case InputBinding::Kind::kGather: {
      std::lock_guard<std::mutex> lock(results_mu_);
      return GatherLocked(b, scope);
    }
    case InputBinding::Kind::kTaskOutput: {
      std::lock_guard<std::mutex> lock(results_mu_);
      const Json& outs = UpstreamOutputsLocked(b.task, scope);
      if (outs.contains("parameters") && outs["parameters"].contains(b.output)) {
        return outs["parameters"][b.output];
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "task '", task.name, "': upstream task '", b.task, "' has no output '", b.output, "'"));
    }
    case InputBinding::Kind::kOneOf: {
      MLCORE_ASSIGN_OR_RETURN(InputBinding item, PickBranch(task, b, scope));
      return ResolveParameter(task, item, scope);
    }
    case InputBinding::Kind::kCollect: {
      Json items = Json::array();
      for (const InputBinding& item : b.items) {
        MLCORE_ASSIGN_OR_RETURN(Json v, ResolveParameter(task, item, scope));
        items.push_back(std::move(v));
      }
      return items;
    }
  }
  return absl::InternalError("bad binding");
}

Json RunState::GatherLocked(const InputBinding& b, const Scope* scope) const {
  // The loops from the producer's up to the one nested directly in the consumer's level.
  const int32_t consumer_loop = scope == nullptr ? -1 : scope->loop;
  std::vector<int32_t> chain;  // outermost first
  for (int32_t l = task_loop_[index_.at(b.task)]; l != consumer_loop && l != -1;
       l = loop_parent_[l]) {
    chain.insert(chain.begin(), l);
  }
  // Each iteration's value, in item order; iterations whose task was skipped (a condition
  // inside the loop) contribute nothing, as in Kubeflow; so does an enclosing iteration that
  // never expanded its nested loop (it failed first).
  std::function<Json(size_t, const Scope*)> gather = [&](size_t depth, const Scope* parent) {
    Json items = Json::array();
    auto it = expansions_.find({chain[depth], parent});
    if (it == expansions_.end()) return items;
    for (const auto& iteration : it->second) {
      if (depth + 1 < chain.size()) {
        items.push_back(gather(depth + 1, iteration.get()));
        continue;
      }
      auto slot = iteration->local.find(b.task);
      if (slot == iteration->local.end()) continue;
      const Json& outs = results_[slot->second].outputs;
      for (const char* kind : {"parameters", "artifacts"}) {
        if (outs.contains(kind) && outs[kind].contains(b.output)) {
          items.push_back(outs[kind][b.output]);
        }
      }
    }
    return items;
  };
  return chain.empty() ? Json::array() : gather(0, scope);
}

StatusOr<ArtifactList> RunState::ResolveArtifactList(const Task& task, const IoSpec& in,
                                                     const Json& entries, const std::string& key,
                                                     std::map<std::string, Json>* used,
                                                     Json* digests) {
  ArtifactList list;
  *digests = Json::array();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Json& e = entries[i];
    const std::string at = absl::StrCat(key, "[", i, "]");
    if (e.is_array()) {
      Json nested;
      MLCORE_ASSIGN_OR_RETURN(ArtifactList l, ResolveArtifactList(task, in, e, at, used, &nested));
      list.lists.push_back(std::move(l));
      digests->push_back(std::move(nested));
      continue;
    }
    const std::string digest = e.value("digest", "");
    Status verified = client_->artifacts().Verify(digest);
    if (!verified.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("task '", task.name, "': input artifact ",
                                                        at, " (from ", e.value("uri", ""),
                                                        ") is unusable: ", verified.message()));
    }
    ArtifactRef ref;
    ref.type = ParseValueType(e.value("type", "")).value_or(ValueType::kArtifact);
    ref.path = client_->artifacts().PathFor(digest).value_or("");
    ref.metadata = e.value("metadata", Json::object());
    ref.digest = digest;
    list.artifacts.push_back(std::move(ref));
    (*used)[at] = e;
    digests->push_back(digest);
  }
  return list;
}

StatusOr<Json> RunState::UpstreamArtifact(const InputBinding& b, const Scope* scope) const {
  std::lock_guard<std::mutex> lock(results_mu_);
  const Json& outs = UpstreamOutputsLocked(b.task, scope);
  if (outs.contains("artifacts") && outs["artifacts"].contains(b.output)) {
    return outs["artifacts"][b.output];
  }
  return absl::FailedPreconditionError(
      absl::StrCat("upstream task '", b.task, "' recorded no artifact '", b.output, "'"));
}

StatusOr<InputBinding> RunState::PickBranch(const Task& task, const InputBinding& b,
                                            const Scope* scope) const {
  std::lock_guard<std::mutex> lock(results_mu_);
  bool upstream_skipped = false;
  std::vector<std::string> names;
  for (const InputBinding& item : b.items) {
    int32_t slot = index_.at(item.task);
    for (const Scope* s = scope; s != nullptr; s = s->parent) {
      auto it = s->local.find(item.task);
      if (it != s->local.end()) {
        slot = it->second;
        break;
      }
    }
    const TaskResult& r = results_[slot];
    if (r.state == state::kSucceeded || r.state == state::kCached) return item;
    // A branch whose condition did not hold records no error; one skipped for its upstream does.
    if (!r.error.empty()) upstream_skipped = true;
    names.push_back(item.task);
  }
  if (upstream_skipped) {
    return absl::CancelledError("an upstream task failed or was skipped");
  }
  return absl::FailedPreconditionError(
      absl::StrCat("task '", task.name, "': no value for its OneOf: none of its branches' tasks (",
                   absl::StrJoin(names, ", "), ") ran"));
}

StatusOr<bool> RunState::ConditionsHold(const Task& task, const Scope* scope) const {
  for (const Condition& c : task.options.conditions) {
    MLCORE_ASSIGN_OR_RETURN(Json lhs, ResolveParameter(task, c.lhs, scope));
    if (Compare(lhs, c.op, c.rhs) == c.negate) return false;
  }
  return true;
}

NodeOutcome RunState::RunTask(const Task& task, int32_t index, const std::string& digest,
                              const std::vector<int>& gpus, const Scope* scope) {
  const Component& comp = *task.component;
  {
    std::lock_guard<std::mutex> lock(results_mu_);
    const std::string& st = results_[index].state;
    if (st == state::kSucceeded || st == state::kCached) return NodeOutcome::kSucceeded;
  }
  auto fail = [&](const std::string& message, int attempts, const std::string& key) {
    {
      std::lock_guard<std::mutex> lock(results_mu_);
      results_[index].state = state::kFailed;
      results_[index].error = message;
    }
    Status st = RecordTask(task, state::kFailed, attempts, key, Json::object(), message, true);
    if (!st.ok()) {
      MLCORE_LOG(Error) << "recording task " << task.name << ": " << st;
    }
    return NodeOutcome::kFailed;
  };
  auto holds = ConditionsHold(task, scope);
  if (!holds.ok()) return fail(std::string(holds.status().message()), 0, "");
  if (!*holds) {
    {
      std::lock_guard<std::mutex> lock(results_mu_);
      results_[index].state = state::kSkipped;
    }
    Status st = RecordTask(task, state::kSkipped, 0, "", Json::object(),
                           "its condition did not hold", true);
    if (!st.ok()) {
      MLCORE_LOG(Error) << "recording task " << task.name << ": " << st;
    }
    return NodeOutcome::kSkipped;
  }

  // Inputs: parameters with defaults applied, artifacts checked against their digests.
  TaskContext ctx;
  ctx.run_id = run_id_;
  ctx.task_name = task.name;
  ctx.gpus = gpus;
  std::map<std::string, Json> inputs_used;  // artifact inputs: name -> upstream entry
  const bool caching = options_.enable_caching && task.options.caching.value_or(comp.caching);
  Json key_inputs = Json::object();  // only built when the cache is used
  for (const IoSpec& in : comp.inputs) {
    auto it = task.arguments.find(in.name);
    // A OneOf input reads the branch that ran; the key below holds the value it got.
    InputBinding picked;
    const InputBinding* binding = it == task.arguments.end() ? nullptr : &it->second;
    if (binding != nullptr && binding->kind == InputBinding::Kind::kOneOf) {
      auto branch = PickBranch(task, *binding, scope);
      if (absl::IsCancelled(branch.status())) {
        MarkFinished(task, index, state::kSkipped, std::string(branch.status().message()));
        return NodeOutcome::kSkipped;
      }
      if (!branch.ok()) return fail(std::string(branch.status().message()), 0, "");
      picked = *std::move(branch);
      binding = &picked;
    }
    if (in.list) {
      // A list of artifacts gathered from loop iterations: each is lineage and in the key.
      Json entries;
      {
        std::lock_guard<std::mutex> lock(results_mu_);
        entries = GatherLocked(it->second, scope);
      }
      Json digests;
      auto list = ResolveArtifactList(task, in, entries, in.name, &inputs_used, &digests);
      if (!list.ok()) return fail(std::string(list.status().message()), 0, "");
      ctx.input_lists[in.name] = *std::move(list);
      if (caching) key_inputs[in.name] = {{"artifacts", digests}};
      continue;
    }
    if (IsArtifactType(in.type)) {
      auto art = UpstreamArtifact(*binding, scope);
      if (!art.ok())
        return fail(absl::StrCat("task '", task.name, "': ", art.status().message()), 0, "");
      std::string digest = (*art)["digest"].get<std::string>();
      Status verified = client_->artifacts().Verify(digest);
      if (!verified.ok()) {
        return fail(absl::StrCat("task '", task.name, "': input artifact '", in.name, "' (from ",
                                 binding->task, ".", binding->output,
                                 ") is unusable: ", verified.message()),
                    0, "");
      }
      ArtifactRef ref;
      ref.type = ParseValueType((*art)["type"].get<std::string>()).value_or(ValueType::kArtifact);
      ref.path = client_->artifacts().PathFor(digest).value_or("");
      ref.metadata = (*art).value("metadata", Json::object());
      ref.digest = digest;
      ctx.inputs[in.name] = ref;
      inputs_used[in.name] = *art;
      if (caching) key_inputs[in.name] = {{"artifact", digest}};
    } else {
      Json value;
      if (it == task.arguments.end()) {
        value = *in.default_value;
      } else {
        auto v = ResolveParameter(task, *binding, scope);
        if (!v.ok()) return fail(std::string(v.status().message()), 0, "");
        value = *std::move(v);
      }
      if (caching) key_inputs[in.name] = {{"value", value}};
      ctx.params.emplace(in.name, std::move(value));
    }
  }

  std::string cache_key;
  if (caching) {
    Json k = {{"component", digest}, {"inputs", key_inputs}};
    cache_key = store::Sha256Hex(k.dump()).value_or("");
    auto rows = Cached("SELECT outputs FROM pipeline_cache WHERE key = ?1", {cache_key});
    if (rows.ok() && !rows->empty()) {
      Json outputs = ParseJsonOr(ValueText((*rows)[0][0]), Json());
      bool usable = outputs.is_object();
      if (usable && outputs.contains("artifacts")) {
        for (auto& [name, a] : outputs["artifacts"].items()) {
          auto has = client_->artifacts().Contains(a.value("digest", ""));
          if (!has.ok() || !*has) usable = false;
        }
      }
      if (usable) {
        {
          std::lock_guard<std::mutex> lock(results_mu_);
          results_[index].state = state::kCached;
          results_[index].outputs = outputs;
        }
        Status st = RecordTask(task, state::kCached, 0, cache_key, outputs, "", true);
        if (!st.ok()) return fail(absl::StrCat("recording: ", st.message()), 0, cache_key);
        return NodeOutcome::kSucceeded;
      }
    }
  }

  const RetryPolicy retry = task.options.retry.value_or(comp.retry);
  const std::string task_dir = runs_dir_ + "/" + task.name;
  ctx.task_dir = task_dir;
  ctx.stdout_path = task_dir + "/stdout.log";
  ctx.stderr_path = task_dir + "/stderr.log";
  absl::Duration backoff = retry.backoff;
  std::string last_error;
  for (int attempt = 1; attempt <= retry.max_retries + 1; ++attempt) {
    {
      std::lock_guard<std::mutex> lock(results_mu_);
      results_[index].state = state::kRunning;
    }
    Status st = RecordTask(task, state::kRunning, attempt, cache_key, Json::object(), "", false);
    if (!st.ok()) return fail(absl::StrCat("recording: ", st.message()), attempt, cache_key);
    ctx.attempt = attempt;
    ctx.output_params.clear();
    ctx.outputs.clear();
    ctx.output_param_paths.clear();
    // Commands run in the task directory; callables get one only when they write artifacts
    // (creating directories is most of an in-process no-op task's cost).
    bool has_artifacts = false;
    for (const IoSpec& out : comp.outputs) has_artifacts |= IsArtifactType(out.type);
    if (!comp.fn || has_artifacts) {
      std::error_code ec;
      fs::remove_all(task_dir + "/outputs", ec);
      fs::create_directories(task_dir + "/outputs/params", ec);
    }
    for (const IoSpec& out : comp.outputs) {
      if (IsArtifactType(out.type)) {
        ArtifactRef ref;
        ref.type = out.type;
        ref.path = task_dir + "/outputs/" + out.name;
        ctx.outputs[out.name] = ref;
      } else {
        ctx.output_param_paths[out.name] = task_dir + "/outputs/params/" + out.name;
      }
    }
    st = Attempt(task, ctx);
    std::vector<Produced> produced;
    StatusOr<Json> outputs = st.ok() ? CollectOutputs(task, ctx, &produced) : StatusOr<Json>(st);
    if (outputs.ok()) {
      Status rec = RecordSuccess(task, attempt, cache_key, produced, inputs_used, &*outputs);
      if (!rec.ok()) return fail(absl::StrCat("recording: ", rec.message()), attempt, cache_key);
      std::lock_guard<std::mutex> lock(results_mu_);
      results_[index].state = state::kSucceeded;
      results_[index].outputs = std::move(*outputs);
      return NodeOutcome::kSucceeded;
    }
    last_error = std::string(outputs.status().message());
    if (attempt <= retry.max_retries) {
      MLCORE_LOG(Info) << "task " << task.name << " attempt " << attempt << " failed, retrying in "
                       << backoff << ": " << last_error;
      absl::SleepFor(backoff);
      backoff = std::min(retry.max_backoff, backoff * retry.backoff_factor);
    } else {
      return fail(absl::StrCat("task '", task.name, "' (component '", comp.name, "') failed after ",
                               attempt, attempt == 1 ? " attempt: " : " attempts: ", last_error),
                  attempt, cache_key);
    }
  }
  return NodeOutcome::kFailed;
}

Status RunState::Attempt(const Task& task, TaskContext& ctx) {
  const Component& comp = *task.component;
  if (comp.fn) {
    if (comp.timeout == absl::InfiniteDuration()) return CallFn(comp.fn, ctx);
    // A deadline: the callable runs on a thread of its own (with its own copy of the context)
    // so that this one can stop waiting. At the deadline the callable is interrupted where it
    // can be (Python) and abandoned; it may still be running, but nothing it does is recorded.
    struct Call {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      Status status;
      TaskContext ctx;
    };
    auto call = std::make_shared<Call>();
    call->ctx = ctx;
    Callable fn = comp.fn;
    std::thread runner([call, fn] {
      Status st = CallFn(fn, call->ctx);
      std::lock_guard<std::mutex> lock(call->mu);
      call->status = std::move(st);
      call->done = true;
      call->cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(call->mu);
    const bool finished = call->cv.wait_for(lock, absl::ToChronoNanoseconds(comp.timeout),
                                            [&] { return call->done; });
    if (finished) {
      lock.unlock();
      runner.join();
      ctx = std::move(call->ctx);
      return call->status;
    }
    lock.unlock();
    call->ctx.interrupter->Fire();
    runner.detach();
    return absl::DeadlineExceededError(
        absl::StrCat("task '", task.name, "' ran past its timeout of ",
                     absl::FormatDuration(comp.timeout), " and was stopped"));
  }
  std::error_code ec;
  fs::create_directories(ctx.task_dir, ec);
  SubprocessOptions so;
  for (const std::string& arg : comp.command) {
    MLCORE_ASSIGN_OR_RETURN(std::string expanded, ExpandPlaceholders(arg, ctx));
    so.argv.push_back(std::move(expanded));
  }
  so.env = comp.env;
  so.env["MLCORE_RUN_ID"] = ctx.run_id;
  so.env["MLCORE_TASK"] = ctx.task_name;
  // The devices this task holds, so that parallel GPU tasks never share one by accident; a task
  // that asked for none sees none.
  std::string visible;
  for (int d : ctx.gpus) absl::StrAppend(&visible, visible.empty() ? "" : ",", d);
  so.env["CUDA_VISIBLE_DEVICES"] = visible;
  so.cwd = ctx.task_dir;
  so.stdout_path = ctx.stdout_path;
  so.stderr_path = ctx.stderr_path;
  so.timeout = comp.timeout;
  so.cancelled = &cancelled_;
  return RunSubprocess(so);
}

StatusOr<Json> RunState::CollectOutputs(const Task& task, TaskContext& ctx,
                                        std::vector<Produced>* produced) {
  const Component& comp = *task.component;
  Json outputs = {{"parameters", Json::object()}, {"artifacts", Json::object()}};
  for (const IoSpec& out : comp.outputs) {
    if (IsArtifactType(out.type)) continue;
    Json value;
    auto it = ctx.output_params.find(out.name);
    if (it != ctx.output_params.end()) {
      value = it->second;
    } else {
      const std::string& path = ctx.output_param_paths[out.name];
      if (!fs::exists(path)) {
        return absl::FailedPreconditionError(absl::StrCat("did not set its output parameter '",
                                                          out.name, "' (", ValueTypeName(out.type),
                                                          "; a command writes it to ", path, ")"));
      }
      value = ParseOutputParameter(ReadFile(path), out.type);
    }
    Status st = CheckParameterValue(out.type, value);
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("output parameter '", out.name, "': ", st.message()));
    }
    outputs["parameters"][out.name] = value;
  }
  for (const IoSpec& out : comp.outputs) {
    if (!IsArtifactType(out.type)) continue;
    ArtifactRef& ref = ctx.outputs[out.name];
    if (!fs::is_regular_file(ref.path)) {
      return absl::FailedPreconditionError(absl::StrCat("did not write its output artifact '",
                                                        out.name, "' (", ValueTypeName(out.type),
                                                        ") as a file at ", ref.path));
    }
    Json metadata = ref.metadata.is_object() ? ref.metadata : Json::object();
    std::string meta_path = ref.path + ".metadata.json";
    if (fs::exists(meta_path)) {
      Json file_meta = Json::parse(ReadFile(meta_path), nullptr, false);
      if (file_meta.is_object()) metadata.update(file_meta);
    }
    MLCORE_ASSIGN_OR_RETURN(store::Artifact art, client_->artifacts().PutFile(ref.path));
    produced->push_back({out.name, art, metadata, out.type});
  }
  return outputs;
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
