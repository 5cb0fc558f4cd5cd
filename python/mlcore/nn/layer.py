"""Layers written in Python: subclass ``mlcore.nn.Layer`` and define ``build``, ``forward`` and
``backward``; the layer then trains, predicts, saves and loads inside mlcore models like a
built-in one.

    class Scale(mlcore.nn.Layer):
        "y = x * s, one learnt factor per feature."

        def __init__(self, init=1.0):
            super().__init__()
            self.init = init

        def build(self, input_shape):             # per-sample shape, no batch axis
            self.s = self.add_weight("s", input_shape, initializer=self.init)
            return input_shape                    # the per-sample output shape

        def forward(self, x, training):           # x: a float32 numpy array [batch, ...]
            if training:
                self.x = x                        # what backward needs
            return x * self.s.value

        def backward(self, grad):                 # d loss / d output -> d loss / d input
            self.s.grad = (grad * self.x).sum(axis=0)
            return grad * self.s.value

        def get_config(self):                     # numbers that rebuild it: Scale(**config)
            return {"init": self.init}

The parameters live in C++ (the optimiser, checkpoints, summaries and data-parallel training
see them as any layer's); ``weight.value`` and ``weight.grad`` are numpy views of them, valid
during a call. In ``model.layers`` a Python layer appears as its C++ side, which has the
built-in layers' members (``weights()``, ``name``...) and passes any other attribute to the
Python object (``.python_layer`` is the object itself). ``forward`` and ``backward`` run with the GIL, once per batch, so a Python
layer costs a Python call per batch; a layer made of existing layers is faster as a
Sequential or graph model. A layer without ``backward`` can predict but not train.

Saved models store the layer's type (``layer_type``, by default the class name in snake_case)
and ``get_config()``; ``mlcore.nn.load`` rebuilds it with ``from_config`` once the class is
defined (imported) in the loading process, as Keras does with custom objects.
"""

import abc
import re

import numpy as np

from .._mlcore import nn as _nn

_INITIALIZERS = ("zeros", "ones", "glorot_uniform", "he_normal")


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Weight:
    """A parameter of a Python layer: ``value`` and ``grad`` are float32 numpy views of the C++
    tensors (valid inside build/forward/backward). Assigning ``grad`` copies into it."""

    __slots__ = ("name", "shape", "_value", "_grad")

    def __init__(self, name, shape):
        self.name = name
        self.shape = tuple(shape)
        self._value = None
        self._grad = None

    @property
    def value(self):
        if self._value is None:
            raise RuntimeError(f"weight '{self.name}' is only readable while its layer runs "
                               "(build, forward, backward); model.layers[i].weights() "
                               "reads it otherwise")
        return self._value

    @property
    def grad(self):
        if self._grad is None:
            raise RuntimeError(f"weight '{self.name}' has a gradient only inside backward")
        return self._grad

    @grad.setter
    def grad(self, array):
        target = self.grad
        array = np.asarray(array, dtype=np.float32)
        if array.shape != target.shape:
            raise ValueError(f"gradient of weight '{self.name}' must have shape "
                             f"{target.shape}, got {array.shape}")
        target[...] = array

    def __repr__(self):
        return f"Weight({self.name!r}, shape={self.shape})"


class Layer(abc.ABC):
    """Base of every mlcore layer. Built-in layers (Dense, Conv2d...) are C++ objects that are
    instances of it too; subclass it to write a layer in Python (see the module's doc)."""

    layer_type = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "layer_type" not in cls.__dict__ or cls.__dict__["layer_type"] is None:
            cls.layer_type = _snake(cls.__name__)
        _nn.register_python_layer(cls.layer_type, lambda config, c=cls: c.from_config(config)._core())

    def __init__(self):
        self._weights = []

    # -- to override -------------------------------------------------------------------------
    def build(self, input_shape):
        """Creates the weights (``add_weight``) for the per-sample ``input_shape`` (a tuple
        without the batch axis) and returns the per-sample output shape (None: the same)."""
        return None

    @abc.abstractmethod
    def forward(self, x, training):
        """The output for the float32 numpy batch ``x``; ``training`` is True in fit."""

    backward = None  # def backward(self, grad) -> input gradient; sets each weight's grad

    def get_config(self):
        """Numbers that rebuild this layer with ``from_config`` (saved with the model)."""
        return {}

    @classmethod
    def from_config(cls, config):
        """The layer for a saved config: ``cls(**config)``, whole numbers given as ints."""
        return cls(**{k: int(v) if float(v).is_integer() else v for k, v in config.items()})

    # -- for build ---------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer="zeros", seed=None):
        """A new parameter of ``shape`` filled by ``initializer``: "zeros", "ones",
        "glorot_uniform", "he_normal", a number, an array, or ``f(shape, rng) -> array``."""
        if not getattr(self, "_adding", None):
            raise RuntimeError("add_weight is for build(); mlcore calls build when the model is "
                               "built")
        shape = tuple(int(d) for d in np.atleast_1d(shape)) if np.ndim(shape) else (int(shape),)
        value = np.asarray(self._adding(name, list(shape)))
        rng = np.random.default_rng(self._seed if seed is None else seed)
        self._seed += 1
        value[...] = _initial(initializer, shape, rng, name)
        weight = Weight(name, shape)
        weight._value = value
        self._weights.append(weight)
        return weight

    # -- called by the C++ layer (nn/function_layer.h) ---------------------------------------
    def _core(self):
        config = {}
        for key, v in self.get_config().items():
            if isinstance(v, (bool, int, float, np.integer, np.floating)):
                config[key] = float(v)
            else:
                raise ValueError(f"{type(self).__name__}.get_config() must map names to numbers "
                                 f"(saved in the model's architecture); '{key}' is {v!r}")
        return _nn.python_layer_core(self, self.layer_type, config)

    def _mlcore_build(self, add, input_shape, seed):
        self._weights = []
        self._adding, self._seed = add, int(seed)
        try:
            out = self.build(tuple(input_shape))
        finally:
            self._adding = None
            self._detach()
        return list(input_shape) if out is None else [int(d) for d in out]

    def _mlcore_forward(self, x, training, params):
        self._attach(params)
        try:
            return self.forward(np.asarray(x), bool(training))
        finally:
            self._detach()

    def _mlcore_backward(self, grad, input_grad_needed, params):
        self._attach(params)
        try:
            return self.backward(np.asarray(grad))
        finally:
            self._detach()

    def _attach(self, params):
        if len(params) != len(self._weights):
            raise RuntimeError(f"{type(self).__name__} object is used by more than one model; "
                               "create one layer object per model")
        for w, (value, grad) in zip(self._weights, params):
            w._value, w._grad = np.asarray(value), np.asarray(grad)

    def _detach(self):
        for w in self._weights:
            w._value = w._grad = None

    def __repr__(self):
        return f"<mlcore.nn {self.layer_type} (Python {type(self).__name__})>"


def _initial(initializer, shape, rng, name):
    if callable(initializer):
        return np.asarray(initializer(shape, rng), dtype=np.float32)
    if isinstance(initializer, str):
        fan_in = shape[0] if shape else 1
        fan_out = shape[-1] if len(shape) > 1 else fan_in
        if initializer == "zeros":
            return 0.0
        if initializer == "ones":
            return 1.0
        if initializer == "glorot_uniform":
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-limit, limit, shape)
        if initializer == "he_normal":
            return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        raise ValueError(f"weight '{name}': unknown initializer {initializer!r} (known: "
                         f"{', '.join(_INITIALIZERS)}, a number, an array or a function)")
    return np.asarray(initializer, dtype=np.float32)


def _core_layer(layer):
    """The C++ layer for a layer argument: built-in layers as they are, Python ones wrapped."""
    if isinstance(layer, Layer) and not isinstance(layer, _nn.Layer):
        return layer._core()
    return layer


Layer.register(_nn.Layer)
