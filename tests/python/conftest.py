import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own MLCORE_HOME, so no test touches ~/.mlcore or another test's store."""
    home = tmp_path / "mlcore-home"
    monkeypatch.setenv("MLCORE_HOME", str(home))
    yield home
