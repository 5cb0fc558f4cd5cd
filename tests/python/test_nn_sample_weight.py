"""Keras's sample_weight and class_weight in fit, evaluate, train_on_batch and test_on_batch:
the batch loss is sum(w_i * loss_i) / batch_size, accuracy stays unweighted, weights of 1
change nothing, weight 0 drops a sample, class_weight is the matching sample_weight."""

import numpy as np
import pytest

import mlcore.nn as nn
import mlcore.optim as optim


def mlp(seed=3, outputs=10, loss="cross_entropy", lr=0.1, momentum=0.9):
    model = nn.Sequential([nn.Dense(32), nn.ReLU(), nn.Dense(outputs)])
    model.build([64], seed=seed)
    metrics = [] if loss == "mse" else ["accuracy"]
    model.compile(optimizer=optim.SGD(lr, momentum=momentum), loss=loss, metrics=metrics)
    return model


def assert_same_bits(a, b):
    wa, wb = a.weights(), b.weights()
    assert sorted(wa) == sorted(wb)
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)


def per_sample_losses(model, x, y):
    """Each sample's cross-entropy from the model's logits (numpy, float64)."""
    z = model.predict(x).astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y]


def test_weights_of_one_train_exactly_as_none(digits):
    x, y, _, _ = digits
    plain, weighted = mlp(), mlp()
    h1 = plain.fit(x[:300], y[:300], epochs=2, batch_size=32, seed=1)
    h2 = weighted.fit(x[:300], y[:300], epochs=2, batch_size=32, seed=1,
                      sample_weight=np.ones(300))
    assert h1.history["loss"] == h2.history["loss"]
    assert_same_bits(plain, weighted)


def test_class_weight_trains_exactly_as_the_matching_sample_weight(digits):
    x, y, _, _ = digits
    cw = {3: 5.0, 8: 0.5}
    by_class, by_sample = mlp(), mlp()
    by_class.fit(x[:300], y[:300], epochs=2, batch_size=32, class_weight=cw)
    w = np.array([cw.get(int(c), 1.0) for c in y[:300]], np.float32)
    by_sample.fit(x[:300], y[:300], epochs=2, batch_size=32, sample_weight=w)
    assert_same_bits(by_class, by_sample)


def test_sample_and_class_weights_multiply_in_train_on_batch(digits):
    x, y, _, _ = digits
    sw = np.linspace(0.0, 2.0, 64).astype(np.float32)
    both, product = mlp(), mlp()
    l1 = both.train_on_batch(x[:64], y[:64], sample_weight=sw, class_weight={1: 3.0})
    l2 = product.train_on_batch(x[:64], y[:64], sample_weight=sw * np.where(y[:64] == 1, 3, 1))
    assert l1 == l2
    assert_same_bits(both, product)


def test_weight_zero_is_dropping_the_sample(digits):
    x, y, _, _ = digits
    w = np.ones(32, np.float32)
    w[[3, 10, 17, 30]] = 0.0
    keep = w > 0
    n, kept = 32, int(keep.sum())
    probe = mlp()
    loss_weighted = probe.test_on_batch(x[:32], y[:32], sample_weight=w)
    loss_kept = probe.test_on_batch(x[:32][keep], y[:32][keep])
    assert loss_weighted * n / kept == pytest.approx(loss_kept, rel=1e-6)
    # Plain SGD: the weighted step's gradient is kept/n of the kept-only one, so a learning rate
    # scaled by n/kept takes the same step.
    weighted, dropped = mlp(lr=0.1 * n / kept, momentum=0.0), mlp(lr=0.1, momentum=0.0)
    weighted.train_on_batch(x[:32], y[:32], sample_weight=w)
    dropped.train_on_batch(x[:32][keep], y[:32][keep])
    for name, value in weighted.weights().items():
        np.testing.assert_allclose(value, dropped.weights()[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_evaluate_weights_the_loss_not_the_accuracy(digits):
    _, _, xt, yt = digits
    model = mlp()
    w = np.random.default_rng(0).uniform(0, 3, len(yt)).astype(np.float32)
    logs = model.evaluate(xt, yt, batch_size=64, sample_weight=w)
    plain = model.evaluate(xt, yt, batch_size=64)
    expected = float(np.sum(w * per_sample_losses(model, xt, yt)) / len(yt))
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    assert logs["loss"] != pytest.approx(plain["loss"], rel=1e-3)
    assert logs["accuracy"] == plain["accuracy"]
    batch = model.test_on_batch(xt[:50], yt[:50], sample_weight=w[:50], return_dict=True)
    assert batch["loss"] == pytest.approx(
        float(np.sum(w[:50] * per_sample_losses(model, xt[:50], yt[:50])) / 50), rel=1e-5)


def test_class_weight_shifts_digits_predictions_toward_the_heavy_class(digits):
    x, y, xt, _ = digits
    plain, heavy = mlp(seed=5), mlp(seed=5)
    plain.fit(x, y, epochs=3, batch_size=64, seed=2)
    heavy.fit(x, y, epochs=3, batch_size=64, seed=2, class_weight={7: 25.0})
    sevens_plain = int(np.sum(plain.predict(xt).argmax(axis=1) == 7))
    sevens_heavy = int(np.sum(heavy.predict(xt).argmax(axis=1) == 7))
    assert sevens_heavy > sevens_plain + 5, (sevens_plain, sevens_heavy)


def test_binary_cross_entropy_class_weight(digits):
    x, y, _, _ = digits
    target = (y[:200] == 0).astype(np.float32).reshape(-1, 1)
    by_class = mlp(outputs=1, loss="binary_cross_entropy")
    by_sample = mlp(outputs=1, loss="binary_cross_entropy")
    by_class.fit(x[:200], target, epochs=1, class_weight={1: 9.0})
    by_sample.fit(x[:200], target, epochs=1, sample_weight=np.where(target[:, 0] > 0, 9.0, 1.0))
    assert_same_bits(by_class, by_sample)


@pytest.mark.parametrize("weights, words", [
    (np.ones(99), ["sample_weight", "99 weights for 100 samples"]),
    (np.r_[np.ones(41), -1.0, np.ones(58)], ["sample_weight[41]", "-1"]),
    (np.r_[np.ones(7), np.nan, np.ones(92)], ["sample_weight[7]", "nan"]),
    (np.r_[np.ones(7), np.inf, np.ones(92)], ["sample_weight[7]", "inf"]),
])
def test_bad_sample_weight_raises_value_error_naming_it(digits, weights, words):
    x, y, _, _ = digits
    model = mlp()
    with pytest.raises(ValueError) as info:
        model.fit(x[:100], y[:100], sample_weight=weights)
    for word in words:
        assert word in str(info.value)
    with pytest.raises(ValueError, match=r"sample_weight"):
        model.evaluate(x[:100], y[:100], sample_weight=weights)


def test_bad_class_weight_raises_value_error_naming_it(digits):
    x, y, _, _ = digits
    model = mlp()
    with pytest.raises(ValueError, match=r"class_weight key 10 is out of range \[0, 10\)"):
        model.fit(x[:100], y[:100], class_weight={10: 2.0})
    with pytest.raises(ValueError, match=r"class_weight key -1"):
        model.fit(x[:100], y[:100], class_weight={-1: 2.0})
    with pytest.raises(ValueError, match=r"class_weight\[2\] is nan"):
        model.fit(x[:100], y[:100], class_weight={2: float("nan")})
    with pytest.raises(ValueError, match=r"class_weight key 'a'"):
        model.fit(x[:100], y[:100], class_weight={"a": 2.0})
    regression = mlp(outputs=2, loss="mse")
    with pytest.raises(ValueError, match=r"class_weight needs a classification loss.*mse"):
        regression.fit(x[:100], np.zeros((100, 2), np.float32), class_weight={0: 2.0})
    with pytest.raises(ValueError, match=r"TrainStep: sample_weight has 3 weights for 8"):
        model.train_on_batch(x[:8], y[:8], sample_weight=np.ones(3))


def test_weights_with_a_dataset_are_refused(digits):
    x, y, _, _ = digits
    data = nn.Dataset.from_tensors(x[:64], y[:64]).batch(32)
    with pytest.raises(ValueError, match=r"sample_weight and class_weight.*not a Dataset"):
        mlp().fit(data, class_weight={1: 2.0})
    with pytest.raises(ValueError, match=r"Dataset"):
        mlp().evaluate(data, sample_weight=np.ones(64))


def graph_mlp(seed=3):
    g = nn.GraphBuilder()
    a, b = g.input((32,), name="a"), g.input((32,), name="b")
    h = g.apply(nn.ReLU(), g.concatenate([g.apply(nn.Dense(16), a), g.apply(nn.Dense(16), b)]))
    model = g.build([a, b], [g.apply(nn.Dense(10), h)], seed=seed)
    model.compile(optimizer=optim.SGD(0.1, momentum=0.9), metrics=["accuracy"])
    return model


def test_graph_models_take_weights_in_fit_and_evaluate(digits):
    x, y, _, _ = digits
    inputs = [x[:300, :32], x[:300, 32:]]
    cw = {3: 5.0, 8: 0.5}
    by_class, by_sample, plain = graph_mlp(), graph_mlp(), graph_mlp()
    by_class.fit(inputs, y[:300], epochs=2, batch_size=32, class_weight=cw)
    w = np.array([cw.get(int(c), 1.0) for c in y[:300]], np.float32)
    by_sample.fit(inputs, y[:300], epochs=2, batch_size=32, sample_weight=w)
    plain.fit(inputs, y[:300], epochs=2, batch_size=32)
    assert_same_bits(by_class, by_sample)
    assert any(not np.array_equal(plain.weights()[k], by_sample.weights()[k])
               for k in plain.weights())
    ones = by_sample.evaluate(inputs, y[:300], sample_weight=np.ones(300))
    assert ones == by_sample.evaluate(inputs, y[:300])
    half = by_sample.evaluate(inputs, y[:300], sample_weight=np.full(300, 0.5))
    assert half["loss"] == pytest.approx(ones["loss"] / 2, rel=1e-6)
    assert half["accuracy"] == ones["accuracy"]
