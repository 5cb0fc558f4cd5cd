"""Resident memory of a fresh process after `import mlcore` (with nn, hpo and pipelines) against
numpy alone, and what the difference is made of.

    .venv/bin/python benchmarks/python/bench_import.py [--repeat N] [--top K]

Every figure comes from its own fresh interpreter (VmRSS of /proc/self/status right after the
imports; the lowest of N runs, as page-cache luck only ever adds). The breakdown sums the
resident pages of each mapped file in the full mlcore process (/proc/self/smaps), so a shared
library that should not be there (cuBLAS, cuDNN on a CPU-only host) shows by name. Target
(issue 11): import mlcore with nn, hpo and pipelines at most 60 MB on a CPU-only host.
"""

import argparse
import json
import subprocess
import sys

TARGET_MB = 60.0

CASES = {
    "interpreter alone": "",
    "import numpy": "import numpy",
    "import mlcore": "import mlcore",
    "import mlcore + nn, hpo, pipelines": "import mlcore, mlcore.nn, mlcore.hpo, mlcore.pipelines",
}

PROBE = r"""
import json, sys
{imports}
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
by_file = {{}}
if {breakdown}:
    name = "[anon]"
    for line in open("/proc/self/smaps"):
        head = line.split()
        if not head:
            continue
        if "-" in head[0] and not head[0].endswith(":"):
            name = head[5] if len(head) > 5 else "[anon]"
        elif head[0] == "Rss:":
            by_file[name] = by_file.get(name, 0) + int(head[1])
print(json.dumps({{"rss_kb": rss_kb(), "by_file": by_file}}))
"""


def measure(imports, breakdown=False):
    code = PROBE.format(imports=imports, breakdown=breakdown)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()

    print(f"resident memory after the imports, fresh process each (lowest of {args.repeat})")
    results = {}
    for label, imports in CASES.items():
        results[label] = min(measure(imports)["rss_kb"] for _ in range(args.repeat)) / 1024
        print(f"  {label:40s} {results[label]:7.1f} MB")
    full = results["import mlcore + nn, hpo, pipelines"]
    print(f"  mlcore over numpy: {full - results['import numpy']:.1f} MB; target <= {TARGET_MB:.0f} MB "
          f"for the full import: {'met' if full <= TARGET_MB else 'MISSED'}")

    files = measure(CASES["import mlcore + nn, hpo, pipelines"], breakdown=True)["by_file"]
    print(f"largest resident mappings of the full import (top {args.top}):")
    for name, kb in sorted(files.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {kb / 1024:7.1f} MB  {name}")
    cuda = [n for n in files if any(k in n for k in ("libcublas", "libcudnn", "libnccl"))]
    print("CUDA libraries mapped at import: " + (", ".join(cuda) if cuda else "none"))


if __name__ == "__main__":
    main()
