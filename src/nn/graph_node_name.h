// How graph errors name a node, shared by the builder (graph_builder.cc) and the passes
// (graph_model.cc).
#pragma once

#include <string>

#include "mlcore/nn/graph_model.h"

namespace mlcore::nn::internal {

// "'<name>' (<op>)", e.g. "'dense_3' (layer)".
inline std::string QuoteNode(const GraphNode& node) {
  return "'" + node.name + "' (" + GraphOpName(node.op) + ")";
}

}  // namespace mlcore::nn::internal
