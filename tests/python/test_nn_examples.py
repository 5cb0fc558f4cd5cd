"""examples/train_digits.ipynb runs under a real Jupyter kernel and reaches 97% on digits."""

from pathlib import Path

import pytest
from notebook_helpers import printed, run_notebook

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_train_digits_notebook_runs(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    outputs = printed(run_notebook(EXAMPLES / "train_digits.ipynb", tmp_path))
    assert "test accuracy: 0.9" in outputs
    assert "identical predictions: True" in outputs
    assert "epoch 1/20" in outputs
