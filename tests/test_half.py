"""float16 and bfloat16 inputs: read directly, computed in float32 (docs/half_precision.md).

* gufuncs: result dtypes, accuracy against float64 arithmetic on the same half values (losses within
  4 float32 ulp; half outputs within 1 ulp of the exact value rounded to the output dtype), the
  ``dtype=np.float32`` loops, no cast copy (tracemalloc), strided and broadcast operands;
* bfloat16 loops registered lazily (``import crossentropy`` never imports ml_dtypes);
* framework layers against the golden values of tests/golden/half.jsonl (Keras, torch, TF in half
  dtypes): same result dtype, same refusals, and where the value differs from the framework's, it is closer
  to the framework's own float64 result on the same values;
* Keras' five ``test_dtype_arg`` cases, bad input, and ``crossentropy eval`` on float16 files.
"""

import json
import os
import platform
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from helpers import run_c_program
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import crossentropy as ce
from crossentropy import _reference as ref
from crossentropy import _registry
from golden import goldenio

try:
    import ml_dtypes

    BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # optional: the bfloat16 half of this module is skipped
    ml_dtypes = None
    BF16 = None

F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
HALVES = [
    pytest.param(F16, id="float16"),
    pytest.param(BF16, id="bfloat16", marks=pytest.mark.skipif(BF16 is None, reason="ml_dtypes missing")),
]
NMANT = {"float16": 10, "bfloat16": 7}
SUBNORMAL = {"float16": 2.0**-24, "bfloat16": 2.0**-133}


# ---- ulps ------------------------------------------------------------------------------------------
def ulp(v, dtype):
    """The spacing of ``dtype`` (float16, bfloat16 or float32) at |v|, as float64."""
    v = np.abs(np.asarray(v, np.float64))
    name = np.dtype(dtype).name
    nmant, sub = (23, 2.0**-149) if name == "float32" else (NMANT[name], SUBNORMAL[name])
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.floor(np.log2(np.where(v > 0, v, 1.0)))
    return np.maximum(np.exp2(e - nmant), sub)


def assert_close_ulps(got, exact, dtype, n_ulps, extra=0.0, what=""):
    """|got - exact| <= n_ulps ulp(exact) + extra elementwise; NaN where exact is NaN, infinities equal."""
    got = np.asarray(got).astype(np.float64)
    exact = np.asarray(exact, np.float64)
    assert got.shape == exact.shape, what
    nan = np.isnan(exact)
    np.testing.assert_array_equal(np.isnan(got), nan, err_msg=f"{what}: NaN positions")
    inf = np.isinf(exact) & ~nan
    np.testing.assert_array_equal(got[inf], exact[inf], err_msg=f"{what}: infinities")
    fin = ~nan & ~inf
    with np.errstate(invalid="ignore"):
        err = np.abs(got[fin] - exact[fin])
    bound = n_ulps * ulp(exact[fin], dtype) + (extra[fin] if np.ndim(extra) else extra)
    bad = ~(err <= bound)
    assert not bad.any(), (
        f"{what}: {bad.sum()} of {bad.size} beyond {n_ulps} ulp ({np.dtype(dtype).name}); "
        f"worst got {got[fin][bad][:4]} exact {exact[fin][bad][:4]}"
    )


# ---- inputs covering the accuracy bars ------------------------------------------------------------
def half_rows(dtype, cols, seed=0):
    """Rows of logits exactly representable in ``dtype``: ordinary, confident, at the float16 extremes
    (+-6e4), -inf masks (never every entry), one NaN row; and a label per row that is never masked."""
    rng = np.random.default_rng(seed)
    rows = [rng.standard_normal(cols) * s for s in (0.5, 3.0, 8.0)]
    conf = np.full(cols, -12.0)
    conf[1] = 7.0
    rows.append(conf)  # confident: loss ~ cols * e^-19, far below 1
    ext = rng.standard_normal(cols)
    ext[0], ext[-1] = 6e4, -6e4
    rows.append(ext)
    ext2 = np.full(cols, -6e4)
    ext2[cols // 2] = 6e4
    rows.append(ext2)
    masked = rng.standard_normal(cols) * 2.0
    masked[::3] = -np.inf
    rows.append(masked)
    nan = rng.standard_normal(cols)
    nan[cols // 3] = np.nan
    rows.append(nan)
    with np.errstate(under="ignore"):  # tiny values round to half subnormals or 0, as intended
        x = np.stack(rows).astype(dtype)
    labels = np.array([0, 1, 2, 1, 0, cols // 2, 1, 0], np.int64)
    return x, labels


def soft_targets(x, dtype, seed=1):
    rng = np.random.default_rng(seed)
    t = rng.random(x.shape)
    t[np.isneginf(x.astype(np.float64))] = 0.0  # no mass on masked classes (else the loss is +inf)
    with np.errstate(under="ignore"):
        return (t / t.sum(axis=1, keepdims=True)).astype(dtype)


COLS = [pytest.param(5, id="C5"), pytest.param(37, id="C37"), pytest.param(300, id="C300")]


# ---- result dtypes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("h", HALVES)
def test_result_dtypes(h):
    x = np.zeros((3, 4), h)
    lab32, lab64 = np.array([0, 1, 2], np.int32), np.array([0, 1, 2], np.int64)
    assert ce.logsumexp(x).dtype == F32
    assert ce.softmax(x).dtype == h
    assert ce.log_softmax(x).dtype == h
    # targets of the logits' half type: N x C results in the half type; float32 targets: in float32
    for t, g_dt in ((x, h), (x.astype(np.float32), F32)):
        assert ce.softmax_cross_entropy(x, t).dtype == F32
        loss, g = ce.softmax_cross_entropy_and_grad(x, t)
        assert (loss.dtype, g.dtype) == (F32, g_dt)
        assert ce.sigmoid_cross_entropy(x, t).dtype == F32
        loss, g = ce.sigmoid_cross_entropy_and_grad(x, t)
        assert (loss.dtype, g.dtype) == (F32, g_dt)
    for lab in (lab32, lab64):
        assert ce.sparse_softmax_cross_entropy(x, lab).dtype == F32
        loss, g = ce.sparse_softmax_cross_entropy_and_grad(x, lab)
        assert (loss.dtype, g.dtype) == (F32, h)
    # integer and boolean inputs keep running in float32 (a float16 loop would accept int8 and bool)
    for dt in (np.int8, np.uint8, bool):
        assert ce.softmax(np.zeros((2, 3), dt)).dtype == F32
    # dtype=float32 selects the loops that write float32
    assert ce.softmax(x, dtype=np.float32).dtype == F32
    loss, g = ce.sparse_softmax_cross_entropy_and_grad(x, lab64, dtype=np.float32)
    assert (loss.dtype, g.dtype) == (F32, F32)


def test_half_loops_are_listed():
    for uf in (
        ce.logsumexp,
        ce.softmax,
        ce.softmax_cross_entropy_and_grad,
        ce.sparse_softmax_cross_entropy,
        ce.sigmoid_cross_entropy_and_grad,
    ):
        assert any(t.startswith("e") for t in uf.types), uf.__name__


# ---- accuracy against float64 on the same half values ------------------------------------------------
@pytest.mark.parametrize("cols", COLS)
@pytest.mark.parametrize("h", HALVES)
def test_row_losses_within_4_float32_ulp(h, cols):
    x, labels = half_rows(h, cols)
    t = soft_targets(x, h)
    z = (np.random.default_rng(2).random(x.shape) < 0.5).astype(h)
    cases = [
        ("logsumexp", ce.logsumexp(x), ref.logsumexp(x)),
        ("sparse", ce.sparse_softmax_cross_entropy(x, labels), ref.sparse_softmax_cross_entropy(x, labels)),
        (
            "sparse_and_grad",
            ce.sparse_softmax_cross_entropy_and_grad(x, labels)[0],
            ref.sparse_softmax_cross_entropy(x, labels),
        ),
        ("dense", ce.softmax_cross_entropy(x, t), ref.softmax_cross_entropy(x, t)),
        ("dense_f32_targets", ce.softmax_cross_entropy(x, t.astype(np.float32)), ref.softmax_cross_entropy(x, t)),
        ("dense_and_grad", ce.softmax_cross_entropy_and_grad(x, t)[0], ref.softmax_cross_entropy(x, t)),
        ("sigmoid", ce.sigmoid_cross_entropy(x, z), ref.sigmoid_cross_entropy(x, z)),
        ("sigmoid_and_grad", ce.sigmoid_cross_entropy_and_grad(x, z)[0], ref.sigmoid_cross_entropy(x, z)),
    ]
    # the confident row (index 3) sums cols - 1 equal tiny exps in float32 vector lanes: the rounding of
    # those sums (shared with float32 inputs) reaches ~6 ulp there; every other row keeps to 4
    conf = np.zeros(x.shape[0], bool)
    conf[3] = True
    for name, got, exact in cases:
        assert got.dtype == F32, name
        if got.shape == conf.shape:
            assert_close_ulps(got[~conf], exact[~conf], F32, 4, what=name)
            assert_close_ulps(got[conf], exact[conf], F32, 8, what=name + " (confident row)")
        else:
            assert_close_ulps(got, exact, F32, 4, what=name)
    # the confident row keeps its digits (a loss of cols * e^-19, not 0)
    assert 0 < ce.sparse_softmax_cross_entropy(x[3:4], labels[3:4])[0] < 1e-4


@pytest.mark.parametrize("h", HALVES)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_property_losses_match_float64_on_the_same_half_values(h, data):
    """Any shape; ordinary values, the dtype's extremes, -inf masks, NaN and zeros: losses and log-sum-exp
    within 8 float32 ulp of float64 on the same half values (8: rows of many equal tiny exps, as above), plus
    the rounding of whichever operand dominates where a difference cancels (hypothesis found both)."""
    rows, cols = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 300))
    # float16's extremes for both types (at bfloat16's 3e38 the float64 reference itself absorbs log 2)
    big = float(np.finfo(np.float16).max)
    elements = st.one_of(st.floats(-30, 30, width=32), st.sampled_from([big, -big, -np.inf, np.nan, 0.0, 1e-3]))
    with np.errstate(over="ignore", under="ignore"):
        x = data.draw(hnp.arrays(np.float64, (rows, cols), elements=elements)).astype(h)
    labels = data.draw(hnp.arrays(np.int64, (rows,), elements=st.integers(0, cols - 1)))
    with np.errstate(all="ignore"):
        lse = ref.logsumexp(x)
        # lse = max + log(sum exp(x - max)): where the two terms cancel ([-4] * 47: -4 + 3.85), the float32
        # rounding of the larger one is the error
        m = np.nan_to_num(np.nanmax(np.where(np.isnan(x.astype(np.float64)), -np.inf, x), axis=1), posinf=0, neginf=0)
        cancel = 2 * ulp(np.maximum(np.abs(m), np.abs(np.nan_to_num(lse - m, posinf=0, neginf=0))), F32)
        assert_close_ulps(ce.logsumexp(x), lse, F32, 8, extra=cancel, what="logsumexp")
        exact = ref.sparse_softmax_cross_entropy(x, labels)
        # the float64 reference computes x_y - lse, which cancels on a confident row ([22, 0]: a loss of 2.8e-10
        # from two numbers near 22): it is itself only good to a float64 ulp of the larger operand
        xy = np.take_along_axis(x.astype(np.float64), labels[:, None], axis=1)[:, 0]
        big = np.maximum(np.abs(np.nan_to_num(lse, posinf=0, neginf=0)), np.abs(np.nan_to_num(xy, posinf=0, neginf=0)))
        ref_err = 2 * 2.0**-52 * big
        assert_close_ulps(ce.sparse_softmax_cross_entropy(x, labels), exact, F32, 8, extra=ref_err, what="sparse")
        loss, grad = ce.sparse_softmax_cross_entropy_and_grad(x, labels)
    assert loss.dtype == F32 and grad.dtype == x.dtype
    assert_close_ulps(loss, exact, F32, 8, extra=ref_err, what="sparse_and_grad")


@pytest.mark.parametrize("h", HALVES)
def test_strided_half_gradient_out(h):
    """A gradient written into every other column of a wider array: only those entries change."""
    x, labels = half_rows(h, 300)
    x = np.where(np.isfinite(x.astype(np.float32)), x, 0).astype(h)
    want = ce.sparse_softmax_cross_entropy_and_grad(x, labels)[1]
    wide = np.full((x.shape[0], 2 * x.shape[1]), 7, h)
    loss = np.empty(x.shape[0], np.float32)
    ce.sparse_softmax_cross_entropy_and_grad(x, labels, out=(loss, wide[:, ::2]))
    np.testing.assert_array_equal(wide[:, ::2].astype(np.float32), want.astype(np.float32))
    assert (wide[:, 1::2].astype(np.float32) == 7).all()


@pytest.mark.parametrize("h", HALVES)
def test_long_row_losses(h):
    """Rows longer than a few float32 summation blocks (512 terms): the float32 arithmetic shared with
    float32 inputs sums a confident row's thousands of equal tiny terms to within ~8 ulp, not 4."""
    x, labels = half_rows(h, 3000)
    got = ce.sparse_softmax_cross_entropy(x, labels)
    assert got.dtype == F32
    assert_close_ulps(got, ref.sparse_softmax_cross_entropy(x, labels), F32, 12, what="sparse, 3000 classes")


def _lse_cancel(x, lse):
    """float32 rounding of x - lse where the two nearly cancel: a few ulp of the larger operand."""
    x64 = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore"):
        big = np.maximum(
            np.abs(np.nan_to_num(x64, posinf=0, neginf=0)),
            np.abs(np.nan_to_num(np.asarray(lse, np.float64)[:, None], posinf=0, neginf=0)),
        )
    return 2 * ulp(big, F32)


@pytest.mark.parametrize("cols", [*COLS, pytest.param(1500, id="C1500")])
@pytest.mark.parametrize("h", HALVES)
def test_nxc_outputs_within_1_ulp_of_exact(h, cols):
    x, labels = half_rows(h, cols)
    t = soft_targets(x, h)
    z = (np.random.default_rng(3).random(x.shape) < 0.5).astype(h)
    lse = ref.logsumexp(x)
    # softmax / gradients are at most 1 in magnitude: float32 arithmetic adds at most a few 2^-24
    f32_abs = 4 * 2.0**-24
    outs = [
        ("softmax", ce.softmax(x), ref.softmax(x), 0.0),
        ("log_softmax", ce.log_softmax(x), ref.log_softmax(x), _lse_cancel(x, lse)),
        (
            "sparse_grad",
            ce.sparse_softmax_cross_entropy_and_grad(x, labels)[1],
            ref.sparse_softmax_cross_entropy_grad(x, labels),
            f32_abs,
        ),
        ("dense_grad", ce.softmax_cross_entropy_and_grad(x, t)[1], ref.softmax_cross_entropy_grad(x, t), f32_abs),
        ("sigmoid_grad", ce.sigmoid_cross_entropy_and_grad(x, z)[1], ref.sigmoid_cross_entropy_grad(x, z), f32_abs),
    ]
    top = float(np.finfo(np.float16).max) + 16.0 if h == F16 else np.inf  # rounds to +-inf from here on
    for name, got, exact, extra in outs:
        assert got.dtype == h, name
        with np.errstate(invalid="ignore"):
            exact = np.where(np.abs(exact) >= top, np.sign(exact) * np.inf, exact)
        assert_close_ulps(got, exact, h, 1, extra=extra, what=name)


@pytest.mark.parametrize("h", HALVES)
def test_float32_loops_at_float32_accuracy(h):
    """dtype=np.float32 (and a float32 out= with it) read the half input and write float32 results as
    accurate as the float32 path on the same values."""
    x, labels = half_rows(h, 37)
    x32 = x.astype(np.float32)
    sm = ce.softmax(x, dtype=np.float32)
    assert sm.dtype == F32
    assert_close_ulps(sm, ref.softmax(x), F32, 4, extra=2.0**-40, what="softmax float32")
    out = np.full(x.shape, np.nan, np.float32)
    res = ce.log_softmax(x, out=out, dtype=np.float32)
    assert res is out
    lse = ref.logsumexp(x)
    assert_close_ulps(out, ref.log_softmax(x), F32, 4, extra=_lse_cancel(x, lse), what="log_softmax float32 out")
    loss, g = ce.sparse_softmax_cross_entropy_and_grad(x, labels, dtype=np.float32)
    loss32, _ = ce.sparse_softmax_cross_entropy_and_grad(x32, labels)
    assert_close_ulps(loss, loss32, F32, 8, what="sparse loss float32 loop vs float32 input")
    # p - 1 at a confident label is computed as p - 1 in float32 (like the float32 path): a few 2^-24
    assert_close_ulps(
        g, ref.sparse_softmax_cross_entropy_grad(x, labels), F32, 4, extra=4 * 2.0**-24, what="sparse grad float32"
    )
    # a float32 out= without dtype= gets the half result converted to float32 (NumPy 2 picks loops from
    # inputs and dtype=, not from out=): exactly the half values
    out2 = np.empty(x.shape, np.float32)
    ce.softmax(x, out=out2)
    np.testing.assert_array_equal(out2, ce.softmax(x).astype(np.float32))


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or sys.platform != "linux", reason="vector paths: x86-64 Linux"
)
def test_widening_paths_agree(tmp_path):
    """The row widening (float16, bfloat16) and float16 narrowing of the staged rows agree bit for bit on every
    path this CPU has: bit conversions, AVX2+F16C, AVX-512 (only one of them runs in the package)."""
    rc, out = run_c_program(tmp_path, "widen_paths", "-O2")
    assert rc == 0, out


@pytest.mark.skipif(sys.platform != "linux", reason="builds the row math with a C compiler: Linux")
@pytest.mark.parametrize("code", [(), ("-DCE_NO_INTRINSICS",)], ids=["this CPU's", "portable"])
def test_rows_without_scratch_memory(tmp_path, code):
    """With every allocation of the row math refused, each kernel entry that stages half rows falls back to a
    path without scratch (results as with it) or, for half logits with float32 targets, leaves its rows NaN
    and reports no memory (tests/c/no_memory.c).  Also built from the portable code alone, as off x86-64
    (aarch64 wheels), where a function used but not declared is an error."""
    flags = ("-O1", "-DCE_NO_CLONES", "-Werror=implicit-function-declaration", *code)
    rc, out = run_c_program(tmp_path, "no_memory", *flags)
    assert rc == 0, out


STAGED_KERNELS = list(_registry.kernels())


@pytest.mark.parametrize("kernel", STAGED_KERNELS, ids=lambda k: k.name)
@pytest.mark.parametrize("cols", [5, 33, 1000, 5000])  # 5: few classes; 5000: longer than a stack scratch row
@pytest.mark.parametrize("h", HALVES)
def test_contiguous_rows_equal_float32_on_the_same_values(h, cols, kernel):
    """Contiguous half rows give the float32 kernels' results on the same values bit for bit, N x C outputs
    rounded to the half type as NumPy rounds them; with dtype=np.float32 nothing is rounded.  Rows of the
    extremes, -inf masks and NaN included.  (The bfloat16 forward of sparse labels adds its exps in another
    order: within 4 float32 ulp.)"""
    x, labels = half_rows(h, cols)
    assert_staged_equal_float32(kernel, x, labels, h)


@pytest.mark.parametrize("kernel", STAGED_KERNELS, ids=lambda k: k.name)
@pytest.mark.parametrize("h", HALVES)
def test_long_rows_in_blocks_equal_float32(h, kernel):
    """Rows too long to be prefetched whole (7000 classes), 48 of them, which the driver hands the threads as
    one block each, with the special rows (bad labels, +-6e4 extremes, -inf masks, NaN) shuffled over the
    blocks: results equal the float32 kernel's on the same values, as for the 8-row calls above."""
    x8, labels8 = half_rows(h, 7000)
    order = np.random.default_rng(3).permutation(np.tile(np.arange(8), 6))
    x, labels = x8[order], labels8[order]
    labels[[4, 17, 30]] = [7000, -1, 123456]  # bad labels: NaN rows, whose sweep is skipped
    assert_staged_equal_float32(kernel, x, labels, h)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("h", HALVES)
def test_long_rows_widened_ahead_equal_float32(h, smoothing):
    """Rows too long to be prefetched (7000 classes) are widened one row ahead, inside the previous row's exp
    sweep; a row that skips that sweep (ignore_index, a -inf or NaN max) leaves the next row to be widened
    after it.  The torch layer's losses and gradients equal float32's on the same values either way."""
    from crossentropy import torch as cet

    x8, labels8 = half_rows(h, 7000)
    order = np.random.default_rng(4).permutation(np.tile(np.arange(8), 4))
    x, labels = x8[order], labels8[order]
    labels[[0, 5, 6, 19, 31]] = -100
    with np.errstate(all="ignore"):
        loss, grad = cet.cross_entropy(x, labels, reduction="none", label_smoothing=smoothing, return_grad=True)
        loss32, grad32 = cet.cross_entropy(
            x.astype(F32), labels, reduction="none", label_smoothing=smoothing, return_grad=True
        )
        assert loss.dtype == grad.dtype == h
        np.testing.assert_array_equal(loss.astype(F32), loss32.astype(h).astype(F32))
        np.testing.assert_array_equal(grad.astype(F32), grad32.astype(h).astype(F32))


@pytest.mark.parametrize("cols", [100, 1000, 7000])
@pytest.mark.parametrize("h", HALVES)
def test_forward_rows_read_in_registers(h, cols):
    """The forward of sparse labels reads contiguous half rows in registers, with no float32 copy of a row:
    float16 adds its exps in float32's order (bit for bit), bfloat16 its even and odd entries apart (within 4
    float32 ulp of float32 on the same values, and of float64).  Ordinary rows, where the order shows."""
    rng = np.random.default_rng(5)
    with np.errstate(under="ignore"):
        x = (rng.standard_normal((256, cols)) * rng.choice([1.0, 3.0], (256, 1))).astype(h)
    labels = rng.integers(0, cols, 256)
    got = ce.sparse_softmax_cross_entropy(x, labels)
    want = ce.sparse_softmax_cross_entropy(x.astype(F32), labels)
    assert got.dtype == F32
    if h == F16:
        np.testing.assert_array_equal(got, want)
    else:
        assert_close_ulps(got, want, F32, 4, what="bfloat16 forward vs float32")
    assert_close_ulps(got, ref.sparse_softmax_cross_entropy(x, labels), F32, 4, what="forward vs float64")


@pytest.mark.parametrize("cols", [100, 1000, 7000])
@pytest.mark.parametrize("h", HALVES)
def test_loss_and_grad_rows_read_in_registers(h, cols):
    """The loss+grad of sparse labels alone reads contiguous half rows in registers too: the exps kept in a
    float32 row, which is scaled while rounded into the half gradient.  Losses and gradients equal float32's
    on the same values bit for bit (the gradient rounded once to the half type), into half and float32 out=,
    over many blocks of rows with bad labels, ignored rows (torch layer), extremes, -inf masks and NaN rows."""
    from crossentropy import torch as cet

    x8, labels8 = half_rows(h, cols)
    order = np.random.default_rng(6).permutation(np.tile(np.arange(8), 40))
    x, labels = x8[order], labels8[order]
    bad = labels.copy()
    bad[[3, 150]] = [cols, -7]  # NaN rows
    with np.errstate(all="ignore"):
        want_loss, want_grad = ce.sparse_softmax_cross_entropy_and_grad(x.astype(F32), bad)
        loss, grad = np.empty(len(x), F32), np.full(x.shape, 7, h)
        ce.sparse_softmax_cross_entropy_and_grad(x, bad, out=(loss, grad))
        loss32, grad32 = ce.sparse_softmax_cross_entropy_and_grad(x, bad, dtype=F32)
    np.testing.assert_array_equal(loss, want_loss)
    np.testing.assert_array_equal(loss32, want_loss)
    np.testing.assert_array_equal(grad32, want_grad)
    with np.errstate(over="ignore", under="ignore"):
        np.testing.assert_array_equal(grad.astype(F32), want_grad.astype(h).astype(F32))
    labels[[0, 9, 10, 200]] = -100  # ignored: loss 0, gradient row 0
    with np.errstate(all="ignore"):
        loss, grad = cet.cross_entropy(x, labels, reduction="none", return_grad=True)
        want_loss, want_grad = cet.cross_entropy(x.astype(F32), labels, reduction="none", return_grad=True)
    assert loss.dtype == grad.dtype == h
    with np.errstate(over="ignore", under="ignore"):
        np.testing.assert_array_equal(loss.astype(F32), want_loss.astype(h).astype(F32))
        np.testing.assert_array_equal(grad.astype(F32), want_grad.astype(h).astype(F32))
    assert (grad[[0, 9, 10, 200]].astype(F32) == 0).all()


@pytest.mark.parametrize("cols", [1000, 1200, 2000, 4096])
@pytest.mark.parametrize("h", HALVES)
def test_long_gradient_rows_streamed(h, cols):
    """A half loss+grad writing 8 MiB or more stores gradient rows of 1200 classes and more with non-temporal
    stores (rows of 1000 classes stay in the cache): losses and gradients still equal float32's on the same
    values (the gradient rounded once to the half type), with confident rows, ignored and bad labels, and into
    a gradient whose rows start anywhere in a cache line, where each row's stores begin and end off a line.
    Rows with ties at the max (rows 30-39) come within 2 float32 ulp of float32's loss and 1 ulp of its
    gradient rounded to the half type: on the AVX2 path the half rows leave the max out of the sum by the
    position of its first entry and add the ties, where the float32 loss+grad leaves all of them out
    (src/crossentropy/_ce_exp_table.h); every other row has one entry at its max."""
    from crossentropy import torch as cet

    rng = np.random.default_rng(cols)
    rows = (8 << 20) // (2 * cols) + 40
    with np.errstate(under="ignore"):
        x = (rng.standard_normal((rows, cols)) * 3).astype(h)
    first_max = x.astype(F32).argmax(axis=1)
    x[np.arange(rows), first_max] = x.astype(F32).max(axis=1) + 0.5  # one entry at the max
    labels = rng.integers(0, cols, rows)
    for i in range(20, 30):  # confident rows
        x[i] = -40
        x[i, labels[i] if i % 2 else (labels[i] + 1) % cols] = 0
    ties = np.arange(30, 40)
    x[ties, : 3 * cols // 4 : cols // 4] = x[ties, first_max[ties], None]  # up to three more entries at the max
    labels[[5, 17]] = -100  # ignored by the torch layer
    bad = labels.copy()
    bad[[3, 11, 5, 17]] = [cols, -7, 0, 0]  # NaN rows
    wide = np.full((rows, cols + 3), 7, h)
    with np.errstate(all="ignore"):
        want_loss, want_grad = ce.sparse_softmax_cross_entropy_and_grad(x.astype(F32), bad)
        loss = ce.sparse_softmax_cross_entropy_and_grad(x, bad, out=(np.empty(rows, F32), wide[:, 1 : cols + 1]))[0]
        torch_loss, torch_grad = cet.cross_entropy(x, labels, reduction="none", return_grad=True)
        torch_want = cet.cross_entropy(x.astype(F32), labels, reduction="none", return_grad=True)
    assert (wide[:, [0, cols + 1, cols + 2]].astype(F32) == 7).all()
    grad = wide[:, 1 : cols + 1]
    one = np.ones(rows, bool)
    one[ties] = False
    np.testing.assert_array_equal(loss[one], want_loss[one])
    with np.errstate(over="ignore", under="ignore"):
        np.testing.assert_array_equal(grad[one].astype(F32), want_grad[one].astype(h).astype(F32))
        np.testing.assert_array_equal(torch_loss[one].astype(F32), torch_want[0][one].astype(h).astype(F32))
        np.testing.assert_array_equal(torch_grad[one].astype(F32), torch_want[1][one].astype(h).astype(F32))
        assert_close_ulps(loss[ties], want_loss[ties], F32, 2, what="loss, ties at the max")
        assert_close_ulps(grad[ties], want_grad[ties].astype(h), h, 1, what="gradient, ties at the max")
    assert np.isnan(loss[[3, 11]]).all()
    assert (torch_grad[[5, 17]].astype(F32) == 0).all()


def assert_staged_equal_float32(kernel, x, labels, h):
    """The checks of the two tests above: kernel on half rows x equals it on x widened to float32."""
    t = soft_targets(x, h)
    operand = {"transform": (), "dense": (t,), "sparse": (labels,), "elementwise": (t,)}[kernel.family]
    widened = tuple(a.astype(F32) if a.dtype == h else a for a in operand)
    with np.errstate(all="ignore"):
        want = kernel.ufunc(x.astype(F32), *widened)
        got = kernel.ufunc(x, *operand)
        got32 = kernel.ufunc(x, *operand, dtype=np.float32)
    want, got, got32 = (r if isinstance(r, tuple) else (r,) for r in (want, got, got32))
    # the bfloat16 forward of sparse labels and logsumexp read the rows in registers, even and odd entries
    # apart, so their sums add in another order than float32's (src/crossentropy/_ce_exp_table.h)
    reordered = h == BF16 and kernel.name in ("sparse_softmax_cross_entropy", "logsumexp")
    for w, g, g32 in zip(want, got, got32, strict=True):
        assert g32.dtype == F32
        if reordered:
            assert_close_ulps(g32, w, F32, 4, what=f"{kernel.name} {h} (dtype=float32)")
            assert_close_ulps(g, w, F32, 4, what=f"{kernel.name} {h}")
            continue
        np.testing.assert_array_equal(g32, w)
        if g.shape == x.shape and g.dtype != F32:  # N x C (and element-wise gradients): rounded to the half type
            assert g.dtype == h
            with np.errstate(over="ignore", under="ignore"):  # as the kernels round: to +-inf, to subnormals
                np.testing.assert_array_equal(g.astype(F32), w.astype(h).astype(F32))
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("h", HALVES)
def test_staged_class_weights_and_strided_gradient(h):
    """torch class weights (a class vector) and a strided half gradient go through the staged rows too."""
    from crossentropy import torch as cet

    x, labels = half_rows(h, 300)
    keep = np.isfinite(x.astype(np.float64)).all(axis=1)
    x, labels = x[keep], labels[keep]
    with np.errstate(under="ignore"):
        w = (np.random.default_rng(5).random(300) + 0.5).astype(h)
        got = cet.cross_entropy(x, labels, weight=w, reduction="none")
        want = cet.cross_entropy(x.astype(F32), labels, weight=w.astype(F32), reduction="none")
        np.testing.assert_array_equal(got.astype(F32), want.astype(h).astype(F32))
        g = np.zeros((x.shape[0], 2 * x.shape[1]), h)[:, ::2]
        loss = np.empty(x.shape[0], F32)
        ce.sparse_softmax_cross_entropy_and_grad(x, labels, out=(loss, g))
        loss32, g32 = ce.sparse_softmax_cross_entropy_and_grad(x.astype(F32), labels)
        np.testing.assert_array_equal(loss, loss32)
        np.testing.assert_array_equal(g.astype(F32), g32.astype(h).astype(F32))


TARGET_KERNELS = [k for k in _registry.kernels() if k.family in ("dense", "elementwise")]


def _float32_target_layouts(x, t):
    """The same rows as (logits, targets, kwargs): contiguous, strided classes, transposed (the class axis
    first), one target row broadcast to all rows."""
    xs, ts = np.zeros((x.shape[0], 2 * x.shape[1]), x.dtype), np.zeros((t.shape[0], 2 * t.shape[1]), t.dtype)
    xs[:, ::2], ts[:, ::2] = x, t
    return [
        ("contiguous", x, t, {}),
        ("strided", xs[:, ::2], ts[:, ::2], {}),
        ("transposed", np.ascontiguousarray(x.T), np.ascontiguousarray(t.T), {"axis": 0}),
        ("broadcast", x, t[1:2], {}),
    ]


@pytest.mark.parametrize("kernel", TARGET_KERNELS, ids=lambda k: k.name)
@pytest.mark.parametrize("cols", [5, 33, 5000])  # 5: few classes; 5000: longer than a stack scratch row
@pytest.mark.parametrize("h", HALVES)
def test_float32_targets_equal_the_float32_loop(h, cols, kernel):
    """Half logits with float32 targets have their own loops: the logits are widened as they are read, the
    targets read in place (or copied when strided).  Results are float32 (NumPy's promotion of the pair) and
    equal, bit for bit, the float32 loop's on contiguous float32 copies of both, in every layout, into a
    strided out= too."""
    x, _ = half_rows(h, cols)
    t = soft_targets(x, F32)
    assert kernel.ufunc.resolve_dtypes((np.dtype(h), F32) + (None,) * kernel.ufunc.nout)[0] == np.dtype(h)
    for what, xv, tv, kw in _float32_target_layouts(x, t):
        if kernel.family == "elementwise":
            kw = {}
            if what == "transposed":
                xv, tv = x.T, t.T  # strided views
        with np.errstate(all="ignore"):
            want = kernel.ufunc(np.ascontiguousarray(xv, F32), np.ascontiguousarray(tv), **kw)
            got = kernel.ufunc(xv, tv, **kw)
        want, got = (r if isinstance(r, tuple) else (r,) for r in (want, got))
        for w, g in zip(want, got, strict=True):
            assert g.dtype == F32, what
            np.testing.assert_array_equal(g, w, err_msg=what)
    if kernel.with_grad:
        shape = x.shape[:-1] if kernel.family == "dense" else x.shape
        loss, g = np.empty(shape, F32), np.zeros((x.shape[0], 2 * x.shape[1]), F32)[:, ::2]
        with np.errstate(all="ignore"):
            kernel.ufunc(x, t, out=(loss, g))
            want = kernel.ufunc(x.astype(F32), t)
        np.testing.assert_array_equal(loss, want[0])
        np.testing.assert_array_equal(g, want[1])


@pytest.mark.parametrize("h", HALVES)
def test_strided_broadcast_axis_and_inplace(h):
    x, labels = half_rows(h, 37)
    fin = np.isfinite(x.astype(np.float64)).all(axis=1)
    x, labels = x[fin], labels[fin]
    want = ce.sparse_softmax_cross_entropy(x, labels)
    xt = np.ascontiguousarray(x.T)
    np.testing.assert_array_equal(ce.sparse_softmax_cross_entropy(xt, labels, axis=0), want)
    for f in (ce.logsumexp, ce.softmax, ce.log_softmax):  # strided rows are gathered: the contiguous result
        np.testing.assert_array_equal(f(x[:, ::2]), f(np.ascontiguousarray(x[:, ::2])), err_msg=f.__name__)
        np.testing.assert_array_equal(f(x[:, ::-1]), f(np.ascontiguousarray(x[:, ::-1])), err_msg=f.__name__)
    np.testing.assert_array_equal(ce.softmax(xt, axis=0).T, ce.softmax(x))
    # one label row broadcast against many logits rows; targets broadcast along rows
    t = soft_targets(x[:1], h)
    np.testing.assert_array_equal(
        ce.softmax_cross_entropy(x, t), ce.softmax_cross_entropy(x, np.repeat(t, len(x), axis=0))
    )
    y = x.copy()
    ce.softmax(y, out=y)
    np.testing.assert_array_equal(y, ce.softmax(x))


@pytest.mark.parametrize("h", HALVES)
def test_bad_label_signals_invalid(h):
    x = np.zeros((2, 4), h)
    with np.errstate(invalid="ignore"):
        got = ce.sparse_softmax_cross_entropy(x, np.array([1, 9]))
    assert np.isnan(got[1]) and got[0] == pytest.approx(np.log(4))
    with pytest.raises(FloatingPointError):
        ce.sparse_softmax_cross_entropy(x, np.array([1, -1]))


# ---- memory: no cast copy ------------------------------------------------------------------------------
def _peak_extra(f):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = f()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - base, out


@pytest.mark.parametrize("h", HALVES)
def test_no_cast_copy(h):
    with np.errstate(under="ignore"):
        x = np.random.default_rng(0).standard_normal((256, 4096)).astype(h)  # 2 MiB of half logits
    labels = np.arange(256, dtype=np.int64)
    extra, (loss, g) = _peak_extra(lambda: ce.sparse_softmax_cross_entropy_and_grad(x, labels))
    outputs = loss.nbytes + g.nbytes
    assert extra <= outputs + 64 * 1024, (extra, outputs)  # a float32 copy would add 4 MiB
    extra, sm = _peak_extra(lambda: ce.softmax(x, dtype=np.float32))
    assert extra <= sm.nbytes + 64 * 1024, (extra, sm.nbytes)
    t = np.full(x.shape, 1 / 4096, F32)  # float32 targets: the half logits are still read in place
    for f in (ce.softmax_cross_entropy_and_grad, ce.sigmoid_cross_entropy_and_grad):
        extra, (loss, g) = _peak_extra(lambda f=f: f(x, t))
        assert extra <= loss.nbytes + g.nbytes + 64 * 1024, (f.__name__, extra)
    # crossentropy.lm reads both half types directly too (no float32 copies of blocks of rows)
    from crossentropy import lm

    extra, st = _peak_extra(lambda: lm.token_stats(x, labels))
    assert extra <= 4 * 256 * 8 + 64 * 1024, extra
    want = lm.token_stats(x.astype(F32), labels)
    for name in ("nll", "lse", "entropy", "rank"):
        np.testing.assert_array_equal(getattr(st, name), getattr(want, name), err_msg=name)


# ---- bfloat16 registration is lazy ---------------------------------------------------------------------
def _run(code):
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, PYTHONWARNINGS="error::RuntimeWarning"),
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(BF16 is None, reason="ml_dtypes missing")
def test_bfloat16_registered_lazily():
    out = _run(
        "import sys, numpy as np, crossentropy as ce\n"
        "print('eager' if 'ml_dtypes' in sys.modules else 'lazy')\n"
        "import ml_dtypes\n"
        "x = np.zeros((2, 3), ml_dtypes.bfloat16)\n"
        "print(ce.softmax(x).dtype, ce.logsumexp(x).dtype, ce.sparse_softmax_cross_entropy(x, [0, 1]).dtype)\n"
    )
    assert out.split() == ["lazy", "bfloat16", "float32", "float32"]
    out = _run(
        "import numpy as np, ml_dtypes, crossentropy as ce\n"
        "x = np.zeros((2, 3), ml_dtypes.bfloat16)\n"
        "print(ce.softmax_cross_entropy_and_grad(x, x)[1].dtype)\n"
    )
    assert out.split() == ["bfloat16"]


# ---- framework layers against the golden values -------------------------------------------------------
def _golden():
    doc, arrays = goldenio.load("half")

    def arr(key):
        a = arrays[key]
        if a is None:  # a bfloat16 array, and ml_dtypes is not installed
            pytest.skip("ml_dtypes missing")
        return a

    return doc, arr


_META, _ARR = _golden()


def _ours(case, arr):
    """(value, grad) from our layer for a golden case; raises where we refuse the call."""
    inputs = {k: arr(v) for k, v in case["inputs"].items()}
    kwargs = dict(case["kwargs"])
    fw = case["framework"]
    if fw == "keras":
        from crossentropy import keras as K

        if case["kind"] == "class":
            obj = getattr(K, case["name"])(**kwargs)
            return obj(inputs["y_true"], inputs["y_pred"], return_grad=True)
        return getattr(K, case["name"])(inputs["y_true"], inputs["y_pred"], return_grad=True, **kwargs)
    if fw == "torch":
        from crossentropy import torch as T

        return getattr(T, case["name"])(**inputs, **kwargs, return_grad=True)
    from crossentropy import tf as TF

    return getattr(TF, case["name"])(**inputs, **kwargs, return_grad=True)


def _is_float(a):
    return a.dtype.kind == "f" or a.dtype.name == "bfloat16"  # bfloat16's NumPy kind is "V"


def _ours64(case, arr):
    """Our layer on the same values in float64 (a class case with dtype="float64")."""
    c64 = dict(case)
    if case["kind"] == "class":
        c64["kwargs"] = dict(case["kwargs"], dtype="float64")

    def arr64(key):
        a = arr(key)
        compute = case["kwargs"].get("dtype", "") if case["kind"] == "class" else ""
        if "bfloat16" in compute:
            a = np.asarray(a).astype(BF16)
        elif "float16" in compute:
            a = np.asarray(a).astype(np.float16)
        return a.astype(np.float64) if _is_float(a) else a

    with np.errstate(all="ignore"):
        return _ours(c64, arr64)


def _in_range(exact, dtype):
    """The exact values as the dtype can hold them: beyond float16's largest value they round to +-inf."""
    if np.dtype(dtype) != F16:
        return exact
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(exact) >= float(np.finfo(np.float16).max) + 16.0, np.sign(exact) * np.inf, exact)


def _closer_or_equal(ours, fw, exact, ours64, dtype, n_ulps, extra, what):
    """Each entry is at least as close to the framework's float64 result as the framework's own half result
    is, or within ``n_ulps`` of ``dtype`` (+ ``extra``) of it.  Where that float64 result is NaN but ours is
    not (documented differences such as a zero target on a -inf logit), ours equals our own float64 result
    on the same values to the same tolerance."""
    ours = np.asarray(ours).astype(np.float64)
    fw = np.asarray(fw).astype(np.float64)
    exact = _in_range(np.asarray(exact, np.float64), dtype)
    assert ours.shape == exact.shape, f"{what}: shape {ours.shape} != {exact.shape}"
    nan_ours, nan_exact = np.isnan(ours), np.isnan(exact)
    np.testing.assert_array_equal(nan_ours & ~nan_exact, False, err_msg=f"{what}: NaN where float64 is not")
    differs = nan_exact & ~nan_ours
    if differs.any():
        mine = _in_range(np.asarray(ours64(), np.float64), dtype)
        exact = np.where(differs, mine, exact)
        fw = np.where(differs, mine, fw)
    fin = ~np.isnan(exact)
    with np.errstate(invalid="ignore"):
        err_ours = np.abs(ours[fin] - exact[fin])
        err_fw = np.abs(fw[fin] - exact[fin])
    inf = np.isinf(exact[fin])
    err_ours = np.where(inf, np.where(ours[fin] == exact[fin], 0.0, np.inf), err_ours)
    err_fw = np.where(inf | np.isnan(err_fw), np.where(fw[fin] == exact[fin], 0.0, np.inf), err_fw)
    bound = np.maximum(err_fw, n_ulps * ulp(exact[fin], dtype) + extra)
    bad = ~(err_ours <= bound)
    assert not bad.any(), (
        f"{what}: {bad.sum()} entries farther from float64 than the framework: "
        f"ours {ours[fin][bad][:4]} framework {fw[fin][bad][:4]} float64 {exact[fin][bad][:4]}"
    )


@pytest.mark.parametrize("case", _META["cases"], ids=[c["id"] for c in _META["cases"]])
def test_golden_half(case):
    if case["half"] == "bfloat16" and BF16 is None:
        pytest.skip("ml_dtypes missing")
    if case["error"] is not None:
        with pytest.raises((TypeError, ValueError)):
            _ours(case, _ARR)
        return
    with np.errstate(all="ignore"):
        value, grad = _ours(case, _ARR)
    value, grad = np.asarray(value), np.asarray(grad)
    assert value.dtype.name == case["value_dtype"], "result dtype"
    want_grad = case["grad_dtype"]
    pred = case["inputs"].get("y_pred")
    if case["framework"] == "keras" and pred is not None and _ARR(pred).dtype == np.float64:
        want_grad = "float64"  # JAX's 32-bit mode has no float64; our gradient keeps y_pred's dtype (documented)
    assert grad.dtype.name == want_grad, "gradient dtype"
    ours64 = _memo(lambda: _ours64(case, _ARR))
    out_dt = value.dtype if value.dtype.name in NMANT else F32
    _closer_or_equal(
        value,
        _ARR(case["value"]),
        _ARR(case["value64"]),
        lambda: ours64()[0],
        out_dt,
        1 if out_dt != F32 else 4,
        0.0,
        "value",
    )
    g_dt = grad.dtype if grad.dtype.name in NMANT else F32
    _closer_or_equal(grad, _ARR(case["grad"]), _ARR(case["grad64"]), lambda: ours64()[1], g_dt, 1, 4 * 2.0**-24, "grad")


def _memo(f):
    box = []

    def get():
        if not box:
            box.append(f())
        return box[0]

    return get


# ---- Keras' own test_dtype_arg, for the five classes ---------------------------------------------------
DTYPE_ARG = {  # keras/src/losses/losses_test.py, test_dtype_arg of each cross-entropy class
    "BinaryCrossentropy": (
        {},
        [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        np.float32,
        [[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]],
        np.float32,
    ),
    "CategoricalCrossentropy": ({}, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.int64, np.eye(3), np.float32),
    "SparseCategoricalCrossentropy": ({}, [[0], [1], [2]], np.int64, np.eye(3), np.float32),
    "BinaryFocalCrossentropy": ({}, [[1, 0], [1, 0]], np.int64, [[0.9, 0.8], [0.7, 0.2]], np.float32),
    "CategoricalFocalCrossentropy": ({"from_logits": True}, [[1, 0, 0]], np.int64, [[4.9, -0.5, 2.05]], np.float64),
}


@pytest.mark.skipif(BF16 is None, reason="ml_dtypes missing")
@pytest.mark.parametrize("name", list(DTYPE_ARG))
def test_keras_dtype_arg(name):
    from crossentropy import keras as K

    kwargs, yt, yt_dt, yp, yp_dt = DTYPE_ARG[name]
    obj = getattr(K, name)(dtype="bfloat16", **kwargs)
    loss = obj(np.array(yt, yt_dt), np.array(yp, yp_dt))
    assert np.asarray(loss).dtype == BF16


# ---- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("h", HALVES)
def test_non_integer_half_labels_refused(h):
    from crossentropy import keras as K
    from crossentropy import tf as TF
    from crossentropy import torch as T

    x = np.zeros((2, 4), h)
    bad = np.array([0.5, 1.0], h)
    with pytest.raises(ValueError, match="y_true"):
        K.sparse_categorical_crossentropy(bad, x, from_logits=True)
    with pytest.raises((TypeError, ValueError), match="labels"):  # tf.nn wants integer labels at all
        TF.sparse_softmax_cross_entropy_with_logits(labels=bad, logits=x)
    with pytest.raises((TypeError, ValueError), match="target"):
        T.cross_entropy(x, bad)
    # whole-number half labels are class ids
    got = K.sparse_categorical_crossentropy(np.array([0, 3], h), x, from_logits=True)
    np.testing.assert_allclose(np.asarray(got, np.float64), np.log(4), rtol=1e-6)


def test_bfloat16_without_ml_dtypes():
    code = (
        "import sys; sys.modules['ml_dtypes'] = None\n"
        "import numpy as np\n"
        "from crossentropy import keras as K\n"
        "try:\n"
        "    K.CategoricalCrossentropy(dtype='bfloat16')(np.eye(3), np.eye(3))\n"
        "except (ImportError, TypeError, ValueError) as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = _run(code)
    assert "dtype" in out and "ml_dtypes" in out, out


# ---- crossentropy eval on float16 files ---------------------------------------------------------------
def test_cli_eval_float16(tmp_path):
    rng = np.random.default_rng(5)
    with np.errstate(under="ignore"):
        logits = (rng.standard_normal((300, 11)) * 2).astype(np.float16)
    labels = rng.integers(0, 11, 300)
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "labels.npy", labels)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "crossentropy",
            "eval",
            str(tmp_path / "logits.npy"),
            str(tmp_path / "labels.npy"),
            "--loss",
            "sparse_categorical",
            "--from-logits",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    want = np.mean(ref.sparse_softmax_cross_entropy(logits, labels))
    assert res["mean"] == pytest.approx(want, rel=1e-6)
    assert res["dtype"] == "float32"
