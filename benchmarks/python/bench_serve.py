"""Serving figures, each side by side in one run (docs/benchmarks.md, "Serving"):

1. V2 JSON infer of one digits row on the digits MLP, 64 connections, wrk: mlcore-server against
   KServe's Python ModelServer serving the same weights (target: mlcore >= 5x req/s), p50/p99.
2. Dynamic batching on (max_batch_size 64) against off (0) at 64 connections, on a wider MLP
   where batch size matters (64-4096-4096-10: one row reads 64 MiB of weights, more than the
   L3 cache; a batch reads them once) (target >= 3x).
3. GET /v2/health/ready on mlcore-server against nginx serving a small static file, same wrk
   settings (target >= 0.7x).
4. mlcore-server's resident memory with the digits model loaded, after the load test (<= 60 MB).

    .venv/bin/python benchmarks/python/bench_serve.py [--seconds 10] [--server build/cmake/mlcore-server]

Needs wrk and nginx on PATH (scripts/install-deps.sh) and the kserve package in the venv.
The machine is shared and wrk runs beside the servers on the same cores: the figures are noisy,
the ratios much less.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, path, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url + path, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url}{path} never answered 200")


def train(path, hidden, epochs, rows=None):
    from sklearn.datasets import load_digits

    from mlcore import nn, optim

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    layers = []
    for h in hidden:
        layers += [nn.Dense(h), nn.ReLU()]
    model = nn.Sequential(layers + [nn.Dense(10)])
    model.compile(optimizer=optim.Adam(1e-3), loss="cross_entropy")
    model.fit(x[:rows], y[:rows].astype(np.int64), epochs=epochs, batch_size=64, seed=1)
    model.save(str(path))
    return x


def wrk(url, seconds, connections, script=None):
    """(req/s, p50 ms, p99 ms) from one wrk run with 2 threads."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed responses\n{out}")
    return rps, pct(50), pct(99)


def lua_post(body, path):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                 f"wrk.body = {json.dumps(body)}\n")
    script.close()
    return script.name


def start(cmd, url, ready_path, **kw):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    wait_ready(url, ready_path)
    return proc


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def repo_with(path, name, src, config):
    (path / name).mkdir(parents=True)
    shutil.copytree(src, path / name / "1")
    (path / name / "config.json").write_text(json.dumps(config))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--server", default=str(ROOT / "build" / "cmake" / "mlcore-server"))
    args = parser.parse_args()
    s = args.seconds
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench_serve_"))
    x = train(work / "digits", [64], epochs=5)
    # Wide enough that one row's weights (64 MiB) do not fit in the L3 cache: unbatched, every
    # request streams them from memory; batched, 64 rows share one pass.
    train(work / "wide", [4096, 4096], epochs=1, rows=128)
    row = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                       "data": [float(v) for v in x[7]]}]}
    infer = lua_post(json.dumps(row), "/v2/models/digits/infer")
    results = {}

    # 1. mlcore-server vs kserve ModelServer, same model and weights.
    repo = work / "repo"
    repo_with(repo, "digits", work / "digits", {"max_batch_size": 32, "max_queue_delay_us": 200})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlcore_proc = start([args.server, "--model-repository", str(repo), "--http-port", str(port)],
                        url, "/v2/health/ready")
    results["mlcore infer"] = wrk(url + "/v2/models/digits/infer", s, 64, infer)
    results["mlcore rss_mb"] = rss_mb(mlcore_proc.pid)
    # 3. health against nginx, on the same running server.
    results["mlcore health"] = wrk(url + "/v2/health/ready", s, 64)
    stop(mlcore_proc)

    kport = free_port()
    kurl = f"http://127.0.0.1:{kport}"
    kproc = start([sys.executable, str(pathlib.Path(__file__).with_name("_kserve_digits.py")),
                   str(work / "digits"), str(kport)], kurl, "/v2/models/digits/ready")
    results["kserve infer"] = wrk(kurl + "/v2/models/digits/infer", s, 64, infer)
    stop(kproc)

    nport = free_port()
    site = work / "site"
    site.mkdir()
    # nginx's workers drop to an unprivileged user when started as root: let them read the file.
    os.chmod(work, 0o755)
    (site / "ready").write_text('{"ready":true}')
    conf = work / "nginx.conf"
    conf.write_text(f"""
worker_processes auto; daemon off; pid {work}/nginx.pid; error_log {work}/nginx.err;
events {{ worker_connections 1024; }}
http {{ access_log off; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{nport}; root {site}; }} }}
""")
    nproc = start(["nginx", "-c", str(conf), "-p", str(work)], f"http://127.0.0.1:{nport}",
                  "/ready")
    results["nginx static"] = wrk(f"http://127.0.0.1:{nport}/ready", s, 64)
    stop(nproc)

    # 2. batching on vs off on the wide MLP.
    wide_row = json.dumps(row).replace('"digits"', '"wide"')
    wide = lua_post(wide_row, "/v2/models/wide/infer")
    for label, batch in (("batching on", 64), ("batching off", 0)):
        brepo = work / f"repo_{batch}"
        repo_with(brepo, "wide", work / "wide",
                  {"max_batch_size": batch, "max_queue_delay_us": 1000})
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start([args.server, "--model-repository", str(brepo), "--http-port", str(port)],
                     url, "/v2/health/ready")
        results[label] = wrk(url + "/v2/models/wide/infer", s, 64, wide)
        stop(proc)

    def line(name, r):
        return f"| {name} | {r[0]:,.0f} | {r[1]:.2f} | {r[2]:.2f} |"

    print(f"wrk -t2 -c64 -d{s}s, one digits row per request (V2 JSON)\n")
    print("| server | req/s | p50 ms | p99 ms |\n| --- | --- | --- | --- |")
    for name in ("mlcore infer", "kserve infer", "batching on", "batching off", "mlcore health",
                 "nginx static"):
        print(line(name, results[name]))
    print()
    print(f"infer mlcore / kserve: {results['mlcore infer'][0] / results['kserve infer'][0]:.1f}x "
          "(target >= 5x)")
    print(f"batching on / off (64-4096-4096-10 MLP): "
          f"{results['batching on'][0] / results['batching off'][0]:.1f}x (target >= 3x)")
    print(f"health / nginx static: {results['mlcore health'][0] / results['nginx static'][0]:.2f}x "
          "(target >= 0.7x)")
    print(f"mlcore-server RSS with digits loaded, after the load: {results['mlcore rss_mb']:.1f} MB "
          "(target <= 60 MB)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
