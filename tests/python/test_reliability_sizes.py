"""Byte sizes that wrap (issue 12, crash 1): every entry point refuses them with ValueError."""
import json
import struct

import numpy as np
import pytest

import mlcore
from mlcore import nn, optim


@pytest.mark.parametrize("shape", [[2**62], [2**31, 2**31], [2**61 + 1]])
def test_zeros_of_a_wrapping_size_is_a_value_error(shape):
    with pytest.raises(ValueError, match="bytes"):
        mlcore.zeros(shape)


@pytest.mark.parametrize("layer, x", [
    (lambda: nn.Dense(2**62), np.zeros((2, 4), np.float32)),
    (lambda: nn.Embedding(2**62, 1), np.zeros((2, 3), np.int64)),
])
def test_layers_too_large_to_build_fail_cleanly(layer, x):
    model = nn.Sequential([layer()])
    with pytest.raises(ValueError, match="too many elements|bytes"):
        model.predict(x)


def _safetensors(path, header, data=b""):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


@pytest.mark.parametrize("shape", [[2**62], [2**60], [2**31, 2**31]])
def test_read_safetensors_refuses_a_shape_its_data_cannot_hold(tmp_path, shape):
    f = tmp_path / "w.safetensors"
    _safetensors(f, {"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}})
    with pytest.raises(Exception, match="'w'") as err:
        nn.read_safetensors(str(f))
    assert not isinstance(err.value, MemoryError)


def test_checkpoint_with_a_huge_layer_is_refused(tmp_path, digits):
    x, y = digits[0], digits[1]
    model = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(10)])
    model.compile(optimizer=optim.Adam(), loss="cross_entropy")
    model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "ckpt"
    model.save(str(path))
    arch = path / "architecture.json"
    text = arch.read_text()
    data = json.loads(text)
    _set_first_units(data, 2**59)
    arch.write_text(json.dumps(data))
    # Refused by the config check (2**59 is past 2**53) or, below that, by the byte-size check.
    with pytest.raises(ValueError, match="too many elements|bytes|'units' must be a whole number"):
        nn.load(str(path))


def _set_first_units(node, value):
    if isinstance(node, dict):
        if "units" in node:
            node["units"] = value
            return True
        return any(_set_first_units(v, value) for v in node.values())
    if isinstance(node, list):
        return any(_set_first_units(v, value) for v in node)
    return False
