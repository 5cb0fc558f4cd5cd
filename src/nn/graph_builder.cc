// GraphBuilder: recording nodes, and Finish, which keeps the nodes the outputs need, infers
// every shape (each op's rule in its own function, errors naming the node) and builds the
// weights. Nodes can only consume earlier nodes, so creation order is topological and one
// forward walk does everything.
#include <atomic>
#include <map>
#include <set>

#include "mlcore/nn/graph_model.h"
#include "nn/graph_node_name.h"
#include "nn/layer_sharing.h"

namespace mlcore::nn {
namespace {

using internal::QuoteNode;

std::atomic<uint64_t> next_builder_id{1};

int64_t NormalizeAxis(int64_t axis, size_t rank) {
  return axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
}

Status CheckRef(const NodeRef& ref, uint64_t builder, int64_t n, const char* what, size_t i) {
  if (ref.builder != builder || ref.id < 0 || ref.id >= n) {
    return absl::InvalidArgumentError(std::string("GraphBuilder::Finish: ") + what + " " +
                                      std::to_string(i) + " is not a node of this builder");
  }
  return absl::OkStatus();
}

// The model's inputs and outputs are nodes of this builder; the inputs are distinct Input nodes.
// Returns the input node ids.
StatusOr<std::set<int64_t>> CheckEndpoints(const std::vector<GraphNode>& nodes, uint64_t builder,
                                           const std::vector<NodeRef>& inputs,
                                           const std::vector<NodeRef>& outputs) {
  if (inputs.empty() || outputs.empty()) {
    return absl::InvalidArgumentError("GraphBuilder::Finish: a model needs inputs and outputs");
  }
  const int64_t n = static_cast<int64_t>(nodes.size());
  std::set<int64_t> listed;
  for (size_t i = 0; i < inputs.size(); ++i) {
    MLCORE_RETURN_IF_ERROR(CheckRef(inputs[i], builder, n, "input", i));
    const GraphNode& node = nodes[inputs[i].id];
    if (node.op != GraphNode::Op::kInput) {
      return absl::InvalidArgumentError("GraphBuilder::Finish: model input " + std::to_string(i) +
                                        " is node " + QuoteNode(node) + ", not an Input node");
    }
    if (!listed.insert(inputs[i].id).second) {
      return absl::InvalidArgumentError("GraphBuilder::Finish: input " + QuoteNode(node) +
                                        " is listed twice");
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    MLCORE_RETURN_IF_ERROR(CheckRef(outputs[i], builder, n, "output", i));
  }
  return listed;
}

// Per node, one output that needs it (to name in errors), or -1 when no output does. Every Input
// node an output needs must be listed, and every listed one must be needed.
StatusOr<std::vector<int64_t>> NeededBy(const std::vector<GraphNode>& nodes,
                                        const std::set<int64_t>& listed_inputs,
                                        const std::vector<NodeRef>& outputs) {
  const int64_t n = static_cast<int64_t>(nodes.size());
  std::vector<int64_t> needed_by(n, -1);
  for (const NodeRef& out : outputs) {
    if (needed_by[out.id] < 0) needed_by[out.id] = out.id;
  }
  for (int64_t i = n - 1; i >= 0; --i) {
    if (needed_by[i] < 0) continue;
    for (int64_t in : nodes[i].inputs) {
      if (needed_by[in] < 0) needed_by[in] = needed_by[i];
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    if (needed_by[i] >= 0 && nodes[i].op == GraphNode::Op::kInput && !listed_inputs.count(i)) {
      return absl::InvalidArgumentError("output " + QuoteNode(nodes[needed_by[i]]) +
                                        " depends on Input node " + QuoteNode(nodes[i]) +
                                        ", which is not among the model's inputs");
    }
  }
  for (int64_t in : listed_inputs) {
    if (needed_by[in] < 0) {
      return absl::InvalidArgumentError("model input " + QuoteNode(nodes[in]) +
                                        " is not used by any output");
    }
  }
  return needed_by;
}

// The kept nodes, renumbered, with their shapes inferred and their layers built, and per node
// the layer instance that runs it: what Finish makes the model from.
class KeptGraph {
 public:
  explicit KeptGraph(uint64_t seed) : seed_(seed) {}

  // Appends `node`, whose inputs are already indices of kept nodes; errors name the node.
  Status Keep(GraphNode node);

  std::vector<GraphNode> nodes;
  std::vector<std::shared_ptr<Layer>> runners;

 private:
  std::vector<Shape> InputShapes(const GraphNode& node) const;
  // Builds the node's layer (or, at a later use of a shared layer, a copy aliasing it).
  Status InferLayer(GraphNode& node, const std::vector<Shape>& in);
  Status InferAttend(GraphNode& node, const std::vector<Shape>& in) const;
  Status InferAdd(GraphNode& node, const std::vector<Shape>& in) const;
  Status InferConcatenate(GraphNode& node, const std::vector<Shape>& in) const;

  uint64_t seed_;
  std::map<Layer*, int64_t> first_use_;  // kept index of each layer's first use
  std::map<Layer*, int> uses_;           // further uses so far, for the "<layer>:<k>" names
  std::set<std::string> names_;
};

std::vector<Shape> KeptGraph::InputShapes(const GraphNode& node) const {
  std::vector<Shape> shapes;
  for (int64_t in : node.inputs) shapes.push_back(nodes[in].shape);
  return shapes;
}

Status KeptGraph::Keep(GraphNode node) {
  const std::vector<Shape> in = InputShapes(node);
  runners.emplace_back();
  switch (node.op) {
    case GraphNode::Op::kInput:
      break;
    case GraphNode::Op::kLayer:
      MLCORE_RETURN_IF_ERROR(InferLayer(node, in));
      break;
    case GraphNode::Op::kAttend:
      MLCORE_RETURN_IF_ERROR(InferAttend(node, in));
      break;
    case GraphNode::Op::kAdd:
      MLCORE_RETURN_IF_ERROR(InferAdd(node, in));
      break;
    case GraphNode::Op::kConcatenate:
      MLCORE_RETURN_IF_ERROR(InferConcatenate(node, in));
      break;
  }
  if (!names_.insert(node.name).second) {
    return absl::InvalidArgumentError("two graph nodes are named '" + node.name + "'");
  }
  nodes.push_back(std::move(node));
  return absl::OkStatus();
}

Status KeptGraph::InferLayer(GraphNode& node, const std::vector<Shape>& in) {
  const int64_t index = static_cast<int64_t>(nodes.size());
  Layer* layer = node.layer.get();
  auto [first, inserted] = first_use_.emplace(layer, index);
  if (!inserted) {
    node.shares = first->second;
    node.name = layer->name() + ":" + std::to_string(++uses_[layer]);
  }
  StatusOr<Shape> shape = layer->Build(in[0], seed_ * 1000003 + index);
  if (!shape.ok()) {
    std::string why(shape.status().message());
    if (node.shares >= 0) {
      why = "a shared layer needs the same input shape at every use; " + why +
            " (first used at node '" + nodes[node.shares].name + "')";
    }
    return Status(shape.status().code(), "graph node " + QuoteNode(node) + " on input " +
                                             QuoteNode(nodes[node.inputs[0]]) + ": " + why);
  }
  node.shape = *shape;
  if (node.shares < 0) {
    runners[index] = node.layer;
    return absl::OkStatus();
  }
  MLCORE_ASSIGN_OR_RETURN(runners[index], internal::ShareLayer(*layer, in[0], uses_[layer]));
  return absl::OkStatus();
}

Status KeptGraph::InferAttend(GraphNode& node, const std::vector<Shape>& in) const {
  auto first = first_use_.find(node.layer.get());
  if (first == first_use_.end()) {
    return absl::InvalidArgumentError(
        "Attend node '" + node.name + "': embedding '" + node.layer->name() +
        "' is not applied at an earlier node of this model; apply it (to the token ids) "
        "first, which creates the table Attend uses");
  }
  node.shares = first->second;
  const Shape table = node.layer->parameters()[0]->value.shape();
  if (in[0].empty() || in[0].back() != table[1]) {
    return absl::InvalidArgumentError(
        "Attend node '" + node.name + "': input " + QuoteNode(nodes[node.inputs[0]]) +
        " has per-sample shape " + ShapeToString(in[0]) +
        ", but its last axis must be the dim of embedding '" + node.layer->name() + "' (table " +
        ShapeToString(table) + ")");
  }
  node.shape = in[0];
  node.shape.back() = table[0];
  return absl::OkStatus();
}

Status KeptGraph::InferAdd(GraphNode& node, const std::vector<Shape>& in) const {
  for (size_t k = 1; k < in.size(); ++k) {
    if (in[k] != in[0]) {
      return absl::InvalidArgumentError(
          "Add node '" + node.name + "': input " + QuoteNode(nodes[node.inputs[k]]) +
          " has shape " + ShapeToString(in[k]) + " but input " + QuoteNode(nodes[node.inputs[0]]) +
          " has " + ShapeToString(in[0]));
    }
  }
  node.shape = in[0];
  return absl::OkStatus();
}

Status KeptGraph::InferConcatenate(GraphNode& node, const std::vector<Shape>& in) const {
  const size_t rank = in[0].size();
  const int64_t axis = NormalizeAxis(node.axis, rank);
  if (rank == 0 || axis < 0 || axis >= static_cast<int64_t>(rank)) {
    return absl::InvalidArgumentError("Concatenate node '" + node.name + "': axis " +
                                      std::to_string(node.axis) + " is out of range for " +
                                      ShapeToString(in[0]));
  }
  Shape out = in[0];
  for (size_t k = 1; k < in.size(); ++k) {
    bool fits = in[k].size() == rank;
    for (size_t d = 0; fits && d < rank; ++d) {
      fits = static_cast<int64_t>(d) == axis || in[k][d] == in[0][d];
    }
    if (!fits) {
      return absl::InvalidArgumentError(
          "Concatenate node '" + node.name + "' (axis " + std::to_string(node.axis) + "): input " +
          QuoteNode(nodes[node.inputs[k]]) + " has shape " + ShapeToString(in[k]) +
          ", which does not fit input " + QuoteNode(nodes[node.inputs[0]]) + " of shape " +
          ShapeToString(in[0]));
    }
    out[axis] += in[k][axis];
  }
  node.axis = axis;
  node.shape = out;
  return absl::OkStatus();
}

}  // namespace

const char* GraphOpName(GraphNode::Op op) {
  switch (op) {
    case GraphNode::Op::kInput:
      return "input";
    case GraphNode::Op::kLayer:
      return "layer";
    case GraphNode::Op::kAdd:
      return "add";
    case GraphNode::Op::kConcatenate:
      return "concatenate";
    case GraphNode::Op::kAttend:
      return "attend";
  }
  return "?";
}

GraphBuilder::GraphBuilder() : id_(next_builder_id.fetch_add(1)) {}

NodeRef GraphBuilder::AddNode(GraphNode node, const std::vector<NodeRef>& inputs) {
  const int64_t id = static_cast<int64_t>(nodes_.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const NodeRef& ref = inputs[i];
    if (status_.ok() && (ref.builder != id_ || ref.id < 0 || ref.id >= id)) {
      status_ = absl::InvalidArgumentError(
          "graph node '" + node.name + "' (" + GraphOpName(node.op) + "): input " +
          std::to_string(i) + " is not a node of this GraphBuilder (" +
          (ref.builder == id_ ? "unknown node id " + std::to_string(ref.id)
                              : std::string("it comes from another builder")) +
          ")");
    }
    node.inputs.push_back(ref.id);
  }
  nodes_.push_back(std::move(node));
  return NodeRef{id, id_};
}

NodeRef GraphBuilder::Input(const Shape& shape, std::string name) {
  int64_t k = 0;
  for (const GraphNode& n : nodes_) k += n.op == GraphNode::Op::kInput;
  GraphNode node;
  node.op = GraphNode::Op::kInput;
  node.name = name.empty() ? "input_" + std::to_string(k) : std::move(name);
  node.shape = shape;
  return AddNode(std::move(node), {});
}

NodeRef GraphBuilder::Apply(std::shared_ptr<Layer> layer, NodeRef input) {
  return Apply(std::move(layer), std::vector<NodeRef>{input});
}

NodeRef GraphBuilder::Apply(std::shared_ptr<Layer> layer, const std::vector<NodeRef>& inputs) {
  GraphNode node;
  node.op = GraphNode::Op::kLayer;
  const std::string id = std::to_string(nodes_.size());
  if (layer == nullptr) {
    if (status_.ok()) status_ = absl::InvalidArgumentError("graph node " + id + ": null layer");
    node.name = "null_" + id;
    return AddNode(std::move(node), inputs);
  }
  if (layer->name().empty()) layer->set_name(layer->type() + "_" + id);
  // A later use of a shared layer is renamed "<layer>:<k>" by Finish, counting kept nodes only.
  node.name = layer->name();
  if (inputs.size() != 1 && status_.ok()) {
    status_ = absl::InvalidArgumentError("layer '" + layer->name() + "' takes one input, got " +
                                         std::to_string(inputs.size()) +
                                         "; combine inputs with Add or Concatenate first");
  }
  node.layer = std::move(layer);
  return AddNode(std::move(node), inputs);
}

NodeRef GraphBuilder::Add(const std::vector<NodeRef>& inputs, std::string name) {
  GraphNode node;
  node.op = GraphNode::Op::kAdd;
  node.name = name.empty() ? "add_" + std::to_string(nodes_.size()) : std::move(name);
  if (inputs.size() < 2 && status_.ok()) {
    status_ = absl::InvalidArgumentError("Add node '" + node.name + "' needs two or more inputs");
  }
  return AddNode(std::move(node), inputs);
}

NodeRef GraphBuilder::Concatenate(const std::vector<NodeRef>& inputs, int64_t axis,
                                  std::string name) {
  GraphNode node;
  node.op = GraphNode::Op::kConcatenate;
  node.name = name.empty() ? "concatenate_" + std::to_string(nodes_.size()) : std::move(name);
  node.axis = axis;
  if (inputs.size() < 2 && status_.ok()) {
    status_ =
        absl::InvalidArgumentError("Concatenate node '" + node.name + "' needs two or more inputs");
  }
  return AddNode(std::move(node), inputs);
}

NodeRef GraphBuilder::Attend(std::shared_ptr<Layer> embedding, NodeRef input, std::string name) {
  GraphNode node;
  node.op = GraphNode::Op::kAttend;
  node.name = name.empty() ? "attend_" + std::to_string(nodes_.size()) : std::move(name);
  if (status_.ok() && (embedding == nullptr || embedding->type() != "embedding")) {
    status_ = absl::InvalidArgumentError(
        "Attend node '" + node.name + "' needs an Embedding layer, got " +
        (embedding == nullptr ? std::string("null")
                              : "layer '" + embedding->name() + "' (" + embedding->type() + ")"));
  }
  node.layer = std::move(embedding);
  return AddNode(std::move(node), {input});
}

StatusOr<std::unique_ptr<GraphModel>> GraphBuilder::Finish(const std::vector<NodeRef>& inputs,
                                                           const std::vector<NodeRef>& outputs,
                                                           uint64_t seed) {
  MLCORE_RETURN_IF_ERROR(status_);
  MLCORE_ASSIGN_OR_RETURN(std::set<int64_t> listed, CheckEndpoints(nodes_, id_, inputs, outputs));
  MLCORE_ASSIGN_OR_RETURN(std::vector<int64_t> needed_by, NeededBy(nodes_, listed, outputs));
  std::vector<int64_t> remap(nodes_.size(), -1);
  KeptGraph kept(seed);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (needed_by[i] < 0) continue;  // nodes no output needs are dropped
    GraphNode node = nodes_[i];
    for (int64_t& in : node.inputs) in = remap[in];
    remap[i] = static_cast<int64_t>(kept.nodes.size());
    MLCORE_RETURN_IF_ERROR(kept.Keep(std::move(node)));
  }
  // Layers fed only by model inputs need not compute d(loss)/d(data).
  for (size_t i = 0; i < kept.nodes.size(); ++i) {
    if (kept.nodes[i].op == GraphNode::Op::kLayer) {
      const GraphNode& from = kept.nodes[kept.nodes[i].inputs[0]];
      kept.runners[i]->set_input_grad_needed(from.op != GraphNode::Op::kInput);
    }
  }
  std::vector<int64_t> in_ids, out_ids;
  for (const NodeRef& r : inputs) in_ids.push_back(remap[r.id]);
  for (const NodeRef& r : outputs) out_ids.push_back(remap[r.id]);
  return std::unique_ptr<GraphModel>(new GraphModel(std::move(kept.nodes), std::move(kept.runners),
                                                    std::move(in_ids), std::move(out_ids)));
}

}  // namespace mlcore::nn
