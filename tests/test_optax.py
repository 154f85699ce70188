"""crossentropy.optax against optax 0.2.8 on JAX (tests/golden/optax.jsonl, made by
tests/golden/generate_sklearn_optax.py with JAX_ENABLE_X64=1): values and jax.grad gradients, where= masks,
tuple axes, -inf logits, dtype checks; labels out of range; live differential tests against the installed
optax (skipped without it)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossentropy import optax as cox
from golden import goldenio

DOC, ARRAYS = goldenio.load("optax")
CASES = [c for c in DOC["cases"] if "error" not in c]
ERROR_CASES = [c for c in DOC["cases"] if "error" in c]
TOL = {"float32": {"rtol": 2e-5, "atol": 2e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12}}


def _args(case):
    args = [goldenio.value_of(case["args"][k], ARRAYS) for k in ("logits", "labels")]
    kwargs = {k: goldenio.value_of(v, ARRAYS) for k, v in case["kwargs"].items()}
    if isinstance(kwargs.get("axis"), list):
        kwargs["axis"] = tuple(kwargs["axis"]) if case.get("error") is None else kwargs["axis"]
    return args, kwargs


def assert_matches(mine, ref, dtype):
    assert mine.shape == ref.shape and mine.dtype == ref.dtype, (mine.shape, mine.dtype, ref.shape, ref.dtype)
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref), err_msg="NaN positions differ")
    np.testing.assert_allclose(mine, ref, equal_nan=True, **TOL[dtype])


def test_golden_versions():
    assert DOC["versions"]["optax"] == "0.2.8"
    assert DOC["versions"]["JAX_ENABLE_X64"] == "1"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_golden(case):
    (x, t), kwargs = _args(case)
    fn = getattr(cox, case["name"])
    with np.errstate(all="ignore"):
        value = fn(x, t, **kwargs)
        value2, grad = fn(x, t, **kwargs, return_grad=True)
    assert_matches(np.asarray(value), ARRAYS[case["outputs"]["value"]], case["dtype"])
    np.testing.assert_array_equal(value, value2)
    assert_matches(grad, ARRAYS[case["outputs"]["grad"]], case["dtype"])


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c["id"] for c in ERROR_CASES])
def test_golden_errors(case):
    (x, t), kwargs = _args(case)
    with pytest.raises({"TypeError": TypeError, "ValueError": ValueError}[case["error"]]):
        getattr(cox, case["name"])(x, t, **kwargs)


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0]])
def test_labels_out_of_range_raise(labels):
    with pytest.raises(IndexError, match="labels"):
        cox.softmax_cross_entropy_with_integer_labels(np.zeros((2, 3)), np.array(labels))
    with pytest.raises(IndexError, match="labels"):
        cox.softmax_cross_entropy_with_integer_labels(np.zeros((2, 3)), np.array(labels), where=np.ones((2, 3)))


def test_docstring_examples():
    import doctest

    assert doctest.testmod(cox).failed == 0


def test_float16_computes_in_float32():
    x = np.array([[1.0, 2.0, 3.0]], np.float16)
    value, grad = cox.softmax_cross_entropy(x, np.array([[0.0, 0.0, 1.0]], np.float16), return_grad=True)
    assert value.dtype == grad.dtype == np.float16
    np.testing.assert_allclose(value, cox.softmax_cross_entropy(x.astype(np.float32), np.eye(3)[2:]), rtol=1e-3)


def test_strided_logits():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 12))[::2, ::3]
    y = rng.integers(0, 4, 4)
    want = cox.softmax_cross_entropy_with_integer_labels(np.ascontiguousarray(x), y, return_grad=True)
    got = cox.softmax_cross_entropy_with_integer_labels(x, y, return_grad=True)
    np.testing.assert_allclose(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1])


# ---- live, against the installed optax ---------------------------------------------------------------------


def _optax():
    pytest.importorskip("optax")
    jax = pytest.importorskip("jax")
    from optax import losses

    return jax, losses


# one shape per dtype: every new shape costs a JAX compilation (seconds); ~60 s in all, so marked slow
@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(["float32", "float64"]),
    masked=st.booleans(),
    neg_inf=st.booleans(),
    name=st.sampled_from(
        [
            "softmax_cross_entropy",
            "softmax_cross_entropy_with_integer_labels",
            "safe_softmax_cross_entropy",
            "sigmoid_binary_cross_entropy",
            "sigmoid_focal_loss",
            "poly_loss_cross_entropy",
        ]
    ),
)
def test_live_random(seed, dtype, masked, neg_inf, name):
    jax, losses = _optax()
    import jax.numpy as jnp

    if dtype == "float64" and not jax.config.jax_enable_x64:  # JAX would compute in float32
        dtype = "float32"
    rows, cols = 4, 5
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(rows, cols)) * 4).astype(dtype)
    if neg_inf:
        x[rng.random(x.shape) < 0.2] = -np.inf
    integer = name.endswith("integer_labels")
    t = rng.integers(0, cols, rows) if integer else rng.dirichlet(np.ones(cols), rows).astype(dtype)
    kwargs = {}
    if masked and name in (
        "softmax_cross_entropy",
        "softmax_cross_entropy_with_integer_labels",
        "poly_loss_cross_entropy",
    ):
        kwargs["where"] = rng.random(x.shape) < 0.7
    if name.startswith("sigmoid") and neg_inf:
        x[x == -np.inf] = -50
    if name == "sigmoid_focal_loss":
        kwargs = {"alpha": 0.3, "gamma": float(rng.choice([0.0, 1.0, 2.0, 2.5]))}
    jkw = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    fn = getattr(losses, name)
    ref = np.asarray(fn(jnp.asarray(x), jnp.asarray(t), **jkw))
    ref_grad = np.asarray(jax.grad(lambda a: fn(a, jnp.asarray(t), **jkw).sum())(jnp.asarray(x)))
    with np.errstate(all="ignore"):
        value, grad = getattr(cox, name)(x, t, **kwargs, return_grad=True)
    assert_matches(np.asarray(value), ref, dtype)
    assert_matches(grad, ref_grad, dtype)
