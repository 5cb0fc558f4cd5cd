"""mlcore.nn.load: a saved model of either kind."""

import os

from .. import _mlcore
from .._mlcore import nn as _nn
from .graph import GraphModel
from .model import Sequential, _saved_loss


def _models():
    return _mlcore.nn_models


def load(directory):
    """A model saved by ``save`` (a Sequential or a GraphModel, as the checkpoint's
    architecture.json says), with its optimizer state when it was compiled."""
    import json

    try:
        with open(os.path.join(os.fspath(directory), "architecture.json")) as f:
            kind = json.load(f).get("format", "")
    except (OSError, ValueError, AttributeError):
        kind = ""  # the C++ loader raises the error that names what is wrong
    if kind == "mlcore.nn.GraphModel":
        model = GraphModel(_models().load_graph_model(os.fspath(directory)))
    else:
        model = Sequential(_model=_nn.load_model(os.fspath(directory)))
    if model._model.compiled:
        model._loss = _saved_loss(directory)
    return model
