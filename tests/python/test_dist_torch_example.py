"""examples/torch_ddp_with_mlcore.py under `mlcore launch`: a PyTorch model trained
data-parallel with mlcore.dist's collectives alone (where torch is installed)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn.datasets")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torch_ddp_with_mlcore.py"


def test_torch_model_trains_data_parallel_with_mlcore_dist(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mlcore", "launch", "--nproc-per-node", "2",
                          str(EXAMPLE)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    line = next(line for line in out.stdout.splitlines() if "accuracy=" in line)
    assert line.startswith("[rank 0] world_size=2 ")
    assert float(line.rsplit("=", 1)[1]) > 0.9
