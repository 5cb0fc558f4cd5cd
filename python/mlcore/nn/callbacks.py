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
    """One line per epoch with its metrics and duration, to ``file`` (default stdout)."""

    def __init__(self, epochs=None, file=None):
        self.epochs = epochs
        self.file = file
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        now = time.perf_counter()
        total = f"/{self.epochs}" if self.epochs else ""
        parts = " - ".join(f"{k} {v:.4g}" for k, v in sorted(logs.items()))
        print(f"epoch {epoch + 1}{total} [{now - self._start:.2f}s] - {parts}",
              file=self.file or sys.stdout, flush=True)
        self._start = now
        return False
