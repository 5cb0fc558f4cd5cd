"""The gRPC front end (inference.GRPCInferenceService) driven by tritonclient.grpc, a real V2
client, against a real server process: every RPC, every datatype (raw and typed contents),
errors as gRPC status codes, and a request that works after each bad one."""

import threading

import grpc
import numpy as np
import pytest

from grpc_server import GrpcTestServer

tc = pytest.importorskip("tritonclient.grpc")
service_pb2 = pytest.importorskip("tritonclient.grpc.service_pb2")
service_pb2_grpc = pytest.importorskip("tritonclient.grpc.service_pb2_grpc")
ml_dtypes = pytest.importorskip("ml_dtypes")
from tritonclient.utils import InferenceServerException  # noqa: E402


@pytest.fixture(scope="module")
def server():
    with GrpcTestServer() as s:
        yield s


@pytest.fixture()
def client(server):
    with tc.InferenceServerClient(server.url) as c:
        yield c


def _input(name, array, datatype):
    i = tc.InferInput(name, list(array.shape), datatype)
    i.set_data_from_numpy(array)
    return i


def _code(excinfo):
    return excinfo.value.status()


def _still_serving(client):
    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    r = client.infer("simple", [_input("INPUT0", a, "INT32"), _input("INPUT1", a, "INT32")])
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a * 2)


def test_health_and_metadata(client):
    assert client.is_server_live() and client.is_server_ready()
    meta = client.get_server_metadata(as_json=True)
    assert meta["name"] == "mlcore"
    assert {"model_repository", "statistics"} <= set(meta["extensions"])
    m = client.get_model_metadata("simple", as_json=True)
    assert m["name"] == "simple" and m["versions"] == ["1"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in m["inputs"]] == [
        ("INPUT0", "INT32", ["-1", "16"]), ("INPUT1", "INT32", ["-1", "16"])]
    assert [t["name"] for t in m["outputs"]] == ["OUTPUT0", "OUTPUT1"]
    config = client.get_model_config("simple", as_json=True)["config"]
    assert config["max_batch_size"] == 8
    assert config["input"][0] == {"name": "INPUT0", "data_type": "TYPE_INT32", "dims": ["16"]}
    assert client.is_model_ready("simple") and client.is_model_ready("simple", "1")
    assert not client.is_model_ready("simple", "2") and not client.is_model_ready("nope")
    with pytest.raises(InferenceServerException) as e:
        client.get_model_metadata("nope")
    assert _code(e) == "StatusCode.NOT_FOUND"


def test_simple_infer_with_id_and_requested_outputs(client):
    a = np.arange(32, dtype=np.int32).reshape(2, 16)
    b = np.full((2, 16), 3, dtype=np.int32)
    r = client.infer("simple", [_input("INPUT0", a, "INT32"), _input("INPUT1", b, "INT32")],
                     request_id="req-7", outputs=[tc.InferRequestedOutput("OUTPUT1")])
    assert r.get_response().id == "req-7"
    np.testing.assert_array_equal(r.as_numpy("OUTPUT1"), a - b)
    assert r.get_response().model_name == "simple"


_TYPES = [("BOOL", np.array([[True, False, True]])),
          ("UINT8", np.array([[0, 7, 255]], np.uint8)),
          ("UINT16", np.array([[0, 7, 65535]], np.uint16)),
          ("UINT32", np.array([[0, 7, 2**32 - 1]], np.uint32)),
          ("UINT64", np.array([[0, 7, 2**64 - 1]], np.uint64)),
          ("INT8", np.array([[-128, 0, 127]], np.int8)),
          ("INT16", np.array([[-32768, 0, 32767]], np.int16)),
          ("INT32", np.array([[-2**31, 0, 2**31 - 1]], np.int32)),
          ("INT64", np.array([[-2**63, 0, 2**63 - 1]], np.int64)),
          ("FP16", np.array([[-1.5, 0, 65504]], np.float16)),
          ("BF16", np.array([[-1.5, 0, 3.0e38]], dtype=ml_dtypes.bfloat16)),
          ("FP32", np.array([[-1.5, 0, 3.4e38]], np.float32)),
          ("FP64", np.array([[-1.5, 0, 1e300]], np.float64)),
          ("BYTES", np.array([[b"", b"caf\xc3\xa9", b"\x00\xff binary"]], dtype=object))]


@pytest.mark.parametrize("datatype,array", _TYPES, ids=[t for t, _ in _TYPES])
def test_every_datatype_round_trips_raw(client, datatype, array):
    r = client.infer(f"echo_{datatype.lower()}", [_input("INPUT0", array, datatype)])
    out = r.as_numpy("OUTPUT0")
    assert r.get_output("OUTPUT0").datatype == datatype
    assert out.shape == array.shape
    np.testing.assert_array_equal(out, array)


# Typed contents (InferTensorContents) as other V2 clients send them: tritonclient always sends
# raw_input_contents, so these go through its generated stub.
_TYPED = [("BOOL", "bool_contents", [True, False], b"\x01\x00"),
          ("UINT8", "uint_contents", [1, 255], bytes([1, 255])),
          ("UINT16", "uint_contents", [1, 65535], np.array([1, 65535], "<u2").tobytes()),
          ("UINT32", "uint_contents", [1, 2**32 - 1], np.array([1, 2**32 - 1], "<u4").tobytes()),
          ("UINT64", "uint64_contents", [1, 2**64 - 1],
           np.array([1, 2**64 - 1], "<u8").tobytes()),
          ("INT8", "int_contents", [-128, 127], np.array([-128, 127], "<i1").tobytes()),
          ("INT16", "int_contents", [-5, 300], np.array([-5, 300], "<i2").tobytes()),
          ("INT32", "int_contents", [-5, 2**31 - 1], np.array([-5, 2**31 - 1], "<i4").tobytes()),
          ("INT64", "int64_contents", [-5, 2**40], np.array([-5, 2**40], "<i8").tobytes()),
          ("FP32", "fp32_contents", [1.5, -2.0], np.array([1.5, -2.0], "<f4").tobytes()),
          ("FP64", "fp64_contents", [1.5, -2.0], np.array([1.5, -2.0], "<f8").tobytes()),
          ("BYTES", "bytes_contents", [b"ab", b""], b"\x02\x00\x00\x00ab\x00\x00\x00\x00")]


@pytest.fixture()
def stub(server):
    channel = grpc.insecure_channel(server.url)
    yield service_pb2_grpc.GRPCInferenceServiceStub(channel)
    channel.close()


def _typed_request(model, datatype, field, values, shape=None):
    request = service_pb2.ModelInferRequest(model_name=model)
    tensor = request.inputs.add(name="INPUT0", datatype=datatype)
    tensor.shape.extend(shape or [1, len(values)])
    getattr(tensor.contents, field).extend(values)
    return request


@pytest.mark.parametrize("datatype,field,values,raw", _TYPED, ids=[t[0] for t in _TYPED])
def test_typed_contents(stub, datatype, field, values, raw):
    response = stub.ModelInfer(_typed_request(f"echo_{datatype.lower()}", datatype, field, values))
    assert response.outputs[0].datatype == datatype
    assert list(response.outputs[0].shape) == [1, len(values)]
    assert response.raw_output_contents[0] == raw


def _expect(stub, request, code, text):
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(request)
    assert e.value.code() == code, e.value.details()
    assert text in e.value.details()


def test_bad_requests_map_to_status_codes_and_the_server_keeps_serving(stub, client):
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    _expect(stub, _typed_request("echo_int8", "INT8", "int_contents", [1, 128]), invalid,
            "does not fit")
    _expect(stub, _typed_request("echo_int32", "INT32", "fp32_contents", [1.0]), invalid,
            "int_contents")
    _expect(stub, _typed_request("echo_fp16", "FP16", "fp32_contents", [1.0]), invalid,
            "raw_input_contents")
    _expect(stub, _typed_request("echo_fp32", "FLOAT", "fp32_contents", [1.0]), invalid, "FLOAT")
    _expect(stub, _typed_request("echo_fp32", "FP32", "fp32_contents", [1.0, 2.0], [1, 3]),
            invalid, "INPUT0")
    _expect(stub, _typed_request("echo_fp32", "FP32", "fp32_contents", [1.0], [1, -2]), invalid,
            "INPUT0")
    _expect(stub, _typed_request("nope", "FP32", "fp32_contents", [1.0]), not_found, "nope")
    versioned = _typed_request("echo_fp32", "FP32", "fp32_contents", [1.0])
    versioned.model_version = "9"
    _expect(stub, versioned, not_found, "version 9")
    _still_serving(client)

    raw = service_pb2.ModelInferRequest(model_name="echo_fp32")
    raw.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 2])
    raw.raw_input_contents.append(b"\x00" * 7)  # one byte short of two floats
    _expect(stub, raw, invalid, "INPUT0")
    raw.raw_input_contents[0] = b"\x00" * 12  # one float too many
    _expect(stub, raw, invalid, "INPUT0")
    raw.raw_input_contents.append(b"\x00" * 8)  # two raw entries for one input
    _expect(stub, raw, invalid, "raw_input_contents")
    mixed = service_pb2.ModelInferRequest(model_name="echo_fp32")
    tensor = mixed.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 1])
    tensor.contents.fp32_contents.append(1.0)
    mixed.raw_input_contents.append(b"\x00" * 4)
    _expect(stub, mixed, invalid, "contents")
    bytes_req = service_pb2.ModelInferRequest(model_name="echo_bytes")
    bytes_req.inputs.add(name="INPUT0", datatype="BYTES", shape=[1, 1])
    bytes_req.raw_input_contents.append(b"\x09\x00\x00\x00ab")  # length past the end
    _expect(stub, bytes_req, invalid, "INPUT0")
    wrong_name = _typed_request("echo_fp32", "FP32", "fp32_contents", [1.0])
    wrong_name.inputs[0].name = "x"
    _expect(stub, wrong_name, invalid, "")
    _still_serving(client)


def test_unloaded_model_is_unavailable_until_loaded_again(client):
    x = np.ones((1, 2), np.float32)
    client.unload_model("slow")
    index = {m["name"]: m for m in client.get_model_repository_index(as_json=True)["models"]}
    assert index["slow"]["state"] != "READY"
    with pytest.raises(InferenceServerException) as e:
        client.infer("slow", [_input("INPUT0", x, "FP32")])
    assert _code(e) == "StatusCode.UNAVAILABLE"
    _still_serving(client)
    client.load_model("slow")
    assert client.is_model_ready("slow")
    np.testing.assert_array_equal(
        client.infer("slow", [_input("INPUT0", x, "FP32")]).as_numpy("OUTPUT0"), x)
    with pytest.raises(InferenceServerException) as e:
        client.load_model("nope")
    assert _code(e) == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as e:
        client.load_model("slow", config='{"max_batch_size": 2}')
    assert _code(e) == "StatusCode.INVALID_ARGUMENT"


def test_repository_index_and_statistics(client):
    ready = client.get_model_repository_index(as_json=True)["models"]
    assert {"simple", "echo_bytes", "echo_bf16"} <= {m["name"] for m in ready}
    before = client.get_inference_statistics("echo_int64", as_json=True)["model_stats"][0]
    x = np.array([[1, 2]], np.int64)
    for _ in range(3):
        client.infer("echo_int64", [_input("INPUT0", x, "INT64")])
    after = client.get_inference_statistics("echo_int64", as_json=True)["model_stats"][0]
    assert int(after["inference_count"]) == int(before.get("inference_count", 0)) + 3
    assert int(after["inference_stats"]["success"]["count"]) >= 3
    everything = client.get_inference_statistics(as_json=True)["model_stats"]
    assert len(everything) >= len(_TYPES) + 2
    with pytest.raises(InferenceServerException) as e:
        client.get_inference_statistics("nope")
    assert _code(e) == "StatusCode.NOT_FOUND"


def test_concurrent_clients_each_get_their_own_answer(server):
    errors = []

    def worker(k):
        try:
            with tc.InferenceServerClient(server.url) as c:
                for i in range(20):
                    a = np.full((1, 16), k * 1000 + i, np.int32)
                    b = np.arange(16, dtype=np.int32).reshape(1, 16)
                    r = c.infer("simple", [_input("INPUT0", a, "INT32"),
                                           _input("INPUT1", b, "INT32")])
                    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a + b)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []


def test_bearer_token_on_every_rpc_but_health():
    with GrpcTestServer("--token", "s3cret") as s, tc.InferenceServerClient(s.url) as c:
        assert c.is_server_live() and c.is_server_ready()
        a = np.ones((1, 16), np.int32)
        inputs = [_input("INPUT0", a, "INT32"), _input("INPUT1", a, "INT32")]
        for headers in (None, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
            with pytest.raises(InferenceServerException) as e:
                c.infer("simple", inputs, headers=headers)
            assert _code(e) == "StatusCode.UNAUTHENTICATED"
            with pytest.raises(InferenceServerException) as e:
                c.get_model_metadata("simple", headers=headers)
            assert _code(e) == "StatusCode.UNAUTHENTICATED"
        r = c.infer("simple", inputs, headers={"authorization": "Bearer s3cret"})
        np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a * 2)


def test_a_taken_port_is_an_error(server):
    import subprocess

    from grpc_server import server_binary

    # A second server asked for the first one's port must fail, not share it (SO_REUSEPORT).
    port = server.url.rsplit(":", 1)[1]
    probe = subprocess.run(
        [server_binary(), "--grpc-port", port], input="", capture_output=True, text=True,
        timeout=60)
    assert probe.returncode == 1 and "cannot listen" in probe.stderr


def test_a_message_over_the_size_limit_is_refused_and_serving_goes_on():
    with GrpcTestServer("--max-request-bytes", "4096") as s, tc.InferenceServerClient(s.url) as c:
        big = np.zeros((1, 2048), np.float32)  # 8 KiB of raw input
        with pytest.raises(InferenceServerException) as e:
            c.infer("echo_fp32", [_input("INPUT0", big, "FP32")])
        assert _code(e) == "StatusCode.RESOURCE_EXHAUSTED"
        _still_serving(c)


def test_stop_answers_the_requests_in_flight():
    s = GrpcTestServer()
    results = []
    x = np.ones((1, 3), np.float32)

    def call():
        with tc.InferenceServerClient(s.url) as c:
            try:
                results.append(c.infer("slow", [_input("INPUT0", x, "FP32")]).as_numpy("OUTPUT0"))
            except InferenceServerException as e:
                results.append(e)

    t = threading.Thread(target=call)
    t.start()
    assert s.proc.stdout.readline().strip() == "slow_started"  # the request is being computed
    s.close()  # Stop: refuse new calls, answer the one in flight (the 200 ms model)
    t.join(timeout=30)
    assert s.proc.returncode == 0
    assert len(results) == 1 and not isinstance(results[0], Exception), results
    np.testing.assert_array_equal(results[0], x)
