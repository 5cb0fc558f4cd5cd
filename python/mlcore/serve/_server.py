"""mlcore.serve.Server: the C++ server object with a notebook's face."""

from __future__ import annotations

import atexit
import json
import weakref
from typing import Dict, Optional, Sequence

import numpy as np

from .. import _mlcore
from ._model import Model
from ._tensors import from_numpy, to_numpy


# Servers still running when the interpreter exits are stopped first, while their Python models
# can still take the GIL.
_LIVE: "weakref.WeakSet[Server]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


class Server:
    """An inference server in this process. ``start()`` returns once it listens; requests are
    served on C++ threads, so a notebook stays responsive. ``http_port=0`` picks a free port
    (read ``url``); ``grpc_port`` needs the gRPC front end in the build. ``auth_token`` makes
    every endpoint but health ask for ``Authorization: Bearer <token>``. Binds ``host``
    (loopback unless told otherwise). ``home`` records the running server in that home's store,
    so the dashboard (``mlcore ui``) lists it. ``ui_home`` mounts the dashboard of that home at
    ``/ui`` (as ``mlcore-server --ui-home``; read-only unless ``auth_token`` is given, which it
    then takes for changes). Usable as a context manager (stops on exit)."""

    def __init__(self, http_port: int = 8080, grpc_port: Optional[int] = None, *,
                 host: str = "127.0.0.1", http_threads: int = 0,
                 auth_token: Optional[str] = None, model_repository: Optional[str] = None,
                 load_all: bool = True, poll_interval: Optional[float] = None,
                 max_request_bytes: int = 64 << 20, header_timeout: float = 10.0,
                 body_timeout: float = 30.0, drain_timeout: float = 10.0,
                 home: Optional[str] = None, ui_home: Optional[str] = None):
        self._server = _mlcore.serve.Server(
            host=host, http_port=-1 if http_port is None else int(http_port),
            grpc_port=-1 if grpc_port is None else int(grpc_port),
            http_threads=int(http_threads), auth_token=auth_token or "",
            model_repository=str(model_repository or ""), load_all=bool(load_all),
            poll_interval_ms=int((poll_interval or 0) * 1000),
            max_request_bytes=int(max_request_bytes),
            header_timeout_ms=int(header_timeout * 1000), body_timeout_ms=int(body_timeout * 1000),
            drain_timeout_ms=int(drain_timeout * 1000), record_home=str(home or ""),
            ui_home=str(ui_home or ""))
        self._models: Dict[str, Model] = {}

    def add_model(self, name: str, source, *, max_batch_size: Optional[int] = None,
                  max_queue_delay_us: int = 500, preferred_batch_sizes: Sequence[int] = (),
                  max_queue_size: int = 1024, instances: int = 1, device: str = "cpu",
                  backend: Optional[str] = None, steps: Sequence[str] = ()) -> None:
        """Serves ``source`` as ``name``: a checkpoint directory (mlcore.nn), an
        mlcore.serve.Model instance, or, with ``backend="sequence"``, the served models named
        in ``steps`` run one after the other (``source`` is then ignored)."""
        config = {"max_queue_delay_us": max_queue_delay_us,
                  "preferred_batch_sizes": list(preferred_batch_sizes),
                  "max_queue_size": max_queue_size, "instance_count": instances,
                  "device": device}
        if steps:
            config["steps"] = list(steps)
        if isinstance(source, Model):
            if not source.ready:
                source.load()
            batched = bool(source.inputs)
            config["max_batch_size"] = (max_batch_size if max_batch_size is not None
                                        else (32 if batched else 0))
            self._server.add_function_model(name, json.dumps(config), list(source.inputs),
                                            list(source.outputs), source._execute)
            self._models[name] = source
            return
        config["max_batch_size"] = 32 if max_batch_size is None else max_batch_size
        if backend is not None:
            config["backend"] = backend
        self._server.add_model(name, "" if source is None else str(source), json.dumps(config))

    def add_registry_model(self, reference: str, *, name: Optional[str] = None,
                           home: Optional[str] = None, max_batch_size: int = 32,
                           max_queue_delay_us: int = 500, preferred_batch_sizes: Sequence[int] = (),
                           max_queue_size: int = 1024, instances: int = 1,
                           device: str = "cpu") -> None:
        """Serves a model of the registry (``mlcore.models``) in the store at ``home``
        (default: MLCORE_HOME): ``reference`` is ``"digits"`` (latest version),
        ``"digits/3"`` or ``"digits@production"``, served as ``name`` (default: the model's
        name). An alias is resolved again every second (the server's ``poll_interval`` when
        given): when it moves, the new version is loaded and ready before the old one goes, so
        no request fails. A version's ``backend`` tag picks its backend (default: mlcore)."""
        import os

        config = {"max_batch_size": max_batch_size, "max_queue_delay_us": max_queue_delay_us,
                  "preferred_batch_sizes": list(preferred_batch_sizes),
                  "max_queue_size": max_queue_size, "instance_count": instances,
                  "device": device}
        served = name or reference.split("@", 1)[0].split("/", 1)[0]
        self._server.add_registry_model(served, reference, os.fspath(home or ""),
                                        json.dumps(config))

    def load_model(self, name: str) -> None:
        """Loads (or reloads) ``name``; new versions are ready before old ones go."""
        self._server.load_model(name)

    def unload_model(self, name: str) -> None:
        """Answers what is queued for ``name``, then unloads it."""
        self._server.unload_model(name)

    def start(self) -> "Server":
        self._server.start()
        _LIVE.add(self)
        return self

    def stop(self) -> None:
        """Stops accepting, answers what is in flight, unloads the models."""
        self._server.stop()
        _LIVE.discard(self)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def http_port(self) -> int:
        return self._server.http_port

    @property
    def grpc_port(self) -> int:
        return self._server.grpc_port

    @property
    def running(self) -> bool:
        return self._server.running

    def ready(self, model: Optional[str] = None, version: str = "") -> bool:
        return self._server.is_ready() if model is None else self._server.is_model_ready(
            model, version)

    def infer(self, model: str, inputs: Dict[str, object], version: str = "") -> Dict[str, np.ndarray]:
        """In-process inference, no socket: numpy arrays in, numpy arrays out."""
        tensors = [from_numpy(name, value) for name, value in inputs.items()]
        return {t[0]: to_numpy(t) for t in self._server.infer(model, version, tensors)}

    def metadata(self, model: str, version: str = "") -> dict:
        name, versions, platform, ins, outs = self._server.metadata(model, version)
        spec = [{"name": n, "datatype": d, "shape": list(s)} for n, d, s in ins]
        out = [{"name": n, "datatype": d, "shape": list(s)} for n, d, s in outs]
        return {"name": name, "versions": list(versions), "platform": platform,
                "inputs": spec, "outputs": out}

    def repository_index(self) -> list:
        return [{"name": n, "version": v, "state": s, "reason": r}
                for n, v, s, r in self._server.repository_index()]

    def metrics(self) -> str:
        """The Prometheus text of /metrics."""
        return self._server.metrics()

    def __enter__(self) -> "Server":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        return f"mlcore.serve.Server({state})"
