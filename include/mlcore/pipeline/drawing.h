// Drawing a pipeline's DAG: a layered layout (tasks in columns by depth, edges left to right,
// edges that skip columns routed through lanes of their own so that no edge passes under a box
// it does not connect) and its SVG, with task states as colours, arrowheads, names that fit
// their boxes, and each task's loop and condition written under its name. Notebooks show it
// (Python's Pipeline and Run views call it); C++ programs can write it to a file.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mlcore/core/status.h"

namespace mlcore::pipeline {

struct DrawingNode {
  std::string name;
  std::string state;  // a task state ("running", "succeeded", ...) or "" when not run
  std::string note;   // a second line: the loop or condition the task runs under, or ""
};

struct DrawingEdge {
  std::string from;
  std::string to;
};

struct DagGraph {
  std::vector<DrawingNode> nodes;
  std::vector<DrawingEdge> edges;
};

// The graph of a pipeline's spec (Pipeline::ToJson text, as the store keeps it per pipeline
// version): one node per task with its loop and conditions as the note, one edge per upstream
// task (data inputs, `after`, loop items, gathered outputs, condition operands).
// InvalidArgument naming what is wrong when the text is not such a spec.
StatusOr<DagGraph> DagGraphFromSpec(std::string_view spec_json);

struct DagLayoutOptions {
  double font_size = 12;       // px, of task names; notes are drawn at 5/6 of it
  double min_box_width = 90;   // px
  double max_box_width = 240;  // px; longer names are cut with an ellipsis (full name on hover)
  double column_gap = 56;      // px between columns, where edges change lanes
  double row_gap = 16;         // px between boxes of one column
  double lane_pitch = 14;      // px taken in a column by an edge passing through it
  double margin = 16;          // px around the drawing
};

struct Box {
  double x = 0;
  double y = 0;
  double width = 0;
  double height = 0;
};

struct DrawnNode {
  std::string name;
  std::string label;  // the name as drawn: cut to fit the box when too long
  std::string state;
  std::string note;  // as drawn (cut to fit)
  Box box;
  int column = 0;
};

struct DrawnEdge {
  std::string from;
  std::string to;
  std::vector<std::pair<double, double>> points;  // a polyline; the last point is the arrow tip
};

struct DagLayout {
  double width = 0;
  double height = 0;
  std::vector<DrawnNode> nodes;  // in the order of DagGraph::nodes
  std::vector<DrawnEdge> edges;  // in the order of DagGraph::edges
};

// Lays `graph` out. InvalidArgument for an edge naming an unknown node, a repeated node name or
// a cycle. Column ordering reduces crossings (barycentre sweeps, best of several kept); boxes
// never overlap; every edge segment runs in a gap between columns or along a lane of its own.
StatusOr<DagLayout> LayOutDag(const DagGraph& graph, const DagLayoutOptions& options = {});

// The layout as a standalone SVG document (no scripts, no external references).
std::string DagSvg(const DagLayout& layout, const DagLayoutOptions& options = {});

}  // namespace mlcore::pipeline
