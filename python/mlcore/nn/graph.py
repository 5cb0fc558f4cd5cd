"""Graph models: layers wired as a graph (several inputs and outputs, residual adds,
concatenation, layers shared between branches), the Keras functional style on mlcore's C++
GraphModel.

    g = mlcore.nn.GraphBuilder()
    a, b = g.input((8,), name="a"), g.input((4,), name="b")
    h = g.apply(mlcore.nn.Dense(16), a)
    h = g.add([h, g.apply(mlcore.nn.Dense(16), g.apply(mlcore.nn.ReLU(), h))])
    out = g.apply(mlcore.nn.Dense(2), g.concatenate([h, g.apply(mlcore.nn.Dense(8), b)]))
    model = g.build(inputs=[a, b], outputs=[out])
    model.compile(optimizer=mlcore.optim.Adam(1e-3), loss="cross_entropy", metrics=["accuracy"])
    model.fit([xa, xb], y, epochs=10)

Applying one layer object at several nodes shares its weights (Siamese towers):

    tower = mlcore.nn.Dense(16)
    ha, hb = g.apply(tower, a), g.apply(tower, b)

A language-model head tied to its input embedding (PyTorch ``head.weight = emb.weight``):

    emb = mlcore.nn.Embedding(vocab, 32)
    h = g.apply(mlcore.nn.Dense(32), g.apply(emb, tokens))
    logits = g.attend(emb, h)          # h @ emb's table^T, the table shared
"""

import numpy as np

from .. import _mlcore
from ._arrays import _as_list, _input_tensor, _targets
from .layer import Layer, _core_layer
from .model import Model


def _core():
    return _mlcore.nn_models


class GraphBuilder:
    """Records nodes; each node can only use nodes made before it, so there are no cycles.
    Wiring errors (shapes, unknown or unused inputs) are raised by ``build`` as ValueError
    naming the node."""

    def __init__(self):
        self._builder = _core().GraphBuilder()
        self._python_layers = {}

    def input(self, shape, name=""):
        """A model input with per-sample ``shape`` (no batch axis)."""
        return self._builder.input([int(d) for d in shape], name)

    def apply(self, layer, inputs):
        """``layer`` applied to a node. Applying the same layer again shares its weights: they
        are trained, listed and saved once, with the gradients of every use summed (each use
        needs the same input shape). A later use's node is named "<layer>:<k>"."""
        if isinstance(layer, Layer) and not isinstance(layer, _mlcore.nn.Layer):
            # One C++ layer per Python layer object, so applying it again shares its weights.
            layer = self._python_layers.setdefault(id(layer), (layer, _core_layer(layer)))[1]
        return self._builder.apply(layer, _as_list(inputs))

    def add(self, inputs, name=""):
        """Elementwise sum of nodes of the same shape (a residual connection)."""
        return self._builder.add(list(inputs), name)

    def concatenate(self, inputs, axis=-1, name=""):
        """Nodes joined along per-sample ``axis``."""
        return self._builder.concatenate(list(inputs), int(axis), name)

    def attend(self, embedding, input, name=""):
        """``input`` [..., dim] times the transposed table of ``embedding`` (an Embedding
        applied at an earlier node): [..., num_embeddings] logits that share the table, which
        is trained, counted and saved once with the gradients of both uses summed."""
        return self._builder.attend(embedding, input, name)

    def build(self, inputs, outputs, seed=0):
        """The GraphModel from ``inputs`` to ``outputs``, weights drawn from ``seed``."""
        return GraphModel(self._builder.finish(_as_list(inputs), _as_list(outputs), int(seed)))


class GraphModel(Model):
    """A model of layers wired as a graph, trained like Sequential. ``x`` is an array or a
    list of arrays (one per input, in the order given to ``build``; float inputs become
    float32, integer ones stay integer for an Embedding), ``y`` likewise per output;
    ``predict`` returns an array, or a list of arrays for several outputs."""

    @property
    def input_names(self):
        return self._model.input_names

    @property
    def output_names(self):
        return self._model.output_names

    def _x(self, x):
        return [_input_tensor(v) for v in _as_list(x)]

    def _y(self, y):
        return [_targets(v, self._loss) for v in _as_list(y)]

    def _outputs(self, out):
        outs = [np.asarray(t) for t in out]
        return outs[0] if len(outs) == 1 else outs

    def __repr__(self):
        return f"GraphModel(inputs={self.input_names}, outputs={self.output_names})"
