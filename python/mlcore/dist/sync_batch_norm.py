"""Synchronized batch normalisation: BatchNorm whose training statistics are the whole group's.

    layers = [nn.Conv2d(16, 3), dist.SyncBatchNorm2d(), nn.ReLU(), ...]
    model = nn.Sequential(layers)            # or nn.Sequential(dist.convert_sync_batchnorm(...))
    model.fit(x, y, strategy=dist.DataParallel())   # prepare connects the layers to the group

Two ranks at batch b then normalise, update running statistics and differentiate exactly as one
process at batch 2b. Outside a DataParallel group the layers are ordinary BatchNorm layers, so
a saved model loads and predicts anywhere. CPU tensors only. The C++ layers are
mlcore::dist::SyncBatchNorm1d/2d (include/mlcore/dist/sync_batch_norm.h).
"""

from __future__ import annotations

from .. import _mlcore


def SyncBatchNorm1d(momentum=0.1, eps=1e-5):
    """Synchronized batch normalisation of [N, C] inputs (layer type "sync_batch_norm1d")."""
    return _mlcore.nn.create_layer("sync_batch_norm1d", {"momentum": momentum, "eps": eps})


def SyncBatchNorm2d(momentum=0.1, eps=1e-5):
    """Synchronized batch normalisation of [N, C, H, W] inputs (type "sync_batch_norm2d")."""
    return _mlcore.nn.create_layer("sync_batch_norm2d", {"momentum": momentum, "eps": eps})


def convert_sync_batchnorm(layers):
    """The same layers with every BatchNorm1d/2d replaced by its synchronized twin (same options
    and name; the other layers are the same objects), as torch's convert_sync_batchnorm. Takes a
    list of layers or an unbuilt Sequential (returns a new Sequential); layers must not be built
    yet (their weights would be lost: ValueError)."""
    from ..nn.model import Sequential

    if isinstance(layers, Sequential):
        return Sequential(_mlcore.dist.convert_sync_batchnorm(list(layers.layers)))
    return _mlcore.dist.convert_sync_batchnorm(list(layers))
