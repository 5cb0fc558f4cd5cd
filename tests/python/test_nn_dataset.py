"""mlcore.nn.Dataset from Python: reproducible shuffling that sees every example once per
epoch, batching, map, prefetch producing on another thread, generator and map errors with
their message, early stops that do not hang, and fit/evaluate on Datasets."""

import threading

import numpy as np
import pytest

import mlcore
from mlcore import nn
from mlcore.nn.data import Dataset


def numbers(n):
    x = np.stack([np.arange(n), -np.arange(n)], 1).astype(np.float32)
    return x, np.arange(n)


def labels(ds, epoch=0):
    out = []
    for x, y in ds.iterate(epoch):
        np.testing.assert_array_equal(x[..., 0], y)  # inputs stay paired with targets
        out.extend(np.atleast_1d(y).tolist())
    return out


def test_shuffle_is_reproducible_and_sees_every_example_once():
    x, y = numbers(100)
    make = lambda seed: Dataset.from_tensors(x, y).shuffle(1000, seed=seed).batch(16).prefetch(2)
    e0, e1 = labels(make(0), 0), labels(make(0), 1)
    assert e0 == labels(make(0), 0)
    assert e0 != e1 and e0 != labels(make(1), 0)
    assert sorted(e0) == list(range(100)) and sorted(e1) == list(range(100))
    assert sorted(labels(Dataset.from_tensors(x, y).shuffle(5, seed=3))) == list(range(100))


def test_batch_and_map():
    x, y = numbers(10)
    sizes = [len(b[1]) for b in Dataset.from_tensors(x, y).batch(4)]
    assert sizes == [4, 4, 2]
    sizes = [len(b[1]) for b in Dataset.from_tensors(x, y).batch(4, drop_remainder=True)]
    assert sizes == [4, 4]
    doubled = Dataset.from_tensors(x, y).batch(5).map(lambda bx, by: (bx * 2, by))
    first = next(iter(doubled))
    np.testing.assert_array_equal(first[0][:, 0], np.arange(5) * 2)


def test_prefetch_runs_the_pipeline_on_another_thread():
    x, y = numbers(32)
    threads = set()

    def record(bx, by):
        threads.add(threading.get_ident())
        return bx, by

    ds = Dataset.from_tensors(x, y).batch(4).map(record)
    list(ds)
    assert threads == {threading.get_ident()}
    threads.clear()
    assert len(list(ds.prefetch(2))) == 8
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_generator_restarts_each_epoch_and_errors_surface():
    calls = []

    def gen():
        calls.append(1)
        for i in range(5):
            yield np.array([i, -i], np.float32), i

    ds = Dataset.from_generator(gen).batch(2).prefetch(2)
    assert labels(ds, 0) == [0, 1, 2, 3, 4]
    assert labels(ds, 1) == [0, 1, 2, 3, 4]
    assert len(calls) == 2

    def broken():
        yield np.zeros(2, np.float32), 0
        raise ValueError("shard 7 is truncated")

    with pytest.raises(RuntimeError, match="shard 7 is truncated"):
        list(Dataset.from_generator(broken).batch(1).prefetch(2))

    def bad_map(bx, by):
        raise ValueError("cannot augment batch")

    x, y = numbers(8)
    model = nn.Sequential([nn.Dense(2)])
    model.compile(optimizer=mlcore.optim.SGD(0.1))
    with pytest.raises(RuntimeError, match="cannot augment batch"):
        model.fit(Dataset.from_tensors(x, y).batch(4).map(bad_map).prefetch(2), epochs=1)


def test_early_stop_does_not_hang():
    def endless():
        i = 0
        while True:
            yield np.full((4, 2), i, np.float32), np.zeros(4, np.int64)
            i += 1

    ds = Dataset.from_generator(endless, batched=True).prefetch(3)
    for _ in range(10):
        it = iter(ds)
        next(it)
        it.close()  # the producer is blocked on a full queue or inside the generator
    model = nn.Sequential([nn.Dense(2)])
    model.compile(optimizer=mlcore.optim.SGD(0.1))

    class StopAfterOne:
        def on_epoch_end(self, epoch, logs):
            return True

    limited = Dataset.from_generator(lambda: (b for _, b in zip(range(3), endless())),
                                     batched=True).prefetch(2)
    history = model.fit(limited, epochs=5, callbacks=[StopAfterOne()])
    assert history.stopped_early and history.epochs_run == 1


def test_fit_and_evaluate_on_datasets():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    x = rng.normal(size=(400, 4)).astype(np.float32)
    x[:, 0] += np.where(y == 1, 2.0, -2.0)
    train = Dataset.from_tensors(x, y).shuffle(400, seed=0).batch(32).prefetch(2)
    val = Dataset.from_tensors(x, y).batch(100)
    model = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(2)])
    model.compile(optimizer=mlcore.optim.Adam(2e-2), metrics=["accuracy"])
    history = model.fit(train, epochs=8, validation_data=val)
    assert history.history["val_accuracy"][-1] > 0.95
    assert model.evaluate(val)["accuracy"] == pytest.approx(history.history["val_accuracy"][-1])
    # Arrays for validation beside a Dataset, and arrays for training beside a validation Dataset.
    assert "val_accuracy" in model.fit(train, epochs=1, validation_data=(x, y)).history
    assert "val_accuracy" in model.fit(x, y, epochs=1, validation_data=val).history
    with pytest.raises(ValueError, match="call Batch"):
        model.fit(Dataset.from_tensors(x, y), epochs=1)
