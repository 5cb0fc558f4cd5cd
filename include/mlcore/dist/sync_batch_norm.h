// Synchronized batch normalisation: BatchNorm1d/2d whose training statistics are those of the
// whole group's batch, not of each rank's share. With small per-rank batches (a conv net at 8
// images per rank) per-rank statistics are noisy and differ between replicas; synchronized ones
// make N ranks at batch b normalise exactly as one process at batch N x b does.
//
// Forward (training): each rank sums its values per channel (count, mean and squared deviations
// about its own mean, in double), the ranks all-gather those three numbers per channel and
// combine them (Chan et al.'s pairwise formula: no cancellation for large offsets), then every
// rank normalises with the global mean and biased variance and updates the running statistics
// with the global unbiased variance, so the running buffers stay identical on every rank.
// Backward: the per-channel sums of dy and dy * xhat are all-reduced, and dx uses the global
// means of both; gamma's and beta's gradients stay local sums, which the data-parallel reducer
// then averages. Inference uses the running statistics and communicates nothing.
//
// A layer without a group (before DataParallel::Prepare, in a single process, or after loading
// a checkpoint elsewhere) is an ordinary BatchNorm. CPU tensors only (the gloo backend);
// the CUDA BatchNorm kernels have no split statistics pass yet.
#pragma once

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/dist/communicator.h"
#include "mlcore/nn/layer.h"
#include "mlcore/nn/layers.h"

namespace mlcore::dist {

// Layer types "sync_batch_norm1d" ([batch, C]) and "sync_batch_norm2d" ([batch, C, H, W]);
// saved architectures rebuild them by name. Same options and parameter names as BatchNorm.
StatusOr<std::shared_ptr<nn::Layer>> SyncBatchNorm1d(nn::BatchNormOptions options = {});
StatusOr<std::shared_ptr<nn::Layer>> SyncBatchNorm2d(nn::BatchNormOptions options = {});

// Whether `layer` is a SyncBatchNorm layer.
bool IsSyncBatchNorm(const nn::Layer& layer);
// Makes a SyncBatchNorm layer compute its statistics over `comm`'s ranks (null: locally again),
// each collective with `timeout`. DataParallel::Prepare does this for every such layer of the
// model. InvalidArgument when `layer` is not a SyncBatchNorm layer.
Status SetSyncBatchNormGroup(nn::Layer& layer, std::shared_ptr<Communicator> comm,
                             absl::Duration timeout = kUseDefaultTimeout);

// The same layers with every BatchNorm1d/2d replaced by a SyncBatchNorm of the same options
// (other layers are the same objects), for building a model from: torch's
// convert_sync_batchnorm before the model exists. FailedPrecondition for a BatchNorm layer that
// is already built (its weights would be lost).
StatusOr<std::vector<std::shared_ptr<nn::Layer>>> ConvertSyncBatchNorm(
    const std::vector<std::shared_ptr<nn::Layer>>& layers);

}  // namespace mlcore::dist
