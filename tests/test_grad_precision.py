"""Gradients keep their relative precision on confident rows: p - 1 and sigmoid(x) - z are computed without
cancellation, so every softmax and sigmoid gradient is within 8 ulp of a high-precision reference (API.md,
``return_grad``: the exact derivative, correctly rounded, wins where the frameworks round to 0).  The reference
is written in extended precision (np.longdouble) in cancellation-free form."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crossentropy as ce
from crossentropy import _registry
from crossentropy import keras as K
from crossentropy import tf as ctf
from crossentropy import torch as ct

LD = np.longdouble
pytestmark = pytest.mark.skipif(np.finfo(LD).nmant < 63, reason="needs an extended-precision long double")

ULP = 8
MARGIN = {np.float32: 80.0, np.float64: 700.0}  # largest margin the contract covers
DTYPES = (np.float32, np.float64)


def ulps(got, ref, dtype):
    """|got - ref| in units of the spacing of ref (rounded to dtype); an exact 0 must be hit exactly."""
    got, ref = np.asarray(got, LD), np.asarray(ref, LD)
    spacing = np.spacing(np.abs(ref.astype(dtype))).astype(LD)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(got - ref) / spacing
    return np.where(ref == 0, np.where(got == 0, 0.0, np.inf), err)


def assert_ulps(got, ref, dtype, bound=ULP):
    err = ulps(got, ref, dtype)
    worst = np.unravel_index(np.argmax(err), err.shape) if err.size else ()
    assert err.max(initial=0) <= bound, (
        f"{err.max():.3g} ulp at {worst}: got {np.asarray(got)[worst]!r}, exact {np.asarray(ref)[worst]!r}"
    )


def softmax_grad_ref(x, t, K_=None):
    """r = 1: (K p_j - t_j) per row, K = sum(t) (or TF's 1), as (e_j (K - t_j) - t_j sum_{k != j} e_k) / s."""
    x, t = np.asarray(x, LD), np.broadcast_to(np.asarray(t, LD), np.shape(x))
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    s = e.sum(axis=-1, keepdims=True)
    k = t.sum(axis=-1, keepdims=True) if K_ is None else LD(K_)
    # sum_{k != j} e_k as (how many others are at the max) + (the sum of the smaller ones), and the max terms
    # combined first, so that ties at the max cancel exactly before the tiny rest is added
    ones = np.stack([(np.delete(e, j, axis=-1) == 1).sum(axis=-1) for j in range(x.shape[-1])], -1)
    small = np.stack(
        [np.where(np.delete(e, j, axis=-1) == 1, 0, np.delete(e, j, axis=-1)).sum(axis=-1) for j in range(x.shape[-1])],
        -1,
    )
    return ((e * (k - t) - t * ones) - t * small) / s


def sigmoid_grad_ref(x, z, pw=1):
    """(1 - z) sigmoid(x) - pw z sigmoid(-x)."""
    x, z, pw = (np.asarray(a, LD) for a in (x, z, pw))
    return (1 - z) / (1 + np.exp(-x)) - pw * z / (1 + np.exp(x))


def onehot(labels, n, dtype):
    return np.eye(n, dtype=dtype)[labels]


def confident_rows(dtype, n, rng):
    """Rows [margin at one place, small logits elsewhere], ties at the max, the label on and off the max."""
    top = MARGIN[dtype]
    rows, labels = [], []
    for margin in (0.5, 5.0, 15.0, 20.0, 40.0, top / 2, top):
        for where in range(min(n, 3)):
            x = rng.uniform(-2, 0, n)
            x[where] = margin
            rows.append(x)
            labels.append(where)
            rows.append(x.copy())
            labels.append((where + 1) % n)  # label off the max
            if n > 2:
                x = x.copy()
                x[(where + 1) % n] = margin  # a tie at the max
                rows.append(x)
                labels.append(where)
    return np.array(rows, dtype), np.array(labels)


# ---- the numbers -------------------------------------------------------------------------------------
def test_sparse_label_entry_of_a_confident_row():
    _, g = ce.sparse_softmax_cross_entropy_and_grad(np.array([[20.0, 0, 0]], np.float32), np.array([0]))
    assert g[0, 0] != 0
    np.testing.assert_allclose(g[0, 0], -4.1223072e-09, rtol=1e-6)
    assert_ulps(g, softmax_grad_ref([[20.0, 0, 0]], [[1, 0, 0]]), np.float32)


@pytest.mark.parametrize("x, exact", [(20.0, -2.0611537e-09), (15.0, -3.0590232e-07)])
def test_sigmoid_gradient_at_z_1(x, exact):
    _, g = ce.sigmoid_cross_entropy_and_grad(np.float32(x), np.float32(1))
    np.testing.assert_allclose(g, exact, rtol=1e-6)
    assert_ulps(g, sigmoid_grad_ref(x, 1), np.float32)


# ---- every registry kernel with a gradient -------------------------------------------------------------------
GRAD_KERNELS = [k for k in _registry.kernels(with_grad=True)]


def _kernel_grad(kern, x, labels, dtype):
    if kern.family == "sparse":
        return kern.ufunc(x, labels)[1], softmax_grad_ref(x, onehot(labels, x.shape[-1], dtype))
    if kern.family == "dense":
        t = onehot(labels, x.shape[-1], dtype)
        return kern.ufunc(x, t)[1], softmax_grad_ref(x, t)
    z = (labels % 2).astype(dtype)
    xs = x[:, 0]
    return kern.ufunc(xs, z)[1], sigmoid_grad_ref(xs, z)


def test_registry_has_grad_kernels():
    assert {k.family for k in GRAD_KERNELS} >= {"dense", "sparse", "elementwise"}


@pytest.mark.parametrize("n", [2, 3, 40, 100])  # 40 classes: the few-class block kernel; 100: the row sweeps
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kern", GRAD_KERNELS, ids=lambda k: k.name)
def test_registry_kernels_confident_rows(kern, dtype, n):
    assert dtype in kern.dtypes
    x, labels = confident_rows(dtype, n, np.random.default_rng(n))
    got, ref = _kernel_grad(kern, x, labels, dtype)
    assert_ulps(got, ref, dtype)
    if kern.family == "elementwise":  # both signs, both targets
        xs = np.concatenate([x[:, 0], -x[:, 0]])
        for z in (0, 1):
            assert_ulps(kern.ufunc(xs, dtype(z))[1], sigmoid_grad_ref(xs, z), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kern", [k for k in GRAD_KERNELS if k.family != "elementwise"], ids=lambda k: k.name)
def test_registry_kernels_strided_rows(kern, dtype):
    """The class axis first (axis=0): the strided-block kernel takes the same fix."""
    x, labels = confident_rows(dtype, 5, np.random.default_rng(1))
    got, ref = _kernel_grad(kern, x, labels, dtype)
    xt = np.ascontiguousarray(x.T)
    if kern.family == "sparse":
        got_t = kern.ufunc(xt, labels, axes=[(0,), (), (), (0,)])[1]
    else:
        got_t = kern.ufunc(xt, np.ascontiguousarray(onehot(labels, 5, dtype).T), axes=[(0,), (0,), (), (0,)])[1]
    assert_ulps(got_t.T, ref, dtype)
    assert_ulps(got, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_scaled_and_weighted_targets(dtype):
    """sum(t) != 1 (a scaled one-hot row) keeps the max entry exact; so do sample-weighted sparse rows."""
    x, labels = confident_rows(dtype, 4, np.random.default_rng(2))
    t = (onehot(labels, 4, dtype) * dtype(2.5)).astype(dtype)
    assert_ulps(ce.softmax_cross_entropy_and_grad(x, t)[1], softmax_grad_ref(x, t), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_change_elsewhere_beyond_rounding(dtype):
    """General targets (no confident cancellation): error bounded by the terms' size, as before the fix."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((200, 6)) * 4).astype(dtype)
    t = rng.random((200, 6)).astype(dtype)
    got = ce.softmax_cross_entropy_and_grad(x, t)[1]
    ref = softmax_grad_ref(x, t)
    p = np.exp(np.asarray(x, LD) - np.log(np.exp(np.asarray(x, LD)).sum(-1, keepdims=True)))
    scale = p * np.asarray(t, LD).sum(-1, keepdims=True) + np.asarray(t, LD)
    eps = LD(np.finfo(dtype).eps)
    assert np.all(np.abs(got - ref) <= ULP * eps * scale)
    z = rng.random(500).astype(dtype)
    xs = (rng.standard_normal(500) * 10).astype(dtype)
    g = ce.sigmoid_cross_entropy_and_grad(xs, z)[1]
    sig = 1 / (1 + np.exp(-np.asarray(xs, LD)))
    assert np.all(np.abs(g - sigmoid_grad_ref(xs, z)) <= ULP * eps * (sig + np.asarray(z, LD)))


# ---- hypothesis: any confident row ---------------------------------------------------------------------------
@st.composite
def confident_row(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n = draw(st.integers(2, 9))
    top = draw(st.integers(0, n - 1))
    margin = draw(st.floats(0, MARGIN[dtype]))
    rest = draw(st.lists(st.floats(-3, 0), min_size=n, max_size=n))
    x = np.array(rest, dtype)
    x[top] = dtype(margin)
    ties = draw(st.lists(st.integers(0, n - 1), max_size=2))
    x[ties] = x[top]
    label = draw(st.sampled_from([top, draw(st.integers(0, n - 1))]))
    return dtype, x, label


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(confident_row())
def test_hypothesis_softmax_rows(case):
    dtype, x, label = case
    t = onehot(np.array([label]), x.size, dtype)
    ref = softmax_grad_ref(x[None], t)
    assert_ulps(ce.sparse_softmax_cross_entropy_and_grad(x[None], np.array([label]))[1], ref, dtype)
    assert_ulps(ce.softmax_cross_entropy_and_grad(x[None], t)[1], ref, dtype)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(DTYPES), st.floats(-1, 1), st.integers(0, 1), st.floats(0.1, 10))
def test_hypothesis_sigmoid(dtype, frac, z, pw):
    x = np.array([frac * MARGIN[dtype]], dtype)
    zz = np.array([z], dtype)
    assert_ulps(ce.sigmoid_cross_entropy_and_grad(x, zz)[1], sigmoid_grad_ref(x, zz), dtype)
    pwd = np.array([pw], dtype)
    if x[0] == 0:  # TF's subgradient quirk at 0 (1 - z), kept as TF has it
        return
    assert_ulps(
        ctf.weighted_cross_entropy_with_logits(zz, x, pwd, return_grad=True)[1], sigmoid_grad_ref(x, zz, pwd), dtype
    )


# ---- the framework layers --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_tf_layers(dtype):
    x, labels = confident_rows(dtype, 3, np.random.default_rng(4))
    t = onehot(labels, 3, dtype)
    ref = softmax_grad_ref(x, t)
    assert_ulps(ctf.softmax_cross_entropy_with_logits(t, x, return_grad=True)[1], ref, dtype)
    assert_ulps(ctf.sparse_softmax_cross_entropy_with_logits(labels, x, return_grad=True)[1], ref, dtype)
    # TF's op gradient softmax - labels for labels that do not sum to 1 (API.md): the max entry exact too
    t2 = (t * dtype(0.5)).astype(dtype)
    assert_ulps(ctf.softmax_cross_entropy_with_logits(t2, x, return_grad=True)[1], softmax_grad_ref(x, t2, 1), dtype)
    xs, z = x[:, 0], (labels == 0).astype(dtype)
    assert_ulps(ctf.sigmoid_cross_entropy_with_logits(z, xs, return_grad=True)[1], sigmoid_grad_ref(xs, z), dtype)
    pw = dtype(3)
    assert_ulps(
        ctf.weighted_cross_entropy_with_logits(z, xs, pw, return_grad=True)[1], sigmoid_grad_ref(xs, z, pw), dtype
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_layers(dtype):
    x, labels = confident_rows(dtype, 3, np.random.default_rng(5))
    t = onehot(labels, 3, dtype)
    ref = softmax_grad_ref(x, t)
    assert_ulps(ct.cross_entropy(x, labels, reduction="sum", return_grad=True)[1], ref, dtype)
    assert_ulps(ct.cross_entropy(x, t, reduction="sum", return_grad=True)[1], ref, dtype)
    w = np.array([0.5, 2.0, 3.0], dtype)
    tw = (t * w).astype(dtype)
    assert_ulps(
        ct.cross_entropy(x, labels, weight=w, reduction="sum", return_grad=True)[1], softmax_grad_ref(x, tw), dtype
    )
    xs, z = x[:, 0], (labels == 0).astype(dtype)
    assert_ulps(
        ct.binary_cross_entropy_with_logits(xs, z, reduction="sum", return_grad=True)[1], sigmoid_grad_ref(xs, z), dtype
    )
    pw = np.array([3.0], dtype)
    assert_ulps(
        ct.binary_cross_entropy_with_logits(xs, z, reduction="sum", pos_weight=pw, return_grad=True)[1],
        sigmoid_grad_ref(xs, z, pw),
        dtype,
    )


def focal_grad_ref(x, z, gamma=2.0):
    """d/dx of Keras' binary focal loss on sigmoid(x) where the clip is not active, in extended precision."""
    x, z = np.asarray(x, LD), np.asarray(z, LD)
    pr, qr = 1 / (1 + np.exp(-x)), 1 / (1 + np.exp(x))
    om = z * qr + (1 - z) * pr
    bce = z * np.log1p(np.exp(-x)) + (1 - z) * np.log1p(np.exp(x))
    dbce = -z / pr + (1 - z) / qr
    dff = -gamma * om ** (gamma - 1) * (2 * z - 1)
    return (dff * bce + om**gamma * dbce) * pr * qr


@pytest.mark.parametrize("dtype", DTYPES)
def test_keras_layers(dtype):
    x, labels = confident_rows(dtype, 3, np.random.default_rng(6))
    t = onehot(labels, 3, dtype)
    ref = softmax_grad_ref(x, t)
    assert_ulps(K.categorical_crossentropy(t, x, from_logits=True, return_grad=True)[1], ref, dtype)
    assert_ulps(K.sparse_categorical_crossentropy(labels, x, from_logits=True, return_grad=True)[1], ref, dtype)
    xs, z = x[:, :1], (labels[:, None] == 0).astype(dtype)  # one column: Keras' mean over it is the element
    assert_ulps(K.binary_crossentropy(z, xs, from_logits=True, return_grad=True)[1], sigmoid_grad_ref(xs, z), dtype)
    # focal from logits: where the clip at 1e-7 is inactive (|x| < 16), sigmoid(-x) kept exact
    xf = np.linspace(-15, 15, 61).astype(dtype)[:, None]
    for zf in (0, 1):
        zz = np.full_like(xf, zf)
        got = K.binary_focal_crossentropy(zz, xf, from_logits=True, return_grad=True)[1]
        assert_ulps(got, focal_grad_ref(xf, zz), dtype, bound=16)  # a longer formula: a few more roundings


def lse_parts(x):
    """Each row's max m, ties at it, the sum of the other exps and L = lse - m, in extended precision (keepdims):
    L as log1p of the sum less 1, since log of a sum near 1 loses digits even in long double (40 float64 ulp
    of a confident row's loss)"""
    x = np.asarray(x, LD)
    m = x.max(axis=-1, keepdims=True)
    e = np.exp(x - m)
    ties = (e == 1).sum(axis=-1, keepdims=True)
    rest = np.where(e == 1, 0, e).sum(axis=-1, keepdims=True)
    return m, ties, rest, np.log1p(rest + (ties - 1))


# ---- the few-class block kernel (rows up to 96 classes: ce_block_takes; 64 rows to a block) --------------
# the limits: dense 48 (AVX2), 64; sparse 96; float64 39, and 59 (AVX2) / 63 where the rows have a tail (41,
# 63); dense float64 32, and 39 where the rows have a tail
@pytest.mark.parametrize("n", [1, 5, 33, 40, 41, 48, 49, 63, 64, 65, 96, 97])
@pytest.mark.parametrize("rows", [3, 64, 131])  # one short block; one full; two full and a short one
@pytest.mark.parametrize("dtype", DTYPES)
def test_few_class_blocks_any_row_stride(dtype, rows, n):
    """Losses and gradients within 8 ulp for rows read and written at any row stride (views of wider arrays,
    out= rows wider than the classes), sparse and dense, confident rows among ordinary ones."""
    rng = np.random.default_rng(rows * 100 + n)
    xc, lc = confident_rows(dtype, n, rng)
    x = np.concatenate([xc, (rng.standard_normal((rows, n)) * 4).astype(dtype)])[:rows]  # confident rows first
    labels = np.concatenate([lc, rng.integers(0, n, rows)])[:rows]
    t = onehot(labels, n, dtype)
    wide = np.zeros((rows, n + 3), dtype)
    wide[:, 1 : n + 1] = x
    xv = wide[:, 1 : n + 1]  # row stride n + 3 elements, rows starting at an odd element
    gout = np.full((rows, n + 5), 7.0, dtype)
    ref_g = softmax_grad_ref(x, t)
    m, _, _, L = lse_parts(x)
    ref_loss = (m[:, 0] - np.asarray(x, LD)[np.arange(rows), labels]) + L[:, 0]  # a confident row's loss is L
    for xin in (x, xv):
        loss, g = ce.sparse_softmax_cross_entropy_and_grad(xin, labels, out=(np.empty(rows, dtype), gout[:, 2 : n + 2]))
        assert_ulps(g, ref_g, dtype)
        assert_ulps(loss, ref_loss, dtype)
        assert np.all(gout[:, :2] == 7) and np.all(gout[:, n + 2 :] == 7)  # nothing written beside the rows
        loss_d, g_d = ce.softmax_cross_entropy_and_grad(xin, t)
        assert_ulps(g_d, ref_g, dtype)
        assert_ulps(loss_d, ref_loss, dtype)
        assert_ulps(ce.sparse_softmax_cross_entropy(xin, labels), ref_loss, dtype)


@pytest.mark.parametrize("n", [5, 40, 96])
@pytest.mark.parametrize("dtype", DTYPES)
def test_few_class_blocks_special_rows(dtype, n):
    """Rows of a block that are not computed -- an ignored label (torch), a NaN, +inf, all -inf -- get the
    values the row sweeps give them, and leave their neighbours' values alone."""
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((70, n)) * 3).astype(dtype)
    labels = rng.integers(0, n, 70)
    x[3, 1] = np.nan
    x[4, 2] = np.inf
    x[5] = -np.inf
    x[6, 1:] = -np.inf  # one finite entry: loss 0 at its label
    labels[6] = 0
    labels[[7, 66]] = -100
    loss, g = ct.cross_entropy(x, labels, reduction="none", return_grad=True)
    for i in (3, 4, 5):
        assert np.isnan(loss[i]) and np.all(np.isnan(g[i]))
    assert loss[6] == 0 and np.all(g[6] == 0)
    assert loss[7] == 0 and loss[66] == 0 and np.all(g[[7, 66]] == 0)
    ok = np.setdiff1d(np.arange(70), [3, 4, 5, 6, 7, 66])
    want_loss, want_g = ce.sparse_softmax_cross_entropy_and_grad(x[ok], labels[ok])
    np.testing.assert_array_equal(loss[ok], want_loss)
    np.testing.assert_array_equal(g[ok], want_g)


def transform_refs(x):
    """logsumexp, softmax and log_softmax of finite rows in extended precision"""
    m, ties, rest, L = lse_parts(x)
    x = np.asarray(x, LD)
    e = np.exp(x - m)
    return (m + L)[:, 0], e / (ties + rest), (x - m) - L


@pytest.mark.parametrize("n", [1, 5, 8, 9, 32, 33, 40, 41, 48, 49, 63, 64, 65, 96, 97])  # limits: 8, 32, 39-63, 96
@pytest.mark.parametrize("rows", [3, 64, 131])  # one short block; one full; two full and a short one
@pytest.mark.parametrize("dtype", DTYPES)
def test_few_class_transform_blocks(dtype, rows, n):
    """logsumexp, softmax and log_softmax of few classes (blocks of rows): within 8 ulp, confident rows among
    ordinary ones, rows read and written at any row stride, classes along axis 0, and softmax in place."""
    rng = np.random.default_rng(rows * 100 + n)
    xc, _ = confident_rows(dtype, n, rng)
    x = np.concatenate([xc, (rng.standard_normal((rows, n)) * 4).astype(dtype)])[:rows]  # confident rows first
    want = transform_refs(x)
    wide = np.zeros((rows, n + 3), dtype)
    wide[:, 1 : n + 1] = x
    xv = wide[:, 1 : n + 1]  # row stride n + 3 elements, rows starting at an odd element
    for xin, axis in ((x, -1), (xv, -1), (np.ascontiguousarray(x.T), 0)):
        yout = np.full((n + 5, rows) if axis == 0 else (rows, n + 5), 7.0, dtype)
        for f, ref in zip((ce.softmax, ce.log_softmax), want[1:], strict=True):
            part = yout[2 : n + 2] if axis == 0 else yout[:, 2 : n + 2]
            got = f(xin, axis=axis, out=part)
            assert_ulps(got.T if axis == 0 else got, ref, dtype)
            assert np.all(np.delete(yout, np.s_[2 : n + 2], axis=axis) == 7)  # nothing written beside the rows
        assert_ulps(ce.logsumexp(xin, axis=axis), want[0], dtype)
    y = x.copy()
    ce.softmax(y, out=y)
    np.testing.assert_array_equal(y, ce.softmax(x))


@pytest.mark.parametrize("n", [5, 40, 96])
@pytest.mark.parametrize("dtype", DTYPES)
def test_few_class_transform_blocks_special_rows(dtype, n):
    """Rows of a block whose max is not finite, or that hold a NaN, get the values the frameworks give them
    and leave their neighbours' values alone: logsumexp NaN, +inf or -inf, softmax and log_softmax NaN; a row
    with one finite entry gives softmax 1 there."""
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((70, n)) * 3).astype(dtype)
    x[3, 1] = np.nan
    x[4, 2] = np.inf
    x[5] = -np.inf
    x[6, 1:] = -np.inf
    x[8, 2] = np.inf
    x[8, 0] = np.nan
    x[9] = 2.5  # all equal
    lse, sm, lsm = ce.logsumexp(x), ce.softmax(x), ce.log_softmax(x)
    assert np.isnan(lse[3]) and lse[4] == np.inf and lse[5] == -np.inf and lse[6] == x[6, 0] and np.isnan(lse[8])
    for i in (3, 4, 5, 8):
        assert np.all(np.isnan(sm[i])) and np.all(np.isnan(lsm[i]))
    assert sm[6, 0] == 1 and np.all(sm[6, 1:] == 0) and lsm[6, 0] == 0 and np.all(lsm[6, 1:] == -np.inf)
    np.testing.assert_array_equal(sm[9], np.full(n, 1 / dtype(n), dtype))
    ok = np.setdiff1d(np.arange(70), [3, 4, 5, 6, 8])
    want = transform_refs(x[ok])
    assert_ulps(lse[ok], want[0], dtype)
    assert_ulps(sm[ok], want[1], dtype)
    assert_ulps(lsm[ok], want[2], dtype)
