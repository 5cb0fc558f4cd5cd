"""Weight tying from Python: GraphBuilder.attend(embedding, node) is a language-model head that
multiplies by the embedding's transposed table. The table is one parameter (counted, trained
and saved once, read back by the safetensors package); a toy next-token model learns; the
checkpoint reloads predicting bit-identically; wiring errors are ValueErrors naming the node."""

import numpy as np
import pytest

import mlcore.nn as nn
import mlcore.optim as optim

VOCAB, DIM = 16, 12


def tied_model(seed=0):
    g = nn.GraphBuilder()
    token = g.input((1,), name="token")
    emb = nn.Embedding(VOCAB, DIM)
    emb.name = "tokens"
    h = g.apply(nn.Flatten(), g.apply(emb, token))
    h = g.apply(nn.Tanh(), g.apply(nn.Dense(DIM), h))
    model = g.build(token, g.attend(emb, h, name="head"), seed=seed)
    model.compile(optimizer=optim.Adam(0.05), loss="cross_entropy", metrics=["accuracy"])
    return model


def next_token_data(n):
    x = (np.arange(n) % VOCAB).astype(np.int64).reshape(-1, 1)
    return x, (5 * x[:, 0] + 3) % VOCAB


def test_the_table_is_one_parameter():
    model = tied_model()
    names = sorted(model.weights())
    assert names == ["dense_3.bias", "dense_3.kernel", "tokens.embeddings"]
    assert model.num_parameters == VOCAB * DIM + DIM * DIM + DIM
    assert model.output_names == ["head"]


def test_next_token_model_learns_and_reloads_bit_identically(tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    model = tied_model(seed=1)
    x, y = next_token_data(320)
    history = model.fit(x, y, epochs=30, batch_size=32)
    assert history.history["loss"][-1] < history.history["loss"][0] / 5
    assert model.evaluate(x, y)["accuracy"] == 1.0
    model.save(tmp_path / "lm")
    saved = safetensors.load_file(str(tmp_path / "lm" / "model.safetensors"))
    assert sorted(saved) == ["dense_3.bias", "dense_3.kernel", "tokens.embeddings"]
    assert np.array_equal(saved["tokens.embeddings"], model.weights()["tokens.embeddings"])
    again = nn.load(tmp_path / "lm")
    assert np.array_equal(again.predict(x), model.predict(x))


def test_both_uses_train_the_table():
    # Tokens 0..7 are only ever targets, never inputs: their rows of the table move only
    # through the head's gradient.
    model = tied_model(seed=2)
    before = model.weights()["tokens.embeddings"]
    x = np.full((64, 1), 8, dtype=np.int64) + (np.arange(64) % 8).reshape(-1, 1)
    y = np.arange(64) % 8
    model.fit(x, y, epochs=2, batch_size=16)
    after = model.weights()["tokens.embeddings"]
    assert not np.array_equal(before[:8], after[:8])
    assert not np.array_equal(before[8:], after[8:])


def test_wiring_errors_name_the_node():
    g = nn.GraphBuilder()
    i = g.input((4,))
    out = g.attend(nn.Dense(4), i, name="head")
    with pytest.raises(ValueError, match="'head' needs an Embedding"):
        g.build(i, out)
    g = nn.GraphBuilder()
    i = g.input((4,))
    out = g.attend(nn.Embedding(VOCAB, 4), i, name="head")
    with pytest.raises(ValueError, match="not applied at an earlier node"):
        g.build(i, out)
