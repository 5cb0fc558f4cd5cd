// Save and load of graph models, and LoadAnyModel. A graph checkpoint is laid out as a
// Sequential one (architecture.json, model.safetensors, optimizer.safetensors,
// training_state.json); only the architecture differs: the node list with each node's inputs.
// A later use of a shared layer is saved as {"shares": <index of its first use>}, so the layer
// and its weights are written once; an Attend node is saved as {"op": "attend", "shares": <index
// of the node applying its Embedding>}, so a tied table is written once too.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "mlcore/nn/graph_model.h"
#include "mlcore/nn/safetensors.h"
#include "mlcore/nn/sequential.h"
#include "nn/model_io.h"

namespace mlcore::nn {
namespace {

using Json = nlohmann::json;
constexpr const char* kGraphFormat = "mlcore.nn.GraphModel";
constexpr const char* kSequentialFormat = "mlcore.nn.Sequential";

StatusOr<GraphNode::Op> ParseOp(const std::string& op) {
  if (op == "input") return GraphNode::Op::kInput;
  if (op == "layer") return GraphNode::Op::kLayer;
  if (op == "add") return GraphNode::Op::kAdd;
  if (op == "concatenate") return GraphNode::Op::kConcatenate;
  if (op == "attend") return GraphNode::Op::kAttend;
  return absl::DataLossError("unknown graph node op '" + op + "'");
}

// Adds one saved node of architecture.json to `builder`: `refs` holds the nodes added so far,
// `layers` each layer node's layer (null for other nodes), for the nodes that share it.
Status AddSavedNode(const Json& n, const std::string& dir, GraphBuilder& builder,
                    std::vector<NodeRef>& refs, std::vector<std::shared_ptr<Layer>>& layers) {
  MLCORE_ASSIGN_OR_RETURN(GraphNode::Op op, ParseOp(n.at("op").get<std::string>()));
  std::vector<NodeRef> ins;
  for (int64_t i : n.value("inputs", std::vector<int64_t>{})) {
    if (i < 0 || i >= static_cast<int64_t>(refs.size())) {
      return absl::DataLossError(dir + "/architecture.json: node '" + n.value("name", "") +
                                 "' has a bad input index");
    }
    ins.push_back(refs[i]);
  }
  const std::string name = n.value("name", "");
  switch (op) {
    case GraphNode::Op::kInput: {
      MLCORE_ASSIGN_OR_RETURN(
          Shape shape, internal::JsonShape(n.at("shape"),
                                           dir + "/architecture.json: node '" + name + "' shape"));
      refs.push_back(builder.Input(shape, name));
      break;
    }
    case GraphNode::Op::kLayer: {
      std::shared_ptr<Layer> layer;
      if (n.contains("shares")) {  // a later use of a shared layer
        const int64_t first = n.at("shares").get<int64_t>();
        if (first < 0 || first >= static_cast<int64_t>(layers.size()) || !layers[first]) {
          return absl::DataLossError(dir + "/architecture.json: node '" + name +
                                     "' shares the layer of node " + std::to_string(first) +
                                     ", which is not an earlier layer node");
        }
        layer = layers[first];
      } else {
        const Json& l = n.at("layer");
        MLCORE_ASSIGN_OR_RETURN(
            layer, CreateLayer(l.at("type").get<std::string>(), l.value("config", LayerConfig{})));
        layer->set_name(name);
      }
      layers.resize(refs.size() + 1);
      layers[refs.size()] = layer;
      refs.push_back(builder.Apply(std::move(layer), ins));
      break;
    }
    case GraphNode::Op::kAdd:
      refs.push_back(builder.Add(ins, name));
      break;
    case GraphNode::Op::kConcatenate:
      refs.push_back(builder.Concatenate(ins, n.value("axis", int64_t{-1}), name));
      break;
    case GraphNode::Op::kAttend: {
      const int64_t first = n.at("shares").get<int64_t>();
      if (first < 0 || first >= static_cast<int64_t>(layers.size()) || !layers[first] ||
          ins.size() != 1) {
        return absl::DataLossError(dir + "/architecture.json: attend node '" + name +
                                   "' needs one input and an earlier layer node to share");
      }
      refs.push_back(builder.Attend(layers[first], ins[0], name));
      break;
    }
  }
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<GraphModel>> LoadGraphImpl(const std::string& dir) {
  MLCORE_ASSIGN_OR_RETURN(Json arch, internal::ReadJsonFile(dir + "/architecture.json"));
  if (!arch.is_object() || arch.value("format", "") != kGraphFormat || !arch.contains("nodes")) {
    return absl::DataLossError(dir + "/architecture.json is not an mlcore GraphModel architecture");
  }
  GraphBuilder builder;
  std::vector<NodeRef> refs;
  std::vector<std::shared_ptr<Layer>> layers;  // per node index, its layer (null otherwise)
  for (const Json& n : arch["nodes"]) {
    MLCORE_RETURN_IF_ERROR(AddSavedNode(n, dir, builder, refs, layers));
  }
  auto pick = [&](const char* key) -> StatusOr<std::vector<NodeRef>> {
    std::vector<NodeRef> out;
    for (int64_t i : arch.at(key).get<std::vector<int64_t>>()) {
      if (i < 0 || i >= static_cast<int64_t>(refs.size())) {
        return absl::DataLossError(dir + "/architecture.json: bad " + key + " index");
      }
      out.push_back(refs[i]);
    }
    return out;
  };
  MLCORE_ASSIGN_OR_RETURN(std::vector<NodeRef> inputs, pick("inputs"));
  MLCORE_ASSIGN_OR_RETURN(std::vector<NodeRef> outputs, pick("outputs"));
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<GraphModel> model, builder.Finish(inputs, outputs));

  MLCORE_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensors(dir + "/model.safetensors"));
  std::vector<Parameter*> state = model->parameters();
  for (Parameter* b : model->buffers()) state.push_back(b);
  MLCORE_RETURN_IF_ERROR(internal::AssignState(state, file.tensors, dir));

  std::error_code ec;
  if (std::filesystem::exists(dir + "/training_state.json", ec)) {
    CompileOptions options;
    int epoch = 0;
    MLCORE_RETURN_IF_ERROR(internal::RestoreTrainingState(dir, &options, &epoch));
    MLCORE_RETURN_IF_ERROR(model->Compile(std::move(options)));
  }
  return model;
}

}  // namespace

std::string GraphModel::ArchitectureJson() const {
  Json nodes = Json::array();
  for (const GraphNode& node : nodes_) {
    Json n = {{"name", node.name}, {"op", GraphOpName(node.op)}, {"inputs", node.inputs}};
    if (node.op == GraphNode::Op::kInput) n["shape"] = node.shape;
    if (node.op == GraphNode::Op::kConcatenate) n["axis"] = node.axis;
    if (node.shares >= 0) {
      n["shares"] = node.shares;
    } else if (node.layer) {
      n["layer"] = {{"type", node.layer->type()}, {"config", node.layer->config()}};
    }
    nodes.push_back(std::move(n));
  }
  Json arch = {{"format", kGraphFormat},
               {"version", 1},
               {"nodes", nodes},
               {"inputs", inputs_},
               {"outputs", outputs_}};
  return arch.dump(2);
}

Status GraphModel::Save(const std::string& dir) const {
  auto lock = ReadLock();
  return internal::WriteDirectoryAtomically(dir, [&](const std::string& tmp) -> Status {
    std::map<std::string, Tensor> weights;
    for (Parameter* p : parameters()) weights[p->name] = p->value;
    for (Parameter* p : buffers()) weights[p->name] = p->value;
    return internal::WriteCheckpointFiles(*this, tmp, weights, kGraphFormat, ArchitectureJson());
  });
}

StatusOr<std::unique_ptr<GraphModel>> LoadGraphModel(const std::string& dir) {
  // nlohmann::json throws on values of the wrong JSON type; a damaged file is DataLoss here.
  try {
    MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<GraphModel> model, LoadGraphImpl(dir));
    if (model->compiled()) {
      MLCORE_ASSIGN_OR_RETURN(Json state, internal::ReadJsonFile(dir + "/training_state.json"));
      model->epochs_trained_ = state.value("epoch", 0);
    }
    return model;
  } catch (const Json::exception& e) {
    return absl::DataLossError("checkpoint " + dir + " is malformed: " + e.what());
  }
}

StatusOr<std::unique_ptr<Model>> LoadAnyModel(const std::string& dir) {
  std::string format;
  try {
    MLCORE_ASSIGN_OR_RETURN(Json arch, internal::ReadJsonFile(dir + "/architecture.json"));
    format = arch.is_object() ? arch.value("format", "") : "";
  } catch (const Json::exception& e) {
    return absl::DataLossError("checkpoint " + dir + " is malformed: " + e.what());
  }
  if (format == kSequentialFormat) {
    MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Sequential> m, LoadModel(dir));
    return std::unique_ptr<Model>(std::move(m));
  }
  if (format == kGraphFormat) {
    MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<GraphModel> m, LoadGraphModel(dir));
    return std::unique_ptr<Model>(std::move(m));
  }
  return absl::DataLossError(dir + "/architecture.json has format '" + format + "'; expected " +
                             kSequentialFormat + " or " + kGraphFormat);
}

}  // namespace mlcore::nn
