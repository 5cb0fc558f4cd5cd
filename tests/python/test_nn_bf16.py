"""bf16 mixed precision from Python: fit(precision="bf16") trains the digits MLP to the same
accuracy as float32, on the CPU (the exact emulation) and on CUDA (tensor cores; skipped
without a GPU), with float32 weights; bad precision names are ValueErrors."""

import numpy as np
import pytest

import mlcore
import mlcore.nn as nn
import mlcore.optim as optim


def mlp():
    model = nn.Sequential([nn.Dense(256), nn.ReLU(), nn.Dense(256), nn.ReLU(), nn.Dense(10)])
    model.compile(optimizer=optim.Adam(1e-3), loss="cross_entropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_bf16_digits_mlp_reaches_97_percent(digits, device):
    if device == "cuda" and not mlcore.cuda.is_available():
        pytest.skip("no CUDA device")
    x, y, xt, yt = digits
    model = mlp()
    history = model.fit(x, y, epochs=20, batch_size=64, seed=1, device=device, precision="bf16")
    assert history.history["loss"][-1] < history.history["loss"][0] / 10
    assert model.evaluate(xt, yt)["accuracy"] >= 0.97
    for array in model.layers[0].weights().values():
        assert np.asarray(array).dtype == np.float32


def test_bf16_differs_from_float32_by_bf16_rounding_only(digits):
    x, y, _, _ = digits
    a, b = mlp(), mlp()
    ha = a.fit(x[:256], y[:256], epochs=1, batch_size=64, shuffle=False)
    hb = b.fit(x[:256], y[:256], epochs=1, batch_size=64, shuffle=False, precision="bf16")
    la, lb = ha.history["loss"][0], hb.history["loss"][0]
    assert la != lb
    assert abs(la - lb) < 0.02 * la


def test_bf16_fit_on_a_dataset(digits):
    x, y, xt, yt = digits
    data = nn.Dataset.from_tensors(x, y).shuffle(len(x), 0).batch(64)
    model = mlp()
    history = model.fit(data, epochs=10, precision="bf16")
    assert history.history["loss"][-1] < history.history["loss"][0] / 5
    assert model.evaluate(xt, yt)["accuracy"] >= 0.95


def test_unknown_precision_is_a_value_error(digits):
    x, y, _, _ = digits
    with pytest.raises(ValueError, match="precision"):
        mlp().fit(x[:64], y[:64], epochs=1, precision="fp8")
    data = nn.Dataset.from_tensors(x[:64], y[:64]).batch(32)
    with pytest.raises(ValueError, match="fp8"):
        mlp().fit(data, epochs=1, precision="fp8")
