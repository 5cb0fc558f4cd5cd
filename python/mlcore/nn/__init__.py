"""mlcore.nn: train models in the Keras style on mlcore's C++ core.

    model = mlcore.nn.Sequential([mlcore.nn.Dense(256), mlcore.nn.ReLU(), mlcore.nn.Dense(10)])
    model.compile(optimizer=mlcore.optim.Adam(1e-3), loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=64, validation_data=(xv, yv))

Layers, the training loop, callbacks and checkpoints are C++ (``mlcore._mlcore.nn``); this
package converts numpy / DLPack inputs and wraps results.
"""

from .._mlcore import nn as _nn
from .callbacks import (
    EarlyStopping,
    HPOReporter,
    ModelCheckpoint,
    ProgressBar,
    SummaryWriter,
    TensorBoard,
)
from .data import Dataset
from .graph import GraphBuilder, GraphModel
from .model import History, Model, Sequential, load

Layer = _nn.Layer


def Dense(units, use_bias=True) -> Layer:
    """y = x W + b, W of shape [in, units]; the input size is learnt from the first batch."""
    return _nn.dense(units, use_bias)


def ReLU() -> Layer:
    return _nn.relu()


def GELU() -> Layer:
    """The exact (erf) GELU, as PyTorch's default."""
    return _nn.gelu()


def Tanh() -> Layer:
    return _nn.tanh()


def Sigmoid() -> Layer:
    return _nn.sigmoid()


def Softmax() -> Layer:
    """Softmax over the last axis (train classifiers on logits with loss="cross_entropy")."""
    return _nn.softmax()


def Flatten() -> Layer:
    return _nn.flatten()


def Dropout(rate, seed=0) -> Layer:
    """Inverted dropout, active only in fit; the mask stream is seeded."""
    return _nn.dropout(rate, seed)


def LayerNorm(eps=1e-5) -> Layer:
    """Normalises over the last axis, then scales and shifts (learnt gamma, beta)."""
    return _nn.layer_norm(eps)


def Conv2d(filters=None, kernel_size=None, stride=1, padding=0, dilation=1, use_bias=True, *,
           out_channels=None, groups=1) -> Layer:
    """2-D convolution over NCHW images; ``kernel_size`` is an int or a (kh, kw) pair.

    ``filters`` (Keras) or ``out_channels`` (PyTorch) output channels; the input channels are
    learnt from the first batch. ``groups`` splits both channel counts into that many blocks
    (each must divide by it). Output [N, filters, (H + 2p - d(kh-1) - 1) // s + 1, ...].
    """
    if out_channels is not None:
        if filters is not None and filters != out_channels:
            raise ValueError(f"Conv2d: filters={filters} and out_channels={out_channels} differ")
        filters = out_channels
    if filters is None or kernel_size is None:
        raise TypeError("Conv2d needs filters (or out_channels) and kernel_size")
    if isinstance(kernel_size, (tuple, list)):
        if len(kernel_size) != 2:
            raise ValueError(f"kernel_size must be an int or a (kh, kw) pair, got {kernel_size!r}")
        kh, kw = int(kernel_size[0]), int(kernel_size[1])
    else:
        kh = kw = int(kernel_size)
    return _nn.conv2d(filters, kh, _square(stride, "stride"), _square(padding, "padding"),
                      _square(dilation, "dilation"), use_bias, int(groups), kw)


def MaxPool2d(kernel_size, stride=None, padding=0) -> Layer:
    """Max over kernel_size x kernel_size windows (stride defaults to the window, as PyTorch)."""
    return _nn.max_pool2d(_square(kernel_size, "kernel_size"),
                          0 if stride is None else _square(stride, "stride"),
                          _square(padding, "padding"))


def AvgPool2d(kernel_size, stride=None, padding=0) -> Layer:
    """Mean over kernel_size x kernel_size windows; padded zeros count in the divisor."""
    return _nn.avg_pool2d(_square(kernel_size, "kernel_size"),
                          0 if stride is None else _square(stride, "stride"),
                          _square(padding, "padding"))


def BatchNorm1d(momentum=0.1, eps=1e-5) -> Layer:
    """Batch normalisation of [N, C] inputs; running statistics are used by predict/evaluate."""
    return _nn.batch_norm1d(momentum, eps)


def BatchNorm2d(momentum=0.1, eps=1e-5) -> Layer:
    """Per-channel batch normalisation of [N, C, H, W] inputs."""
    return _nn.batch_norm2d(momentum, eps)


def Embedding(num_embeddings, dim) -> Layer:
    """Integer indices (int32/int64, or whole-number float32) -> rows of a [num_embeddings, dim]
    table; an index out of range raises ValueError naming it."""
    return _nn.embedding(num_embeddings, dim)


def _square(value, what):
    """An int, or a pair of equal ints (only square windows are supported)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f"{what} must be an int or a pair of equal ints, got {value!r}")
        value = value[0]
    return int(value)


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: array or Tensor} to a safetensors file, atomically."""
    from .model import _as_tensor

    _nn.write_safetensors(str(path), {k: _as_tensor(v) for k, v in tensors.items()},
                          metadata or {})


def read_safetensors(path):
    """({name: mlcore.Tensor}, metadata) of a safetensors file."""
    return _nn.read_safetensors(str(path))


__all__ = ["AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dataset", "Dense", "Dropout",
           "EarlyStopping", "Embedding", "Flatten", "GELU", "GraphBuilder", "GraphModel",
           "History", "HPOReporter", "Layer", "LayerNorm", "load", "MaxPool2d", "Model",
           "ModelCheckpoint", "ProgressBar", "read_safetensors", "ReLU", "Sequential", "Sigmoid",
           "Softmax", "SummaryWriter", "Tanh", "TensorBoard", "write_safetensors"]
