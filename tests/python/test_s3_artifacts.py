"""Artifacts on S3 from Python, against moto's S3 server on 127.0.0.1: a pipeline run with
``artifacts="s3://..."`` publishes its outputs to the bucket, a later run on an emptied local
store is served from the cache and reads its input back from S3 checked against its digest, a
damaged object fails the reader naming its s3:// URL, and an endpoint answering 500 fails the
run, after retries, naming bucket and key, with nothing recorded as written."""

import http.server
import os
import shutil
import sqlite3
import threading

import pytest

from mlcore import _mlcore
from mlcore import pipelines as mp
from mlcore.pipelines import Dataset, Input, Output

moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
boto3 = pytest.importorskip("boto3")


@pytest.fixture
def s3(monkeypatch):
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = "http://127.0.0.1:%d" % server.get_host_and_port()[1]
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "mlcore-test",
                        "AWS_SECRET_ACCESS_KEY": "mlcore-test-secret",
                        "AWS_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "2"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="mlcore-test", aws_secret_access_key="x")
    client.create_bucket(Bucket="lake")
    yield client
    server.stop()


@mp.component
def make_data(rows: int, data: Output[Dataset]):
    with open(data.path, "w") as f:
        f.write("\n".join(str(i) for i in range(rows)))


@mp.component
def total(data: Input[Dataset], factor: int) -> int:
    with open(data.path) as f:
        return factor * sum(int(line) for line in f)


@mp.pipeline
def summed(rows: int = 10, factor: int = 1):
    d = make_data(rows=rows)
    t = total(data=d.outputs["data"], factor=factor)
    return {"total": t.outputs["output"], "data": d.outputs["data"]}


def _empty_local_store():
    shutil.rmtree(os.path.join(os.environ["MLCORE_HOME"], "artifacts", "sha256"))


def test_artifact_store_round_trips_through_s3(s3, tmp_path):
    here = _mlcore.store.ArtifactStore(str(tmp_path / "here"), remote="s3://lake/shared")
    assert here.remote == "s3://lake/shared"
    a = here.put(b"dataset bytes")
    assert a.uri == "s3://lake/shared/sha256/" + a.digest
    body = s3.get_object(Bucket="lake", Key="shared/sha256/" + a.digest)["Body"].read()
    assert body == b"dataset bytes"
    there = _mlcore.store.ArtifactStore(str(tmp_path / "there"), remote="s3://lake/shared")
    assert there.get(a.digest) == b"dataset bytes"
    assert _mlcore.store.ArtifactStore(str(tmp_path / "local"), remote="none").remote is None


def test_pipeline_artifacts_live_on_s3(s3):
    run = mp.run(summed, {"rows": 10}, artifacts="s3://lake/runs").wait()
    assert run.status == "succeeded", run.error
    assert run.outputs["total"] == 45
    data = run.outputs["data"]
    assert data.uri == "s3://lake/runs/sha256/" + data.digest
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lake", Prefix="runs/")["Contents"]]
    assert "runs/sha256/" + data.digest in keys

    # This machine's copies are gone: the producer is still a cache hit (S3 holds its output),
    # and the consumer, run with a new argument, reads its input back from S3, checked.
    _empty_local_store()
    again = mp.run(summed, {"rows": 10, "factor": 2}, artifacts="s3://lake/runs").wait()
    assert again.status == "succeeded", again.error
    assert again.outputs["total"] == 90
    assert again.task("make-data").state == "cached"

    # A damaged object never reaches a task.
    _empty_local_store()
    s3.put_object(Bucket="lake", Key="runs/sha256/" + data.digest, Body=b"0\n1\n2")
    bad = mp.run(summed, {"rows": 10, "factor": 3}, artifacts="s3://lake/runs").wait()
    assert bad.status == "failed"
    assert "s3://lake/runs/sha256/" + data.digest in bad.error
    assert "corrupted" in bad.error


class _Always500(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = (b"<Error><Code>InternalError</Code><Message>We encountered an internal error."
                b"</Message></Error>")
        self.send_response(500)
        self.send_header("Content-Length", str(len(body) if self.command != "HEAD" else 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *args):
        pass


def test_failing_endpoint_fails_the_run_and_records_nothing(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Always500)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:%d" % server.server_port)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        run = mp.run(summed, artifacts="s3://down-bucket/p").wait()
    finally:
        server.shutdown()
    assert run.status == "failed"
    for part in ("s3://down-bucket/p/sha256/", "HTTP 500", "after 2 attempts"):
        assert part in run.error, run.error
    db = sqlite3.connect(os.path.join(os.environ["MLCORE_HOME"], "mlcore.db"))
    assert db.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 0
    assert run.artifacts == []
