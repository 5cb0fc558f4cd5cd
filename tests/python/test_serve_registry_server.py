"""Registry models served by the server's own front doors: mlcore.serve.Server.add_registry_model,
`mlcore serve --registry` and `mlcore-server --registry`, each a real server on 127.0.0.1
queried with tritonclient; an alias moved while clients loop fails no request."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import mlcore
from serve_helpers import ServerProcess, ask_during_change, digits, save_digits_mlp

tritonhttp = pytest.importorskip("tritonclient.http")
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def registered(tmp_path, _isolated_home):
    """Two digits MLPs registered as digits/1 and digits/2, `production` on version 1."""
    models = []
    for seed in (1, 2):
        model = save_digits_mlp(tmp_path / f"ckpt{seed}", epochs=1, seed=seed)
        mlcore.models.register("digits", tmp_path / f"ckpt{seed}", metrics={"seed": seed})
        models.append(model)
    mlcore.models.set_alias("digits", "production", 1)
    return _isolated_home, models


def _infer(client, x, model="digits"):
    i = tritonhttp.InferInput("input", list(x.shape), "FP32")
    i.set_data_from_numpy(x)
    return client.infer(model, [i]).as_numpy("output")


def _versions(client, model="digits"):
    return client.get_model_metadata(model)["versions"]


def test_python_server_follows_an_alias_move_without_failed_requests(registered):
    home, (m1, m2) = registered
    x = digits()[0][:4]
    server = mlcore.serve.Server(http_port=0)
    server.add_registry_model("digits@production", home=home)
    server.add_registry_model("digits/2", name="pinned", home=home)
    with server, tritonhttp.InferenceServerClient(server.url.split("//")[1]) as client:
        np.testing.assert_allclose(_infer(client, x), m1.predict(x), rtol=1e-5)
        np.testing.assert_allclose(_infer(client, x, "pinned"), m2.predict(x), rtol=1e-5)
        assert _versions(client) == ["1"]

        answers, failures = ask_during_change(
            lambda: tritonhttp.InferenceServerClient(server.url.split("//")[1]),
            lambda c: _infer(c, x),
            lambda: mlcore.models.set_alias("digits", "production", 2),
            lambda _: _versions(client) == ["2"])
        assert failures == []
        assert _versions(client) == ["2"]
        np.testing.assert_allclose(answers[-1], m2.predict(x), rtol=1e-5)
        np.testing.assert_allclose(answers[0], m1.predict(x), rtol=1e-5)


def test_an_unknown_alias_is_refused_when_added(registered):
    home, _ = registered
    server = mlcore.serve.Server(http_port=0)
    with pytest.raises(KeyError, match="staging"):
        server.add_registry_model("digits@staging", home=home)


def _serve_until_queried(command, x, expected):
    lines = {}
    with ServerProcess(command) as proc:
        while len(lines) < 2:
            line = proc.stdout.readline()
            assert line, f"the server exited: {proc.wait()}"
            if "serving on" in line:
                lines["http"] = line.rsplit("//", 1)[1].strip()
            elif "gRPC on" in line:
                lines["grpc"] = line.rsplit(" ", 1)[1].strip()
        with tritonhttp.InferenceServerClient(lines["http"]) as client:
            np.testing.assert_allclose(_infer(client, x), expected, rtol=1e-5)
            assert _versions(client) == ["2"]
    return lines


def test_mlcore_serve_registry_command(registered):
    home, (_, m2) = registered
    mlcore.models.set_alias("digits", "production", 2)
    x = digits()[0][:2]
    _serve_until_queried([sys.executable, "-m", "mlcore", "serve", "--registry", "--home",
                          str(home), "--model", "digits@production", "--http-port", "0",
                          "--grpc-port", "0"], x, m2.predict(x))


def test_mlcore_server_binary_registry(registered):
    binary = pathlib.Path(os.environ.get("MLCORE_SERVER_BINARY",
                                         ROOT / "build" / "cmake" / "mlcore-server"))
    if not binary.exists():
        pytest.skip(f"{binary} is not built")
    home, (_, m2) = registered
    x = digits()[0][:2]
    _serve_until_queried([str(binary), "--registry", "--home", str(home), "--model", "digits/2",
                          "--http-port", "0", "--grpc-port", "0"], x, m2.predict(x))


def test_serve_registry_user_errors(registered):
    home, _ = registered
    for args, message in ((["--registry"], "needs at least one --model"),
                          (["--home", str(home), "--model", "a=b"], "add --registry"),
                          (["--registry", "--home", str(home), "--model", "nope@production"],
                           "nope")):
        done = subprocess.run([sys.executable, "-m", "mlcore", "serve", "--http-port", "0", *args],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
