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


def _bf16(a):
    """float32 values rounded to the nearest bfloat16 (ties to even), kept as float32."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32)


def test_model_precision_makes_predict_multiply_in_bf16(digits):
    x, y, xt, yt = digits
    model = nn.Sequential([nn.Dense(10)])
    model.compile(optimizer=optim.Adam(1e-3), loss="cross_entropy", metrics=["accuracy"])
    model.fit(x[:256], y[:256], epochs=1)
    assert model.precision == "float32"
    f32 = model.predict(xt)
    f32_loss = model.evaluate(xt, yt)["loss"]
    model.precision = "bf16"
    assert model.precision == "bf16"
    b16 = model.predict(xt)
    w = model.weights()
    kernel, bias = w["dense_0.kernel"], w["dense_0.bias"]
    # Exactly the product of bf16-rounded operands, summed in float32 (up to summation order).
    want = _bf16(xt) @ _bf16(kernel) + bias
    np.testing.assert_allclose(b16, want, rtol=1e-5, atol=1e-5)
    assert not np.array_equal(b16, f32)
    np.testing.assert_allclose(b16, f32, rtol=0.05, atol=0.05)
    b16_loss = model.evaluate(xt, yt)["loss"]
    assert b16_loss != f32_loss and abs(b16_loss - f32_loss) < 0.01 * f32_loss
    model.precision = "float32"
    assert np.array_equal(model.predict(xt), f32)


def test_fit_precision_overrides_the_model_for_one_call(digits):
    x, y, _, _ = digits

    def trained(model_precision, fit_precision):
        model = mlp()
        model.build((64,), seed=3)
        model.precision = model_precision
        model.fit(x[:128], y[:128], epochs=1, batch_size=64, shuffle=False,
                  precision=fit_precision)
        assert model.precision == model_precision
        return model.weights()["dense_0.kernel"]

    plain = trained("float32", None)
    by_model = trained("bf16", None)
    assert not np.array_equal(plain, by_model)
    assert np.array_equal(trained("float32", "bf16"), by_model)
    assert np.array_equal(trained("bf16", "float32"), plain)


def test_model_precision_is_not_saved_and_bad_names_are_value_errors(digits, tmp_path):
    x, y, xt, _ = digits
    model = mlp()
    model.fit(x[:64], y[:64], epochs=1)
    f32 = model.predict(xt)
    model.precision = "bf16"
    with pytest.raises(ValueError, match="fp8"):
        model.precision = "fp8"
    assert model.precision == "bf16"
    model.save(tmp_path / "ckpt")
    again = nn.load(tmp_path / "ckpt")
    assert again.precision == "float32"
    assert np.array_equal(again.predict(xt), f32)
    g = nn.GraphBuilder()
    i = g.input((64,))
    graph = g.build(i, g.apply(nn.Dense(10), i))
    graph.precision = "bf16"
    assert graph.precision == "bf16"
