"""Layers written in Python (mlcore.nn.Layer subclasses): gradients against central
differences, training inside Sequential and graph models, save and load, and the errors a user
meets when a layer returns the wrong thing."""

import threading

import numpy as np
import pytest

import mlcore
import mlcore.nn as nn


class Scale(nn.Layer):
    """y = x * s + b per feature."""

    def __init__(self, init=1.0):
        super().__init__()
        self.init = init

    def build(self, input_shape):
        self.s = self.add_weight("s", input_shape, initializer=self.init)
        self.b = self.add_weight("b", input_shape)
        return input_shape

    def forward(self, x, training):
        if training:
            self.x = x.copy()
        return x * self.s.value + self.b.value

    def backward(self, grad):
        self.s.grad = (grad * self.x).sum(axis=0)
        self.b.grad = grad.sum(axis=0)
        return grad * self.s.value

    def get_config(self):
        return {"init": self.init}


class Swish(nn.Layer):
    """x * sigmoid(x): no weights, a nonlinear backward."""

    def forward(self, x, training):
        self.x = x.copy()
        return x / (1 + np.exp(-x))

    def backward(self, grad):
        sig = 1 / (1 + np.exp(-self.x))
        return grad * (sig + self.x * sig * (1 - sig))


def _weights(layer):
    return {k: np.asarray(v) for k, v in layer.weights().items()}


def test_gradients_match_central_differences():
    # A Dense before the Python layers, so their input gradients are checked through its
    # weights' gradients; Swish (no weights) is checked through the Scale weights before it.
    rng = np.random.default_rng(0)
    model = nn.Sequential([nn.Dense(4), Scale(0.7), Swish(), nn.Dense(3)])
    model.build((4,), seed=1)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    g = rng.normal(size=(5, 3))
    _weights(model.layers[1])["scale_1.b"][...] = rng.normal(size=4)
    params = {**_weights(model.layers[0]), **_weights(model.layers[1])}
    snapshot = {k: v.copy() for layer in model.layers for k, v in _weights(layer).items()}

    def restore():
        for layer in model.layers:
            for k, v in _weights(layer).items():
                v[...] = snapshot[k]

    def f():
        return float((model.predict(x, batch_size=len(x)).astype(np.float64) * g).sum())

    # One SGD step with lr=1 on mse against y = out - g * numel / 2, whose output gradient is
    # exactly g, moves each weight by -d/dw sum(g * out).
    out = model.predict(x, batch_size=len(x))
    y = (out - g * out.size / 2).astype(np.float32)
    model.compile(optimizer=mlcore.optim.SGD(1.0), loss="mse")
    model.train_on_batch(x, y)
    analytic = {k: snapshot[k] - v for k, v in params.items()}
    restore()
    for name, w in params.items():
        numeric = np.zeros(w.shape)
        for i in range(w.size):
            old = float(w.flat[i])
            w.flat[i] = old + 1e-2
            up = f()
            w.flat[i] = old - 1e-2
            down = f()
            w.flat[i] = old
            numeric.flat[i] = (up - down) / 2e-2
        np.testing.assert_allclose(analytic[name], numeric, rtol=2e-2, atol=2e-3, err_msg=name)
    assert set(params) == {"dense_0.kernel", "dense_0.bias", "scale_1.s", "scale_1.b"}


def test_trains_inside_sequential_and_graph_models():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 3)).astype(np.float32)
    y = (x @ np.array([[2.0], [-1.0], [0.5]]) + 0.3).astype(np.float32)
    model = nn.Sequential([Scale(0.5), nn.Dense(1)])
    model.compile(optimizer=mlcore.optim.Adam(0.05), loss="mse")
    first = model.evaluate(x, y)["loss"]
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert model.evaluate(x, y)["loss"] < first / 20
    assert "scale_0.s" in model.layers[0].weights()
    assert model.layers[0].init == 0.5  # the Python object's attributes read through
    assert "Python Scale" in repr(model.layers[0])

    g = nn.GraphBuilder()
    a = g.input((3,), name="a")
    shared = Scale(1.0)
    h = g.add([g.apply(shared, a), g.apply(shared, a)])  # the same object twice shares weights
    out = g.apply(nn.Dense(1), h)
    graph = g.build(inputs=[a], outputs=[out])
    graph.compile(optimizer=mlcore.optim.Adam(0.05), loss="mse")
    graph.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert graph.evaluate(x, y)["loss"] < first / 20
    assert sum(1 for layer in graph.layers if layer.type == "scale") == 1


def test_saves_and_loads_with_the_class_defined(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=64)
    model = nn.Sequential([Scale(2.0), Swish(), nn.Dense(3)])
    model.compile(optimizer="adam", loss="cross_entropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "m")
    loaded = nn.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.layers[0].init == 2 and loaded.layers[0].type == "scale"

    # Redefining the class (a notebook cell run again) replaces what loading builds.
    class SwishRedefined(nn.Layer):
        layer_type = "swish"

        def forward(self, x, training):
            return np.zeros_like(x)

    bias = np.asarray(model.layers[2].weights()["dense_2.bias"])
    np.testing.assert_allclose(nn.load(tmp_path / "m").predict(x), np.broadcast_to(bias, (64, 3)),
                               atol=1e-6)

    class SwishAgain(Swish):  # the module's behaviour back under its name
        layer_type = "swish"

    np.testing.assert_array_equal(nn.load(tmp_path / "m").predict(x), model.predict(x))


def test_errors_name_the_layer_and_what_was_wrong():
    class WrongShape(nn.Layer):
        def forward(self, x, training):
            return np.zeros((len(x), 7), np.float32)

    model = nn.Sequential([WrongShape()])
    with pytest.raises(ValueError, match=r"wrong_shape_0.*forward returned float32 of shape "
                                         r"\[2, 7\]; expected float32 of shape \[2, 3\]"):
        model.predict(np.zeros((2, 3), np.float32))

    class Raises(nn.Layer):
        def forward(self, x, training):
            raise ZeroDivisionError("boom in forward")

    with pytest.raises(RuntimeError, match="ZeroDivisionError.*boom in forward"):
        nn.Sequential([Raises()]).predict(np.zeros((2, 3), np.float32))

    class NoBackward(nn.Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", input_shape, initializer="ones")

        def forward(self, x, training):
            return x * self.w.value

    frozen = nn.Sequential([NoBackward(), nn.Dense(1)])
    np.testing.assert_allclose(frozen.predict(np.ones((2, 3), np.float32)).shape, (2, 1))
    frozen.compile(optimizer="sgd", loss="mse")
    with pytest.raises(Exception, match="no backward step"):
        frozen.fit(np.ones((4, 3), np.float32), np.ones((4, 1), np.float32), epochs=1, verbose=0)

    class Text(nn.Layer):
        def __init__(self, mode="a"):
            super().__init__()
            self.mode = mode

        def forward(self, x, training):
            return x

        def get_config(self):
            return {"mode": self.mode}

    with pytest.raises(ValueError, match=r"Text.get_config\(\) must map names to numbers "
                                         r"\(saved in the model's architecture\); 'mode' is "
                                         r"'a'"):
        nn.Sequential([Text()])

    with pytest.raises(ValueError, match="taken by a built-in layer"):
        class Dense(nn.Layer):  # noqa: F841
            def forward(self, x, training):
                return x

    with pytest.raises(TypeError):
        nn.Layer()  # forward is abstract

    # A Python exception inside a step surfaces as RuntimeError naming the layer, the step
    # and the original exception (as a fit callback's does).
    with pytest.raises(RuntimeError, match="layer 'bad_init': build raised ValueError: weight "
                                           "'w': unknown initializer 'uniformish'"):
        class BadInit(nn.Layer):
            def build(self, input_shape):
                self.add_weight("w", input_shape, initializer="uniformish")

            def forward(self, x, training):
                return x
        nn.Sequential([BadInit()]).build((3,))


def test_builtin_layers_are_layers_too():
    assert isinstance(nn.Dense(3), nn.Layer)
    assert isinstance(Scale(), nn.Layer)
    assert not isinstance(Scale(), mlcore._mlcore.nn.Layer)


def test_trains_off_the_main_thread_and_stops_cleanly():
    # fit runs without the GIL; the layer's calls take it from the training thread.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(128, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True).astype(np.float32)
    model = nn.Sequential([Scale(), nn.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    errors = []

    def run():
        try:
            model.fit(x, y, epochs=5, batch_size=16, verbose=0)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    for _ in range(50):
        model.layers[0].init  # the main thread keeps using Python meanwhile
    t.join(timeout=60)
    assert not t.is_alive() and not errors
