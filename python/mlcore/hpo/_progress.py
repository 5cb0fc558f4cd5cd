"""A progress display for Study.optimize(show_progress_bar=True), with no tqdm or ipywidgets.

In a terminal: one line on stderr redrawn with a carriage return. In Jupyter (an IPython kernel):
one HTML block updated in place through IPython's display ids. Either way it shows finished trials
out of n_trials (or the elapsed time out of the timeout), the failed count and the best value.
"""

import html
import sys
import time


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

    def __init__(self, n_trials=None, timeout=None, stream=None, notebook=None):
        self.n_trials = n_trials or None
        self.timeout = timeout
        self.stream = stream if stream is not None else sys.stderr
        self.notebook = _in_notebook() if notebook is None else notebook
        self.start = time.monotonic()
        self.done = 0
        self.failed = 0
        self.best = None
        self._handle = None
        self._draw()

    def update(self, study, trial):
        self.done += 1
        if trial.state == "failed":
            self.failed += 1
        if trial.state == "complete" and trial.values is not None and len(trial.values) == 1:
            better = (self.best is None or
                      (trial.value < self.best if study.direction == "minimize"
                       else trial.value > self.best))
            if better:
                self.best = trial.value
        self._draw()

    def close(self):
        self._draw()
        if not self.notebook:
            self.stream.write("\n")
            self.stream.flush()

    def _fraction(self, elapsed):
        if self.n_trials:
            return min(self.done / self.n_trials, 1.0)
        if self.timeout:
            return min(elapsed / self.timeout, 1.0)
        return None

    def text(self):
        elapsed = time.monotonic() - self.start
        frac = self._fraction(elapsed)
        count = f"{self.done}/{self.n_trials}" if self.n_trials else f"{self.done}"
        parts = [f"{count} trials", f"{elapsed:.1f}s"]
        if self.timeout and not self.n_trials:
            parts[1] = f"{elapsed:.1f}/{self.timeout:g}s"
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.best is not None:
            parts.append(f"best {self.best:.6g}")
        return frac, ", ".join(parts)

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
