// DagSvg: a laid-out DAG as a standalone SVG document. Colours are the task states'; each box
// carries its full name, state and note as a tooltip and as data- attributes (for tests and
// for pages that style or link the tasks).
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/html_escape.h"
#include "mlcore/pipeline/drawing.h"

namespace mlcore::pipeline {
namespace {

using mlcore::internal::HtmlEscape;

const char* Fill(const std::string& state) {
  if (state == "pending") return "#e0e0e0";
  if (state == "running") return "#90caf9";
  if (state == "succeeded") return "#a5d6a7";
  if (state == "cached") return "#c5e1a5";
  if (state == "failed") return "#ef9a9a";
  if (state == "skipped") return "#fff59d";
  if (state == "interrupted") return "#ffcc80";
  return "#eceff1";
}

std::string Num(double v) { return absl::StrFormat("%.1f", v); }

}  // namespace

std::string DagSvg(const DagLayout& layout, const DagLayoutOptions& o) {
  std::string svg = absl::StrCat(
      R"(<svg xmlns="http://www.w3.org/2000/svg" class="mlcore-dag" width=")", Num(layout.width),
      R"(" height=")", Num(layout.height), R"(" viewBox="0 0 )", Num(layout.width), " ",
      Num(layout.height), R"(" font-family="sans-serif" font-size=")", Num(o.font_size), R"(">)",
      R"(<defs><marker id="mlcore-dag-arrow" viewBox="0 0 10 10" refX="10" refY="5" )",
      R"(markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" )",
      R"(fill="#546e7a"/></marker></defs>)");
  for (const DrawnEdge& e : layout.edges) {
    std::vector<std::string> pts;
    for (auto [x, y] : e.points) pts.push_back(absl::StrCat(Num(x), ",", Num(y)));
    absl::StrAppend(&svg, R"(<polyline class="edge" data-from=")", HtmlEscape(e.from),
                    R"(" data-to=")", HtmlEscape(e.to), R"(" points=")", absl::StrJoin(pts, " "),
                    R"(" fill="none" stroke="#546e7a" stroke-width="1.4" )",
                    R"~(marker-end="url(#mlcore-dag-arrow)"/>)~");
  }
  const double line = o.font_size * 1.35;
  for (const DrawnNode& n : layout.nodes) {
    std::string title = n.name;
    if (!n.state.empty()) absl::StrAppend(&title, ": ", n.state);
    if (!n.note.empty()) absl::StrAppend(&title, "\n", n.note);
    const Box& b = n.box;
    absl::StrAppend(&svg, R"(<g class="task" data-task=")", HtmlEscape(n.name), R"(" data-state=")",
                    HtmlEscape(n.state), R"("><title>)", HtmlEscape(title), R"(</title><rect x=")",
                    Num(b.x), R"(" y=")", Num(b.y), R"(" width=")", Num(b.width), R"(" height=")",
                    Num(b.height), R"(" rx="6" fill=")", Fill(n.state),
                    R"(" stroke="#455a64"/><text x=")", Num(b.x + 10), R"(" y=")",
                    Num(b.y + 10 + o.font_size), R"(">)", HtmlEscape(n.label), "</text>");
    if (!n.note.empty()) {
      absl::StrAppend(&svg, R"(<text x=")", Num(b.x + 10), R"(" y=")",
                      Num(b.y + 10 + line + o.font_size * 5 / 6), R"(" font-size=")",
                      Num(o.font_size * 5 / 6), R"(" fill="#37474f">)", HtmlEscape(n.note),
                      "</text>");
    }
    absl::StrAppend(&svg, "</g>");
  }
  absl::StrAppend(&svg, "</svg>");
  return svg;
}

}  // namespace mlcore::pipeline
