// DagGraphFromSpec: the drawable graph of a pipeline spec (Pipeline::ToJson), read back from
// the text the store keeps, so that past runs can be drawn without the Pipeline object.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlcore/pipeline/drawing.h"
#include "nlohmann/json.hpp"

namespace mlcore::pipeline {
namespace {

using Json = nlohmann::json;

const Json* Field(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string Text(const Json& j, const char* key) {
  const Json* f = Field(j, key);
  return f != nullptr && f->is_string() ? f->get<std::string>() : std::string();
}

class SpecReader {
 public:
  explicit SpecReader(const Json& spec) {
    if (const Json* loops = Field(spec, "loops"); loops != nullptr && loops->is_array()) {
      for (const Json& l : *loops) loops_[Text(l, "name")] = &l;
    }
  }

  // The tasks an input binding reads from (a constant's value is data, never followed).
  void TasksOf(const Json& b, std::set<std::string>& out, int depth = 0) const {
    if (!b.is_object() || depth > 64) return;
    if (Field(b, "constant") != nullptr) return;
    if (std::string t = Text(b, "task"); !t.empty()) out.insert(t);
    if (std::string g = Text(b, "gather"); !g.empty()) out.insert(g);
    if (std::string l = Text(b, "loop_item"); !l.empty()) {
      if (const Json* loop = Loop(l)) TasksOf((*loop)["items"], out, depth + 1);
    }
    for (const char* list : {"collect", "one_of"}) {
      if (const Json* items = Field(b, list); items != nullptr && items->is_array()) {
        for (const Json& item : *items) TasksOf(item, out, depth + 1);
      }
    }
  }

  // How a binding reads in a note: `n`, `train.model`, `item of for-loop-1`, `3`.
  std::string Describe(const Json& b) const {
    if (const Json* c = Field(b, "constant")) return c->dump();
    if (std::string p = Text(b, "parameter"); !p.empty()) return p;
    if (std::string t = Text(b, "task"); !t.empty()) return absl::StrCat(t, ".", Text(b, "output"));
    if (std::string g = Text(b, "gather"); !g.empty()) {
      return absl::StrCat("all ", g, ".", Text(b, "output"));
    }
    if (std::string l = Text(b, "loop_item"); !l.empty()) {
      std::string field = Text(b, "field");
      return field.empty() ? absl::StrCat("item of ", l) : absl::StrCat("item.", field);
    }
    if (Field(b, "collect") != nullptr) return "collected";
    if (Field(b, "one_of") != nullptr) return "one of";
    return "?";
  }

  const Json* Loop(const std::string& name) const {
    auto it = loops_.find(name);
    return it == loops_.end() ? nullptr : it->second;
  }

  // The second line of a task's box: "for each in make.output; if n > 2".
  std::string Note(const Json& task) const {
    std::vector<std::string> parts;
    if (std::string loop = Text(task, "loop"); !loop.empty()) {
      const Json* l = Loop(loop);
      parts.push_back(l != nullptr ? absl::StrCat("for each in ", Describe((*l)["items"]))
                                   : absl::StrCat("in ", loop));
    }
    if (const Json* cs = Field(task, "conditions"); cs != nullptr && cs->is_array()) {
      for (const Json& c : *cs) {
        const Json* rhs = Field(c, "rhs");
        std::string cond = absl::StrCat(Describe(c.value("lhs", Json::object())), " ",
                                        Text(c, "op"), " ", rhs != nullptr ? rhs->dump() : "");
        const Json* negate = Field(c, "negate");
        bool neg = negate != nullptr && negate->is_boolean() && negate->get<bool>();
        parts.push_back(neg ? absl::StrCat("if not (", cond, ")") : absl::StrCat("if ", cond));
      }
    }
    return absl::StrJoin(parts, "; ");
  }

 private:
  std::map<std::string, const Json*> loops_;
};

}  // namespace

StatusOr<DagGraph> DagGraphFromSpec(std::string_view spec_json) {
  Json spec = Json::parse(spec_json, nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded()) return absl::InvalidArgumentError("pipeline spec: not valid JSON");
  const Json* tasks = Field(spec, "tasks");
  if (tasks == nullptr || !tasks->is_array()) {
    return absl::InvalidArgumentError("pipeline spec: no \"tasks\" list");
  }
  SpecReader reader(spec);
  DagGraph g;
  std::set<std::string> names;
  for (const Json& t : *tasks) {
    std::string name = Text(t, "name");
    if (name.empty()) return absl::InvalidArgumentError("pipeline spec: a task has no name");
    names.insert(name);
  }
  for (const Json& t : *tasks) {
    std::string name = Text(t, "name");
    g.nodes.push_back({name, "", reader.Note(t)});
    std::set<std::string> up;
    if (const Json* after = Field(t, "after"); after != nullptr && after->is_array()) {
      for (const Json& a : *after) {
        if (a.is_string()) up.insert(a.get<std::string>());
      }
    }
    if (const Json* args = Field(t, "arguments"); args != nullptr && args->is_object()) {
      for (const auto& [key, b] : args->items()) reader.TasksOf(b, up);
    }
    if (const Json* cs = Field(t, "conditions"); cs != nullptr && cs->is_array()) {
      for (const Json& c : *cs) reader.TasksOf(c.value("lhs", Json::object()), up);
    }
    // A loop body waits for the list it iterates over, whether or not it reads the item.
    if (const Json* loop = reader.Loop(Text(t, "loop"))) reader.TasksOf((*loop)["items"], up);
    for (const std::string& u : up) {
      // Names outside the task list (none in a well-formed spec) have nothing to draw.
      if (u != name && names.count(u) != 0) g.edges.push_back({u, name});
    }
  }
  return g;
}

}  // namespace mlcore::pipeline
