"""crossentropy.keras against the installed Keras 3, live: hypothesis draws shapes, options and data, and the
values must equal Keras' own (the backend this process loaded: NumPy under tests/conftest.py).  Gradients are
checked against Keras on its JAX backend, run in a subprocess (a Keras backend is fixed per process).

Keras' NumPy backend differs from its JAX/TensorFlow backends in ways we follow the latter for (it clips
sigmoid(x) in binary_crossentropy(from_logits=True), it returns float32 for float64 inputs), so binary
logits are drawn where the clip is inactive and float64 results are compared at float32 precision."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")

import crossentropy as ce  # noqa: E402
from crossentropy import keras as K  # noqa: E402

BACKEND = keras.backend.backend()
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REDUCTIONS = ["sum_over_batch_size", "sum", "none", None, "mean", "mean_with_sample_weight"]


def keras_call(fn, *args, **kwargs):
    """Keras itself, with NumPy's floating-point signals and our warnings out of the way."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fn(*args, **kwargs))


def ours(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ce.ProbabilityWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        return fn(*args, **kwargs)


def assert_matches(got, want, scale=0.0, rtol=1e-5):
    """Same shape, NaN/inf where Keras has them, finite values at float32 precision (absolute error allowed
    in proportion to the inputs' size: losses are differences of such numbers)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    np.testing.assert_array_equal(got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)])
    atol = rtol * (1.0 + scale + np.max(np.abs(want[fin]), initial=0.0))
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=atol)


# ---- data ------------------------------------------------------------------------------------------------------
@st.composite
def layouts(draw, max_lead=2):
    """(shape, class axis): 0-2 leading dimensions of 1-4, 2-8 classes, the class axis anywhere."""
    lead = draw(st.lists(st.integers(1, 4), min_size=0, max_size=max_lead))
    C = draw(st.integers(2, 8))
    pos = draw(st.integers(0, len(lead)))
    shape = tuple(lead[:pos]) + (C,) + tuple(lead[pos:])
    axis = draw(st.sampled_from([pos, pos - len(shape)]))
    return shape, axis


def probabilities(rng, shape, axis, kind):
    """Rows (along axis) of probabilities; "exact_zeros": some exact 0s, "unnormalised": rows scaled by 0.3-3."""
    ax = axis % len(shape)
    p = rng.gamma(0.7, size=shape)
    if kind == "exact_zeros":
        p = np.where(rng.random(shape) < 0.3, 0.0, p)
        p = p + (p.sum(axis=ax, keepdims=True) == 0)  # keep every row non-zero
    p = p / p.sum(axis=ax, keepdims=True)
    if kind == "unnormalised":
        p = p * rng.uniform(0.3, 3.0, [1 if i == ax else n for i, n in enumerate(shape)])
    return p


def predictions(rng, shape, axis, from_logits, kind):
    if from_logits:
        return rng.standard_normal(shape) * {"normal": 3.0, "exact_zeros": 0.3, "unnormalised": 12.0}[kind]
    return probabilities(rng, shape, axis, kind)


def one_hot_or_soft(rng, shape, axis, soft):
    if soft:
        return probabilities(rng, shape, axis, "normal")
    ax = axis % len(shape)
    labels = rng.integers(0, shape[ax], np.delete(shape, ax).tolist())
    return np.moveaxis(np.eye(shape[ax])[labels], -1, ax)


COMMON = dict(
    seed=st.integers(0, 2**32 - 1),
    from_logits=st.booleans(),
    kind=st.sampled_from(["normal", "exact_zeros", "unnormalised"]),
)


# ---- per-sample functions against Keras (this process' backend) -------------------------------------------------
@SETTINGS
@given(
    layout=layouts(),
    label_smoothing=st.sampled_from([0.0, 0.1, 0.37]),
    soft=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    **COMMON,
)
def test_categorical_crossentropy(layout, label_smoothing, soft, dtype, seed, from_logits, kind):
    shape, axis = layout
    rng = np.random.default_rng(seed)
    y_true = one_hot_or_soft(rng, shape, axis, soft).astype(dtype)
    y_pred = predictions(rng, shape, axis, from_logits, kind).astype(dtype)
    kw = dict(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
    want = keras_call(keras.losses.categorical_crossentropy, y_true, y_pred, **kw)
    got = ours(K.categorical_crossentropy, y_true, y_pred, **kw)
    assert got.dtype == dtype
    assert_matches(got, want, scale=float(np.abs(y_pred).max()) if from_logits else 0.0)


@SETTINGS
@given(
    layout=layouts(),
    label_smoothing=st.sampled_from([0.0, 0.2]),
    alpha=st.sampled_from([0.25, 1.0, "per-class"]),
    gamma=st.sampled_from([0.0, 2.0, 3.5]),
    **COMMON,
)
def test_categorical_focal_crossentropy(layout, label_smoothing, alpha, gamma, seed, from_logits, kind):
    shape, axis = layout
    rng = np.random.default_rng(seed)
    if alpha == "per-class":  # Keras broadcasts a per-class alpha against the last axis
        shape, axis = shape[:axis] + shape[axis + 1 :] + (shape[axis],), -1
        alpha = list(rng.uniform(0.1, 1.0, shape[-1]))
    y_true = one_hot_or_soft(rng, shape, axis, False).astype(np.float32)
    y_pred = predictions(rng, shape, axis, from_logits, kind).astype(np.float32)
    kw = dict(alpha=alpha, gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
    want = keras_call(keras.losses.categorical_focal_crossentropy, y_true, y_pred, **kw)
    assert_matches(ours(K.categorical_focal_crossentropy, y_true, y_pred, **kw), want)


@SETTINGS
@given(
    lead=st.lists(st.integers(1, 4), min_size=0, max_size=2),
    C=st.integers(2, 8),
    ignore=st.sampled_from([None, -1, 0, 255]),
    trailing_one=st.booleans(),
    **COMMON,
)
def test_sparse_categorical_crossentropy(lead, C, ignore, trailing_one, seed, from_logits, kind):
    rng = np.random.default_rng(seed)
    shape = tuple(lead) + (C,)
    labels = rng.integers(0, C, tuple(lead))
    if ignore is not None:
        labels = np.where(rng.random(labels.shape) < 0.3, ignore, labels)
    if trailing_one:
        labels = labels[..., np.newaxis]
    y_pred = predictions(rng, shape, -1, from_logits, kind).astype(np.float32)
    kw = dict(from_logits=from_logits, ignore_class=ignore)
    want = keras_call(keras.losses.sparse_categorical_crossentropy, labels, y_pred, **kw)
    got = ours(K.sparse_categorical_crossentropy, labels, y_pred, **kw)
    assert_matches(got, want, scale=float(np.abs(y_pred).max()) if from_logits else 0.0)


@SETTINGS
@given(
    layout=layouts(),
    label_smoothing=st.sampled_from([0.0, 0.1, 0.3]),
    focal=st.booleans(),
    balance=st.booleans(),
    alpha=st.sampled_from([0.25, 0.6]),
    gamma=st.sampled_from([0.0, 2.0, 3.5]),
    seed=st.integers(0, 2**32 - 1),
    from_logits=st.booleans(),
    soft=st.booleans(),
)
def test_binary_losses(layout, label_smoothing, focal, balance, alpha, gamma, seed, from_logits, soft):
    shape, axis = layout
    rng = np.random.default_rng(seed)
    y_true = (rng.random(shape) if soft else rng.integers(0, 2, shape)).astype(np.float32)
    if from_logits:  # where Keras' NumPy backend's clip of sigmoid(x) is inactive
        y_pred = rng.uniform(-4, 4, shape).astype(np.float32)
    else:
        y_pred = np.where(rng.random(shape) < 0.1, rng.integers(0, 2, shape), rng.random(shape)).astype(np.float32)
    kw = dict(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
    if focal:
        kw.update(apply_class_balancing=balance, alpha=alpha, gamma=gamma)
    name = "binary_focal_crossentropy" if focal else "binary_crossentropy"
    want = keras_call(getattr(keras.losses, name), y_true, y_pred, **kw)
    assert_matches(ours(getattr(K, name), y_true, y_pred, **kw), want, rtol=2e-5 if from_logits else 1e-5)


# ---- classes: reductions, weights, masks, dtypes ---------------------------------------------------------------
CLASS_KWARGS = {
    "CategoricalCrossentropy": st.fixed_dictionaries({"label_smoothing": st.sampled_from([0.0, 0.2])}),
    "SparseCategoricalCrossentropy": st.fixed_dictionaries({"ignore_class": st.sampled_from([None, 1, -1])}),
    "BinaryCrossentropy": st.fixed_dictionaries({"label_smoothing": st.sampled_from([0.0, 0.2])}),
    "CategoricalFocalCrossentropy": st.fixed_dictionaries({"gamma": st.sampled_from([0.0, 2.0])}),
    "BinaryFocalCrossentropy": st.fixed_dictionaries({"apply_class_balancing": st.booleans()}),
}


@st.composite
def class_calls(draw):
    name = draw(st.sampled_from(sorted(CLASS_KWARGS)))
    kw = draw(CLASS_KWARGS[name])
    kw["reduction"] = draw(st.sampled_from(REDUCTIONS))
    kw["dtype"] = draw(st.sampled_from([None, "float64"]))
    return name, kw


@SETTINGS
@given(
    call=class_calls(),
    lead=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    C=st.integers(2, 6),
    weight=st.sampled_from(["none", "scalar", "per-sample", "per-sample-x1", "first-axis"]),
    seed=st.integers(0, 2**32 - 1),
    from_logits=st.booleans(),
)
def test_classes(call, lead, C, weight, seed, from_logits):
    name, kw = call
    rng = np.random.default_rng(seed)
    lead = tuple(lead)
    shape = lead + (C,)
    if name.startswith("Sparse"):
        y_true = rng.integers(0, C, lead)
        if kw["ignore_class"] is not None:
            y_true = np.where(rng.random(lead) < 0.3, kw["ignore_class"], y_true)
    elif name.startswith("Binary"):
        y_true = rng.integers(0, 2, shape).astype(np.float32)
    else:
        y_true = one_hot_or_soft(rng, shape, -1, False).astype(np.float32)
    if name.startswith("Binary") and from_logits:
        y_pred = rng.uniform(-4, 4, shape).astype(np.float32)
    else:
        y_pred = predictions(rng, shape, -1, from_logits, "normal").astype(np.float32)
    if BACKEND == "numpy" and kw.get("ignore_class") is not None and weight in ("scalar", "first-axis"):
        weight = "per-sample"  # Keras' NumPy backend fails to merge a mask into a smaller weight in place
    sample_weight = {
        "none": None,
        "scalar": 0.7,
        "per-sample": rng.uniform(0, 2, lead),
        "per-sample-x1": rng.uniform(0, 2, lead + (1,)),
        "first-axis": rng.uniform(0, 2, lead[:1] + (1,) * (len(lead) - 1)),
    }[weight]
    want = keras_call(
        getattr(keras.losses, name)(from_logits=from_logits, **kw), y_true, y_pred, sample_weight=sample_weight
    )
    loss = getattr(K, name)(from_logits=from_logits, **kw)
    got = ours(loss, y_true, y_pred, sample_weight=sample_weight)
    assert_matches(got, want, scale=float(np.abs(y_pred).max()) if from_logits else 0.0)
    assert loss.get_config() == getattr(keras.losses, name)(from_logits=from_logits, **kw).get_config()


@pytest.mark.parametrize("name", ["BinaryCrossentropy", "BinaryFocalCrossentropy"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_classes_one_dimensional_with_sample_weight(name, reduction):
    """1-D y_true and y_pred are one sample (a scalar loss); Keras broadcasts a (6,) weight against it."""
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 2, 6).astype(np.float32)
    y_pred = rng.uniform(0.05, 0.95, 6).astype(np.float32)
    w = rng.uniform(0, 2, 6).astype(np.float32)
    want = keras_call(getattr(keras.losses, name)(reduction=reduction), y_true, y_pred, sample_weight=w)
    value, grad = ours(getattr(K, name)(reduction=reduction), y_true, y_pred, sample_weight=w, return_grad=True)
    assert_matches(value, want)
    assert grad.shape == y_pred.shape and grad.dtype == np.float32


# ---- gradients: Keras on JAX, in a subprocess ------------------------------------------------------------------
JAX_WORKER = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    import jax, jax.numpy as jnp
    import keras
    assert keras.backend.backend() == "jax"
    warnings.simplefilter("ignore")
    cases = json.load(open(sys.argv[1]))
    arrays = dict(np.load(sys.argv[2]))
    out = {}
    for i, case in enumerate(cases):
        y_true, y_pred = arrays[f"{i}/y_true"], arrays[f"{i}/y_pred"]
        sw = arrays.get(f"{i}/sample_weight")
        if case["kind"] == "function":
            fn = getattr(keras.losses, case["name"])
            f = lambda p: fn(y_true, p, **case["kwargs"])
        else:
            loss = getattr(keras.losses, case["name"])(**case["kwargs"])
            f = lambda p: loss(y_true, p, sample_weight=sw)
        out[f"{i}/value"] = np.asarray(f(jnp.asarray(y_pred)))
        out[f"{i}/grad"] = np.asarray(jax.grad(lambda p: jnp.sum(f(p)))(jnp.asarray(y_pred)))
    np.savez(sys.argv[3], **out)
""")


def gradient_cases(n=48, seed=20260101):
    """Random float32 cases over all five losses, functions and classes (with weights and reductions), then the
    1-D binary cases with per-element sample weights."""
    rng = np.random.default_rng(seed)
    names = [
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "binary_crossentropy",
        "categorical_focal_crossentropy",
        "binary_focal_crossentropy",
    ]
    classes = [
        "CategoricalCrossentropy",
        "SparseCategoricalCrossentropy",
        "BinaryCrossentropy",
        "CategoricalFocalCrossentropy",
        "BinaryFocalCrossentropy",
    ]
    cases, arrays = [], {}
    for i in range(n):
        k = i % 5
        kind = "class" if (i // 5) % 2 else "function"
        from_logits = bool(rng.integers(0, 2))
        lead = [(6,), (2, 3)][int(rng.integers(0, 2))]  # few shapes: JAX compiles each op once per shape
        C = int(rng.choice([3, 5]))
        shape = lead + (C,)
        kw = {"from_logits": from_logits}
        if k in (0, 2, 3, 4) and rng.random() < 0.5:
            kw["label_smoothing"] = 0.1
        if k in (3, 4):
            kw.update(alpha=float(rng.choice([0.25, 0.7])), gamma=float(rng.choice([0.0, 2.0, 3.5])))
        if k == 4:
            kw["apply_class_balancing"] = bool(rng.integers(0, 2))
        if k == 1:
            labels = rng.integers(0, C, lead)
            if rng.random() < 0.5:
                kw["ignore_class"] = -1
                labels = np.where(rng.random(lead) < 0.3, -1, labels)
            y_true = labels
        elif k in (2, 4):
            y_true = rng.integers(0, 2, shape).astype(np.float32)
        else:
            y_true = one_hot_or_soft(rng, shape, -1, rng.random() < 0.3).astype(np.float32)
        if k in (2, 4) and not from_logits:
            y_pred = rng.uniform(0.01, 0.99, shape)
        else:
            y_pred = predictions(rng, shape, -1, from_logits, "unnormalised" if rng.random() < 0.3 else "normal")
        case = {"kind": kind, "name": (classes if kind == "class" else names)[k], "kwargs": kw}
        arrays[f"{i}/y_true"], arrays[f"{i}/y_pred"] = y_true, y_pred.astype(np.float32)
        if kind == "class":
            kw["reduction"] = str(rng.choice(["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"]))
            if rng.random() < 0.7:
                arrays[f"{i}/sample_weight"] = rng.uniform(0, 2, lead).astype(np.float32)
        cases.append(case)
    # 1-D y_true / y_pred (one sample, one scalar loss) with a (6,) sample weight broadcast against it
    for name in ("BinaryCrossentropy", "BinaryFocalCrossentropy"):
        for reduction in ("sum_over_batch_size", "sum", "none", "mean_with_sample_weight"):
            i = len(cases)
            from_logits = reduction in ("sum", "none")
            cases.append(
                {"kind": "class", "name": name, "kwargs": {"from_logits": from_logits, "reduction": reduction}}
            )
            arrays[f"{i}/y_true"] = rng.integers(0, 2, 6).astype(np.float32)
            arrays[f"{i}/y_pred"] = (rng.uniform(-3, 3, 6) if from_logits else rng.uniform(0.05, 0.95, 6)).astype(
                np.float32
            )
            arrays[f"{i}/sample_weight"] = rng.uniform(0, 2, 6).astype(np.float32)
    return cases, arrays


N_GRADIENT_CASES = 48 + 8


@pytest.fixture(scope="module")
def jax_reference(tmp_path_factory):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    cases, arrays = gradient_cases()
    d = tmp_path_factory.mktemp("keras_jax")
    (d / "cases.json").write_text(json.dumps(cases))
    np.savez(d / "inputs.npz", **arrays)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", JAX_WORKER, str(d / "cases.json"), str(d / "inputs.npz"), str(d / "out.npz")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode:
        pytest.fail(f"Keras/JAX worker failed:\n{proc.stderr[-4000:]}")
    return cases, arrays, dict(np.load(d / "out.npz"))


@pytest.mark.parametrize("i", range(N_GRADIENT_CASES))
def test_values_and_gradients_match_keras_on_jax(jax_reference, i):
    cases, arrays, out = jax_reference
    case = cases[i]
    y_true, y_pred = arrays[f"{i}/y_true"], arrays[f"{i}/y_pred"]
    if case["kind"] == "function":
        value, grad = ours(getattr(K, case["name"]), y_true, y_pred, **case["kwargs"], return_grad=True)
    else:
        value, grad = ours(
            getattr(K, case["name"])(**case["kwargs"]),
            y_true,
            y_pred,
            sample_weight=arrays.get(f"{i}/sample_weight"),
            return_grad=True,
        )
    scale = float(np.abs(y_pred).max()) if case["kwargs"]["from_logits"] else 0.0
    assert_matches(value, out[f"{i}/value"], scale=scale)
    assert grad.dtype == np.float32 and grad.shape == y_pred.shape
    assert_matches(grad, out[f"{i}/grad"], rtol=2e-5)
