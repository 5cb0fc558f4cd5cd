"""mlcore.ops against numpy: same results for every op and dtype, clear errors for bad input."""

import threading

import numpy as np
import pytest

import mlcore

ops = mlcore.ops

NUMERIC = ["uint8", "int32", "int64", "float16", "float32", "float64"]
FLOATS = ["float16", "float32", "float64"]
SIZES = [0, 1, 7, 65537, 1_000_003]


def random_array(dtype, n, seed):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, n).astype(np.bool_)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    return rng.uniform(-100, 100, n).astype(dtype)


def t(array):
    return mlcore.from_numpy(np.ascontiguousarray(array))


def assert_same_bits(actual, expected):
    actual = np.asarray(actual)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual.view(np.uint8), expected.view(np.uint8))


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("n", SIZES)
def test_add_and_mul_equal_numpy(dtype, n):
    a, b = random_array(dtype, n, 1), random_array(dtype, n, 2)
    with np.errstate(over="ignore"):
        assert_same_bits(ops.add(t(a), t(b)), np.add(a, b))
        assert_same_bits(ops.mul(t(a), t(b)), np.multiply(a, b))


@pytest.mark.parametrize("dtype", NUMERIC)
def test_out_writes_into_the_given_array_and_returns_it(dtype):
    a, b = random_array(dtype, 1001, 3), random_array(dtype, 1001, 4)
    out = np.zeros_like(a)
    out_tensor = t(out)
    result = ops.add(t(a), t(b), out=out_tensor)
    assert result is out_tensor
    with np.errstate(over="ignore"):
        assert_same_bits(out, np.add(a, b))
        ops.mul(t(a), t(b), out=out_tensor)
        assert_same_bits(out, np.multiply(a, b))


def test_numpy_arrays_are_accepted_directly():
    a = np.arange(10, dtype=np.float32)
    out = np.empty_like(a)
    ops.add(a, a, out=out)
    np.testing.assert_array_equal(out, 2 * a)
    np.testing.assert_array_equal(np.asarray(ops.mul(a, a)), a * a)
    assert ops.sum_to_float(a) == 45.0


@pytest.mark.parametrize("dtype", FLOATS)
def test_axpy_equals_numpy_in_place(dtype):
    x, y = random_array(dtype, 100_003, 5), random_array(dtype, 100_003, 6)
    alpha = 0.37
    if dtype == "float16":
        # mlcore computes the 16-bit floats in float32 and rounds once.
        expected = (y.astype(np.float32) + np.float32(alpha) * x.astype(np.float32)).astype(dtype)
    else:
        expected = y + np.dtype(dtype).type(alpha) * x
    ops.axpy(alpha, t(x), t(y))
    assert_same_bits(y, expected)


@pytest.mark.parametrize("dtype", NUMERIC + ["bool"])
@pytest.mark.parametrize("n", SIZES)
def test_sum_equals_numpy(dtype, n):
    x = random_array(dtype, n, 7)
    s = ops.sum(t(x))
    assert s.shape == ()
    value = np.asarray(s)
    if dtype in FLOATS:
        assert s.dtype == ("float64" if dtype == "float64" else "float32")
        expected = np.sum(x, dtype=np.float64)
        assert value == pytest.approx(expected, rel=1e-6, abs=1e-6)
    else:
        assert s.dtype == "int64"
        assert int(value) == int(np.sum(x, dtype=np.int64))
    assert ops.sum_to_float(t(x)) == pytest.approx(float(value), rel=1e-12)


CASTABLE = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]


@pytest.mark.parametrize("src", CASTABLE)
@pytest.mark.parametrize("dst", CASTABLE)
def test_cast_equals_numpy_astype(src, dst):
    # Values every pair converts without overflow, where numpy's result is defined.
    x = np.random.default_rng(8).uniform(-100, 100, 4099)
    if np.dtype(src).kind in "ub":
        x = np.abs(x)
    x = x.astype(src)
    y = np.abs(x) if np.dtype(dst).kind == "u" else x
    expected = y.astype(dst)
    if (src, dst) == ("float64", "float16"):
        # mlcore rounds float64 to float32 and then to float16; numpy rounds once, so the two
        # may differ by one float16 ulp where the first rounding lands on a tie.
        np.testing.assert_allclose(np.asarray(ops.cast(t(y), dst)).astype(np.float64),
                                   expected.astype(np.float64), rtol=2.0**-10)
        return
    assert_same_bits(ops.cast(t(y), dst), expected)
    assert_same_bits(ops.cast(t(y), np.dtype(dst)), expected)


def test_bfloat16_round_trip_rounds_to_nearest_even():
    x = np.random.default_rng(9).standard_normal(10_001).astype(np.float32)
    x[:4] = [1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, np.float32(3.4e38), -0.0]
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    expected = rounded.astype(np.uint32).view(np.float32)
    b = ops.cast(t(x), "bfloat16")
    assert b.dtype == "bfloat16"
    assert_same_bits(ops.cast(b, "float32"), expected)


def test_float16_rounding_matches_numpy():
    x = np.array([1 + 2.0**-11, 1 + 3 * 2.0**-11, 65519.0, 65520.0, 2.0**-25, 1.5 * 2.0**-24,
                  np.inf, -0.0], dtype=np.float32)
    with np.errstate(over="ignore"):
        assert_same_bits(ops.cast(t(x), "float16"), x.astype(np.float16))


@pytest.mark.parametrize("dtype,value,expected", [
    ("float32", 2.5, 2.5), ("int32", -3.9, -3), ("uint8", 300, 255), ("bool", 0.5, True),
    ("float16", 0.1, np.float16(0.1)), ("float64", -1e300, -1e300),
])
def test_fill(dtype, value, expected):
    a = np.zeros(70_001, dtype=dtype)
    ops.fill(t(a), value)
    assert (a == expected).all()


def test_dtype_mismatch_is_a_type_error_naming_both():
    with pytest.raises(TypeError, match="a is float32 but b is int32"):
        ops.add(t(np.ones(3, np.float32)), t(np.ones(3, np.int32)))


def test_shape_mismatch_is_a_value_error_naming_both():
    with pytest.raises(ValueError, match=r"a has shape \[2, 3\] but b has shape \[3\].*broadcast"):
        ops.mul(t(np.ones((2, 3), np.float32)), t(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match="out has shape"):
        ops.add(t(np.ones(3, np.float32)), t(np.ones(3, np.float32)), out=t(np.ones(4, np.float32)))


def test_bool_arithmetic_and_integer_axpy_are_type_errors():
    b = t(np.ones(3, np.bool_))
    with pytest.raises(TypeError, match="bool tensors are not supported"):
        ops.add(b, b)
    i = t(np.ones(3, np.int32))
    with pytest.raises(TypeError, match="axpy supports the floating dtypes only"):
        ops.axpy(1.0, i, i)


def test_unknown_dtype_is_a_type_error():
    with pytest.raises(TypeError, match="unsupported dtype 'complex64'"):
        ops.cast(t(np.ones(3, np.float32)), "complex64")


def test_ops_release_the_gil():
    # Two threads summing large arrays finish together; with the GIL held they would still
    # finish, so this guards against deadlocks rather than measuring overlap.
    x = t(np.ones(5_000_000, np.float32))
    results = []
    threads = [threading.Thread(target=lambda: results.append(ops.sum_to_float(x)))
               for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert results == [5_000_000.0] * 4
