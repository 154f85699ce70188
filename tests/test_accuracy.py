"""Accuracy of the softmax losses on a stress set, against an extended-precision reference.

The bar: every loss within 8 ulp (of the result's dtype, at the reference value) of a reference computed from
the same inputs in ``np.longdouble`` (64-bit significand on x86; the module is skipped where longdouble is no
wider than float64).  The stress set is what breaks a careless exp/log: confident rows (losses near 1e-18 and
down in the subnormals), logits of size 1e4, -inf masks, and rows of 262144 classes.

Confident rows whose other logits sit far below a max near 0 are the hard case: x - max rounded in the working
precision would cost about |x - max| / 2 ulp (the condition number of exp at d is |d|); the sweeps reduce x itself
and take the exps relative to a multiple of ln 2 near the max (``ce_exp_rel``), or fold the subtraction's rounding
error back into the exp (``ce_exp_sub``, maxima beyond 16384), and the test below holds them to the same bar.
"""

import platform
import sys

import numpy as np
import pytest
from helpers import run_c_program

import crossentropy as ce

pytestmark = pytest.mark.skipif(
    np.finfo(np.longdouble).nmant < 63, reason="np.longdouble is not wider than float64 here"
)
LD = np.longdouble
ULPS = 8


def _ulp(ref, dtype):
    """The spacing of ``dtype`` at each reference value (the smallest subnormal at 0)."""
    r = np.abs(ref).astype(dtype)
    return np.spacing(r).astype(LD)


def _ulp_error(ours, ref, dtype):
    """|ours - ref| in ulps of ``dtype``; infinities must match exactly (then 0), NaN anywhere fails (inf)."""
    ours = np.asarray(ours)
    out = np.full(ours.shape, np.inf, dtype=LD)
    same_inf = np.isinf(ref) & (ours.astype(LD) == ref)
    fin = np.isfinite(ref) & np.isfinite(ours)
    with np.errstate(all="ignore"):
        out[fin] = np.abs(ours[fin].astype(LD) - ref[fin]) / _ulp(ref[fin], dtype)
    out[same_inf] = 0
    return out


def _reference_lse(x):
    """Row-wise (m, log1p(sum of the non-max terms + extra maxima)) in longdouble: lse = m + L."""
    xl = x.astype(LD)
    m = xl.max(axis=-1, keepdims=True)
    with np.errstate(all="ignore"):
        d = xl - m
        e = np.exp(d)
        rest = np.where(d == 0, 0, e).sum(axis=-1) + ((d == 0).sum(axis=-1) - 1)
        L = np.log1p(rest)
    return m[..., 0], L


def reference_sparse(x, y):
    m, L = _reference_lse(x)
    xy = np.take_along_axis(x, y[:, None], axis=-1)[:, 0].astype(LD)
    with np.errstate(all="ignore"):
        return (m - xy) + L  # both terms >= 0: no cancellation


def reference_logsumexp(x):
    m, L = _reference_lse(x)
    return m + L


def reference_dense(x, t):
    m, L = _reference_lse(x)
    xl, tl = x.astype(LD), t.astype(LD)
    with np.errstate(all="ignore"):
        terms = np.where(tl == 0, 0, tl * ((m[:, None] - xl) + L[:, None]))
    return terms.sum(axis=-1)


def reference_grad(x, y):
    m, L = _reference_lse(x)
    with np.errstate(all="ignore"):
        p = np.exp(x.astype(LD) - (m + L)[:, None])
    p[np.arange(len(y)), y] -= 1
    return p


def stress_set(dtype, rng, gaps=(5,)):
    """(name, logits, labels) cases; labels point at finite logits unless the case says otherwise."""
    dtype = np.dtype(dtype)
    cases = []
    # confident rows: one logit far above the rest, label on it (tiny losses) and off it (loss ~ the gap)
    for gap in gaps:
        if dtype == np.float32 and gap == 700:
            continue
        x = rng.standard_normal((64, 100)).astype(dtype) - dtype.type(gap)
        top = rng.integers(0, 100, 64)
        x[np.arange(64), top] = rng.standard_normal(64)
        y = top.copy()
        y[32:] = (top[32:] + 1) % 100
        cases.append((f"confident gap {gap}", x, y))
    # two-class confident rows: loss exp(-gap), down into the subnormals
    gaps = np.array([1, 10, 30, 50, 80, 87, 90, 100, 103] if dtype == np.float32 else [1, 30, 100, 400, 700, 740])
    x = np.stack([-gaps, np.zeros_like(gaps)], axis=1).astype(dtype)
    cases.append(("two-class exp(-gap)", x, np.ones(len(gaps), dtype=np.int64)))
    # logits of size 1e4: uniform in [-1e4, 1e4], and near-ties at 1e4
    x = rng.uniform(-1e4, 1e4, (64, 1000)).astype(dtype)
    cases.append(("uniform +-1e4", x, rng.integers(0, 1000, 64)))
    x = (1e4 + rng.standard_normal((64, 1000)) * 3).astype(dtype)
    x[::2] *= -1
    cases.append(("near +-1e4", x, rng.integers(0, 1000, 64)))
    # maxima beyond 16384 in magnitude take the guarded sweeps (the clamp-free ones stop there); one row's max is
    # 16384 itself
    x = (4e4 + rng.standard_normal((16, 1000)) * 3).astype(dtype)
    x[::2] *= -1
    x[1] = 16384 - np.abs(rng.standard_normal(1000) * 3).astype(dtype)
    x[1, 0] = 16384
    cases.append(("near +-4e4", x, rng.integers(0, 1000, 16)))
    # -inf masks: most columns masked, labels on kept columns; one row with a single kept column
    x = rng.standard_normal((64, 512)).astype(dtype) * 4
    keep = rng.random((64, 512)) < 0.1
    keep[np.arange(64), rng.integers(0, 512, 64)] = True
    keep[0] = False
    keep[0, 7] = True
    x[~keep] = -np.inf
    y = np.array([rng.choice(np.flatnonzero(k)) for k in keep])
    cases.append(("-inf masks", x, y))
    # a label on a masked column: the loss is +inf
    cases.append(("label on -inf", x[1:3].copy(), np.array([np.flatnonzero(~keep[1])[0], np.flatnonzero(~keep[2])[0]])))
    # ties at the max (the sweeps count them per block of exps): a few, in a confident row; half the row, the
    # other half one ulp below; most of the row, the rest far below
    c = 3000
    x = rng.uniform(-60, -30, (3, c)).astype(dtype)
    x[0, rng.choice(c, 7, replace=False)] = dtype.type(2.5)
    x[1] = dtype.type(7.25)
    x[1, ::2] = np.nextafter(dtype.type(7.25), dtype.type(0))
    x[2, : c - 5] = dtype.type(-3.0)
    cases.append(("ties at the max", x, np.array([int(np.argmax(x[0])), 1, c - 1])))
    # vocabulary-sized rows: 262144 classes, plain, confident, and mixed scale
    c = 262144
    x = rng.standard_normal((6, c)).astype(dtype) * dtype.type(3)
    x[1] -= 30
    x[1, 5] = 0
    x[2] *= 100
    x[3] = np.linspace(-50, 50, c, dtype=dtype)
    x[4, ::3] = -np.inf
    x[5] = dtype.type(1.5)
    cases.append(("262144 classes", x, np.array([0, 5, 17, c - 1, 1, 12345])))
    return cases


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_loss_within_8_ulp(dtype):
    rng = np.random.default_rng(20261201)
    for name, x, y in stress_set(dtype, rng):
        ref = reference_sparse(x, y)
        err = _ulp_error(ce.sparse_softmax_cross_entropy(x, y), ref, dtype)
        assert err.max() <= ULPS, f"{name}: {err.max():.1f} ulp at row {int(err.argmax())}"
        loss, _ = ce.sparse_softmax_cross_entropy_and_grad(x, y)
        err = _ulp_error(loss, ref, dtype)
        assert err.max() <= ULPS, f"{name} (fused): {err.max():.1f} ulp at row {int(err.argmax())}"


@pytest.mark.parametrize(
    ("dtype", "gap"), [(np.float32, g) for g in (20, 40, 80)] + [(np.float64, g) for g in (20, 40, 80, 100, 700)]
)
def test_confident_rows_within_8_ulp(dtype, gap):
    rng = np.random.default_rng(gap)
    ((name, x, y),) = [c for c in stress_set(dtype, rng, gaps=(gap,)) if c[0].startswith("confident")]
    err = _ulp_error(ce.sparse_softmax_cross_entropy(x, y), reference_sparse(x, y), dtype)
    assert err.max() <= ULPS, f"{name}: {err.max():.1f} ulp at row {int(err.argmax())}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_loss_and_logsumexp_within_8_ulp(dtype):
    rng = np.random.default_rng(7)
    for name, x, y in stress_set(dtype, rng):
        if name == "label on -inf":
            continue
        t = np.zeros_like(x)
        t[np.arange(len(y)), y] = 1
        err = _ulp_error(ce.softmax_cross_entropy(x, t), reference_dense(x, t), dtype)
        assert err.max() <= ULPS, f"{name} (dense one-hot): {err.max():.1f} ulp at row {int(err.argmax())}"
        # lse = max + log(sum): near 0 it is a cancellation, so its error is counted at the larger of the two
        ref = reference_logsumexp(x)
        scale = np.maximum(np.abs(ref), np.abs(x.max(axis=1).astype(LD)))
        ours = ce.logsumexp(x)
        err = _ulp_error(ours, ref, dtype)
        fin = np.isfinite(ref)
        with np.errstate(all="ignore"):
            err[fin] = np.abs(ours[fin].astype(LD) - ref[fin]) / _ulp(scale[fin], dtype)
        assert err.max() <= ULPS, f"{name} (logsumexp): {err.max():.1f} ulp at row {int(err.argmax())}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_grad_within_16_ulp_plus_conditioning(dtype):
    """Gradient entries p_j - [j == y]: within 16 + |x_j - max| ulp of the reference (of 1 on the label column);
    the |x_j - max| term is the rounding of x_j - max, amplified by the exp; 16, not 8, because p_j = e_j / s
    also carries the rounding of the sum s over the row (its order follows the vector width)."""
    rng = np.random.default_rng(3)
    for name, x, y in stress_set(dtype, rng):
        if name == "label on -inf":
            continue
        _, g = ce.sparse_softmax_cross_entropy_and_grad(x, y)
        ref = reference_grad(x, y)
        scale = np.abs(ref)
        scale[np.arange(len(y)), y] = 1  # p_y - 1 is computed next to 1
        with np.errstate(all="ignore"):
            err = np.abs(g.astype(LD) - ref) / _ulp(scale, dtype)
            cond = np.abs(x.astype(LD) - x.max(axis=1, keepdims=True))
        err = np.where(np.isfinite(cond), err - cond, err)
        at = np.unravel_index(int(err.argmax()), err.shape)
        assert err.max() <= 2 * ULPS, f"{name}: {err.max():.1f} ulp over the bound at {at}"


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or sys.platform != "linux", reason="the x86-64 paths: Linux"
)
def test_table_exp(tmp_path):
    """The AVX-512 and AVX2 paths' table exps (float32 rows) stay within 2 ulp of exp() in double over the
    clamp's range, keep NaN and -inf, and their masked tails sum what the row holds; the float16 and bfloat16
    blocks give the float32 block's results on the widened values (tests/c/exp_table.c)."""
    rc, out = run_c_program(tmp_path, "exp_table", "-O2")
    if rc == 77:
        pytest.skip("no AVX2 on this CPU")
    assert rc == 0, out
