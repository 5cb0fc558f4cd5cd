"""Keras's batch-level API (train_on_batch, test_on_batch, predict_on_batch) on Sequential and
GraphModel: a loop of steps is what fit does, inference leaves the weights alone, errors read
like fit's."""

import numpy as np
import pytest

import mlcore
import mlcore.nn as nn
import mlcore.optim as optim
from mlcore.nn import GraphBuilder
from test_nn import dense_mlp_gradients, hooked_gradients


def mlp(seed=3):
    model = nn.Sequential([nn.Dense(64), nn.ReLU(), nn.Dense(10)])
    model.build([64], seed=seed)
    return model


def convnet(seed=4):
    model = nn.Sequential([nn.Conv2d(6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                           nn.Dense(10)])
    model.build([1, 8, 8], seed=seed)
    return model


def batches(n, size):
    return [(begin, min(n, begin + size)) for begin in range(0, n, size)]


def assert_same_weights(a, b):
    wa, wb = a.weights(), b.weights()
    assert sorted(wa) == sorted(wb)
    for name in wa:
        np.testing.assert_allclose(wa[name], wb[name], rtol=1e-6, atol=1e-7, err_msg=name)


def test_a_loop_of_train_on_batch_is_fit_without_shuffling(digits):
    x, y, _, _ = digits
    stepped, fitted = mlp(), mlp()
    for model in (stepped, fitted):
        model.compile(optimizer=optim.Adam(1e-2), metrics=["accuracy"])
    losses, sizes = [], []
    for begin, end in batches(len(x), 64):  # 21 full batches and one of 56
        losses.append(stepped.train_on_batch(x[begin:end], y[begin:end]))
        sizes.append(end - begin)
    history = fitted.fit(x, y, epochs=1, batch_size=64, shuffle=False)
    assert_same_weights(stepped, fitted)
    assert all(isinstance(loss, float) for loss in losses)
    assert np.average(losses, weights=sizes) == pytest.approx(history.history["loss"][0],
                                                              rel=1e-6)
    # More passes keep lowering the loss.
    for _ in range(3):
        last = [stepped.train_on_batch(x[b:e], y[b:e]) for b, e in batches(len(x), 64)]
    assert np.mean(last) < np.mean(losses) / 2
    logs = stepped.train_on_batch(x[:64], y[:64], return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert 0.0 <= logs["accuracy"] <= 1.0 and logs["accuracy"] > 0.8


def test_bf16_conv_net_steps_match_fit_in_bf16(digits):
    x, y, _, _ = digits
    x, y = x[:200].reshape(-1, 1, 8, 8), y[:200]
    stepped, fitted = convnet(), convnet()
    for model in (stepped, fitted):
        model.compile(optimizer=optim.SGD(0.1, momentum=0.9))
    stepped.precision = "bf16"
    for begin, end in batches(len(x), 32):
        stepped.train_on_batch(x[begin:end], y[begin:end])
    fitted.fit(x, y, epochs=1, batch_size=32, shuffle=False, precision="bf16")
    assert_same_weights(stepped, fitted)
    # And bf16 is really on: float32 steps end elsewhere.
    plain = convnet()
    plain.compile(optimizer=optim.SGD(0.1, momentum=0.9))
    for begin, end in batches(len(x), 32):
        plain.train_on_batch(x[begin:end], y[begin:end])
    kernel = [k for k in plain.weights() if k.endswith(".kernel")][0]
    assert not np.array_equal(plain.weights()[kernel], stepped.weights()[kernel])


def test_test_on_batch_updates_nothing_and_is_evaluate(digits):
    x, y, xt, yt = digits
    model = mlp()
    model.compile(optimizer=optim.Adam(1e-2), metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=64)
    before = model.weights()
    steps = model.optimizer.steps
    loss = model.test_on_batch(xt[:100], yt[:100])
    logs = model.test_on_batch(xt[:100], yt[:100], return_dict=True)
    after = model.weights()
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])
    assert model.optimizer.steps == steps
    expected = model.evaluate(xt[:100], yt[:100])
    assert loss == pytest.approx(expected["loss"], rel=1e-6)
    assert logs == pytest.approx(expected, rel=1e-6)
    assert set(logs) == {"loss", "accuracy"}


def test_predict_on_batch_is_predict(digits):
    x, y, xt, _ = digits
    model = mlp()
    out = model.predict_on_batch(xt[:50])
    assert isinstance(out, np.ndarray) and out.shape == (50, 10)
    np.testing.assert_array_equal(out, model.predict(xt[:50]))
    # float64 and mlcore Tensors / DLPack producers convert as in predict
    np.testing.assert_array_equal(model.predict_on_batch(xt[:50].astype(np.float64)), out)
    np.testing.assert_array_equal(model.predict_on_batch(mlcore.tensor(xt[:50])), out)
    model.compile(optimizer=optim.SGD(0.1))
    assert model.train_on_batch(mlcore.tensor(x[:32]), mlcore.tensor(y[:32])) > 0


def test_gradient_hook_fires_in_train_on_batch(digits):
    x, y, _, _ = digits
    model = mlp()
    seen = hooked_gradients(model)
    model.train_on_batch(x[:32], y[:32])
    assert seen == dense_mlp_gradients(64)
    model.test_on_batch(x[:32], y[:32])
    model.predict_on_batch(x[:32])
    assert len(seen) == 4  # no backward outside training

    def broken(name, grad):
        raise RuntimeError("hook boom")

    model.core.set_grad_ready_hook(broken)
    with pytest.raises(RuntimeError, match="hook boom"):
        model.train_on_batch(x[:32], y[:32])


def two_headed(seed=5):
    g = GraphBuilder()
    a, b = g.input((64,), name="pixels"), g.input((4,), name="extra")
    h = g.apply(nn.Dense(32), a)
    h = g.concatenate([g.apply(nn.ReLU(), h), g.apply(nn.Dense(8), b)])
    digit = g.apply(nn.Dense(10), h)
    parity = g.apply(nn.Dense(2), h)
    return g.build(inputs=[a, b], outputs=[digit, parity], seed=seed)


def test_graph_model_takes_lists_and_reports_each_output(digits):
    x, y, _, _ = digits
    extra = np.random.default_rng(1).normal(size=(len(x), 4)).astype(np.float32)
    stepped, fitted = two_headed(), two_headed()
    for model in (stepped, fitted):
        model.compile(optimizer=optim.Adam(1e-3), metrics=["accuracy"], loss_weights=[1.0, 0.5])
    xs, ys = [x[:96], extra[:96]], [y[:96], y[:96] % 2]
    for begin, end in batches(96, 32):
        logs = stepped.train_on_batch([v[begin:end] for v in xs], [v[begin:end] for v in ys],
                                      return_dict=True)
    fitted.fit(xs, ys, epochs=1, batch_size=32, shuffle=False)
    assert_same_weights(stepped, fitted)
    digit, parity = stepped.output_names
    assert set(logs) == {"loss", "accuracy", f"{digit}_loss", f"{digit}_accuracy",
                         f"{parity}_loss", f"{parity}_accuracy"}
    assert logs["loss"] == pytest.approx(logs[f"{digit}_loss"] + 0.5 * logs[f"{parity}_loss"],
                                         rel=1e-6)
    assert logs["accuracy"] == logs[f"{digit}_accuracy"]
    test = stepped.test_on_batch(xs, ys, return_dict=True)
    assert test == pytest.approx(stepped.evaluate(xs, ys), rel=1e-6)
    outs = stepped.predict_on_batch(xs)
    assert [o.shape for o in outs] == [(96, 10), (96, 2)]
    for got, want in zip(outs, stepped.predict(xs)):
        np.testing.assert_array_equal(got, want)


def test_errors_are_fits(digits):
    x, y, _, _ = digits
    model = mlp()
    with pytest.raises(ValueError, match="call Compile before training"):
        model.train_on_batch(x[:8], y[:8])
    with pytest.raises(ValueError, match="call Compile before Evaluate"):
        model.test_on_batch(x[:8], y[:8])
    model.compile(optimizer=optim.SGD(0.1))
    before = model.weights()
    with pytest.raises(ValueError, match=r"dense_0.*\[-1, 64\].*\[8, 10\]"):
        model.train_on_batch(np.zeros((8, 10), np.float32), y[:8])
    with pytest.raises(ValueError, match=r"dense_0.*\[-1, 64\].*\[8, 10\]"):
        model.predict_on_batch(np.zeros((8, 10), np.float32))
    bad = y[:8].copy()
    bad[3] = 10
    with pytest.raises(ValueError, match=r"label 10 at index 3 is out of range \[0, 10\)"):
        model.train_on_batch(x[:8], bad)
    with pytest.raises(ValueError, match=r"label 10 at index 3 is out of range \[0, 10\)"):
        model.test_on_batch(x[:8], bad)
    with pytest.raises(TypeError, match="labels must be int32 or int64"):
        model.train_on_batch(x[:8], y[:8].astype(np.float32))
    with pytest.raises(ValueError, match=r"labels of shape \[7\] do not match output \[8, 10\]"):
        model.train_on_batch(x[:8], y[:7])
    after = model.weights()
    for name in before:  # no failed call stepped the optimizer
        np.testing.assert_array_equal(before[name], after[name])
    graph = two_headed()
    graph.compile(optimizer=optim.SGD(0.1))
    with pytest.raises(ValueError, match="takes 2 input"):
        graph.train_on_batch([x[:8]], [y[:8], y[:8] % 2])
    with pytest.raises(ValueError, match="2 output.*1 target"):
        graph.train_on_batch([x[:8], np.zeros((8, 4), np.float32)], [y[:8]])


def test_non_finite_loss_stops_or_skips(digits):
    x, y, _, _ = digits
    poisoned = x[:16].copy()
    poisoned[0, 0] = np.nan
    model = mlp()
    model.compile(optimizer=optim.SGD(0.1))
    with pytest.raises(ValueError, match="loss is nan"):
        model.train_on_batch(poisoned, y[:16])
    model.compile(optimizer=optim.SGD(0.1), on_non_finite="skip")
    before = model.weights()
    logs = model.train_on_batch(poisoned, y[:16], return_dict=True)
    assert np.isnan(logs["loss"]) and logs["skipped_steps"] == 1
    for name, value in model.weights().items():
        np.testing.assert_array_equal(value, before[name])
    assert model.train_on_batch(x[:16], y[:16], return_dict=True)["skipped_steps"] == 0
