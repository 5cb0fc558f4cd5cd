"""The examples run as users run them: the quickstart script as a subprocess and the notebook
under a real Jupyter kernel (nbclient + ipykernel)."""

import os
import subprocess
import sys
from pathlib import Path

from notebook_helpers import run_notebook, shown

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_quickstart_script_runs(tmp_path):
    env = dict(os.environ, MLCORE_HOME=str(tmp_path / "home"))
    out = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "quickstart: ok" in out.stdout
    assert (tmp_path / "home" / "mlcore.db").exists()


def test_quickstart_notebook_runs_under_jupyter(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCORE_HOME", str(tmp_path / "home"))
    outputs = shown(run_notebook(EXAMPLES / "quickstart.ipynb", tmp_path))
    assert "zero-copy: True" in outputs
    assert (tmp_path / "home" / "mlcore.db").exists()
