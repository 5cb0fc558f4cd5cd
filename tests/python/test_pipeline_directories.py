"""Directory artifacts from Python: a component trains an mlcore.nn model and saves its checkpoint
directory into Output[Model]; a downstream component (in a subprocess) gets a checked copy of
the directory, loads it with mlcore.nn.load and predicts. A rerun is a cache hit; a damaged file
in the stored tree fails the reader, naming the file."""

import json
import os

from mlcore import pipelines as mp
from mlcore.pipelines import Input, Model, Output


@mp.component
def train_model(seed: int, model: Output[Model]):
    import numpy as np

    from mlcore import nn, optim
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(128, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    net = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(2)])
    net.compile(optimizer=optim.Adam(1e-2), loss="cross_entropy", metrics=["accuracy"])
    net.fit(x, y, epochs=30, batch_size=32, seed=seed)
    net.save(model.path)
    model.metadata["framework"] = "mlcore.nn"


@mp.component(mode="subprocess")
def predict(model: Input[Model]) -> list:
    import os

    import numpy as np

    from mlcore import nn
    assert os.path.isdir(model.path), model.path
    net = nn.load(model.path)
    x = np.array([[2, 0, 0, 0], [-2, 0, 0, 0]], dtype=np.float32)
    return [int(c) for c in np.argmax(np.asarray(net.predict(x)), axis=1)]


@mp.pipeline
def train_and_predict(seed: int = 0):
    t = train_model(seed=seed)
    p = predict(model=t.outputs["model"])
    return {"classes": p.outputs["output"], "model": t.outputs["model"]}


def _manifest(run):
    (model,) = run.artifacts
    with open(model.path, encoding="utf-8") as f:
        return model, json.load(f)


def test_saved_model_directory_flows_and_caches():
    run = mp.run(train_and_predict).wait()
    assert run.status == "succeeded", run.error
    assert run.outputs["classes"] == [1, 0]
    model, manifest = _manifest(run)
    assert manifest["format"] == "mlcore.store.Directory"
    names = {f["path"] for f in manifest["files"]}
    assert "architecture.json" in names
    assert any(n.endswith(".safetensors") for n in names)
    assert model.metadata == {"framework": "mlcore.nn"}
    assert [c["task"] for c in model.consumers] == ["predict"]

    again = mp.run(train_and_predict).wait()
    assert again.status == "succeeded", again.error
    assert [t.state for t in again.tasks] == ["cached", "cached"]
    assert again.outputs["classes"] == [1, 0]


def test_damaged_file_in_stored_model_is_detected_and_healed():
    run = mp.run(train_and_predict).wait()
    assert run.status == "succeeded", run.error
    _, manifest = _manifest(run)
    weights = [f for f in manifest["files"] if f["path"].endswith(".safetensors")][0]
    stored = mp.client().artifact_path(weights["digest"])
    with open(stored, "rb") as f:
        original = f.read()
    os.chmod(stored, 0o644)
    with open(stored, "r+b") as f:  # same size, one byte flipped near the end
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0xFF]))
    again = mp.run(train_and_predict).wait()
    # The damaged tree is no cache hit: training runs again (seeded, so it writes the same
    # bytes), storing its tree rewrites the damaged copy, and the reader gets the healed model.
    assert again.task("train-model").state == "succeeded"
    assert again.status == "succeeded", again.error
    assert again.outputs["classes"] == run.outputs["classes"]
    assert again.outputs["model"].digest == run.outputs["model"].digest
    with open(stored, "rb") as f:
        assert f.read() == original
