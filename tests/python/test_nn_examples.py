"""examples/train_digits.ipynb runs under a real Jupyter kernel and reaches 97% on digits."""

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_train_digits_notebook_runs(tmp_path):
    pytest.importorskip("sklearn")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(EXAMPLES / "train_digits.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                      for o in cell.get("outputs", []))
    assert "test accuracy: 0.9" in outputs
    assert "identical predictions: True" in outputs
    assert "epoch 1/20" in outputs
