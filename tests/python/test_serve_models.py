"""Serving from Python: KServe-shaped Python models (load, preprocess, predict, postprocess;
batched when they declare a signature), a sequence ensemble (transformer before predictor),
in-process inference, the `mlcore serve` command and the standalone `mlcore-server` binary."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import mlcore
from serve_helpers import (ServerProcess, digits, get_json, post_json, save_digits_mlp,
                           v2_body)

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Scaler(mlcore.serve.Model):
    """A transformer: raw pixels 0..16 to the 0..1 features the MLP was trained on."""

    inputs = [("pixels", "FP32", [-1, 64])]
    outputs = [("input", "FP32", [-1, 64])]

    def load(self):
        self.scale = np.float32(16.0)
        self.calls = []
        self.ready = True
        return True

    def preprocess(self, inputs):
        return inputs["pixels"]

    def predict(self, x):
        self.calls.append(len(x))
        return x / self.scale

    def postprocess(self, y):
        return {"input": y}


def test_python_model_and_sequence(tmp_path):
    ckpt = tmp_path / "digits"
    model = save_digits_mlp(ckpt, epochs=1)
    x, _ = digits()
    raw = x[:4] * 16
    scaler = Scaler()
    with mlcore.serve.Server(http_port=0) as server:
        server.add_model("scale", scaler, max_batch_size=8, max_queue_delay_us=5000)
        server.add_model("digits", ckpt)
        server.add_model("pipeline", None, backend="sequence", steps=["scale", "digits"])
        assert server.metadata("pipeline")["inputs"][0]["name"] == "pixels"
        assert server.metadata("scale")["platform"] == "python"
        out = server.infer("pipeline", {"pixels": raw})
        np.testing.assert_allclose(out["output"], model.predict(x[:4]), rtol=1e-5)
        status, body = post_json(server.url, "/v2/models/pipeline/infer", v2_body(raw, "pixels"))
        assert status == 200
        got = np.array(body["outputs"][0]["data"], np.float32).reshape(4, 10)
        np.testing.assert_allclose(got, model.predict(x[:4]), rtol=1e-5)
        # Concurrent requests to the Python model are batched together.
        results = {}

        def one(i):
            results[i] = server.infer("scale", {"pixels": raw[i:i + 1]})["input"]

        scaler.calls.clear()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(4):
            np.testing.assert_allclose(results[i], x[i:i + 1], rtol=1e-6)
        assert sum(scaler.calls) == 4 and len(scaler.calls) < 4
        # A model's own error reaches the client as a 400 (ValueError) or 500.
        status, body = post_json(server.url, "/v2/models/scale/infer",
                                 v2_body(raw[:1, :3], "pixels"))
        assert status == 400 and "shape" in body["error"]


def test_in_process_errors_are_python_exceptions(tmp_path):
    ckpt = tmp_path / "digits"
    save_digits_mlp(ckpt, epochs=1)
    server = mlcore.serve.Server(http_port=None)
    server.add_model("digits", ckpt)
    server.start()
    assert server.url == ""
    with pytest.raises(KeyError):
        server.infer("ghost", {"input": np.zeros((1, 64), np.float32)})
    with pytest.raises(ValueError):
        server.infer("digits", {"input": np.zeros((1, 63), np.float32)})
    with pytest.raises(ValueError):
        server.add_model("../up", ckpt)
    server.stop()


def wait_for(url, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        try:
            if get_json(url, "/v2/health/ready", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never became ready")


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_and_stop(command, port, x, model):
    server = ServerProcess(command)
    with server:
        url = f"http://127.0.0.1:{port}"
        wait_for(url)
        status, body = post_json(url, "/v2/models/digits/infer", v2_body(x[:2]))
        assert status == 200, body
        got = np.array(body["outputs"][0]["data"], np.float32).reshape(2, 10)
        np.testing.assert_allclose(got, model.predict(x[:2]), rtol=1e-6)
    return server.output


def test_mlcore_serve_command(tmp_path):
    repo = tmp_path / "repo"
    model = save_digits_mlp(repo / "digits" / "1", epochs=1)
    port = free_port()
    output = run_and_stop([sys.executable, "-m", "mlcore", "serve", "--model-repository",
                           str(repo), "--http-port", str(port)], port, digits()[0], model)
    assert f"serving on http://127.0.0.1:{port}" in output


def test_mlcore_server_binary_without_python(tmp_path):
    binary = pathlib.Path(os.environ.get("MLCORE_SERVER_BINARY",
                                         ROOT / "build" / "cmake" / "mlcore-server"))
    if not binary.exists():
        pytest.skip(f"{binary} is not built")
    libs = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    assert "libpython" not in libs and "libmlcore" in libs
    repo = tmp_path / "repo"
    model = save_digits_mlp(repo / "digits" / "1", epochs=1)
    port = free_port()
    run_and_stop([str(binary), "--model-repository", str(repo), "--http-port", str(port)], port,
                 digits()[0], model)
