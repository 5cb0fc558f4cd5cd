#include "mlcore/pipeline/drawing.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "mlcore/pipeline/pipeline.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

// Whether segment p-q passes through the inside of `b` (touching its border does not count):
// Liang-Barsky clipping against the box shrunk by `inset`.
bool CrossesInside(std::pair<double, double> p, std::pair<double, double> q, const Box& b,
                   double inset = 0.5) {
  double x0 = b.x + inset, x1 = b.x + b.width - inset, y0 = b.y + inset,
         y1 = b.y + b.height - inset;
  double t0 = 0, t1 = 1, dx = q.first - p.first, dy = q.second - p.second;
  auto clip = [&](double pp, double qq) {
    if (pp == 0) return qq >= 0;
    double r = qq / pp;
    if (pp < 0) {
      if (r > t1) return false;
      t0 = std::max(t0, r);
    } else {
      if (r < t0) return false;
      t1 = std::min(t1, r);
    }
    return true;
  };
  return clip(-dx, p.first - x0) && clip(dx, x1 - p.first) && clip(-dy, p.second - y0) &&
         clip(dy, y1 - p.second) && t0 < t1;
}

bool Overlap(const Box& a, const Box& b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

// The properties every drawing must have, whatever the graph.
void ExpectWellDrawn(const DagGraph& g, const DagLayout& l) {
  ASSERT_EQ(l.nodes.size(), g.nodes.size());
  ASSERT_EQ(l.edges.size(), g.edges.size());
  for (size_t i = 0; i < l.nodes.size(); ++i) {
    const Box& b = l.nodes[i].box;
    EXPECT_GE(b.x, 0);
    EXPECT_GE(b.y, 0);
    EXPECT_LE(b.x + b.width, l.width);
    EXPECT_LE(b.y + b.height, l.height);
    for (size_t j = i + 1; j < l.nodes.size(); ++j) {
      EXPECT_FALSE(Overlap(b, l.nodes[j].box)) << l.nodes[i].name << " / " << l.nodes[j].name;
    }
  }
  std::map<std::string, const DrawnNode*> by_name;
  for (const DrawnNode& n : l.nodes) by_name[n.name] = &n;
  for (const DrawnEdge& e : l.edges) {
    ASSERT_GE(e.points.size(), 2u);
    const Box& from = by_name[e.from]->box;
    const Box& to = by_name[e.to]->box;
    // Leaves the source's right side; the arrow tip touches the target's left side.
    EXPECT_DOUBLE_EQ(e.points.front().first, from.x + from.width);
    EXPECT_DOUBLE_EQ(e.points.back().first, to.x);
    EXPECT_GT(e.points.back().second, to.y);
    EXPECT_LT(e.points.back().second, to.y + to.height);
    for (size_t k = 0; k + 1 < e.points.size(); ++k) {
      EXPECT_LE(e.points[k].first, e.points[k + 1].first) << "edges run left to right";
      for (const DrawnNode& n : l.nodes) {
        EXPECT_FALSE(CrossesInside(e.points[k], e.points[k + 1], n.box))
            << "edge " << e.from << " -> " << e.to << " crosses box " << n.name;
      }
    }
  }
}

DagGraph Graph(std::vector<std::string> names, std::vector<std::pair<int, int>> edges) {
  DagGraph g;
  for (auto& n : names) g.nodes.push_back({n, "", ""});
  for (auto [a, b] : edges) g.edges.push_back({names[a], names[b]});
  return g;
}

TEST(DagDrawing, ADiamondWithASkipEdgeRoutesAroundTheMiddleBox) {
  // a -> b -> c and a -> c: the a -> c edge must not pass under b (it did before: it looked
  // linear).
  DagGraph g = Graph({"a", "b", "c"}, {{0, 1}, {1, 2}, {0, 2}});
  auto l = LayOutDag(g);
  ASSERT_TRUE(l.ok()) << l.status();
  ExpectWellDrawn(g, *l);
  EXPECT_EQ(l->nodes[0].column, 0);
  EXPECT_EQ(l->nodes[1].column, 1);
  EXPECT_EQ(l->nodes[2].column, 2);
  EXPECT_GE(l->edges[2].points.size(), 3u) << "the skip edge bends through its own lane";
}

TEST(DagDrawing, RandomGraphsAreDrawnWithoutOverlapsOrEdgesUnderBoxes) {
  std::mt19937 rng(11);
  for (int round = 0; round < 40; ++round) {
    int n = 2 + static_cast<int>(rng() % 25);
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i)
      names.push_back(absl::StrCat("task-", i, std::string(rng() % 30, 'x')));
    std::vector<std::pair<int, int>> edges;
    for (int i = 1; i < n; ++i) {
      for (int k = static_cast<int>(rng() % 3); k > 0; --k) edges.emplace_back(rng() % i, i);
    }
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    DagGraph g = Graph(names, edges);
    auto l = LayOutDag(g);
    ASSERT_TRUE(l.ok()) << l.status();
    ExpectWellDrawn(g, *l);
  }
}

TEST(DagDrawing, LongNamesAreCutToFitTheirBoxes) {
  DagLayoutOptions o;
  DagGraph g = Graph({std::string(200, 'n') + "\u00e9\u00e9", "short"}, {{0, 1}});
  auto l = LayOutDag(g, o);
  ASSERT_TRUE(l.ok());
  const DrawnNode& longest = l->nodes[0];
  EXPECT_LE(longest.box.width, o.max_box_width);
  EXPECT_LT(longest.label.size(), longest.name.size());
  EXPECT_EQ(longest.label.substr(longest.label.size() - 3), "\u2026");
  EXPECT_EQ(l->nodes[1].label, "short");
  std::string svg = DagSvg(*l, o);
  EXPECT_NE(svg.find(longest.name), std::string::npos) << "the full name stays in the tooltip";
}

TEST(DagDrawing, SvgHasArrowheadsStatesAndEscapedNames) {
  DagGraph g = Graph({"load<&>", "train"}, {{0, 1}});
  g.nodes[0].state = "succeeded";
  g.nodes[1].state = "failed";
  auto l = LayOutDag(g);
  ASSERT_TRUE(l.ok());
  std::string svg = DagSvg(*l);
  EXPECT_NE(svg.find("marker-end=\"url(#mlcore-dag-arrow)\""), std::string::npos);
  EXPECT_NE(svg.find("<marker id=\"mlcore-dag-arrow\""), std::string::npos);
  EXPECT_NE(svg.find("load&lt;&amp;&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("load<&>"), std::string::npos);
  EXPECT_NE(svg.find("data-state=\"failed\""), std::string::npos);
  EXPECT_NE(svg.find("#ef9a9a"), std::string::npos);
}

TEST(DagDrawing, BadGraphsAreRefusedByName) {
  auto cycle = LayOutDag(Graph({"a", "b"}, {{0, 1}, {1, 0}}));
  EXPECT_EQ(cycle.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cycle.status().message().find("cycle"), std::string::npos);
  DagGraph unknown = Graph({"a"}, {});
  unknown.edges.push_back({"a", "ghost"});
  EXPECT_NE(LayOutDag(unknown).status().message().find("ghost"), std::string::npos);
  DagGraph twice = Graph({"a", "a"}, {});
  EXPECT_NE(LayOutDag(twice).status().message().find("twice"), std::string::npos);
  EXPECT_EQ(DagGraphFromSpec("{").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DagGraphFromSpec("[]").status().code(), absl::StatusCode::kInvalidArgument);
  auto empty = LayOutDag(DagGraph{});
  ASSERT_TRUE(empty.ok());
  EXPECT_GT(empty->width, 0);
}

TEST(DagDrawing, SpecEdgesFollowInputsAfterLoopsAndConditions) {
  const char* spec = R"({"name": "p", "tasks": [
    {"name": "make", "arguments": {}, "after": [], "conditions": []},
    {"name": "sq", "loop": "for-loop-1", "after": [], "conditions": [],
     "arguments": {"x": {"loop_item": "for-loop-1", "field": ""}}},
    {"name": "total", "after": [], "arguments": {"xs": {"gather": "sq", "output": "output"},
     "c": {"constant": {"task": "not-a-task"}}},
     "conditions": [{"lhs": {"parameter": "n"}, "op": ">", "rhs": 2, "negate": false}]},
    {"name": "report", "after": ["total"], "arguments": {}, "conditions": [
     {"lhs": {"task": "make", "output": "output"}, "op": "==", "rhs": "x", "negate": true}]}],
    "loops": [{"name": "for-loop-1", "items": {"task": "make", "output": "output"},
               "body": ["sq"], "parallelism": 0}]})";
  auto g = DagGraphFromSpec(spec);
  ASSERT_TRUE(g.ok()) << g.status();
  std::vector<std::pair<std::string, std::string>> edges;
  for (const DrawingEdge& e : g->edges) edges.emplace_back(e.from, e.to);
  std::sort(edges.begin(), edges.end());
  std::vector<std::pair<std::string, std::string>> want = {
      {"make", "report"}, {"make", "sq"}, {"sq", "total"}, {"total", "report"}};
  EXPECT_EQ(edges, want);
  EXPECT_EQ(g->nodes[1].note, "for each in make.output");
  EXPECT_EQ(g->nodes[2].note, "if n > 2");
  EXPECT_EQ(g->nodes[3].note, "if not (make.output == \"x\")");
}

TEST(DagDrawing, AStoredRunIsDrawnFromItsSpec) {
  // The spec the store keeps is what Pipeline::ToJson writes: reading it back draws every task.
  auto p = Pipeline::Create("drawn");
  ASSERT_TRUE(p.ok());
  auto one = testing::Cmd("one", {}, {}, "true");
  ASSERT_TRUE(p->AddTask("first", one).ok());
  ASSERT_TRUE(p->AddTask("second", one).ok());
  ASSERT_TRUE(p->After("second", "first").ok());
  auto g = DagGraphFromSpec(p->ToJson().dump());
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->nodes.size(), 2u);
  ASSERT_EQ(g->edges.size(), 1u);
  EXPECT_EQ(g->edges[0].from, "first");
  EXPECT_EQ(g->edges[0].to, "second");
}

}  // namespace
}  // namespace mlcore::pipeline
