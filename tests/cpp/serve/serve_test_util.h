// Shared pieces of the serving tests: a small saved MLP and request builders.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/serve/model_manager.h"
#include "nn/nn_test_util.h"

namespace mlcore::serve::testing {

// Saves a Dense(8) -> ReLU -> Dense(3) model on 4 features to `dir`, weights from `seed`.
inline std::unique_ptr<nn::Sequential> SaveMlp(const std::string& dir, uint64_t seed = 1) {
  auto model = std::make_unique<nn::Sequential>(
      std::vector<std::shared_ptr<nn::Layer>>{*nn::Dense(8), nn::ReLU(), *nn::Dense(3)});
  EXPECT_TRUE(model->Build({4}, seed).ok());
  EXPECT_TRUE(model->Save(dir).ok());
  return model;
}

inline InferTensor Floats(const std::string& name, const std::vector<float>& values, Dims shape) {
  InferTensor t;
  t.name = name;
  t.datatype = DataType::kFP32;
  t.shape = std::move(shape);
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return t;
}

inline std::vector<float> ToFloats(const InferTensor& t) {
  std::vector<float> out(t.data.size() / sizeof(float));
  std::memcpy(out.data(), t.data.data(), out.size() * sizeof(float));
  return out;
}

inline InferRequest Request(const std::string& model, std::vector<float> x, int64_t rows = 1) {
  InferRequest request;
  request.model_name = model;
  request.inputs.push_back(Floats("input", x, {rows, static_cast<int64_t>(x.size()) / rows}));
  return request;
}

}  // namespace mlcore::serve::testing
