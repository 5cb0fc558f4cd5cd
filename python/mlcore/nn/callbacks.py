"""Callbacks for ``Sequential.fit``. The first three are the C++ ones; ``ProgressBar`` is a
Python object with ``on_epoch_end(epoch, logs)``, which any user callback may also be."""

import sys
import time

from .._mlcore import nn as _nn


def EarlyStopping(monitor="val_loss", patience=3, min_delta=0.0, mode="auto",
                  restore_best_weights=False):
    """Stops after ``patience`` epochs without improvement of ``monitor``."""
    return _nn.early_stopping(monitor, patience, min_delta, mode, restore_best_weights)


def ModelCheckpoint(directory, monitor="val_loss", save_best_only=False, mode="auto"):
    """Saves the model (``Sequential.save``) to ``directory`` after each (improving) epoch."""
    return _nn.model_checkpoint(str(directory), monitor, save_best_only, mode)


def HPOReporter(report, monitor="val_accuracy"):
    """Calls ``report(value, epoch)`` each epoch; a true result stops training (pruning).

    ``report`` is typically ``trial.report`` of the hyperparameter search module."""
    return _nn.reporter(monitor, report)


def TensorBoard(log_dir):
    """Writes each epoch's logs as TensorBoard scalars ("epoch_loss", "epoch_val_accuracy",
    "epoch_lr", ...) into ``log_dir``."""
    return _nn.tensorboard(str(log_dir))


SummaryWriter = _nn.SummaryWriter


class ProgressBar:
    """One line per epoch with its metrics and duration, to ``file`` (default stdout): what
    ``fit(verbose=2)`` prints."""

    def __init__(self, epochs=None, file=None):
        self.epochs = epochs
        self.file = file
        self._start = time.perf_counter()

    def _out(self):
        return self.file or sys.stdout

    def _epoch_line(self, epoch, logs, seconds):
        total = f"/{self.epochs}" if self.epochs else ""
        parts = " - ".join(f"{k} {v:.4g}" for k, v in sorted(logs.items()))
        return f"epoch {epoch + 1}{total} [{seconds:.2f}s] - {parts}"

    def on_epoch_end(self, epoch, logs):
        now = time.perf_counter()
        print(self._epoch_line(epoch, logs, now - self._start), file=self._out(), flush=True)
        self._start = now
        return False


class BatchProgressBar(ProgressBar):
    """Keras's ``verbose=1``: a bar per epoch redrawn in place as batches finish (batches done,
    elapsed time and ETA, running loss and accuracy), then the epoch's line. Works in terminals
    and notebooks (both honour a carriage return); redrawn at most every ``refresh`` seconds."""

    def __init__(self, epochs=None, file=None, width=30, refresh=0.1):
        super().__init__(epochs, file)
        self.width = width
        self.refresh = refresh
        self._drawn = 0.0

    def on_train_batch_end(self, batch, logs):
        now = time.perf_counter()
        batches = logs.get("batches")
        done = batch + 1
        if now - self._drawn < self.refresh and (batches is None or done < batches):
            return
        self._drawn = now
        elapsed = now - self._start
        if batches:
            filled = int(self.width * done / batches)
            bar = f"[{'=' * filled}{'.' * (self.width - filled)}] {done}/{int(batches)}"
            eta = f" - ETA {elapsed / done * (batches - done):.1f}s" if done < batches else ""
        else:
            bar, eta = f"{done} batches", ""
        metrics = "".join(f" - {k} {logs[k]:.4g}" for k in ("loss", "accuracy") if k in logs)
        epoch = int(logs.get("epoch", 0)) + 1
        total = f"/{self.epochs}" if self.epochs else ""
        line = f"epoch {epoch}{total} {bar} [{elapsed:.1f}s{eta}]{metrics}"
        self._out().write("\r" + line.ljust(getattr(self, "_width_seen", 0)))
        self._width_seen = len(line)
        self._out().flush()

    def on_epoch_end(self, epoch, logs):
        now = time.perf_counter()
        line = self._epoch_line(epoch, logs, now - self._start)
        self._out().write("\r" + line.ljust(getattr(self, "_width_seen", 0)) + "\n")
        self._out().flush()
        self._start = self._drawn = now
        self._width_seen = 0
        return False
