"""The pipelines command line as a newcomer meets it: user errors are one line on stderr and
exit status 2 (never a traceback), run ids may be unique prefixes, `runs list` has a header,
times and newest runs first, `runs show` has durations, cache hits, outputs and artifacts."""

import os
import subprocess
import sys
import textwrap

import pytest

FLOW = textwrap.dedent("""
    import mlcore.pipelines as mp

    @mp.component
    def fit(C: float) -> float:
        return C * 2

    @mp.pipeline
    def wine(C: float = 1.0):
        return fit(C=C).output
""")


def mlcore(*args, home, cwd):
    env = dict(os.environ, MLCORE_HOME=str(home))
    env.pop("MLCORE_TRACEBACK", None)
    return subprocess.run([sys.executable, "-m", "mlcore", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture()
def flow(tmp_path):
    (tmp_path / "flow.py").write_text(FLOW)
    return tmp_path


def one_line_user_error(out, *needles):
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    for n in needles:
        assert n in out.stderr, out.stderr


@pytest.mark.parametrize("args,needles", [
    (["run", "flow.py:wine", "-p", "C=abc"], ["parameter 'C'", "expected float"]),
    (["run", "flow.py:wine", "-p", "D=1"], ["no parameter 'D'", "parameters: C"]),
    (["run", "flow.py:nosuch"], ["flow.py:nosuch"]),
    (["run", "nosuch.py:wine"], ["nosuch.py"]),
    (["run", "flow.py:wine", "-p", "C"], ["key=value"]),
    (["runs", "show", "abc"], ["no pipeline run 'abc'"]),
    (["runs", "logs", "abc", "fit"], ["no pipeline run 'abc'"]),
])
def test_user_errors_are_one_line_and_exit_2(flow, args, needles):
    one_line_user_error(mlcore(*args, home=flow / "home", cwd=flow), *needles)


def test_unknown_states_are_refused(flow):
    out = mlcore("runs", "list", "--state", "sucess", home=flow / "home", cwd=flow)
    assert out.returncode == 2 and "invalid choice: 'sucess'" in out.stderr
    import mlcore.pipelines as mp
    with pytest.raises(ValueError, match="unknown run state 'sucess'"):
        mp.runs(state="sucess", home=str(flow / "home"))


def test_prefixes_list_show_logs_and_resume(flow):
    home = flow / "home"
    first = mlcore("run", "flow.py:wine", "-p", "C=2", home=home, cwd=flow)
    assert first.returncode == 0, first.stderr
    second = mlcore("run", "flow.py:wine", "-p", "C=2", home=home, cwd=flow)
    first_id = first.stdout.split()[1].rstrip(":")
    second_id = second.stdout.split()[1].rstrip(":")

    listed = mlcore("runs", "list", home=home, cwd=flow).stdout.splitlines()
    assert listed[0].split() == ["RUN", "ID", "STATE", "PIPELINE", "EXPERIMENT", "STARTED",
                                 "DURATION"]
    assert listed[1].startswith(second_id) and listed[2].startswith(first_id)  # newest first
    assert " s" in listed[1]

    short = next(second_id[:n] for n in range(1, 33) if not first_id.startswith(second_id[:n]))
    show = mlcore("runs", "show", short, home=home, cwd=flow)
    assert show.returncode == 0, show.stderr
    assert f"run {second_id}: succeeded" in show.stdout
    assert "1 from the cache" in show.stdout and "cached" in show.stdout
    assert "output = 4.0" in show.stdout

    logs = mlcore("runs", "logs", short, "nosuch", home=home, cwd=flow)
    one_line_user_error(logs, "no task 'nosuch'", "tasks: fit")
    resumed = mlcore("runs", "resume", short, "flow.py:wine", home=home, cwd=flow)
    one_line_user_error(resumed, "succeeded; there is nothing to resume")

    if first_id[0] == second_id[0]:
        ambiguous = mlcore("runs", "show", first_id[0], home=home, cwd=flow)
        one_line_user_error(ambiguous, "ambiguous")


def test_version_and_help_on_every_verb(flow):
    import mlcore as package
    out = subprocess.run([sys.executable, "-m", "mlcore", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"mlcore {package.__version__}"
    for verb in (["run"], ["compile"], ["runs", "list"], ["runs", "show"], ["runs", "logs"],
                 ["runs", "resume"]):
        h = subprocess.run([sys.executable, "-m", "mlcore", *verb, "--help"],
                           capture_output=True, text=True, timeout=60)
        assert h.returncode == 0, h.stderr
        if verb[0] in ("run", "compile") or verb[-1] == "resume":
            assert "FILE.py:PIPELINE" in h.stdout, (verb, h.stdout)
        if verb[0] == "runs" and verb[-1] != "list":
            assert "unique prefix" in h.stdout, (verb, h.stdout)
