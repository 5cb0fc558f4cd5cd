#!/usr/bin/env bash
# The checks that need a GPU, in one go (a few minutes on an H200 with 16 cores): builds the C++
# tests and the ops benchmarks for sm_90, runs every CUDA test (CUDA twins against CPU twins),
# then the GPU benchmarks, and prints each op's bandwidth next to the device's own copy
# bandwidth. Exits non-zero when a build step or test fails, or when the GPU tests skipped.
#
#   bash scripts/gpu-check.sh            # BUILD_DIR=build/gpu-check JOBS=16 CUDA_ARCH=90
#   bash scripts/gpu-check.sh --bundle build/gpu-bundle
#       runs programs built elsewhere by scripts/gpu-bundle.sh (for GPU machines that have the
#       CUDA toolkit but not Debian's -dev packages, and no registry to install them from)
set -euo pipefail
BUNDLE=""
if [ "${1:-}" = "--bundle" ]; then
  BUNDLE=$(cd "$2" && pwd)
fi

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/gpu-check}
JOBS=${JOBS:-16}
CUDA_ARCH=${CUDA_ARCH:-90}
BENCH_MIN_TIME=${BENCH_MIN_TIME:-0.05}

echo "== devices"
nvidia-smi -L

if [ -n "$BUNDLE" ]; then
  echo "== prebuilt bundle $BUNDLE"
  export LD_LIBRARY_PATH="$BUNDLE/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  tests_bin="$BUNDLE/bin/mlcore_tests"
  bench_bin="$BUNDLE/bin/mlcore_ops_bench"
else
  echo "== dependencies"
  bash scripts/install-deps.sh
  echo "== configure and build ($BUILD_DIR, sm_$CUDA_ARCH, -j$JOBS)"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMLCORE_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" \
    -DMLCORE_BUILD_TESTS=ON -DMLCORE_BUILD_BENCHMARKS=ON -DMLCORE_BUILD_PYTHON=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS" --target mlcore_tests mlcore_ops_bench
  tests_bin="$BUILD_DIR/tests/mlcore_tests"
  bench_bin="$BUILD_DIR/benchmarks/mlcore_ops_bench"
fi

echo "== GPU tests"
test_log=$(mktemp)
set +e
"$tests_bin" --gtest_filter='*Cuda*:*Gpu*' 2>&1 | tee "$test_log"
test_status=${PIPESTATUS[0]}
set -e
if [ "$test_status" -ne 0 ]; then
  echo "gpu-check: GPU tests FAILED" >&2
  exit "$test_status"
fi
# A machine whose GPU the build cannot use would pass by skipping everything: refuse that.
twin_tests='ElementwiseCudaTest\.AddAndMul|CastCudaTest\.EveryPair|SumCudaTest\.Matches'
if grep -qE "^\[  SKIPPED \] ($twin_tests)" "$test_log"; then
  echo "gpu-check: the CUDA twin tests skipped: no usable device for this build" >&2
  exit 1
fi

echo "== GPU benchmarks"
bench_json=$(mktemp)
"$bench_bin" --benchmark_filter='BM_Cuda' \
  --benchmark_min_time="$BENCH_MIN_TIME" --benchmark_out="$bench_json" \
  --benchmark_out_format=json

echo "== bandwidth against the device's copy (BM_CudaCopy, same size)"
python3 - "$bench_json" <<'PY'
import json
import re
import sys

rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    m = re.match(r"BM_Cuda(\w+)/(\d+)", b["name"])
    if m and "bytes_per_second" in b:
        rows[(m.group(1), int(m.group(2)))] = b["bytes_per_second"] / 1e9
sizes = sorted({n for _, n in rows})
ops = [op for op in ["Add", "AddNew", "Mul", "Axpy", "Sum", "CastToFloat16", "Fill", "Copy"]
       if any((op, n) in rows for n in sizes)]
print(f"{'op':<15}" + "".join(f"{f'n={n:.0e} GB/s':>18}{'% copy':>8}" for n in sizes))
for op in ops:
    line = f"{op:<15}"
    for n in sizes:
        gbs, copy = rows.get((op, n)), rows.get(("Copy", n))
        line += f"{gbs:>18.1f}" if gbs else f"{'-':>18}"
        line += f"{100 * gbs / copy:>7.0f}%" if gbs and copy else f"{'-':>8}"
    print(line)
PY
echo "gpu-check: OK"
