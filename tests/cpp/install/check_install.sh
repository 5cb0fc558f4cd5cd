#!/usr/bin/env bash
# Installs the build tree into a fresh prefix, builds examples/cpp and tests/cpp/install/consumer
# against that prefix with find_package(mlcore), and runs the programs: the consumer (one use of
# every module, built with no C++ standard or flags of its own: the mlcore::mlcore target must
# carry them), the quickstart, then the digits MLP trained from a CSV that scikit-learn writes
# (the C++ program itself uses no Python). The consumer is also built with pkg-config alone, and the
# pipeline example is rebuilt with other code to check that its cache is never stale; an
# application with its own Abseil and nlohmann_json (JSON_DIAGNOSTICS=1) builds and runs beside
# mlcore (tests/cpp/install/own_deps). Fails if any
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
# against_prefix SRC BUILD: configures and builds the CMake project SRC against the prefix.
against_prefix() {
  cmake -S "$1" -B "$2" "${generator[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" \
        -DCMAKE_BUILD_TYPE=Release && cmake --build "$2"
}
# must_build LOG WHY COMMAND...: runs COMMAND, its output in $work/LOG; where it fails, shows the
# log and fails saying WHY.
must_build() {
  local log="$work/$1" why=$2
  shift 2
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "$why" >&2
    exit 1
  fi
}
cmake -S "$example_dir" -B "$work/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_BUILD_TYPE=Release >"$work/configure.log"
cmake --build "$work/build" >"$work/build.log"
consumer_dir=$(cd "$(dirname "$0")/consumer" && pwd)
must_build consumer.log \
  "the consumer of every module does not build against the installed package" \
  against_prefix "$consumer_dir" "$work/consumer"
# Without CMake: the consumer again, compiled and linked with nothing but pkg-config's flags.
pc_flags=$(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs mlcore)
must_build pkg-config.log \
  "the consumer does not build with \$(pkg-config --cflags --libs mlcore): $pc_flags" \
  ${CXX:-g++} "$consumer_dir/consumer.cc" -o "$work/pc_consumer" $pc_flags
# An application with its own Abseil and nlohmann_json use, built with JSON_DIAGNOSTICS=1 (which
# changes nlohmann::json's layout): mlcore's API passes mlcore::Json, so it links and runs, with
# CMake and with pkg-config alike.
own_dir=$(cd "$(dirname "$0")/own_deps" && pwd)
must_build own_deps.log "an application with its own Abseil and JSON_DIAGNOSTICS=1 does not build" \
  against_prefix "$own_dir" "$work/own_deps"
own_flags=$(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" \
            pkg-config --cflags --libs mlcore absl_strings absl_flat_hash_map absl_status nlohmann_json)
must_build pc_own_deps.log "the own-deps application does not build with pkg-config: $own_flags" \
  ${CXX:-g++} -DJSON_DIAGNOSTICS=1 "$own_dir/own_deps.cc" -o "$work/pc_own_deps" $own_flags
for program in own_deps/own_deps pc_own_deps; do
  out=$(env -u LD_LIBRARY_PATH MLCORE_HOME="$work/home-$(basename "$program")" "$work/$program")
  [ "$out" = "own deps ok" ] || { echo "$program printed: $out" >&2; exit 1; }
done

# The programs must resolve libmlcore from the install prefix, not the build tree, and must not
# pull in cuBLAS or cuDNN (libmlcore loads them on first GPU use).
for program in build/quickstart_cpp build/train_digits_cpp build/pipeline_cpp \
               build/hpo_study_cpp build/ddp_train_cpp build/serve_model_cpp \
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
# mlcore's own installed program starts from the prefix alone (RPATH $ORIGIN/../lib), without
# LD_LIBRARY_PATH, and loads no CUDA library to print its usage.
if [ -x "$work/prefix/bin/mlcore-server" ]; then
  if env -u LD_LIBRARY_PATH ldd "$work/prefix/bin/mlcore-server" | grep -E 'not found|libcublas|libcudnn'; then
    echo "the installed mlcore-server does not start from the prefix alone" >&2
    exit 1
  fi
  env -u LD_LIBRARY_PATH "$work/prefix/bin/mlcore-server" --help 2>"$work/server-help.txt" || true
  grep -q "usage: mlcore-server" "$work/server-help.txt" ||
    { echo "the installed mlcore-server did not start:" >&2; cat "$work/server-help.txt" >&2; exit 1; }
fi
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
# What the callables printed is in their task logs: in process (std::cout) and in a subprocess.
expect "scale's std::cout not in its log" "$work/pipeline1.out" "scale log: scaling by 2"
expect "make's printf not in its log" "$work/pipeline1.out" "make log: making 4 rows"
# Python reads the same logs from the store, as it reads a Python component's. The package comes
# from this build tree (make test runs the C++ tests before `pip install .`): its sources with
# the extension module beside them (the module finds libmlcore through its build RPATH).
# A build without the Python bindings (make test-nocuda) has no package to check.
pydir="$work/python"
if compgen -G "$build_dir/bindings/_mlcore*.so" >/dev/null; then
  mkdir -p "$pydir"
  cp -r "$repo/python/mlcore" "$pydir/"
  cp "$build_dir"/bindings/_mlcore*.so "$pydir/mlcore/"
  if ! PYTHONPATH="$pydir" "$python" - "$work/home" <<'PY'; then
import sys
import mlcore.pipelines as mp
run = mp.runs(home=sys.argv[1], pipeline="cpp_example")[0]
assert run.task("make").logs() == "making 4 rows\n", repr(run.task("make").logs())
assert run.task("scale").logs() == "scaling by 2\n", repr(run.task("scale").logs())
PY
    echo "Python does not see the C++ tasks' logs" >&2
    exit 1
  fi
else
  echo "no Python bindings in $build_dir: the Python read of the task logs is skipped"
fi
MLCORE_HOME="$work/home" "$work/build/pipeline_cpp" >"$work/pipeline2.out"
expect "rerun not cached" "$work/pipeline2.out" "scale cached"
cmake -S "$example_dir" -B "$work/build-scale3" "${generator[@]}" \
      -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_FLAGS=-DPIPELINE_SCALE=3 >"$work/configure-scale3.log"
cmake --build "$work/build-scale3" --target pipeline_cpp >"$work/build-scale3.log"
MLCORE_HOME="$work/home" "$work/build-scale3/pipeline_cpp" >"$work/pipeline3.out"
expect "rebuilt program served the old result" "$work/pipeline3.out" "total 30"
expect "rebuilt program's task cached" "$work/pipeline3.out" "scale succeeded"
# Compiled for Kubeflow, each task runs the program itself: run "make" as the KFP launcher would.
"$work/build/pipeline_cpp" --compile "$work/pipeline_cpp.yaml" "$work/build/pipeline_cpp" >/dev/null
grep -q -- "--mlcore-task" "$work/pipeline_cpp.yaml" ||
  { echo "pipeline_cpp.yaml has no RunTaskMain command" >&2; exit 1; }
"$work/build/pipeline_cpp" --mlcore-task make --executor-input \
  '{"inputs":{"parameterValues":{"n":3}},"outputs":{"artifacts":{"data":{"artifacts":[{"uri":"'"$work"'/kfp/make/data"}]}}}}' \
  >"$work/kfp-make.out"
[ "$(cat "$work/kfp/make/data")" = "$(printf '1\n2\n3')" ] ||
  { echo "the compiled make task wrote: $(cat "$work/kfp/make/data")" >&2; exit 1; }
# On a cluster the task's output is the container's, which Kubeflow keeps as the task's log.
expect "the Kubeflow task's output" "$work/kfp-make.out" "making 3 rows"
# The same example built with pkg-config's flags alone runs the same (its subprocess task too).
must_build pc-pipeline.log \
  "examples/cpp/pipeline_cpp.cc does not build with pkg-config: $pc_flags" \
  ${CXX:-g++} "$example_dir/pipeline_cpp.cc" -o "$work/pc_pipeline_cpp" $pc_flags
env -u LD_LIBRARY_PATH MLCORE_HOME="$work/home-pc-pipeline" "$work/pc_pipeline_cpp" \
  >"$work/pc-pipeline.out"
expect "pkg-config build" "$work/pc-pipeline.out" "total 20"
expect "pkg-config build's subprocess task log" "$work/pc-pipeline.out" "make log: making 4 rows"

# The HPO study (progress, best trial, table, plots) and the in-process server answering HTTP.
mkdir -p "$work/hpo"
MLCORE_HOME="$work/home" "$work/build/hpo_study_cpp" "$work/hpo" >"$work/hpo.out" 2>"$work/hpo.err"
grep -q "^best value" "$work/hpo.out" && grep -q "40/40 trials" "$work/hpo.err" &&
  grep -q "<svg" "$work/hpo/history.svg" && [ "$(wc -l <"$work/hpo/trials.csv")" = 41 ] ||
  { echo "hpo_study_cpp:" >&2; cat "$work/hpo.out" "$work/hpo.err" >&2; exit 1; }
MLCORE_HOME="$work/home" "$work/build/serve_model_cpp" "$work/served_model" >"$work/serve.out"
grep -qx "predicted classes: 1 0 1" "$work/serve.out" ||
  { echo "serve_model_cpp:" >&2; cat "$work/serve.out" >&2; exit 1; }

# Two ranks of the data-parallel trainer, with the variables `mlcore launch` sets; their weights
# must end identical.
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
for rank in 0 1; do
  env MLCORE_HOME="$work/home" RANK=$rank LOCAL_RANK=$rank WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 \
      MASTER_ADDR=127.0.0.1 MASTER_PORT="$port" MLCORE_NUM_THREADS=1 \
      "$work/build/ddp_train_cpp" >"$work/ddp$rank.out" 2>&1 &
  pids+=($!)
done
wait "${pids[0]}" && wait "${pids[1]}" ||
  { echo "ddp_train_cpp failed:" >&2; cat "$work/ddp0.out" "$work/ddp1.out" >&2; exit 1; }
[ "$(grep -o 'weights .*' "$work/ddp0.out")" = "$(grep -o 'weights .*' "$work/ddp1.out")" ] ||
  { echo "ranks disagree:" >&2; cat "$work/ddp0.out" "$work/ddp1.out" >&2; exit 1; }

if ! "$python" -c "import sklearn" 2>/dev/null; then
  echo "train_digits needs scikit-learn in $python (set MLCORE_PYTHON) to write digits.csv" >&2
  exit 1
fi
"$python" "$example_dir/export_digits.py" "$work/digits.csv"
MLCORE_HOME="$work/home" "$work/build/train_digits_cpp" "$work/digits.csv" "$work/digits_model"
