"""Threads on one model from Python (the GIL is released while mlcore trains or predicts): two
threads training one model with train_on_batch or fit both finish with every step applied, never
a crash; predictions from many threads at once equal the single-threaded ones while another
thread trains a second model; and model signatures, saved with checkpoints."""

import threading

import numpy as np

from mlcore import nn, optim
from mlcore.nn import GraphBuilder


def mlp(seed=1):
    model = nn.Sequential([nn.Dense(128), nn.ReLU(), nn.Dropout(0.2), nn.Dense(10)])
    model.build([64], seed=seed)
    model.compile(optimizer=optim.SGD(0.01))
    return model


def run_threads(targets):
    errors = []

    def guard(fn):
        def run():
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - the test reports any failure
                errors.append(e)
        return run

    threads = [threading.Thread(target=guard(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_two_threads_train_on_batch_on_one_model(digits):
    x, y, _, _ = digits
    model = mlp()

    def steps(batch):
        for i in range(40):
            begin = (i * batch) % (len(x) - batch)
            model.train_on_batch(x[begin:begin + batch], y[begin:begin + batch])

    run_threads([lambda: steps(64), lambda: steps(32)])
    assert model.optimizer.steps == 80


def test_two_threads_fit_one_model_and_a_third_predicts(digits):
    x, y, _, _ = digits
    model = mlp()
    done = threading.Event()
    shapes = []

    def fit(batch):
        model.fit(x, y, epochs=2, batch_size=batch, verbose=0)

    def predict():
        while not done.is_set():
            out = model.predict(x[:16])
            assert np.isfinite(out).all()
            shapes.append(out.shape)

    reader = threading.Thread(target=predict)
    reader.start()
    try:
        run_threads([lambda: fit(64), lambda: fit(128)])
    finally:
        done.set()
        reader.join()
    steps = 2 * -(-len(x) // 64) + 2 * -(-len(x) // 128)
    assert model.optimizer.steps == steps
    assert shapes and all(s == (16, 10) for s in shapes)


def test_sixteen_threads_predict_the_single_threaded_answers(digits):
    x, y, _, _ = digits
    model = mlp()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    chunks = [x[i * 40:(i + 1) * 40] for i in range(8)]
    expected = [model.predict(c) for c in chunks]
    results = {}

    def worker(t):
        for r in range(4):
            k = (t + r) % len(chunks)
            results[(t, r)] = (k, model.predict(chunks[k], batch_size=16))

    run_threads([lambda t=t: worker(t) for t in range(16)])
    assert len(results) == 64
    for k, out in results.values():
        np.testing.assert_array_equal(out, expected[k])


def test_signatures_are_saved_and_read_without_loading(tmp_path):
    g = GraphBuilder()
    image = g.input((1, 4, 4), name="image")
    tokens = g.input((3,), name="tokens")
    h = g.concatenate([g.apply(nn.Flatten(), image),
                       g.apply(nn.Flatten(), g.apply(nn.Embedding(10, 2), tokens))])
    model = g.build([image, tokens], [g.apply(nn.Dense(3), h)], seed=1)
    sig = model.signature
    assert sig["inputs"] == [{"name": "image", "dtype": "float32", "shape": [-1, 1, 4, 4]},
                             {"name": "tokens", "dtype": "int64", "shape": [-1, 3]}]
    assert len(sig["outputs"]) == 1 and sig["outputs"][0]["shape"] == [-1, 3]
    model.save(tmp_path / "graph")
    assert (tmp_path / "graph" / "signature.json").exists()
    assert nn.read_signature(tmp_path / "graph") == sig

    seq = mlp()
    seq.save(tmp_path / "seq")
    assert nn.read_signature(tmp_path / "seq") == {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 64]}],
        "outputs": [{"name": "output", "dtype": "float32", "shape": [-1, 10]}]}
