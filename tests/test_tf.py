"""crossentropy.tf against the values and GradientTape grads TensorFlow 2.21 produced (tests/golden/tf.jsonl),
its errors, TF's own gradient quirks, strided inputs, finite differences, and the documented difference."""

import numpy as np
import pytest
from helpers import finite_difference

import crossentropy as ce
from crossentropy import tf as ctf
from golden import goldenio

DOC, ARRAYS = goldenio.load("tf")
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}

# the keras_tf_backend.* cases in the same file belong to crossentropy.keras
CASES = [c for c in DOC["cases"] if not c["name"].startswith("keras")]


def _call(case, **extra):
    kwargs = {k: ARRAYS[v["array"]] if isinstance(v, dict) else v for k, v in case["kwargs"].items()}
    labels, logits = (ARRAYS[case["inputs"][k]] for k in ("labels", "logits"))
    return getattr(ctf, case["name"])(labels, logits, **kwargs, **extra)


def assert_matches(mine, ref, dtype):
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.shape == ref.shape and mine.dtype == ref.dtype, (mine.shape, mine.dtype, ref.shape, ref.dtype)
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref), err_msg="NaN positions differ")
    np.testing.assert_allclose(mine, ref, equal_nan=True, **TOL[dtype])


def _finite_softmax_value(case):
    """softmax_cross_entropy_with_logits where a zero label on a -inf logit adds 0 (our documented difference)."""
    labels, logits = (ARRAYS[case["inputs"][k]].astype(np.float64) for k in ("labels", "logits"))
    axis = case["kwargs"].get("axis", -1)
    labels = np.broadcast_to(labels, logits.shape)
    with np.errstate(all="ignore"):
        m = logits.max(axis, keepdims=True)
        logp = (logits - m) - np.log(np.exp(logits - m).sum(axis, keepdims=True))
        return np.where(labels != 0, -labels * logp, 0.0).sum(axis).astype(case["dtype"])


def _expected_value(case):
    ref = ARRAYS[case["outputs"]["value"]]
    if case["name"] != "softmax_cross_entropy_with_logits":
        return ref
    finite = _finite_softmax_value(case)
    return np.where(np.isnan(ref) & ~np.isnan(finite), finite, ref)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_golden_value_and_grad(case):
    value, grad = _call(case, return_grad=True)
    assert_matches(value, _expected_value(case), case["dtype"])
    assert_matches(grad, ARRAYS[case["outputs"]["grad"]], case["dtype"])
    assert_matches(_call(case), _expected_value(case), case["dtype"])


def test_documented_difference_covers_only_zero_labels_on_neginf_logits():
    differing = [
        c["id"] for c in CASES if not np.array_equal(_expected_value(c), ARRAYS[c["outputs"]["value"]], equal_nan=True)
    ]
    assert differing, "the golden files should contain TF's NaN for a zero label on a -inf logit"
    assert all(".masked." in i or ".target_neginf." in i for i in differing), differing


def test_zero_label_on_neginf_logit_is_finite():
    value, grad = ctf.softmax_cross_entropy_with_logits([0.0, 1.0, 0.0], [-np.inf, 0.0, 1.0], return_grad=True)
    np.testing.assert_allclose(value, np.logaddexp(0.0, 1.0), rtol=1e-15)
    np.testing.assert_allclose(grad, ce.softmax(np.array([-np.inf, 0.0, 1.0])) - [0, 1, 0], rtol=1e-15)


# ---- TF's own gradients -------------------------------------------------------------------------------
def test_softmax_grad_is_softmax_minus_labels_for_unnormalised_labels():
    value, grad = ctf.softmax_cross_entropy_with_logits(np.float32([1, 2]), np.float32([1, 2]), return_grad=True)
    np.testing.assert_allclose(value, 1.939785, rtol=1e-6)
    np.testing.assert_allclose(grad, [-0.7310586, -1.2689414], rtol=1e-6)
    # the true derivative (the top-level gufunc) differs
    _, true_grad = ce.softmax_cross_entropy_and_grad(np.float32([1, 2]), np.float32([1, 2]))
    np.testing.assert_allclose(true_grad, [-0.19317574, 0.19317574], rtol=1e-5)


def test_weighted_grad_at_zero_is_tf_subgradient():
    z = np.array([0.0, 1.0, 0.5, 1.0])
    _, grad = ctf.weighted_cross_entropy_with_logits(z, np.zeros(4), 3.0, return_grad=True)
    np.testing.assert_array_equal(grad, 1 - z)  # the true derivative would be (1 - z) - l / 2
    _, grad = ctf.weighted_cross_entropy_with_logits(z, np.full(4, -0.0), 3.0, return_grad=True)
    np.testing.assert_array_equal(grad, 1 - z)


def test_sigmoid_grad_at_zero_is_the_true_derivative():
    z = np.array([0.0, 1.0, 0.25])
    _, grad = ctf.sigmoid_cross_entropy_with_logits(z, np.zeros(3), return_grad=True)
    np.testing.assert_array_equal(grad, 0.5 - z)


def test_sparse_doc_example():
    value, grad = ctf.sparse_softmax_cross_entropy_with_logits(np.int32(1), np.float32([1, 2]), return_grad=True)
    np.testing.assert_allclose(value, 0.31326166, rtol=1e-6)
    np.testing.assert_allclose(grad, [0.26894143, -0.2689414], rtol=1e-6)


# ---- errors -------------------------------------------------------------------------------------------
ERRORS = {
    "tf.err.sparse.label_eq_C.int32": (IndexError, "labels"),
    "tf.err.sparse.label_negative.int32": (IndexError, "labels"),
    "tf.err.sparse.label_eq_C.int64": (IndexError, "labels"),
    "tf.err.sparse.label_negative.int64": (IndexError, "labels"),
    "tf.err.sparse.rank_mismatch": (ValueError, "labels"),
    "tf.err.sparse.scalar_logits": (ValueError, "logits"),
    "tf.err.softmax.shape_mismatch": (ValueError, "labels"),
    "tf.err.sigmoid.shape_mismatch": (ValueError, "labels"),
}


def test_every_golden_error_case_is_listed():
    assert {c["id"] for c in DOC["error_cases"]} == set(ERRORS)


@pytest.mark.parametrize("case", DOC["error_cases"], ids=[c["id"] for c in DOC["error_cases"]])
def test_golden_error(case):
    error, argument = ERRORS[case["id"]]
    for return_grad in (False, True):
        with pytest.raises(error, match=argument):
            _call(case, return_grad=return_grad)


@pytest.mark.parametrize("labels", [np.array([0.0, 1.0]), np.array([0, 1], np.uint8), np.array([0, 1], np.int16)])
def test_sparse_labels_must_be_int32_or_int64(labels):
    with pytest.raises(TypeError, match="labels"):
        ctf.sparse_softmax_cross_entropy_with_logits(labels, np.zeros((2, 3)))


def test_sigmoid_ops_do_not_cast_labels_or_pos_weight():
    x = np.zeros(3, np.float32)
    with pytest.raises(TypeError, match="labels"):
        ctf.sigmoid_cross_entropy_with_logits(np.zeros(3), x)
    with pytest.raises(TypeError, match="pos_weight"):
        ctf.weighted_cross_entropy_with_logits(np.zeros(3, np.float32), x, np.ones(3))
    with pytest.raises(ValueError, match="pos_weight"):
        ctf.weighted_cross_entropy_with_logits(np.zeros(3, np.float32), x, np.ones(2, np.float32))
    # without a dtype of their own, labels and pos_weight take the logits' dtype
    value = ctf.weighted_cross_entropy_with_logits([0.0, 1.0, 0.5], x, 2.0)
    assert value.dtype == np.float32


def test_integer_logits_are_rejected():
    with pytest.raises(TypeError, match="logits"):
        ctf.softmax_cross_entropy_with_logits([[0.0, 1.0]], [[1, 2]])


# ---- layouts, dtypes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_axis_and_strided_input(axis):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 4, 6))[::-1, :, ::2]
    labels = rng.uniform(0, 1, (4, 1))  # broadcasts; not normalised
    if axis == 0:
        labels = rng.uniform(0, 1, (5, 1, 1))
    value, grad = ctf.softmax_cross_entropy_with_logits(labels, logits, axis=axis, return_grad=True)
    moved = np.moveaxis(logits, axis, -1)
    flat_labels = np.moveaxis(np.broadcast_to(labels, logits.shape), axis, -1)
    want_value, want_grad = ce.softmax_cross_entropy(moved, flat_labels), ce.softmax(moved) - flat_labels
    np.testing.assert_allclose(value, want_value, rtol=1e-13)
    np.testing.assert_allclose(grad, np.moveaxis(want_grad, -1, axis), rtol=1e-13, atol=1e-15)


def test_sparse_kdim_strided():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((6, 3, 5)).transpose(1, 0, 2)[:, ::-1]
    labels = rng.integers(0, 5, (3, 6)).astype(np.int32)
    value, grad = ctf.sparse_softmax_cross_entropy_with_logits(labels, logits, return_grad=True)
    want_value, want_grad = ce.sparse_softmax_cross_entropy_and_grad(logits, labels)
    np.testing.assert_allclose(value, want_value, rtol=1e-14)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_in_is_dtype_out(dtype):
    x = np.array([[0.5, -1.0, 2.0], [0.0, 0.1, 0.2]], dtype)
    z = (x / 4 + 0.5).astype(dtype)
    for value, grad in [
        ctf.softmax_cross_entropy_with_logits(z, x, return_grad=True),
        ctf.sparse_softmax_cross_entropy_with_logits(np.array([0, 2]), x, return_grad=True),
        ctf.sigmoid_cross_entropy_with_logits(z, x, return_grad=True),
        ctf.weighted_cross_entropy_with_logits(z, x, 2.0, return_grad=True),
    ]:
        assert value.dtype == dtype and grad.dtype == dtype and grad.shape == x.shape


def test_scalar_logits_for_the_elementwise_ops():
    value, grad = ctf.sigmoid_cross_entropy_with_logits(np.float64(1.0), np.float64(1.0), return_grad=True)
    assert np.shape(value) == () and np.shape(grad) == ()
    np.testing.assert_allclose(value, np.log1p(np.exp(-1.0)), rtol=1e-15)


# ---- finite differences (away from x = 0, where weighted gives TF's subgradient) ---------------------
def _fd_problems():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4)) * 3
    onehot_ish = rng.dirichlet(np.ones(4), 3)  # sums to 1: TF's op grad is then the true derivative
    z = rng.uniform(0, 1, (3, 4))
    return {
        "softmax": (ctf.softmax_cross_entropy_with_logits, x, dict(labels=onehot_ish)),
        "softmax_axis0": (
            ctf.softmax_cross_entropy_with_logits,
            x,
            dict(labels=rng.dirichlet(np.ones(3), 4).T, axis=0),
        ),
        "sparse": (ctf.sparse_softmax_cross_entropy_with_logits, x, dict(labels=np.array([0, 3, 1]))),
        "sigmoid": (ctf.sigmoid_cross_entropy_with_logits, x, dict(labels=z)),
        "weighted": (ctf.weighted_cross_entropy_with_logits, x, dict(labels=z, pos_weight=np.linspace(0.5, 3, 4))),
    }


@pytest.mark.parametrize("name", list(_fd_problems()))
def test_grad_matches_finite_differences(name):
    fn, x, kwargs = _fd_problems()[name]
    _, grad = fn(logits=x, return_grad=True, **kwargs)
    np.testing.assert_allclose(grad, finite_difference(lambda a: fn(logits=a, **kwargs), x), rtol=1e-6, atol=1e-8)
