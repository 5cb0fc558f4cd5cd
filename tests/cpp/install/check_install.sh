#!/usr/bin/env bash
# Installs the build tree into a fresh prefix, builds examples/cpp and tests/cpp/install/consumer
# against that prefix with find_package(mlcore), and runs the programs: the consumer (one use of
# every module, built with no C++ standard or flags of its own: the mlcore::mlcore target must
# carry them), the quickstart, then the digits MLP trained from a CSV that scikit-learn writes
# (the C++ program itself uses no Python). Fails if any step fails, including a digits test
# accuracy under 97%.
set -euo pipefail
build_dir=$1 example_dir=$2 work=$3
repo=$(cd "$example_dir/../.." && pwd)
python=${MLCORE_PYTHON:-$repo/.venv/bin/python}
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build_dir" --prefix "$work/prefix" >"$work/install.log"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$example_dir" -B "$work/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_BUILD_TYPE=Release >"$work/configure.log"
cmake --build "$work/build" >"$work/build.log"
consumer_dir=$(cd "$(dirname "$0")/consumer" && pwd)
if ! { cmake -S "$consumer_dir" -B "$work/consumer" "${generator[@]}" \
         -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release &&
       cmake --build "$work/consumer"; } >"$work/consumer.log" 2>&1; then
  cat "$work/consumer.log" >&2
  echo "the consumer of every module does not build against the installed package" >&2
  exit 1
fi
# The programs must resolve libmlcore from the install prefix, not the build tree, and must not
# pull in cuBLAS or cuDNN (libmlcore loads them on first GPU use).
for program in build/quickstart_cpp build/train_digits_cpp consumer/mlcore_consumer; do
  if ldd "$work/$program" | grep -q "$build_dir/libmlcore"; then
    echo "$program links the build tree, not the installed library" >&2
    exit 1
  fi
  if ldd "$work/$program" | grep -E 'libcublas|libcudnn|libnccl'; then
    echo "$program loads CUDA libraries at start-up" >&2
    exit 1
  fi
done
MLCORE_HOME="$work/home" "$work/consumer/mlcore_consumer"
MLCORE_HOME="$work/home" "$work/build/quickstart_cpp"

if ! "$python" -c "import sklearn" 2>/dev/null; then
  echo "train_digits needs scikit-learn in $python (set MLCORE_PYTHON) to write digits.csv" >&2
  exit 1
fi
"$python" "$example_dir/export_digits.py" "$work/digits.csv"
MLCORE_HOME="$work/home" "$work/build/train_digits_cpp" "$work/digits.csv" "$work/digits_model"
