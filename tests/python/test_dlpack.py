import numpy as np
import pytest

import mlcore


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64", "float16", "float32",
                                   "float64"])
def test_numpy_to_mlcore_through_dlpack_shares_memory(dtype):
    a = np.arange(12).reshape(3, 4).astype(dtype)
    t = mlcore.from_dlpack(a)
    assert t.shape == (3, 4) and t.dtype == dtype
    assert t.data_ptr == a.ctypes.data
    back = np.asarray(t)
    back[2, 3] = 0
    assert a[2, 3] == 0


def test_mlcore_to_numpy_through_dlpack_shares_memory():
    t = mlcore.zeros([5, 2], dtype="float32")
    a = np.from_dlpack(t)
    assert a.shape == (5, 2) and a.dtype == np.float32
    a[4, 1] = 3.5
    assert np.asarray(t)[4, 1] == 3.5
    assert t.__dlpack_device__() == (1, 0)


def test_dlpack_keeps_the_producer_alive():
    t = mlcore.tensor(np.arange(6, dtype=np.float64))
    a = np.from_dlpack(t)
    del t
    assert a.sum() == 15.0


def test_capsule_is_consumed_once():
    a = np.ones(3, dtype=np.float32)
    capsule = a.__dlpack__()
    mlcore.from_dlpack(capsule)
    with pytest.raises(ValueError, match="consumed"):
        mlcore.from_dlpack(capsule)


def test_unconsumed_capsule_is_freed_without_leaking_or_crashing():
    t = mlcore.zeros([100])
    for _ in range(100):
        t.__dlpack__()  # dropped: the capsule destructor frees the export


def test_non_contiguous_dlpack_input_is_refused():
    a = np.arange(20, dtype=np.float32).reshape(4, 5)[:, 1:3]
    with pytest.raises((ValueError, BufferError)):
        mlcore.from_dlpack(a)


def test_complex_dlpack_input_is_a_type_error():
    with pytest.raises(TypeError, match="complex"):
        mlcore.from_dlpack(np.zeros(2, dtype=np.complex64))


def test_objects_without_dlpack_are_a_type_error():
    with pytest.raises(TypeError, match="__dlpack__"):
        mlcore.from_dlpack([1, 2, 3])


def test_bfloat16_survives_a_dlpack_round_trip_between_mlcore_tensors():
    t = mlcore.ops.cast(mlcore.tensor([1.0, 2.5, -3.0]), "bfloat16")
    u = mlcore.from_dlpack(t)
    assert u.dtype == "bfloat16" and u.data_ptr == t.data_ptr
    np.testing.assert_array_equal(np.asarray(mlcore.ops.cast(u, "float32")), [1.0, 2.5, -3.0])


def test_copy_requested_through_dlpack():
    t = mlcore.tensor([1.0, 2.0])
    capsule = t.__dlpack__(copy=True)
    u = mlcore.from_dlpack(capsule)
    assert u.data_ptr != t.data_ptr
