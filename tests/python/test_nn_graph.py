"""Graph models from Python: a two-input residual + concatenation model trains, saves and
loads back predicting identically, and wiring errors are ValueErrors naming the node."""

import numpy as np
import pytest

import mlcore
from mlcore import nn
from mlcore.nn.graph import GraphBuilder, GraphModel


def two_inputs(n, seed):
    """n pairs of 4-vectors a, b labelled 1 where a sums higher (shared with the sharing tests)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 4)).astype(np.float32)
    b = rng.normal(size=(n, 4)).astype(np.float32)
    return a, b, (a.sum(1) > b.sum(1)).astype(np.int64)


def residual_model(seed=0):
    g = GraphBuilder()
    a, b = g.input((4,), name="a"), g.input((4,), name="b")
    ha = g.apply(nn.Dense(16), a)
    ha = g.add([ha, g.apply(nn.Dense(16), g.apply(nn.ReLU(), ha))], name="residual")
    h = g.apply(nn.ReLU(), g.concatenate([ha, g.apply(nn.Dense(16), b)]))
    return g.build([a, b], [g.apply(nn.Dense(2), h)], seed=seed)


def test_two_input_graph_trains_saves_and_loads(tmp_path):
    a, b, y = two_inputs(512, 1)
    va, vb, vy = two_inputs(256, 2)
    model = residual_model()
    assert isinstance(model, GraphModel)
    assert model.input_names == ["a", "b"]
    model.compile(optimizer=mlcore.optim.Adam(1e-2), metrics=["accuracy"])
    history = model.fit([a, b], y, epochs=15, batch_size=32, validation_data=([va, vb], vy))
    assert history.epochs_run == 15
    assert history.history["val_accuracy"][-1] > 0.9
    assert model.evaluate([va, vb], vy)["accuracy"] == pytest.approx(
        history.history["val_accuracy"][-1])
    model.save(tmp_path / "ckpt")
    back = nn.load(tmp_path / "ckpt")
    assert isinstance(back, GraphModel)
    np.testing.assert_array_equal(back.predict([va, vb]), model.predict([va, vb]))
    assert back.core.epochs_trained == 15
    back.fit([a, b], y, epochs=1)  # continues with the restored optimizer


def test_several_outputs_and_gradient_hook():
    g = GraphBuilder()
    x = g.input((3,))
    h = g.apply(nn.Dense(8), x)
    out1, out2 = g.apply(nn.Dense(2), h), g.apply(nn.Dense(1), h)
    model = g.build([x], [out1, out2])
    model.compile(optimizer=mlcore.optim.SGD(0.01), loss="mse", loss_weights=[1.0, 2.0])
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(16, 3)).astype(np.float32)
    ys = [rng.normal(size=(16, 2)).astype(np.float32), rng.normal(size=(16, 1)).astype(np.float32)]
    seen = []
    model.core.set_grad_ready_hook(lambda name, grad: seen.append(name))
    history = model.fit(xs, ys, epochs=1, batch_size=16)
    names = model.output_names
    assert set(history.history) >= {"loss", f"{names[0]}_loss", f"{names[1]}_loss"}
    assert sorted(seen) == sorted(model.weights())
    preds = model.predict(xs)
    assert [p.shape for p in preds] == [(16, 2), (16, 1)]


def test_wiring_errors_name_the_node():
    g = GraphBuilder()
    a = g.input((8,), name="a")
    with pytest.raises(ValueError, match=r"'skip'.*'a'.*\[8\].*'dense_1'.*\[16\]"):
        g.build([a], [g.add([g.apply(nn.Dense(16), a), a], name="skip")])
    g = GraphBuilder()
    a, b = g.input((4,), name="a"), g.input((4,), name="b")
    with pytest.raises(ValueError, match="'b'.*not among the model's inputs"):
        g.build([a], [g.add([a, b])])
    g = GraphBuilder()
    a, spare = g.input((4,), name="a"), g.input((4,), name="spare")
    with pytest.raises(ValueError, match="'spare'.*not used"):
        g.build([a, spare], [g.apply(nn.Dense(2), a)])
    g = GraphBuilder()
    a, c = g.input((2, 3), name="a"), g.input((4, 3), name="c")
    with pytest.raises(ValueError, match="'cat'"):
        g.build([a, c], [g.concatenate([a, c], axis=-1, name="cat")])
    model = residual_model()
    model.compile(optimizer=mlcore.optim.Adam(1e-2))
    x = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match="takes 2 input"):
        model.fit([x], np.zeros(4, np.int64))
