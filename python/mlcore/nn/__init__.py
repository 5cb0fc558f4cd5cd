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
from ._load import load
from .layer import Layer, Weight
from .model import History, Model, Sequential



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
    """2-D convolution over NCHW images.

    ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are each an int or an (h, w) pair,
    as in PyTorch: ``Conv2d(8, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2))``.
    ``filters`` (Keras) or ``out_channels`` (PyTorch) output channels; the input channels are
    learnt from the first batch. ``groups`` splits both channel counts into that many blocks
    (each must divide by it). Output [N, filters, (H + 2ph - dh(kh-1) - 1) // sh + 1, ...].
    ``padding="valid"`` is no padding; ``padding="same"`` gives ceil(H / sh) rows (H at stride
    1, PyTorch's "same"; Keras' rule at larger strides), padding one more on the bottom/right
    when the effective kernel is even.
    """
    if out_channels is not None:
        if filters is not None and filters != out_channels:
            raise ValueError(f"Conv2d: filters={filters} and out_channels={out_channels} differ")
        filters = out_channels
    if filters is None or kernel_size is None:
        raise TypeError("Conv2d needs filters (or out_channels) and kernel_size")
    padding, mode = _padding(padding, "Conv2d")
    return _nn.conv2d(filters, _pair(kernel_size, "Conv2d", "kernel_size"),
                      _pair(stride, "Conv2d", "stride"), padding,
                      _pair(dilation, "Conv2d", "dilation"), use_bias, int(groups), mode)


def MaxPool2d(kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False) -> Layer:
    """Max over kh x kw windows; each argument an int or an (h, w) pair, e.g.
    ``MaxPool2d((2, 3), stride=(2, 1))``. stride defaults to the window, as in PyTorch;
    ``dilation`` and ``ceil_mode`` are PyTorch's (ceil_mode keyword-only: PyTorch has
    return_indices in that position); ``padding`` may also be "valid" or "same" (Keras' rule:
    ceil(H / stride) rows)."""
    padding, mode = _padding(padding, "MaxPool2d")
    return _nn.max_pool2d(_pair(kernel_size, "MaxPool2d", "kernel_size"),
                          None if stride is None else _pair(stride, "MaxPool2d", "stride"),
                          padding, _pair(dilation, "MaxPool2d", "dilation"), bool(ceil_mode),
                          mode)


def AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
              divisor_override=None) -> Layer:
    """Mean over kh x kw windows (ints or (h, w) pairs), divided as PyTorch does: padded zeros
    count in the divisor unless ``count_include_pad=False`` (use that for Keras' "same"
    averages); ``divisor_override`` replaces the divisor. ``padding`` may be "valid" / "same"."""
    padding, mode = _padding(padding, "AvgPool2d")
    return _nn.avg_pool2d(_pair(kernel_size, "AvgPool2d", "kernel_size"),
                          None if stride is None else _pair(stride, "AvgPool2d", "stride"),
                          padding, bool(ceil_mode), bool(count_include_pad),
                          0 if divisor_override is None else _positive(divisor_override),
                          mode)


def GlobalAveragePooling2D() -> Layer:
    """The mean of each channel's plane: [N, C, H, W] -> [N, C] (Keras' layer)."""
    return _nn.global_avg_pool2d()


def GlobalMaxPooling2D() -> Layer:
    """The maximum of each channel's plane: [N, C, H, W] -> [N, C] (Keras' layer)."""
    return _nn.global_max_pool2d()


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


def _padding(value, layer):
    """(padding pair, mode): a "valid" / "same" string becomes a mode (checked in C++), numbers
    a pair with mode ""."""
    if isinstance(value, str):
        if not value:
            raise ValueError(f'{layer}: padding must be a number, an (h, w) pair, "valid" or '
                             f'"same", got ""')
        return (0, 0), value
    return _pair(value, layer, "padding"), ""


def _positive(value):
    value = int(value)
    if value <= 0:
        raise ValueError(f"AvgPool2d: divisor_override must be positive, got {value}")
    return value


def _pair(value, layer, what):
    """An int (used for both axes) or an (h, w) pair, as a tuple of two ints. The values are
    range-checked in C++, whose errors name the axis."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{layer}: {what} must be an int or an (h, w) pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: array or Tensor} to a safetensors file, atomically."""
    from ._arrays import _as_tensor

    _nn.write_safetensors(str(path), {k: _as_tensor(v) for k, v in tensors.items()},
                          metadata or {})


def read_signature(path):
    """A checkpoint's {"inputs": [{"name", "dtype", "shape"}], "outputs": [...]}, read without
    loading the model (derived by loading it for checkpoints saved before signatures were)."""
    from .._mlcore import nn_models

    return nn_models.read_signature(str(path))


def read_safetensors(path):
    """({name: mlcore.Tensor}, metadata) of a safetensors file."""
    return _nn.read_safetensors(str(path))


__all__ = ["AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dataset", "Dense", "Dropout",
           "EarlyStopping", "Embedding", "Flatten", "GELU", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "GraphBuilder", "GraphModel",
           "History", "HPOReporter", "Layer", "LayerNorm", "load", "MaxPool2d", "Model",
           "ModelCheckpoint", "ProgressBar", "read_safetensors", "read_signature", "ReLU", "Sequential", "Sigmoid",
           "Softmax", "SummaryWriter", "Tanh", "TensorBoard", "write_safetensors"]
