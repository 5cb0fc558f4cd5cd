#!/usr/bin/env bash
# Checks C++ and CUDA formatting (clang-format, Google style, 100 columns). Fails listing the
# files that differ; `scripts/lint.sh --fix` rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.h' '*.cc' '*.cu' '*.cuh')
[ ${#files[@]} -eq 0 ] && exit 0
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "clang-format differs (run scripts/lint.sh --fix): ${bad[*]}" >&2
  exit 1
fi
echo "lint: ${#files[@]} files formatted"
