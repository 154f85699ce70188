"""crossentropy.lm against PyTorch 2.13 / torchmetrics 1.9 golden values (tests/golden/lm.jsonl), the float64 NumPy
twins (hypothesis), live torch autograd (when torch is installed), a high-precision reference on confident rows,
and its errors."""

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import crossentropy as ce
from crossentropy import lm
from crossentropy.lm import _reference as ref
from golden import goldenio

DOC, ARRAYS = goldenio.load("lm")
IGNORE = DOC["ignore_index"]
EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}


def _case_id(case):
    return case["id"]


def _golden(func):
    return [c for c in DOC["cases"] if c["func"] == func]


def _tolerance(case, logits):
    """rtol of a few ulp of the dtype, atol scaled to the largest logit: torch's own float arithmetic
    (log_softmax, then a difference of large numbers) loses that much, and confident rows' tiny values with it."""
    eps = EPS[case["dtype"]]
    finite = np.abs(logits[np.isfinite(logits)])
    scale = max(1.0, float(finite.max()) if finite.size else 1.0)
    return dict(rtol=64 * eps, atol=64 * eps * scale)


def assert_close(mine, golden, tol, dtype=None):
    mine, golden = np.asarray(mine), np.asarray(golden)
    assert mine.shape == golden.shape, (mine.shape, golden.shape)
    if dtype is not None:
        assert mine.dtype == dtype, (mine.dtype, dtype)
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(golden), err_msg="NaN positions differ")
    np.testing.assert_allclose(mine.astype(np.float64), golden.astype(np.float64), equal_nan=True, **tol)


# ---- golden values -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _golden("token_stats"), ids=_case_id)
def test_token_stats_golden(case):
    x, y = ARRAYS[case["inputs"]["logits"]], ARRAYS[case["inputs"]["labels"]]
    got = lm.token_stats(x, y, **case["kwargs"])
    assert isinstance(got, lm.TokenStats)
    tol = _tolerance(case, x)
    for name in ("nll", "lse", "entropy"):
        assert_close(getattr(got, name), ARRAYS[case["outputs"][name]], tol, x.dtype)
    np.testing.assert_array_equal(got.rank, ARRAYS[case["outputs"]["rank"]])
    assert got.rank.dtype == np.int64
    np.testing.assert_array_equal(got.valid, ARRAYS[case["outputs"]["valid"]])
    assert got.valid.dtype == bool


@pytest.mark.parametrize("case", _golden("perplexity"), ids=_case_id)
def test_perplexity_golden(case):
    x, y = ARRAYS[case["inputs"]["logits"]], ARRAYS[case["inputs"]["labels"]]
    got = lm.perplexity(x, y, **case["kwargs"])
    golden = ARRAYS[case["outputs"]["value"]]
    # torchmetrics takes log(softmax) in the logits' dtype: float32 loses a few ulp of each token's nll
    tol = dict(rtol=1e-5, atol=0) if case["dtype"] == "float32" else dict(rtol=1e-12, atol=0)
    assert_close(got, golden, tol, np.float64)


@pytest.mark.parametrize("case", _golden("cross_entropy"), ids=_case_id)
@pytest.mark.parametrize("return_grad", [True, False], ids=["grad", "value"])
def test_cross_entropy_golden(case, return_grad):
    x, y = ARRAYS[case["inputs"]["logits"]], ARRAYS[case["inputs"]["labels"]]
    got = lm.cross_entropy(x, y, **case["kwargs"], return_grad=return_grad)
    tol = _tolerance(case, x)
    value = got[0] if return_grad else got
    if case["kwargs"]["reduction"] != "none":
        assert np.ndim(value) == 0 and isinstance(value, np.generic)
    assert_close(value, ARRAYS[case["outputs"]["value"]], tol, x.dtype)
    if return_grad:
        assert_close(got[1], ARRAYS[case["outputs"]["grad"]], tol, x.dtype)


@pytest.mark.parametrize("case", [c for c in DOC["cases"] if c["dtype"] == "float64"], ids=_case_id)
def test_reference_twins_match_golden(case):
    """The float64 NumPy twins the property tests trust agree with torch/torchmetrics themselves."""
    x, y = ARRAYS[case["inputs"]["logits"]], ARRAYS[case["inputs"]["labels"]]
    kw = case["kwargs"]
    if case["func"] == "token_stats":
        got = dict(zip(lm.TokenStats._fields, ref.token_stats(x, y, **kw), strict=True))
    elif case["func"] == "perplexity":
        got = {"value": ref.perplexity(x, y, **kw)}
    else:
        got = dict(zip(("value", "grad"), ref.cross_entropy(x, y, **kw), strict=True))
    for name, key in case["outputs"].items():
        assert_close(got[name], ARRAYS[key], _tolerance(case, x))


def test_golden_covers_the_options():
    ids = [c["id"] for c in _golden("cross_entropy")]
    assert any(".ls0.2.z0.01.cap5.0." in i for i in ids)
    assert any("all_ignored" in i and i.endswith("mean.float32") for i in ids)
    assert DOC["versions"]["torch"].startswith("2.13")


# ---- semantics -------------------------------------------------------------------------------------------
def test_ignored_tokens_and_ranks():
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, 1.0, 2.0, 3.0]])
    got = lm.token_stats(x, np.array([0, 3, -100]))
    np.testing.assert_array_equal(got.rank, [2, 0, -1])  # ties are not "greater"
    np.testing.assert_array_equal(got.valid, [True, True, False])
    assert got.nll[2] == 0
    np.testing.assert_allclose(got.lse[2], np.log(np.exp(x[2]).sum()), rtol=1e-14)
    np.testing.assert_allclose(got.entropy[1], np.log(4), rtol=1e-14)


def test_axis_batch_shapes_and_strides():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 7, 2, 5))  # class axis 1
    y = rng.integers(0, 7, size=(3, 2, 5))
    got = lm.token_stats(x, y, axis=1)
    want = ref.token_stats(np.moveaxis(x, 1, -1), y)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    xs = rng.normal(size=(6, 40))[::2, ::3]  # strided rows and columns
    ys = np.array([0, 5, 13])
    for a, b in zip(lm.token_stats(xs, ys), ref.token_stats(xs, ys), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    v, g = lm.cross_entropy(xs, ys, reduction="none", return_grad=True, z_loss=0.1)
    rv, rg = ref.cross_entropy(xs, ys, reduction="none", z_loss=0.1)
    np.testing.assert_allclose(v, rv, rtol=1e-13)
    np.testing.assert_allclose(g, rg, rtol=1e-12, atol=1e-15)


def test_result_dtypes():
    x = np.zeros((2, 3), np.float32)
    y = np.array([0, 1], np.int32)
    st32 = lm.token_stats(x, y)
    assert [a.dtype for a in st32] == [np.float32, np.float32, np.float32, np.int64, bool]
    assert lm.token_stats(x.astype(np.float64), y).nll.dtype == np.float64
    assert lm.cross_entropy(x, y).dtype == np.float32
    assert lm.cross_entropy(x.astype(np.float64), y, reduction="sum").dtype == np.float64
    assert lm.cross_entropy(x, y, reduction="none").dtype == np.float32
    assert lm.cross_entropy(x, y, return_grad=True)[1].dtype == np.float32
    assert lm.perplexity(x, y).dtype == np.float64


def test_all_ignored():
    x = np.random.default_rng(2).normal(size=(4, 5)).astype(np.float32)
    y = np.full(4, -100)
    value, grad = lm.cross_entropy(x, y, z_loss=0.1, label_smoothing=0.1, return_grad=True)
    assert value == 0 and value.dtype == np.float32 and not grad.any()
    assert lm.cross_entropy(x, y, reduction="sum") == 0
    assert np.isnan(lm.perplexity(x, y))
    np.testing.assert_array_equal(lm.perplexity(x.reshape(2, 2, 5), y.reshape(2, 2), per_sequence=True).shape, (2,))


def test_masked_and_nonfinite_rows():
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf] * 3, [0.0, np.nan, 1.0], [np.inf, 0.0, 0.0]])
    with np.errstate(all="ignore"):
        want = ref.token_stats(x, np.array([0, 0, 0, 1]))
    got = lm.token_stats(x, np.array([0, 0, 0, 1]))  # no floating-point warning from valid input
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14, equal_nan=True)
    assert got.entropy[0] > 0 and got.rank[0] == 1
    v, g = lm.cross_entropy(x[:1], np.array([0]), reduction="none", return_grad=True)
    assert np.isfinite(v).all() and g[0, 1] == 0


def test_entropy_never_negative_and_tiny_on_confident_rows():
    x = np.zeros((3, 1000))
    x[:, 0] = [40.0, 80.0, 700.0]
    got = lm.token_stats(x, np.zeros(3, np.int64))
    assert (got.entropy >= 0).all() and (got.nll >= 0).all()
    assert 0 < got.nll[0] < 1e-14 and 0 < got.entropy[0] < 1e-12


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_confident_rows_within_8_ulp(dtype):
    """nll ~1e-20 and its entropy against 50-digit arithmetic, rows short and longer than a cache block."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    rng = np.random.default_rng(3)
    for n in (7, 5000):
        x = (rng.normal(size=(2, n)) - 60).astype(dtype)  # exp(-60) ~ 1e-26 per class
        x[:, 0] = 0
        x[1, 1] = -2  # and one row with a larger nll
        got = lm.token_stats(x, np.zeros(2, np.int64))
        for i in range(2):
            xs = [mpmath.mpf(float(v)) for v in x[i]]
            s = mpmath.fsum(mpmath.exp(v) for v in xs)
            lse = mpmath.log(s)
            ent = mpmath.fsum(mpmath.exp(v - lse) * (lse - v) for v in xs)
            for mine, exact in ((got.nll[i], lse - xs[0]), (got.entropy[i], ent)):
                exact_t = dtype(float(exact))
                ulp = np.spacing(exact_t)
                assert abs(float(mine) - float(exact)) <= 8 * float(ulp), (n, i, mine, exact)


def test_large_vocabulary_matches_twin():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 128256)).astype(np.float32) * 4
    x[0, -5] = 30.0  # the max appears late in the row
    y = np.array([128251, 7, -100])
    got = lm.token_stats(x, y, softcap=20.0)
    want = lm.TokenStats(*ref.token_stats(x, y, softcap=20.0))
    for name in ("nll", "lse", "entropy"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=2e-6, atol=1e-6)
    np.testing.assert_array_equal(got.rank, want.rank)
    v, g = lm.cross_entropy(x, y, z_loss=1e-4, label_smoothing=0.1, softcap=20.0, return_grad=True)
    rv, rg = ref.cross_entropy(x, y, z_loss=1e-4, label_smoothing=0.1, softcap=20.0)
    np.testing.assert_allclose(v, rv, rtol=2e-6)
    np.testing.assert_allclose(g, rg, rtol=1e-4, atol=1e-10)
    for n in (3000, 600_000):  # uncapped: exps kept in the gradient row between sweeps, or (longer) recomputed
        x = rng.normal(size=(2, n)) * 3
        x[0, n - 10] = 40.0
        y = np.array([n - 10, 3])
        v, g = lm.cross_entropy(x, y, z_loss=1e-3, label_smoothing=0.05, return_grad=True, reduction="sum")
        rv, rg = ref.cross_entropy(x, y, z_loss=1e-3, label_smoothing=0.05, reduction="sum")
        np.testing.assert_allclose(v, rv, rtol=1e-12)
        np.testing.assert_allclose(g, rg, rtol=1e-11, atol=1e-16)  # p_j - eps / V cancels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softcap_is_accurate_tanh(dtype):
    """One-class rows: lse is the capped logit itself, softcap * tanh(x / softcap), to 2 ulp."""
    cap = 30.0
    a = np.concatenate([np.geomspace(1e-12, 2e3, 400), [0.0, np.inf]])
    x = np.concatenate([a, -a]).astype(dtype)
    got = lm.token_stats(x[:, None], np.zeros(x.size, np.int64), softcap=cap).lse
    want = (cap * np.tanh(x.astype(np.float64) / cap)).astype(dtype)
    np.testing.assert_array_max_ulp(got, want, maxulp=2)


def test_threads_do_not_change_results():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 3000)).astype(np.float32)
    y = rng.integers(0, 3000, size=64)
    old = ce.get_num_threads()
    try:
        ce.set_num_threads(1)
        one = lm.token_stats(x, y), lm.cross_entropy(x, y, return_grad=True)
        ce.set_num_threads(2)
        two = lm.token_stats(x, y), lm.cross_entropy(x, y, return_grad=True)
    finally:
        ce.set_num_threads(old)
    for a, b in zip(one[0], two[0], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one[1][1], two[1][1])


# read by the kernel table's half columns when the build has them, else converted to float32 a few MiB at a time
def test_half_precision_inputs():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, 300)).astype(np.float16)
    y = rng.integers(0, 300, size=5)
    got = lm.token_stats(x, y)
    want = ref.token_stats(x.astype(np.float64), y)
    assert got.nll.dtype == np.float32
    np.testing.assert_allclose(got.nll, want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got.rank, want[3])
    v, g = lm.cross_entropy(x, y, reduction="none", return_grad=True)
    assert v.dtype == np.float32 and g.dtype == np.float16
    np.testing.assert_allclose(g, ref.cross_entropy(x, y, reduction="none")[1], atol=2e-3)


def test_bfloat16_inputs():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 200)).astype(ml_dtypes.bfloat16)
    y = rng.integers(0, 200, size=4)
    got = lm.token_stats(x, y)
    np.testing.assert_allclose(got.nll, ref.token_stats(x.astype(np.float64), y)[0], rtol=1e-5, atol=1e-6)
    assert lm.cross_entropy(x, y, return_grad=True)[1].dtype == x.dtype


def test_kernel_level_bad_label_is_nan_and_invalid_flag():
    x = np.zeros((2, 4))
    nll, lse, ent = (np.empty(2) for _ in range(3))
    rank = np.empty(2, np.int64)
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        ce._kernels.lm_token_stats_rows(x, nll, labels=np.array([1, 4]), lse=lse, entropy=ent, rank=rank, ignore=-100)
    with np.errstate(invalid="ignore"):
        ce._kernels.lm_token_stats_rows(x, nll, labels=np.array([1, 4]), lse=lse, entropy=ent, rank=rank, ignore=-100)
    assert np.isnan(nll[1]) and rank[1] == -1 and nll[0] == pytest.approx(np.log(4))
    loss, grad = np.empty(2), np.empty((2, 4))
    with np.errstate(invalid="ignore"):
        ce._kernels.lm_xent_rows(x, loss, labels=np.array([-1, 0]), ignore=-100, grad=grad)
    assert np.isnan(loss[0]) and np.isnan(grad[0]).all() and np.isfinite(grad[1]).all()


# ---- property tests ---------------------------------------------------------------------------------------
_VALUES = st.one_of(st.floats(-30, 30), st.sampled_from([-np.inf, 0.0, 1e4, -1e4, 80.0]))


@st.composite
def _problems(draw, dtype=np.float64):
    rows = draw(st.integers(1, 6))
    cols = draw(st.integers(1, 40))
    x = draw(hnp.arrays(dtype, (rows, cols), elements=st.floats(-30, 30, width=64 if dtype == np.float64 else 32)))
    special = draw(st.lists(st.tuples(st.integers(0, rows - 1), st.integers(0, cols - 1), _VALUES), max_size=4))
    for i, j, v in special:
        x[i, j] = v
    labels = np.array(draw(st.lists(st.one_of(st.integers(0, cols - 1), st.just(-100)), min_size=rows, max_size=rows)))
    for i, lab in enumerate(labels):  # keep the label's logit finite (an infinite one has no finite loss)
        if lab >= 0 and not np.isfinite(x[i, lab]):
            x[i, lab] = 0
    softcap = draw(st.sampled_from([None, 2.0, 50.0]))
    return x, labels, softcap


@settings(max_examples=60, deadline=None)
@given(_problems())
def test_token_stats_match_twin(problem):
    x, y, softcap = problem
    got = lm.token_stats(x, y, softcap=softcap)
    with np.errstate(all="ignore"):
        want = ref.token_stats(x, y, softcap=softcap)
    scale = max(1.0, np.abs(x[np.isfinite(x)]).max(initial=1.0))
    for name, a, b in zip(lm.TokenStats._fields, got, want, strict=True):
        if name in ("rank", "valid"):
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13 * scale, equal_nan=True, err_msg=name)
    assert (got.entropy[~np.isnan(got.entropy)] >= 0).all()


@settings(max_examples=60, deadline=None)
@given(
    _problems(),
    st.sampled_from(["mean", "sum", "none"]),
    st.sampled_from([0.0, 0.1, 1.0]),
    st.sampled_from([0.0, 1e-4, 0.5]),
)
def test_cross_entropy_matches_twin(problem, reduction, smoothing, z_loss):
    x, y, softcap = problem
    x = np.where(np.isinf(x) & (smoothing > 0), -50.0, x)  # smoothing of a -inf logit is +inf: tested in golden
    value, grad = lm.cross_entropy(
        x, y, reduction=reduction, label_smoothing=smoothing, z_loss=z_loss, softcap=softcap, return_grad=True
    )
    with np.errstate(all="ignore"):
        rv, rg = ref.cross_entropy(x, y, reduction=reduction, label_smoothing=smoothing, z_loss=z_loss, softcap=softcap)
    scale = max(1.0, np.abs(x[np.isfinite(x)]).max(initial=1.0)) ** 2
    np.testing.assert_allclose(value, rv, rtol=1e-11, atol=1e-13 * scale, equal_nan=True)
    np.testing.assert_allclose(grad, rg, rtol=1e-10, atol=1e-13 * scale, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(
    _problems(np.float32),
    st.sampled_from(["mean", "sum", "none"]),
    st.sampled_from([0.0, 0.2]),
    st.sampled_from([0.0, 1e-3]),
)
def test_cross_entropy_matches_torch_autograd(problem, reduction, smoothing, z_loss):
    torch = pytest.importorskip("torch")
    x, y, softcap = problem
    x = np.where(np.isinf(x), -50.0, x).astype(np.float32)
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    xc = xt if softcap is None else softcap * torch.tanh(xt / softcap)
    yt = torch.from_numpy(y.astype(np.int64))
    per = torch.nn.functional.cross_entropy(xc, yt, ignore_index=-100, reduction="none", label_smoothing=smoothing)
    valid = yt != -100
    per = per + torch.where(valid, z_loss * torch.logsumexp(xc, -1) ** 2, torch.zeros(()).double())
    if reduction == "none":
        want = per
    elif reduction == "sum":
        want = per.sum()
    else:
        want = per.sum() / valid.sum() if valid.any() else per.sum() * 0
    want.sum().backward()
    value, grad = lm.cross_entropy(
        x, y, reduction=reduction, label_smoothing=smoothing, z_loss=z_loss, softcap=softcap, return_grad=True
    )
    scale = max(1.0, float(np.abs(x).max()))
    np.testing.assert_allclose(value, want.detach().numpy(), rtol=2e-5, atol=1e-5 * scale**2)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-4, atol=1e-6 * scale)


# ---- bad input -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("func", [lm.token_stats, lm.cross_entropy, lm.perplexity])
def test_bad_labels(func):
    x = np.zeros((2, 3))
    with pytest.raises(IndexError, match="labels"):
        func(x, np.array([0, 3]))
    with pytest.raises(IndexError, match="labels"):
        func(x, np.array([-1, 0]))
    with pytest.raises(TypeError, match="labels"):
        func(x, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="labels"):
        func(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="labels"):
        func(x, np.array([[0, 1]]))
    func(x, np.array([2, 7]), ignore_index=7)  # the ignored value may be anything


@pytest.mark.parametrize("func", [lm.token_stats, lm.cross_entropy])
@pytest.mark.parametrize("softcap", [0.0, -1.0, np.inf, np.nan])
def test_bad_softcap(func, softcap):
    with pytest.raises(ValueError, match="softcap"):
        func(np.zeros((2, 3)), np.array([0, 1]), softcap=softcap)


def test_bad_loss_options():
    x, y = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(ValueError, match="z_loss"):
        lm.cross_entropy(x, y, z_loss=-0.1)
    with pytest.raises(ValueError, match="z_loss"):
        lm.cross_entropy(x, y, z_loss=np.nan)
    with pytest.raises(ValueError, match="label_smoothing"):
        lm.cross_entropy(x, y, label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        lm.cross_entropy(x, y, reduction="batchmean")
    with pytest.raises(TypeError, match="softcap"):
        lm.cross_entropy(x, y, softcap="big")
    with pytest.raises(TypeError, match="ignore_index"):
        lm.token_stats(x, y, ignore_index=1.5)
    with pytest.raises(TypeError, match="logits"):
        lm.token_stats(np.array([["a", "b"]]), np.array([0]))
    with pytest.raises(ValueError, match="axis"):
        lm.token_stats(x, y, axis=2)
    with pytest.raises(ValueError, match="per_sequence"):
        lm.perplexity(x, y, per_sequence=True)


def test_docstring_examples_run():
    for module in (lm.stats, lm.loss):
        result = doctest.testmod(module, raise_on_error=False)
        assert result.failed == 0 and result.attempted > 0, module
