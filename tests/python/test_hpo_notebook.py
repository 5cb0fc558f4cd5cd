"""examples/hpo.ipynb runs under a real Jupyter kernel (nbclient): a TPE study with a median
pruner tunes an MLP on the digits data; its table, three SVG plots and best trial are real."""

import sqlite3
from pathlib import Path

import pytest

from notebook_helpers import printed, rich, run_notebook

pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("sklearn")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "hpo.ipynb"


def test_hpo_notebook_runs(tmp_path):
    outputs = run_notebook(NOTEBOOK, tmp_path)
    text = printed(outputs)

    # 20 trials, some stopped early by the pruner.
    summary = text.split(" trials in ")[0].split()[-1], text.split("complete, ")[1].split()[0]
    assert summary[0] == "20"
    complete = int(text.split("s: ")[1].split()[0])
    pruned = int(summary[1])
    assert complete + pruned == 20 and pruned >= 1 and complete >= 3

    # The best trial is a good classifier, and its parameters reproduce it.
    best = float(text.split("accuracy: ")[1].split()[0])
    retrained = float(text.split("retrained accuracy: ")[1].split()[0])
    assert best > 0.95
    assert retrained == pytest.approx(best, abs=0.02)
    for name in ("learning_rate", "alpha", "hidden", "batch_size"):
        assert f"  {name} = " in text

    # The trials table has one row per trial, and the study's HTML table its best trials.
    displayed = rich(outputs)
    tables = [d["text/html"] for d in displayed if "text/html" in d]
    assert any("params_learning_rate" in t and "pruned" in t for t in tables)
    assert any("Study <b>digits-mlp</b>" in t and "best trials" in t for t in tables)

    # Three inline SVG plots.
    svgs = [d["image/svg+xml"] for d in displayed if "image/svg+xml" in d]
    assert len(svgs) == 3
    for svg in svgs:
        assert svg.lstrip().startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert all(name in svgs[1] for name in ("learning_rate", "alpha", "hidden", "batch_size"))

    # The study is stored where the notebook said.
    con = sqlite3.connect(tmp_path / "outputs" / "hpo-digits.db")
    rows = con.execute("SELECT COUNT(*) FROM hpo_trials t JOIN hpo_studies s USING (study_id) "
                       "WHERE s.name = 'digits-mlp'").fetchone()
    con.close()
    assert rows[0] == 20
