"""A component asked for its output `train` that wrote `train.npz` (numpy's savez adds the
suffix) fails with a message naming both the expected path and the file it did write."""

import os

import numpy as np

from mlcore import pipelines as mp
from mlcore.pipelines import Dataset, Output


@mp.component
def saves_with_suffix(train: Output[Dataset]):
    import numpy as np
    np.savez(train.path, x=np.arange(3))


@mp.component(mode="subprocess")
def saves_with_suffix_in_a_process(train: Output[Dataset]):
    import numpy as np
    np.savez(train.path, x=np.arange(3))


def test_the_error_names_the_file_written_beside_the_expected_path():
    for step in (saves_with_suffix, saves_with_suffix_in_a_process):
        @mp.pipeline
        def p():
            step()

        run = mp.run(p).wait(timeout=60)
        assert run.status == "failed"
        error = run.tasks[0].error
        expected = error.split("as a file or directory at ", 1)[1].split(";", 1)[0]
        assert os.path.basename(expected) == "train"
        assert f"it wrote {expected}.npz instead" in error
        assert "savez" in error
        np.testing.assert_array_equal(np.load(expected + ".npz")["x"], np.arange(3))
