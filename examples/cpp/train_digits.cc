// Trains the MLP 64-256-256-10 on scikit-learn's digits with the installed mlcore only (no
// Python): reads the CSV written by examples/cpp/export_digits.py, streams the training split
// through a shuffled, prefetched Dataset, prints the test accuracy and saves the model.
// Exits non-zero if anything fails or the accuracy is below 97%.
//
//   train_digits_cpp digits.csv [checkpoint_dir]
#include <mlcore/mlcore.h>
#include <mlcore/nn/dataset.h>
#include <mlcore/nn/layers.h>
#include <mlcore/nn/sequential.h>
#include <mlcore/optim/optimizer.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Split {
  std::vector<float> pixels;  // row-major [n, 64], scaled to [0, 1]
  std::vector<int64_t> labels;
};

absl::Status ReadCsv(const std::string& path, Split* train, Split* test) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open " + path + " (write it with export_digits.py)");
  std::string line;
  std::getline(in, line);  // header
  for (int row = 1; std::getline(in, line); ++row) {
    std::stringstream cells(line);
    std::string split, cell;
    std::getline(cells, split, ',');
    Split* out = split == "train" ? train : split == "test" ? test : nullptr;
    if (out == nullptr) {
      return absl::DataLossError(path + " row " + std::to_string(row) + ": bad split '" + split +
                                 "'");
    }
    std::getline(cells, cell, ',');
    out->labels.push_back(std::stoll(cell));
    int n = 0;
    for (; std::getline(cells, cell, ','); ++n) out->pixels.push_back(std::stof(cell) / 16.0f);
    if (n != 64) {
      return absl::DataLossError(path + " row " + std::to_string(row) + ": " + std::to_string(n) +
                                 " pixels, expected 64");
    }
  }
  if (train->labels.empty() || test->labels.empty()) {
    return absl::DataLossError(path + " has no train or no test rows");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<mlcore::Tensor, mlcore::Tensor>> ToTensors(const Split& s) {
  const int64_t n = static_cast<int64_t>(s.labels.size());
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor x, mlcore::Tensor::FromVector(s.pixels, {n, 64}));
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor y, mlcore::Tensor::FromVector(s.labels, {n}));
  return std::make_pair(x, y);
}

absl::StatusOr<double> Run(const std::string& csv, const std::string& checkpoint) {
  namespace nn = mlcore::nn;
  Split train_rows, test_rows;
  MLCORE_RETURN_IF_ERROR(ReadCsv(csv, &train_rows, &test_rows));
  MLCORE_ASSIGN_OR_RETURN(auto train, ToTensors(train_rows));
  MLCORE_ASSIGN_OR_RETURN(auto test, ToTensors(test_rows));

  MLCORE_ASSIGN_OR_RETURN(auto data, nn::Dataset::FromTensors({train.first}, {train.second}));
  MLCORE_ASSIGN_OR_RETURN(data, data->Shuffle(/*buffer_size=*/2048, /*seed=*/0));
  MLCORE_ASSIGN_OR_RETURN(data, data->Batch(64));
  MLCORE_ASSIGN_OR_RETURN(data, data->Prefetch(2));

  // The factories as they return (a bad size would be Build's error).
  nn::Sequential model({nn::Dense(256), nn::ReLU(), nn::Dense(256), nn::ReLU(), nn::Dense(10)});
  MLCORE_RETURN_IF_ERROR(model.Build({64}, /*seed=*/0));
  nn::CompileOptions compile;
  MLCORE_ASSIGN_OR_RETURN(compile.optimizer, mlcore::optim::Adam({.lr = 1e-3}));
  compile.metrics = {"accuracy"};
  MLCORE_RETURN_IF_ERROR(model.Compile(compile));

  nn::FitOptions fit;
  fit.epochs = 20;
  fit.validation_x = test.first;
  fit.validation_y = test.second;
  fit.callbacks = {nn::ProgressLogger(&std::cout)};
  MLCORE_ASSIGN_OR_RETURN(nn::History history, model.Fit(*data, fit));
  MLCORE_ASSIGN_OR_RETURN(nn::Logs logs, model.Evaluate(test.first, test.second));
  std::cout << "trained " << history.epochs_run << " epochs on " << train_rows.labels.size()
            << " images; test loss " << logs["loss"] << "\n";
  if (!checkpoint.empty()) {
    MLCORE_RETURN_IF_ERROR(model.Save(checkpoint));
    MLCORE_ASSIGN_OR_RETURN(auto loaded, nn::LoadModel(checkpoint));
    MLCORE_ASSIGN_OR_RETURN(nn::Logs again, loaded->Evaluate(test.first, test.second));
    if (again["accuracy"] != logs["accuracy"]) {
      return absl::InternalError("the reloaded checkpoint evaluates differently");
    }
    std::cout << "saved to " << checkpoint << " and reloaded\n";
  }
  return logs["accuracy"];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: " << argv[0] << " digits.csv [checkpoint_dir]\n";
    return 2;
  }
  absl::StatusOr<double> accuracy = Run(argv[1], argc == 3 ? argv[2] : "");
  if (!accuracy.ok()) {
    std::cerr << "train_digits failed: " << mlcore::StatusText(accuracy.status()) << "\n";
    return 1;
  }
  std::printf("test accuracy: %.4f\n", *accuracy);
  if (*accuracy < 0.97) {
    std::cerr << "test accuracy below 0.97\n";
    return 1;
  }
  return 0;
}
