"""What users coming from Keras reach for: optimizers by name, summary(), validation_split,
probabilities from predict_proba, a per-batch progress bar, FileNotFoundError for a missing
checkpoint, TensorBoard's train/validation runs (test_nn.py)."""

import re

import numpy as np
import pytest

import mlcore.nn as nn
from mlcore import optim


@pytest.fixture(scope="module")
def digits():
    sklearn = pytest.importorskip("sklearn.datasets")
    x, y = sklearn.load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int64)


def mlp():
    return nn.Sequential([nn.Dense(32), nn.ReLU(), nn.Dense(10)])


@pytest.mark.parametrize("name,kind,lr", [("adam", "adam", 1e-3), ("Adam", "adam", 1e-3),
                                          ("sgd", "sgd", 0.01), ("adamw", "adamw", 1e-3)])
def test_optimizers_by_name_as_keras_takes_them(digits, name, kind, lr):
    x, y = digits
    model = mlp()
    model.compile(optimizer=name, metrics=["accuracy"])
    assert model.optimizer.name == kind
    assert model.optimizer.lr == pytest.approx(lr)
    model.fit(x[:256], y[:256], epochs=1)


def test_bad_optimizers_are_clear_errors():
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'.*adam"):
        mlp().compile(optimizer="adamax")
    with pytest.raises(TypeError, match="optimizer must be an mlcore.optim optimizer"):
        mlp().compile(optimizer=3)


def test_summary_lists_layers_shapes_and_counts(digits):
    model = mlp()
    model.build([64])
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert "Output Shape" in text and "Param #" in text
    assert re.search(r"dense_0 \(dense\)\s+\(None, 32\)\s+2,080", text), text
    assert re.search(r"\(None, 10\)\s+330", text), text
    assert "Total params: 2,410" in text and "Trainable params: 2,410" in text
    with pytest.raises(ValueError, match="not built"):
        mlp().summary()


def test_validation_split_holds_out_the_last_rows(digits):
    x, y = digits
    model = mlp()
    model.compile(optimizer=optim.Adam(1e-3), metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, validation_split=0.25, shuffle=False, seed=0)
    twin = mlp()
    twin.compile(optimizer=optim.Adam(1e-3), metrics=["accuracy"])
    keep = len(x) - int(len(x) * 0.25)
    expected = twin.fit(x[:keep], y[:keep], epochs=1, shuffle=False, seed=0,
                        validation_data=(x[keep:], y[keep:]))
    assert history.history["val_loss"] == pytest.approx(expected.history["val_loss"])
    assert history.history["loss"] == pytest.approx(expected.history["loss"])
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5)
    with pytest.raises(ValueError, match="not both"):
        model.fit(x, y, validation_split=0.2, validation_data=(x, y))


def test_predict_proba_gives_probabilities(digits):
    x, y = digits
    model = mlp()
    model.compile(optimizer="adam")
    model.fit(x[:512], y[:512], epochs=2)
    p = model.predict_proba(x[:20])
    logits = model.predict(x[:20])
    assert p.shape == (20, 10) and p.dtype == np.float32
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(p, expected, atol=1e-6)
    assert (p.argmax(axis=1) == logits.argmax(axis=1)).all()
    regression = nn.Sequential([nn.Dense(1)])
    regression.compile(optimizer="sgd", loss="mse")
    regression.fit(x[:32], y[:32].astype(np.float32).reshape(-1, 1))
    with pytest.raises(ValueError, match="loss 'mse'"):
        regression.predict_proba(x[:4])


def test_verbose_1_draws_a_bar_per_epoch_with_an_eta(digits, capsys):
    x, y = digits
    model = mlp()
    model.compile(optimizer="adam", metrics=["accuracy"])
    bar = nn.callbacks.BatchProgressBar(epochs=2, refresh=0.0)
    model.fit(x[:640], y[:640], epochs=2, batch_size=64, callbacks=[bar])
    out = capsys.readouterr().out
    frames = out.split("\r")
    assert any("epoch 1/2 [===" in f and "1/10" in f and "ETA" in f for f in frames), out
    assert any("10/10" in f for f in frames)
    assert out.count("\n") == 2  # the epochs' final lines only
    assert re.search(r"epoch 2/2 \[\d+\.\d+s\] - accuracy", out)
    model.fit(x[:128], y[:128], epochs=1, verbose=1)  # epochs count on: this is the third
    assert "epoch 3/3 [" in capsys.readouterr().out
    model.fit(x[:128], y[:128], epochs=2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "\r" not in "".join(lines)
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x[:128], y[:128], verbose=3)


def test_a_python_callback_sees_batches(digits):
    x, y = digits
    seen = []

    class Batches:
        def on_train_batch_end(self, batch, logs):
            seen.append((int(logs["epoch"]), batch, int(logs["batches"]), logs["loss"]))

    model = mlp()
    model.compile(optimizer="adam")
    model.fit(x[:200], y[:200], epochs=2, batch_size=64, callbacks=[Batches()])
    assert [(e, b) for e, b, _, _ in seen] == [(e, b) for e in (0, 1) for b in range(4)]
    assert all(n == 4 and np.isfinite(loss) for _, _, n, loss in seen)


def test_loading_a_missing_checkpoint_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="architecture.json"):
        nn.load(tmp_path / "nope")
