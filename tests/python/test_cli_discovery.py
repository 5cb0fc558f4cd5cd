"""The `mlcore` command finds its subcommands by looking for each subpackage's _cli.register."""

import subprocess
import sys
import types

from mlcore import _cli


def test_the_command_modules_are_the_subpackages_with_a_cli():
    names = _cli.command_modules()
    assert "hpo" in names and "pipelines" in names
    assert "nn" not in names and "optim" not in names  # no _cli.py: not even imported


def test_a_new_subpackage_slots_in_by_its_cli_module(monkeypatch, capsys):
    fake = types.ModuleType("mlcore.launchdemo._cli")

    def register(sub):
        p = sub.add_parser("launchdemo", help="a subcommand from a new subpackage")
        p.add_argument("--nproc", type=int, default=1)
        p.set_defaults(handler=lambda args: print(f"launching {args.nproc} on "
                                                  f"{args.namespace}") or 3)

    fake.register = register
    monkeypatch.setitem(sys.modules, "mlcore.launchdemo", types.ModuleType("mlcore.launchdemo"))
    monkeypatch.setitem(sys.modules, "mlcore.launchdemo._cli", fake)
    monkeypatch.setattr(_cli, "command_modules",
                        lambda: ["hpo", "launchdemo", "pipelines"])
    assert _cli.main(["--namespace", "team", "launchdemo", "--nproc", "2"]) == 3
    assert capsys.readouterr().out == "launching 2 on team\n"


def test_every_registered_verb_is_in_the_help():
    out = subprocess.run([sys.executable, "-m", "mlcore", "--help"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    for verb in ("run", "runs", "compile", "scheduler", "schedules", "hpo"):
        assert verb in out.stdout
