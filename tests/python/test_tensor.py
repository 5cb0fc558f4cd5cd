import gc
import sys

import numpy as np
import pytest

import mlcore

ALL_NUMPY = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]


@pytest.mark.parametrize("dtype", ALL_NUMPY)
def test_from_numpy_is_zero_copy_both_ways(dtype):
    a = np.arange(24).reshape(2, 3, 4).astype(dtype)
    t = mlcore.from_numpy(a)
    assert t.shape == (2, 3, 4)
    assert t.dtype == dtype
    assert t.device == "cpu"
    assert not t.owns_memory
    assert t.data_ptr == a.ctypes.data

    b = np.asarray(t)
    assert b.dtype == a.dtype and b.shape == a.shape
    assert np.shares_memory(a, b)
    # A write through one view is visible through the other, in both directions.
    b[1, 2, 3] = 1
    assert a[1, 2, 3] == 1
    a[0, 0, 0] = 1
    assert np.asarray(t)[0, 0, 0] == 1


def test_tensor_keeps_the_array_alive_and_the_array_keeps_the_tensor_alive():
    a = np.ones(1000, dtype=np.float32)
    t = mlcore.from_numpy(a)
    del a
    gc.collect()
    assert float(np.asarray(t).sum()) == 1000.0

    t2 = mlcore.zeros([10], "float64")
    view = np.asarray(t2)
    before = sys.getrefcount(t2)
    del t2
    gc.collect()
    view[3] = 7.0  # memory still valid: the array holds the tensor
    assert view[3] == 7.0 and before >= 2


@pytest.mark.parametrize("bad", [np.zeros(3, dtype=np.complex64), np.array(["a", "b"]),
                                 np.array([object(), None]), np.zeros(3, dtype=np.int16)])
def test_unsupported_dtypes_raise_type_error_naming_them(bad):
    with pytest.raises(TypeError) as info:
        mlcore.from_numpy(bad)
    assert bad.dtype.name in str(info.value)


def test_non_contiguous_input_is_refused_by_views_and_copied_by_tensor():
    a = np.arange(20, dtype=np.float32).reshape(4, 5)[:, ::2]
    with pytest.raises(ValueError, match="not C-contiguous"):
        mlcore.from_numpy(a)
    t = mlcore.tensor(a)
    np.testing.assert_array_equal(np.asarray(t), a)
    assert t.owns_memory


def test_read_only_arrays_are_refused_by_views():
    a = np.frombuffer(b"\x00" * 16, dtype=np.float32)
    with pytest.raises(ValueError, match="read-only"):
        mlcore.from_numpy(a)
    assert mlcore.as_tensor(a).shape == (4,)  # as_tensor falls back to a copy


def test_tensor_copies_and_defaults_python_floats_to_float32():
    t = mlcore.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t.dtype == "float32" and t.shape == (2, 2)
    a = np.array([1, 2, 3], dtype=np.int64)
    c = mlcore.tensor(a)
    a[0] = 99
    assert np.asarray(c)[0] == 1
    assert mlcore.tensor(a, dtype="float64").dtype == "float64"


def test_zeros_empty_reshape_slice_item():
    z = mlcore.zeros([3, 4], dtype="int32")
    assert np.asarray(z).sum() == 0
    r = z.reshape(2, -1)
    assert r.shape == (2, 6) and r.shares_memory_with(z)
    s = mlcore.from_numpy(np.arange(12, dtype=np.int64).reshape(4, 3)).slice(1, 3)
    assert s.shape == (2, 3) and np.asarray(s)[0, 0] == 3
    assert mlcore.tensor([2.5]).item() == 2.5
    assert len(z) == 3
    assert repr(z) == "Tensor(int32, [3, 4], cpu)"
    with pytest.raises(ValueError):
        z.reshape(5, -1)
    with pytest.raises(ValueError):
        s.slice(0, 5)
    with pytest.raises(ValueError, match="item"):
        z.item()


def test_bad_shapes_dtypes_and_devices_are_clear_errors():
    with pytest.raises(ValueError, match="negative"):
        mlcore.zeros([2, -3])
    with pytest.raises(TypeError, match="complex128"):
        mlcore.zeros([2], dtype="complex128")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mlcore.zeros([2], device="tpu")
    if not mlcore.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is unavailable"):
            mlcore.zeros([2], device="cuda")


def test_bfloat16_has_no_buffer_format():
    t = mlcore.zeros([4], dtype="bfloat16")
    with pytest.raises(TypeError, match="bfloat16"):
        np.asarray(t)


def test_copy_between_tensors_and_to_cpu():
    src = mlcore.tensor([1.0, 2.0, 3.0])
    dst = mlcore.zeros([3])
    dst.copy_(src)
    assert np.asarray(dst).tolist() == [1.0, 2.0, 3.0]
    c = src.to("cpu")
    assert not c.shares_memory_with(src)
    with pytest.raises(ValueError, match="element count"):
        mlcore.zeros([4]).copy_(src)


@pytest.mark.skipif(not mlcore.cuda.is_available(), reason="no CUDA device")
def test_cuda_round_trip():
    a = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    d = mlcore.from_numpy(a).to("cuda")
    assert d.device == "cuda:0"
    np.testing.assert_array_equal(d.numpy(), a)
    with pytest.raises(ValueError, match="cpu"):
        np.asarray(d)
