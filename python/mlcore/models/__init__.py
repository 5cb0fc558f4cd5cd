"""mlcore.models: the model registry — named models, numbered immutable versions, aliases.

    import mlcore
    v = mlcore.models.register("digits", "ckpt/", metrics={"accuracy": 0.97})
    mlcore.models.set_alias("digits", "production", v.version)
    path = mlcore.models.materialize("digits@production")   # a directory to load

A version's files are stored by content in the artifact store, so a version never changes after
it is registered. ``source`` is a directory, a file, or ``"run://RUN_ID/TASK/OUTPUT"`` (an
artifact a pipeline task recorded; its run, task and output become the version's lineage). A
study name and trial number (``trial=`` takes an mlcore.hpo Trial or its number) record the HPO
trial that produced it. References are ``"name"`` (latest version), ``"name/3"`` and
``"name@alias"``. Unknown models, versions and aliases raise KeyError; bad names ValueError.
The C++ API is mlcore::registry::ModelRegistry (include/mlcore/registry/).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Optional

from .._mlcore import models as _c

__all__ = ["ModelVersion", "RegisteredModel", "register", "list", "versions", "get", "get_model",
           "set_alias", "delete_alias", "delete_version", "materialize", "parse_ref"]



@dataclasses.dataclass(frozen=True)
class ModelVersion:
    """One registered version, as stored."""

    name: str
    version: int
    digest: str
    size: int
    source: str
    metrics: Dict[str, Any]
    tags: Dict[str, str]
    lineage: Dict[str, Any]
    description: str
    aliases: List[str]
    created_at: float

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"


@dataclasses.dataclass(frozen=True)
class RegisteredModel:
    """A model and a summary of its versions."""

    name: str
    latest_version: int
    version_count: int
    aliases: Dict[str, int]
    created_at: float


def _registry(home=None, busy_timeout: float = 30.0):
    return _c.ModelRegistry(os.fspath(home) if home else "", busy_timeout)


def register(name: str, source, metrics: Optional[dict] = None, tags: Optional[dict] = None,
             description: str = "", study: str = "", trial=None, home=None,
             busy_timeout: float = 30.0) -> ModelVersion:
    """Stores ``source`` as the next version of ``name`` (1 for a new model) and returns it."""
    number = getattr(trial, "number", trial)
    if study == "" and trial is not None:
        study = getattr(getattr(trial, "study", None), "study_name", "") or ""
    record = _registry(home, busy_timeout).register(
        name, os.fspath(source), metrics=metrics, tags=tags, description=description,
        study=study, trial=number)
    return ModelVersion(**record)


def list(home=None) -> List[RegisteredModel]:  # noqa: A001 (mlcore.models.list, like the CLI)
    """Every registered model, by name."""
    return [RegisteredModel(**m) for m in _registry(home).list_models()]


def get_model(name: str, home=None) -> RegisteredModel:
    return RegisteredModel(**_registry(home).get_model(name))


def versions(name: str, home=None) -> List[ModelVersion]:
    """A model's versions, oldest first."""
    return [ModelVersion(**v) for v in _registry(home).list_versions(name)]


def get(ref: str, home=None) -> ModelVersion:
    """The version ``ref`` names: ``"name"``, ``"name/3"`` or ``"name@alias"``."""
    return ModelVersion(**_registry(home).resolve(ref))


def set_alias(name: str, alias: str, version: int, home=None) -> None:
    """Points ``alias`` at ``version`` (creating or moving it, in one transaction)."""
    _registry(home).set_alias(name, alias, int(version))


def delete_alias(name: str, alias: str, home=None) -> None:
    _registry(home).delete_alias(name, alias)


def delete_version(name: str, version: int, force: bool = False, home=None) -> None:
    """Deletes a version's record; an aliased version only with ``force`` (its aliases go too)."""
    _registry(home).delete_version(name, int(version), force)


def materialize(ref: str, dest=None, home=None) -> str:
    """The version's files as a directory (verified against their digests first); a shared copy
    under the mlcore home unless ``dest`` (which must not exist) is given."""
    return _registry(home).materialize(ref, os.fspath(dest) if dest else "")


def parse_ref(ref: str):
    """(name, version or None, alias or None)."""
    return _c.parse_model_ref(ref)


