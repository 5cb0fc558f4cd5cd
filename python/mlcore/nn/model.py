"""The Python face of mlcore.nn models (Sequential here, GraphModel in graph.py): numpy / DLPack
in, numpy out, or a mlcore.nn.Dataset for data that does not fit in memory."""

import os

import numpy as np

from .. import _mlcore
from .._mlcore import nn as _nn

_FLOAT_TARGET_LOSSES = {"binary_cross_entropy", "bce", "mse", "mean_squared_error"}


def _as_tensor(data, dtype=None):
    """A CPU mlcore Tensor for numpy arrays, DLPack producers and Tensors (copying only to make
    the data contiguous or to convert ``dtype``)."""
    if isinstance(data, _mlcore.Tensor):
        if data.device != "cpu":
            data = data.to("cpu")
        if dtype is None or data.dtype == np.dtype(dtype).name:
            return data
        data = np.asarray(data)
    elif not isinstance(data, np.ndarray) and hasattr(data, "__dlpack__"):
        t = _mlcore.from_dlpack(data)
        return _as_tensor(t, dtype)
    array = np.ascontiguousarray(data, dtype=dtype)
    if np.ndim(data) == 0:
        array = array.reshape(())  # ascontiguousarray makes scalars 1-d
    return _mlcore.from_numpy(array)


def _inputs(x):
    return _as_tensor(x, np.float32)


def _targets(y, loss):
    if loss in _FLOAT_TARGET_LOSSES:
        return _as_tensor(y, np.float32)
    array = y if isinstance(y, np.ndarray) else None
    if array is not None and array.dtype.kind in "iub" and array.dtype not in (np.int32,
                                                                                np.int64):
        return _as_tensor(array, np.int64)
    return _as_tensor(y)  # other dtypes go through unchanged, so the C++ check names them


class History:
    """What ``fit`` returns: ``history`` maps "loss", "accuracy", "val_loss", ... to per-epoch
    lists (as in Keras); ``epochs_run`` and ``stopped_early`` say how training ended."""

    def __init__(self, raw):
        self.history = {k: list(v) for k, v in raw["history"].items()}
        self.epochs_run = raw["epochs_run"]
        self.stopped_early = raw["stopped_early"]

    def __repr__(self):
        return f"History(epochs_run={self.epochs_run}, keys={sorted(self.history)})"


class Sequential:
    """Layers applied in order, trained with compile / fit / evaluate / predict."""

    def __init__(self, layers=(), _model=None):
        self._model = _model if _model is not None else _nn.Sequential(list(layers))
        self._loss = "cross_entropy"
        if self._model.compiled:
            self._loss = None  # restored by load(); targets then go through unconverted

    @property
    def layers(self):
        return self._model.layers

    @property
    def optimizer(self):
        return self._model.optimizer

    @property
    def num_parameters(self):
        return self._model.num_parameters

    @property
    def core(self):
        """The C++ ``mlcore._mlcore.nn.Sequential`` (for custom training loops)."""
        return self._model

    @property
    def device(self):
        return self._model.device

    def to(self, device):
        """Moves the parameters to ``device`` ("cpu", "cuda", "cuda:N") and returns self."""
        self._model.to(device)
        return self

    def add(self, layer):
        self._model.add(layer)

    def build(self, input_shape, seed=0):
        """Builds for per-sample ``input_shape`` (no batch axis), initialising from ``seed``."""
        self._model.build(list(input_shape), seed)

    def compile(self, optimizer, loss="cross_entropy", metrics=(), schedule=None,
                clip_grad_norm=0.0, on_non_finite="stop"):
        """``on_non_finite``: "stop" (fit raises) or "skip" (drop the batch, count it in
        logs["skipped_steps"]) when a loss or gradient norm is NaN or infinite."""
        if on_non_finite not in ("stop", "skip"):
            raise ValueError(f"on_non_finite must be 'stop' or 'skip', got {on_non_finite!r}")
        self._model.compile(optimizer, loss, list(metrics), schedule, clip_grad_norm,
                            on_non_finite == "skip")
        self._loss = loss

    def fit(self, x, y=None, epochs=1, batch_size=32, validation_data=None, device="cpu",
            callbacks=(), shuffle=True, seed=0, initial_epoch=None, verbose=0):
        """Trains and returns a History. ``x`` may be a batched mlcore.nn.Dataset (then ``y``,
        ``batch_size``, ``shuffle`` and ``seed`` are not used: the Dataset does that), and so may
        ``validation_data``. ``verbose=1`` adds a ProgressBar."""
        from .callbacks import ProgressBar

        callbacks = list(callbacks)
        if verbose:
            callbacks.append(ProgressBar(epochs))
        start = self._model.epochs_trained if initial_epoch is None else initial_epoch
        if _is_dataset(x) or _is_dataset(validation_data):
            return _fit_dataset(self, x, y, epochs, batch_size, shuffle, seed, validation_data,
                                callbacks, device, start)
        vx = vy = None
        if validation_data is not None:
            vx, vy = validation_data
            vx, vy = _inputs(vx), _targets(vy, self._loss)
        raw = self._model.fit(_inputs(x), _targets(y, self._loss), epochs, batch_size, shuffle,
                              seed, vx, vy, callbacks, device, start)
        return History(raw)

    def evaluate(self, x, y=None, batch_size=256):
        """{"loss": ..., "accuracy": ...} over (x, y) or a batched Dataset ``x``."""
        if _is_dataset(x):
            return _models().evaluate_dataset(self._model, x._core)
        return self._model.evaluate(_inputs(x), _targets(y, self._loss), batch_size)

    def predict(self, x, batch_size=256):
        """Model outputs (logits for classifiers) as a numpy array."""
        return np.asarray(self._model.predict(_inputs(x), batch_size))

    def weights(self):
        """{parameter name: numpy array} (copies)."""
        return {k: np.array(v) for k, v in self._model.weights().items()}

    def _validation_lists(self, validation_data):
        vx, vy = validation_data
        return [_inputs(vx)], [_targets(vy, self._loss)]

    def save(self, directory):
        """Writes model.safetensors, architecture.json and (when compiled) the optimizer state
        into ``directory``, replacing any previous checkpoint there atomically."""
        self._model.save(os.fspath(directory))

    def load_weights(self, directory):
        """Loads weights saved from the same architecture; anything else raises ValueError and
        leaves this model untouched."""
        self._model.load_weights(os.fspath(directory))

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}])"


def _models():
    return _mlcore.nn_models


def _is_dataset(obj):
    from .data import Dataset

    return isinstance(obj, Dataset)


def _fit_dataset(model, data, y, epochs, batch_size, shuffle, seed, validation_data, callbacks,
                 device, start):
    """fit() for any model when the training or validation data is a Dataset."""
    from .data import Dataset

    if not _is_dataset(data):  # arrays with a Dataset for validation
        data = Dataset.from_tensors(data, y)
        if shuffle:
            data = data.shuffle(data.size, seed)
        data = data.batch(batch_size)
    elif y is not None:
        raise ValueError("fit(dataset): the Dataset holds the targets; do not pass y")
    vds = vx = vy = None
    if _is_dataset(validation_data):
        vds = validation_data._core
    elif validation_data is not None:
        vx, vy = model._validation_lists(validation_data)
    raw = _models().fit_dataset(model._model, data._core, epochs, callbacks, device, start, vds,
                                vx, vy)
    return History(raw)


def _saved_loss(directory):
    import json

    state = os.path.join(os.fspath(directory), "training_state.json")
    with open(state) as f:
        return json.load(f).get("loss", "cross_entropy")


def load(directory):
    """A model saved by ``save`` (a Sequential or a GraphModel, as the checkpoint's
    architecture.json says), with its optimizer state when it was compiled."""
    import json

    try:
        with open(os.path.join(os.fspath(directory), "architecture.json")) as f:
            kind = json.load(f).get("format", "")
    except (OSError, ValueError, AttributeError):
        kind = ""  # the C++ loader raises the error that names what is wrong
    if kind == "mlcore.nn.GraphModel":
        from .graph import GraphModel

        model = GraphModel(_models().load_graph_model(os.fspath(directory)))
    else:
        model = Sequential(_model=_nn.load_model(os.fspath(directory)))
    if model._model.compiled:
        model._loss = _saved_loss(directory)
    return model
