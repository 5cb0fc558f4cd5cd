"""A progress display for Study.optimize(show_progress_bar=True), with no tqdm or ipywidgets.

In a terminal: one line on stderr redrawn with a carriage return. In Jupyter (an IPython kernel):
one HTML block updated in place through IPython's display ids. Either way it shows finished trials
out of n_trials (or the elapsed time out of the timeout), the failed count and the best value.
"""

import html
import sys

from .._mlcore import hpo as _core


def _in_notebook():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class ProgressBar:
    """Call ``update(study, trial)`` after each finished trial and ``close()`` at the end."""

    WIDTH = 30

    def __init__(self, n_trials=None, timeout=None, stream=None, notebook=None,
                 direction="minimize"):
        self.n_trials = n_trials or None
        self.timeout = timeout
        self.stream = stream if stream is not None else sys.stderr
        self.notebook = _in_notebook() if notebook is None else notebook
        # Counts, elapsed time and the best value: the C++ OptimizeProgress (hpo/progress.h).
        self._progress = _core.OptimizeProgress(self.n_trials or 0, timeout,
                                                direction == "minimize")
        self._handle = None
        self._draw()

    def update(self, study, trial):
        self._progress.record(str(trial.state),
                              trial.value, len(trial.values or []))
        self._draw()

    def close(self):
        self._draw()
        if not self.notebook:
            self.stream.write("\n")
            self.stream.flush()

    def text(self):
        """(fraction done or None, "6/20 trials, 3.1s, 1 failed, best 0.0123")."""
        return self._progress.fraction(), self._progress.text()

    def _draw(self):
        frac, text = self.text()
        if self.notebook:
            from IPython.display import HTML, display

            pct = 100.0 * (frac if frac is not None else 0.0)
            block = HTML(
                '<div style="font-family:monospace">'
                f'<div style="width:300px;border:1px solid #888;height:10px">'
                f'<div style="width:{pct:.1f}%;background:#4a8;height:10px"></div></div>'
                f"{html.escape(text)}</div>")
            if self._handle is None:
                self._handle = display(block, display_id=True)
            else:
                self._handle.update(block)
            return
        if frac is None:
            bar = ""
        else:
            filled = int(round(frac * self.WIDTH))
            bar = "[" + "#" * filled + "." * (self.WIDTH - filled) + "] "
        self.stream.write("\r" + bar + text)
        self.stream.flush()
