"""Non-float model inputs: int32/int64 index arrays for Embedding models (arrays and Dataset
batches), graph models with inputs of different dtypes, and a ValueError naming the input when
its dtype is not one the consuming layer takes."""

import numpy as np
import pytest

import mlcore
from mlcore import nn


def tokens(n, seed, dtype):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 20, size=(n, 3)).astype(dtype)
    return ids, (ids[:, 0] % 4).astype(np.int64)


def embedding_model():
    model = nn.Sequential([nn.Embedding(20, 8), nn.Flatten(), nn.Dense(4)])
    model.compile(optimizer=mlcore.optim.Adam(5e-2), loss="cross_entropy",
                  metrics=["accuracy"])
    return model


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int16])
def test_embedding_model_trains_on_integer_arrays(dtype):
    ids, labels = tokens(256, 0, dtype)
    model = embedding_model()
    model.fit(ids, labels, epochs=20, batch_size=32, validation_data=(ids[:64], labels[:64]))
    assert model.evaluate(ids, labels)["accuracy"] >= 0.99
    np.testing.assert_array_equal(model.predict(ids[:8]),
                                  model.predict(ids[:8].astype(np.float32)))


def test_embedding_model_trains_on_an_integer_dataset():
    ids, labels = tokens(256, 1, np.int32)
    ds = nn.Dataset.from_tensors(ids, labels).shuffle(256, seed=0).batch(32)
    first_x, _ = next(iter(ds))
    assert first_x.dtype == np.int32  # indices stay integers through the pipeline
    model = embedding_model()
    model.fit(ds, epochs=20)
    assert model.evaluate(ds)["accuracy"] >= 0.99


def test_graph_model_with_token_and_float_inputs():
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 10, size=(512, 2))  # int64
    extra = rng.normal(size=(512, 3))          # float64 -> float32
    labels = ((ids[:, 0] % 2 == 0) ^ (extra[:, 0] > 0)).astype(np.int64)
    g = nn.GraphBuilder()
    t, f = g.input((2,), name="tokens"), g.input((3,), name="features")
    h = g.concatenate([g.apply(nn.Flatten(), g.apply(nn.Embedding(10, 4), t)),
                       g.apply(nn.Dense(8), f)])
    out = g.apply(nn.Dense(2), g.apply(nn.ReLU(), g.apply(nn.Dense(32), g.apply(nn.ReLU(), h))))
    model = g.build([t, f], [out], seed=1)
    model.compile(optimizer=mlcore.optim.Adam(1e-2), metrics=["accuracy"])
    history = model.fit([ids, extra], labels, epochs=30, batch_size=32)
    assert history.history["accuracy"][-1] > 0.9
    assert model.predict([ids[:4], extra[:4]]).shape == (4, 2)
    ds = nn.Dataset.from_tensors((ids, extra), labels).batch(64)
    assert model.evaluate(ds)["accuracy"] == pytest.approx(
        model.evaluate([ids, extra], labels)["accuracy"])


def test_integer_input_to_a_dense_first_layer_names_the_input():
    model = nn.Sequential([nn.Dense(4)])
    model.compile(optimizer=mlcore.optim.SGD(0.1))
    with pytest.raises(ValueError, match=r"input has dtype int64.*dense.*float32"):
        model.fit(np.ones((8, 3), np.int64), np.zeros(8, np.int64))
    g = nn.GraphBuilder()
    a, b = g.input((3,), name="a"), g.input((3,), name="b")
    out = g.apply(nn.Dense(2), g.concatenate([g.apply(nn.Dense(3), a),
                                              g.apply(nn.Dense(3, use_bias=False), b)]))
    graph = g.build([a, b], [out])
    with pytest.raises(ValueError, match=r"graph input 'b' has dtype int32"):
        graph.predict([np.ones((2, 3)), np.ones((2, 3), np.int32)])


def test_mixed_dtypes_in_an_add_node_name_the_node():
    g = nn.GraphBuilder()
    a, b = g.input((3,), name="a"), g.input((3,), name="b")
    model = g.build([a, b], [g.apply(nn.Dense(1), g.add([a, b], name="sum"))])
    with pytest.raises(ValueError, match=r"add node 'sum'.*'b'.*int64"):
        model.predict([np.ones((2, 3)), np.ones((2, 3), np.int64)])


def test_input_dtype_mlcore_cannot_hold_is_a_type_error_naming_it():
    model = nn.Sequential([nn.Dense(2)])
    model.compile(optimizer=mlcore.optim.SGD(0.1))
    with pytest.raises(TypeError, match=r"complex64"):
        model.fit(np.ones((4, 3), np.complex64), np.zeros(4, np.int64))
