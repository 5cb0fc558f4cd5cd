#!/usr/bin/env bash
# Builds the GPU test and benchmark programs HERE (a machine with the toolkit and the Debian
# packages) for sm_90 and bundles them with the shared libraries they need that a bare CUDA
# image may lack (Abseil, SQLite, libcrypto, Google Benchmark; not the CUDA libraries, which the
# GPU machine has). A GPU machine without Debian's -dev packages then runs
#   bash scripts/gpu-check.sh --bundle build/gpu-bundle
# Output: build/gpu-bundle/{bin,lib,BUILD_INFO} (tens of MB; the device tool carries at most
# 64 MiB with the working tree, so the size is printed and checked).
#
#   JOBS=2 BUILD_DIR=build-x OUT_DIR=build-x/bundle bash scripts/gpu-bundle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/gpu-bundle-build}
OUT=${OUT_DIR:-build/gpu-bundle}
CUDA_ARCH=${CUDA_ARCH:-90}
JOBS=${JOBS:-$(nproc)}

bash scripts/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLCORE_WITH_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DMLCORE_BUILD_TESTS=ON -DMLCORE_BUILD_BENCHMARKS=ON \
  -DMLCORE_BUILD_PYTHON=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target mlcore_tests mlcore_ops_bench mlcore_nn_gpu_bench

rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib"
cp "$BUILD_DIR/tests/mlcore_tests" "$BUILD_DIR/benchmarks/mlcore_ops_bench" \
  "$BUILD_DIR/benchmarks/mlcore_nn_gpu_bench" "$OUT/bin/"
cp -L "$BUILD_DIR"/libmlcore.so.[0-9] "$OUT/lib/"
# Every resolved dependency except the C library itself and the CUDA/NVIDIA libraries.
for binary in "$OUT"/bin/* "$OUT"/lib/libmlcore.so.*; do
  ldd "$binary" | awk '/=> \// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libcuda.so*|libcu*|libnv*) ;;
    *) cp -L "$lib" "$OUT/lib/" ;;
  esac
done
# What the GPU machine must provide itself; gpu-check.sh looks for each before running.
{
  echo "git $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +changes)"
  echo "built $(date -u +%Y-%m-%dT%H:%MZ) for sm_$CUDA_ARCH"
  /usr/local/cuda/bin/nvcc --version | tail -1
  grep -E '#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' /usr/local/cuda/include/cudnn_version.h 2>/dev/null || true
  echo "needs from the GPU machine:"
  for binary in "$OUT"/bin/* "$OUT"/lib/libmlcore.so.*; do ldd "$binary" | awk '{print $1}'; done |
    grep -E '^lib(cu|nv)' | sort -u | sed 's/^/  /'
  # Not in ldd's list: libmlcore dlopen's these on first GPU use (src/core/cuda_libs.cc).
  blas=$(sed -n 's/^#define CUBLAS_VER_MAJOR \([0-9]*\).*/\1/p' /usr/local/cuda/include/cublas_api.h)
  dnn=$(sed -n 's/^#define CUDNN_MAJOR \([0-9]*\).*/\1/p' /usr/local/cuda/include/cudnn_version.h 2>/dev/null)
  echo "  libcublas.so.$blas libcublasLt.so.$blas${dnn:+ libcudnn.so.$dnn} (loaded on first GPU use)"
} >"$OUT/BUILD_INFO"
cat "$OUT/BUILD_INFO"
du -sh "$OUT"
size_kb=$(du -sk "$OUT" | cut -f1)
if [ "$size_kb" -gt $((48 * 1024)) ]; then
  echo "gpu-bundle: WARNING: $((size_kb / 1024)) MiB leaves little of the device tool's 64 MiB" >&2
fi
echo "gpu-bundle: $OUT ready (carry it to the GPU machine)"
