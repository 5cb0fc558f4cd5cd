"""Shared by the serving tests: a small trained digits MLP saved as a checkpoint, and plain HTTP
helpers that speak to a real server on 127.0.0.1, and a server child process."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time

import numpy as np


class ServerProcess:
    """A server command as a child process: started on enter (stdout and stderr in one pipe,
    proc.stdout), stopped with SIGTERM on exit, after which it must have exited 0 unless the
    block raised; what it printed is kept as .output."""

    def __init__(self, command):
        self.command = command
        self.output = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        return self.proc

    def __exit__(self, exc_type, exc, tb):
        self.proc.send_signal(signal.SIGTERM)
        self.output, _ = self.proc.communicate(timeout=30)
        if exc_type is None:
            assert self.proc.returncode == 0, self.output
        return False


def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int64)


def save_digits_mlp(path, epochs=2, seed=1):
    """Trains a 64-32-10 MLP on the digits briefly and saves it to `path`; returns the model."""
    from mlcore import nn, optim

    x, y = digits()
    model = nn.Sequential([nn.Dense(32), nn.ReLU(), nn.Dense(10)])
    model.compile(optimizer=optim.Adam(1e-2), loss="cross_entropy")
    model.fit(x, y, epochs=epochs, batch_size=64, seed=seed)
    model.save(str(path))
    return model


def request(url, method, path, body=None, headers=None, timeout=10):
    """(status, headers dict, body bytes) of one request on a fresh connection."""
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    out = (response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    conn.close()
    return out


def get_json(url, path, **kw):
    status, _, body = request(url, "GET", path, **kw)
    return status, json.loads(body) if body else None


def post_json(url, path, body, **kw):
    status, headers, data = request(url, "POST", path, body, **kw)
    return status, json.loads(data) if data else None


def v2_body(x, name="input", datatype="FP32"):
    x = np.asarray(x)
    return {"inputs": [{"name": name, "shape": list(x.shape), "datatype": datatype,
                        "data": x.reshape(-1).tolist()}]}


def ask_during_change(open_client, ask, change, settled, threads=4):
    """Asks from `threads` threads at once, each with its own client (`open_client()`, a context
    manager) calling ask(client) in a loop, while change() is made; stops once settled() holds
    (at most 30 s) and the requests have run on a little. Returns (answers, failures): every
    answer in order and every exception a request raised."""
    answers, failures, stop = [], [], threading.Event()

    def loop():
        with open_client() as c:
            while not stop.is_set():
                try:
                    answers.append(ask(c))
                except Exception as e:  # noqa: BLE001 (every failure is reported)
                    failures.append(e)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for t in workers:
        t.start()
    time.sleep(0.3)
    change()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not settled(answers):
        time.sleep(0.05)
    time.sleep(0.3)
    stop.set()
    for t in workers:
        t.join(timeout=60)
    return answers, failures
