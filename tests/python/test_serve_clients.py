"""Real V2 clients against a real mlcore server on 127.0.0.1: tritonclient.http (JSON and
binary tensors, metadata, readiness, repository, statistics), the kserve SDK's REST client
(V1 and V2), and 64 concurrent clients whose batched answers equal the unbatched ones."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

import mlcore
from serve_helpers import digits, save_digits_mlp

tritonhttp = pytest.importorskip("tritonclient.http")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    repo = tmp_path_factory.mktemp("serve_clients") / "repo"
    model = save_digits_mlp(repo / "digits" / "1")
    (repo / "digits" / "config.json").write_text(
        '{"max_batch_size": 32, "max_queue_delay_us": 2000, "instance_count": 2}')
    server = mlcore.serve.Server(http_port=0, model_repository=repo)
    server.start()
    yield server, model
    server.stop()


def hostport(server):
    return server.url.split("//")[1]


@pytest.mark.parametrize("binary", [False, True])
def test_tritonclient_http_infer(served, binary):
    server, model = served
    x, _ = digits()
    client = tritonhttp.InferenceServerClient(hostport(server))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("digits")
    meta = client.get_model_metadata("digits")
    assert meta["inputs"][0]["datatype"] == "FP32" and meta["inputs"][0]["shape"] == [-1, 64]
    assert client.get_server_metadata()["name"] == "mlcore"
    assert client.get_model_config("digits")["max_batch_size"] == 32
    inp = tritonhttp.InferInput("input", [5, 64], "FP32")
    inp.set_data_from_numpy(x[:5], binary_data=binary)
    out = tritonhttp.InferRequestedOutput("output", binary_data=binary)
    result = client.infer("digits", [inp], outputs=[out], request_id="abc")
    np.testing.assert_allclose(result.as_numpy("output"), model.predict(x[:5]), rtol=1e-6)
    assert result.get_response()["id"] == "abc"
    stats = client.get_inference_statistics("digits")
    assert stats["model_stats"][0]["inference_count"] >= 1
    index = client.get_model_repository_index()
    assert any(row["name"] == "digits" and row["state"] == "READY" for row in index)
    client.close()


def test_tritonclient_errors_and_repository(served):
    from tritonclient.utils import InferenceServerException

    server, _ = served
    client = tritonhttp.InferenceServerClient(hostport(server))
    inp = tritonhttp.InferInput("input", [1, 3], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 3), np.float32))
    with pytest.raises(InferenceServerException, match="shape"):
        client.infer("digits", [inp])
    with pytest.raises(InferenceServerException, match="unknown model"):
        client.get_model_metadata("ghost")
    client.load_model("digits")  # a reload, served throughout
    assert client.is_model_ready("digits")
    client.close()


KSERVE_CLIENT = r"""
import asyncio, json, sys
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

url, rows = sys.argv[1], np.array(json.loads(sys.argv[2]), np.float32)

async def run():
    v2 = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    assert await v2.is_server_ready(url)
    assert await v2.is_model_ready(url, "digits")
    inp = InferInput("input", list(rows.shape), "FP32")
    inp.set_data_from_numpy(rows, binary_data=False)
    response = await v2.infer(url, InferRequest("digits", [inp]), model_name="digits")
    v1 = InferenceRESTClient(RESTConfig(protocol="v1", retries=0))
    answer = await v1.infer(url, {"instances": rows.tolist()}, model_name="digits")
    print(json.dumps({"v2": response.outputs[0].as_numpy().tolist(),
                      "v1": answer["predictions"]}))

asyncio.run(run())
"""


def test_kserve_rest_client_v1_and_v2(served):
    # kserve and tritonclient register the same "inference" protobuf messages, so the kserve
    # SDK runs in a process of its own (and is only looked up here: importorskip would import it).
    if importlib.util.find_spec("kserve") is None:
        pytest.skip("the kserve SDK is not installed")
    server, model = served
    x, _ = digits()
    out = subprocess.run([sys.executable, "-c", KSERVE_CLIENT, server.url, json.dumps(x[:2].tolist())],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(answer["v2"]), model.predict(x[:2]), rtol=1e-6)
    np.testing.assert_allclose(np.array(answer["v1"]), model.predict(x[:2]), rtol=1e-6)


def test_64_concurrent_clients_get_their_own_rows(served):
    server, model = served
    x, _ = digits()
    expected = model.predict(x[:256])
    before = server._server  # the same server throughout
    errors = []

    def client(c):
        tc = tritonhttp.InferenceServerClient(hostport(server))
        try:
            for i in range(8):
                row = (c * 8 + i) % 256
                inp = tritonhttp.InferInput("input", [1, 64], "FP32")
                inp.set_data_from_numpy(x[row:row + 1])
                got = tc.infer("digits", [inp]).as_numpy("output")
                if not np.allclose(got, expected[row:row + 1], rtol=1e-5, atol=1e-6):
                    errors.append((c, i))
        except Exception as e:  # noqa: BLE001 - every failure is reported below
            errors.append(repr(e))
        finally:
            tc.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert server._server is before
    client_stats = tritonhttp.InferenceServerClient(hostport(server)).get_inference_statistics(
        "digits")["model_stats"][0]
    # Batches were formed: fewer executions than requests.
    assert client_stats["execution_count"] < client_stats["inference_count"]
