"""The nine gufuncs against their float64 NumPy twins (crossentropy._reference): values, gradients, layouts,
dtypes, extremes, thread counts."""

import re

import numpy as np
import pytest
from helpers import finite_difference
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import crossentropy as ce
from crossentropy import _gufuncs, _kernels, _registry
from crossentropy import _reference as ref
from crossentropy import torch as ce_torch

DTYPES = [np.float32, np.float64]
KERNELS = _registry.KERNELS
TRANSFORMS = {k.name: k for k in _registry.kernels("transform")}


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    ce.set_num_threads(request.param)
    _kernels._set_min_work_per_thread(1)  # thread even tiny inputs, so the parallel path is exercised
    yield request.param
    _kernels._set_min_work_per_thread(None)
    ce.set_num_threads(None)


def assert_close(got, want, x, dtype, rtol64=1e-13, rtol32=2e-6):
    """float64 within a few ulp, float32 within ~1e-6 of the float64 reference, with an absolute
    allowance proportional to the row's largest |logit| (the loss is a difference of such numbers)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    eps = np.finfo(dtype).eps
    rtol = rtol64 if dtype == np.float64 else rtol32
    with np.errstate(all="ignore"):
        scale = np.nanmax(np.where(np.isfinite(x), np.abs(x), 0), axis=-1) if x.shape[-1] else np.zeros(x.shape[:-1])
    scale = np.asarray(scale, np.float64)
    while scale.ndim < got.ndim:
        scale = scale[..., None]
    atol = 8 * eps * (1 + scale)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    with np.errstate(all="ignore"):
        err = np.abs(got - want)[finite]
        bound = (rtol * np.abs(want) + np.broadcast_to(atol, want.shape))[finite]
    assert np.all(err <= bound), f"max excess {np.max(err - bound)} (max err {err.max()})"


# ---- the gufuncs are real gufuncs ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,sig",
    [
        ("logsumexp", "(n)->()"),
        ("softmax", "(n)->(n)"),
        ("log_softmax", "(n)->(n)"),
        ("softmax_cross_entropy", "(n),(n)->()"),
        ("sparse_softmax_cross_entropy", "(n),()->()"),
        ("sigmoid_cross_entropy", None),
        ("softmax_cross_entropy_and_grad", "(n),(n)->(),(n)"),
        ("sparse_softmax_cross_entropy_and_grad", "(n),()->(),(n)"),
        ("sigmoid_cross_entropy_and_grad", None),
    ],
)
def test_real_gufuncs_with_api_signatures(name, sig):
    f = getattr(ce, name)
    assert isinstance(f, np.ufunc)
    assert f.signature == sig
    assert f.types[0].startswith("f") and any(t.startswith("d") for t in f.types)


def test_label_loops_take_int32_and_int64_without_cast():
    assert ce.sparse_softmax_cross_entropy.types == ["fi->f", "fl->f", "di->d", "dl->d", "ei->f", "el->f"]


# ---- the registry: every public gufunc, bound to its float64 twin by name ---------------------------------
def test_registry_covers_every_public_gufunc():
    public = {name for name in ce.__all__ if isinstance(getattr(ce, name), np.ufunc)}
    assert set(KERNELS) == public
    for k in KERNELS.values():
        assert k.ufunc is getattr(ce, k.name)
        assert k.reference is getattr(ref, k.name)
        assert k.family in _registry.FAMILIES


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_every_kernel_has_float32_then_float64_loops(name):
    k = KERNELS[name]
    # float16 after them (tests/test_half.py); bfloat16 joins once ml_dtypes is imported, as user-type loops
    assert k.dtypes == (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16))
    if k.family == "sparse":
        assert k.label_dtypes == (np.dtype(np.int32), np.dtype(np.int64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_every_kernel_matches_its_twin(name, dtype):
    k = KERNELS[name]
    rng = np.random.default_rng(len(name))
    for shape in [(7, 5), (3, 2, 40), (2, 1), (130, 3)]:
        args = k.inputs(rng, shape, dtype)
        got, want = k.ufunc(*args), k.reference(*args)
        got, want = (got, want) if k.with_grad else ((got,), (want,))
        assert len(got) == k.ufunc.nout
        x = args[0] if k.family != "elementwise" else args[0][..., None]
        for g, w in zip(got, want, strict=False):
            assert g.dtype == dtype and g.shape == w.shape
            scale = x if g.ndim < x.ndim or k.family == "transform" else np.zeros(x.shape[:-1] + (1,))
            assert_close(g, w, scale, dtype)
        if k.with_grad:  # the fused kernel's loss is the loss-only kernel's, up to where the compiler fused a
            # multiply-add in one code path and not the other (-ffp-contract=fast; seen in the sanitizer build)
            np.testing.assert_array_max_ulp(got[0], KERNELS[k.loss_name].ufunc(*args), maxulp=2)


@pytest.mark.parametrize(
    "row, match",
    [
        (("f", "(n)->()", "no_such_kind", "lse", "xr", "d"), "unknown loop kind"),
        (("f", "(n),(n)->()", "transform_scalar", "lse", "xr", "d"), "does not match loop kind"),
        (("f", "(n),()->()", "sparse", None, "xxr", "d"), "type pattern"),
        (("f", "(n),()->()", "sparse", None, "xr", "d"), "type pattern"),
        (("f", "(n)->()", "transform_scalar", "lse", "xx", "d"), "type pattern"),
        (("f", "(n),(n)->()", "dense", None, "txr", "d"), "type pattern"),
        (("f", "(n)->()", "transform_scalar", None, "xr", "d"), "transform"),
        (("f", "(n)->()", "transform_scalar", "lse", "xr", ""), "doc"),
        (("f", "(n)->()", "transform_scalar", "lse"), "fields"),
    ],
)
def test_malformed_gufunc_table_fails_with_a_message(row, match):
    with pytest.raises(_gufuncs.GufuncTableError, match=match):
        _gufuncs._build((row,))


def test_gufunc_table_rejects_duplicates_and_unknown_float_types(monkeypatch):
    row = _gufuncs.GUFUNC_TABLE[0]
    with pytest.raises(_gufuncs.GufuncTableError, match="duplicate"):
        _gufuncs._build((row, row))
    # a column the row math has no kernels for (float16 in, float64 per-row results)
    f32 = ("float32", "float32", "float32", ("float32",))
    monkeypatch.setattr(_gufuncs, "FLOAT_COLUMNS", (f32, ("float16", "float64", "float16", ("float16",))))
    with pytest.raises(_gufuncs.GufuncTableError, match="no row kernels for float16"):
        _gufuncs._build((row,))
    # targets of another type: only float32 ones with half logits (the kernels read nothing else)
    dense = next(r for r in _gufuncs.GUFUNC_TABLE if r[2] == "dense")
    monkeypatch.setattr(_gufuncs, "FLOAT_COLUMNS", (("float32", "float32", "float32", ("float32", "float64")),))
    with pytest.raises(_gufuncs.GufuncTableError, match="targets float64 with float32 logits"):
        _gufuncs._build((dense,))


def test_openmp_is_compiled_in_and_linked():
    assert _kernels.openmp_info()["openmp"]
    with open("/proc/self/maps") as maps:
        assert re.search(r"lib(g|i)?omp", maps.read()), "no OpenMP runtime mapped into the process"


def test_show_config_reports_openmp_on(capsys):
    ce.show_config()
    out = capsys.readouterr().out
    assert re.search(r"OpenMP:\s+on", out)
    assert "SIMD path in use" in out


def _cpuinfo_field(name):
    """The value of /proc/cpuinfo's first `name` line, or None."""
    try:
        with open("/proc/cpuinfo") as f:
            line = next((ln for ln in f if ln.startswith(name)), "")
    except OSError:
        return None
    return line.split(":", 1)[1].strip() if ":" in line else None


def _cpu_flags():
    flags = _cpuinfo_field("flags")
    return set(flags.split()) if flags is not None else None


def test_show_config_reports_half_conversions(capsys):
    from crossentropy._config import build_info

    info = build_info()
    ce.show_config()
    out = capsys.readouterr().out
    assert f"float16 rows:      {info['float16_path']}" in out
    assert f"bfloat16 rows:     {info['bfloat16_path']}" in out
    flags = _cpu_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo flags to check the conversions against")
    uses_bf16_insn = "AVX512_BF16" in info["bfloat16_path"]
    assert not uses_bf16_insn or "avx512_bf16" in flags
    if info["simd_clones"] and {"avx512f", "avx512dq", "avx512_bf16"} <= flags:
        assert uses_bf16_insn, info["bfloat16_path"]
    assert ("AVX-512" in info["float16_path"]) <= ("avx512f" in flags)


def test_show_config_reports_row_prefetch(capsys):
    from crossentropy._config import build_info

    info = build_info()
    ce.show_config()
    assert f"row prefetch:      {info['row_prefetch']}" in capsys.readouterr().out
    vendor = _cpuinfo_field("vendor_id")
    if vendor is None:
        pytest.skip("no /proc/cpuinfo vendor to check the CPU's against")
    intel = vendor == "GenuineIntel"
    if info["simd_path"].startswith("baseline"):
        assert info["row_prefetch"].startswith("none")
    else:
        assert ("Intel" in info["row_prefetch"]) == intel, info["row_prefetch"]


def test_thread_settings():
    ce.set_num_threads(1)
    assert ce.get_num_threads() == 1
    ce.set_num_threads(None)
    assert ce.get_num_threads() >= 1
    with pytest.raises(ValueError, match="n must be"):
        ce.set_num_threads(-1)


# ---- values -----------------------------------------------------------------------------------------
finite_logits = st.floats(-30, 30, allow_nan=False, width=32)
extreme_logits = st.sampled_from([-1e4, 1e4, -np.inf, 0.0, 1e-30, -1e-30, 88.0, -104.0, 709.0])


@st.composite
def logit_arrays(draw, max_n=24, extremes=True):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=max_n))
    elements = st.one_of(finite_logits, extreme_logits) if extremes else finite_logits
    x = draw(hnp.arrays(dtype, shape, elements=elements))
    layout = draw(st.sampled_from(["c", "fortran", "reversed", "sliced"]))
    if layout == "fortran":
        x = np.asfortranarray(x)
    elif layout == "reversed":
        x = x[..., ::-1]
    elif layout == "sliced":
        x = np.concatenate([x, x], axis=-1)[..., ::2]
    return x


@settings(max_examples=150, deadline=None)
@given(x=logit_arrays(), name=st.sampled_from(sorted(TRANSFORMS)))
def test_row_gufuncs_match_reference(x, name):
    k = TRANSFORMS[name]
    got = k.ufunc(x)
    assert got.dtype == x.dtype
    assert_close(got, k.reference(x), x, x.dtype)


@settings(max_examples=150, deadline=None)
@given(x=logit_arrays(), data=st.data())
def test_sparse_loss_and_grad_match_reference(x, data):
    n = x.shape[-1]
    label = data.draw(
        hnp.arrays(data.draw(st.sampled_from([np.int32, np.int64])), x.shape[:-1], elements=st.integers(0, n - 1))
    )
    loss, grad = ce.sparse_softmax_cross_entropy_and_grad(x, label)
    assert loss.dtype == grad.dtype == x.dtype
    assert_close(loss, ref.sparse_softmax_cross_entropy(x, label), x, x.dtype)
    assert_close(grad, ref.sparse_softmax_cross_entropy_grad(x, label), np.zeros(x.shape[:-1] + (1,)), x.dtype)
    np.testing.assert_array_equal(ce.sparse_softmax_cross_entropy(x, label), loss)


@settings(max_examples=150, deadline=None)
@given(x=logit_arrays(), data=st.data())
def test_dense_loss_and_grad_match_reference(x, data):
    labels = data.draw(hnp.arrays(x.dtype, x.shape, elements=st.sampled_from([0.0, 0.0, 1.0, 0.25, 2.0])))
    loss, grad = ce.softmax_cross_entropy_and_grad(x, labels)
    with np.errstate(all="ignore"):  # the tolerance's scale, not the function under test
        scale = x.astype(np.float64) * np.maximum(1, labels.sum(-1, keepdims=True))
    assert_close(loss, ref.softmax_cross_entropy(x, labels), scale, x.dtype)
    want_grad = np.where(np.isnan(loss)[..., None], np.nan, ref.softmax_cross_entropy_grad(x, labels))
    assert_close(grad, want_grad, labels, x.dtype)
    np.testing.assert_array_equal(ce.softmax_cross_entropy(x, labels), loss)


@settings(max_examples=100, deadline=None)
@given(
    x=hnp.arrays(
        st.sampled_from(DTYPES),
        hnp.array_shapes(max_dims=3, max_side=40),
        elements=st.one_of(st.floats(-50, 50, width=32), st.sampled_from([-1e4, 1e4, 0.0])),
    ),
    data=st.data(),
)
def test_sigmoid_loss_and_grad_match_reference(x, data):
    z = data.draw(hnp.arrays(x.dtype, x.shape, elements=st.floats(0, 1, width=32)))
    loss, grad = ce.sigmoid_cross_entropy_and_grad(x, z)
    assert_close(loss, ref.sigmoid_cross_entropy(x, z), np.abs(x)[..., None], x.dtype)
    assert_close(grad, ref.sigmoid_cross_entropy_grad(x, z), np.zeros(x.shape + (1,)), x.dtype)
    np.testing.assert_array_equal(ce.sigmoid_cross_entropy(x, z), loss)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 17, 1000, 4099, 65536, 262144])
def test_row_lengths(n, dtype, threads):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((3, n)) * 5).astype(dtype)
    label = rng.integers(0, n, 3)
    loss, grad = ce.sparse_softmax_cross_entropy_and_grad(x, label)
    assert_close(loss, ref.sparse_softmax_cross_entropy(x, label), x, dtype)
    assert_close(grad, ref.sparse_softmax_cross_entropy_grad(x, label), np.zeros((3, 1)), dtype)
    assert_close(ce.logsumexp(x), ref.logsumexp(x), x, dtype)


# ---- NumPy gufunc behaviour ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_axis_out_and_broadcasting(dtype, threads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4, 6)).astype(dtype)
    label = rng.integers(0, 5, (4, 6))
    want = ref.sparse_softmax_cross_entropy(np.moveaxis(x, 0, -1), label)
    assert_close(ce.sparse_softmax_cross_entropy(x, label, axes=[0, (), ()]), want, np.moveaxis(x, 0, -1), dtype)
    assert_close(ce.logsumexp(x, axis=0), ref.logsumexp(np.moveaxis(x, 0, -1)), np.moveaxis(x, 0, -1), dtype)
    out = np.empty((5, 4), dtype)
    res = ce.logsumexp(x, axis=-1, out=out)
    assert res is out
    loss, grad = np.empty((5, 4), dtype), np.empty_like(x)
    res = ce.sparse_softmax_cross_entropy_and_grad(x, label[0, 0], out=(loss, grad))
    assert res[0] is loss and res[1] is grad
    assert_close(
        grad,
        ref.sparse_softmax_cross_entropy_grad(x, np.full((5, 4), label[0, 0])),
        np.zeros(x.shape[:-1] + (1,)),
        dtype,
    )
    # a single label row broadcast against many logit rows
    t = np.zeros(6, dtype)
    t[2] = 1
    assert_close(ce.softmax_cross_entropy(x, t), ref.softmax_cross_entropy(x, np.broadcast_to(t, x.shape)), x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_in_place_softmax_and_log_softmax(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 33)).astype(dtype)
    want_sm, want_lsm = ref.softmax(x), ref.log_softmax(x)
    y = x.copy()
    assert ce.softmax(y, out=y) is y
    assert_close(y, want_sm, np.zeros((50, 1)), dtype)
    y = x.copy()
    ce.log_softmax(y, out=y)
    assert_close(y, want_lsm, x, dtype)


def test_dtype_dispatch():
    x32 = np.zeros((2, 3), np.float32)
    assert ce.logsumexp(x32).dtype == np.float32
    assert ce.logsumexp(x32.astype(np.float64)).dtype == np.float64
    assert ce.logsumexp(np.zeros((2, 3), np.int16)).dtype == np.float32  # safe cast to the first loop
    assert ce.sparse_softmax_cross_entropy(x32, np.int32(1)).dtype == np.float32
    with pytest.raises(TypeError):
        ce.sparse_softmax_cross_entropy(x32, np.array([1.0, 2.0]))  # float labels do not cast to int


# ---- numerics and extremes ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_confident_rows_keep_their_tiny_loss(dtype):
    loss = ce.sparse_softmax_cross_entropy(np.array([-40.0, 0.0], dtype), 1)
    assert loss == pytest.approx(np.exp(-40.0), rel=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_logits_are_stable(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [3e38 if dtype == np.float32 else 1e300, 0, 0]], dtype)
    loss = ce.sparse_softmax_cross_entropy(x, np.array([0, 1, 1]))
    assert loss[0] == 0 and loss[1] == pytest.approx(np.log(3)) and np.isfinite(loss[2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_minus_inf_masks_raise_no_warning(dtype):
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf]], dtype)
    labels = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype)
    with np.errstate(all="raise"):
        loss, grad = ce.softmax_cross_entropy_and_grad(x, labels)
        sm = ce.softmax(x)
        lsm = ce.log_softmax(x)
    assert np.isfinite(loss).all() and loss[1] == 0
    assert sm[0, 1] == 0 and sm[1, 1] == 1 and lsm[0, 1] == -np.inf
    assert np.all(grad[:, 1] == [0.0, 0.0]) and np.isfinite(grad).all()


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from(DTYPES),
    m=st.floats(-16384, 16384, width=32),
    ties=st.integers(1, 4),
    n=st.integers(20, 3000),
    below=st.sampled_from([np.inf, 120.0, 40.0]),
    seed=st.integers(0, 2**16),
)
def test_max_entries_exact_in_confident_rows(dtype, m, ties, n, below, seed):
    """Where the other exps vanish beside the max's (masked, or far below), softmax and the gradient give the
    max entries exactly 1 / ties (a label there: p - 1 without the cancellation), whatever the max; the sweeps
    keep their exps relative to a point near the max, not the max itself, so this is not automatic."""
    rng = np.random.default_rng(seed)
    x = np.full((3, n), dtype(m) - dtype(below), dtype)
    x[:, rng.permutation(n)[:ties]] = dtype(m)
    if np.exp(-below) * n > np.finfo(dtype).eps / 4:
        return  # not confident in this dtype
    at_max = x[0] == dtype(m)
    p = 1 / dtype(ties)
    sm = ce.softmax(x)
    assert np.all(sm[:, at_max] == p)
    out = np.empty_like(x)
    ce.softmax(x, out=out)
    assert np.all(out[:, at_max] == p)
    out = x.copy()
    ce.softmax(out, out=out)  # in place
    assert np.all(out[:, at_max] == p)
    first, off = np.flatnonzero(at_max)[0], np.flatnonzero(~at_max)[0]
    _, g = ce.sparse_softmax_cross_entropy_and_grad(x, np.array([first, off, first]))
    assert g[1, off] == -1 and np.all(g[1, at_max] == p)
    rest = (n - ties) * np.exp(-below)  # p - 1 at a label on the max, without the cancellation
    tiny = 8 * float(np.finfo(dtype).smallest_subnormal)  # the float32 exps of -120 underflow
    np.testing.assert_allclose(g[0, first], -(ties - 1 + rest) / (ties + rest), rtol=1e-5, atol=tiny)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_in_nan_out_quietly(dtype):
    x = np.array([[0.0, np.nan, 1.0], [np.nan, np.nan, np.nan], [np.inf, 0, 0], [-np.inf, -np.inf, -np.inf]], dtype)
    with np.errstate(all="raise"):
        assert np.isnan(ce.sparse_softmax_cross_entropy(x, np.array([0, 0, 1, 2]))).all()
        assert np.isnan(ce.softmax(x)).all()
        lse = ce.logsumexp(x)
    np.testing.assert_array_equal(lse, [np.nan, np.nan, np.inf, -np.inf])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [3, 10, 96, 97])
def test_loss_and_grad_of_nonfinite_rows_quietly(dtype, n):
    # rows of few classes go through the block kernel, whose epilogues compute every row of a block at once
    x = np.random.default_rng(n).standard_normal((70, n)).astype(dtype)
    x[1] = -np.inf
    x[2, 1] = np.inf
    x[3, 0] = np.nan
    x[4] = np.nan
    x[5, 1:] = -np.inf
    labels = np.arange(70) % n
    ignored = np.arange(70) % 7 == 1
    with np.errstate(all="raise"):
        loss, grad = ce.sparse_softmax_cross_entropy_and_grad(x, labels)
        tloss, tgrad = ce_torch.cross_entropy(x, np.where(ignored, -100, labels), reduction="none", return_grad=True)
    assert np.isnan(loss[1:5]).all() and np.isnan(grad[1:5]).all()
    assert loss[5] == np.inf  # the label on a -inf logit
    np.testing.assert_array_equal(loss[6:], ce.sparse_softmax_cross_entropy(x, labels)[6:])
    assert (tloss[ignored] == 0).all() and (tgrad[ignored] == 0).all()
    np.testing.assert_array_equal(tloss[~ignored], loss[~ignored])
    np.testing.assert_array_equal(tgrad[~ignored], grad[~ignored])


def test_n_equals_one_and_all_equal_rows():
    with np.errstate(all="raise"):
        assert ce.sparse_softmax_cross_entropy(np.array([[5.0]]), np.array([0]))[0] == 0
        assert ce.softmax(np.full(4, 3.0)).tolist() == [0.25] * 4
        assert ce.logsumexp(np.zeros(0)) == -np.inf


@pytest.mark.parametrize("label", [-1, 3, 2**40, -(2**62)])
def test_label_out_of_range_gives_nan_and_invalid_signal(label, threads):
    x = np.zeros((4, 3))
    labels = np.array([0, label, 1, 2])
    with np.errstate(invalid="ignore"):
        loss, grad = ce.sparse_softmax_cross_entropy_and_grad(x, labels)
    assert np.isnan(loss[1]) and np.isnan(grad[1]).all()
    assert np.isfinite(loss[[0, 2, 3]]).all()
    with pytest.raises(FloatingPointError, match="invalid"):
        ce.sparse_softmax_cross_entropy(x, labels)
    with np.errstate(invalid="warn"), pytest.warns(RuntimeWarning, match="invalid value"):
        ce.sparse_softmax_cross_entropy(x, labels)


# ---- gradients ----------------------------------------------------------------------------------------
def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 9))
    label = rng.integers(0, 9, 4)
    t = rng.random((4, 9))
    z = rng.random((4, 9))
    h = 1e-6
    cases = [
        (
            lambda v: ce.sparse_softmax_cross_entropy(v, label).sum(),
            ce.sparse_softmax_cross_entropy_and_grad(x, label)[1],
        ),
        (lambda v: ce.softmax_cross_entropy(v, t).sum(), ce.softmax_cross_entropy_and_grad(x, t)[1]),
        (lambda v: ce.sigmoid_cross_entropy(v, z).sum(), ce.sigmoid_cross_entropy_and_grad(x, z)[1]),
    ]
    for f, grad in cases:
        np.testing.assert_allclose(grad, finite_difference(f, x, h), rtol=1e-6, atol=1e-8)


def test_dense_grad_is_the_true_derivative_when_labels_do_not_sum_to_one():
    x = np.array([1.0, 2.0])
    t = np.array([1.0, 2.0])
    loss, grad = ce.softmax_cross_entropy_and_grad(x, t)
    assert loss == pytest.approx(1.939785, abs=1e-6)  # seed 002's tf.nn value
    np.testing.assert_allclose(grad, ref.softmax(x) * 3 - t, rtol=1e-14)


# ---- threads ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cols", [257, 10], ids=["row-wise", "few-classes-blocks"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_results_identical_whatever_the_thread_count(dtype, cols):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3001, cols)) * 4).astype(dtype)
    x[::7, 3] = -np.inf
    x[5, 5] = np.nan
    label = rng.integers(0, cols, 3001)
    z = rng.random((3001, cols)).astype(dtype)
    results = []
    try:
        for nt in (1, 2, 3):
            ce.set_num_threads(nt)
            _kernels._set_min_work_per_thread(1)
            results.append(
                (
                    ce.sparse_softmax_cross_entropy_and_grad(x, label),
                    ce.softmax(x),
                    ce.sigmoid_cross_entropy_and_grad(x, z),
                )
            )
    finally:
        ce.set_num_threads(None)
        _kernels._set_min_work_per_thread(None)
    for other in results[1:]:
        flat0 = [v for r in results[0] for v in (r if isinstance(r, tuple) else (r,))]
        flat1 = [v for r in other for v in (r if isinstance(r, tuple) else (r,))]
        for a, b in zip(flat0, flat1, strict=False):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cols", [1, 2, 10, 32, 33, 39, 40, 48, 49, 60, 63, 64, 65, 96, 97])
def test_few_classes_many_rows(dtype, cols, threads):
    """Rows of <= 96 classes (float64: up to 39, and up to 59-63 where the row sweeps would end in a scalar
    tail; 32 on the baseline path) are computed in blocks of rows;
    check every row kind inside a block, and that a loss does not depend on whether its gradient was asked for."""
    rng = np.random.default_rng(cols)
    x = (rng.standard_normal((1000, cols)) * 3).astype(dtype)
    x[3] = -np.inf
    x[4, 0] = np.inf
    x[6, -1] = np.nan
    x[7] = 2.5  # all equal
    label = rng.integers(0, cols, 1000)
    t = rng.random((1000, cols)).astype(dtype)
    t[::5] = 0
    loss, grad = ce.sparse_softmax_cross_entropy_and_grad(x, label)
    assert_close(loss, ref.sparse_softmax_cross_entropy(x, label), x, dtype)
    want = np.where(np.isnan(loss)[:, None], np.nan, ref.sparse_softmax_cross_entropy_grad(x, label))
    assert_close(grad, want, np.zeros((1000, 1)), dtype)
    dloss, dgrad = ce.softmax_cross_entropy_and_grad(x, t)
    assert_close(dloss, ref.softmax_cross_entropy(x, t), np.where(np.isfinite(x), x, 0) * 2, dtype)
    want = np.where(np.isnan(dloss)[:, None], np.nan, ref.softmax_cross_entropy_grad(x, t))
    assert_close(dgrad, want, np.zeros((1000, 1)), dtype)
    bad = label.copy()
    bad[[10, 70, 71]] = [cols, -1, 10**6]
    with np.errstate(invalid="ignore"):
        bl = ce.sparse_softmax_cross_entropy(x, bad)
    assert np.isnan(bl[[10, 70, 71]]).all()
    keep = np.ones(1000, bool)
    keep[[3, 4, 6, 10, 70, 71]] = False
    np.testing.assert_array_equal(bl[keep], loss[keep])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cols", [3, 20, 600, 5000])
def test_class_axis_not_last_goes_through_row_blocks(dtype, cols, threads):
    """axis=0 of a C-ordered array: rows are adjacent, classes strided; blocks of rows are copied to a
    contiguous buffer.  Cover several blocks, bad labels, -inf/NaN rows and in-place output."""
    rng = np.random.default_rng(cols)
    n_rows = 1100
    x = (rng.standard_normal((cols, n_rows)) * 3).astype(dtype)
    x[:, 5] = -np.inf
    x[0, 7] = np.nan
    label = rng.integers(0, cols, n_rows)
    t = rng.random((cols, n_rows)).astype(dtype)
    xr, tr = x.T, t.T
    loss, grad = ce.sparse_softmax_cross_entropy_and_grad(x, label, axes=[0, (), (), 0])
    assert_close(loss, ref.sparse_softmax_cross_entropy(xr, label), xr, dtype)
    want = np.where(np.isnan(loss)[:, None], np.nan, ref.sparse_softmax_cross_entropy_grad(xr, label))
    assert_close(grad.T, want, np.zeros((n_rows, 1)), dtype)
    dloss, dgrad = ce.softmax_cross_entropy_and_grad(x, t, axes=[0, 0, (), 0])
    assert_close(dloss, ref.softmax_cross_entropy(xr, tr), np.where(np.isfinite(xr), xr, 0) * 2, dtype)
    assert_close(ce.logsumexp(x, axis=0), ref.logsumexp(xr), xr, dtype)
    y = x.copy()
    ce.softmax(y, axis=0, out=y)
    assert_close(y.T, ref.softmax(xr), np.zeros((n_rows, 1)), dtype)
    bad = label.copy()
    bad[[0, 600, 1099]] = [-1, cols, cols + 7]
    with np.errstate(invalid="ignore"):
        bl = ce.sparse_softmax_cross_entropy(x, bad, axes=[0, (), ()])
    assert np.isnan(bl[[0, 600, 1099]]).all()
    with pytest.raises(FloatingPointError):
        ce.sparse_softmax_cross_entropy(x, bad, axes=[0, (), ()])
