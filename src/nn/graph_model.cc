// GraphBuilder (recording and checking the wiring) and GraphModel's forward and backward
// passes. Nodes are kept in creation order, which is topological because a node can only
// consume earlier ones; the backward pass walks that order in reverse, so every node's gradient
// is complete (summed over all of its consumers) before it is propagated further.
#include "mlcore/nn/graph_model.h"

#include <atomic>
#include <cstring>
#include <map>
#include <set>

#include "core/device_dispatch.h"
#include "mlcore/ops/elementwise.h"
#include "nn/attend.h"
#include "nn/graph_model.h"
#include "nn/layer_sharing.h"

namespace mlcore::nn {
namespace {

std::atomic<uint64_t> next_builder_id{1};

std::string Quote(const GraphNode& node) {
  return "'" + node.name + "' (" + GraphOpName(node.op) + ")";
}

// Geometry of a concatenation on [batch, *shape] tensors along per-sample axis `axis`:
// `outer` rows, each made of one contiguous chunk per input of `chunk[i]` bytes.
struct ConcatPlan {
  int64_t outer = 1;
  std::vector<size_t> chunk;
};

ConcatPlan PlanConcat(const std::vector<Shape>& shapes, int64_t axis, int64_t batch, size_t elem) {
  ConcatPlan plan;
  plan.outer = batch;
  for (int64_t d = 0; d < axis; ++d) plan.outer *= shapes[0][d];
  for (const Shape& s : shapes) {
    size_t c = elem;
    for (size_t d = axis; d < s.size(); ++d) c *= static_cast<size_t>(s[d]);
    plan.chunk.push_back(c);
  }
  return plan;
}

int64_t NormalizeAxis(int64_t axis, size_t rank) {
  return axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
}

// Add takes float32 only; Concatenate any one dtype for all of its inputs (integer indices
// joined before an Embedding, say). The error names the node and the offending input.
Status CheckDTypes(const std::vector<GraphNode>& nodes, const GraphNode& node,
                   const std::vector<Tensor>& values, bool float_only) {
  const DType want = float_only ? DType::kFloat32 : values[node.inputs[0]].dtype();
  for (int64_t in : node.inputs) {
    if (values[in].dtype() != want) {
      return absl::InvalidArgumentError(
          std::string(GraphOpName(node.op)) + " node '" + node.name + "' needs " +
          (float_only ? "float32 inputs" : "inputs of one dtype") + ", but input " +
          Quote(nodes[in]) + " has dtype " + DTypeName(values[in].dtype()) +
          (float_only ? ""
                      : std::string(" and input ") + Quote(nodes[node.inputs[0]]) + " " +
                            DTypeName(want)));
    }
  }
  return absl::OkStatus();
}

// d += g, without writing into a tensor that may be shared with another node.
StatusOr<Tensor> Accumulate(const Tensor& d, const Tensor& g) {
  if (!d.defined()) return g;
  return ops::Add(d, g);
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

// ---------------------------------------------------------------------------------------------
// GraphBuilder

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
  if (inputs.empty() || outputs.empty()) {
    return absl::InvalidArgumentError("GraphBuilder::Finish: a model needs inputs and outputs");
  }
  const int64_t n = static_cast<int64_t>(nodes_.size());
  auto check_ref = [&](const NodeRef& ref, const char* what, size_t i) -> Status {
    if (ref.builder != id_ || ref.id < 0 || ref.id >= n) {
      return absl::InvalidArgumentError(std::string("GraphBuilder::Finish: ") + what + " " +
                                        std::to_string(i) + " is not a node of this builder");
    }
    return absl::OkStatus();
  };
  std::set<int64_t> listed_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    MLCORE_RETURN_IF_ERROR(check_ref(inputs[i], "input", i));
    const GraphNode& node = nodes_[inputs[i].id];
    if (node.op != GraphNode::Op::kInput) {
      return absl::InvalidArgumentError("GraphBuilder::Finish: model input " + std::to_string(i) +
                                        " is node " + Quote(node) + ", not an Input node");
    }
    if (!listed_inputs.insert(inputs[i].id).second) {
      return absl::InvalidArgumentError("GraphBuilder::Finish: input " + Quote(node) +
                                        " is listed twice");
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    MLCORE_RETURN_IF_ERROR(check_ref(outputs[i], "output", i));
  }
  // Which nodes the outputs need, and for each needed node one output that needs it (to name
  // in errors).
  std::vector<int64_t> needed_by(n, -1);
  for (const NodeRef& out : outputs) {
    if (needed_by[out.id] < 0) needed_by[out.id] = out.id;
  }
  for (int64_t i = n - 1; i >= 0; --i) {
    if (needed_by[i] < 0) continue;
    for (int64_t in : nodes_[i].inputs) {
      if (needed_by[in] < 0) needed_by[in] = needed_by[i];
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    if (needed_by[i] >= 0 && nodes_[i].op == GraphNode::Op::kInput && !listed_inputs.count(i)) {
      return absl::InvalidArgumentError("output " + Quote(nodes_[needed_by[i]]) +
                                        " depends on Input node " + Quote(nodes_[i]) +
                                        ", which is not among the model's inputs");
    }
  }
  for (int64_t in : listed_inputs) {
    if (needed_by[in] < 0) {
      return absl::InvalidArgumentError("model input " + Quote(nodes_[in]) +
                                        " is not used by any output");
    }
  }
  // Keep the needed nodes, remapping indices, and infer every shape.
  std::vector<int64_t> remap(n, -1);
  std::vector<GraphNode> kept;
  std::vector<std::shared_ptr<Layer>> runners;
  std::map<Layer*, int64_t> first_use;  // kept index of each layer's first use
  std::map<Layer*, int> uses;           // further uses so far, for the "<layer>:<k>" names
  std::set<std::string> names;
  for (int64_t i = 0; i < n; ++i) {
    if (needed_by[i] < 0) continue;
    GraphNode node = nodes_[i];
    runners.emplace_back();
    std::vector<Shape> in_shapes;
    for (int64_t& in : node.inputs) {
      in = remap[in];
      in_shapes.push_back(kept[in].shape);
    }
    const int64_t index = static_cast<int64_t>(kept.size());
    switch (node.op) {
      case GraphNode::Op::kInput:
        break;
      case GraphNode::Op::kLayer: {
        auto [first, inserted] = first_use.emplace(node.layer.get(), index);
        if (!inserted) {
          node.shares = first->second;
          node.name = node.layer->name() + ":" + std::to_string(++uses[node.layer.get()]);
        }
        StatusOr<Shape> shape = node.layer->Build(in_shapes[0], seed * 1000003 + index);
        if (!shape.ok()) {
          std::string why(shape.status().message());
          if (node.shares >= 0) {
            why = "a shared layer needs the same input shape at every use; " + why +
                  " (first used at node '" + kept[node.shares].name + "')";
          }
          return Status(shape.status().code(), "graph node " + Quote(node) + " on input " +
                                                   Quote(kept[node.inputs[0]]) + ": " + why);
        }
        node.shape = *shape;
        if (node.shares < 0) {
          runners[index] = node.layer;
        } else {
          MLCORE_ASSIGN_OR_RETURN(runners[index], internal::ShareLayer(*node.layer, in_shapes[0],
                                                                       uses[node.layer.get()]));
        }
        break;
      }
      case GraphNode::Op::kAttend: {
        auto first = first_use.find(node.layer.get());
        if (first == first_use.end()) {
          return absl::InvalidArgumentError(
              "Attend node '" + node.name + "': embedding '" + node.layer->name() +
              "' is not applied at an earlier node of this model; apply it (to the token ids) "
              "first, which creates the table Attend uses");
        }
        node.shares = first->second;
        const Shape table = node.layer->parameters()[0]->value.shape();
        if (in_shapes[0].empty() || in_shapes[0].back() != table[1]) {
          return absl::InvalidArgumentError(
              "Attend node '" + node.name + "': input " + Quote(kept[node.inputs[0]]) +
              " has per-sample shape " + ShapeToString(in_shapes[0]) +
              ", but its last axis must be the dim of embedding '" + node.layer->name() +
              "' (table " + ShapeToString(table) + ")");
        }
        node.shape = in_shapes[0];
        node.shape.back() = table[0];
        break;
      }
      case GraphNode::Op::kAdd:
        for (size_t k = 1; k < in_shapes.size(); ++k) {
          if (in_shapes[k] != in_shapes[0]) {
            return absl::InvalidArgumentError(
                "Add node '" + node.name + "': input " + Quote(kept[node.inputs[k]]) +
                " has shape " + ShapeToString(in_shapes[k]) + " but input " +
                Quote(kept[node.inputs[0]]) + " has " + ShapeToString(in_shapes[0]));
          }
        }
        node.shape = in_shapes[0];
        break;
      case GraphNode::Op::kConcatenate: {
        const size_t rank = in_shapes[0].size();
        const int64_t axis = NormalizeAxis(node.axis, rank);
        if (rank == 0 || axis < 0 || axis >= static_cast<int64_t>(rank)) {
          return absl::InvalidArgumentError("Concatenate node '" + node.name + "': axis " +
                                            std::to_string(node.axis) + " is out of range for " +
                                            ShapeToString(in_shapes[0]));
        }
        Shape out = in_shapes[0];
        for (size_t k = 1; k < in_shapes.size(); ++k) {
          bool fits = in_shapes[k].size() == rank;
          for (size_t d = 0; fits && d < rank; ++d) {
            fits = static_cast<int64_t>(d) == axis || in_shapes[k][d] == in_shapes[0][d];
          }
          if (!fits) {
            return absl::InvalidArgumentError(
                "Concatenate node '" + node.name + "' (axis " + std::to_string(node.axis) +
                "): input " + Quote(kept[node.inputs[k]]) + " has shape " +
                ShapeToString(in_shapes[k]) + ", which does not fit input " +
                Quote(kept[node.inputs[0]]) + " of shape " + ShapeToString(in_shapes[0]));
          }
          out[axis] += in_shapes[k][axis];
        }
        node.axis = axis;
        node.shape = out;
        break;
      }
    }
    if (!names.insert(node.name).second) {
      return absl::InvalidArgumentError("two graph nodes are named '" + node.name + "'");
    }
    remap[i] = index;
    kept.push_back(std::move(node));
  }
  // Layers fed only by model inputs need not compute d(loss)/d(data).
  for (size_t i = 0; i < kept.size(); ++i) {
    if (kept[i].op == GraphNode::Op::kLayer) {
      runners[i]->set_input_grad_needed(kept[kept[i].inputs[0]].op != GraphNode::Op::kInput);
    }
  }
  std::vector<int64_t> in_ids, out_ids;
  for (const NodeRef& r : inputs) in_ids.push_back(remap[r.id]);
  for (const NodeRef& r : outputs) out_ids.push_back(remap[r.id]);
  return std::unique_ptr<GraphModel>(
      new GraphModel(std::move(kept), std::move(runners), std::move(in_ids), std::move(out_ids)));
}

// ---------------------------------------------------------------------------------------------
// GraphModel

std::vector<std::string> GraphModel::output_names() const {
  std::vector<std::string> out;
  for (int64_t id : outputs_) out.push_back(nodes_[id].name);
  return out;
}

std::vector<std::string> GraphModel::input_names() const {
  std::vector<std::string> out;
  for (int64_t id : inputs_) out.push_back(nodes_[id].name);
  return out;
}

std::vector<Layer*> GraphModel::AllLayers() const {
  std::vector<Layer*> out;
  for (const GraphNode& node : nodes_) {
    if (node.layer && node.shares < 0) out.push_back(node.layer.get());
  }
  return out;
}

Status GraphModel::SyncSharedLayers() {
  for (size_t id = 0; id < nodes_.size(); ++id) {
    if (nodes_[id].op != GraphNode::Op::kLayer || nodes_[id].shares < 0) continue;
    MLCORE_RETURN_IF_ERROR(internal::AliasParameters(*nodes_[id].layer, *runners_[id]));
  }
  return absl::OkStatus();
}

Status GraphModel::BuildFor(const std::vector<Shape>& input_shapes, uint64_t) {
  if (input_shapes.size() != inputs_.size()) {
    return absl::InvalidArgumentError("graph model takes " + std::to_string(inputs_.size()) +
                                      " inputs, got " + std::to_string(input_shapes.size()));
  }
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const GraphNode& node = nodes_[inputs_[i]];
    if (input_shapes[i] != node.shape) {
      return absl::InvalidArgumentError("graph input '" + node.name +
                                        "' expects samples of shape " + ShapeToString(node.shape) +
                                        ", got " + ShapeToString(input_shapes[i]));
    }
  }
  return absl::OkStatus();
}

// Add, Concatenate and Attend all run on CUDA (ops::Add, cuda::CopyRows, cuda::Gemm).
Status GraphModel::CheckCuda() const { return absl::OkStatus(); }

StatusOr<TensorList> GraphModel::DoForward(const TensorList& x, bool training) {
  MLCORE_RETURN_IF_ERROR(SyncSharedLayers());
  MLCORE_RETURN_IF_ERROR(BuildFor([&] {
    std::vector<Shape> shapes;
    for (const Tensor& t : x) shapes.emplace_back(t.shape().begin() + 1, t.shape().end());
    return shapes;
  }()));
  std::vector<Tensor> values(nodes_.size());
  for (size_t i = 0; i < inputs_.size(); ++i) values[inputs_[i]] = x[i];
  attend_inputs_.resize(nodes_.size());
  const int64_t batch = x[0].shape()[0];
  for (size_t id = 0; id < nodes_.size(); ++id) {
    const GraphNode& node = nodes_[id];
    switch (node.op) {
      case GraphNode::Op::kInput:
        break;
      case GraphNode::Op::kLayer: {
        StatusOr<Tensor> out = runners_[id]->Forward(values[node.inputs[0]], training);
        const GraphNode& from = nodes_[node.inputs[0]];
        if (!out.ok() && IsTypeError(out.status()) && from.op == GraphNode::Op::kInput) {
          return absl::InvalidArgumentError(
              "graph input '" + from.name + "' has dtype " +
              DTypeName(values[node.inputs[0]].dtype()) + ", which node " + Quote(node) +
              " does not take: " + std::string(out.status().message()));
        }
        if (!out.ok()) {
          Status s(out.status().code(),
                   "graph node " + Quote(node) + ": " + std::string(out.status().message()));
          out.status().ForEachPayload(
              [&](absl::string_view url, const absl::Cord& p) { s.SetPayload(url, p); });
          return s;
        }
        values[id] = std::move(*out);
        break;
      }
      case GraphNode::Op::kAdd: {
        MLCORE_RETURN_IF_ERROR(CheckDTypes(nodes_, node, values, /*float_only=*/true));
        MLCORE_ASSIGN_OR_RETURN(Tensor sum,
                                ops::Add(values[node.inputs[0]], values[node.inputs[1]]));
        for (size_t k = 2; k < node.inputs.size(); ++k) {
          MLCORE_RETURN_IF_ERROR(ops::AddInto(sum, values[node.inputs[k]], sum));
        }
        values[id] = std::move(sum);
        break;
      }
      case GraphNode::Op::kConcatenate: {
        MLCORE_RETURN_IF_ERROR(CheckDTypes(nodes_, node, values, /*float_only=*/false));
        Shape shape = node.shape;
        shape.insert(shape.begin(), batch);
        const Tensor& first = values[node.inputs[0]];
        MLCORE_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(shape, first.dtype(), first.device()));
        std::vector<Shape> in_shapes;
        for (int64_t in : node.inputs) in_shapes.push_back(nodes_[in].shape);
        const ConcatPlan plan = PlanConcat(in_shapes, node.axis, batch, DTypeSize(first.dtype()));
        size_t row = 0;
        for (size_t c : plan.chunk) row += c;
        auto* dst = static_cast<char*>(out.data());
        size_t offset = 0;
        for (size_t k = 0; k < node.inputs.size(); ++k) {
          const auto* src = static_cast<const char*>(values[node.inputs[k]].data());
          if (out.device().is_cuda()) {
            MLCORE_RETURN_IF_ERROR(
                MLCORE_CUDA_TWIN(cuda::CopyRows(out.device().index, dst + offset, row, src,
                                                plan.chunk[k], plan.chunk[k], plan.outer)));
          } else {
            for (int64_t r = 0; r < plan.outer; ++r) {
              std::memcpy(dst + r * row + offset, src + r * plan.chunk[k], plan.chunk[k]);
            }
          }
          offset += plan.chunk[k];
        }
        values[id] = std::move(out);
        break;
      }
      case GraphNode::Op::kAttend: {
        MLCORE_RETURN_IF_ERROR(CheckDTypes(nodes_, node, values, /*float_only=*/true));
        const Tensor& in = values[node.inputs[0]];
        const Tensor& table = nodes_[node.shares].layer->parameters()[0]->value;
        MLCORE_ASSIGN_OR_RETURN(values[id], internal::AttendForward(in, table));
        attend_inputs_[id] = training ? in : Tensor();
        break;
      }
    }
  }
  TensorList out;
  for (int64_t id : outputs_) out.push_back(values[id]);
  return out;
}

Status GraphModel::DoBackward(const TensorList& grad_outputs) {
  MLCORE_RETURN_IF_ERROR(SyncSharedLayers());
  std::vector<Tensor> grads(nodes_.size());
  // Per first use of a shared layer, the parameter gradients of its later uses summed so far.
  // Later uses come later in node order, so the reverse walk reaches them first.
  std::vector<std::vector<Tensor>> shared_grads(nodes_.size());
  for (size_t i = 0; i < outputs_.size(); ++i) {
    MLCORE_ASSIGN_OR_RETURN(grads[outputs_[i]], Accumulate(grads[outputs_[i]], grad_outputs[i]));
  }
  for (int64_t id = static_cast<int64_t>(nodes_.size()) - 1; id >= 0; --id) {
    const GraphNode& node = nodes_[id];
    Tensor g = std::move(grads[id]);
    if (!g.defined()) continue;  // cannot happen for needed nodes; kept for safety
    switch (node.op) {
      case GraphNode::Op::kInput:
        break;
      case GraphNode::Op::kLayer: {
        Layer& runner = *runners_[id];
        StatusOr<Tensor> gin = runner.Backward(g);
        if (!gin.ok()) {
          return Status(gin.status().code(),
                        "graph node " + Quote(node) + ": " + std::string(gin.status().message()));
        }
        const std::vector<Parameter*> params = runner.parameters();
        if (node.shares >= 0) {
          // A copy's gradient tensors are its own scratch until its next Backward, so the
          // first one reached can hold the running sum.
          std::vector<Tensor>& sum = shared_grads[node.shares];
          for (size_t k = 0; k < params.size(); ++k) {
            if (sum.size() <= k) {
              sum.push_back(params[k]->grad);
            } else {
              MLCORE_RETURN_IF_ERROR(ops::AddInto(sum[k], params[k]->grad, sum[k]));
            }
          }
        } else {
          const std::vector<Tensor>& sum = shared_grads[id];
          for (size_t k = 0; k < sum.size(); ++k) {
            MLCORE_RETURN_IF_ERROR(ops::AddInto(params[k]->grad, sum[k], params[k]->grad));
          }
          MLCORE_RETURN_IF_ERROR(ParametersReady(runner));  // every use is done
        }
        const int64_t in = node.inputs[0];
        if (nodes_[in].op != GraphNode::Op::kInput) {
          MLCORE_ASSIGN_OR_RETURN(grads[in], Accumulate(grads[in], *gin));
        }
        break;
      }
      case GraphNode::Op::kAdd:
        // Every input receives the same gradient; each consumer gets its own copy because a
        // layer's Backward may reuse its gradient argument's memory.
        for (size_t k = 0; k < node.inputs.size(); ++k) {
          const int64_t in = node.inputs[k];
          if (nodes_[in].op == GraphNode::Op::kInput) continue;
          Tensor share = g;
          if (k + 1 < node.inputs.size()) {
            MLCORE_ASSIGN_OR_RETURN(share, g.Clone());
          }
          MLCORE_ASSIGN_OR_RETURN(grads[in], Accumulate(grads[in], share));
        }
        break;
      case GraphNode::Op::kConcatenate: {
        std::vector<Shape> in_shapes;
        for (int64_t in : node.inputs) in_shapes.push_back(nodes_[in].shape);
        const int64_t batch = g.shape()[0];
        const ConcatPlan plan = PlanConcat(in_shapes, node.axis, batch, DTypeSize(g.dtype()));
        size_t row = 0;
        for (size_t c : plan.chunk) row += c;
        const auto* src = static_cast<const char*>(g.data());
        size_t offset = 0;
        for (size_t k = 0; k < node.inputs.size(); ++k) {
          const int64_t in = node.inputs[k];
          if (nodes_[in].op != GraphNode::Op::kInput) {
            Shape shape = in_shapes[k];
            shape.insert(shape.begin(), batch);
            MLCORE_ASSIGN_OR_RETURN(Tensor part, Tensor::Empty(shape, g.dtype(), g.device()));
            auto* dst = static_cast<char*>(part.data());
            if (g.device().is_cuda()) {
              MLCORE_RETURN_IF_ERROR(
                  MLCORE_CUDA_TWIN(cuda::CopyRows(g.device().index, dst, plan.chunk[k],
                                                  src + offset, row, plan.chunk[k], plan.outer)));
            } else {
              for (int64_t r = 0; r < plan.outer; ++r) {
                std::memcpy(dst + r * plan.chunk[k], src + r * row + offset, plan.chunk[k]);
              }
            }
            MLCORE_ASSIGN_OR_RETURN(grads[in], Accumulate(grads[in], part));
          }
          offset += plan.chunk[k];
        }
        break;
      }
      case GraphNode::Op::kAttend: {
        if (attend_inputs_.size() <= static_cast<size_t>(id) || !attend_inputs_[id].defined()) {
          return absl::FailedPreconditionError("graph node " + Quote(node) +
                                               ": backward without a training forward");
        }
        const Tensor& table = nodes_[node.shares].layer->parameters()[0]->value;
        const int64_t in = node.inputs[0];
        const bool input_grad = nodes_[in].op != GraphNode::Op::kInput;
        MLCORE_ASSIGN_OR_RETURN(Tensor dtable,
                                Tensor::Empty(table.shape(), DType::kFloat32, g.device()));
        MLCORE_ASSIGN_OR_RETURN(
            Tensor dx, internal::AttendBackward(g, attend_inputs_[id], table, dtable, input_grad));
        // Summed into the Embedding's table gradient at its node, which the walk reaches later.
        std::vector<Tensor>& sum = shared_grads[node.shares];
        if (sum.empty()) {
          sum.push_back(std::move(dtable));
        } else {
          MLCORE_RETURN_IF_ERROR(ops::AddInto(sum[0], dtable, sum[0]));
        }
        if (input_grad) {
          MLCORE_ASSIGN_OR_RETURN(grads[in], Accumulate(grads[in], dx));
        }
        break;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace mlcore::nn
