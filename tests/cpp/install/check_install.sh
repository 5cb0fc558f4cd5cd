#!/usr/bin/env bash
# Installs the build tree into a fresh prefix, builds examples/cpp and tests/cpp/install/consumer
# against that prefix with find_package(mlcore), and runs the programs: the consumer (one use of
# every module, built with no C++ standard or flags of its own: the mlcore::mlcore target must
# carry them), the quickstart, then the digits MLP trained from a CSV that scikit-learn writes
# (the C++ program itself uses no Python). The consumer is also built with pkg-config alone, and the
# pipeline example is rebuilt with other code to check that its cache is never stale. Fails if any
# step fails, including a digits test accuracy under 97%.
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
# Without CMake: the consumer again, compiled and linked with nothing but pkg-config's flags.
pc_flags=$(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs mlcore)
if ! ${CXX:-g++} "$consumer_dir/consumer.cc" -o "$work/pc_consumer" $pc_flags \
     >"$work/pkg-config.log" 2>&1; then
  cat "$work/pkg-config.log" >&2
  echo "the consumer does not build with \$(pkg-config --cflags --libs mlcore): $pc_flags" >&2
  exit 1
fi
# JSON_DIAGNOSTICS changes nlohmann::json's ABI, which the pipeline API passes: refused when
# compiling, with a message saying why, instead of a link error or a crash.
if ${CXX:-g++} -DJSON_DIAGNOSTICS=1 -fsyntax-only "$consumer_dir/consumer.cc" $pc_flags \
     >"$work/json-diagnostics.log" 2>&1 ||
   ! grep -q "mlcore was built without JSON_DIAGNOSTICS" "$work/json-diagnostics.log"; then
  cat "$work/json-diagnostics.log" >&2
  echo "a program built with JSON_DIAGNOSTICS=1 is not refused with a clear message" >&2
  exit 1
fi
# The programs must resolve libmlcore from the install prefix, not the build tree, and must not
# pull in cuBLAS or cuDNN (libmlcore loads them on first GPU use).
for program in build/quickstart_cpp build/train_digits_cpp build/pipeline_cpp \
               consumer/mlcore_consumer pc_consumer; do
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
env -u LD_LIBRARY_PATH MLCORE_HOME="$work/home-pc" "$work/pc_consumer" >/dev/null
MLCORE_HOME="$work/home" "$work/build/quickstart_cpp"

# A pipeline of C++ callables that name no code_version: a rerun is served from the cache, and
# the same program rebuilt with other code (another PIPELINE_SCALE) runs again, never stale.
expect() {  # expect WHAT FILE PATTERN
  grep -qx "$3" "$2" || { echo "pipeline_cpp: $1; it printed:" >&2; cat "$2" >&2; exit 1; }
}
MLCORE_HOME="$work/home" "$work/build/pipeline_cpp" >"$work/pipeline1.out"
expect "first run" "$work/pipeline1.out" "total 20"
MLCORE_HOME="$work/home" "$work/build/pipeline_cpp" >"$work/pipeline2.out"
expect "rerun not cached" "$work/pipeline2.out" "scale cached"
cmake -S "$example_dir" -B "$work/build-scale3" "${generator[@]}" \
      -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_FLAGS=-DPIPELINE_SCALE=3 >"$work/configure-scale3.log"
cmake --build "$work/build-scale3" --target pipeline_cpp >"$work/build-scale3.log"
MLCORE_HOME="$work/home" "$work/build-scale3/pipeline_cpp" >"$work/pipeline3.out"
expect "rebuilt program served the old result" "$work/pipeline3.out" "total 30"
expect "rebuilt program's task cached" "$work/pipeline3.out" "scale succeeded"

if ! "$python" -c "import sklearn" 2>/dev/null; then
  echo "train_digits needs scikit-learn in $python (set MLCORE_PYTHON) to write digits.csv" >&2
  exit 1
fi
"$python" "$example_dir/export_digits.py" "$work/digits.csv"
MLCORE_HOME="$work/home" "$work/build/train_digits_cpp" "$work/digits.csv" "$work/digits_model"
