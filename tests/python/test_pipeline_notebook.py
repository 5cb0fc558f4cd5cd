"""examples/pipelines.ipynb runs under a real Jupyter kernel (nbclient) on the digits data."""

from pathlib import Path

import pytest

from notebook_helpers import run_notebook, shown

pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("sklearn")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "pipelines.ipynb"


def test_pipelines_notebook_runs(tmp_path):
    outputs = shown(run_notebook(NOTEBOOK, tmp_path))
    assert "status: succeeded" in outputs
    accuracy = float(outputs.split("accuracy: ")[1].split()[0])
    assert accuracy > 0.9
    assert "cached run: ['cached', 'cached', 'cached']" in outputs
    assert (tmp_path / "outputs" / "digits.yaml").exists()
