"""The row-statistics kernel (crossentropy._kernels.row_stats_rows): min, max and sum of each row and each row's
entry at its label, clipped, from one read of the row, against a NumPy twin; NaN and infinite rows, empty rows,
any strides, threads, and the errors that name the argument."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crossentropy as ce
from crossentropy import _kernels
from crossentropy._kernels import row_stats_rows


def twin(x, labels=None, clip=None):
    """min, max, sum (in float64) and the clipped label entry of each row, by NumPy."""
    x64 = np.asarray(x, np.float64)
    n, c = x64.shape
    with np.errstate(invalid="ignore"):  # inf - inf in a sum is NaN, as in the kernel
        return _twin(x64, n, c, labels, clip)


def _twin(x64, n, c, labels, clip):
    row_min = np.min(x64, axis=1) if c else np.full(n, np.inf)  # np.min / np.max propagate NaN
    row_max = np.max(x64, axis=1) if c else np.full(n, -np.inf)
    row_sum = np.sum(x64, axis=1)
    picked = None
    if labels is not None:
        ok = (labels >= 0) & (labels < c)
        picked = np.full(n, np.nan)
        picked[ok] = x64[np.flatnonzero(ok), labels[ok]]
        if clip is not None:
            picked[ok] = np.clip(picked[ok], *clip)
    return row_min, row_max, row_sum, picked


def run(x, labels=None, clip=None):
    dt = np.float64 if x.dtype == np.float64 else np.float32
    n = x.shape[0]
    out = [np.full(n, -7.0, dt) for _ in range(3)]
    picked = np.full(n, -7.0, dt) if labels is not None else None
    counts = row_stats_rows(x, row_min=out[0], row_max=out[1], row_sum=out[2], labels=labels, picked=picked, clip=clip)
    return (*out, picked, counts)


def check(x, labels=None, clip=None):
    got = run(x, labels, clip)
    want = twin(x, labels, clip)
    rtol = 1e-6 if x.dtype == np.float32 else 1e-13
    for name, g, w in zip(("row_min", "row_max", "row_sum", "picked"), got[:4], want, strict=True):
        if w is None:
            assert g is None
            continue
        assert g.dtype == (np.float64 if x.dtype == np.float64 else np.float32), name
        if name == "row_sum":
            finite = np.isfinite(w)
            np.testing.assert_array_equal(g[~finite], w[~finite], err_msg=name)  # NaN, +-inf where NumPy has them
            bound = rtol * np.abs(np.asarray(x, np.float64)).sum(axis=1)  # per row: summation order's rounding
            assert (np.abs(g[finite] - w[finite]) <= bound[finite]).all(), name
        else:
            np.testing.assert_array_equal(g, w.astype(g.dtype), err_msg=name)  # exact: min, max, picks are copies
    return got[-1]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(0, 150),
    cols=st.sampled_from([1, 2, 3, 10, 16, 17, 32, 33, 100, 1024, 1500]),
    dtype=st.sampled_from([np.float32, np.float64]),
    label_dtype=st.sampled_from([np.int32, np.int64]),
    seed=st.integers(0, 2**32 - 1),
    clip=st.sampled_from([None, (0.1, 0.9), (0.0, 0.0)]),
)
def test_matches_numpy_twin(rows, cols, dtype, label_dtype, seed, clip):
    rng = np.random.default_rng(seed)
    x = rng.random((rows, cols)).astype(dtype)
    labels = rng.integers(0, cols, rows).astype(label_dtype)
    assert check(x, labels, clip) == {"bad_label": 0, "not_normalised": 0, "out_of_unit": 0}
    check(x)  # statistics only


@pytest.mark.parametrize("cols", [4, 40, 2000])  # short rows (block-wise), vector rows, rows of several sum blocks
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_infinite_rows(cols, dtype):
    x = np.full((5, cols), 0.25, dtype)
    x[0, 1] = np.nan  # NaN: min, max and sum NaN
    x[1, 0], x[1, -1] = np.inf, -np.inf  # both infinities: min -inf, max +inf, sum NaN
    x[2, -1] = np.inf  # +inf: max and sum +inf
    x[3, 0], x[3, 2] = -np.inf, np.nan  # NaN wins over -inf
    labels = np.array([1, 0, cols - 1, 2, 3])
    row_min, row_max, row_sum, picked, _ = run(x, labels, clip=(0.0, 1.0))
    assert np.isnan(row_min[[0, 3]]).all() and np.isnan(row_max[[0, 3]]).all() and np.isnan(row_sum[[0, 1, 3]]).all()
    assert (row_min[1], row_max[1], row_max[2], row_sum[2]) == (-np.inf, np.inf, np.inf, np.inf)
    assert row_min[4] == row_max[4] == 0.25 and row_sum[4] == pytest.approx(0.25 * cols)
    assert np.isnan(picked[0]) and np.isnan(picked[3]) and picked[1] == 1.0 and picked[2] == 1.0  # NaN stays NaN
    check(x, labels, clip=(0.0, 1.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_any_strides(dtype):
    rng = np.random.default_rng(3)
    base = rng.random((40, 30)).astype(dtype)
    labels = rng.integers(0, 15, 40)
    for x in (base[:, ::2], base[::-1, ::-2], np.asfortranarray(base)[:, :15], base.T[:15, :].T):
        check(x, labels, clip=(0.2, 0.8))
    wide = rng.random((3, 3000)).astype(dtype)[:, ::-2]  # long rows, negative column stride
    check(wide, np.array([0, 1499, 700]))
    out = np.zeros((40, 2), np.float64 if dtype == np.float64 else np.float32)  # strided outputs
    row_stats_rows(base, row_sum=out[:, 1], labels=labels, picked=out[:, 0])
    np.testing.assert_array_equal(out[:, 0], base[np.arange(40), labels])
    np.testing.assert_allclose(out[:, 1], base.astype(np.float64).sum(axis=1), rtol=1e-6)


def test_outputs_are_optional_and_untouched_when_not_asked():
    x = np.arange(12.0).reshape(3, 4)
    row_max = np.zeros(3)
    assert row_stats_rows(x, row_max=row_max)["bad_label"] == 0
    np.testing.assert_array_equal(row_max, [3, 7, 11])
    picked = np.zeros(3)
    row_stats_rows(x, labels=np.array([3, 0, 2], np.int32), picked=picked)
    np.testing.assert_array_equal(picked, [3, 4, 10])


def test_empty_rows_and_no_rows():
    for cols in (0, 5):
        x = np.zeros((0, cols), np.float32)
        row_min, row_max, row_sum, picked, counts = run(x, np.zeros(0, np.int64))
        assert row_min.shape == picked.shape == (0,) and counts["bad_label"] == 0
    row_min, row_max, row_sum, _, _ = run(np.zeros((3, 0)))
    assert (row_min == np.inf).all() and (row_max == -np.inf).all() and (row_sum == 0).all()


def test_label_outside_the_row_is_nan_and_signals():
    x = np.full((3, 4), 0.5)
    picked = np.zeros(3)
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError, match="2 label"):
        row_stats_rows(x, labels=np.array([4, 0, -1]), picked=picked)
    with np.errstate(invalid="ignore"):
        counts = row_stats_rows(x, labels=np.array([4, 0, -1]), picked=picked)
    assert counts["bad_label"] == 2 and np.isnan(picked[[0, 2]]).all() and picked[1] == 0.5


def test_threads_give_the_same_results():
    rng = np.random.default_rng(5)
    for shape in ((5000, 7), (300, 2500)):
        x = rng.random(shape, dtype=np.float32)
        labels = rng.integers(0, shape[1], shape[0])
        _kernels._set_min_work_per_thread(1)
        try:
            threaded = run(x, labels, clip=(0.1, 0.9))
        finally:
            _kernels._set_min_work_per_thread(None)
        ce.set_num_threads(1)
        try:
            serial = run(x, labels, clip=(0.1, 0.9))
        finally:
            ce.set_num_threads(None)
        for a, b in zip(threaded[:4], serial[:4], strict=True):
            np.testing.assert_array_equal(a, b)


def test_float32_sums_of_long_rows_stay_accurate():
    x = np.full((2, 100_000), 0.1, np.float32)
    _, _, row_sum, _, _ = run(x)
    np.testing.assert_allclose(row_sum, np.float64(np.float32(0.1)) * 100_000, rtol=1e-6)


def test_bad_arguments_name_the_argument():
    x = np.zeros((3, 4))
    out = np.zeros(3)
    with pytest.raises(ValueError, match="x must have shape"):
        row_stats_rows(np.zeros(4), row_min=out)
    with pytest.raises(TypeError, match="x must be float32, float64, float16 or bfloat16, got int64"):
        row_stats_rows(np.zeros((3, 4), np.int64), row_min=out)
    with pytest.raises(TypeError, match="x must be a numpy array"):
        row_stats_rows([[0.0, 1.0]], row_min=out)
    with pytest.raises(TypeError, match="row_min must have dtype float64"):
        row_stats_rows(x, row_min=np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="row_sum must have dtype float32"):
        row_stats_rows(x.astype(np.float32), row_sum=out)
    with pytest.raises(ValueError, match=r"row_max must have shape \(3,\)"):
        row_stats_rows(x, row_max=np.zeros(4))
    with pytest.raises(TypeError, match="labels must be int32 or int64"):
        row_stats_rows(x, labels=np.zeros(3), picked=out)
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        row_stats_rows(x, labels=np.zeros(2, np.int64), picked=out)
    with pytest.raises(TypeError, match="labels and picked"):
        row_stats_rows(x, labels=np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="labels and picked"):
        row_stats_rows(x, picked=out)
    with pytest.raises(TypeError, match="clip needs labels"):
        row_stats_rows(x, row_min=out, clip=(0.0, 1.0))
    with pytest.raises(TypeError, match=r"clip must be a pair \(lo, hi\)"):
        row_stats_rows(x, labels=np.zeros(3, np.int64), picked=out, clip=(0.0, 0.5, 1.0))
    with pytest.raises(ValueError, match="clip must be"):
        row_stats_rows(x, labels=np.zeros(3, np.int64), picked=out, clip=(1.0, 0.0))
    readonly = np.zeros(3)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="picked must be writeable"):
        row_stats_rows(x, labels=np.zeros(3, np.int64), picked=readonly)
    with pytest.raises(TypeError, match="x must be in native byte order"):
        row_stats_rows(x.astype(">f8"), row_min=out)
