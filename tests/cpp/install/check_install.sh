#!/usr/bin/env bash
# Installs the build tree into a fresh prefix, builds examples/cpp against that prefix with
# find_package(mlcore), and runs the programs: the quickstart, then the digits MLP trained from
# a CSV that scikit-learn writes (the C++ program itself uses no Python). Fails if any step
# fails, including a digits test accuracy under 97%.
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
# The programs must resolve libmlcore from the install prefix, not the build tree.
for program in quickstart_cpp train_digits_cpp; do
  if ldd "$work/build/$program" | grep -q "$build_dir/libmlcore"; then
    echo "$program links the build tree, not the installed library" >&2
    exit 1
  fi
done
MLCORE_HOME="$work/home" "$work/build/quickstart_cpp"

if ! "$python" -c "import sklearn" 2>/dev/null; then
  echo "train_digits needs scikit-learn in $python (set MLCORE_PYTHON) to write digits.csv" >&2
  exit 1
fi
"$python" "$example_dir/export_digits.py" "$work/digits.csv"
MLCORE_HOME="$work/home" "$work/build/train_digits_cpp" "$work/digits.csv" "$work/digits_model"
