"""Serving: an embeddable inference server speaking KServe V1 and the Open Inference Protocol
(V2) over HTTP, with dynamic batching, a file-system model repository and Prometheus metrics.

    server = mlcore.serve.Server(http_port=8080)
    server.add_model("digits", "ckpt/", max_batch_size=32)
    server.start()          # returns at once; server.url is "http://127.0.0.1:8080"
    ...
    server.stop()

Models are mlcore.nn checkpoints (served natively, no GIL) or Python models shaped like
KServe's (``class M(mlcore.serve.Model)`` with load, preprocess, predict, postprocess). See
docs/serving.md.
"""

from ._model import Model
from ._server import Server
from ._tensors import from_numpy, to_numpy

__all__ = ["Model", "Server", "from_numpy", "to_numpy"]
