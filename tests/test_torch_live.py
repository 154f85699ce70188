"""crossentropy.torch against the installed PyTorch, on inputs Hypothesis draws: values and ``input.grad``
after ``loss.sum().backward()``, for class-index and class-probability targets with K-dimensional inputs,
weights, ignore_index and label smoothing together, and the binary losses with broadcast weights."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from crossentropy import torch as ct  # noqa: E402

TOL = {np.float32: dict(rtol=2e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from([np.float32, np.float64])
REDUCTIONS = st.sampled_from(["none", "sum", "mean"])


def _torch_value_and_grad(fn, x, *args, **kwargs):
    """torch's value and input.grad after value.sum().backward()."""
    xt = torch.tensor(x.copy(), requires_grad=True)  # .copy(): positive strides
    value = fn(xt, *args, **kwargs)
    value.sum().backward()
    return value.detach().numpy(), xt.grad.numpy()


def _tensor(a):
    return None if a is None else torch.tensor(a.copy())


def assert_same(mine, theirs, dtype):
    mine, theirs = np.asarray(mine), np.asarray(theirs)
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype, (mine.shape, mine.dtype, theirs.shape)
    with np.errstate(all="ignore"):  # the comparison itself may underflow on subnormal values
        np.testing.assert_allclose(mine, theirs, equal_nan=True, **TOL[dtype])


@st.composite
def _maybe_strided(draw, x):
    """x itself, or the same values in a view with a reversed (or every other) axis."""
    if x.ndim == 0 or not draw(st.booleans()):
        return x
    axis = draw(st.integers(0, x.ndim - 1))
    if draw(st.booleans()):
        return np.flip(np.flip(x, axis).copy(), axis)  # a negative stride
    return np.repeat(x, 2, axis=axis)[(slice(None),) * axis + (slice(None, None, 2),)]  # every other


@st.composite
def classification_problems(draw):
    dtype = draw(DTYPES)
    n_classes = draw(st.integers(1, 6))
    one_d = draw(st.integers(0, 4)) == 0
    spatial = () if one_d else tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    shape = (n_classes,) if one_d else (draw(st.integers(0, 4)), n_classes) + spatial
    row_shape = () if one_d else (shape[0],) + spatial
    x = draw(hnp.arrays(dtype, shape, elements=st.floats(-20, 20, width=32)))
    weight = draw(st.none() | hnp.arrays(dtype, (n_classes,), elements=st.floats(0.125, 3, width=32)))
    probabilities = draw(st.booleans())
    if probabilities:
        target = draw(hnp.arrays(dtype, shape, elements=st.floats(0, 1, width=32)))
        ignore_index = draw(st.sampled_from([-100, -1]))
    else:
        ignore_index = draw(st.sampled_from([-100, -1, 0, n_classes - 1]))
        target = draw(hnp.arrays(np.int64, row_shape, elements=st.integers(0, n_classes - 1) | st.just(ignore_index)))
    return dict(
        x=draw(_maybe_strided(x)),
        target=target,
        weight=weight,
        ignore_index=ignore_index,
        reduction=draw(REDUCTIONS),
        label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, -0.3])),
        dtype=dtype,
    )


@SETTINGS
@given(classification_problems())
def test_cross_entropy_matches_torch(problem):
    x, target, dtype = problem["x"], problem["target"], problem["dtype"]
    kwargs = {k: problem[k] for k in ("ignore_index", "reduction", "label_smoothing")}
    value, grad = ct.cross_entropy(x, target, weight=problem["weight"], return_grad=True, **kwargs)
    want_value, want_grad = _torch_value_and_grad(
        F.cross_entropy, x, _tensor(target), weight=_tensor(problem["weight"]), **kwargs
    )
    assert_same(value, want_value, dtype)
    assert_same(grad, want_grad, dtype)


@SETTINGS
@given(classification_problems().filter(lambda p: p["target"].dtype == np.int64))
def test_nll_loss_matches_torch(problem):
    x, target, dtype = problem["x"], problem["target"], problem["dtype"]
    kwargs = {k: problem[k] for k in ("ignore_index", "reduction")}
    value, grad = ct.nll_loss(x, target, weight=problem["weight"], return_grad=True, **kwargs)
    want_value, want_grad = _torch_value_and_grad(
        F.nll_loss, x, _tensor(target), weight=_tensor(problem["weight"]), **kwargs
    )
    assert_same(value, want_value, dtype)
    assert_same(grad, want_grad, dtype)


@st.composite
def binary_problems(draw, lo, hi):
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    x = draw(hnp.arrays(dtype, shape, elements=st.floats(lo, hi, width=32)))
    target = draw(hnp.arrays(dtype, shape, elements=st.floats(0, 1, width=32)))

    def broadcastable():  # a suffix of the shape with some axes of length 1
        suffix = shape[len(shape) - draw(st.integers(0, len(shape))) :]
        return tuple(1 if draw(st.booleans()) else n for n in suffix)

    weight = draw(st.none() | hnp.arrays(dtype, broadcastable(), elements=st.floats(0, 3, width=32)))
    pos_weight = draw(st.none() | hnp.arrays(dtype, broadcastable(), elements=st.floats(0.125, 3, width=32)))
    return dict(
        x=draw(_maybe_strided(x)),
        target=target,
        weight=weight,
        pos_weight=pos_weight,
        reduction=draw(REDUCTIONS),
        dtype=dtype,
    )


@SETTINGS
@given(binary_problems(0, 1))
def test_binary_cross_entropy_matches_torch(problem):
    x, target, weight, dtype = problem["x"], problem["target"], problem["weight"], problem["dtype"]
    value, grad = ct.binary_cross_entropy(x, target, weight, reduction=problem["reduction"], return_grad=True)
    want_value, want_grad = _torch_value_and_grad(
        F.binary_cross_entropy, x, _tensor(target), _tensor(weight), reduction=problem["reduction"]
    )
    assert_same(value, want_value, dtype)
    assert_same(grad, want_grad, dtype)


@SETTINGS
@given(binary_problems(-30, 30))
def test_binary_cross_entropy_with_logits_matches_torch(problem):
    x, target, dtype = problem["x"], problem["target"], problem["dtype"]
    weight, pos_weight = problem["weight"], problem["pos_weight"]
    value, grad = ct.binary_cross_entropy_with_logits(
        x, target, weight, None, None, problem["reduction"], pos_weight, return_grad=True
    )
    want_value, want_grad = _torch_value_and_grad(
        F.binary_cross_entropy_with_logits,
        x,
        _tensor(target),
        _tensor(weight),
        reduction=problem["reduction"],
        pos_weight=_tensor(pos_weight),
    )
    assert_same(value, want_value, dtype)
    assert_same(grad, want_grad, dtype)


@SETTINGS
@given(classification_problems())
def test_modules_match_torch_modules(problem):
    x, target, dtype = problem["x"], problem["target"], problem["dtype"]
    kwargs = {k: problem[k] for k in ("ignore_index", "reduction", "label_smoothing")}
    value, grad = ct.CrossEntropyLoss(problem["weight"], **kwargs)(x, target, return_grad=True)
    module = torch.nn.CrossEntropyLoss(_tensor(problem["weight"]), **kwargs)
    want_value, want_grad = _torch_value_and_grad(module, x, _tensor(target))
    assert_same(value, want_value, dtype)
    assert_same(grad, want_grad, dtype)


LEGACY_FLAGS = [None, True, False]


@pytest.mark.parametrize("size_average", LEGACY_FLAGS)
@pytest.mark.parametrize("reduce", LEGACY_FLAGS)
def test_positional_arguments_bind_as_in_torch(size_average, reduce):
    """Every positional slot, the legacy size_average/reduce included, means what it means in torch."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, 3))
    y = np.array([0, 1, 2, 1, 1, 0])
    z = rng.uniform(size=(6, 3))
    p = 1 / (1 + np.exp(-x))
    w = np.array([1.0, 2.0, 0.5])
    cases = [
        (ct.cross_entropy, F.cross_entropy, x, y, (w, size_average, 1, reduce, "sum", 0.2)),
        (ct.nll_loss, F.nll_loss, x, y, (w, size_average, 1, reduce, "sum")),
        (ct.binary_cross_entropy, F.binary_cross_entropy, p, z, (w, size_average, reduce, "sum")),
        (
            ct.binary_cross_entropy_with_logits,
            F.binary_cross_entropy_with_logits,
            x,
            z,
            (w, size_average, reduce, "sum", w),
        ),
    ]
    for mine, theirs, inp, target, args in cases:
        torch_args = tuple(_tensor(a) if isinstance(a, np.ndarray) else a for a in args)
        with warnings.catch_warnings(record=True) as torch_warned:
            warnings.simplefilter("always")
            want_value, want_grad = _torch_value_and_grad(theirs, inp, _tensor(target), *torch_args)
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            value, grad = mine(inp, target, *args, return_grad=True)
        assert [str(m.message) for m in warned] == [str(m.message) for m in torch_warned]
        assert_same(value, want_value, np.float64)
        assert_same(grad, want_grad, np.float64)


@pytest.mark.parametrize("size_average", LEGACY_FLAGS)
@pytest.mark.parametrize("reduce", LEGACY_FLAGS)
def test_module_constructors_bind_as_in_torch(size_average, reduce):
    w = np.array([1.0, 2.0, 0.5])
    pairs = [
        (ct.CrossEntropyLoss, torch.nn.CrossEntropyLoss, (w, size_average, -100, reduce, "sum", 0.1)),
        (ct.NLLLoss, torch.nn.NLLLoss, (w, size_average, -100, reduce, "sum")),
        (ct.BCELoss, torch.nn.BCELoss, (w, size_average, reduce, "sum")),
        (ct.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, (w, size_average, reduce, "sum", w)),
    ]
    for mine, theirs, args in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = theirs(*(_tensor(a) if isinstance(a, np.ndarray) else a for a in args))
            assert mine(*args).reduction == module.reduction
