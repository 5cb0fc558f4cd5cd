"""The mlcore package's shape: every submodule imports alone in a fresh interpreter, and no two
modules import each other, directly or around a loop (function-level imports included)."""

import ast
import os
import subprocess
import sys

import mlcore

ROOT = os.path.dirname(os.path.abspath(mlcore.__file__))


def _modules():
    """{dotted name: path} of every Python module of the package."""
    out = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), os.path.dirname(ROOT))
            parts = rel[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = os.path.join(dirpath, f)
    return out


def _imports(name, path, modules):
    """The package modules `name` imports anywhere in its body. An import of a module's own
    ancestor package is left out: Python runs a package's __init__ before any of its modules,
    so that edge is the import system's, not the module's."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            if t in modules and t != name and not name.startswith(t + "."):
                found.add(t)
    return found


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert "mlcore.nn.data" in graph and "mlcore.hpo._custom" in graph
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_check_sees_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_each_submodule_imports_alone():
    # A fresh interpreter per module: an import that works only after another module loaded
    # first (the symptom of a cycle broken by import order) fails here.
    for name in sorted(n for n in _modules() if not n.endswith("__main__")):
        r = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True,
                           text=True)
        assert r.returncode == 0, f"import {name} alone failed:\n{r.stderr}"


def test_dir_lists_the_subpackages_before_they_load():
    # Tab completion in a notebook calls dir(mlcore): the lazily loaded subpackages must be
    # there without being imported.
    code = ("import sys, mlcore; names = dir(mlcore); "
            "print(all(n in names for n in ('nn', 'hpo', 'optim', 'pipelines')), "
            "'mlcore.nn' in sys.modules, '_mlcore' not in [n for n in names if n.startswith('_c')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "True"]
