"""A damaged artifact heals when its producer runs again, and reading one never hands on
damaged bytes (issue 12, records 6)."""

import os

import pytest

from mlcore import _mlcore
from mlcore import pipelines as mp
from mlcore.pipelines import Dataset, Input, Output


@mp.component(caching=False)
def produce(data: Output[Dataset]):
    with open(data.path, "w") as f:
        f.write("precious")


@mp.component(caching=False)
def consume(data: Input[Dataset]) -> str:
    return data.read_text()


def damage(path, content):
    os.chmod(path, 0o644)
    with open(path, "w") as f:
        f.write(content)


def test_rerunning_the_producer_heals_same_size_damage():
    @mp.pipeline
    def p():
        consume(data=produce().outputs["data"])

    first = mp.run(p).wait()
    assert first.status == "succeeded", first.error
    art = first.task("produce").outputs["data"]
    damage(art.path, "precioUS")  # same size: the old size check let it stand
    damaged = mp.run(p, enable_caching=False).wait()
    # The producer ran again and rewrote the stored copy, so the consumer read the real bytes.
    assert damaged.status == "succeeded", damaged.error
    assert damaged.task("consume").outputs["output"] == "precious"
    with open(art.path) as f:
        assert f.read() == "precious"


def test_store_get_refuses_damaged_content_and_put_heals_it(tmp_path):
    store = _mlcore.store.ArtifactStore(str(tmp_path / "artifacts"))
    art = store.put(b"model weights v1")
    damage(art.path, "model weights v2")
    with pytest.raises(Exception, match="corrupted") as raised:
        store.get(art.digest)
    assert art.path in str(raised.value)
    assert store.put(b"model weights v1").digest == art.digest
    assert store.get(art.digest) == b"model weights v1"
    store.verify(art.digest)
