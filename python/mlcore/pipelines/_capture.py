"""Per-task stdout/stderr for in-process Python callables.

Several tasks run at once on the executor's threads, and sys.stdout is one object for all of
them, so it is replaced (once) by a router that writes to the log file of the task running on
the calling thread, and to the original stream on any other thread. Only output through
sys.stdout/sys.stderr is routed: output of threads a task starts itself, of C extensions writing
to file descriptor 1/2 directly, and of child processes goes to the process's own streams
(subprocess mode captures all of it at the descriptor level).
"""

from __future__ import annotations

import io
import os
import sys
import threading

_local = threading.local()


class TaskLogs:
    """One task's stdout and stderr log files, created on the first write: most tasks print
    nothing, and creating the task directory is most of a no-op task's cost."""

    __slots__ = ("ctx", "out", "err")

    def __init__(self, ctx):
        self.ctx = ctx
        self.out = None
        self.err = None

    def stream(self, name):
        f = self.out if name == "stdout" else self.err
        if f is None:
            path = self.ctx.stdout_path if name == "stdout" else self.ctx.stderr_path
            os.makedirs(os.path.dirname(path), exist_ok=True)
            f = open(path, "a", encoding="utf-8", errors="replace")
            if name == "stdout":
                self.out = f
            else:
                self.err = f
        return f

    def close(self):
        for f in (self.out, self.err):
            if f is not None:
                f.close()
        self.ctx = self.out = self.err = None


class _Router(io.TextIOBase):
    """Stands in for sys.stdout or sys.stderr: the calling thread's task log, else `fallback`."""

    def __init__(self, stream, fallback):
        super().__init__()
        self._stream = stream
        self._fallback = fallback

    def _target(self):
        logs = getattr(_local, "logs", None)
        return self._fallback if logs is None else logs.stream(self._stream)

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        self._target().flush()

    def writable(self):
        return True

    def isatty(self):
        return getattr(_local, "logs", None) is None and self._fallback.isatty()

    def fileno(self):
        return self._fallback.fileno()

    @property
    def encoding(self):
        return getattr(self._fallback, "encoding", "utf-8")

    def __getattr__(self, name):
        return getattr(self._fallback, name)


def install():
    """Puts the routers in place (again, when something replaced sys.stdout since)."""
    if not isinstance(sys.stdout, _Router):
        sys.stdout = _Router("stdout", sys.stdout)
    if not isinstance(sys.stderr, _Router):
        sys.stderr = _Router("stderr", sys.stderr)


def begin(ctx):
    """Routes this thread's prints to the logs of the task `ctx`; returns them (for end())."""
    install()
    logs = TaskLogs(ctx)
    _local.logs = logs
    return logs


def end(logs):
    _local.logs = None
    logs.close()
