// The small classifier the C++ examples train on 2-feature points: 16 ReLU units, 2 classes,
// compiled with Adam at `lr` (built by Fit from the data's shape, or by Build).
#pragma once

#include <mlcore/mlcore.h>

#include <memory>

inline absl::StatusOr<std::unique_ptr<mlcore::nn::Sequential>> TwoClassMlp(double lr) {
  namespace nn = mlcore::nn;
  MLCORE_ASSIGN_OR_RETURN(auto hidden, nn::Dense(16));
  MLCORE_ASSIGN_OR_RETURN(auto logits, nn::Dense(2));
  auto model = std::make_unique<nn::Sequential>(
      std::vector<std::shared_ptr<nn::Layer>>{hidden, nn::ReLU(), logits});
  nn::CompileOptions compile;
  MLCORE_ASSIGN_OR_RETURN(compile.optimizer, mlcore::optim::Adam({.lr = lr}));
  MLCORE_RETURN_IF_ERROR(model->Compile(compile));
  return model;
}
