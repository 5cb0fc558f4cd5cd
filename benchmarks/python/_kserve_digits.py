"""The peer of bench_serve.py: KServe's Python ModelServer serving the same digits MLP with the
same weights (read from mlcore's safetensors checkpoint, computed with numpy), V2 protocol.

    python _kserve_digits.py CHECKPOINT_DIR HTTP_PORT
"""

import sys

import numpy as np
from safetensors.numpy import load_file

import kserve
from kserve import InferOutput, InferResponse


class Digits(kserve.Model):
    def __init__(self, name, checkpoint):
        super().__init__(name)
        self.checkpoint = checkpoint
        self.load()

    def load(self):
        w = load_file(f"{self.checkpoint}/model.safetensors")
        # Dense layers in file order: (kernel [in, out], bias) pairs, ReLU between them.
        names = sorted({k.rsplit(".", 1)[0] for k in w}, key=lambda n: int(n.split("_")[-1]))
        self.layers = [(w[f"{n}.kernel"], w[f"{n}.bias"]) for n in names]
        self.ready = True

    async def predict(self, payload, headers=None, response_headers=None):
        x = payload.inputs[0].as_numpy().astype(np.float32)
        for i, (kernel, bias) in enumerate(self.layers):
            x = x @ kernel + bias
            if i + 1 < len(self.layers):
                x = np.maximum(x, 0)
        out = InferOutput(name="output", shape=list(x.shape), datatype="FP32")
        out.set_data_from_numpy(x, binary_data=False)
        return InferResponse(model_name=self.name, infer_outputs=[out], response_id=payload.id or "0")


if __name__ == "__main__":
    model = Digits("digits", sys.argv[1])
    kserve.ModelServer(http_port=int(sys.argv[2]), enable_grpc=False, workers=1,
                       enable_latency_logging=False).start([model])
