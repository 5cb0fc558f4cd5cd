"""Issue 12, record 1: model.save(path) replaced whatever was at `path`, deleting a user's
directory with all its contents, or a file. It may only replace what mlcore wrote."""
import numpy as np
import pytest

from mlcore import nn, optim


def _model():
    model = nn.Sequential([nn.Dense(4), nn.ReLU(), nn.Dense(2)])
    model.compile(optimizer=optim.Adam(), loss="cross_entropy")
    x = np.random.default_rng(0).random((16, 3), dtype=np.float32)
    model.fit(x, np.arange(16) % 2, epochs=1, batch_size=8, verbose=0)
    return model


def test_a_users_directory_is_never_deleted(tmp_path):
    target = tmp_path / "results"
    target.mkdir()
    (target / "thesis.tex").write_text("four years of work")
    (target / "data").mkdir()
    (target / "data" / "events.csv").write_text("1,2,3")
    with pytest.raises(ValueError, match="not an mlcore checkpoint.*thesis.tex|data"):
        _model().save(target)
    assert (target / "thesis.tex").read_text() == "four years of work"
    assert (target / "data" / "events.csv").read_text() == "1,2,3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no temporary left


def test_a_file_at_the_path_is_never_deleted(tmp_path):
    target = tmp_path / "model"
    target.write_text("not a directory")
    with pytest.raises(ValueError, match="is a file"):
        _model().save(target)
    assert target.read_text() == "not a directory"


def test_a_checkpoint_with_a_users_file_added_is_not_replaced(tmp_path):
    target = tmp_path / "ckpt"
    model = _model()
    model.save(target)
    (target / "NOTES.md").write_text("keep me")
    with pytest.raises(ValueError, match="NOTES.md"):
        model.save(target)
    assert (target / "NOTES.md").read_text() == "keep me"


def test_new_empty_and_existing_checkpoint_paths_are_saved(tmp_path):
    model = _model()
    model.save(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    model.save(tmp_path / "empty")
    model.save(tmp_path / "new")  # replacing its own checkpoint is how ModelCheckpoint works
    x = np.ones((2, 3), np.float32)
    for name in ("new", "empty"):
        np.testing.assert_array_equal(nn.load(tmp_path / name).predict(x), model.predict(x))
