"""Weight sharing in graph models from Python: one layer object applied at several nodes is
one set of weights (listed, trained and saved once, gradients of every use summed), and a
Siamese model trains, saves and loads back predicting identically."""

import json

import numpy as np
import pytest

import mlcore
from mlcore import nn
from test_nn_graph import two_inputs as pairs


def siamese(seed=0):
    g = nn.GraphBuilder()
    a, b = g.input((4,), name="a"), g.input((4,), name="b")
    tower = nn.Dense(16)
    ha, hb = g.apply(tower, a), g.apply(tower, b)
    out = g.apply(nn.Dense(2), g.apply(nn.ReLU(), g.concatenate([ha, hb])))
    return g.build([a, b], [out], seed=seed), tower


def test_shared_layer_is_one_set_of_weights():
    model, tower = siamese()
    assert sum(layer is tower for layer in model.layers) == 1
    assert len(model.layers) == 3  # tower, relu, head
    assert model.num_parameters == (4 * 16 + 16) + (32 * 2 + 2)
    names = sorted(model.weights())
    assert names == sorted([f"{tower.name}.kernel", f"{tower.name}.bias", *[
        n for n in names if not n.startswith(tower.name + ".")]])
    assert len(names) == 4


def test_gradient_hook_fires_once_per_shared_parameter():
    model, tower = siamese()
    model.compile(optimizer=mlcore.optim.SGD(0.1))
    seen = []
    model.core.set_grad_ready_hook(lambda name, grad: seen.append(name))
    a, b, y = pairs(32, 0)
    model.fit([a, b], y, epochs=1, batch_size=32)
    assert sorted(seen) == sorted(model.weights())
    assert seen[-2:] == [f"{tower.name}.kernel", f"{tower.name}.bias"]  # finished last


def test_swapped_inputs_give_the_same_sum_through_a_shared_tower():
    g = nn.GraphBuilder()
    a, b = g.input((3,), name="a"), g.input((3,), name="b")
    tower = nn.Dense(2)
    model = g.build([a, b], [g.add([g.apply(tower, a), g.apply(tower, b)])], seed=3)
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    np.testing.assert_allclose(model.predict([xa, xb]), model.predict([xb, xa]), rtol=1e-6)


def test_siamese_model_trains_saves_and_loads(tmp_path):
    a, b, y = pairs(512, 1)
    va, vb, vy = pairs(256, 2)
    model, tower = siamese()
    model.compile(optimizer=mlcore.optim.Adam(1e-2), metrics=["accuracy"])
    history = model.fit([a, b], y, epochs=15, batch_size=32, validation_data=([va, vb], vy))
    assert history.history["val_accuracy"][-1] > 0.9
    model.save(tmp_path / "ckpt")
    arch = json.loads((tmp_path / "ckpt" / "architecture.json").read_text())
    assert [n["shares"] for n in arch["nodes"] if "shares" in n] == [
        next(i for i, n in enumerate(arch["nodes"]) if n["name"] == tower.name)]
    tensors, _ = nn.read_safetensors(tmp_path / "ckpt" / "model.safetensors")
    assert sorted(tensors) == sorted(model.weights())
    back = nn.load(tmp_path / "ckpt")
    assert back.num_parameters == model.num_parameters
    np.testing.assert_array_equal(back.predict([va, vb]), model.predict([va, vb]))
    back.fit([a, b], y, epochs=1)


def test_shared_layer_on_different_shapes_names_both_nodes():
    g = nn.GraphBuilder()
    a, b = g.input((4,), name="a"), g.input((5,), name="b")
    tower = nn.Dense(3)
    ha, hb = g.apply(tower, a), g.apply(tower, b)
    with pytest.raises(ValueError, match=r"same input shape.*\[4\].*\[5\]"):
        g.build([a, b], [g.concatenate([ha, hb])])


def test_tied_embedding_reads_two_integer_token_inputs():
    # Does the second sequence start with the same token as the first? One embedding table
    # serves both inputs (int32 and int64 ids), so its rows get gradients from both uses.
    rng = np.random.default_rng(3)
    left = rng.integers(0, 12, size=(512, 2)).astype(np.int32)
    right = rng.integers(0, 12, size=(512, 2))
    right[::2, 0] = left[::2, 0]
    labels = (left[:, 0] == right[:, 0]).astype(np.int64)
    g = nn.GraphBuilder()
    a, b = g.input((2,), name="left"), g.input((2,), name="right")
    embed = nn.Embedding(12, 8)
    ha = g.apply(nn.Flatten(), g.apply(embed, a))
    hb = g.apply(nn.Flatten(), g.apply(embed, b))
    h = g.apply(nn.ReLU(), g.apply(nn.Dense(32), g.concatenate([ha, hb])))
    model = g.build([a, b], [g.apply(nn.Dense(2), h)], seed=2)
    assert model.num_parameters == 12 * 8 + (32 * 32 + 32) + (32 * 2 + 2)
    model.compile(optimizer=mlcore.optim.Adam(1e-2), metrics=["accuracy"])
    history = model.fit([left, right], labels, epochs=25, batch_size=32)
    assert history.history["accuracy"][-1] > 0.95
