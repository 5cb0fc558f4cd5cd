"""mlcore.nn pooling and padding options from Python against a numpy direct computation:
MaxPool2d's dilation and ceil_mode, AvgPool2d's ceil_mode / count_include_pad /
divisor_override, padding="same" / "valid" on Conv2d and the pools, the global pooling layers in
Sequential and graph models, checkpoints of every option, and the errors."""

import math

import numpy as np
import pytest

import mlcore.nn as nn
import mlcore.optim as optim
from mlcore.nn.graph import GraphBuilder


def _out(size, k, s, d, lo, hi, ceil):
    """PyTorch's pooling output size along one axis."""
    span = d * (k - 1) + 1
    exact = (size + lo + hi - span) / s
    n = (math.ceil(exact) if ceil else math.floor(exact)) + 1
    if ceil and (n - 1) * s >= size + lo:
        n -= 1
    return n


def naive_pool(x, kernel, stride, before=(0, 0), after=None, dilation=(1, 1), ceil=False,
               is_max=True, include_pad=True, divisor=None):
    """Tap by tap: max (padding is -inf) or sum / PyTorch's divisor."""
    after = before if after is None else after
    n, c, h, w = x.shape
    oh = _out(h, kernel[0], stride[0], dilation[0], before[0], after[0], ceil)
    ow = _out(w, kernel[1], stride[1], dilation[1], before[1], after[1], ceil)
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            acc = np.full((n, c), -np.inf) if is_max else np.zeros((n, c))
            real = padded = 0
            for a in range(kernel[0]):
                for b in range(kernel[1]):
                    ih = i * stride[0] - before[0] + a * dilation[0]
                    iw = j * stride[1] - before[1] + b * dilation[1]
                    padded += ih < h + after[0] and iw < w + after[1]
                    if 0 <= ih < h and 0 <= iw < w:
                        real += 1
                        v = x[:, :, ih, iw]
                        acc = np.maximum(acc, v) if is_max else acc + v
            if not is_max:
                acc = acc / (divisor or (padded if include_pad else real))
            y[:, :, i, j] = acc
    return y


def naive_conv(x, w, b, stride, before, out):
    """Cross-correlation with top/left padding `before`; zeros beyond the bottom/right."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    big = np.zeros((n, c, h + before[0] + kh + stride[0] * out[0],
                    wd + before[1] + kw + stride[1] * out[1]))
    big[:, :, before[0]:before[0] + h, before[1]:before[1] + wd] = x
    y = np.zeros((n, f) + tuple(out))
    for i in range(out[0]):
        for j in range(out[1]):
            patch = big[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            y[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w) + b
    return y


@pytest.fixture
def x():
    return np.random.default_rng(5).standard_normal((2, 3, 9, 8)).astype(np.float32)


@pytest.mark.parametrize("kwargs, naive", [
    (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
     dict(kernel=(3, 3), stride=(2, 2), before=(1, 1), ceil=True)),
    (dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1), ceil_mode=True),
     dict(kernel=(2, 3), stride=(1, 2), before=(1, 1), dilation=(2, 1), ceil=True)),
    (dict(kernel_size=2, padding="same"),
     dict(kernel=(2, 2), stride=(2, 2), before=(0, 0), after=(1, 0))),
    (dict(kernel_size=3, stride=2, padding="valid"), dict(kernel=(3, 3), stride=(2, 2))),
])
def test_max_pool_options_match_direct_computation(x, kwargs, naive):
    model = nn.Sequential([nn.MaxPool2d(**kwargs)])
    np.testing.assert_allclose(model.predict(x), naive_pool(x, **naive), rtol=1e-6)


@pytest.mark.parametrize("kwargs, naive", [
    (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
     dict(kernel=(3, 3), stride=(2, 2), before=(1, 1), ceil=True)),
    (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     dict(kernel=(3, 3), stride=(2, 2), before=(1, 1), ceil=True, include_pad=False)),
    (dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), divisor_override=4),
     dict(kernel=(3, 2), stride=(2, 1), before=(1, 0), divisor=4)),
    # Keras' average "same": stride 2 on 9 rows -> 5, padding 0 + 1; padding not counted.
    (dict(kernel_size=2, padding="same", count_include_pad=False),
     dict(kernel=(2, 2), stride=(2, 2), before=(0, 0), after=(1, 0), include_pad=False)),
])
def test_avg_pool_options_match_direct_computation(x, kwargs, naive):
    model = nn.Sequential([nn.AvgPool2d(**kwargs)])
    np.testing.assert_allclose(model.predict(x), naive_pool(x, is_max=False, **naive),
                               rtol=1e-5, atol=1e-6)


def test_same_padded_conv_matches_direct_computation_and_round_trips(x, tmp_path):
    model = nn.Sequential([nn.Conv2d(4, (4, 3), padding="same"),
                           nn.Conv2d(2, 3, stride=2, padding="SAME")])
    model.build([3, 9, 8])
    assert model.layers[0].output_shape == [4, 9, 8]  # stride 1: the input size
    assert model.layers[1].output_shape == [2, 5, 4]  # ceil(9 / 2), ceil(8 / 2)
    w0 = model.layers[0].weights()
    k0, b0 = (np.array(v) for _, v in sorted(w0.items(), key=lambda kv: "bias" in kv[0]))
    # Even kernel 4: 1 row before, 2 after (PyTorch's convention); 3 wide: 1 and 1.
    h0 = naive_conv(x, k0, b0, (1, 1), (1, 1), (9, 8))
    w1 = model.layers[1].weights()
    k1, b1 = (np.array(v) for _, v in sorted(w1.items(), key=lambda kv: "bias" in kv[0]))
    # Stride 2, 9 rows: total (5-1)*2+3-9 = 2 -> 1 before; 8 columns: total 1 -> 0 before.
    expected = naive_conv(h0, k1, b1, (2, 2), (1, 0), (5, 4))
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-4)
    model.save(tmp_path / "ckpt")
    loaded = nn.load(tmp_path / "ckpt")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_every_pool_option_survives_a_checkpoint(x, tmp_path):
    model = nn.Sequential([
        nn.MaxPool2d((2, 3), stride=1, padding=1, dilation=(2, 1), ceil_mode=True),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        nn.AvgPool2d(2, stride=1, divisor_override=3),
        nn.MaxPool2d(2, padding="same"),
    ])
    y = model.predict(x)
    model.save(tmp_path / "pools")
    loaded = nn.load(tmp_path / "pools")
    np.testing.assert_array_equal(loaded.predict(x), y)
    assert [l.output_shape for l in loaded.layers] == [l.output_shape for l in model.layers]


def test_global_pooling_in_sequential_and_graph_models(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 2, 6, 5)).astype(np.float32)
    # Class: which channel has the larger mean; a global average makes that linear.
    y = (x[:, 0].mean(axis=(1, 2)) > x[:, 1].mean(axis=(1, 2))).astype(np.int64)
    avg = nn.Sequential([nn.GlobalAveragePooling2D()])
    np.testing.assert_allclose(avg.predict(x), x.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
    mx = nn.Sequential([nn.GlobalMaxPooling2D()])
    np.testing.assert_array_equal(mx.predict(x), x.max(axis=(2, 3)))

    model = nn.Sequential([nn.Conv2d(4, 3, padding="same"), nn.GlobalAveragePooling2D(),
                           nn.Dense(2)])
    model.compile(optimizer=optim.Adam(1e-2), loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, batch_size=16, seed=1)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.layers[1].type == "global_avg_pool2d"
    assert model.layers[1].output_shape == [4]
    model.save(tmp_path / "seq")
    np.testing.assert_array_equal(nn.load(tmp_path / "seq").predict(x), model.predict(x))

    g = GraphBuilder()
    inp = g.input((2, 6, 5), name="image")
    feats = g.concatenate([g.apply(nn.GlobalAveragePooling2D(), inp),
                           g.apply(nn.GlobalMaxPooling2D(), inp)])
    graph = g.build([inp], [g.apply(nn.Dense(2), feats)], seed=0)
    graph.compile(optimizer=optim.Adam(1e-2), loss="cross_entropy")
    graph.fit(x, y, epochs=2, batch_size=16)
    graph.save(tmp_path / "graph")
    np.testing.assert_array_equal(nn.load(tmp_path / "graph").predict(x), graph.predict(x))


@pytest.mark.parametrize("make, pattern", [
    (lambda: nn.Conv2d(4, 3, padding="full"), 'Conv2d: padding must be .*got "full"'),
    (lambda: nn.MaxPool2d(2, padding=""), "MaxPool2d: padding must be"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), "AvgPool2d: divisor_override must be positive"),
    (lambda: nn.MaxPool2d(2, padding=2, dilation=(2, 1)),
     r"MaxPool2d: padding along height \(2\) must be at most half"),
    (lambda: nn.MaxPool2d(2, dilation=0), "MaxPool2d: dilation along height must be >= 1"),
])
def test_bad_options_are_value_errors_naming_layer_and_values(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_global_pooling_shape_error_names_the_layer():
    model = nn.Sequential([nn.GlobalMaxPooling2D()])
    with pytest.raises(ValueError, match=r"global_max_pool2d.*\[4\]"):
        model.predict(np.zeros((2, 4), np.float32))
