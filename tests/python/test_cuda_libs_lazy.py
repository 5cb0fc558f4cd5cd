"""cuBLAS, cuDNN and NCCL are loaded on first GPU use, not with libmlcore (issue 11, point 8).

A fresh process with the CUDA libraries out of reach imports mlcore with its modules, trains a
small model on the CPU, and asks for a CUDA device: no CUDA library is mapped afterwards, and the
CUDA request fails with the same clear error as ever. Where a private mount namespace is allowed
(`unshare`), the folders holding the libraries are covered with empty ones, as on a host without
CUDA; elsewhere only MLCORE_CUDA_LIB_DIR and LD_LIBRARY_PATH point away from them.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import mlcore

CUDA_LIBS = ("libcublas", "libcublasLt", "libcudnn", "libnccl")

CHILD = textwrap.dedent(
    """
    import json, numpy as np
    import mlcore, mlcore.hpo, mlcore.nn as nn, mlcore.optim as optim, mlcore.pipelines

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential([nn.Dense(16), nn.ReLU(), nn.Dense(2)])
    model.compile(optimizer=optim.Adam(1e-2), loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, batch_size=32, seed=1)
    error = None
    try:
        model.fit(x[:32], y[:32], device="cuda")
    except ValueError as e:
        error = str(e)
    maps = sorted({line.split()[-1] for line in open("/proc/self/maps") if "/" in line})
    print(json.dumps({"loss": history.history["loss"], "accuracy": model.evaluate(x, y)["accuracy"],
                      "cuda_error": error, "maps": maps,
                      "cuda_available": mlcore.cuda.is_available()}))
    """
)


def cuda_library_dirs():
    """The folders the dynamic linker would find the CUDA libraries in."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    dirs = {os.path.dirname(os.path.realpath(line.split("=>")[-1].strip()))
            for line in out.splitlines() if "=>" in line and any(n in line for n in CUDA_LIBS)}
    # The toolkit folder the build found (the loader's last resort), where ldconfig lacks it.
    for home in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if home:
            dirs.update(os.path.realpath(os.path.join(home, d)) for d in ("lib", "lib64"))
    return sorted(d for d in dirs if os.path.isdir(d))


def can_hide(dirs):
    if not dirs or shutil.which("unshare") is None:
        return False
    probe = ["unshare", "-rm", "sh", "-c", f"mount --bind /tmp {dirs[0]}"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def run_child(tmp_path):
    empty = tmp_path / "no-cuda-libs"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    env.update(MLCORE_CUDA_LIB_DIR=str(empty), MLCORE_HOME=str(tmp_path / "home"),
               MLCORE_LOG_LEVEL="error")
    command = [sys.executable, "-c", CHILD]
    dirs = cuda_library_dirs()
    hidden = can_hide(dirs)
    if hidden:
        mounts = " && ".join(f"mount --bind {empty} {d}" for d in dirs)
        command = ["unshare", "-rm", "sh", "-c", f'{mounts} && exec "$@"', "sh", *command]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), hidden, dirs


def test_trains_on_the_cpu_with_the_cuda_libraries_out_of_reach(tmp_path):
    result, hidden, dirs = run_child(tmp_path)
    assert result["loss"][-1] < result["loss"][0]
    assert result["accuracy"] >= 0.9
    mapped = [m for m in result["maps"] if any(os.path.basename(m).startswith(n) for n in CUDA_LIBS)]
    assert mapped == [], f"CUDA libraries mapped by a CPU-only process: {mapped}"
    if not result["cuda_available"]:
        assert "no CUDA device is usable" in (result["cuda_error"] or "")
    if hidden:
        # Under the covering mounts the dynamic linker could not have found them either.
        assert dirs


def test_libmlcore_does_not_link_the_cuda_libraries():
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) is not installed")
    package = os.path.dirname(mlcore.__file__)
    libs = [f for f in os.listdir(package) if f.startswith("libmlcore.so")]
    assert libs, f"no libmlcore beside {package}"
    dynamic = subprocess.run([readelf, "-d", os.path.join(package, libs[0])], capture_output=True,
                             text=True, check=True).stdout
    needed = [line for line in dynamic.splitlines() if "(NEEDED)" in line]
    assert needed and not [n for n in needed if any(lib in n for lib in CUDA_LIBS)], needed
    runpath = [line for line in dynamic.splitlines() if "RUNPATH" in line or "RPATH" in line]
    assert not [r for r in runpath if "cuda" in r], runpath
