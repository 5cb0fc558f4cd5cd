// LayOutDag: a layered (Sugiyama-style) layout. Tasks go in columns by their longest upstream
// path; an edge that skips columns gets a dummy vertex in each column it crosses, which takes a
// lane of its own there, so the edge never runs under a box. Column orders come from
// barycentre sweeps, keeping the order with the fewest crossings seen.
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "mlcore/pipeline/drawing.h"

namespace mlcore::pipeline {
namespace {

constexpr double kPad = 10;       // px between a box's border and its text
constexpr double kCharEm = 0.62;  // average glyph width of a sans-serif font, in ems
constexpr double kNoteScale = 5.0 / 6.0;
constexpr int kSweeps = 12;

// Number of code points, and the prefix of `s` holding the first `n` of them (UTF-8).
size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string FirstCodePoints(const std::string& s, size_t n) {
  size_t seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && seen++ == n) return s.substr(0, i);
  }
  return s;
}

// `text` cut with an ellipsis so that it is at most `max_chars` code points.
std::string Fit(const std::string& text, size_t max_chars) {
  if (CodePoints(text) <= max_chars) return text;
  if (max_chars == 0) return "";
  return FirstCodePoints(text, max_chars - 1) + "\u2026";
}

struct Vertex {
  int node = -1;  // index into the graph's nodes; -1 for a dummy (an edge passing through)
  int layer = 0;
  std::vector<int> up;    // vertices in the previous layer joined to this one
  std::vector<int> down;  // vertices in the next layer
};

using Order = std::vector<std::vector<int>>;  // vertex ids per layer, top to bottom

int64_t Crossings(const Order& order, const std::vector<Vertex>& vs, std::vector<int>& pos) {
  for (const auto& layer : order) {
    for (size_t i = 0; i < layer.size(); ++i) pos[layer[i]] = static_cast<int>(i);
  }
  int64_t total = 0;
  for (size_t l = 0; l + 1 < order.size(); ++l) {
    std::vector<std::pair<int, int>> segs;
    for (int a : order[l]) {
      for (int b : vs[a].down) segs.emplace_back(pos[a], pos[b]);
    }
    for (size_t i = 0; i < segs.size(); ++i) {
      for (size_t j = i + 1; j < segs.size(); ++j) {
        auto [a1, b1] = segs[i];
        auto [a2, b2] = segs[j];
        total += (a1 < a2 && b1 > b2) || (a1 > a2 && b1 < b2);
      }
    }
  }
  return total;
}

// Reorders each layer by the mean position of its neighbours in the layer before it (downward
// sweep) or after it (upward); vertices without such neighbours keep their place.
void Sweep(Order& order, const std::vector<Vertex>& vs, std::vector<int>& pos, bool downward) {
  const int n = static_cast<int>(order.size());
  for (int step = 1; step < n; ++step) {
    const int l = downward ? step : n - 1 - step;
    for (const auto& layer : order) {
      for (size_t i = 0; i < layer.size(); ++i) pos[layer[i]] = static_cast<int>(i);
    }
    std::vector<std::pair<double, int>> keyed;
    for (size_t i = 0; i < order[l].size(); ++i) {
      int v = order[l][i];
      const std::vector<int>& nbrs = downward ? vs[v].up : vs[v].down;
      double key = static_cast<double>(i);
      if (!nbrs.empty()) {
        double sum = 0;
        for (int u : nbrs) sum += pos[u];
        key = sum / static_cast<double>(nbrs.size());
      }
      keyed.emplace_back(key, v);
    }
    std::stable_sort(keyed.begin(), keyed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < keyed.size(); ++i) order[l][i] = keyed[i].second;
  }
}

// Longest-path layers in topological order; InvalidArgument naming a task on a cycle.
StatusOr<std::vector<int>> Layers(const DagGraph& g, const std::vector<std::vector<int>>& up) {
  const size_t n = g.nodes.size();
  std::vector<int> indegree(n, 0), layer(n, 0);
  std::vector<std::vector<int>> down(n);
  for (size_t v = 0; v < n; ++v) {
    indegree[v] = static_cast<int>(up[v].size());
    for (int u : up[v]) down[u].push_back(static_cast<int>(v));
  }
  std::vector<int> ready;
  for (size_t v = 0; v < n; ++v) {
    if (indegree[v] == 0) ready.push_back(static_cast<int>(v));
  }
  size_t done = 0;
  while (!ready.empty()) {
    int u = ready.back();
    ready.pop_back();
    ++done;
    for (int v : down[u]) {
      layer[v] = std::max(layer[v], layer[u] + 1);
      if (--indegree[v] == 0) ready.push_back(v);
    }
  }
  if (done != n) {
    for (size_t v = 0; v < n; ++v) {
      if (indegree[v] > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("pipeline drawing: task '", g.nodes[v].name, "' is on a cycle"));
      }
    }
  }
  return layer;
}

// The layout's steps, each on the vertices the previous ones made.
class Layouter {
 public:
  Layouter(const DagGraph& g, const DagLayoutOptions& o) : g_(g), o_(o) {}

  StatusOr<DagLayout> Run() {
    std::vector<std::vector<int>> up;
    MLCORE_ASSIGN_OR_RETURN(auto edges, Edges(up));
    MLCORE_ASSIGN_OR_RETURN(std::vector<int> layer, Layers(g_, up));
    BuildVertices(layer, edges);
    Order order = OrderLayers();
    MeasureBoxes(layer);
    PlaceColumns(order);
    RouteEdges();
    return std::move(out_);
  }

 private:
  StatusOr<std::vector<std::pair<int, int>>> Edges(std::vector<std::vector<int>>& up) const {
    std::map<std::string, int> index;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (!index.emplace(g_.nodes[i].name, static_cast<int>(i)).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("pipeline drawing: task '", g_.nodes[i].name, "' appears twice"));
      }
    }
    up.assign(g_.nodes.size(), {});
    std::vector<std::pair<int, int>> edges;
    for (const DrawingEdge& e : g_.edges) {
      auto from = index.find(e.from), to = index.find(e.to);
      if (from == index.end() || to == index.end()) {
        return absl::InvalidArgumentError(absl::StrCat("pipeline drawing: edge ", e.from, " -> ",
                                                       e.to, " names a task that is not drawn"));
      }
      edges.emplace_back(from->second, to->second);
      up[to->second].push_back(from->second);
    }
    return edges;
  }

  // The tasks, then one dummy per column an edge crosses; `chains_` lists each edge's vertices.
  void BuildVertices(const std::vector<int>& layer, const std::vector<std::pair<int, int>>& edges) {
    vs_.resize(g_.nodes.size());
    for (size_t v = 0; v < g_.nodes.size(); ++v) {
      vs_[v].node = static_cast<int>(v);
      vs_[v].layer = layer[v];
      layers_ = std::max(layers_, layer[v] + 1);
    }
    for (auto [from, to] : edges) {
      std::vector<int> chain = {from};
      for (int l = layer[from] + 1; l < layer[to]; ++l) {
        vs_.push_back(Vertex{-1, l, {}, {}});
        chain.push_back(static_cast<int>(vs_.size()) - 1);
      }
      chain.push_back(to);
      for (size_t i = 0; i + 1 < chain.size(); ++i) {
        vs_[chain[i]].down.push_back(chain[i + 1]);
        vs_[chain[i + 1]].up.push_back(chain[i]);
      }
      chains_.push_back(std::move(chain));
    }
  }

  Order OrderLayers() const {
    Order order(layers_);
    for (size_t v = 0; v < vs_.size(); ++v) order[vs_[v].layer].push_back(static_cast<int>(v));
    std::vector<int> pos(vs_.size(), 0);
    Order best = order;
    int64_t fewest = Crossings(order, vs_, pos);
    for (int i = 0; i < kSweeps && fewest > 0; ++i) {
      Sweep(order, vs_, pos, /*downward=*/true);
      Sweep(order, vs_, pos, /*downward=*/false);
      int64_t c = Crossings(order, vs_, pos);
      if (c < fewest) {
        fewest = c;
        best = order;
      }
    }
    return best;
  }

  // Text measured by an average glyph width and cut to the widest box allowed.
  void MeasureBoxes(const std::vector<int>& layer) {
    const double char_w = kCharEm * o_.font_size;
    const double note_w = char_w * kNoteScale;
    const double room = std::max(1.0, o_.max_box_width - 2 * kPad);
    const auto max_chars = static_cast<size_t>(std::max(1.0, room / char_w));
    const auto max_note = static_cast<size_t>(std::max(1.0, room / note_w));
    const double line = o_.font_size * 1.35;
    for (size_t v = 0; v < g_.nodes.size(); ++v) {
      DrawnNode d;
      d.name = g_.nodes[v].name;
      d.state = g_.nodes[v].state;
      d.label = Fit(d.name, max_chars);
      d.note = Fit(g_.nodes[v].note, max_note);
      double text = std::max(char_w * static_cast<double>(CodePoints(d.label)),
                             note_w * static_cast<double>(CodePoints(d.note)));
      d.box.width = std::clamp(text + 2 * kPad, o_.min_box_width, o_.max_box_width);
      d.box.height = 2 * kPad + line * (d.note.empty() ? 1 : 2);
      d.column = layer[v];
      out_.nodes.push_back(std::move(d));
    }
  }

  // Columns left to right; within one, boxes and lanes stacked, then the column centred.
  void PlaceColumns(const Order& order) {
    col_x_.assign(layers_, 0);
    col_w_.assign(layers_, 0);
    centre_y_.assign(vs_.size(), 0);
    std::vector<double> col_h(layers_, 0);
    double x = o_.margin, tallest = 0;
    for (int l = 0; l < layers_; ++l) {
      double w = 2 * o_.lane_pitch, cursor = 0;
      for (int v : order[l]) {
        double h = vs_[v].node >= 0 ? out_.nodes[vs_[v].node].box.height : o_.lane_pitch;
        if (vs_[v].node >= 0) w = std::max(w, out_.nodes[vs_[v].node].box.width);
        centre_y_[v] = cursor + h / 2;
        cursor += vs_[v].node >= 0 ? h + o_.row_gap : h;
      }
      col_x_[l] = x;
      col_w_[l] = w;
      col_h[l] = cursor;
      tallest = std::max(tallest, cursor);
      x += w + o_.column_gap;
    }
    for (size_t v = 0; v < vs_.size(); ++v) {
      centre_y_[v] += o_.margin + (tallest - col_h[vs_[v].layer]) / 2;
      if (vs_[v].node < 0) continue;
      Box& b = out_.nodes[vs_[v].node].box;
      b.x = col_x_[vs_[v].layer];
      b.y = centre_y_[v] - b.height / 2;
    }
    out_.width = std::max(x - o_.column_gap, o_.margin) + o_.margin;
    out_.height = tallest + 2 * o_.margin;
  }

  // Out of the source box's right side, across each crossed column along the edge's lane, into
  // the target box's left side (where the arrowhead is).
  void RouteEdges() {
    for (size_t e = 0; e < chains_.size(); ++e) {
      const std::vector<int>& chain = chains_[e];
      DrawnEdge d{g_.edges[e].from, g_.edges[e].to, {}};
      auto add = [&d](double px, double py) {
        if (d.points.empty() || d.points.back() != std::make_pair(px, py)) {
          d.points.emplace_back(px, py);
        }
      };
      const int first = chain.front(), last = chain.back();
      const Box& src = out_.nodes[first].box;
      add(src.x + src.width, centre_y_[first]);
      add(col_x_[vs_[first].layer] + col_w_[vs_[first].layer], centre_y_[first]);
      for (size_t i = 1; i + 1 < chain.size(); ++i) {
        int l = vs_[chain[i]].layer;
        add(col_x_[l], centre_y_[chain[i]]);
        add(col_x_[l] + col_w_[l], centre_y_[chain[i]]);
      }
      add(out_.nodes[last].box.x, centre_y_[last]);
      out_.edges.push_back(std::move(d));
    }
  }

  const DagGraph& g_;
  const DagLayoutOptions& o_;
  std::vector<Vertex> vs_;
  std::vector<std::vector<int>> chains_;
  int layers_ = 0;
  std::vector<double> col_x_, col_w_, centre_y_;
  DagLayout out_;
};

}  // namespace

StatusOr<DagLayout> LayOutDag(const DagGraph& graph, const DagLayoutOptions& options) {
  return Layouter(graph, options).Run();
}

}  // namespace mlcore::pipeline
