"""The HTTP front end with plain HTTP: every endpoint of KServe V1 and V2, the binary tensor
extension, every V2 datatype, metrics valid under promtool, auth, and bad input of every kind
answered 4xx while the server keeps serving (checked by a request after each)."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import time

import numpy as np
import pytest

import mlcore
from serve_helpers import digits, get_json, post_json, request, save_digits_mlp, v2_body


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("serve") / "digits"
    model = save_digits_mlp(ckpt)
    server = mlcore.serve.Server(http_port=0, max_request_bytes=1 << 20, header_timeout=0.5,
                                 body_timeout=0.5)

    class Echo(mlcore.serve.Model):
        def predict(self, inputs):
            return dict(inputs)

    server.add_model("digits", ckpt, max_batch_size=16)
    server.add_model("echo", Echo())
    server.start()
    yield server, model
    server.stop()


def still_serving(url):
    x, _ = digits()
    status, body = post_json(url, "/v2/models/digits/infer", v2_body(x[:1]))
    assert status == 200, body


def test_health_and_metadata(served):
    server, _ = served
    url = server.url
    assert url.startswith("http://127.0.0.1:")
    assert get_json(url, "/v2/health/live") == (200, {"live": True})
    assert get_json(url, "/v2/health/ready") == (200, {"ready": True})
    status, meta = get_json(url, "/v2")
    assert status == 200 and meta["name"] == "mlcore" and "binary_tensor_data" in meta["extensions"]
    status, meta = get_json(url, "/v2/models/digits")
    assert status == 200
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
    assert meta["outputs"][0]["shape"] == [-1, 10] and meta["versions"] == ["1"]
    assert get_json(url, "/v2/models/digits/versions/1")[0] == 200
    assert get_json(url, "/v2/models/digits/ready")[0] == 200
    assert get_json(url, "/v2/models/digits/versions/1/ready")[0] == 200
    assert get_json(url, "/v2/models/digits/versions/9/ready")[0] == 503
    assert get_json(url, "/v2/models/digits/versions/9")[0] == 404
    assert get_json(url, "/v2/models/nope")[0] == 404
    assert get_json(url, "/v2/models/digits/config")[1]["max_batch_size"] == 16
    assert get_json(url, "/v1/models") == (200, {"models": ["digits", "echo"]})
    assert get_json(url, "/v1/models/digits") == (200, {"name": "digits", "ready": True})
    assert get_json(url, "/v1/models/nope")[0] == 404


def test_v2_infer_nested_flat_and_v1(served):
    server, model = served
    url = server.url
    x, _ = digits()
    expected = model.predict(x[:3])
    status, out = post_json(url, "/v2/models/digits/infer", v2_body(x[:3]))
    assert status == 200, out
    assert out["model_name"] == "digits" and out["model_version"] == "1"
    got = np.array(out["outputs"][0]["data"], np.float32).reshape(out["outputs"][0]["shape"])
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    nested = {"id": "r1", "inputs": [{"name": "input", "shape": [3, 64], "datatype": "FP32",
                                     "data": x[:3].tolist()}]}
    status, out = post_json(url, "/v2/models/digits/versions/1/infer", nested)
    assert status == 200 and out["id"] == "r1"
    status, out = post_json(url, "/v1/models/digits:predict", {"instances": x[:3].tolist()})
    assert status == 200
    np.testing.assert_allclose(np.array(out["predictions"]), expected, rtol=1e-6)
    status, out = post_json(url, "/v1/models/digits:predict", {"inputs": {"input": x[:2].tolist()}})
    assert status == 200 and len(out["predictions"]) == 2


def test_binary_tensor_extension(served):
    server, model = served
    x, _ = digits()
    raw = x[:2].tobytes()
    header = json.dumps({"inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "outputs": [{"name": "output", "parameters": {"binary_data": True}}]})
    status, headers, body = request(
        server.url, "POST", "/v2/models/digits/infer", header.encode() + raw,
        {"Inference-Header-Content-Length": str(len(header))})
    assert status == 200, body
    n = int(headers["inference-header-content-length"])
    meta = json.loads(body[:n])
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == 2 * 10 * 4
    got = np.frombuffer(body[n:], np.float32).reshape(2, 10)
    np.testing.assert_allclose(got, model.predict(x[:2]), rtol=1e-6)
    # Framing that does not add up is refused.
    for extra, length in ((b"", len(header) + 100), (b"junk", len(header)), (b"", -3)):
        status, _, _ = request(server.url, "POST", "/v2/models/digits/infer",
                               header.encode() + raw + extra,
                               {"Inference-Header-Content-Length": str(length)})
        assert status == 400
    still_serving(server.url)


VALUES = {
    "BOOL": [True, False], "UINT8": [0, 255], "UINT16": [0, 65535], "UINT32": [0, 2**32 - 1],
    "UINT64": [0, 2**64 - 1], "INT8": [-128, 127], "INT16": [-32768, 32767],
    "INT32": [-2**31, 2**31 - 1], "INT64": [-2**63, 2**63 - 1], "FP16": [0.5, -2.0],
    "BF16": [0.5, -2.0], "FP32": [0.25, -1.5], "FP64": [1e-300, 2.5], "BYTES": ["héllo", ""],
}


@pytest.mark.parametrize("datatype", sorted(VALUES))
def test_every_datatype_round_trips(served, datatype):
    server, _ = served
    body = {"inputs": [{"name": "x", "shape": [2], "datatype": datatype,
                        "data": VALUES[datatype]}]}
    status, out = post_json(server.url, "/v2/models/echo/infer", body)
    assert status == 200, out
    # A Python model sees BF16 as float32 (numpy has no bfloat16) and, undeclared, answers FP32.
    assert out["outputs"][0]["datatype"] == ("FP32" if datatype == "BF16" else datatype)
    assert out["outputs"][0]["data"] == VALUES[datatype]


def test_out_of_range_values_are_refused(served):
    server, _ = served
    for datatype, value in (("UINT8", 256), ("INT8", -129), ("UINT32", -1), ("INT32", 1.5),
                            ("BOOL", 1), ("FP32", "x"), ("BYTES", 3)):
        body = {"inputs": [{"name": "x", "shape": [1], "datatype": datatype, "data": [value]}]}
        status, out = post_json(server.url, "/v2/models/echo/infer", body)
        assert status == 400 and "error" in out, (datatype, value)


def test_bad_input_is_4xx_and_the_server_keeps_serving(served):
    server, _ = served
    url = server.url
    good = v2_body(digits()[0][:1])
    cases = [
        (b"{not json", 400),
        (json.dumps({"inputs": [dict(good["inputs"][0], datatype="FP64")]}), 400),
        (json.dumps({"inputs": [dict(good["inputs"][0], shape=[1, 63])]}), 400),
        (json.dumps({"inputs": [dict(good["inputs"][0], data=[0.0] * 63)]}), 400),
        (json.dumps({"inputs": [dict(good["inputs"][0], data=[0.0] * 65)]}), 400),
        (json.dumps({"inputs": [dict(good["inputs"][0], datatype="FP8")]}), 400),
        (json.dumps({"inputs": []}), 400),
        (json.dumps([1, 2]), 400),
    ]
    for body, want in cases:
        status, _, data = request(url, "POST", "/v2/models/digits/infer", body)
        assert status == want, (body[:80], data)
        assert "error" in json.loads(data)
        still_serving(url)
    assert post_json(url, "/v2/models/nope/infer", good)[0] == 404
    assert post_json(url, "/v2/models/digits/versions/3/infer", good)[0] == 404
    assert post_json(url, "/v2/models/../digits/infer", good)[0] == 400
    assert post_json(url, "/v2/models/%2e%2e/infer", good)[0] == 400
    assert post_json(url, "/v2/repository/models/..%2fetc/load", {})[0] == 400
    assert get_json(url, "/v2/nothing/here")[0] == 404
    # Invalid UTF-8 inside a JSON string (BYTES data).
    bad = (b'{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["\xff\xfe"]}]}')
    assert request(url, "POST", "/v2/models/echo/infer", bad)[0] == 400
    # Over the body limit (1 MiB here).
    # The answer comes as soon as Content-Length is read, before any of the body.
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as big:
        big.sendall(b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 2000000\r\n\r\n")
        big.settimeout(5)
        assert big.recv(4096).startswith(b"HTTP/1.1 413")
    still_serving(url)


def test_a_client_that_stalls_gets_408_and_others_are_served(served):
    server, _ = served
    port = int(server.url.rsplit(":", 1)[1])
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
                    b"\r\n{\"inputs\":")
    still_serving(server.url)
    stalled.settimeout(5)
    answer = stalled.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    half_header = socket.create_connection(("127.0.0.1", port))
    half_header.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHos")
    half_header.settimeout(5)
    assert half_header.recv(4096).startswith(b"HTTP/1.1 408")
    still_serving(server.url)


def test_keep_alive_serves_many_requests_on_one_connection(served):
    import http.client

    server, _ = served
    port = int(server.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port)
    body = json.dumps(v2_body(digits()[0][:1]))
    for _ in range(20):
        conn.request("POST", "/v2/models/digits/infer", body)
        response = conn.getresponse()
        assert response.status == 200
        response.read()
    conn.close()


def test_repository_index_statistics_and_metrics(served):
    server, _ = served
    url = server.url
    status, index = post_json(url, "/v2/repository/index", {})
    assert status == 200
    assert {"name": "digits", "version": "1", "state": "READY"} in index
    status, stats = get_json(url, "/v2/models/digits/stats")
    assert status == 200 and stats["model_stats"][0]["inference_count"] > 0
    assert get_json(url, "/v2/models/stats")[0] == 200
    status, headers, text = request(url, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert b'mlcore_serve_inference_requests_total{model="digits",version="1",outcome="success"}' in text
    assert b"mlcore_serve_request_duration_seconds_bucket" in text
    promtool = shutil.which("promtool")
    if promtool:
        check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_auth_guards_everything_but_health(tmp_path):
    ckpt = tmp_path / "digits"
    save_digits_mlp(ckpt, epochs=1)
    with mlcore.serve.Server(http_port=0, auth_token="s3cret") as server:
        server.add_model("digits", ckpt)
        url = server.url
        assert get_json(url, "/v2/health/ready")[0] == 200
        assert get_json(url, "/v2/models/digits")[0] == 401
        assert get_json(url, "/metrics")[0] == 401
        wrong = {"Authorization": "Bearer s3cres"}
        assert get_json(url, "/v2/models/digits", headers=wrong)[0] == 401
        assert get_json(url, "/v2/models/digits", headers={"Authorization": "Bearer s3cret"})[0] == 200
        body = v2_body(digits()[0][:1])
        assert post_json(url, "/v2/models/digits/infer", body)[0] == 401
        assert post_json(url, "/v2/models/digits/infer", body,
                         headers={"Authorization": "Bearer s3cret"})[0] == 200


def test_repository_load_unload_over_http_while_serving(tmp_path):
    import threading

    repo = tmp_path / "repo"
    save_digits_mlp(repo / "digits" / "1", epochs=1)
    save_digits_mlp(repo / "digits" / "2", epochs=1, seed=2)
    (repo / "digits" / "config.json").write_text(json.dumps(
        {"max_batch_size": 8, "version_policy": {"all": {}}}))
    with mlcore.serve.Server(http_port=0, model_repository=repo) as server:
        url = server.url
        assert get_json(url, "/v2/models/digits")[1]["versions"] == ["1", "2"]
        failures, stop = [], threading.Event()

        def client():
            body = v2_body(digits()[0][:1])
            while not stop.is_set():
                status, out = post_json(url, "/v2/models/digits/infer", body)
                if status != 200:
                    failures.append((status, out))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for _ in range(3):
            assert post_json(url, "/v2/repository/models/digits/load", {})[0] == 200
        stop.set()
        for t in threads:
            t.join()
        assert failures == []
        assert post_json(url, "/v2/repository/models/digits/unload", {})[0] == 200
        assert post_json(url, "/v2/models/digits/infer", v2_body(digits()[0][:1]))[0] == 503
        # An unloaded model is not ready; the server is (it serves what it was asked to).
        assert get_json(url, "/v2/models/digits/ready")[0] == 503
        assert get_json(url, "/v2/health/ready")[0] == 200
        assert post_json(url, "/v2/repository/models/digits/load", {})[0] == 200
        assert post_json(url, "/v2/repository/models/ghost/load", {})[0] == 404
        still_serving(url)


def test_overload_is_503_with_retry_after(tmp_path):
    import threading

    release = threading.Event()

    class Slow(mlcore.serve.Model):
        def predict(self, inputs):
            release.wait(10)
            return dict(inputs)

    with mlcore.serve.Server(http_port=0) as server:
        server.add_model("slow", Slow(), max_queue_size=1)
        body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]}
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            post_json(server.url, "/v2/models/slow/infer", body)[0])) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.3)
        status, headers, _ = request(server.url, "POST", "/v2/models/slow/infer", json.dumps(body))
        assert status == 503 and headers["retry-after"] == "1"
        release.set()
        for t in threads:
            t.join()
        assert results == [200, 200]


def test_stop_drains_requests_in_flight():
    import threading

    class Slow(mlcore.serve.Model):
        def predict(self, inputs):
            time.sleep(0.5)
            return dict(inputs)

    server = mlcore.serve.Server(http_port=0)
    server.add_model("slow", Slow())
    server.start()
    url = server.url
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]}
    results = []
    client = threading.Thread(target=lambda: results.append(
        post_json(url, "/v2/models/slow/infer", body)))
    client.start()
    time.sleep(0.2)
    server.stop()  # returns after the request in flight was answered
    client.join()
    assert results and results[0][0] == 200 and results[0][1]["outputs"][0]["data"] == [1.0]
    with pytest.raises(OSError):
        request(url, "GET", "/v2/health/live", timeout=2)
