#!/usr/bin/env bash
# The checks that need a GPU, in one go, inside 8 minutes on an H200 with 16 cores: builds the
# C++ tests and the ops and nn GPU benchmarks for sm_90 (or takes them from a bundle), runs every
# CUDA test (CUDA twins against CPU twins, cuDNN and im2col convolutions, bf16 against its CPU
# emulation), then the GPU benchmarks: each op's and the fused Adam kernel's bandwidth next to the
# device's own copy bandwidth, GEMM TFLOP/s (float32, bf16), the 4096-wide MLP's training step
# (float32, bf16) and, when PyTorch with CUDA is importable, the same MLP in PyTorch.
#
# A GPU session is rare and short, so one failure never stops the rest: every step runs under
# its own time limit, its exit code is collected, and the script fails at the end (non-zero when
# a build step, a test or a benchmark failed, or when the GPU tests skipped). Everything printed
# also goes to ${OUT:-.}/gpu-check.log, the figures alone to ${OUT:-.}/gpu-check-figures.txt and
# the test results to ${OUT:-.}/gpu-tests.xml ($OUT is the folder the device tool brings back).
#
#   bash scripts/gpu-check.sh            # BUILD_DIR=build/gpu-check JOBS=16 CUDA_ARCH=90
#   bash scripts/gpu-check.sh --bundle build/gpu-bundle
#       runs programs built elsewhere by scripts/gpu-bundle.sh (for GPU machines that have the
#       CUDA toolkit but not Debian's -dev packages, and no registry to install them from)
set -uo pipefail
BUNDLE=""
if [ "${1:-}" = "--bundle" ]; then
  if [ ! -d "${2:-}" ]; then
    echo "gpu-check: --bundle needs the folder gpu-bundle.sh made, got '${2:-}'" >&2
    exit 2
  fi
  BUNDLE=$(cd "$2" && pwd)
fi

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/gpu-check}
JOBS=${JOBS:-16}
CUDA_ARCH=${CUDA_ARCH:-90}
BENCH_MIN_TIME=${BENCH_MIN_TIME:-0.05}
RESULTS=${OUT:-.}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
FIGURES="$RESULTS/gpu-check-figures.txt"
FIG_TMP=$(mktemp -d)  # each step's figures, joined into $FIGURES at the end
exec > >(tee "$RESULTS/gpu-check.log") 2>&1

START=$SECONDS
FAILURES=()
section() { echo; echo "== [$((SECONDS - START))s] $*"; }
fail() {
  FAILURES+=("$1")
  echo "gpu-check: FAILED: $1"
}
# step NAME SECONDS COMMAND...: runs COMMAND under a time limit; a failure is recorded, not fatal.
step() {
  local name=$1 limit=$2
  shift 2
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    fail "$name: timed out after ${limit}s"
  elif [ "$rc" -ne 0 ]; then
    fail "$name: exit code $rc"
  fi
  return "$rc"
}
# step_to FILE NAME SECONDS COMMAND...: step with the output kept in FILE, then shown. (Not a pipe
# into tee: a step at the left of a pipe runs in a subshell, and its failure would be lost.)
step_to() {
  local file=$1
  shift
  step "$@" >"$file" 2>&1
  local rc=$?
  cat "$file"
  return "$rc"
}
finish() {
  cat "$FIG_TMP"/{ops,nn,torch}.txt >"$FIGURES" 2>/dev/null
  section "summary (${RESULTS}/gpu-check.log, figures in $FIGURES)"
  if [ "${#FAILURES[@]}" -eq 0 ]; then
    echo "gpu-check: OK in $((SECONDS - START))s"
    exit 0
  fi
  printf 'gpu-check: FAILED: %s\n' "${FAILURES[@]}"
  echo "gpu-check: ${#FAILURES[@]} failure(s) in $((SECONDS - START))s"
  exit 1
}

section "devices"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi -L || fail "nvidia-smi -L"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,compute_cap \
    --format=csv || true
else
  fail "nvidia-smi not found (no NVIDIA driver on this machine?)"
fi
/usr/local/cuda/bin/nvcc --version 2>/dev/null | tail -2 || echo "(no nvcc in /usr/local/cuda)"

if [ -n "$BUNDLE" ]; then
  section "prebuilt bundle $BUNDLE"
  cat "$BUNDLE/BUILD_INFO" 2>/dev/null || echo "(no BUILD_INFO in the bundle)"
  export LD_LIBRARY_PATH="$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  tests_bin="$BUNDLE/bin/mlcore_tests"
  bench_bin="$BUNDLE/bin/mlcore_ops_bench"
  nn_bench_bin="$BUNDLE/bin/mlcore_nn_gpu_bench"
else
  section "dependencies"
  if ! step "install-deps" 300 bash scripts/install-deps.sh; then
    echo "gpu-check: cannot build without the Debian packages; on a machine without them use"
    echo "  bash scripts/gpu-bundle.sh (elsewhere), then bash scripts/gpu-check.sh --bundle DIR"
    finish
  fi
  section "configure and build ($BUILD_DIR, sm_$CUDA_ARCH, -j$JOBS)"
  step "cmake configure" 120 cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMLCORE_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" \
    -DMLCORE_BUILD_TESTS=ON -DMLCORE_BUILD_BENCHMARKS=ON -DMLCORE_BUILD_PYTHON=OFF || finish
  step "build" 360 cmake --build "$BUILD_DIR" -j "$JOBS" \
    --target mlcore_tests mlcore_ops_bench mlcore_nn_gpu_bench || finish
  tests_bin="$BUILD_DIR/tests/mlcore_tests"
  bench_bin="$BUILD_DIR/benchmarks/mlcore_ops_bench"
  nn_bench_bin="$BUILD_DIR/benchmarks/mlcore_nn_gpu_bench"
fi

section "shared libraries"
# The toolkit's libraries (cuBLAS, and cuDNN 9, which loads libcudnn_cnn and the other parts by
# name at run time); where the toolkit has no cuDNN, the one PyTorch's wheels bring.
cuda_libs=/usr/local/cuda/lib64:/usr/local/cuda/lib
export LD_LIBRARY_PATH="$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for pkg in cudnn cublas; do
  if ! ldconfig -p 2>/dev/null | grep -q "lib$pkg.so" &&
    ! ls /usr/local/cuda/lib64/lib$pkg.so* >/dev/null 2>&1; then
    # nvidia/<pkg>/lib (CUDA 12 wheels) or nvidia/cu13/lib (CUDA 13 wheels), whichever has it.
    dir=$(python3 - "$pkg" 2>/dev/null <<'PY'
import glob, os, sys
import nvidia
for root in nvidia.__path__:
    pattern = os.path.join(root, "**", f"lib{sys.argv[1]}.so*")
    for path in sorted(glob.glob(pattern, recursive=True)):
        print(os.path.dirname(path))
        raise SystemExit
PY
    )
    if [ -n "$dir" ] && [ -d "$dir" ]; then
      echo "lib$pkg from python3's nvidia wheels: $dir"
      export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$dir"
    else
      echo "lib$pkg: neither in the toolkit nor in python3's nvidia wheels"
    fi
  fi
done
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
for binary in "$tests_bin" "$bench_bin" "$nn_bench_bin"; do
  if [ ! -x "$binary" ]; then
    fail "missing program $binary"
    continue
  fi
  missing=$(ldd "$binary" | grep "not found")
  if [ -n "$missing" ]; then
    fail "$(basename "$binary"): unresolved shared libraries"
    echo "$missing"
  fi
  ldd "$binary" | grep -E "libmlcore|libcublas|libcudnn|libabsl_status\.|libbenchmark" |
    sed 's/^/  /'
done

section "GPU tests"
test_log="$RESULTS/gpu-tests.txt"
step_to "$test_log" "GPU tests" 240 "$tests_bin" --gtest_filter='*Cuda*:*Gpu*' \
  --gtest_output="xml:$RESULTS/gpu-tests.xml"
echo "-- test summary"
grep -E '^\[  (FAILED|PASSED) \]|^\[==========\] [0-9]+ tests? from' "$test_log"
echo "$(grep -c '^\[  SKIPPED \]' "$test_log") lines of skipped tests"
# A machine whose GPU the build cannot use would pass by skipping everything: refuse that.
twin_tests='ElementwiseCudaTest\.AddAndMul|CastCudaTest\.EveryPair|SumCudaTest\.Matches'
twin_tests+='|ConvCudaTest\.Conv|NnCudaTest\.Layers'
if grep -qE "^\[  SKIPPED \] ($twin_tests)" "$test_log"; then
  fail "the CUDA twin tests skipped: no usable device for this build"
  grep -m1 "no CUDA device" "$test_log"
fi
if ! grep -qE '^\[==========\] [0-9]+ tests? from .* ran' "$test_log"; then
  fail "the GPU test program did not finish (crash or time limit): see the end of $test_log"
fi

section "ops GPU benchmarks"
bench_json="$RESULTS/gpu-ops-bench.json"
step "ops benchmarks" 90 "$bench_bin" --benchmark_filter='BM_Cuda' \
  --benchmark_min_time="$BENCH_MIN_TIME" --benchmark_out="$bench_json" \
  --benchmark_out_format=json
echo "-- bandwidth against the device's copy (BM_CudaCopy, same size)"
step_to "$FIG_TMP/ops.txt" "ops figures" 30 python3 - "$bench_json" <<'PY'
import json
import re
import sys

rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    m = re.match(r"BM_Cuda(\w+)/(\d+)", b["name"])
    if b.get("error_occurred"):
        print(f"{b['name']}: ERROR {b.get('error_message', '')}")
    elif m and "bytes_per_second" in b:
        rows[(m.group(1), int(m.group(2)))] = b["bytes_per_second"] / 1e9
if not rows:
    sys.exit("no ops benchmark produced a figure")
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

section "nn GPU benchmarks (MLP 4096 step, fused Adam vs copy, GEMM)"
nn_json="$RESULTS/gpu-nn-bench.json"
step "nn benchmarks" 150 "$nn_bench_bin" --benchmark_min_time="$BENCH_MIN_TIME" \
  --benchmark_out="$nn_json" --benchmark_out_format=json
step_to "$FIG_TMP/nn.txt" "nn figures" 30 python3 - "$nn_json" <<'PY'
import json
import re
import sys

benchmarks = json.load(open(sys.argv[1]))["benchmarks"]
for b in benchmarks:
    if b.get("error_occurred"):
        print(f"{b['name']}: ERROR {b.get('error_message', '')}")
rows = {b["name"]: b for b in benchmarks if not b.get("error_occurred")}
if not rows:
    sys.exit("no nn benchmark produced a figure")
prec = {"0": "float32", "1": "bf16"}
for name, b in rows.items():
    m = re.match(r"BM_CudaMlp4096TrainStep/(\d)/(\d+)", name)
    if m:
        print(f"mlcore MLP 4096 {prec[m.group(1)]:<8} batch {m.group(2):>5}: "
              f"{b['items_per_second']:>10.0f} samples/s")
for name, b in rows.items():
    m = re.match(r"BM_CudaAdam/(\d+)", name)
    copy = rows.get(f"BM_CudaCopy/{m.group(1)}/real_time") if m else None
    if m and copy:
        print(f"fused Adam n={int(m.group(1)):.1e}: {b['bytes_per_second'] / 1e9:.0f} GB/s = "
              f"{100 * b['bytes_per_second'] / copy['bytes_per_second']:.0f}% of the copy's "
              f"{copy['bytes_per_second'] / 1e9:.0f} GB/s (target >= 70%)")
gemm = {n: b["TFLOPs"] for n, b in rows.items() if n.startswith("BM_CudaGemm") and "TFLOPs" in b}
for n, t in sorted(gemm.items()):
    m = re.match(r"BM_CudaGemm(\w*)/(\d)/(\d+)", n)
    kind = f"GEMM{m.group(1)} {prec[m.group(2)]}"
    best = max(v for k, v in gemm.items() if re.match(rf"BM_CudaGemm\w*/{m.group(2)}/", k))
    print(f"{kind:<22} n={m.group(3):>5}: {t:6.1f} TFLOP/s "
          f"({100 * t / best:.0f}% of the best measured {prec[m.group(2)]})")
PY

section "PyTorch on the same GPU (4096-wide MLP)"
step_to "$FIG_TMP/torch.txt" "PyTorch comparison" 120 \
  python3 benchmarks/python/bench_nn_gpu_torch.py

finish
