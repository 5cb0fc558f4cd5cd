"""examples/pipelines.ipynb runs under a real Jupyter kernel (nbclient) on the digits data."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("sklearn")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "pipelines.ipynb"


def test_pipelines_notebook_runs(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))
    errors = [o for cell in nb.cells if cell.cell_type == "code"
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    assert "status: succeeded" in outputs
    accuracy = float(outputs.split("accuracy: ")[1].split()[0])
    assert accuracy > 0.9
    assert "cached run: ['cached', 'cached', 'cached']" in outputs
    assert (tmp_path / "outputs" / "digits.yaml").exists()
