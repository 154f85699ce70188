"""crossentropy.lm.linear_cross_entropy: golden values from torch autograd, live differential tests against torch,
the working-set bound (no N×V array), dtypes and bad input."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossentropy.lm import linear as linear_module
from crossentropy.lm import linear_cross_entropy
from golden import goldenio

META, ARRAYS = goldenio.load("linear_ce")
RTOL = {"float64": 1e-10, "float32": 1e-4}
SLACK = linear_module._NUMPY_BUFFERS  # the fixed part of every budget


def smallest_budget(hidden, weight, labels, bias, **opts):
    """The smallest max_memory the function accepts for these inputs (bisection on its ValueError)."""
    lo, hi = 1, 1 << 20
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            linear_cross_entropy(hidden, weight, labels, bias, max_memory=mid, return_grad=True, **opts)
            hi = mid
        except ValueError as exc:
            assert "max_memory" in str(exc)
            lo = mid + 1
    return lo


def assert_close(actual, expected, dtype, what):
    expected = np.asarray(expected)
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype}, expected {dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    with np.errstate(under="ignore"):
        np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * scale, err_msg=what)


def check_against(expected, got, dtype, has_bias):
    value, (d_hidden, d_weight, d_bias) = got
    assert_close(np.asarray(value), expected["value"], dtype, "value")
    assert_close(d_hidden, expected["d_hidden"], dtype, "d_hidden")
    assert_close(d_weight, expected["d_weight"], dtype, "d_weight")
    if has_bias:
        assert_close(d_bias, expected["d_bias"], dtype, "d_bias")
    else:
        assert d_bias is None


@pytest.mark.parametrize("budget", ["default", "smallest"])
@pytest.mark.parametrize("case", META["cases"], ids=[c["name"] for c in META["cases"]])
def test_golden_torch_autograd(case, budget):
    name = case["name"]
    a = {k.split("/", 1)[1]: ARRAYS[k] for k in ARRAYS if k.startswith(name + "/")}
    bias = a.get("bias")
    opts = case["options"]
    max_memory = None
    if budget == "smallest":  # vocabulary chunks, row blocks and the recomputing sweep
        if a["hidden"].size > 1000:
            pytest.skip("bisection on the large case is covered by the other budget test")
        max_memory = smallest_budget(a["hidden"], a["weight"], a["labels"], bias, **opts)
    got = linear_cross_entropy(
        a["hidden"], a["weight"], a["labels"], bias, return_grad=True, max_memory=max_memory, **opts
    )
    check_against(a, got, case["dtype"], case["has_bias"])
    plain = linear_cross_entropy(a["hidden"], a["weight"], a["labels"], bias, max_memory=max_memory, **opts)
    assert_close(np.asarray(plain), a["value"], case["dtype"], "value without gradients")


def test_golden_records_versions():
    assert META["versions"]["torch"].startswith("2.")
    assert len(META["cases"]) >= 50


@pytest.mark.parametrize("max_memory", [None, SLACK + 60_000, SLACK + 3000])
def test_many_tokens_budgets_match_golden(max_memory):
    """Row blocks (d_weight added over blocks) and vocabulary chunks (online lse) on 3000 tokens."""
    name = "many-tokens-float32"
    a = {k.split("/", 1)[1]: ARRAYS[k] for k in ARRAYS if k.startswith(name + "/")}
    case = next(c for c in META["cases"] if c["name"] == name)
    got = linear_cross_entropy(
        a["hidden"], a["weight"], a["labels"], a["bias"], return_grad=True, max_memory=max_memory, **case["options"]
    )
    check_against(a, got, "float32", True)


# ---- tile plans ---------------------------------------------------------------------------------------
def test_plan_whole_rows_by_default_and_chunks_when_tight():
    sizes = {
        "itemsize": 4,
        "grad": True,
        "tiles": 1,
        "copy_hidden": False,
        "copy_weight": False,
        "gather": False,
        "hidden_itemsize": 4,
        "slice_bytes": 2**20,
    }
    whole = linear_module._plan(2048, 65536, 1024, 256 * 2**20, **sizes)
    assert whole.cols == 65536 and 32 <= whole.rows < 2048 and whole.working_set <= 256 * 2**20
    tight = linear_module._plan(2048, 65536, 1024, 8 * 2**20, **sizes)
    assert tight.cols < 65536 and tight.working_set <= 8 * 2**20
    with pytest.raises(ValueError, match="max_memory"):
        linear_module._plan(2048, 65536, 1024, 10_000, **sizes)
    # the budgets of test_many_tokens_budgets_match_golden: row blocks of whole rows, then vocabulary chunks
    many = dict(sizes, copy_hidden=True, gather=True)
    assert linear_module._plan(2700, 97, 4, SLACK + 60_000, **many)[1:2] == (97,)
    assert linear_module._plan(2700, 97, 4, SLACK + 3000, **many).cols < 97


# ---- memory: never an N×V array ----------------------------------------------------------------------------
@pytest.mark.parametrize("return_grad", [False, True])
def test_no_logits_sized_allocation(return_grad):
    rng = np.random.default_rng(0)
    n, v, d = 128, 4096, 16
    hidden = rng.standard_normal((n, d), dtype=np.float32)
    weight = rng.standard_normal((v, d), dtype=np.float32)
    labels = rng.integers(0, v, n)
    labels[::7] = -100
    budget = 2**18
    linear_cross_entropy(hidden[:8], weight[:64], labels[:8] % 64, return_grad=True)  # warm imports
    tracemalloc.start()
    try:
        linear_cross_entropy(hidden, weight, labels, return_grad=return_grad, max_memory=budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    logits_bytes = n * v * 4
    outputs = (n * d + v * d) * 4 if return_grad else 0
    assert peak < logits_bytes / 4, (peak, logits_bytes)
    assert peak <= budget + outputs + n * 64, (peak, budget, outputs)


# ---- dtypes ------------------------------------------------------------------------------------------
def _small(rng, dtype=np.float64, n=12, v=19, d=5):
    hidden = rng.standard_normal((n, d)).astype(dtype)
    weight = (rng.standard_normal((v, d)) / 2).astype(dtype)
    bias = rng.standard_normal(v).astype(dtype)
    labels = rng.integers(0, v, n)
    labels[2] = -100
    return hidden, weight, labels, bias


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_result_dtype_is_input_dtype(dtype, reduction):
    h, w, y, b = _small(np.random.default_rng(1), dtype)
    value, grads = linear_cross_entropy(h, w, y, b, reduction=reduction, return_grad=True)
    assert np.asarray(value).dtype == dtype
    assert all(g.dtype == dtype for g in grads)
    assert np.shape(value) == (() if reduction != "none" else y.shape)


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_inputs_are_computed_in_float32(half):
    if half == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        half = ml_dtypes.bfloat16
    h, w, y, b = _small(np.random.default_rng(2), np.float64)
    hh, wh, bh = h.astype(half), w.astype(half), b.astype(half)
    value, grads = linear_cross_entropy(hh, wh, y, bh, return_grad=True, max_memory=SLACK + 4096)
    ref_value, ref_grads = linear_cross_entropy(
        hh.astype(np.float32), wh.astype(np.float32), y, bh.astype(np.float32), return_grad=True
    )
    assert value.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    for g, r in zip(grads, ref_grads, strict=False):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-7)


def test_mixed_dtypes_promote_to_float64_and_match():
    h, w, y, b = _small(np.random.default_rng(3), np.float64)
    h32 = h.astype(np.float32)
    value, grads = linear_cross_entropy(h32, w, y, b, return_grad=True, max_memory=SLACK + 3000)
    ref_value, ref_grads = linear_cross_entropy(h32.astype(np.float64), w, y, b, return_grad=True)
    assert value.dtype == np.float64 and all(g.dtype == np.float64 for g in grads)
    np.testing.assert_allclose(value, ref_value, rtol=1e-13)
    for g, r in zip(grads, ref_grads, strict=False):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-15)


def test_strided_and_fortran_inputs():
    h, w, y, b = _small(np.random.default_rng(4), np.float64)
    ref = linear_cross_entropy(h, w, y, b, return_grad=True, label_smoothing=0.1)
    got = linear_cross_entropy(
        np.asfortranarray(h), np.asfortranarray(w), y, b, return_grad=True, label_smoothing=0.1, max_memory=SLACK + 2500
    )
    wide = np.zeros((w.shape[0], 2 * w.shape[1]))
    wide[:, ::2] = w
    got2 = linear_cross_entropy(h, wide[:, ::2], y, b, return_grad=True, label_smoothing=0.1)
    for g in (got, got2):
        np.testing.assert_allclose(g[0], ref[0], rtol=1e-14)
        for a, r in zip(g[1], ref[1], strict=False):
            np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-15)


def test_nan_in_nan_out_and_ignored_rows_stay_out():
    h, w, y, b = _small(np.random.default_rng(5), np.float64)
    h[0, 0] = np.nan
    losses = linear_cross_entropy(h, w, y, b, reduction="none")
    assert np.isnan(losses[0]) and np.all(np.isfinite(np.delete(losses, 0)))
    h[2, 0] = np.nan  # row 2 is ignored: it contributes nothing
    y[0] = -100
    value, (dh, dw, db) = linear_cross_entropy(h, w, y, b, return_grad=True)
    assert np.isfinite(value) and np.all(np.isfinite(dw)) and np.all(np.isfinite(db)) and np.all(dh[[0, 2]] == 0)


def test_minus_inf_bias_masks_classes_in_every_chunk_layout():
    h, w, y, b = _small(np.random.default_rng(6), np.float64, v=40)
    b[:20] = -np.inf  # a whole vocabulary chunk can be masked
    y = np.where((y >= 0) & (y < 20), y + 20, y)
    ref = linear_cross_entropy(h, w[20:], np.where(y >= 0, y - 20, y), b[20:], return_grad=True)
    for budget in (None, SLACK + 2500):
        value, (dh, dw, db) = linear_cross_entropy(h, w, y, b, return_grad=True, max_memory=budget)
        np.testing.assert_allclose(value, ref[0], rtol=1e-13)
        np.testing.assert_allclose(dh, ref[1][0], rtol=1e-12, atol=1e-15)
        assert np.all(dw[:20] == 0) and np.all(db[:20] == 0)


def test_empty_batch():
    w = np.ones((5, 3))
    assert linear_cross_entropy(np.zeros((0, 3)), w, np.zeros(0, int)) == 0.0
    value, (dh, dw, db) = linear_cross_entropy(
        np.zeros((0, 3)), w, np.zeros(0, int), reduction="none", return_grad=True
    )
    assert value.shape == (0,) and dh.shape == (0, 3) and np.all(dw == 0) and db is None


# ---- bad input ---------------------------------------------------------------------------------------------
def _bad_call(**changes):
    h, w, y, b = _small(np.random.default_rng(7), np.float64)
    args = {"hidden": h, "weight": w, "labels": y, "bias": b, **changes}
    return linear_cross_entropy(args.pop("hidden"), args.pop("weight"), args.pop("labels"), args.pop("bias"), **args)


@pytest.mark.parametrize(
    "changes, error, names",
    [
        ({"hidden": np.zeros((12, 4))}, ValueError, "hidden"),
        ({"weight": np.zeros((19, 5, 1))}, ValueError, "weight"),
        ({"weight": np.zeros((0, 5))}, ValueError, "weight"),
        ({"bias": np.zeros(18)}, ValueError, "bias"),
        ({"labels": np.zeros(11, int)}, ValueError, "labels"),
        ({"labels": np.zeros(12)}, TypeError, "labels"),
        ({"labels": np.full(12, 19)}, IndexError, "labels"),
        ({"labels": np.full(12, -1)}, IndexError, "labels"),
        ({"hidden": np.zeros((12, 5), int)}, TypeError, "hidden"),
        ({"weight": np.zeros((19, 5), complex)}, TypeError, "weight"),
        ({"bias": np.zeros(19, bool)}, TypeError, "bias"),
        ({"hidden": np.float64(1.0)}, ValueError, "hidden"),
        ({"max_memory": 100}, ValueError, "max_memory"),
        ({"max_memory": 0}, ValueError, "max_memory"),
        ({"max_memory": 1.5e9}, TypeError, "max_memory"),
        ({"reduction": "avg"}, ValueError, "reduction"),
        ({"label_smoothing": 1.5}, ValueError, "label_smoothing"),
        ({"z_loss": -1.0}, ValueError, "z_loss"),
        ({"softcap": 0.0}, ValueError, "softcap"),
        ({"ignore_index": 1.5}, TypeError, "ignore_index"),
    ],
)
def test_bad_input_names_the_argument(changes, error, names):
    with pytest.raises(error, match=names):
        _bad_call(**changes)


# ---- live differential test against torch autograd --------------------------------------------------------
try:
    import torch

    from golden.generate_linear_ce import torch_reference
except ImportError:  # torch missing: the golden tests above still run
    torch = None


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 24),
    v=st.integers(1, 70),
    d=st.integers(1, 6),
    dtype=st.sampled_from(["float64", "float32"]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    smoothing=st.sampled_from([0.0, 0.1, 1.0]),
    z_loss=st.sampled_from([0.0, 1e-3]),
    softcap=st.sampled_from([None, 1.5, 30.0]),
    with_bias=st.booleans(),
    ignored=st.floats(0, 1),
    budget=st.sampled_from([None, "smallest"]),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([0.1, 3.0]),
)
def test_live_against_torch_autograd(
    n, v, d, dtype, reduction, smoothing, z_loss, softcap, with_bias, ignored, budget, seed, scale
):
    rng = np.random.default_rng(seed)
    hidden = (scale * rng.standard_normal((n, d))).astype(dtype)
    weight = (scale * rng.standard_normal((v, d))).astype(dtype)
    bias = rng.standard_normal(v).astype(dtype) if with_bias else None
    labels = rng.integers(0, v, n)
    labels[rng.random(n) < ignored] = -100
    opts = {"reduction": reduction, "label_smoothing": smoothing, "z_loss": z_loss, "softcap": softcap}
    value, d_hidden, d_weight, d_bias = torch_reference(hidden, weight, labels, bias, **opts)
    max_memory = smallest_budget(hidden, weight, labels, bias, **opts) if budget else None
    got = linear_cross_entropy(hidden, weight, labels, bias, return_grad=True, max_memory=max_memory, **opts)
    check_against({"value": value, "d_hidden": d_hidden, "d_weight": d_weight, "d_bias": d_bias}, got, dtype, with_bias)


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(linear_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


def test_thread_setting_is_restored():
    import crossentropy as ce

    h, w, y, b = _small(np.random.default_rng(8), np.float64)
    before = ce.get_num_threads()
    linear_cross_entropy(h, w, y, b, return_grad=True)
    assert ce.get_num_threads() == before
    ce.set_num_threads(1)
    try:
        linear_cross_entropy(h, w, y, b)
        assert ce.get_num_threads() == 1
    finally:
        ce.set_num_threads(None)
    assert ce.get_num_threads() == before


def test_serial_sweep_is_this_threads_own():
    """While a sweep runs its row kernels serially, other threads keep their thread count, and a
    set_num_threads made meanwhile (from any thread) is not undone when the sweep ends."""
    import threading

    import crossentropy as ce
    from crossentropy.lm.linear import _row_kernels_serial

    ce.set_num_threads(2)
    try:
        seen = {}
        with _row_kernels_serial():
            assert ce.get_num_threads() == 1
            with _row_kernels_serial():  # nested sweeps
                assert ce.get_num_threads() == 1
            assert ce.get_num_threads() == 1
            other = threading.Thread(target=lambda: seen.setdefault("other", ce.get_num_threads()))
            other.start()
            other.join()
            ce.set_num_threads(3)
        assert seen["other"] == 2
        assert ce.get_num_threads() == 3
    finally:
        ce.set_num_threads(None)
