#include "mlcore/hpo/pareto.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace mlcore::hpo {

bool Dominates(const std::vector<double>& a, const std::vector<double>& b,
               const std::vector<StudyDirection>& directions) {
  if (a.size() != b.size() || a.size() != directions.size()) return false;
  bool strictly = false;
  for (size_t k = 0; k < a.size(); ++k) {
    const double sign = directions[k] == StudyDirection::kMinimize ? 1.0 : -1.0;
    const double x = sign * a[k];
    const double y = sign * b[k];
    if (x > y) return false;
    if (x < y) strictly = true;
  }
  return strictly;
}

std::vector<std::vector<int>> NonDominatedSort(const std::vector<std::vector<double>>& points,
                                               const std::vector<StudyDirection>& directions) {
  const int n = static_cast<int>(points.size());
  std::vector<std::vector<int>> dominated(n);  // i -> the points i dominates
  std::vector<int> dominators(n, 0);           // how many points dominate i
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      if (Dominates(points[i], points[j], directions)) {
        dominated[i].push_back(j);
        ++dominators[j];
      } else if (Dominates(points[j], points[i], directions)) {
        dominated[j].push_back(i);
        ++dominators[i];
      }
    }
  }
  std::vector<std::vector<int>> fronts;
  std::vector<int> current;
  for (int i = 0; i < n; ++i) {
    if (dominators[i] == 0) current.push_back(i);
  }
  while (!current.empty()) {
    std::vector<int> next;
    for (int i : current) {
      for (int j : dominated[i]) {
        if (--dominators[j] == 0) next.push_back(j);
      }
    }
    std::sort(next.begin(), next.end());
    fronts.push_back(std::move(current));
    current = std::move(next);
  }
  return fronts;
}

std::vector<double> CrowdingDistance(const std::vector<std::vector<double>>& points,
                                     const std::vector<int>& front) {
  const size_t n = front.size();
  std::vector<double> distance(n, 0.0);
  if (n == 0) return distance;
  const double inf = std::numeric_limits<double>::infinity();
  if (n <= 2) return std::vector<double>(n, inf);
  const size_t objectives = points[front[0]].size();
  std::vector<size_t> order(n);
  for (size_t k = 0; k < objectives; ++k) {
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return points[front[a]][k] < points[front[b]][k]; });
    const double lo = points[front[order.front()]][k];
    const double hi = points[front[order.back()]][k];
    distance[order.front()] = inf;
    distance[order.back()] = inf;
    if (!(hi > lo)) continue;  // every point equal in this objective: it separates none
    for (size_t r = 1; r + 1 < n; ++r) {
      distance[order[r]] +=
          (points[front[order[r + 1]]][k] - points[front[order[r - 1]]][k]) / (hi - lo);
    }
  }
  return distance;
}

}  // namespace mlcore::hpo
