"""Builds the extension module through CMake, so that `pip install .` and `pip install -e .`
produce the same library the C++ tests link.

MLCORE_CMAKE_BUILD_DIR reuses a CMake build directory (make test shares build/ with ctest);
MLCORE_CMAKE_ARGS adds flags (e.g. "-DMLCORE_WITH_CUDA=OFF").
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(os.environ.get("MLCORE_CMAKE_BUILD_DIR", ROOT / "build" / "python"))
        build_dir.mkdir(parents=True, exist_ok=True)
        args = [
            f"-DPython_EXECUTABLE={sys.executable}",
            "-DMLCORE_BUILD_PYTHON=ON",
            "-DCMAKE_BUILD_TYPE=Release",
        ]
        if not (build_dir / "CMakeCache.txt").exists():
            args += ["-DMLCORE_BUILD_TESTS=OFF", "-DMLCORE_BUILD_BENCHMARKS=OFF"]
        # pybind11 from pip (a build requirement): Debian's 2.10 misreads numpy 2's dtypes.
        import pybind11

        args.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        if shutil.which("ninja") and not (build_dir / "CMakeCache.txt").exists():
            args += ["-G", "Ninja"]
        args += shlex.split(os.environ.get("MLCORE_CMAKE_ARGS", ""))
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir), *args], check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        subprocess.run(
            ["cmake", "--build", str(build_dir), "--target", "_mlcore", "-j", jobs], check=True
        )
        # The extension and the shared library it links travel together in the package.
        out_dir.mkdir(parents=True, exist_ok=True)
        # libmlcore and, when built, libmlcore_grpc (which libmlcore opens on demand).
        soname = [p for p in build_dir.glob("libmlcore*.so.*") if p.name.count(".") == 2]
        for produced in list(build_dir.glob("bindings/_mlcore*.so")) + soname:
            target = out_dir / produced.name
            if target.exists() or target.is_symlink():
                target.unlink()
            shutil.copy2(produced, target, follow_symlinks=True)


setup(ext_modules=[CMakeExtension("mlcore._mlcore")], cmdclass={"build_ext": CMakeBuild})
