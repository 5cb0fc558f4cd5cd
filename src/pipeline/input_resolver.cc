#include "pipeline/input_resolver.h"

#include <filesystem>
#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlcore/pipeline/client.h"
#include "pipeline/records.h"

namespace mlcore::pipeline::internal {
namespace {

namespace fs = std::filesystem;

bool Compare(const Json& lhs, const std::string& op, const Json& rhs) {
  if (op == "==") return lhs == rhs;
  if (op == "!=") return lhs != rhs;
  if (op == "<") return lhs < rhs;
  if (op == "<=") return lhs <= rhs;
  if (op == ">") return lhs > rhs;
  return lhs >= rhs;
}

}  // namespace

StatusOr<ResolvedInputs> InputResolver::ResolveInputs(const Task& task, const Scope* scope,
                                                      bool caching, TaskContext& ctx) const {
  ResolvedInputs out;
  for (const IoSpec& in : task.component->inputs) {
    auto it = task.arguments.find(in.name);
    // A OneOf input reads the branch that ran; the key below holds the value it got.
    InputBinding picked;
    const InputBinding* binding = it == task.arguments.end() ? nullptr : &it->second;
    if (binding != nullptr && binding->kind == InputBinding::Kind::kOneOf) {
      auto branch = PickBranch(task, *binding, scope);
      if (absl::IsCancelled(branch.status())) {
        out.skip = std::string(branch.status().message());
        return out;
      }
      MLCORE_RETURN_IF_ERROR(branch.status());
      picked = *std::move(branch);
      binding = &picked;
    }
    if (in.list) {
      // A list of artifacts gathered from loop iterations: each is lineage and in the key.
      Json entries;
      {
        std::lock_guard<std::mutex> lock(results_.mu);
        entries = GatherLocked(it->second, scope);
      }
      Json digests;
      MLCORE_ASSIGN_OR_RETURN(ctx.input_lists[in.name],
                              ResolveArtifactList(task, entries, in.name, &out.used, &digests));
      if (caching) out.key_inputs[in.name] = {{"artifacts", digests}};
    } else if (IsArtifactType(in.type)) {
      MLCORE_RETURN_IF_ERROR(ResolveArtifact(task, in, *binding, scope, caching, ctx, out));
    } else {
      Json value;
      if (it == task.arguments.end()) {
        value = *in.default_value;
      } else {
        MLCORE_ASSIGN_OR_RETURN(value, ResolveParameter(task, *binding, scope));
      }
      if (caching) out.key_inputs[in.name] = {{"value", value}};
      ctx.params.emplace(in.name, std::move(value));
    }
  }
  return out;
}

Status InputResolver::ResolveArtifact(const Task& task, const IoSpec& in,
                                      const InputBinding& binding, const Scope* scope, bool caching,
                                      TaskContext& ctx, ResolvedInputs& out) const {
  auto art = UpstreamArtifact(binding, scope);
  if (!art.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("task '", task.name, "': ", art.status().message()));
  }
  auto ref = VerifiedRef(*art);
  if (!ref.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("task '", task.name, "': input artifact '", in.name, "' (from ", binding.task,
                     ".", binding.output, ") is unusable: ", ref.status().message()));
  }
  if (caching) out.key_inputs[in.name] = {{"artifact", ref->digest}};
  ctx.inputs[in.name] = *std::move(ref);
  out.used[in.name] = *art;
  return absl::OkStatus();
}

StatusOr<ArtifactRef> InputResolver::VerifiedRef(const Json& entry) const {
  ArtifactRef ref;
  ref.digest = entry.value("digest", "");
  ref.directory = entry.value("directory", false);
  // Every file of a directory is checked, so a damaged tree fails here, before the task runs or
  // a cache hit is served from it; MaterializeInputs copies it (checking again) into the task.
  MLCORE_RETURN_IF_ERROR(ref.directory ? artifacts_.VerifyDirectory(ref.digest)
                                       : artifacts_.Verify(ref.digest));
  ref.type = ParseValueType(entry.value("type", "")).value_or(ValueType::kArtifact);
  if (!ref.directory) ref.path = artifacts_.PathFor(ref.digest).value_or("");
  ref.metadata = entry.value("metadata", Json::object());
  return ref;
}

StatusOr<Json> InputResolver::ResolveParameter(const Task& task, const InputBinding& b,
                                               const Scope* scope) const {
  switch (b.kind) {
    case InputBinding::Kind::kConstant:
      return b.constant;
    case InputBinding::Kind::kParameter:
      return arguments_.at(b.parameter);
    case InputBinding::Kind::kLoopItem: {
      // The iteration of the loop named, this task's own or an enclosing one.
      const int32_t li =
          results_.graph.slot(b.loop) - static_cast<int32_t>(pipeline_.tasks().size());
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
      std::lock_guard<std::mutex> lock(results_.mu);
      return GatherLocked(b, scope);
    }
    case InputBinding::Kind::kTaskOutput: {
      std::lock_guard<std::mutex> lock(results_.mu);
      const Json& outs = results_.OutputsLocked(b.task, scope);
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

Json InputResolver::GatherLocked(const InputBinding& b, const Scope* scope) const {
  // The loops from the producer's up to the one nested directly in the consumer's level.
  const int32_t consumer_loop = scope == nullptr ? -1 : scope->loop;
  std::vector<int32_t> chain;  // outermost first
  for (int32_t l = results_.graph.task_loop(results_.graph.slot(b.task));
       l != consumer_loop && l != -1; l = results_.graph.loop_parent(l)) {
    chain.insert(chain.begin(), l);
  }
  // Each iteration's value, in item order; iterations whose task was skipped (a condition
  // inside the loop) contribute nothing, as in Kubeflow; so does an enclosing iteration that
  // never expanded its nested loop (it failed first).
  std::function<Json(size_t, const Scope*)> gather = [&](size_t depth, const Scope* parent) {
    Json items = Json::array();
    auto it = results_.expansions.find({chain[depth], parent});
    if (it == results_.expansions.end()) return items;
    for (const auto& iteration : it->second) {
      if (depth + 1 < chain.size()) {
        items.push_back(gather(depth + 1, iteration.get()));
        continue;
      }
      auto slot = iteration->local.find(b.task);
      if (slot == iteration->local.end()) continue;
      const Json& outs = results_.slots[slot->second].outputs;
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

StatusOr<ArtifactList> InputResolver::ResolveArtifactList(const Task& task, const Json& entries,
                                                          const std::string& key,
                                                          std::map<std::string, Json>* used,
                                                          Json* digests) const {
  ArtifactList list;
  *digests = Json::array();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Json& e = entries[i];
    const std::string at = absl::StrCat(key, "[", i, "]");
    if (e.is_array()) {
      Json nested;
      MLCORE_ASSIGN_OR_RETURN(ArtifactList l, ResolveArtifactList(task, e, at, used, &nested));
      list.lists.push_back(std::move(l));
      digests->push_back(std::move(nested));
      continue;
    }
    auto ref = VerifiedRef(e);
    if (!ref.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("task '", task.name, "': input artifact ",
                                                        at, " (from ", e.value("uri", ""),
                                                        ") is unusable: ", ref.status().message()));
    }
    digests->push_back(ref->digest);
    list.artifacts.push_back(*std::move(ref));
    (*used)[at] = e;
  }
  return list;
}

StatusOr<Json> InputResolver::UpstreamArtifact(const InputBinding& b, const Scope* scope) const {
  std::lock_guard<std::mutex> lock(results_.mu);
  const Json& outs = results_.OutputsLocked(b.task, scope);
  if (outs.contains("artifacts") && outs["artifacts"].contains(b.output)) {
    return outs["artifacts"][b.output];
  }
  return absl::FailedPreconditionError(
      absl::StrCat("upstream task '", b.task, "' recorded no artifact '", b.output, "'"));
}

StatusOr<InputBinding> InputResolver::PickBranch(const Task& task, const InputBinding& b,
                                                 const Scope* scope) const {
  std::lock_guard<std::mutex> lock(results_.mu);
  bool upstream_skipped = false;
  std::vector<std::string> names;
  for (const InputBinding& item : b.items) {
    const TaskResult& r = results_.slots[results_.SlotLocked(item.task, scope)];
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

namespace {

bool HasDirectory(const ArtifactList& list) {
  for (const ArtifactRef& ref : list.artifacts) {
    if (ref.directory) return true;
  }
  for (const ArtifactList& nested : list.lists) {
    if (HasDirectory(nested)) return true;
  }
  return false;
}

// Copies the directory items of `list` under `dir` (named by item index) and points them there.
Status MaterializeList(const store::ArtifactStore& artifacts, const std::string& dir,
                       ArtifactList& list) {
  for (size_t i = 0; i < list.artifacts.size(); ++i) {
    ArtifactRef& ref = list.artifacts[i];
    if (!ref.directory) continue;
    ref.path = absl::StrCat(dir, "/", i);
    MLCORE_RETURN_IF_ERROR(artifacts.GetDirectory(ref.digest, ref.path));
  }
  for (size_t i = 0; i < list.lists.size(); ++i) {
    MLCORE_RETURN_IF_ERROR(MaterializeList(
        artifacts, absl::StrCat(dir, "/", list.artifacts.size() + i), list.lists[i]));
  }
  return absl::OkStatus();
}

}  // namespace

Status MaterializeInputs(const store::ArtifactStore& artifacts, TaskContext& ctx) {
  // Most tasks read files only: they pay nothing here.
  bool any = false;
  for (const auto& [name, ref] : ctx.inputs) any |= ref.directory;
  for (const auto& [name, list] : ctx.input_lists) any |= HasDirectory(list);
  if (!any) return absl::OkStatus();
  const std::string dir = ctx.task_dir + "/inputs";
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot clear ", dir, ": ", ec.message()));
  for (auto& [name, ref] : ctx.inputs) {
    if (!ref.directory) continue;
    ref.path = dir + "/" + name;
    Status st = artifacts.GetDirectory(ref.digest, ref.path);
    if (!st.ok()) {
      return Status(st.code(), absl::StrCat("input artifact '", name, "': ", st.message()));
    }
  }
  for (auto& [name, list] : ctx.input_lists) {
    Status st = MaterializeList(artifacts, dir + "/" + name, list);
    if (!st.ok()) {
      return Status(st.code(), absl::StrCat("input artifact list '", name, "': ", st.message()));
    }
  }
  return absl::OkStatus();
}

StatusOr<bool> InputResolver::ConditionsHold(const Task& task, const Scope* scope) const {
  for (const Condition& c : task.options.conditions) {
    MLCORE_ASSIGN_OR_RETURN(Json lhs, ResolveParameter(task, c.lhs, scope));
    if (Compare(lhs, c.op, c.rhs) == c.negate) return false;
  }
  return true;
}

}  // namespace mlcore::pipeline::internal
