import importlib
import os
import sys

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own MLCORE_HOME, so no test touches ~/.mlcore or another test's store."""
    home = tmp_path / "mlcore-home"
    monkeypatch.setenv("MLCORE_HOME", str(home))
    yield home


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's bundled digits scaled to [0, 1], shuffled with seed 0: 1,400 training and
    397 test samples as (x, y, x_test, y_test); x float32 [N, 64], y int64."""
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


@pytest.fixture
def fresh_module(tmp_path, monkeypatch):
    """fresh_module(name, text) writes text to tmp_path/<name>.py, puts tmp_path first on sys.path
    and imports the module anew (dropping a copy an earlier test imported), as users' pipeline
    files are imported by name."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name, text):
        (tmp_path / f"{name}.py").write_text(text)
        sys.modules.pop(name, None)
        return importlib.import_module(name)
    return write
