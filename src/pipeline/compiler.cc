#include "mlcore/pipeline/compiler.h"

#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "pipeline/compile_dag.h"

namespace mlcore::pipeline {

StatusOr<Json> CompileToKfp(const Pipeline& pipeline, const CompileOptions& options) {
  return internal::CompileDag(pipeline, options);
}

namespace {

bool PlainKey(const std::string& k) {
  static const std::regex kPlain("[A-Za-z_][A-Za-z0-9_.-]*");
  return std::regex_match(k, kPlain) && k != "true" && k != "false" && k != "null" && k != "yes" &&
         k != "no" && k != "on" && k != "off";
}

std::string Key(const std::string& k) { return PlainKey(k) ? k : Json(k).dump(); }

std::string Scalar(const Json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    std::string s = v.dump();
    // YAML needs a float to look like one; JSON may print 2.0 as "2.0" already.
    if (s.find_first_of(".eE") == std::string::npos && std::isfinite(d)) s += ".0";
    return s;
  }
  return v.dump();  // strings double-quoted with JSON escapes: valid YAML
}

void Emit(const Json& v, int indent, std::ostringstream& out) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    for (const auto& [k, child] : v.items()) {
      out << pad << Key(k) << ":";
      if ((child.is_object() || child.is_array()) && !child.empty()) {
        out << "\n";
        Emit(child, indent + 2, out);
      } else if (child.is_object()) {
        out << " {}\n";
      } else if (child.is_array()) {
        out << " []\n";
      } else {
        out << " " << Scalar(child) << "\n";
      }
    }
  } else if (v.is_array()) {
    for (const Json& child : v) {
      if (child.is_object() && !child.empty()) {
        // "- " then the first key on the same line, the rest indented under it.
        std::ostringstream inner;
        Emit(child, indent + 2, inner);
        std::string text = inner.str();
        out << pad << "- " << text.substr(indent + 2);
      } else if (child.is_array() && !child.empty()) {
        out << pad << "-\n";
        Emit(child, indent + 2, out);
      } else if (child.is_object()) {
        out << pad << "- {}\n";
      } else if (child.is_array()) {
        out << pad << "- []\n";
      } else {
        out << pad << "- " << Scalar(child) << "\n";
      }
    }
  } else {
    out << pad << Scalar(v) << "\n";
  }
}

}  // namespace

std::string ToYaml(const Json& value) {
  std::ostringstream out;
  Emit(value, 0, out);
  return out.str();
}

StatusOr<std::string> CompileToKfpYaml(const Pipeline& pipeline, const CompileOptions& options) {
  MLCORE_ASSIGN_OR_RETURN(Json spec, CompileToKfp(pipeline, options));
  return ToYaml(spec);
}

}  // namespace mlcore::pipeline
