"""The server serving registry models (name, name/version, name@alias) through the registry's
resolver, and following an alias move while a client keeps sending requests: no request fails
and the answers switch to the new version."""

import numpy as np
import pytest

import mlcore
from grpc_server import GrpcTestServer
from serve_helpers import ask_during_change

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

        answers, failures = ask_during_change(
            lambda: tc.InferenceServerClient(server.url),
            lambda c: _ask(c, "prod"),
            lambda: mlcore.models.set_alias("adder", "production", 3),
            lambda answers: answers and answers[-1] == 3)
        assert failures == []
        assert set(answers) == {1, 3} and answers[-1] == 3
        assert client.get_model_metadata("prod", as_json=True)["versions"] == ["3"]
        assert _ask(client, "pinned") == 2


def test_an_unknown_reference_is_refused_at_start(tmp_path, _isolated_home):
    _register(tmp_path, 1)
    with pytest.raises(RuntimeError, match="exited"):
        GrpcTestServer("--home", _isolated_home, "--registry", "x=adder@staging")
