"""crossentropy.torch against the values and input grads PyTorch 2.13 produced (tests/golden/torch.jsonl), its
errors, the seed case, K-dimensional and strided inputs, finite differences, and the documented differences."""

import numpy as np
import pytest
from helpers import finite_difference

import crossentropy as ce
from crossentropy import torch as ct
from golden import goldenio

DOC, ARRAYS = goldenio.load("torch")
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


def _kwargs(case):
    return {k: ARRAYS[v["array"]] if isinstance(v, dict) else v for k, v in case["kwargs"].items()}


def _inputs(case):
    return ARRAYS[case["inputs"]["input"]], ARRAYS[case["inputs"]["target"]]


def _call(case, **extra):
    x, t = _inputs(case)
    if case["kind"] == "class":
        return getattr(ct, case["name"])(**_kwargs(case))(x, t, **extra)
    return getattr(ct, case["name"])(x, t, **_kwargs(case), **extra)


def assert_matches(mine, ref, dtype):
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.shape == ref.shape and mine.dtype == ref.dtype, (mine.shape, mine.dtype, ref.shape, ref.dtype)
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref), err_msg="NaN positions differ")
    np.testing.assert_allclose(mine, ref, equal_nan=True, **TOL[dtype])


def _is_probability_case(case):
    x, t = _inputs(case)
    return case["name"] in ("cross_entropy", "CrossEntropyLoss") and t.shape == x.shape


def _finite_probability_value(case):
    """cross_entropy with class probabilities where a zero target (or weight) on a -inf logit adds 0."""
    x, t = (a.astype(np.float64) for a in _inputs(case))
    kw = _kwargs(case)
    axis = 0 if x.ndim == 1 else 1
    n_classes = x.shape[axis]
    eps = max(kw.get("label_smoothing", 0.0), 0.0)
    target = t * (1 - eps) + eps / n_classes if eps > 0 else t
    shape = [1] * x.ndim
    shape[axis] = n_classes
    w = np.ones(shape) if kw.get("weight") is None else kw["weight"].astype(np.float64).reshape(shape)
    with np.errstate(all="ignore"):
        m = x.max(axis, keepdims=True)
        logp = (x - m) - np.log(np.exp(x - m).sum(axis, keepdims=True))
        loss = np.where(w * target != 0, -w * target * logp, 0.0).sum(axis)
        reduction = kw.get("reduction", "mean")
        value = loss if reduction == "none" else loss.sum() / (loss.size if reduction == "mean" else 1)
    return np.asarray(value, case["dtype"])


def _expected_value(case):
    """The golden value, except where torch's 0 * (-inf) = NaN meets our documented finite value."""
    ref = ARRAYS[case["outputs"]["value"]]
    if not _is_probability_case(case):
        return ref
    finite = _finite_probability_value(case)
    return np.where(np.isnan(ref) & ~np.isnan(finite), finite, ref)


CASES = [c for c in DOC["cases"] if "grad_error" not in c]
GRAD_ERROR_CASES = [c for c in DOC["cases"] if "grad_error" in c]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_golden_value_and_grad(case):
    value, grad = _call(case, return_grad=True)
    assert_matches(value, _expected_value(case), case["dtype"])
    assert_matches(grad, ARRAYS[case["outputs"]["grad"]], case["dtype"])
    assert_matches(_call(case), _expected_value(case), case["dtype"])  # the value alone is the same


def test_documented_difference_covers_only_zero_targets_on_neginf_logits():
    differing = [
        c["id"] for c in CASES if not np.array_equal(_expected_value(c), ARRAYS[c["outputs"]["value"]], equal_nan=True)
    ]
    assert differing, "the golden files should contain torch's NaN for a zero target on a -inf logit"
    assert all(".masked." in i or ".target_neginf." in i for i in differing), differing


def test_zero_probability_on_neginf_logit_is_finite():
    x = np.array([[0.0, -np.inf, 1.0]])
    value, grad = ct.cross_entropy(x, np.array([[1.0, 0.0, 0.0]]), reduction="none", return_grad=True)
    p = np.exp(x[0] - np.logaddexp(0.0, 1.0))
    np.testing.assert_allclose(value, [np.logaddexp(0.0, 1.0)], rtol=1e-15)
    np.testing.assert_allclose(grad[0], p - [1, 0, 0], rtol=1e-15)
    # and a positive target there is an infinite loss, as in torch
    assert ct.cross_entropy(x, np.array([[0.5, 0.5, 0.0]]), reduction="sum") == np.inf


@pytest.mark.parametrize("case", GRAD_ERROR_CASES, ids=[c["id"] for c in GRAD_ERROR_CASES])
def test_1d_input_with_one_element_target_also_gives_the_grad(case):
    """torch's backward raises for a (1,) target with 1-D input; we treat it like the 0-d target."""
    x, t = _inputs(case)
    value, grad = _call(case, return_grad=True)
    assert_matches(value, ARRAYS[case["outputs"]["value"]], case["dtype"])
    fn = getattr(ct, case["name"])
    value0, grad0 = fn(x, t.reshape(()), **_kwargs(case), return_grad=True)
    assert_matches(value, value0, case["dtype"])
    assert_matches(grad, grad0, case["dtype"])


def test_1d_input_with_one_element_target_and_label_smoothing():
    """torch raises even in the forward here; we give the 0-d target's result."""
    x = np.array([0.5, -1.0, 2.0, 0.0, 1.0])
    got = ct.cross_entropy(x, np.array([3]), label_smoothing=0.1, return_grad=True)
    want = ct.cross_entropy(x, np.array(3), label_smoothing=0.1, return_grad=True)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


# ---- errors -------------------------------------------------------------------------------------------
# torch's RuntimeErrors become ValueError (shapes, values, arguments) or TypeError (dtypes).
ERRORS = {
    "err.ce.target_out_of_range_high": (IndexError, "target"),
    "err.ce.target_out_of_range_negative": (IndexError, "target"),
    "err.ce.target_out_of_range_reduction_none": (IndexError, "target"),
    "err.ce.target_int32": (TypeError, "target"),
    "err.ce.target_float_1d": (TypeError, "target"),
    "err.ce.target_long_same_shape": (TypeError, "target"),
    "err.ce.batch_mismatch": (ValueError, "target"),
    "err.ce.input1d_target_len2": (ValueError, "target"),
    "err.ce.input1d_target_len1_label_smoothing": (None, None),  # deliberate: we compute it
    "err.ce.spatial_mismatch_3d": (ValueError, "target"),
    "err.ce.spatial_mismatch_4d": (ValueError, "target"),
    "err.ce.weight_wrong_size": (ValueError, "weight"),
    "err.ce.weight_wrong_size_prob": (ValueError, "weight"),
    "err.ce.weight_wrong_dtype": (TypeError, "weight"),
    "err.ce.label_smoothing_gt_1": (ValueError, "label_smoothing"),
    "err.ce.label_smoothing_gt_1_prob": (ValueError, "label_smoothing"),
    "err.ce.prob_target_nonneg_ignore_index": (ValueError, "ignore_index"),
    "err.ce.prob_target_shape_mismatch": (ValueError, "target"),
    "err.ce.bad_reduction": (ValueError, "reduction"),
    "err.nll.target_out_of_range": (IndexError, "target"),
    "err.nll.target_float": (TypeError, "target"),
    "err.nll.target_2d_for_2d_input": (ValueError, "target"),
    "err.bce.shape_mismatch": (ValueError, "target"),
    "err.bce.input_gt_1": (ValueError, "input"),
    "err.bce.input_negative": (ValueError, "input"),
    "err.bce.input_nan": (ValueError, "input"),
    "err.bce.target_gt_1": (ValueError, "target"),
    "err.bce.target_int64": (TypeError, "target"),
    "err.bce.target_float64": (TypeError, "target"),
    "err.bce.weight_not_broadcastable": (ValueError, "weight"),
    "err.bcel.shape_mismatch": (ValueError, "target"),
    "err.bcel.target_int64": (TypeError, "target"),
    "err.bcel.pos_weight_not_broadcastable": (ValueError, "pos_weight"),
    "err.bcel.weight_larger_than_input": (ValueError, "weight"),
}


def test_every_golden_error_case_is_listed():
    assert {c["id"] for c in DOC["error_cases"]} == set(ERRORS)


@pytest.mark.parametrize("case", DOC["error_cases"], ids=[c["id"] for c in DOC["error_cases"]])
def test_golden_error(case):
    error, argument = ERRORS[case["id"]]
    if error is None:
        _call(case, return_grad=True)
        return
    with pytest.raises(error, match=argument):
        _call(case)
    with pytest.raises(error, match=argument):
        _call(case, return_grad=True)


@pytest.mark.parametrize("fn", [ct.cross_entropy, ct.nll_loss])
def test_integer_input_is_rejected(fn):
    with pytest.raises(TypeError, match="input"):
        fn(np.array([[1, 2, 3]]), np.array([0]))


def test_scalar_input_is_rejected():
    with pytest.raises(ValueError, match="input"):
        ct.cross_entropy(np.float64(1.0), np.array(0))


# ---- the seed case: torch's CrossEntropyLoss grad is (softmax - onehot) / N -----------------------------
def test_seed_case_grad_is_softmax_minus_onehot_over_n():
    case = next(c for c in DOC["cases"] if c["id"] == "seed_CrossEntropyLoss_rand4x7")
    x, y = _inputs(case)
    value, grad = ct.CrossEntropyLoss()(x, y, return_grad=True)
    np.testing.assert_allclose(value, 1.8978046, rtol=1e-6)
    assert_matches(value, ARRAYS[case["outputs"]["value"]], "float32")
    closed_form = (ce.softmax(x) - np.eye(7, dtype=np.float32)[y]) / 4
    np.testing.assert_allclose(grad, closed_form, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(grad, ARRAYS[case["outputs"]["closed_form_grad"]], rtol=1e-5, atol=1e-8)


# ---- K-dimensional and strided inputs ---------------------------------------------------------------------
def _strided_kdim(rng, dtype):
    """(N, C, d1, d2) = (3, 5, 4, 2) as a transposed, reversed view of a larger buffer."""
    buf = rng.standard_normal((2, 4, 5, 3), dtype=np.float64).astype(dtype)
    x = buf.transpose(3, 2, 1, 0)[::-1, :, ::-1]
    assert not x.flags.c_contiguous and not x.flags.f_contiguous
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_kdim_strided_input_matches_contiguous(dtype, reduction):
    rng = np.random.default_rng(1)
    x = _strided_kdim(rng, dtype)
    y = rng.integers(0, 5, (3, 4, 2))
    y[0, 1, 0] = -100
    w = rng.uniform(0.5, 2.0, 5).astype(dtype)
    kw = dict(weight=w, reduction=reduction, label_smoothing=0.2)
    value, grad = ct.cross_entropy(x, y, return_grad=True, **kw)
    value_c, grad_c = ct.cross_entropy(np.ascontiguousarray(x), y, return_grad=True, **kw)
    assert grad.shape == x.shape and grad.dtype == dtype and np.asarray(value).dtype == dtype
    np.testing.assert_allclose(value, value_c, rtol=1e-6)
    np.testing.assert_allclose(grad, grad_c, rtol=1e-6, atol=1e-7)
    assert np.all(grad[0, :, 1, 0] == 0)  # the ignored position

    t = rng.dirichlet(np.ones(5), (3, 4, 2)).transpose(0, 3, 1, 2).astype(dtype)
    value, grad = ct.cross_entropy(x, t, return_grad=True, **kw)
    value_c, grad_c = ct.cross_entropy(np.ascontiguousarray(x), np.ascontiguousarray(t), return_grad=True, **kw)
    np.testing.assert_allclose(value, value_c, rtol=1e-6)
    np.testing.assert_allclose(grad, grad_c, rtol=1e-6, atol=1e-7)


def test_kdim_equals_rows_of_2d():
    """(N, C, d) is the same as the (N*d, C) problem with the class axis moved last."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6, 4))
    y = rng.integers(0, 6, (3, 4))
    value, grad = ct.cross_entropy(x, y, reduction="none", return_grad=True)
    flat_value, flat_grad = ct.cross_entropy(
        np.moveaxis(x, 1, -1).reshape(-1, 6), y.reshape(-1), reduction="none", return_grad=True
    )
    np.testing.assert_allclose(value.reshape(-1), flat_value, rtol=1e-14)
    np.testing.assert_allclose(np.moveaxis(grad, 1, -1).reshape(-1, 6), flat_grad, rtol=1e-14)


@pytest.mark.parametrize("fn", [ct.binary_cross_entropy, ct.binary_cross_entropy_with_logits])
def test_binary_strided_and_broadcast_weights(fn):
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, (4, 3, 5))[:, ::-1, ::2]
    z = rng.uniform(0, 1, p.shape)
    w = rng.uniform(0.5, 2, (3, 1))
    extra = dict(pos_weight=rng.uniform(0.5, 2, 3)) if fn is ct.binary_cross_entropy_with_logits else {}
    value, grad = fn(p, z, weight=w, reduction="none", return_grad=True, **extra)
    value_c, grad_c = fn(
        p.copy(), z, weight=np.broadcast_to(w, p.shape).copy(), reduction="none", return_grad=True, **extra
    )
    np.testing.assert_allclose(value, value_c, rtol=1e-14)
    np.testing.assert_allclose(grad, grad_c, rtol=1e-14)


# ---- finite differences ---------------------------------------------------------------------------------
def _fd_problems():
    """name -> (function, input, other arguments), all float64."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 2))
    y = np.array([[0, 3], [-100, 2], [1, 1]])
    w = rng.uniform(0.5, 2, 4)
    p = rng.uniform(0.05, 0.95, (3, 4))
    z = rng.uniform(0, 1, (3, 4))
    return {
        "ce_index_kdim": (ct.cross_entropy, x, dict(target=y, weight=w, label_smoothing=0.3)),
        "ce_index_sum": (ct.cross_entropy, x[..., 0], dict(target=y[:, 1], reduction="sum", ignore_index=2)),
        "ce_probability": (ct.cross_entropy, x, dict(target=rng.uniform(0, 1, x.shape), weight=w, label_smoothing=0.1)),
        "ce_1d": (ct.cross_entropy, x[0, :, 0], dict(target=np.array(2), weight=w, label_smoothing=0.2)),
        "nll": (ct.nll_loss, x, dict(target=y, weight=w)),
        "bce": (ct.binary_cross_entropy, p, dict(target=z, weight=w)),
        "bce_logits": (
            ct.binary_cross_entropy_with_logits,
            3 * x[..., 0],
            dict(target=z, weight=w[:3, None], pos_weight=w),
        ),
    }


@pytest.mark.parametrize("name", list(_fd_problems()))
def test_grad_matches_finite_differences(name):
    fn, x, kwargs = _fd_problems()[name]
    _, grad = fn(x, return_grad=True, **kwargs)
    np.testing.assert_allclose(grad, finite_difference(lambda a: fn(a, **kwargs), x), rtol=1e-6, atol=1e-8)


# ---- reductions, dtypes, modules ------------------------------------------------------------------------
def test_mean_divides_by_the_weight_of_non_ignored_targets():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 4))
    y = np.array([0, 1, -100, 3, 3, 2])
    w = np.array([1.0, 2.0, 0.5, 4.0])
    total = ct.cross_entropy(x, y, weight=w, reduction="sum", label_smoothing=0.25)
    mean, grad = ct.cross_entropy(x, y, weight=w, label_smoothing=0.25, return_grad=True)
    _, grad_sum = ct.cross_entropy(x, y, weight=w, reduction="sum", label_smoothing=0.25, return_grad=True)
    denominator = w[[0, 1, 3, 3, 2]].sum()
    np.testing.assert_allclose(mean, total / denominator, rtol=1e-14)
    np.testing.assert_allclose(grad, grad_sum / denominator, rtol=1e-14)


def test_all_ignored_and_zero_weight_denominators():
    x = np.random.default_rng(6).standard_normal((3, 4))
    y = np.full(3, -100)
    value, grad = ct.cross_entropy(x, y, return_grad=True)
    assert np.isnan(value) and np.all(grad == 0)
    assert ct.cross_entropy(x, y, reduction="sum") == 0
    # non-ignored targets of weight 0: 0/0, so NaN value and NaN grads in those rows (as torch)
    value, grad = ct.cross_entropy(x, np.array([0, 0, -100]), weight=np.array([0.0, 1, 1, 1]), return_grad=True)
    assert np.isnan(value) and np.all(np.isnan(grad[:2])) and np.all(grad[2] == 0)


def test_empty_batch():
    x = np.zeros((0, 4), np.float32)
    assert np.isnan(ct.cross_entropy(x, np.zeros(0, np.int64)))
    assert ct.cross_entropy(x, np.zeros(0, np.int64), reduction="sum") == 0
    value, grad = ct.binary_cross_entropy_with_logits(x, x, return_grad=True)
    assert np.isnan(value) and grad.shape == (0, 4)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_in_is_dtype_out(dtype):
    x = np.array([[0.5, -1.0, 2.0], [0.0, 0.1, 0.2]], dtype)
    for value, grad in [
        ct.cross_entropy(x, np.array([0, 2]), return_grad=True),
        ct.cross_entropy(x, np.array([0, 2]), reduction="none", return_grad=True),
        ct.nll_loss(x, np.array([0, 2]), return_grad=True),
        ct.binary_cross_entropy(x / 4 + 0.5, x / 4 + 0.5, return_grad=True),
        ct.binary_cross_entropy_with_logits(x, x / 4 + 0.5, return_grad=True),
    ]:
        assert np.asarray(value).dtype == dtype and grad.dtype == dtype and grad.shape == x.shape


def test_lists_take_the_input_dtype():
    x = np.array([[0.5, -1.0, 2.0]], np.float32)
    value = ct.cross_entropy(x, [[0.2, 0.3, 0.5]], weight=[1.0, 2.0, 1.0])
    assert value.dtype == np.float32
    assert ct.binary_cross_entropy([0.25, 0.5], [0.0, 1.0]).dtype == np.float64


def test_bce_clamps_and_torch_eps():
    value, grad = ct.binary_cross_entropy(
        np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0]), reduction="none", return_grad=True
    )
    np.testing.assert_array_equal(value, [100.0, 100.0, 0.0, 0.0])
    eps = float(np.float32(1e-12))  # torch's EPS is the float32 constant, also for float64
    np.testing.assert_array_equal(grad, [-1 / eps, 1 / eps, 0.0, 0.0])


def test_bce_zero_d_input():
    value, grad = ct.binary_cross_entropy(np.float32(0.25), np.float32(1.0), return_grad=True)
    assert np.shape(value) == () and grad.shape == () and grad.dtype == np.float32
    np.testing.assert_allclose(value, -np.log(0.25), rtol=1e-6)
    np.testing.assert_allclose(grad, -4.0, rtol=1e-6)


def test_modules_store_arguments_and_call_their_functions():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3))
    y = np.array([0, 2, 1, -1])
    w = np.array([1.0, 2.0, 3.0])
    module = ct.CrossEntropyLoss(weight=w, ignore_index=-1, label_smoothing=0.1, reduction="sum")
    np.testing.assert_array_equal(module(x, y), ct.cross_entropy(x, y, w, None, -1, None, "sum", 0.1))
    np.testing.assert_array_equal(
        module.forward(x, y, return_grad=True)[1],
        ct.cross_entropy(x, y, w, None, -1, None, "sum", 0.1, return_grad=True)[1],
    )
    assert "ignore_index=-1" in repr(module) and "label_smoothing=0.1" in repr(module)
    np.testing.assert_array_equal(ct.NLLLoss(w, ignore_index=-1)(x, y), ct.nll_loss(x, y, w, None, -1))
    p = 1 / (1 + np.exp(-x))
    np.testing.assert_array_equal(
        ct.BCELoss(w, reduction="none")(p, p), ct.binary_cross_entropy(p, p, w, None, None, "none")
    )
    np.testing.assert_array_equal(
        ct.BCEWithLogitsLoss(pos_weight=w)(x, p), ct.binary_cross_entropy_with_logits(x, p, pos_weight=w)
    )


def test_modules_reject_bad_reductions():
    with pytest.raises(ValueError, match="reduction"):
        ct.BCELoss(reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        ct.CrossEntropyLoss(None, None, -100, None, "batchmean")


# torch's _Reduction.legacy_get_string: (size_average, reduce) -> the reduction that replaces `reduction`
LEGACY = [
    ((True, None), "mean"),
    ((None, True), "mean"),
    ((False, None), "sum"),
    ((False, True), "sum"),
    ((True, False), "none"),
    ((None, False), "none"),
    ((False, False), "none"),
    ((1, 0), "none"),
]


@pytest.mark.parametrize("legacy,reduction", LEGACY)
def test_positional_legacy_slots_bind_as_in_torch(legacy, reduction):
    """The 4th positional argument is size_average, never ignore_index (no silent shift)."""
    size_average, reduce = legacy
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4))
    y = np.array([0, 1, 1, 3, 2])
    z = rng.uniform(size=(5, 4))
    p = 1 / (1 + np.exp(-x))
    calls = [
        (lambda *a, **k: ct.cross_entropy(x, y, None, *a, **k), ("ignore_index",), 1),
        (lambda *a, **k: ct.nll_loss(x, y, None, *a, **k), ("ignore_index",), 1),
        (lambda *a, **k: ct.binary_cross_entropy(p, z, None, *a, **k), (), None),
        (lambda *a, **k: ct.binary_cross_entropy_with_logits(x, z, None, *a, **k), (), None),
    ]
    for fn, between, filler in calls:
        args = (size_average,) + (filler,) * len(between) + (reduce,)
        with pytest.warns(UserWarning, match=f"please use reduction='{reduction}' instead"):
            got = fn(*args, "mean", return_grad=True)  # the legacy flags override `reduction`, as in torch
        want = fn(None, *(filler,) * len(between), None, reduction, return_grad=True)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_cross_entropy_fourth_positional_is_size_average():
    x = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0]])
    y = np.array([0, 1, 1])
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        value = ct.cross_entropy(x, y, None, True)
    lse = np.log(np.exp(x).sum(1))
    np.testing.assert_allclose(value, np.mean(lse - x[np.arange(3), y]), rtol=1e-14)  # nothing ignored
    assert value != ct.cross_entropy(x, y, ignore_index=1)


@pytest.mark.parametrize(
    "cls,args",
    [
        (ct.CrossEntropyLoss, (None, False)),
        (ct.NLLLoss, (None, True, -100, False)),
        (ct.BCELoss, (None, None, False)),
        (ct.BCEWithLogitsLoss, (None, False, None)),
    ],
)
def test_module_constructors_honour_legacy_arguments(cls, args):
    with pytest.warns(UserWarning, match="reduction='(sum|none)'"):
        module = cls(*args)
    assert module.reduction == ("sum" if cls is ct.CrossEntropyLoss or cls is ct.BCEWithLogitsLoss else "none")
