// Data-parallel training from C++: start it as several ranks (`mlcore launch --nproc-per-node 2
// ddp_train`, torchrun, or a PyTorchJob) and each joins the group from its environment, trains
// on its share of the data and keeps identical weights. Alone (no RANK/WORLD_SIZE) it trains as
// a group of one. Rank 0 prints the final loss and a digest of the weights; every rank prints
// its digest, which must agree. Exits non-zero if anything fails.
#include <mlcore/mlcore.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <vector>

#include "two_class_mlp.h"

namespace {

namespace nn = mlcore::nn;
namespace dist = mlcore::dist;

// Sum of the weights' bits as a cheap fingerprint: identical copies print the same number.
absl::StatusOr<uint64_t> WeightsDigest(const nn::Model& model) {
  uint64_t digest = 0;
  for (const mlcore::Parameter* p : model.parameters()) {
    MLCORE_ASSIGN_OR_RETURN(std::vector<float> values, mlcore::ToVector<float>(p->value));
    for (float v : values) {
      digest = digest * 1099511628211ull + static_cast<uint64_t>(std::llround(v * 1e6f));
    }
  }
  return digest;
}

absl::Status Run() {
  MLCORE_ASSIGN_OR_RETURN(dist::ProcessGroup group, dist::InitFromEnv());
  const int rank = group.env.rank, world = group.env.world_size;

  // The same data on every rank (Fit shards it by rank): y = 1 when x0 + x1 > 0.
  const int n = 256;
  std::vector<float> xs(n * 2);
  std::vector<int64_t> ys(n);
  for (int i = 0; i < n; ++i) {
    xs[2 * i] = static_cast<float>((i * 37) % 17) / 8.0f - 1.0f;
    xs[2 * i + 1] = static_cast<float>((i * 11) % 13) / 6.0f - 1.0f;
    ys[i] = xs[2 * i] + xs[2 * i + 1] > 0 ? 1 : 0;
  }
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor x, mlcore::Tensor::FromVector(xs, {n, 2}));
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor y, mlcore::Tensor::FromVector(ys, {n}));

  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<nn::Sequential> model, TwoClassMlp(1e-2));
  MLCORE_RETURN_IF_ERROR(model->Build({2}, /*seed=*/rank));  // DataParallel copies rank 0's

  nn::FitOptions fit;
  fit.epochs = 15;
  fit.batch_size = 32;
  MLCORE_ASSIGN_OR_RETURN(fit.strategy, dist::DataParallel::Create(group.comm));
  MLCORE_ASSIGN_OR_RETURN(nn::History history, model->Fit(x, y, fit));
  const std::vector<double>& loss = history.metrics.at("loss");
  MLCORE_ASSIGN_OR_RETURN(uint64_t digest, WeightsDigest(*model));
  std::cout << "rank " << rank << "/" << world << " weights " << digest << "\n";
  if (rank == 0) std::cout << "loss " << loss.front() << " -> " << loss.back() << "\n";
  if (!(loss.back() < loss.front())) return absl::InternalError("the loss did not fall");
  return absl::OkStatus();
}

}  // namespace

int main() {
  absl::Status status = Run();
  if (!status.ok()) {
    std::cerr << "ddp_train: " << mlcore::StatusText(status) << "\n";
    return 1;
  }
  return 0;
}
