"""Shared by the notebook tests: a notebook executed under a real Jupyter kernel (nbclient +
ipykernel), refused if any cell raised, and what its cells showed."""

from __future__ import annotations


def run_notebook(path, cwd, timeout=300):
    """Executes the notebook at `path` in the working directory `cwd` and returns the outputs of
    its code cells, in order; fails the test naming the errors if any cell raised."""
    # Imported here: each test decides whether a missing nbclient skips it or fails it.
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    return outputs


def printed(outputs):
    """What the cells printed (their streams), joined."""
    return "".join(o.get("text", "") for o in outputs)


def shown(outputs):
    """What the cells printed and the plain-text form of what they displayed, joined."""
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                   for o in outputs)


def rich(outputs):
    """The display data of every output (mime type -> content), empty for streams."""
    return [o.get("data", {}) for o in outputs]
