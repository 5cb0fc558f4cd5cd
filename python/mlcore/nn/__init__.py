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
from .model import History, Sequential, load

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
    """Normalises over the last axis, then scales and shifts (learnt gamma, beta). CPU only."""
    return _nn.layer_norm(eps)


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: array or Tensor} to a safetensors file, atomically."""
    from .model import _as_tensor

    _nn.write_safetensors(str(path), {k: _as_tensor(v) for k, v in tensors.items()},
                          metadata or {})


def read_safetensors(path):
    """({name: mlcore.Tensor}, metadata) of a safetensors file."""
    return _nn.read_safetensors(str(path))


__all__ = ["Dense", "Dropout", "EarlyStopping", "Flatten", "GELU", "HPOReporter", "History",
           "Layer", "LayerNorm", "ModelCheckpoint", "ProgressBar", "ReLU", "Sequential",
           "Sigmoid", "Softmax", "SummaryWriter", "Tanh", "TensorBoard", "load",
           "read_safetensors", "write_safetensors"]
