"""A typo in any name mlcore builds from (sampler, pruner, loss, metric, optimizer, layer) raises
the same ValueError, naming the typo and listing the names that exist."""

import re

import pytest

from mlcore import hpo
from mlcore import nn
from mlcore import optim
from mlcore._mlcore import nn as _nn
from mlcore._mlcore import optim as _optim


def _unknown(kind, name, *known):
    """The message of every registry: unknown <kind> '<name>' (known: a, b, c)."""
    listed = ".*".join(re.escape(k) for k in known)
    return rf"unknown {kind} '{re.escape(name)}' \(known: .*{listed}.*\)"


def test_sampler_typo():
    with pytest.raises(ValueError, match=_unknown("sampler", "tpee", "random", "tpe")):
        hpo.create_study(sampler="tpee")


def test_pruner_typo():
    with pytest.raises(ValueError, match=_unknown("pruner", "medain", "median", "none")):
        hpo.create_study(pruner="medain")


def test_loss_typo():
    model = nn.Sequential([nn.Dense(4)])
    with pytest.raises(ValueError, match=_unknown("loss", "hinge", "cross_entropy", "mse")):
        model.compile(optimizer=optim.Adam(), loss="hinge")


def test_metric_typo():
    model = nn.Sequential([nn.Dense(4)])
    with pytest.raises(ValueError, match=_unknown("metric", "f1", "acc", "accuracy")):
        model.compile(optimizer=optim.Adam(), metrics=["f1"])


def test_optimizer_typo():
    with pytest.raises(ValueError, match=_unknown("optimizer", "lamb", "adam", "adamw", "sgd")):
        _optim.make_optimizer("lamb", {})


def test_layer_typo():
    with pytest.raises(ValueError, match=_unknown("layer", "dense2", "conv2d", "dense", "relu")):
        _nn.create_layer("dense2")


def test_the_names_listed_are_the_registered_ones():
    with pytest.raises(ValueError) as error:
        _nn.create_layer("dense2")
    known = str(error.value).split("(known: ")[1].rstrip(")").split(", ")
    assert known == sorted(_nn.registered_layers())
