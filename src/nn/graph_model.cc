// GraphModel's forward and backward passes (the builder is graph_builder.cc). Nodes are kept in
// creation order, which is topological because a node can only consume earlier ones; the
// backward pass walks that order in reverse, so every node's gradient is complete (summed over
// all of its consumers) before it is propagated further.
#include "mlcore/nn/graph_model.h"

#include <cstring>

#include "core/device_dispatch.h"
#include "mlcore/ops/elementwise.h"
#include "nn/attend.h"
#include "nn/graph_model.h"
#include "nn/graph_node_name.h"
#include "nn/layer_sharing.h"

namespace mlcore::nn {
namespace {

using internal::QuoteNode;

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
          QuoteNode(nodes[in]) + " has dtype " + DTypeName(values[in].dtype()) +
          (float_only ? ""
                      : std::string(" and input ") + QuoteNode(nodes[node.inputs[0]]) + " " +
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

// The elementwise sum of the node's inputs (float32, checked).
StatusOr<Tensor> AddForward(const GraphNode& node, const std::vector<Tensor>& values) {
  MLCORE_ASSIGN_OR_RETURN(Tensor sum, ops::Add(values[node.inputs[0]], values[node.inputs[1]]));
  for (size_t k = 2; k < node.inputs.size(); ++k) {
    MLCORE_RETURN_IF_ERROR(ops::AddInto(sum, values[node.inputs[k]], sum));
  }
  return sum;
}

// Copies `rows` rows of `bytes` from src (rows `src_row` apart) to dst (`dst_row` apart).
Status CopyRows(const Device& device, char* dst, size_t dst_row, const char* src, size_t src_row,
                size_t bytes, int64_t rows) {
  if (device.is_cuda()) {
    return MLCORE_CUDA_TWIN(cuda::CopyRows(device.index, dst, dst_row, src, src_row, bytes, rows));
  }
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_row, src + r * src_row, bytes);
  return absl::OkStatus();
}

std::vector<Shape> InputShapes(const std::vector<GraphNode>& nodes, const GraphNode& node) {
  std::vector<Shape> shapes;
  for (int64_t in : node.inputs) shapes.push_back(nodes[in].shape);
  return shapes;
}

StatusOr<Tensor> ConcatForward(const std::vector<GraphNode>& nodes, const GraphNode& node,
                               const std::vector<Tensor>& values, int64_t batch) {
  Shape shape = node.shape;
  shape.insert(shape.begin(), batch);
  const Tensor& first = values[node.inputs[0]];
  MLCORE_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(shape, first.dtype(), first.device()));
  const ConcatPlan plan =
      PlanConcat(InputShapes(nodes, node), node.axis, batch, DTypeSize(first.dtype()));
  size_t row = 0;
  for (size_t c : plan.chunk) row += c;
  auto* dst = static_cast<char*>(out.data());
  size_t offset = 0;
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    const auto* src = static_cast<const char*>(values[node.inputs[k]].data());
    MLCORE_RETURN_IF_ERROR(
        CopyRows(out.device(), dst + offset, row, src, plan.chunk[k], plan.chunk[k], plan.outer));
    offset += plan.chunk[k];
  }
  return out;
}

// Splits the gradient g of a Concatenate node into its inputs' parts and adds each to that
// input's gradient (model inputs get none).
Status ConcatBackward(const std::vector<GraphNode>& nodes, const GraphNode& node, const Tensor& g,
                      std::vector<Tensor>& grads) {
  const std::vector<Shape> in_shapes = InputShapes(nodes, node);
  const int64_t batch = g.shape()[0];
  const ConcatPlan plan = PlanConcat(in_shapes, node.axis, batch, DTypeSize(g.dtype()));
  size_t row = 0;
  for (size_t c : plan.chunk) row += c;
  const auto* src = static_cast<const char*>(g.data());
  size_t offset = 0;
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    const int64_t in = node.inputs[k];
    if (nodes[in].op != GraphNode::Op::kInput) {
      Shape shape = in_shapes[k];
      shape.insert(shape.begin(), batch);
      MLCORE_ASSIGN_OR_RETURN(Tensor part, Tensor::Empty(shape, g.dtype(), g.device()));
      MLCORE_RETURN_IF_ERROR(CopyRows(g.device(), static_cast<char*>(part.data()), plan.chunk[k],
                                      src + offset, row, plan.chunk[k], plan.outer));
      MLCORE_ASSIGN_OR_RETURN(grads[in], Accumulate(grads[in], part));
    }
    offset += plan.chunk[k];
  }
  return absl::OkStatus();
}

}  // namespace

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

StatusOr<ModelSignature> GraphModel::signature() const {
  ModelSignature sig;
  for (int64_t id : inputs_) {
    bool ids_only = true;  // read by Embedding layers alone: token ids
    for (const GraphNode& node : nodes_) {
      for (int64_t in : node.inputs) {
        if (in != id) continue;
        ids_only =
            ids_only && node.op == GraphNode::Op::kLayer && node.layer->type() == "embedding";
      }
    }
    Shape shape = nodes_[id].shape;
    shape.insert(shape.begin(), -1);
    sig.inputs.push_back({nodes_[id].name, ids_only ? DType::kInt64 : DType::kFloat32, shape});
  }
  for (int64_t id : outputs_) {
    Shape shape = nodes_[id].shape;
    shape.insert(shape.begin(), -1);
    sig.outputs.push_back({nodes_[id].name, DType::kFloat32, shape});
  }
  return sig;
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
  // Inference only reads: the copies were re-pointed when the parameters last moved
  // (AfterMove). A training forward checks again, as it may write anyway.
  if (training) MLCORE_RETURN_IF_ERROR(SyncSharedLayers());
  MLCORE_RETURN_IF_ERROR(BuildFor([&] {
    std::vector<Shape> shapes;
    for (const Tensor& t : x) shapes.emplace_back(t.shape().begin() + 1, t.shape().end());
    return shapes;
  }()));
  // Per-call scratch: concurrent inference passes share nothing but the weights.
  std::vector<Tensor> values(nodes_.size());
  for (size_t i = 0; i < inputs_.size(); ++i) values[inputs_[i]] = x[i];
  if (training) attend_inputs_.resize(nodes_.size());
  const int64_t batch = x[0].shape()[0];
  for (size_t id = 0; id < nodes_.size(); ++id) {
    const GraphNode& node = nodes_[id];
    switch (node.op) {
      case GraphNode::Op::kInput:
        break;
      case GraphNode::Op::kLayer: {
        MLCORE_ASSIGN_OR_RETURN(values[id], ForwardLayer(id, values, training));
        break;
      }
      case GraphNode::Op::kAdd: {
        MLCORE_RETURN_IF_ERROR(CheckDTypes(nodes_, node, values, /*float_only=*/true));
        MLCORE_ASSIGN_OR_RETURN(values[id], AddForward(node, values));
        break;
      }
      case GraphNode::Op::kConcatenate: {
        MLCORE_RETURN_IF_ERROR(CheckDTypes(nodes_, node, values, /*float_only=*/false));
        MLCORE_ASSIGN_OR_RETURN(values[id], ConcatForward(nodes_, node, values, batch));
        break;
      }
      case GraphNode::Op::kAttend: {
        MLCORE_RETURN_IF_ERROR(CheckDTypes(nodes_, node, values, /*float_only=*/true));
        const Tensor& in = values[node.inputs[0]];
        const Tensor& table = nodes_[node.shares].layer->parameters()[0]->value;
        MLCORE_ASSIGN_OR_RETURN(values[id], internal::AttendForward(in, table));
        if (training) attend_inputs_[id] = in;
        break;
      }
    }
  }
  TensorList out;
  for (int64_t id : outputs_) out.push_back(values[id]);
  return out;
}

StatusOr<Tensor> GraphModel::ForwardLayer(size_t id, const std::vector<Tensor>& values,
                                          bool training) const {
  const GraphNode& node = nodes_[id];
  StatusOr<Tensor> out = runners_[id]->Forward(values[node.inputs[0]], training);
  if (out.ok()) return out;
  const GraphNode& from = nodes_[node.inputs[0]];
  if (IsTypeError(out.status()) && from.op == GraphNode::Op::kInput) {
    return absl::InvalidArgumentError("graph input '" + from.name + "' has dtype " +
                                      DTypeName(values[node.inputs[0]].dtype()) + ", which node " +
                                      QuoteNode(node) +
                                      " does not take: " + std::string(out.status().message()));
  }
  return WithPrefix(out.status(), "graph node " + QuoteNode(node) + ": ");
}

// What one backward walk carries from node to node.
struct GraphModel::BackwardState {
  std::vector<Tensor> grads;  // per node, d(loss)/d(its output) summed over its consumers
  // Per first use of a shared layer (or an Embedding that an Attend reuses), the parameter
  // gradients of its later uses summed so far. Later uses come later in node order, so the
  // reverse walk reaches them first.
  std::vector<std::vector<Tensor>> shared_grads;
};

Status GraphModel::DoBackward(const TensorList& grad_outputs) {
  MLCORE_RETURN_IF_ERROR(SyncSharedLayers());
  BackwardState state{std::vector<Tensor>(nodes_.size()),
                      std::vector<std::vector<Tensor>>(nodes_.size())};
  std::vector<Tensor>& grads = state.grads;
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
      case GraphNode::Op::kLayer:
        MLCORE_RETURN_IF_ERROR(BackwardLayer(id, g, state));
        break;
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
      case GraphNode::Op::kConcatenate:
        MLCORE_RETURN_IF_ERROR(ConcatBackward(nodes_, node, g, grads));
        break;
      case GraphNode::Op::kAttend:
        MLCORE_RETURN_IF_ERROR(BackwardAttend(id, g, state));
        break;
    }
  }
  return absl::OkStatus();
}

Status GraphModel::BackwardLayer(int64_t id, const Tensor& g, BackwardState& state) {
  const GraphNode& node = nodes_[id];
  Layer& runner = *runners_[id];
  StatusOr<Tensor> gin = runner.Backward(g);
  if (!gin.ok()) {
    return Status(gin.status().code(),
                  "graph node " + QuoteNode(node) + ": " + std::string(gin.status().message()));
  }
  const std::vector<Parameter*> params = runner.parameters();
  if (node.shares >= 0) {
    // A copy's gradient tensors are its own scratch until its next Backward, so the first one
    // reached can hold the running sum.
    std::vector<Tensor>& sum = state.shared_grads[node.shares];
    for (size_t k = 0; k < params.size(); ++k) {
      if (sum.size() <= k) {
        sum.push_back(params[k]->grad);
      } else {
        MLCORE_RETURN_IF_ERROR(ops::AddInto(sum[k], params[k]->grad, sum[k]));
      }
    }
  } else {
    const std::vector<Tensor>& sum = state.shared_grads[id];
    for (size_t k = 0; k < sum.size(); ++k) {
      MLCORE_RETURN_IF_ERROR(ops::AddInto(params[k]->grad, sum[k], params[k]->grad));
    }
    MLCORE_RETURN_IF_ERROR(ParametersReady(runner));  // every use is done
  }
  const int64_t in = node.inputs[0];
  if (nodes_[in].op != GraphNode::Op::kInput) {
    MLCORE_ASSIGN_OR_RETURN(state.grads[in], Accumulate(state.grads[in], *gin));
  }
  return absl::OkStatus();
}

Status GraphModel::BackwardAttend(int64_t id, const Tensor& g, BackwardState& state) {
  const GraphNode& node = nodes_[id];
  if (attend_inputs_.size() <= static_cast<size_t>(id) || !attend_inputs_[id].defined()) {
    return absl::FailedPreconditionError("graph node " + QuoteNode(node) +
                                         ": backward without a training forward");
  }
  const Tensor& table = nodes_[node.shares].layer->parameters()[0]->value;
  const int64_t in = node.inputs[0];
  const bool input_grad = nodes_[in].op != GraphNode::Op::kInput;
  MLCORE_ASSIGN_OR_RETURN(Tensor dtable, Tensor::Empty(table.shape(), DType::kFloat32, g.device()));
  MLCORE_ASSIGN_OR_RETURN(
      Tensor dx, internal::AttendBackward(g, attend_inputs_[id], table, dtable, input_grad));
  // Summed into the Embedding's table gradient at its node, which the walk reaches later.
  std::vector<Tensor>& sum = state.shared_grads[node.shares];
  if (sum.empty()) {
    sum.push_back(std::move(dtable));
  } else {
    MLCORE_RETURN_IF_ERROR(ops::AddInto(sum[0], dtable, sum[0]));
  }
  if (input_grad) {
    MLCORE_ASSIGN_OR_RETURN(state.grads[in], Accumulate(state.grads[in], dx));
  }
  return absl::OkStatus();
}

}  // namespace mlcore::nn
