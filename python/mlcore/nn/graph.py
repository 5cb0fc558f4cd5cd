"""Graph models: layers wired as a graph (several inputs and outputs, residual adds,
concatenation), the Keras functional style on mlcore's C++ GraphModel.

    g = mlcore.nn.GraphBuilder()
    a, b = g.input((8,), name="a"), g.input((4,), name="b")
    h = g.apply(mlcore.nn.Dense(16), a)
    h = g.add([h, g.apply(mlcore.nn.Dense(16), g.apply(mlcore.nn.ReLU(), h))])
    out = g.apply(mlcore.nn.Dense(2), g.concatenate([h, g.apply(mlcore.nn.Dense(8), b)]))
    model = g.build(inputs=[a, b], outputs=[out])
    model.compile(optimizer=mlcore.optim.Adam(1e-3), loss="cross_entropy", metrics=["accuracy"])
    model.fit([xa, xb], y, epochs=10)
"""

import os

import numpy as np

from .. import _mlcore
from .model import History, _inputs, _is_dataset, _fit_dataset, _targets


def _core():
    return _mlcore.nn_models


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


class GraphBuilder:
    """Records nodes; each node can only use nodes made before it, so there are no cycles.
    Wiring errors (shapes, unknown or unused inputs) are raised by ``build`` as ValueError
    naming the node."""

    def __init__(self):
        self._builder = _core().GraphBuilder()

    def input(self, shape, name=""):
        """A model input with per-sample ``shape`` (no batch axis)."""
        return self._builder.input([int(d) for d in shape], name)

    def apply(self, layer, inputs):
        """``layer`` applied to a node (each layer once per graph)."""
        return self._builder.apply(layer, _as_list(inputs))

    def add(self, inputs, name=""):
        """Elementwise sum of nodes of the same shape (a residual connection)."""
        return self._builder.add(list(inputs), name)

    def concatenate(self, inputs, axis=-1, name=""):
        """Nodes joined along per-sample ``axis``."""
        return self._builder.concatenate(list(inputs), int(axis), name)

    def build(self, inputs, outputs, seed=0):
        """The GraphModel from ``inputs`` to ``outputs``, weights drawn from ``seed``."""
        return GraphModel(self._builder.finish(_as_list(inputs), _as_list(outputs), int(seed)))


class GraphModel:
    """A model of layers wired as a graph, trained like Sequential. ``x`` is an array or a
    list of arrays (one per input, in the order given to ``build``), ``y`` likewise per output;
    ``predict`` returns an array, or a list of arrays for several outputs."""

    def __init__(self, core):
        self._model = core
        self._loss = "cross_entropy"
        if core.compiled:
            self._loss = None

    @property
    def core(self):
        """The C++ ``mlcore._mlcore.nn_models.GraphModel`` (for custom training loops)."""
        return self._model

    @property
    def input_names(self):
        return self._model.input_names

    @property
    def output_names(self):
        return self._model.output_names

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
    def device(self):
        return self._model.device

    def to(self, device):
        self._model.to(device)
        return self

    def compile(self, optimizer, loss="cross_entropy", metrics=(), schedule=None,
                clip_grad_norm=0.0, on_non_finite="stop", loss_weights=None):
        """As Sequential.compile; with several outputs the loss applies to each and the total
        is their sum weighted by ``loss_weights``."""
        if on_non_finite not in ("stop", "skip"):
            raise ValueError(f"on_non_finite must be 'stop' or 'skip', got {on_non_finite!r}")
        self._model.compile(optimizer, loss, list(metrics), schedule, clip_grad_norm,
                            on_non_finite == "skip", list(loss_weights or []))
        self._loss = loss

    def _x(self, x):
        return [_inputs(v) for v in _as_list(x)]

    def _y(self, y):
        return [_targets(v, self._loss) for v in _as_list(y)]

    def _validation_lists(self, validation_data):
        vx, vy = validation_data
        return self._x(vx), self._y(vy)

    def fit(self, x, y=None, epochs=1, batch_size=32, validation_data=None, device="cpu",
            callbacks=(), shuffle=True, seed=0, initial_epoch=None, verbose=0):
        """Trains and returns a History; ``x`` may be a batched mlcore.nn.Dataset."""
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
            vx, vy = self._validation_lists(validation_data)
        raw = self._model.fit(self._x(x), self._y(y), epochs, batch_size, shuffle, seed, vx, vy,
                              callbacks, device, start)
        return History(raw)

    def evaluate(self, x, y=None, batch_size=256):
        """{"loss": ..., "accuracy": ..., per output "<name>_loss" when several}."""
        if _is_dataset(x):
            return _core().evaluate_dataset(self._model, x._core)
        return self._model.evaluate(self._x(x), self._y(y), batch_size)

    def predict(self, x, batch_size=256):
        outs = [np.asarray(t) for t in self._model.predict(self._x(x), batch_size)]
        return outs[0] if len(outs) == 1 else outs

    def weights(self):
        return {k: np.array(v) for k, v in self._model.weights().items()}

    def save(self, directory):
        """Writes the checkpoint directory atomically (as Sequential.save); mlcore.nn.load
        gives the model back."""
        self._model.save(os.fspath(directory))

    def __repr__(self):
        return f"GraphModel(inputs={self.input_names}, outputs={self.output_names})"
