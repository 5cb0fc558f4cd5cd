"""Python models, shaped like KServe's ``kserve.Model``: the server calls ``load`` once, then
for every (batch of) request(s) ``preprocess``, ``predict`` and ``postprocess``, holding the GIL
only inside them. Any framework may run inside.

    class Doubler(mlcore.serve.Model):
        inputs = [("x", "FP32", [-1, 4])]       # optional: checked and batched when given
        outputs = [("y", "FP32", [-1, 4])]

        def load(self):
            self.ready = True

        def predict(self, inputs):
            return {"y": inputs["x"] * 2}
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ._tensors import from_numpy, to_numpy

Spec = Tuple[str, str, List[int]]


class Model:
    """Base class of Python models. ``inputs``/``outputs`` declare the signature as
    (name, V2 datatype, shape with -1) tuples; left empty, any inputs are accepted and batching
    is off. ``predict`` receives a dict name -> numpy array (after ``preprocess``) and returns
    a dict name -> array, or one array (named after the first declared output, else
    "output_0")."""

    inputs: List[Spec] = []
    outputs: List[Spec] = []

    def __init__(self, name: Optional[str] = None):
        self.name = name or type(self).__name__
        self.ready = False

    def load(self) -> bool:
        self.ready = True
        return self.ready

    def preprocess(self, inputs: Dict[str, np.ndarray]) -> Any:
        return inputs

    def predict(self, inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define predict()")

    def postprocess(self, outputs: Any) -> Any:
        return outputs

    # What the server calls, on one of its worker threads with the GIL held.
    def _execute(self, tensors: list) -> list:
        inputs = {t[0]: to_numpy(t) for t in tensors}
        outputs = self.postprocess(self.predict(self.preprocess(inputs)))
        if not isinstance(outputs, dict):
            name = self.outputs[0][0] if self.outputs else "output_0"
            outputs = {name: outputs}
        declared = {spec[0]: spec[1] for spec in self.outputs}
        return [from_numpy(name, value, declared.get(name)) for name, value in outputs.items()]
