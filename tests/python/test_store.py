"""The metadata store and the artifact store through the Python bindings."""

import hashlib
import os
import subprocess
import sys
import textwrap

import pytest

from mlcore import _mlcore

store = _mlcore.store


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "mlcore_home"
    monkeypatch.setenv("MLCORE_HOME", str(path))
    return path


def test_default_locations_follow_mlcore_home(home):
    assert store.default_home() == str(home)
    metadata = store.MetadataStore()
    assert metadata.path == str(home / "mlcore.db")
    assert (home / "mlcore.db").exists()
    artifacts = store.ArtifactStore()
    assert artifacts.root == str(home / "artifacts")


def test_store_is_in_wal_mode_with_core_schema(home):
    metadata = store.MetadataStore()
    assert metadata.execute("PRAGMA journal_mode") == [("wal",)]
    assert metadata.execute("PRAGMA foreign_keys") == [(1,)]
    assert metadata.schema_version("store") == 2
    names = metadata.execute(
        "SELECT name FROM schema_migrations WHERE module = 'store' ORDER BY version")
    assert names == [("create_properties",), ("create_artifacts",)]


def test_execute_binds_and_returns_every_type(home):
    metadata = store.MetadataStore()
    metadata.executescript("CREATE TABLE t (i INTEGER, d REAL, s TEXT, b BLOB, n TEXT);")
    metadata.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                     (2**40, 0.5, "it's; DROP TABLE t", b"a\x00b", None))
    assert metadata.changes == 1
    assert metadata.last_insert_rowid == 1
    metadata.execute("INSERT INTO t (i, b) VALUES (?1, ?2)", [True, bytearray(b"xy")])
    rows = metadata.execute("SELECT i, d, s, b, n FROM t ORDER BY rowid")
    assert rows[0] == (2**40, 0.5, "it's; DROP TABLE t", b"a\x00b", None)
    assert rows[1] == (1, None, None, b"xy", None)
    with pytest.raises(TypeError, match="parameter 1"):
        metadata.execute("SELECT ?", [object()])


def test_bad_sql_and_parameter_counts_raise_value_error(home):
    metadata = store.MetadataStore()
    with pytest.raises(ValueError, match="SELEC 1"):
        metadata.execute("SELEC 1")
    with pytest.raises(ValueError, match="takes 1 parameters but 0"):
        metadata.execute("SELECT ?1")
    with pytest.raises(ValueError, match="one SQL statement"):
        metadata.execute("SELECT 1; SELECT 2")


def test_transaction_commits_or_rolls_back(home):
    metadata = store.MetadataStore()
    metadata.executescript("CREATE TABLE runs (name TEXT UNIQUE)")

    def add(name):
        metadata.execute("INSERT INTO runs VALUES (?)", [name])
        return name

    assert metadata.transaction(lambda: add("first")) == "first"

    def fails():
        add("second")
        raise ValueError("changed my mind")

    with pytest.raises(ValueError, match="changed my mind"):
        metadata.transaction(fails)
    assert metadata.execute("SELECT name FROM runs") == [("first",)]

    # A unique violation inside is a ValueError and rolls back the whole transaction.
    with pytest.raises(ValueError, match="UNIQUE"):
        metadata.transaction(lambda: (add("third"), add("first")))
    assert metadata.execute("SELECT count(*) FROM runs") == [(1,)]


def test_module_migrations_apply_once_and_refuse_newer(home):
    metadata = store.MetadataStore()
    v1 = [(1, "create_trials", "CREATE TABLE trials (id INTEGER PRIMARY KEY, value REAL)")]
    v2 = v1 + [(2, "add_state", "ALTER TABLE trials ADD COLUMN state TEXT DEFAULT 'running'")]
    metadata.migrate("hpo_demo", v1)
    metadata.execute("INSERT INTO trials (value) VALUES (0.9)")
    del metadata
    reopened = store.MetadataStore()
    reopened.migrate("hpo_demo", v2)
    reopened.migrate("hpo_demo", v2)
    assert reopened.schema_version("hpo_demo") == 2
    assert reopened.execute("SELECT value, state FROM trials") == [(0.9, "running")]
    with pytest.raises(ValueError, match="schema version 2, newer than version 1"):
        reopened.migrate("hpo_demo", v1)


def test_properties(home):
    metadata = store.MetadataStore()
    with pytest.raises(KeyError):
        metadata.get_property("owner")
    metadata.set_property("owner", "alice")
    assert metadata.get_property("owner") == "alice"


def test_garbage_file_raises_runtime_error_naming_it(tmp_path):
    path = tmp_path / "garbage.db"
    original = os.urandom(8192)
    path.write_bytes(original)
    with pytest.raises(RuntimeError) as error:
        store.MetadataStore(path)
    assert str(path) in str(error.value)
    assert "not an SQLite database" in str(error.value)
    assert path.read_bytes() == original


def test_truncated_file_raises_runtime_error(tmp_path):
    path = tmp_path / "mlcore.db"
    metadata = store.MetadataStore(path)
    metadata.executescript("CREATE TABLE data (payload TEXT)")
    metadata.transaction(lambda: [
        metadata.execute("INSERT INTO data VALUES (?)", ["x" * 500]) for _ in range(500)])
    metadata.verify()
    del metadata
    size = path.stat().st_size
    os.truncate(path, size // 3)
    with pytest.raises(RuntimeError, match="truncated") as error:
        store.MetadataStore(path)
    assert str(path) in str(error.value)


def test_two_processes_writing_at_once_lose_no_rows(tmp_path):
    path = tmp_path / "shared.db"
    writer = textwrap.dedent(f"""
        import sys
        from mlcore import _mlcore
        s = _mlcore.store.MetadataStore({str(path)!r})
        s.migrate("ledger", [(1, "create", "CREATE TABLE ledger (who INTEGER, seq INTEGER)")])
        for seq in range(150):
            s.transaction(lambda: s.execute("INSERT INTO ledger VALUES (?, ?)",
                                            [int(sys.argv[1]), seq]))
    """)
    processes = [subprocess.Popen([sys.executable, "-c", writer, str(i)]) for i in range(2)]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    metadata = store.MetadataStore(path)
    assert metadata.execute("SELECT count(*), count(DISTINCT who) FROM ledger") == [(300, 2)]
    assert metadata.execute(
        "SELECT count(*) FROM schema_migrations WHERE module = 'ledger'") == [(1,)]


def test_artifact_put_get_and_dedup(home, tmp_path):
    artifacts = store.ArtifactStore()
    artifact = artifacts.put(b"hello")
    digest = hashlib.sha256(b"hello").hexdigest()
    assert artifact.digest == digest
    assert artifact.size == 5
    assert artifact.path == str(home / "artifacts" / "sha256" / digest[:2] / digest)
    assert artifact.uri == "file://" + artifact.path
    assert artifacts.get(digest) == b"hello"
    assert artifacts.get("sha256:" + digest) == b"hello"
    assert artifacts.contains(digest) and digest in artifacts
    assert artifacts.path_for(digest) == artifact.path
    artifacts.verify(digest)
    assert artifacts.put(b"hello") == artifact
    assert artifacts.put(memoryview(b"hello")) == artifact
    source = tmp_path / "hello.txt"
    source.write_bytes(b"hello")
    assert artifacts.put_file(source) == artifact
    assert store.sha256_hex(b"hello") == digest
    assert os.listdir(home / "artifacts" / "tmp") == []


def test_put_file_streams_big_files(home, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 11)
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    artifact = store.ArtifactStore().put_file(str(source))
    assert artifact.digest == hashlib.sha256(data).hexdigest()
    assert store.ArtifactStore().get(artifact.digest) == data


def test_missing_artifact_is_key_error(home, tmp_path):
    artifacts = store.ArtifactStore()
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not artifacts.contains(missing)
    with pytest.raises(KeyError, match=missing):
        artifacts.get(missing)
    with pytest.raises(KeyError):
        artifacts.put_file(tmp_path / "no-such-file")


def test_bad_digest_is_value_error_naming_it(home):
    artifacts = store.ArtifactStore()
    for bad in ["", "abc", "A" * 64, "../../etc/passwd"]:
        with pytest.raises(ValueError, match="invalid artifact digest"):
            artifacts.get(bad)
        with pytest.raises(ValueError):
            artifacts.verify(bad)


def test_tampered_artifact_fails_verify(home):
    artifacts = store.ArtifactStore()
    artifact = artifacts.put(b"model weights")
    os.chmod(artifact.path, 0o644)
    with open(artifact.path, "wb") as f:
        f.write(b"model weighs")
    with pytest.raises(RuntimeError, match="corrupted") as error:
        artifacts.verify(artifact.digest)
    assert artifact.path in str(error.value)


def test_record_artifact_in_metadata_store(home):
    metadata = store.MetadataStore()
    artifact = store.ArtifactStore().put(b'{"accuracy": 0.97}')
    store.record_artifact(metadata, artifact, "application/json")
    store.record_artifact(metadata, artifact)
    assert metadata.execute("SELECT sha256, size, uri, media_type FROM artifacts") == [
        (artifact.digest, artifact.size, artifact.uri, "application/json")]
