"""Compiled pipelines run as written: every executor names an image with mlcore (the
Containerfile's, or base_image), installs packages_to_install first, carries the component's
source in the spec, and sets no CPU limit unless the component set one. The command of each
executor is then run here as a container would run it: in a fresh, plain venv (no system site
packages) holding only the locally built mlcore wheel, the pip install of the named packages
(from a local folder, offline) and the component's source from the spec.

One bounded test builds the wheel and the venv, all offline (about 40 s on 2 shared cores)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest
import yaml

from mlcore import pipelines as mp
from mlcore.pipelines import Dataset, Input, Model, Output

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "cmake"


@mp.component(packages_to_install=["tinydep==1.0"])
def scale(factor: float, data: Output[Dataset]) -> int:
    import tinydep
    with open(data.path, "w") as f:
        f.write(",".join(str(tinydep.times(i, factor)) for i in range(4)))
    return 4


@mp.component(cpu=2, base_image="registry.example/custom:1")
def total(data: Input[Dataset], model: Output[Model]) -> float:
    values = [float(v) for v in open(data.path).read().split(",")]
    with open(model.path, "w") as f:
        f.write(str(sum(values)))
    return sum(values)


@mp.pipeline(packages_to_install=["tinydep==1.0"])
def scaled(factor: float = 1.5):
    total(data=scale(factor=factor).outputs["data"])


def _executors(text):
    spec = yaml.safe_load(text)
    return spec["deploymentSpec"]["executors"]


def test_compiled_executors_name_an_mlcore_image_packages_and_no_cpu_limit(tmp_path):
    kfp_components = pytest.importorskip("kfp.components")
    path = tmp_path / "p.yaml"
    mp.compile(scaled, str(path))
    kfp_components.load_component_from_file(str(path))
    ex = _executors(path.read_text())
    s, t = ex["exec-scale"]["container"], ex["exec-total"]["container"]
    assert s["image"] == "mlcore:0.1.0" and t["image"] == "registry.example/custom:1"
    assert "resources" not in s, "no CPU limit unless the component set one"
    assert t["resources"]["resourceCpuLimit"] == "2"
    assert s["command"][:2] == ["sh", "-ec"] and "'tinydep==1.0'" in s["command"][2]
    assert s["command"][2].count("tinydep") == 1, "the pipeline's and the component's merge"
    assert s["command"][3:] == ["python3", "-m", "mlcore.pipelines._subprocess", "{{$}}"]
    env = {e["name"]: e["value"] for e in s["env"]}
    assert "def scale(" in env["MLCORE_COMPONENT_SOURCE"]

    other = mp.compile(scaled, base_image="reg.example/mlcore:2", packages_to_install=[])
    ex = _executors(other)
    assert ex["exec-scale"]["container"]["image"] == "reg.example/mlcore:2"
    assert ex["exec-total"]["container"]["command"][0] == "python3"


def _tiny_wheel(folder: pathlib.Path) -> pathlib.Path:
    """tinydep 1.0, written as a wheel by hand (no build step, no index)."""
    files = {"tinydep/__init__.py": b"def times(a, b):\n    return a * b\n",
             "tinydep-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinydep\n"
                                               b"Version: 1.0\n",
             "tinydep-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
                                            b"Root-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinydep-1.0.dist-info/RECORD,,")
    path = folder / "tinydep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("tinydep-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def _run_executor(container, executor_input, venv, wheels, cwd):
    command = [json.dumps(executor_input) if a == "{{$}}" else a for a in container["command"]]
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(cwd),
           "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels), "PYTHONNOUSERSITE": "1"}
    env.update({e["name"]: e["value"] for e in container.get("env", [])})
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=180)


def test_each_executor_command_runs_in_a_fresh_venv_with_only_mlcore(tmp_path):
    if not (BUILD / "CMakeCache.txt").exists():
        pytest.skip(f"{BUILD} is not configured: make build")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps",
         "-w", str(wheels), str(ROOT)],
        env={**os.environ, "MLCORE_CMAKE_BUILD_DIR": str(BUILD)}, capture_output=True,
        text=True, timeout=400)
    assert built.returncode == 0, built.stderr[-3000:]
    _tiny_wheel(wheels)
    # A plain venv (no --system-site-packages): nothing from this one leaks into it.
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", None) or "python3"
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    mlcore_wheel = next(wheels.glob("mlcore-*.whl"))
    # The mlcore of the Containerfile's image, offline; its one requirement, numpy, is left out
    # (nothing here needs it), so the venv holds mlcore and nothing else.
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    str(mlcore_wheel)], check=True, timeout=300)
    probe = subprocess.run([py, "-c", "import tinydep"], capture_output=True)
    assert probe.returncode != 0, "the venv must not see the test's packages"

    ex = _executors(mp.compile(scaled))
    work = tmp_path / "work"
    (work / "scale").mkdir(parents=True)
    (work / "total").mkdir()
    first = {"inputs": {"parameterValues": {"factor": 1.5}},
             "outputs": {"parameters": {"output": {"outputFile": str(work / "scale" / "n")}},
                         "artifacts": {"data": {"artifacts": [
                             {"name": "data", "type": {"schemaTitle": "system.Dataset"},
                              "uri": str(work / "scale" / "data"), "metadata": {}}]}},
                         "outputFile": str(work / "scale" / "executor_output.json")}}
    done = _run_executor(ex["exec-scale"]["container"], first, venv, wheels, work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (work / "scale" / "data").read_text() == "0.0,1.5,3.0,4.5"
    assert json.loads((work / "scale" / "n").read_text()) == 4

    second = {"inputs": {"artifacts": {"data": {"artifacts": [
                  {"name": "data", "type": {"schemaTitle": "system.Dataset"},
                   "uri": str(work / "scale" / "data"), "metadata": {}}]}}},
              "outputs": {"parameters": {"output": {"outputFile": str(work / "total" / "v")}},
                          "artifacts": {"model": {"artifacts": [
                              {"name": "model", "type": {"schemaTitle": "system.Model"},
                               "uri": str(work / "total" / "model"), "metadata": {}}]}},
                          "outputFile": str(work / "total" / "executor_output.json")}}
    done = _run_executor(ex["exec-total"]["container"], second, venv, wheels, work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert float((work / "total" / "model").read_text()) == 9.0


def test_compile_command_takes_the_base_image_and_packages(tmp_path):
    out = tmp_path / "p.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "mlcore.pipelines", "compile", f"{__file__}:scaled", "-o",
         str(out), "--base-image", "reg.example/mlcore:3", "--package", "pandas<3"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ex = _executors(out.read_text())
    assert ex["exec-scale"]["container"]["image"] == "reg.example/mlcore:3"
    script = ex["exec-scale"]["container"]["command"][2]
    # --package replaces the pipeline's list; the component's own packages follow it.
    assert "--no-warn-script-location 'pandas<3' 'tinydep==1.0'\n" in script, script
