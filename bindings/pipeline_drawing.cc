// mlcore._mlcore.pipeline: the DAG drawing (pipeline/drawing.h) of a pipeline spec, with task
// states as colours, as SVG text and as its geometry (boxes and edge polylines, for tests).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <string>

#include "bindings.h"
#include "convert.h"
#include "mlcore/pipeline/drawing.h"

namespace mlcore::python {
namespace {

using namespace mlcore::pipeline;

StatusOr<DagLayout> Layout(const std::string& spec,
                           const std::map<std::string, std::string>& states) {
  MLCORE_ASSIGN_OR_RETURN(DagGraph g, DagGraphFromSpec(spec));
  for (DrawingNode& n : g.nodes) {
    if (auto it = states.find(n.name); it != states.end()) n.state = it->second;
  }
  return LayOutDag(g);
}

py::dict LayoutDict(const DagLayout& l) {
  py::list nodes, edges;
  for (const DrawnNode& n : l.nodes) {
    py::dict d;
    d["name"] = n.name;
    d["label"] = n.label;
    d["state"] = n.state;
    d["note"] = n.note;
    d["column"] = n.column;
    d["box"] = py::make_tuple(n.box.x, n.box.y, n.box.width, n.box.height);
    nodes.append(d);
  }
  for (const DrawnEdge& e : l.edges) {
    py::dict d;
    d["from"] = e.from;
    d["to"] = e.to;
    d["points"] = e.points;
    edges.append(d);
  }
  py::dict out;
  out["width"] = l.width;
  out["height"] = l.height;
  out["nodes"] = nodes;
  out["edges"] = edges;
  return out;
}

void BindDrawing(py::module_& m) {
  m.def(
      "dag_svg",
      [](const std::string& spec, const std::map<std::string, std::string>& states) {
        return Released([&]() -> StatusOr<std::string> {
          MLCORE_ASSIGN_OR_RETURN(DagLayout l, Layout(spec, states));
          return DagSvg(l);
        });
      },
      py::arg("spec"), py::arg("states") = std::map<std::string, std::string>{},
      "The SVG drawing of a pipeline spec (Pipeline.to_json() text) with task states as colours");
  m.def(
      "dag_layout",
      [](const std::string& spec, const std::map<std::string, std::string>& states) {
        return LayoutDict(Released([&] { return Layout(spec, states); }));
      },
      py::arg("spec"), py::arg("states") = std::map<std::string, std::string>{},
      "The geometry of dag_svg's drawing: boxes (x, y, width, height) and edge polylines");
}

BinderRegistration reg("pipeline", "", &BindDrawing, 10);

}  // namespace
}  // namespace mlcore::python
