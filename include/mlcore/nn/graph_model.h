// A GraphModel wires layers as a directed acyclic graph, in the Keras functional style: several
// inputs and outputs, residual additions, concatenation. A GraphBuilder records nodes; every
// node can only consume nodes created before it, so a cycle cannot be expressed. Finish checks
// the wiring and infers every shape, with errors naming the node, then builds the weights.
// Training, evaluation, prediction and device placement are Model's (model.h).
//
// Weight sharing: applying one layer object at several nodes (Siamese towers, a block reused
// twice) makes those nodes share its parameters. They appear once in parameters(), the
// optimiser and checkpoints; the gradients of all uses are summed before the gradient-ready
// hook fires for them.
//
// Weight tying: Attend(embedding, node) multiplies a node by the transpose of an Embedding's
// table (PyTorch's `head.weight = emb.weight`, Flax's `Embed.attend`): a language-model head
// with no weights of its own. The table stays one parameter, trained, saved and hooked once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/core/tensor.h"
#include "mlcore/nn/layer.h"
#include "mlcore/nn/model.h"

namespace mlcore::nn {

// A node of a graph under construction; only meaningful with the builder that made it.
struct NodeRef {
  int64_t id = -1;
  uint64_t builder = 0;  // identifies the GraphBuilder, so a foreign node is reported
};

// One node of a finished graph (exposed for inspection and serialisation).
struct GraphNode {
  enum class Op { kInput, kLayer, kAdd, kConcatenate, kAttend };
  Op op = Op::kInput;
  std::string name;              // unique in the graph; a layer node is named like its layer
  std::vector<int64_t> inputs;   // indices of earlier nodes
  std::shared_ptr<Layer> layer;  // kLayer: the layer object the user applied; kAttend: the
                                 // Embedding whose table it uses
  // kLayer: the index of the first node applying the same layer (its parameters are shared),
  // or -1 at a layer's first use. A later use is named "<layer>:<k>" (k = 1, 2...).
  // kAttend: the node applying its Embedding.
  int64_t shares = -1;
  int64_t axis = -1;  // kConcatenate: per-sample axis (negative counts from the end)
  Shape shape;        // per-sample output shape (kInput: as declared)
};
const char* GraphOpName(GraphNode::Op op);

class GraphModel;

class GraphBuilder {
 public:
  GraphBuilder();

  // A model input with per-sample `shape` (no batch axis). Names default to "input_<k>".
  NodeRef Input(const Shape& shape, std::string name = "");
  // `layer` applied to one node; unnamed layers get "<type>_<node>". Applying the same layer
  // again shares its parameters (every use needs the same input shape); each further use runs
  // on its own copy of the layer that aliases the parameters, so each keeps its own forward
  // state for the backward pass.
  NodeRef Apply(std::shared_ptr<Layer> layer, NodeRef input);
  // Same, with the input as a one-element list (more than one is an error naming the layer).
  NodeRef Apply(std::shared_ptr<Layer> layer, const std::vector<NodeRef>& inputs);
  // Elementwise sum of two or more nodes of identical shape (a residual connection).
  NodeRef Add(const std::vector<NodeRef>& inputs, std::string name = "");
  // Joins two or more nodes along per-sample `axis` (default the last); the other axes must
  // agree.
  NodeRef Concatenate(const std::vector<NodeRef>& inputs, int64_t axis = -1, std::string name = "");
  // `input` [..., dim] times the transposed table [num_embeddings, dim] of `embedding`, giving
  // [..., num_embeddings] (logits over the vocabulary), with no parameters of its own: the
  // table is the Embedding's, so its gradient is the sum of both uses' and it is counted,
  // optimised, hooked and saved once. `embedding` must be an Embedding applied at an earlier
  // node of the same model (that node creates the table). Names default to "attend_<node>".
  NodeRef Attend(std::shared_ptr<Layer> embedding, NodeRef input, std::string name = "");

  // The model computing `outputs` from `inputs`, built with weights drawn from `seed`. Errors
  // (InvalidArgument, each naming the node): a node from another builder or never created, a
  // shape mismatch in Add/Concatenate or a layer, an output that needs an input not in
  // `inputs`, an input no output uses, a shared layer given inputs of different shapes,
  // duplicate names. Nodes no output needs are dropped. The builder may be used again afterwards
  // for another model only with fresh layers.
  StatusOr<std::unique_ptr<GraphModel>> Finish(const std::vector<NodeRef>& inputs,
                                               const std::vector<NodeRef>& outputs,
                                               uint64_t seed = 0);

 private:
  NodeRef AddNode(GraphNode node, const std::vector<NodeRef>& inputs);
  uint64_t id_;
  std::vector<GraphNode> nodes_;
  Status status_;  // the first error while recording, reported by Finish
};

class GraphModel : public Model {
 public:
  std::string kind() const override { return "graph"; }
  size_t num_inputs() const override { return inputs_.size(); }
  std::vector<std::string> output_names() const override;
  std::vector<std::string> input_names() const;
  // Each layer once (a shared layer at its first use), in execution order.
  std::vector<Layer*> AllLayers() const override;
  bool built() const override { return true; }  // Finish builds
  // Checks that `input_shapes` are the shapes the graph was built for (error naming the input).
  Status BuildFor(const std::vector<Shape>& input_shapes, uint64_t seed = 0) override;

  const std::vector<GraphNode>& nodes() const { return nodes_; }
  const std::vector<int64_t>& input_nodes() const { return inputs_; }
  const std::vector<int64_t>& output_nodes() const { return outputs_; }
  // Inputs and outputs named like their nodes; an input only Embedding layers read is int64.
  StatusOr<ModelSignature> signature() const override;
  // The architecture as JSON text (format "mlcore.nn.GraphModel"), as Save writes it.
  std::string ArchitectureJson() const;

  // Writes <dir>/architecture.json, signature.json, model.safetensors and, when compiled,
  // optimizer.safetensors and training_state.json, replacing the directory atomically (as
  // Sequential::Save).
  Status Save(const std::string& dir) const override;

 protected:
  StatusOr<TensorList> DoForward(const TensorList& x, bool training) override;
  Status DoBackward(const TensorList& grad_outputs) override;
  Status CheckCuda() const override;
  Status AfterMove() override { return SyncSharedLayers(); }

 private:
  friend class GraphBuilder;
  friend StatusOr<std::unique_ptr<GraphModel>> LoadGraphModel(const std::string& dir);
  GraphModel(std::vector<GraphNode> nodes, std::vector<std::shared_ptr<Layer>> runners,
             std::vector<int64_t> inputs, std::vector<int64_t> outputs)
      : nodes_(std::move(nodes)),
        runners_(std::move(runners)),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)) {}
  struct BackwardState;
  // The node's layer on its input, with errors naming the node.
  StatusOr<Tensor> ForwardLayer(size_t id, const std::vector<Tensor>& values, bool training) const;
  Status BackwardLayer(int64_t id, const Tensor& g, BackwardState& state);
  Status BackwardAttend(int64_t id, const Tensor& g, BackwardState& state);
  // Points every copy of a shared layer at the current parameter and buffer tensors of the
  // layer's first use (they change when the model moves to another device), and keeps each
  // copy's own gradient tensors on that device.
  Status SyncSharedLayers();

  std::vector<GraphNode> nodes_;  // topological (creation) order
  // Per node, the layer instance that runs it: the node's layer at its first use, a copy that
  // aliases its parameters at later uses (null for non-layer nodes).
  std::vector<std::shared_ptr<Layer>> runners_;
  std::vector<int64_t> inputs_, outputs_;
  // Per Attend node, its input in the last training forward (what its backward multiplies);
  // written by training forwards only, so inference stays read-only.
  std::vector<Tensor> attend_inputs_;
};

// Rebuilds a graph model saved by GraphModel::Save (architecture, weights and, when saved, the
// optimizer state, loss, metrics and epoch count).
StatusOr<std::unique_ptr<GraphModel>> LoadGraphModel(const std::string& dir);

}  // namespace mlcore::nn
