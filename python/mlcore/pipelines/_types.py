"""Python annotations to mlcore value types, shared by components and pipelines."""

from __future__ import annotations

import typing

PARAMETER_TYPES = {int: "int", float: "float", str: "str", bool: "bool", list: "list",
                   dict: "dict"}


def parameter_type(annotation, where: str) -> str:
    """The mlcore type name of a parameter annotation; TypeError naming `where` otherwise."""
    if annotation in PARAMETER_TYPES:
        return PARAMETER_TYPES[annotation]
    origin = typing.get_origin(annotation)
    if origin in (list, dict):
        return PARAMETER_TYPES[origin]
    raise TypeError(f"{where}: unsupported type {annotation!r} (parameters are int, float, str, "
                    f"bool, list, dict; artifacts are Input[...] / Output[...])")

