"""Starts tests/cpp/serve/grpc_test_server.cc (built as build/cmake/tests/mlcore_grpc_test_server)
for the gRPC tests and benchmark: a real server process on 127.0.0.1, port 0, read back."""

import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def server_binary() -> str:
    path = os.environ.get("MLCORE_GRPC_TEST_SERVER") or str(
        ROOT / "build" / "cmake" / "tests" / "mlcore_grpc_test_server")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: build the target mlcore_grpc_test_server "
                                f"(cmake/grpc.cmake; needs libgrpc++-dev, protobuf-compiler-grpc)")
    return path


class GrpcTestServer:
    """The server process; ``url`` is host:port for tritonclient.grpc. Stops when closed."""

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen([server_binary(), *map(str, args)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.ports = {}
        while len(self.ports) < (2 if "--http" in args else 1):
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the test server exited with {self.proc.wait()}")
            key, _, value = line.strip().partition("=")
            self.ports[key] = int(value)
        self.url = f"127.0.0.1:{self.ports['grpc_port']}"

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
