"""The server serving registry models (name, name/version, name@alias) through the registry's
resolver, and following an alias move while a client keeps sending requests: no request fails
and the answers switch to the new version."""

import threading
import time

import numpy as np
import pytest

import mlcore
from grpc_server import GrpcTestServer

tc = pytest.importorskip("tritonclient.grpc")


def _register(tmp_path, value):
    d = tmp_path / f"v{value}"
    d.mkdir()
    (d / "value.txt").write_text(str(value))
    return mlcore.models.register("adder", d, tags={"backend": "add_constant"})


def _ask(client, model):
    x = np.zeros((1, 4), np.int32)
    i = tc.InferInput("INPUT0", [1, 4], "INT32")
    i.set_data_from_numpy(x)
    return int(client.infer(model, [i]).as_numpy("OUTPUT0")[0, 0])


def test_serves_references_and_follows_an_alias_move(tmp_path, _isolated_home):
    for value in (1, 2, 3):
        _register(tmp_path, value)
    mlcore.models.set_alias("adder", "production", 1)
    with GrpcTestServer("--home", _isolated_home, "--poll-ms", "50",
                        "--registry", "prod=adder@production", "--registry", "pinned=adder/2",
                        "--registry", "latest=adder") as server, \
            tc.InferenceServerClient(server.url) as client:
        assert _ask(client, "prod") == 1
        assert _ask(client, "pinned") == 2
        assert _ask(client, "latest") == 3
        assert client.get_model_metadata("prod", as_json=True)["versions"] == ["1"]

        answers, failures, stop = [], [], threading.Event()

        def loop():
            with tc.InferenceServerClient(server.url) as c:
                while not stop.is_set():
                    try:
                        answers.append(_ask(c, "prod"))
                    except Exception as e:  # noqa: BLE001 (every failure is reported)
                        failures.append(e)

        threads = [threading.Thread(target=loop) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        mlcore.models.set_alias("adder", "production", 3)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not answers or answers[-1] != 3):
            time.sleep(0.05)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert failures == []
        assert set(answers) == {1, 3} and answers[-1] == 3
        assert client.get_model_metadata("prod", as_json=True)["versions"] == ["3"]
        assert _ask(client, "pinned") == 2


def test_an_unknown_reference_is_refused_at_start(tmp_path, _isolated_home):
    _register(tmp_path, 1)
    with pytest.raises(RuntimeError, match="exited"):
        GrpcTestServer("--home", _isolated_home, "--registry", "x=adder@staging")
