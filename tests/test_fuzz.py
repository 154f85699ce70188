"""Fuzzing: every public entry point over random shapes, dtypes, strides, options, values and thread counts.

Each example builds its inputs (values from a NumPy generator seeded by hypothesis, so large arrays are
cheap), calls the function twice -- with one thread, and with two threads forced on however small the input
(``_set_min_work_per_thread(1)``) -- and requires

* the same result bit for bit from both calls;
* the result of a plain NumPy formula (``crossentropy._reference`` for the gufuncs, a few lines of NumPy for
  the framework layers) within a rounding tolerance, NaN exactly where the formula has NaN; or the
  documented exception (an out-of-range class index: IndexError naming the argument; torch's BCE on
  values outside [0, 1]: ValueError), or the documented NaN plus "invalid" signal of the gufuncs;
* inputs left unchanged.

The default run is short (~20 s).  The long campaign (>= 100,000 calls, counted and printed) is
``python -m pytest -m slow tests/test_fuzz.py -s -p no:cacheprovider`` (see docs/hardening.md).
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crossentropy as ce
from crossentropy import _kernels, _registry
from crossentropy import _reference as ref
from crossentropy import keras as ck
from crossentropy import tf as ctf
from crossentropy import torch as ct

CALLS = {"n": 0}
# the default run is derandomized (the same examples every run, so CI is reproducible); the long one is not
SHORT = dict(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
LONG_CALLS = 100_000


@pytest.fixture(autouse=True)
def _restore_threads():
    yield
    ce.set_num_threads(None)
    _kernels._set_min_work_per_thread(None)


# ---- inputs -----------------------------------------------------------------------------------------------
EXTREMES = {
    np.float32: [-1e4, 1e4, 88.0, -88.0, -104.0, 30.0, 0.0, -0.0, 1e-30],
    np.float64: [-1e4, 1e4, 709.0, -745.0, 1e-300, 0.0, -0.0, 300.0, -300.0],
}


def values(rng, shape, dtype, regime):
    """Random floats of ``shape``: regime 0 modest, 1 wide, 2 with extremes, 3 with NaN / +-inf too."""
    x = rng.standard_normal(shape) * (3.0 if regime == 0 else 30.0)
    if regime >= 2 and x.size:
        hit = rng.random(shape) < 0.2
        x[hit] = rng.choice(EXTREMES[dtype], size=int(hit.sum()))
    if regime >= 3 and x.size:
        hit = rng.random(shape) < 0.08
        x[hit] = rng.choice([np.nan, np.inf, -np.inf, -np.inf], size=int(hit.sum()))
    return x.astype(dtype)


def layout(rng, a, kind):
    """The same values in another memory layout: 0 C order, 1 Fortran, 2 reversed (negative strides),
    3 every other element of a larger array, 4 rows broadcast from the first one (stride 0)."""
    if kind == 1:
        return np.asfortranarray(a)
    if kind == 2 and a.ndim:
        big = np.empty_like(a)[(slice(None, None, -1),) * a.ndim]
        big[...] = a
        return big
    if kind == 3 and a.ndim:
        big = np.empty(a.shape[:-1] + (2 * a.shape[-1] + 1,), a.dtype)
        big[..., 1::2] = a
        return big[..., 1::2]
    if kind == 4 and a.ndim >= 2 and a.shape[0]:
        return np.broadcast_to(a[:1], a.shape)
    return a


@st.composite
def problems(draw, families):
    """(family, seed, dtype, shape, regime, layouts, options) -- the arrays are made from the seed."""
    family = draw(st.sampled_from(families))
    n = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 13, 64, 65, 130]))
    c = draw(st.sampled_from([0, 1, 2, 3, 5, 10, 32, 33, 100, 1025]))
    extra = draw(st.sampled_from([(), (), (), (2,), (1, 3)]))
    return {
        "family": family,
        "seed": draw(st.integers(0, 2**32 - 1)),
        "dtype": draw(st.sampled_from([np.float32, np.float64])),
        "n": n,
        "c": c,
        "extra": extra,
        "regime": draw(st.sampled_from([0, 0, 1, 2, 3])),
        "layouts": draw(st.lists(st.integers(0, 4), min_size=4, max_size=4)),
        "threads": draw(st.sampled_from([2, 2, 3])),
        "opt": draw(
            st.fixed_dictionaries(
                {
                    "reduction": st.sampled_from(["mean", "sum", "none"]),
                    "grad": st.booleans(),
                    "smoothing": st.sampled_from([0.0, 0.0, 0.1, 1.0, -0.5]),
                    "weight": st.booleans(),
                    "ignore": st.sampled_from([None, -100, 0, 2]),
                    "bad_label": st.sampled_from([None, None, None, -1, "C", 2**40]),
                    "label32": st.booleans(),
                    "from_logits": st.booleans(),
                    "axis": st.sampled_from([-1, 0, 1]),
                    "soft": st.booleans(),
                }
            )
        ),
    }


# ---- comparison ---------------------------------------------------------------------------------------------
def assert_close(got, want, dtype, scale=0.0):
    """NaN exactly where ``want`` is NaN, infinities equal, finite values within the dtype's rounding of
    ``|want| + scale`` (scale: the magnitude of the terms that cancelled)."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    assert np.array_equal(nan_got, nan_want), f"NaN positions differ:\n{got}\n{want}"
    inf = np.isinf(want)
    assert np.array_equal(got[inf], want[inf]), "infinities differ"
    fin = np.isfinite(want)
    assert np.isfinite(got[fin]).all(), "finite value expected"
    tol = 5e-5 if dtype == np.float32 else 1e-10
    scale = np.nan_to_num(np.asarray(scale, np.float64), nan=0.0, posinf=0.0)  # undefined: no allowance
    bound = tol * (np.abs(want) + np.broadcast_to(scale, want.shape) + 1e-30)
    with np.errstate(all="ignore"):
        err = np.where(fin, np.abs(got - want), 0.0)
    assert (err[fin] <= bound[fin]).all(), f"max error {np.max(err[fin] - bound[fin])}:\n{got}\n{want}"


def assert_identical(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=False):
            assert_identical(x, y)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True), "results differ between thread counts"
    # the same bits: equal_nan ignores the sign of zero and NaN payloads
    assert a.tobytes() == b.tobytes(), "results differ in their bits between thread counts"


def twice(p, fn, *args, **kwargs):
    """Call with one thread and with p["threads"] threads forced on; both must agree bitwise (or raise the
    same exception).  Inputs must be unchanged.  Returns the result (or raises the exception)."""
    inputs = list(args) + [v for k, v in kwargs.items() if k != "out"]
    saved = [(a, a.copy()) for a in inputs if isinstance(a, np.ndarray)]
    outcomes, raw = [], None
    for threads, min_work in ((1, None), (p["threads"], 1)):
        ce.set_num_threads(threads)
        _kernels._set_min_work_per_thread(min_work)
        CALLS["n"] += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ce.ProbabilityWarning)
                warnings.simplefilter("ignore", SyntaxWarning)  # Keras' one-class warning
                raw = fn(*args, **kwargs)
                # a copy: with out= both calls write the same array
                outcomes.append(("ok", tuple(np.array(r) for r in raw) if isinstance(raw, tuple) else np.array(raw)))
        except (ValueError, IndexError, TypeError, FloatingPointError) as exc:
            outcomes.append(("exc", exc))
    ce.set_num_threads(None)
    _kernels._set_min_work_per_thread(None)
    for a, copy in saved:
        assert np.array_equal(a, copy, equal_nan=True), "an input was modified"
    (k1, r1), (k2, r2) = outcomes
    assert k1 == k2, outcomes
    if k1 == "exc":
        assert type(r1) is type(r2) and str(r1) == str(r2)
        raise r1
    assert_identical(r1, r2)
    return raw


def f64(a):
    return np.asarray(a, np.float64)


def row_scale(x):
    """Magnitude of a row's logits (where a loss is a difference of such numbers)."""
    with np.errstate(all="ignore"):
        a = np.where(np.isfinite(x), np.abs(f64(x)), 0.0)
    return (a.max(-1) if a.shape[-1] else np.zeros(a.shape[:-1])) + 1.0


# ---- the families ---------------------------------------------------------------------------------------------
# the gufunc families come from the registry: every registered kernel is fuzzed, bound to its twin by name
def pick(p, family):
    """The registered kernel an example exercises: one of the family's, the fused one when opt["grad"]."""
    ks = _registry.kernels(family, with_grad=p["opt"]["grad"]) or _registry.kernels(family)
    return ks[p["seed"] % len(ks)]


def expected(k, *args):
    """The twin's (loss, grad or None)."""
    want = k.reference(*args)
    return want if k.with_grad else (want, None)


def run_transform(p, rng):
    x = layout(rng, values(rng, (p["n"],) + p["extra"] + (p["c"],), p["dtype"], p["regime"]), p["layouts"][0])
    k = pick(p, "transform")
    name, scalar = k.name, k.signature.endswith("->()")
    axis = p["opt"]["axis"] if p["opt"]["axis"] < x.ndim else -1
    xa = np.moveaxis(x, -1, axis)  # the same rows with the class axis at ``axis``
    kwargs = {"axis": axis}
    if p["opt"]["soft"]:  # into a preallocated, possibly strided out=
        out_shape = x.shape[:-1] if scalar else x.shape
        out = layout(rng, np.empty(out_shape, p["dtype"]), p["layouts"][2])
        if not out.flags.writeable:
            out = np.empty(out_shape, p["dtype"])
        kwargs["out"] = out if scalar else np.moveaxis(out, -1, axis)
    got = twice(p, k.ufunc, xa, **kwargs)
    if "out" in kwargs:
        assert got is kwargs["out"]
    got = got if scalar else np.moveaxis(got, axis, -1)
    assert got.dtype == x.dtype
    scale = row_scale(x) if name != "softmax" else 0.0
    if not scalar and name != "softmax":
        scale = scale[..., None]
    assert_close(got, k.reference(x), p["dtype"], scale)


def labels_for(rng, p, shape, c):
    lab = rng.integers(0, max(c, 1), shape)
    bad = p["opt"]["bad_label"]
    if bad is not None and lab.size:
        lab.flat[rng.integers(lab.size)] = {"C": c}.get(bad, bad)
    return lab.astype(np.int32 if p["opt"]["label32"] and bad != 2**40 else np.int64)


def run_sparse(p, rng):
    x = layout(rng, values(rng, (p["n"],) + p["extra"] + (p["c"],), p["dtype"], p["regime"]), p["layouts"][0])
    lab = layout(rng, labels_for(rng, p, x.shape[:-1], p["c"]), p["layouts"][1])
    k = pick(p, "sparse")
    fn = k.ufunc
    valid = (lab >= 0) & (lab < p["c"])
    if not valid.all():  # the documented signal: FloatingPointError under errstate(invalid="raise")
        with pytest.raises(FloatingPointError, match="invalid value"):
            twice(p, fn, x, lab)
    with np.errstate(invalid="ignore"):
        got = twice(p, fn, x, lab)
    loss, grad = got if k.with_grad else (got, None)
    if p["c"] == 0:  # every label is out of range: NaN rows (the reference cannot index an empty axis)
        assert np.isnan(loss).all() and (grad is None or grad.size == 0)
        return
    want_loss, want_grad = expected(k, x, lab)
    assert_close(loss, want_loss, p["dtype"], row_scale(x))
    if grad is not None:
        want = np.where(np.isnan(f64(loss))[..., None], np.nan, want_grad)
        assert_close(grad, want, p["dtype"], 1.0)


def run_dense(p, rng):
    shape = (p["n"],) + p["extra"] + (p["c"],)
    x = layout(rng, values(rng, shape, p["dtype"], p["regime"]), p["layouts"][0])
    t = rng.choice([0.0, 0.0, 1.0, 0.25, 2.0], size=shape)
    if p["regime"] == 3 and t.size:
        t.flat[rng.integers(t.size)] = rng.choice([np.nan, np.inf, -np.inf])
    t = layout(rng, t.astype(p["dtype"]), p["layouts"][1])
    k = pick(p, "dense")
    got = twice(p, k.ufunc, x, t)
    loss, grad = got if k.with_grad else (got, None)
    with np.errstate(all="ignore"):
        tsum = np.abs(f64(t)).sum(-1)
        want, want_grad = expected(k, x, t)
    # an infinite label gives a non-finite loss, NaN or infinite depending on how the kernel splits
    # sum_j t_j (lse - x_j) (inf * 0 where the reference has a finite product): compare only that
    odd = ~np.isfinite(f64(t)).all(-1) & ~np.isnan(f64(x)).any(-1)
    assert not np.isfinite(f64(loss)[odd]).any() and not np.isfinite(want[odd]).any()
    assert_close(np.where(odd, 0, loss), np.where(odd, 0, want), p["dtype"], row_scale(x) * (1 + tsum))
    if grad is not None:
        want = np.where(np.isnan(f64(loss))[..., None], np.nan, want_grad)
        assert_close(
            np.where(odd[..., None], 0, grad), np.where(odd[..., None], 0, want), p["dtype"], (1 + tsum)[..., None]
        )


def run_sigmoid(p, rng):
    shape = (p["n"],) + p["extra"] + (p["c"],)
    x = layout(rng, values(rng, shape, p["dtype"], p["regime"]), p["layouts"][0])
    z = layout(rng, rng.random(shape).astype(p["dtype"]), p["layouts"][1])
    if p["opt"]["soft"] and x.ndim:
        z = z[..., :1]  # broadcasting
    k = pick(p, "elementwise")
    got = twice(p, k.ufunc, x, z)
    xb, zb = np.broadcast_arrays(x, z)
    loss, grad = got if k.with_grad else (got, None)
    with np.errstate(all="ignore"):
        want, want_grad = expected(k, xb, zb)
        assert_close(loss, want, p["dtype"], np.abs(f64(xb)) + 1)
    if grad is not None:
        assert_close(grad, want_grad, p["dtype"], 1.0)


# -- framework layers: plain NumPy formulas of the framework semantics, NaN/inf as documented
def log_softmax(x, axis=-1):
    return np.moveaxis(ref.log_softmax(np.moveaxis(f64(x), axis, -1)), -1, axis)


def xent_terms(t, lsm):
    """-t * log_softmax with a zero target adding 0 (also at -inf logits)."""
    with np.errstate(all="ignore"):
        return np.where(t == 0, 0.0, -t * lsm)


def torch_index_reference(x, y, w, ignore, reduction, eps, log_probs):
    """torch cross_entropy / nll_loss with class indices: the composite target t'_j = w_j ((1-e)[j==y] + e/C)."""
    xc = np.moveaxis(f64(x), 1, -1) if x.ndim > 1 else f64(x)
    C = xc.shape[-1]
    w = np.ones(C) if w is None else f64(w)
    keep = y != ignore
    onehot = np.arange(C) == np.where(keep, y, -1)[..., None]
    tp = w * ((1 - eps) * onehot + (eps / max(C, 1)) * keep[..., None])
    lsm = xc if log_probs else ref.log_softmax(xc)
    loss = xent_terms(tp, lsm).sum(-1)
    with np.errstate(all="ignore"):
        S = tp.sum(-1)
        sm = np.exp(lsm) if not log_probs else 0.0
        grad = (S[..., None] * sm - tp) if not log_probs else -tp
    denom = np.where(keep, w[np.where(keep, y, 0)], 0.0).sum() if C else 0.0
    if reduction == "none":
        value = loss
    elif reduction == "sum":
        value = loss.sum()
    else:
        with np.errstate(all="ignore"):  # ignored rows keep a zero grad even when denom is 0
            value = loss.sum() / denom
            grad = np.where(keep[..., None], grad / denom, 0.0)
    grad = np.moveaxis(grad, -1, 1) if x.ndim > 1 else grad
    return value, grad, S


def run_torch_ce(p, rng):
    opt = p["opt"]
    C = p["c"]
    shape = ((p["n"], C) + p["extra"]) if p["seed"] % 4 else (C,)
    x = layout(rng, values(rng, shape, p["dtype"], min(p["regime"], 2)), p["layouts"][0])
    rows = shape[:1] + shape[2:] if len(shape) > 1 else ()
    w = (rng.random(C) + 0.5).astype(p["dtype"]) if opt["weight"] else None
    eps = opt["smoothing"]
    log_probs = p["seed"] % 5 == 0
    if opt["soft"] and not log_probs:
        t = layout(rng, rng.dirichlet(np.ones(max(C, 1)), rows or None)[..., :C].astype(p["dtype"]), p["layouts"][1])
        if len(shape) > 1:
            t = np.ascontiguousarray(np.moveaxis(np.asarray(t).reshape(rows + (C,)), -1, 1))
        t = np.asarray(t).reshape(shape)
        got = twice(
            p,
            ct.cross_entropy,
            x,
            t,
            weight=w,
            reduction=opt["reduction"],
            label_smoothing=eps,
            return_grad=opt["grad"],
        )
        e = max(eps, 0.0)
        xc, tc = (np.moveaxis(f64(a), 1, -1) if a.ndim > 1 else f64(a) for a in (x, t))
        tp = (np.ones(C) if w is None else f64(w)) * ((1 - e) * tc + e / max(C, 1))
        loss = xent_terms(tp, ref.log_softmax(xc)).sum(-1)
        n_rows = x.size // C if C else 0
        with np.errstate(all="ignore"):
            value = {"none": loss, "sum": loss.sum()}.get(opt["reduction"], loss.sum() / n_rows)
    else:
        y = labels_for(rng, p, rows, C).astype(np.int64)
        ignore = opt["ignore"] if opt["ignore"] is not None else -100
        fn = ct.nll_loss if log_probs else ct.cross_entropy
        kw = {} if log_probs else {"label_smoothing": eps}
        try:
            got = twice(
                p, fn, x, y, weight=w, ignore_index=ignore, reduction=opt["reduction"], return_grad=opt["grad"], **kw
            )
        except IndexError as exc:  # documented: an out-of-range class index that is not ignore_index
            bad = (y < 0) | (y >= C)
            assert (bad & (y != ignore)).any() and "target contains" in str(exc)
            return
        value, grad, S = torch_index_reference(
            x, y, w, ignore, opt["reduction"], max(eps, 0.0) if not log_probs else 0.0, log_probs
        )
        if opt["grad"]:
            assert_close(got[1], grad, p["dtype"], 2.0 * (np.abs(S).max() + 1) if S.size else 1.0)
    v = got[0] if opt["grad"] else got
    assert np.asarray(v).dtype == x.dtype
    assert_close(
        v,
        value,
        p["dtype"],
        (row_scale(np.moveaxis(x, 1, -1) if x.ndim > 1 else x) * 4 * (C + 1)).sum() / max(1, x.size // max(C, 1))
        if x.size
        else 1.0,
    )


def run_torch_binary(p, rng):
    opt = p["opt"]
    shape = (p["n"],) + p["extra"] + (p["c"],)
    w = layout(rng, (rng.random(shape[-1:]) + 0.5).astype(p["dtype"]), 0) if opt["weight"] else None
    if p["seed"] % 2:  # probabilities; a few exact 0 / 1, sometimes out of range (ValueError)
        x = rng.random(shape)
        if x.size:
            x.flat[rng.integers(x.size)] = rng.choice([0.0, 1.0, 1.5 if p["regime"] == 3 else 1.0])
        x = layout(rng, x.astype(p["dtype"]), p["layouts"][0])
        z = layout(rng, rng.random(shape).astype(p["dtype"]), p["layouts"][1])
        try:
            got = twice(p, ct.binary_cross_entropy, x, z, weight=w, reduction=opt["reduction"], return_grad=opt["grad"])
        except ValueError as exc:
            assert (x > 1).any() and "input: all elements should be between 0 and 1" in str(exc)
            return
        xf, zf = f64(x), f64(z)
        with np.errstate(all="ignore"):
            el = -(zf * np.maximum(np.log(xf), -100) + (1 - zf) * np.maximum(np.log1p(-xf), -100))
            gr = (xf - zf) / np.maximum((1 - xf) * xf, np.float64(np.float32(1e-12)))
    else:
        x = layout(rng, values(rng, shape, p["dtype"], min(p["regime"], 2)), p["layouts"][0])
        z = layout(rng, rng.random(shape).astype(p["dtype"]), p["layouts"][1])
        pw = (rng.random(shape[-1:]) * 3).astype(p["dtype"]) if opt["soft"] else None
        got = twice(
            p,
            ct.binary_cross_entropy_with_logits,
            x,
            z,
            weight=w,
            pos_weight=pw,
            reduction=opt["reduction"],
            return_grad=opt["grad"],
        )
        xf, zf = f64(x), f64(z)
        q = 1.0 if pw is None else f64(pw)
        lw = 1 + (q - 1) * zf
        with np.errstate(all="ignore"):
            el = (1 - zf) * xf + lw * (np.log1p(np.exp(-np.abs(xf))) + np.maximum(-xf, 0))
            gr = lw * ref.sigmoid_cross_entropy_grad(xf, 0.0) - q * zf
    wf = 1.0 if w is None else f64(w)
    el, gr = el * wf, gr * wf
    value = {"none": el, "sum": el.sum()}.get(opt["reduction"], el.mean() if el.size else np.nan)
    if opt["reduction"] == "mean" and el.size:
        gr = gr / el.size
    v = got[0] if opt["grad"] else got
    scale = (np.abs(f64(x)) + 100).sum() * 4 if opt["reduction"] == "sum" else np.abs(f64(x)) + 100
    if opt["reduction"] == "mean":
        scale = 200.0 + (np.abs(f64(x)).mean() if x.size else 0)
    assert_close(v, value, p["dtype"], scale)
    if opt["grad"]:
        with np.errstate(all="ignore"):  # the magnitudes rounded in the grad's numerator and denominator
            gscale = (np.abs(xf) + np.abs(zf) + 1) * (np.abs(gr) + np.abs(wf)) * 4
        assert_close(got[1], gr, p["dtype"], gscale)


def run_tf(p, rng):
    opt = p["opt"]
    shape = (p["n"],) + p["extra"] + (p["c"],)
    x = layout(rng, values(rng, shape, p["dtype"], min(p["regime"], 2)), p["layouts"][0])
    kind = p["seed"] % 4
    if kind == 0:  # softmax with an axis and broadcast labels
        axis = opt["axis"] if opt["axis"] < x.ndim else -1
        t = rng.random(x.shape)
        with np.errstate(all="ignore"):
            t = (t / t.sum(axis, keepdims=True)).astype(p["dtype"])
        if opt["soft"] and t.ndim > 1 and axis != 0:
            t = t[:1]  # broadcast along the first axis
        got = twice(p, ctf.softmax_cross_entropy_with_logits, t, x, axis=axis, return_grad=opt["grad"])
        tb = np.broadcast_to(f64(t), x.shape)
        lsm = log_softmax(x, axis)
        value = xent_terms(tb, lsm).sum(axis)
        with np.errstate(all="ignore"):
            grad = np.exp(lsm) - tb
        scale = row_scale(np.moveaxis(x, axis, -1)) * 2
    elif kind == 1:
        y = labels_for(rng, p, x.shape[:-1], p["c"])
        try:
            got = twice(p, ctf.sparse_softmax_cross_entropy_with_logits, y, x, return_grad=opt["grad"])
        except IndexError as exc:
            assert ((y < 0) | (y >= p["c"])).any() and "labels contains" in str(exc)
            return
        value = ref.sparse_softmax_cross_entropy(x, y)
        grad = ref.sparse_softmax_cross_entropy_grad(x, y)
        scale = row_scale(x)
    else:
        z = layout(rng, rng.random(shape).astype(p["dtype"]), p["layouts"][1])
        xf, zf = f64(x), f64(z)
        if kind == 2:
            got = twice(p, ctf.sigmoid_cross_entropy_with_logits, z, x, return_grad=opt["grad"])
            value, grad = ref.sigmoid_cross_entropy(xf, zf), ref.sigmoid_cross_entropy_grad(xf, zf)
        else:
            q = p["dtype"](rng.random() * 4)
            got = twice(p, ctf.weighted_cross_entropy_with_logits, z, x, q, return_grad=opt["grad"])
            lw = 1 + (f64(q) - 1) * zf
            with np.errstate(all="ignore"):
                value = (1 - zf) * xf + lw * (np.log1p(np.exp(-np.abs(xf))) + np.maximum(-xf, 0))
                grad = np.where(xf == 0, 1 - zf, lw * ref.sigmoid_cross_entropy_grad(xf, 0.0) - f64(q) * zf)
        scale = np.abs(xf) * 5 + 1
    v = got[0] if opt["grad"] else got
    assert np.asarray(v).dtype == x.dtype
    assert_close(v, value, p["dtype"], scale)
    if opt["grad"]:
        if kind == 0:
            grad = np.where(np.expand_dims(np.isnan(f64(v)), axis), np.nan, grad)
        elif kind == 1:
            grad = np.where(np.isnan(f64(v))[..., None], np.nan, grad)
        assert_close(got[1], grad, p["dtype"], 5.0)


def run_keras(p, rng):
    opt = p["opt"]
    shape = (p["n"],) + p["extra"] + (max(p["c"], 1),)
    C = shape[-1]
    kind = p["seed"] % 6
    fl = opt["from_logits"]
    # Keras clips to [eps, 1 - eps] computed in the compute dtype (float32: 1 - eps = 0.99999988)
    eps = float(p["dtype"](1e-7))
    hi = float(p["dtype"](1) - p["dtype"](1e-7))
    ls = max(opt["smoothing"], 0.0)
    if fl:
        x = values(rng, shape, p["dtype"], min(p["regime"], 2))
    else:
        x = rng.random(shape) * (1.0 if opt["soft"] else 1.0 / C)  # soft: rows do not sum to 1
        if x.size:
            x.flat[rng.integers(x.size)] = rng.choice([0.0, 1.0])
        x = x.astype(p["dtype"])
    x = layout(rng, x, p["layouts"][0])
    if kind in (0, 3):  # categorical (3: focal, invariants only)
        t = layout(rng, np.eye(C)[rng.integers(0, C, shape[:-1])].astype(p["dtype"]), p["layouts"][1])
        fn = ck.categorical_crossentropy if kind == 0 else ck.categorical_focal_crossentropy
        got = twice(p, fn, t, x, from_logits=fl, label_smoothing=ls, return_grad=opt["grad"])
        tp = f64(t) * (1 - ls) + ls / C
        if fl:
            value = xent_terms(tp, log_softmax(x)).sum(-1)
        else:
            with np.errstate(all="ignore"):
                q = f64(x) / f64(x).sum(-1, keepdims=True)
                value = -(tp * np.log(np.clip(q, eps, hi))).sum(-1)
    elif kind in (1, 4):  # sparse (4: a class with ignore_class and reductions)
        y = labels_for(rng, p, shape[:-1], C)
        ignore = opt["ignore"] if kind == 4 else None
        try:
            if kind == 1:
                got = twice(
                    p,
                    ck.sparse_categorical_crossentropy,
                    y,
                    x,
                    from_logits=fl,
                    ignore_class=ignore,
                    return_grad=opt["grad"],
                )
            else:
                loss = ck.SparseCategoricalCrossentropy(
                    from_logits=fl, ignore_class=ignore, dtype=p["dtype"], reduction=opt["reduction"]
                )
                got = twice(p, loss, y, x, return_grad=opt["grad"])
        except IndexError as exc:
            assert ((y < 0) | (y >= C)).any() and "y_true contains" in str(exc)
            return
        except ValueError as exc:  # as in Keras: the classes squeeze a one-class y_pred (B, T, 1) to (B, T)
            assert kind == 4 and C == 1 and x.ndim > 2 and "y_true must have y_pred's shape" in str(exc)
            return
        keep = (y != ignore) if ignore is not None else np.ones(y.shape, bool)
        yy = np.where(keep, y, 0)
        with np.errstate(all="ignore"):
            if fl:
                per = -np.take_along_axis(log_softmax(x), yy[..., None], -1)[..., 0]
            else:
                q = f64(x) / f64(x).sum(-1, keepdims=True)
                per = -np.log(np.clip(np.take_along_axis(q, yy[..., None], -1)[..., 0], eps, hi))
        per = np.where(keep, per, 0.0)
        if kind == 1:
            value = per
        else:  # Keras' masked reductions: mean over the valid entries
            if opt["reduction"] == "none" or per.shape in ((), (0,)):  # Keras leaves these unreduced
                value = per
            elif opt["reduction"] == "sum":
                value = per.sum()
            else:
                value = per.sum() / keep.sum() if keep.sum() else 0.0
    else:  # binary (5) and binary focal (2: invariants only)
        z = layout(rng, rng.random(shape).astype(p["dtype"]), p["layouts"][1])
        fn = ck.binary_crossentropy if kind == 5 else ck.binary_focal_crossentropy
        got = twice(p, fn, z, x, from_logits=fl, label_smoothing=ls, return_grad=opt["grad"])
        zp = f64(z) * (1 - ls) + ls / 2
        xf = f64(x)
        with np.errstate(all="ignore"):
            if fl:
                el = np.maximum(xf, 0) - xf * zp + np.log1p(np.exp(-np.abs(xf)))
            else:
                c = np.clip(xf, eps, hi)
                el = -(zp * np.log(c) + (1 - zp) * np.log(1 - c))
        value = el.mean(-1)
    v = got[0] if opt["grad"] else got
    if opt["grad"]:
        assert got[1].shape == x.shape and got[1].dtype == x.dtype
    if kind in (2, 3):  # focal: no formula here (thread-independence, inputs, shape and dtype checked above)
        return
    assert_close(v, value, p["dtype"], (np.abs(f64(x)).max() + 20) * (C + 1) if x.size else 1.0)


FAMILIES = {
    "transform": run_transform,
    "sparse": run_sparse,
    "dense": run_dense,
    "sigmoid": run_sigmoid,
    "torch_ce": run_torch_ce,
    "torch_binary": run_torch_binary,
    "tf": run_tf,
    "keras": run_keras,
}


def run_problem(p):
    rng = np.random.default_rng(p["seed"])
    FAMILIES[p["family"]](p, rng)


# ---- the campaigns ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(**SHORT)
@given(data=st.data())
def test_fuzz_short(family, data):
    run_problem(data.draw(problems([family])))


@pytest.mark.slow
def test_fuzz_long():
    """>= 100,000 calls over every family; prints the count."""
    start = CALLS["n"]
    per_round = 2000

    @settings(max_examples=per_round, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(p=problems(sorted(FAMILIES)))
    def campaign(p):
        run_problem(p)

    rounds = 0
    while CALLS["n"] - start < LONG_CALLS:
        campaign()
        rounds += 1
    print(f"\nfuzz: {CALLS['n'] - start} calls in {rounds} rounds of {per_round} examples, all passed")
    assert CALLS["n"] - start >= LONG_CALLS
