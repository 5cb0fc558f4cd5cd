"""gRPC against HTTP on one mlcore server, same model, same batcher, same load generator:
requests/s and p50/p99 latency of V2 infer on the digits MLP (64 -> 128 -> 10) with
tritonclient.grpc and tritonclient.http, C concurrent clients spread over P processes.

    .venv/bin/python benchmarks/python/bench_serve_grpc.py [--clients 64] [--seconds 10]

Triton's own published client-side figure cannot be reproduced here (no Triton server), so the
HTTP front end of the same server is the peer. The server is the gRPC test server
(build/cmake/tests/mlcore_grpc_test_server) with the MLP through the native backend; HTTP runs
only when the build has the HTTP front end. Figures go to docs/benchmarks.md.
"""

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "python"))
from grpc_server import GrpcTestServer  # noqa: E402


def _save_mlp(path):
    from mlcore import nn

    model = nn.Sequential([nn.Dense(128), nn.ReLU(), nn.Dense(10)])
    model.build((64,), seed=0)
    model.save(path)


def _client_process(protocol, url, threads, seconds, start_at, out):
    if protocol == "grpc":
        import tritonclient.grpc as tc
    else:
        import tritonclient.http as tc
    x = np.random.default_rng(os.getpid()).random((1, 64), dtype=np.float32)
    latencies, errors = [], [0]

    def loop():
        client = tc.InferenceServerClient(url)
        inp = tc.InferInput("input", [1, 64], "FP32")
        inp.set_data_from_numpy(x)
        while time.time() < start_at:
            time.sleep(0.001)
        mine = []
        while time.time() < start_at + seconds:
            t0 = time.perf_counter()
            try:
                client.infer("digits", [inp])
                mine.append(time.perf_counter() - t0)
            except Exception:  # noqa: BLE001 (counted)
                errors[0] += 1
        latencies.extend(mine)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((latencies, errors[0]))


def run(protocol, url, clients, processes, seconds):
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # every client connected before the clock starts
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    procs = [ctx.Process(target=_client_process, args=(protocol, url, n, seconds, start_at, out))
             for n in per if n]
    for p in procs:
        p.start()
    latencies, errors = [], 0
    for _ in procs:
        lat, err = out.get()
        latencies += lat
        errors += err
    for p in procs:
        p.join()
    lat = np.array(latencies) * 1000
    return {"protocol": protocol, "rps": len(lat) / seconds, "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)), "errors": errors, "n": len(lat)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _save_mlp(os.path.join(tmp, "digits"))
        mlp = ["--mlp", f"digits={os.path.join(tmp, 'digits')}"]
        try:
            server = GrpcTestServer(*mlp, "--http")
        except RuntimeError:
            print("this build has no HTTP front end: gRPC only", file=sys.stderr)
            server = GrpcTestServer(*mlp)
        with server:
            rows = [run("grpc", server.url, args.clients, args.processes, args.seconds)]
            if "http_port" in server.ports:
                http_url = f"127.0.0.1:{server.ports['http_port']}"
                rows.append(run("http", http_url, args.clients, args.processes, args.seconds))
    print(f"{args.clients} clients in {args.processes} processes, {args.seconds:.0f} s each, "
          f"V2 infer of one 64-float row on the digits MLP (server batching up to 32)")
    print("| client | requests/s | p50 ms | p99 ms | errors |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| tritonclient.{r['protocol']} | {r['rps']:.0f} | {r['p50']:.2f} | "
              f"{r['p99']:.2f} | {r['errors']} |")
    if len(rows) == 2:
        print(f"gRPC / HTTP requests/s: {rows[0]['rps'] / rows[1]['rps']:.2f}")


if __name__ == "__main__":
    main()
