#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzzer.cc) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, then runs each for FUZZ_SECONDS (default 30) starting from its
# corpus in fuzz/corpus/<target>/. The checked-in corpus is only read: new inputs go to a
# scratch copy. A crash fails the script and leaves the input that caused it in
# build/fuzz-artifacts/ (reproduce: build/cmake-fuzz/fuzz/<target> <file>); each such input
# then becomes a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
# A fixed seed makes a run repeatable: the same binary and corpus try the same inputs in the same
# order, so a CI run explores a prefix of what a longer local run with the same seed already
# passed. FUZZ_SEED=0 lets libFuzzer pick a new seed (exploration beyond that prefix).
seed="${FUZZ_SEED:-1}"
build=build/cmake-fuzz
flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS="$flags" \
  -DMLCORE_WITH_CUDA=OFF -DMLCORE_BUILD_TESTS=OFF -DMLCORE_BUILD_BENCHMARKS=OFF \
  -DMLCORE_BUILD_PYTHON=OFF -DMLCORE_BUILD_FUZZERS=ON >/dev/null
cmake --build "$build"
mkdir -p build/fuzz-artifacts
failed=()
for target in fuzz/*_fuzzer.cc; do
  name=$(basename "$target" .cc)
  work=$(mktemp -d)
  cp -r "fuzz/corpus/$name/." "$work/" 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
       "$build/fuzz/$name" -max_total_time="$seconds" -seed="$seed" -rss_limit_mb=4096 -timeout=10 \
       -print_final_stats=1 -artifact_prefix="build/fuzz-artifacts/$name-" "$work" \
       > "build/fuzz-artifacts/$name.log" 2>&1; then
    failed+=("$name")
    tail -40 "build/fuzz-artifacts/$name.log"
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "build/fuzz-artifacts/$name.log" || true
  rm -rf "$work"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]} (inputs in build/fuzz-artifacts/)"
  exit 1
fi
echo "fuzz: all targets ran ${seconds}s each without a crash"
