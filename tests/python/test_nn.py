"""mlcore.nn and mlcore.optim from Python: the digits MLP, bad input, callbacks, checkpoints."""

import json
import os

import numpy as np
import pytest

import mlcore
import mlcore.nn as nn
import mlcore.optim as optim


def mlp():
    return nn.Sequential([nn.Dense(256), nn.ReLU(), nn.Dense(10)])


def test_mlp_reaches_97_percent_on_digits(digits):
    x, y, xt, yt = digits
    model = mlp()
    model.compile(optimizer=optim.Adam(1e-3), loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=20, batch_size=64, validation_data=(xt, yt), seed=1)
    assert history.epochs_run == 20
    assert history.history["loss"][-1] < history.history["loss"][0] / 5
    result = model.evaluate(xt, yt)
    assert result["accuracy"] >= 0.97, result
    assert result["accuracy"] == pytest.approx(history.history["val_accuracy"][-1])
    predictions = model.predict(xt)
    assert predictions.shape == (len(xt), 10)
    assert (predictions.argmax(1) == yt).mean() == pytest.approx(result["accuracy"])


def test_float64_and_dlpack_inputs_are_accepted(digits):
    x, y, _, _ = digits
    model = mlp()
    model.compile(optimizer=optim.SGD(0.1, momentum=0.9, nesterov=True), metrics=["accuracy"])
    history = model.fit(x[:256].astype(np.float64), y[:256].astype(np.uint8), epochs=1)
    assert np.isfinite(history.history["loss"][0])
    t = mlcore.tensor(x[:8])
    assert np.allclose(model.predict(t), model.predict(x[:8]))

    class Producer:  # any DLPack producer that is not a numpy array (CuPy, JAX, PyTorch...)
        def __init__(self, array):
            self.array = array

        def __dlpack__(self, **kwargs):
            return self.array.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.array.__dlpack_device__()

    assert np.allclose(model.predict(Producer(x[:8])), model.predict(x[:8]))
    assert np.allclose(model.predict(Producer(x[:8].astype(np.float64))), model.predict(x[:8]))


def test_shape_mismatch_names_layer_and_shapes(digits):
    x, y, _, _ = digits
    model = mlp()
    model.build([64])
    with pytest.raises(ValueError, match=r"dense_0.*\[-1, 64\].*\[3, 10\]"):
        model.predict(np.zeros((3, 10), np.float32))


def test_bad_labels(digits):
    x, y, _, _ = digits
    model = mlp()
    model.compile(optimizer=optim.Adam(), metrics=["accuracy"])
    bad = y[:64].copy()
    bad[3] = 10
    with pytest.raises(ValueError, match=r"label 10 at index 3 is out of range \[0, 10\)"):
        model.fit(x[:64], bad, shuffle=False)
    with pytest.raises(TypeError, match="labels must be int32 or int64"):
        model.fit(x[:64], y[:64].astype(np.float32))
    with pytest.raises(ValueError, match="differ in sample count"):
        model.fit(x[:64], y[:63])


def test_non_finite_loss_stops_or_skips(digits):
    x, y, _, _ = digits
    x = x[:128].copy()
    x[5, 0] = np.nan
    model = mlp()
    model.compile(optimizer=optim.Adam(), metrics=["accuracy"])
    with pytest.raises(ValueError, match="epoch 0, batch 0: loss is nan"):
        model.fit(x, y[:128], batch_size=32, shuffle=False)
    model = mlp()
    model.compile(optimizer=optim.Adam(), on_non_finite="skip")
    history = model.fit(x, y[:128], batch_size=32, shuffle=False)
    assert history.history["skipped_steps"] == [1.0]
    assert all(np.isfinite(w).all() for w in model.weights().values())


def test_cuda_without_gpu_is_a_clear_error(digits):
    if mlcore.cuda.is_available():
        pytest.skip("a GPU is present")
    x, y, _, _ = digits
    model = mlp()
    model.compile(optimizer=optim.Adam())
    with pytest.raises(ValueError, match="no CUDA device is usable"):
        model.fit(x[:32], y[:32], device="cuda")
    with pytest.raises(ValueError, match="no CUDA device is usable"):
        model.to("cuda")
    assert model.to("cpu").device == "cpu"
    with pytest.raises(ValueError, match="tpu"):
        model.to("tpu")


def test_callbacks_early_stopping_reporter_and_python(digits, tmp_path):
    x, y, xt, yt = digits
    model = mlp()
    model.compile(optimizer=optim.Adam(1e-3), metrics=["accuracy"])
    reports = []

    def report(value, epoch):
        reports.append((epoch, value))
        return epoch == 1  # prune after the second epoch

    seen = []

    class Recorder:
        def on_epoch_end(self, epoch, logs):
            seen.append(dict(logs))

    history = model.fit(x, y, epochs=10, validation_data=(xt, yt),
                        callbacks=[nn.HPOReporter(report), Recorder(),
                                   nn.ModelCheckpoint(tmp_path / "best", monitor="val_accuracy",
                                                      save_best_only=True)])
    assert history.stopped_early and history.epochs_run == 2
    assert [e for e, _ in reports] == [0, 1]
    assert reports[-1][1] == history.history["val_accuracy"][-1]
    assert set(seen[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert (tmp_path / "best" / "model.safetensors").exists()

    stopper = nn.EarlyStopping(monitor="loss", patience=1, min_delta=1e9)
    history = model.fit(x, y, epochs=10, callbacks=[stopper])
    assert history.epochs_run == 2

    def broken(epoch, logs):
        raise KeyError("boom")

    class Broken:
        on_epoch_end = staticmethod(broken)

    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x[:64], y[:64], callbacks=[Broken()])


def test_progress_bar_prints_a_line_per_epoch(digits, capsys):
    x, y, _, _ = digits
    model = mlp()
    model.compile(optimizer=optim.Adam(), metrics=["accuracy"])
    model.fit(x[:128], y[:128], epochs=2, verbose=2)  # verbose=1 is the per-batch bar
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch")]
    assert len(lines) == 2 and "accuracy" in lines[1] and lines[1].startswith("epoch 2/2")


def hooked_gradients(model):
    """Compiles model (SGD) with a grad-ready hook: the list it returns fills with (name, shape)."""
    model.compile(optimizer=optim.SGD(0.1))
    seen = []
    model.core.set_grad_ready_hook(lambda name, grad: seen.append((name, grad.shape)))
    return seen


def dense_mlp_gradients(hidden):
    """Dense(hidden), ReLU, Dense(10) on 64 features: the gradients ready from the last layer
    back, each as soon as it is complete."""
    return [("dense_2.kernel", (hidden, 10)), ("dense_2.bias", (10,)),
            ("dense_0.kernel", (64, hidden)), ("dense_0.bias", (hidden,))]


def test_grad_ready_hook_in_python(digits):
    x, y, _, _ = digits
    model = mlp()
    names = hooked_gradients(model)
    model.core.train_step(mlcore.from_numpy(x[:16]), mlcore.from_numpy(y[:16]))
    assert names == dense_mlp_gradients(256)


def test_save_load_predicts_identically_and_safetensors_reads_it(digits, tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    x, y, xt, _ = digits
    model = nn.Sequential([nn.Dense(32), nn.GELU(), nn.LayerNorm(), nn.Dropout(0.2, seed=3),
                           nn.Dense(10)])
    model.compile(optimizer=optim.AdamW(1e-3), metrics=["accuracy"],
                  schedule=optim.LinearWarmup(10, optim.CosineDecay(100)), clip_grad_norm=5.0)
    model.fit(x, y, epochs=2)
    model.save(tmp_path / "ckpt")
    loaded = nn.load(tmp_path / "ckpt")
    np.testing.assert_array_equal(loaded.predict(xt), model.predict(xt))
    assert loaded.core.epochs_trained == 2
    assert loaded.optimizer.name == "adamw"

    weights = safetensors_numpy.load_file(str(tmp_path / "ckpt" / "model.safetensors"))
    assert set(weights) == {"dense_0.kernel", "dense_0.bias", "layer_norm_2.gamma",
                            "layer_norm_2.beta", "dense_4.kernel", "dense_4.bias"}
    np.testing.assert_array_equal(weights["dense_0.kernel"], model.weights()["dense_0.kernel"])
    arch = json.loads((tmp_path / "ckpt" / "architecture.json").read_text())
    assert [l["type"] for l in arch["layers"]] == ["dense", "gelu", "layer_norm", "dropout",
                                                  "dense"]
    state = safetensors_numpy.load_file(str(tmp_path / "ckpt" / "optimizer.safetensors"))
    assert "dense_0.kernel/m" in state
    # Training continues from the loaded epoch count.
    history = loaded.fit(x, y, epochs=1)
    assert history.epochs_run == 1 and loaded.core.epochs_trained == 3


def test_loading_another_architecture_changes_nothing(digits, tmp_path):
    x, _, _, _ = digits
    small = nn.Sequential([nn.Dense(16), nn.ReLU(), nn.Dense(10)])
    small.build([64])
    small.save(tmp_path / "small")
    other = mlp()
    other.build([64])
    before = other.predict(x[:5])
    with pytest.raises(ValueError, match="another architecture"):
        other.load_weights(tmp_path / "small")
    np.testing.assert_array_equal(other.predict(x[:5]), before)
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "missing")


def test_safetensors_written_by_the_package_are_read(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64)}
    safetensors_numpy.save_file(arrays, str(tmp_path / "x.safetensors"), metadata={"k": "v"})
    tensors, metadata = nn.read_safetensors(tmp_path / "x.safetensors")
    assert metadata == {"k": "v"}
    np.testing.assert_array_equal(np.asarray(tensors["a"]), arrays["a"])
    nn.write_safetensors(tmp_path / "y.safetensors", arrays)
    back = safetensors_numpy.load_file(str(tmp_path / "y.safetensors"))
    np.testing.assert_array_equal(back["b"], arrays["b"])


def test_optimizer_and_schedule_arguments_are_checked():
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        optim.SGD(0.1, nesterov=True)
    with pytest.raises(ValueError):
        optim.Adam(-1.0)
    schedule = optim.StepDecay(10, 0.5)
    assert schedule(25, 1.0) == 0.25
    with pytest.raises(ValueError, match="unknown metric"):
        mlp().compile(optimizer=optim.Adam(), metrics=["f1"])
    with pytest.raises(ValueError, match="unknown loss"):
        mlp().compile(optimizer=optim.Adam(), loss="hinge")


def test_tensorboard_scalars_are_read_by_tensorboard(digits, tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    x, y, xt, yt = digits
    model = mlp()
    model.compile(optimizer=optim.Adam(1e-3), metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, validation_data=(xt, yt),
                        callbacks=[nn.TensorBoard(tmp_path / "logs")])
    # Keras's layout: two runs with the same tags, so loss and val_loss overlay.
    train = event_accumulator.EventAccumulator(str(tmp_path / "logs" / "train"))
    train.Reload()
    assert {"epoch_loss", "epoch_accuracy", "epoch_lr"} <= set(train.Tags()["scalars"])
    assert not any("val" in t for t in train.Tags()["scalars"])
    loss = train.Scalars("epoch_loss")
    assert [e.step for e in loss] == [0, 1, 2]
    assert [e.value for e in loss] == pytest.approx(history.history["loss"], rel=1e-6)
    validation = event_accumulator.EventAccumulator(str(tmp_path / "logs" / "validation"))
    validation.Reload()
    assert {"epoch_loss", "epoch_accuracy"} == set(validation.Tags()["scalars"])
    assert [e.value for e in validation.Scalars("epoch_loss")] == pytest.approx(
        history.history["val_loss"], rel=1e-6)

    writer = nn.SummaryWriter(str(tmp_path / "manual"))
    for step in range(5):
        writer.add_scalar("custom/metric", step * 0.5, step)
    writer.flush()
    acc = event_accumulator.EventAccumulator(str(tmp_path / "manual"))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("custom/metric")] == [
        (0, 0.0), (1, 0.5), (2, 1.0), (3, 1.5), (4, 2.0)]


def test_a_checkpoint_whose_input_shape_is_not_integers_is_a_clear_error(digits, tmp_path):
    # A damaged architecture.json with a float dimension too large for int64 (found by the
    # architecture fuzzer) is refused, naming the file and the value; nothing is built.
    x, y, _, _ = digits
    model = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(10)])
    model.compile(optimizer=optim.Adam(1e-3), loss="cross_entropy")
    model.fit(x[:64], y[:64], epochs=1)
    model.save(str(tmp_path / "ckpt"))
    arch_path = tmp_path / "ckpt" / "architecture.json"
    arch = json.loads(arch_path.read_text())
    text = json.dumps(arch).replace(json.dumps(arch["input_shape"]), "[1e32]")
    arch_path.write_text(text)
    with pytest.raises(RuntimeError, match=r"input_shape holds 1e\+32, not a 64-bit integer"):
        nn.load(str(tmp_path / "ckpt"))
