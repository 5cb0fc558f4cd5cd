// What a C++ application does with mlcore: tensors and kernels, build information, and the
// metadata and artifact stores under $MLCORE_HOME. Exits non-zero if anything fails.
#include <mlcore/mlcore.h>

#include <cstdio>
#include <iostream>

namespace {

absl::Status Run() {
  mlcore::BuildInfo info = mlcore::GetBuildInfo();
  std::cout << "mlcore " << info.version << " (" << info.compiler << "), CUDA "
            << (info.cuda_enabled ? "built in" : "not built")
            << ", devices: " << info.cuda_device_count;
  if (info.cuda_device_count == 0) std::cout << " (" << info.cuda_unavailable_reason << ")";
  std::cout << "\n";

  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor x,
                          mlcore::Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor y, mlcore::Tensor::Zeros({2, 3}, mlcore::DType::kFloat32));
  MLCORE_RETURN_IF_ERROR(mlcore::ops::Fill(y, 0.5));
  MLCORE_RETURN_IF_ERROR(mlcore::ops::Axpy(2.0, x, y));  // y = 0.5 + 2x
  MLCORE_ASSIGN_OR_RETURN(double total, mlcore::ops::SumToDouble(y));
  std::cout << "sum(0.5 + 2x) = " << total << " over " << y.ToString() << "\n";
  if (total != 45.0) return absl::InternalError("unexpected sum");

  // The wrong shape is an error value, not a crash.
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor z, mlcore::Tensor::Zeros({3, 2}, mlcore::DType::kFloat32));
  auto mismatch = mlcore::ops::Add(x, z);
  std::cout << "add of mismatched shapes: " << mismatch.status().message() << "\n";

  MLCORE_ASSIGN_OR_RETURN(auto metadata, mlcore::store::MetadataStore::Open());
  MLCORE_ASSIGN_OR_RETURN(auto artifacts, mlcore::store::ArtifactStore::Open());
  MLCORE_ASSIGN_OR_RETURN(mlcore::store::Artifact artifact,
                          artifacts->Put("weights would go here"));
  MLCORE_RETURN_IF_ERROR(mlcore::store::RecordArtifact(*metadata, artifact, "text/plain"));
  MLCORE_ASSIGN_OR_RETURN(auto rows, metadata->Query("SELECT COUNT(*) FROM artifacts"));
  std::cout << "store " << metadata->path() << ": artifact " << artifact.digest.substr(0, 12)
            << "... (" << artifact.size << " bytes), " << std::get<int64_t>(rows.at(0).at(0))
            << " artifact row(s)\n";
  return absl::OkStatus();
}

}  // namespace

int main() {
  absl::Status status = Run();
  if (!status.ok()) {
    std::cerr << "quickstart failed: " << mlcore::StatusText(status) << "\n";
    return 1;
  }
  std::cout << "quickstart_cpp: ok\n";
  return 0;
}
