#!/usr/bin/env bash
# Installs the build tree into a fresh prefix, builds examples/cpp against that prefix with
# find_package(mlcore), and runs the program. Fails if any step fails.
set -euo pipefail
build_dir=$1 example_dir=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build_dir" --prefix "$work/prefix" >"$work/install.log"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$example_dir" -B "$work/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_BUILD_TYPE=Release >"$work/configure.log"
cmake --build "$work/build" >"$work/build.log"
# The program must resolve libmlcore from the install prefix, not the build tree.
if ldd "$work/build/quickstart_cpp" | grep -q "$build_dir/libmlcore"; then
  echo "quickstart_cpp links the build tree, not the installed library" >&2
  exit 1
fi
MLCORE_HOME="$work/home" "$work/build/quickstart_cpp"
