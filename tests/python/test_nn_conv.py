"""mlcore.nn convolutional layers from Python: a conv net on the digits, checkpoints with
BatchNorm buffers, inference on running statistics, Embedding errors, per-axis stride / padding /
dilation against a direct computation."""

import numpy as np
import pytest

import mlcore.nn as nn
import mlcore.optim as optim


@pytest.fixture(scope="module")
def digits(digits):
    """conftest's digits split as [N, 1, 8, 8] images."""
    x, y, xv, yv = digits
    return x.reshape(-1, 1, 8, 8), y, xv.reshape(-1, 1, 8, 8), yv


def conv_net():
    return nn.Sequential([
        nn.Conv2d(16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(out_channels=32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dense(10),
    ])


def test_conv_net_reaches_97_percent_on_digits(digits, tmp_path):
    x, y, xt, yt = digits
    model = conv_net()
    model.compile(optimizer=optim.Adam(2e-3), loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, seed=1)
    assert history.history["loss"][-1] < history.history["loss"][0] / 5
    result = model.evaluate(xt, yt)
    assert result["accuracy"] >= 0.97, result
    assert [layer.type for layer in model.layers][:3] == ["conv2d", "relu", "max_pool2d"]
    assert model.layers[0].output_shape == [16, 8, 8]
    assert model.layers[3].weights()["conv2d_3.kernel"].shape == (32, 16, 3, 3)

    model.save(tmp_path / "ckpt")
    loaded = nn.load(tmp_path / "ckpt")
    np.testing.assert_array_equal(model.predict(xt), loaded.predict(xt))


def test_batch_norm_predicts_from_running_statistics_and_round_trips(digits, tmp_path):
    x, y, xt, yt = digits
    model = nn.Sequential([
        nn.Conv2d(8, 3, padding=1, use_bias=False), nn.BatchNorm2d(), nn.ReLU(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Dense(32), nn.BatchNorm1d(momentum=0.2), nn.ReLU(),
        nn.Dense(10),
    ])
    model.compile(optimizer=optim.Adam(3e-3), loss="cross_entropy", metrics=["accuracy"])
    model.fit(x, y, epochs=5, batch_size=64, seed=2)
    assert model.evaluate(xt, yt)["accuracy"] >= 0.93
    bn = model.layers[1]
    buffers = {k: np.array(v) for k, v in bn.buffers().items()}
    assert set(buffers) == {"batch_norm2d_1.running_mean", "batch_norm2d_1.running_var"}
    assert "batch_norm2d_1.running_mean" not in model.weights()
    assert np.abs(buffers["batch_norm2d_1.running_mean"]).max() > 0

    # Inference is a fixed affine map per channel: one sample predicts the same alone or in a
    # batch (batch statistics would make it depend on the other samples).
    alone = model.predict(xt[:1])
    in_batch = model.predict(xt[:50])[:1]
    np.testing.assert_allclose(alone, in_batch, rtol=1e-5, atol=1e-5)
    # And the running statistics are what it uses: scaling them changes the outputs.
    before = model.predict(xt[:10])
    running_var = np.asarray(bn.buffers()["batch_norm2d_1.running_var"])  # the layer's memory
    running_var *= 4.0
    assert not np.allclose(before, model.predict(xt[:10]))
    running_var /= 4.0
    np.testing.assert_allclose(before, model.predict(xt[:10]), rtol=1e-6)

    model.save(tmp_path / "bn")
    loaded = nn.load(tmp_path / "bn")
    np.testing.assert_array_equal(model.predict(xt), loaded.predict(xt))
    np.testing.assert_array_equal(np.array(loaded.layers[1].buffers()[
        "batch_norm2d_1.running_var"]), np.array(bn.buffers()["batch_norm2d_1.running_var"]))


def test_shape_errors_name_layer_and_shapes():
    model = nn.Sequential([nn.Conv2d(4, 3), nn.Flatten(), nn.Dense(2)])
    with pytest.raises(ValueError, match=r"conv2d_0.*\[2, 2\]|\[2, 2\].*conv2d_0"):
        model.predict(np.zeros((3, 2, 2), np.float32))
    model = nn.Sequential([nn.MaxPool2d(2)])
    model.build([1, 8, 8])
    with pytest.raises(ValueError, match=r"max_pool2d_0.*\[-1, 1, 8, 8\].*\[2, 3, 8, 8\]"):
        model.predict(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(4, (3, 0))
    with pytest.raises(ValueError):
        nn.BatchNorm1d(momentum=2.0)


def test_embedding_classifies_tokens_and_rejects_out_of_range():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, size=(256, 3))
    labels = (ids[:, 0] % 4).astype(np.int64)
    model = nn.Sequential([nn.Embedding(20, 8), nn.Flatten(), nn.Dense(4)])
    model.compile(optimizer=optim.Adam(5e-2), loss="cross_entropy", metrics=["accuracy"])
    model.fit(ids.astype(np.float32), labels, epochs=20, batch_size=32)
    assert model.evaluate(ids.astype(np.float32), labels)["accuracy"] >= 0.99
    bad = ids.astype(np.float32).copy()
    bad[5, 1] = 20
    with pytest.raises(ValueError, match=r"embedding_0.*index 20.*vocabulary of 20"):
        model.predict(bad)


def test_rectangular_and_grouped_convolutions_train_and_round_trip(digits, tmp_path):
    x, y, xt, yt = digits
    model = nn.Sequential([
        nn.Conv2d(16, (3, 5), padding=2), nn.ReLU(),
        nn.Conv2d(16, 3, padding=1, groups=4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dense(10),
    ])
    model.compile(optimizer=optim.Adam(2e-3), loss="cross_entropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, seed=1)
    assert model.evaluate(xt, yt)["accuracy"] >= 0.95
    # (8 + 4 - 3) + 1 = 10 rows, (8 + 4 - 5) + 1 = 8 columns.
    assert model.layers[0].output_shape == [16, 10, 8]
    assert model.layers[0].weights()["conv2d_0.kernel"].shape == (16, 1, 3, 5)
    assert model.layers[2].weights()["conv2d_2.kernel"].shape == (16, 4, 3, 3)
    model.save(tmp_path / "ckpt")
    loaded = nn.load(tmp_path / "ckpt")
    np.testing.assert_array_equal(loaded.predict(xt), model.predict(xt))


def test_group_errors_are_value_errors():
    with pytest.raises(ValueError, match="groups=2"):
        nn.Conv2d(5, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(4, (3, 3, 3))
    model = nn.Sequential([nn.Conv2d(4, 3, groups=2), nn.Flatten(), nn.Dense(2)])
    model.compile(optimizer=optim.SGD(0.1), loss="cross_entropy")
    with pytest.raises(ValueError, match="3 input channels"):
        model.fit(np.zeros((4, 3, 6, 6), np.float32), np.zeros(4, np.int64), epochs=1)


def _naive_conv(x, w, b, stride, padding, dilation):
    """Direct cross-correlation with per-axis (h, w) stride, padding and dilation."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), np.float64)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
            cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
            patch = xp[:, :, rows, cols]
            y[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w) + b
    return y


def _naive_pool(x, kernel, stride, is_max):
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = win.max(axis=(2, 3)) if is_max else win.mean(axis=(2, 3))
    return y


def test_per_axis_conv_and_pool_match_direct_computation(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 10, 12)).astype(np.float32)
    model = nn.Sequential([
        nn.Conv2d(8, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
        nn.MaxPool2d((2, 3), stride=(2, 1)),
    ])
    model.build([3, 10, 12])
    # (10 + 2 - 3) // 2 + 1 = 5 rows, (12 + 4 - 9) + 1 = 8 columns; pooled (5-2)//2+1, (8-3)+1.
    assert model.layers[0].output_shape == [8, 5, 8]
    assert model.layers[1].output_shape == [8, 2, 6]
    weights = model.layers[0].weights()
    w, b = np.array(weights["conv2d_0.kernel"]), np.array(weights["conv2d_0.bias"])
    conv = _naive_conv(x, w, b, (2, 1), (1, 2), (1, 2))
    np.testing.assert_allclose(model.predict(x), _naive_pool(conv, (2, 3), (2, 1), True),
                               rtol=1e-4, atol=1e-4)
    avg = nn.Sequential([nn.AvgPool2d((3, 2), stride=(1, 2))])
    np.testing.assert_allclose(avg.predict(x), _naive_pool(x, (3, 2), (1, 2), False),
                               rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "ckpt")
    loaded = nn.load(tmp_path / "ckpt")
    assert loaded.layers[0].output_shape == [8, 5, 8]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("make, pattern", [
    (lambda: nn.Conv2d(4, 3, stride=(2, 0)), "Conv2d: stride along width must be >= 1, got 0"),
    (lambda: nn.Conv2d(4, 3, padding=(-1, 0)), "Conv2d: padding along height must be >= 0"),
    (lambda: nn.Conv2d(4, 3, dilation=(1, -2)), "Conv2d: dilation along width"),
    (lambda: nn.MaxPool2d((2, 2), stride=(0, 1)), "MaxPool2d: stride along height"),
    (lambda: nn.AvgPool2d((2, 4), padding=(2, 0)), "AvgPool2d: padding along height"),
    (lambda: nn.MaxPool2d((2, 2, 2)), "MaxPool2d: kernel_size must be an int or an"),
])
def test_bad_per_axis_values_name_layer_and_axis(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()
