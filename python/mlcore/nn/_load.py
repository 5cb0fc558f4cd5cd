"""mlcore.nn.load: a saved model of either kind."""

import os

from .. import _mlcore
from .graph import GraphModel
from .model import Sequential, _saved_loss


def _models():
    return _mlcore.nn_models


def load(directory):
    """A model saved by ``save`` (a Sequential or a GraphModel, as the checkpoint's
    architecture.json says: the C++ LoadAnyModel decides), with its optimizer state when it was
    compiled."""
    core = _models().load_any_model(os.fspath(directory))
    if isinstance(core, _models().GraphModel):
        model = GraphModel(core)
    else:
        model = Sequential(_model=core)
    if model._model.compiled:
        model._loss = _saved_loss(directory)
    return model
