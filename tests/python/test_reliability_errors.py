"""Errors that used to hide what was wrong (issue 12, "Errors that do not say what is wrong"):
each now names the argument, the value or the file."""

import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mlcore import hpo


@pytest.mark.parametrize("call, error, text", [
    (lambda: hpo.create_study(seed=-1), ValueError, "seed must be >= 0, got -1"),
    (lambda: hpo.create_study(seed=2**70), ValueError, "seed must be <= "),
    (lambda: hpo.create_study(seed="1"), TypeError, "seed must be an int, not str"),
    (lambda: hpo.TPESampler(seed=-1), ValueError, "seed must be >= 0"),
    (lambda: hpo.create_study().optimize(lambda t: 1.0, n_trials="5"), TypeError,
     "n_trials must be an int, not str"),
    (lambda: hpo.create_study().optimize(lambda t: 1.0, n_trials=2**64), ValueError,
     "n_trials must be <= "),
    (lambda: hpo.create_study().optimize(lambda t: 1.0, n_trials=1.5), TypeError,
     "n_trials must be an int, not float"),
])
def test_out_of_range_or_mistyped_integers_name_the_argument(call, error, text):
    with pytest.raises(error) as e:
        call()
    assert text in str(e.value)
    assert "incompatible function arguments" not in str(e.value)


def test_component_retries_out_of_range_names_the_argument():
    from mlcore import pipelines

    with pytest.raises(ValueError, match="retries must be <= ") as e:
        @pipelines.component(retries=10**12)
        def step() -> int:
            return 1
    assert "incompatible function arguments" not in str(e.value)


def test_a_command_objective_with_an_unknown_placeholder_fails_at_construction():
    with pytest.raises(ValueError, match=r"placeholder '\{lrr\}' names no parameter"):
        hpo.CommandObjective("train --lr {lrr}", "loss", {"lr": hpo.FloatDistribution(0, 1)})
    hpo.CommandObjective("echo {lr} {trial_number} '{\"json\": 1}'", "loss",
                         {"lr": hpo.FloatDistribution(0, 1)})


def test_tensor_readouts_work_right_after_import_mlcore():
    code = textwrap.dedent("""
        import sys
        import mlcore
        assert "mlcore._tensor" not in sys.modules
        t = mlcore.zeros([1])
        assert float(t) == 0.0 and int(t) == 0 and t.item() == 0.0
        assert t.numpy().shape == (1,) and t.tolist() == [0.0]
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def _in_namespace(mount, code, env):
    """Runs `code` with `mount` (a shell command making the store's directory read-only or
    tiny) in a user and mount namespace of its own, so it needs no privileges and root's
    bypass of file modes does not apply. None when this machine has no user namespaces."""
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    script = f"{mount} && exec {sys.executable} -c \"$0\""
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, code], capture_output=True,
                          text=True, timeout=120, env=env)


def test_a_read_only_mlcore_home_is_a_permission_error(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    code = textwrap.dedent("""
        from mlcore import hpo
        try:
            hpo.create_study(name="s")
        except PermissionError as e:
            print("PermissionError:", e)
        except Exception as e:
            print("other", type(e).__name__, e)
    """)
    out = _in_namespace(f"mount --bind {home} {home} && mount -o remount,bind,ro {home}", code,
                        dict(os.environ, MLCORE_HOME=str(home)))
    if out is None:
        if os.geteuid() == 0:
            pytest.skip("no user namespaces, and root ignores a read-only mode")
        os.chmod(home, 0o555)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, env=dict(os.environ, MLCORE_HOME=str(home)))
    assert out.stdout.startswith("PermissionError:"), out.stdout + out.stderr[-2000:]
    assert "read-only" in out.stdout or "permission denied" in out.stdout, out.stdout
    assert str(home) in out.stdout


def test_disk_full_during_a_study_is_an_os_error_naming_the_file(tmp_path):
    """A 256 KiB tmpfs holds the store: SQLite's writes fail with ENOSPC as on a full disk."""
    small = tmp_path / "small"
    small.mkdir()
    db = small / "full.db"
    code = textwrap.dedent(f"""
        from mlcore import hpo
        study = hpo.create_study(name="full", storage={str(db)!r})
        try:
            study.optimize(lambda t: t.suggest_float("x" * 2000 + str(t.number), 0, 1),
                           n_trials=100000)
        except MemoryError as e:
            print("MemoryError", e)
        except OSError as e:
            print("OSError", e.errno, e)
    """)
    out = _in_namespace(f"mount -t tmpfs -o size=256k tmpfs {small}", code, dict(os.environ))
    if out is None:
        pytest.skip("no user namespaces to mount a small tmpfs in")
    assert out.stdout.startswith(f"OSError {errno.ENOSPC} "), out.stdout + out.stderr[-2000:]
    assert "no space left" in out.stdout and str(db) in out.stdout


def test_fit_on_empty_arrays_is_a_value_error():
    from mlcore import nn

    model = nn.Sequential([nn.Dense(4), nn.ReLU(), nn.Dense(2)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="empty"):
        model.fit(np.zeros((0, 3), np.float32), np.zeros((0,), np.int64), epochs=1)


def test_out_of_range_float_units_say_the_value():
    from mlcore import nn

    with pytest.raises((ValueError, TypeError)) as e:
        nn.Dense(1e300)
    assert "-9223372036854775808" not in str(e.value)
    assert "1e+300" in str(e.value) or "1e300" in str(e.value)


def test_an_undefined_task_output_names_the_task_and_its_outputs():
    from mlcore import pipelines

    @pipelines.component
    def make() -> int:
        return 1

    with pytest.raises(KeyError) as e:
        @pipelines.pipeline
        def p():
            make().outputs["nope"]
        p.build()
    text = str(e.value)
    assert "'nope'" in text and "task 'make'" in text and "its outputs: output" in text, text
