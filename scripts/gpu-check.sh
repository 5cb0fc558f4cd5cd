#!/usr/bin/env bash
# The checks that need a GPU, in one go (a few minutes on an H200 with 16 cores): builds the C++
# tests and the ops and nn GPU benchmarks for sm_90, runs every CUDA test (CUDA twins against CPU
# twins, cuDNN and im2col convolutions, bf16 against its CPU emulation), then the GPU benchmarks:
# each op's and the fused Adam kernel's bandwidth next to the device's own copy bandwidth, GEMM
# TFLOP/s (float32, bf16), the 4096-wide MLP's training step (float32, bf16) and, when PyTorch
# with CUDA is importable, the same MLP in PyTorch. Exits non-zero when a build step or test
# fails, or when the GPU tests skipped.
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
  nn_bench_bin="$BUNDLE/bin/mlcore_nn_gpu_bench"
else
  echo "== dependencies"
  bash scripts/install-deps.sh
  echo "== configure and build ($BUILD_DIR, sm_$CUDA_ARCH, -j$JOBS)"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMLCORE_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" \
    -DMLCORE_BUILD_TESTS=ON -DMLCORE_BUILD_BENCHMARKS=ON -DMLCORE_BUILD_PYTHON=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS" --target mlcore_tests mlcore_ops_bench mlcore_nn_gpu_bench
  tests_bin="$BUILD_DIR/tests/mlcore_tests"
  bench_bin="$BUILD_DIR/benchmarks/mlcore_ops_bench"
  nn_bench_bin="$BUILD_DIR/benchmarks/mlcore_nn_gpu_bench"
fi
# cuDNN 9 loads its sublibraries (libcudnn_cnn...) by name at run time.
export LD_LIBRARY_PATH="/usr/local/cuda/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

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
twin_tests='ElementwiseCudaTest\.AddAndMul|CastCudaTest\.EveryPair|SumCudaTest\.Matches|ConvCudaTest\.Conv|NnCudaTest\.Layers'
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
echo "== nn GPU benchmarks (MLP 4096 step, fused Adam vs copy, GEMM)"
nn_json=$(mktemp)
"$nn_bench_bin" --benchmark_min_time="$BENCH_MIN_TIME" --benchmark_out="$nn_json" \
  --benchmark_out_format=json
python3 - "$nn_json" <<'PY'
import json
import re
import sys

rows = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]
        if not b.get("error_occurred")}
prec = {"0": "float32", "1": "bf16"}
for name, b in rows.items():
    m = re.match(r"BM_CudaMlp4096TrainStep/(\d)/(\d+)", name)
    if m:
        print(f"MLP 4096 {prec[m.group(1)]:<8} batch {m.group(2):>5}: "
              f"{b['items_per_second']:>10.0f} samples/s")
for name, b in rows.items():
    m = re.match(r"BM_CudaAdam/(\d+)", name)
    copy = rows.get(f"BM_CudaCopy/{m.group(1)}/real_time") if m else None
    if m and copy:
        print(f"fused Adam n={int(m.group(1)):.1e}: {b['bytes_per_second'] / 1e9:.0f} GB/s = "
              f"{100 * b['bytes_per_second'] / copy['bytes_per_second']:.0f}% of the copy's "
              f"{copy['bytes_per_second'] / 1e9:.0f} GB/s (target >= 70%)")
gemm = {n: b["TFLOPs"] for n, b in rows.items() if n.startswith("BM_CudaGemm")}
for n, t in sorted(gemm.items()):
    m = re.match(r"BM_CudaGemm/(\d)/(\d+)", n)
    best = max(v for k, v in gemm.items() if k.startswith(f"BM_CudaGemm/{m.group(1)}/"))
    print(f"GEMM {prec[m.group(1)]:<8} n={m.group(2):>5}: {t:6.1f} TFLOP/s "
          f"({100 * t / best:.0f}% of the best measured {prec[m.group(1)]})")
PY

echo "== PyTorch on the same GPU (4096-wide MLP)"
python3 benchmarks/python/bench_nn_gpu_torch.py || echo "(PyTorch comparison failed)"
echo "gpu-check: OK"
