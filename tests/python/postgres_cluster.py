"""A throwaway PostgreSQL cluster for the Python tests, started by scripts/pg-test-cluster.sh
(the script the C++ tests use too) once per session in a temp dir, stopped at the end. Import
the fixtures into a test module: ``from postgres_cluster import pg_cluster, pg_url``. Tests skip
(saying why) only where the server binaries are not installed."""

import itertools
import os
import subprocess
import tempfile

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "pg-test-cluster.sh")
_counter = itertools.count()


def _script(*args):
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="session")
def pg_cluster():
    """(cluster dir, base URL, server bin dir) of the session's cluster."""
    found = _script("bindir")
    if found.returncode != 0:
        pytest.skip("PostgreSQL server binaries not installed (initdb not found); "
                    "scripts/install-deps.sh installs them")
    directory = tempfile.mkdtemp(prefix="mlcore_pg_py_")
    started = _script("start", directory)
    assert started.returncode == 0, started.stderr
    try:
        yield directory, started.stdout.strip(), found.stdout.strip()
    finally:
        _script("stop", directory)


@pytest.fixture
def pg_url(pg_cluster):
    """The URL of a new, empty database on the session's cluster."""
    _, base, bindir = pg_cluster
    name = f"py{os.getpid()}_{next(_counter)}"
    made = subprocess.run([os.path.join(bindir, "psql"), "-q", base, "-c",
                           f"CREATE DATABASE {name}"], capture_output=True, text=True,
                          timeout=60)
    assert made.returncode == 0, made.stderr
    return base.rsplit("/", 1)[0] + "/" + name
