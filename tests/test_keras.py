"""crossentropy.keras against Keras 3 itself: every case of tests/golden/keras.jsonl (values and JAX
gradients, made by tests/golden/generate_keras.py), the numbers quoted in the seed documents, the
probability warnings, bad inputs, configs, dtype rules and finite-difference gradients.  Keras is not
needed here (tests/test_keras_live.py runs the installed Keras)."""

import warnings

import numpy as np
import pytest
from helpers import finite_difference

import crossentropy as ce
from crossentropy import keras as K
from golden import goldenio

DOC, ARRAYS = goldenio.load("keras")
CASES = {case["id"]: case for case in DOC["cases"]}
FUNCTIONS = [
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "categorical_focal_crossentropy",
    "binary_focal_crossentropy",
]
CLASSES = [
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "BinaryCrossentropy",
    "CategoricalFocalCrossentropy",
    "BinaryFocalCrossentropy",
]


# ---- helpers -----------------------------------------------------------------------------------------------
def assert_close(got, want, dtype, *, scale=0.0, rtol=None, what="value"):
    """NaN and +-inf where Keras has them; finite entries within float tolerance.  ``scale``: the size of the
    inputs the result is a difference of (logits), which bounds its absolute rounding error."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions")
    inf = np.isinf(want)
    np.testing.assert_array_equal(got[inf], want[inf], err_msg=f"{what}: infinities")
    fin = np.isfinite(want)
    if not fin.any():
        return
    if rtol is None:
        rtol = 1e-10 if dtype == np.float64 else 1e-5
    atol = rtol * 0.1 * (1.0 + np.max(np.abs(want[fin])) + scale)
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=atol, err_msg=what)


def finite_scale(x):
    x = np.asarray(x, np.float64)
    return float(np.max(np.abs(x[np.isfinite(x)]), initial=0.0))


def case_inputs(case):
    inp = case["inputs"]
    sw = ARRAYS[inp["sample_weight"]] if "sample_weight" in inp else None
    if sw is not None and case.get("sample_weight_python_scalar"):
        sw = float(sw)
    return ARRAYS[inp["y_true"]], ARRAYS[inp["y_pred"]], sw


def run_case(case, return_grad=True):
    y_true, y_pred, sw = case_inputs(case)
    if case["kind"] == "function":
        return getattr(K, case["name"])(y_true, y_pred, **case["kwargs"], return_grad=return_grad)
    return getattr(K, case["name"])(**case["kwargs"])(y_true, y_pred, sample_weight=sw, return_grad=return_grad)


def is_binary_float64(case):
    """Keras' JAX ops.mean averages float64 in float32; we keep float64 (documented difference)."""
    binary = case["name"] in (
        "binary_crossentropy",
        "binary_focal_crossentropy",
        "BinaryCrossentropy",
        "BinaryFocalCrossentropy",
    )
    return binary and (case["dtype"] == "float64" or case["kwargs"].get("dtype") == "float64")


def zero_target_on_neg_inf(case):
    """Rows where Keras multiplies a zero target by a -inf log-probability (NaN) although the logits are
    neither NaN nor +inf; we give the row's value."""
    y_true, y_pred, _ = case_inputs(case)
    if (
        not case["kwargs"].get("from_logits")
        or case["outputs"]["value"] is None
        or case["kind"] != "function"
        or case["name"] not in ("categorical_crossentropy", "sparse_categorical_crossentropy")
        or case["kwargs"].get("axis", -1) != -1
        or not np.isneginf(y_pred).any()
    ):
        return False
    clean_rows = ~np.isnan(y_pred).any(axis=-1) & ~np.isposinf(y_pred).any(axis=-1)
    return bool((np.isnan(ARRAYS[case["outputs"]["value"]]) & clean_rows).any())


DIFFERENCES = {  # case id -> what we do instead (each checked in test_golden_documented_differences)
    cid: reason
    for cid, case in CASES.items()
    for reason in [
        "raises IndexError"
        if "label_eq_C" in cid or "label_neg1_no_ignore" in cid
        else "raises ValueError"
        if "float_labels" in cid
        else "natural label shape"
        if "BCT_axis1_C3T4" in cid
        else "zero target on -inf"
        if zero_target_on_neg_inf(case)
        else None
    ]
    if reason
}
AGREEING = [cid for cid in CASES if cid not in DIFFERENCES]


# ---- every golden case ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cid", AGREEING)
def test_golden(cid):
    case = CASES[cid]
    out = case["outputs"]
    if out["value"] is None:  # Keras raised: so do we, with a ValueError
        with pytest.raises(ValueError):
            run_case(case)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # probability / single-class warnings are tested below
        value, grad = run_case(case)
    want = ARRAYS[out["value"]]
    dtype = want.dtype
    assert np.asarray(value).dtype == dtype
    rtol = 2e-7 if is_binary_float64(case) else None
    scale = finite_scale(case_inputs(case)[1])
    assert_close(value, want, dtype, scale=scale, rtol=rtol)
    if out["grad"] is not None:
        want_grad = ARRAYS[out["grad"]]
        assert grad.dtype == want_grad.dtype and grad.shape == want_grad.shape
        assert_close(grad, want_grad, dtype, rtol=rtol, what="grad")
    if case["kind"] == "class":
        assert getattr(K, case["name"])(**case["kwargs"]).get_config() == case["config"]


@pytest.mark.parametrize("cid", sorted(DIFFERENCES))
def test_golden_documented_differences(cid):
    case = CASES[cid]
    reason = DIFFERENCES[cid]
    y_true, y_pred, _ = case_inputs(case)
    if reason == "raises IndexError":
        with pytest.raises(IndexError, match="y_true contains"):
            run_case(case)
    elif reason == "raises ValueError":
        with pytest.raises(ValueError, match="y_true must hold integer class indices"):
            run_case(case)
    elif reason == "natural label shape":
        # Keras checks labels against y_pred.shape[:-1]; we take y_pred's shape without the class axis,
        # and index them as Keras would: the same as moving the class axis last
        kw = dict(case["kwargs"])
        axis = kw.pop("axis")
        value, grad = run_case(case)
        want, want_grad = K.sparse_categorical_crossentropy(
            y_true, np.moveaxis(y_pred, axis, -1), **kw, return_grad=True
        )
        assert_close(value, want, y_pred.dtype)
        assert_close(grad, np.moveaxis(want_grad, -1, axis), y_pred.dtype)
    else:  # zero target on -inf: Keras' NaN rows have their value here, everything else (grads too) agrees
        value, grad = run_case(case)
        want = ARRAYS[case["outputs"]["value"]]
        keras_nan = np.isnan(want)
        assert keras_nan.any() and not np.isnan(value[keras_nan]).any()
        assert_close(value[~keras_nan], want[~keras_nan], y_pred.dtype)
        assert_close(grad, ARRAYS[case["outputs"]["grad"]], y_pred.dtype, what="grad")
        # the finite value: -sum over the non-zero targets of t log softmax(x)
        logp = ce.log_softmax(y_pred.astype(np.float64))
        t = np.zeros(y_pred.shape)
        if case["name"] == "sparse_categorical_crossentropy":
            t[np.arange(len(y_true)), y_true] = 1
            if case["kwargs"].get("ignore_class") is not None:
                t[y_true == case["kwargs"]["ignore_class"]] = 0
        else:
            t[:] = y_true
        with np.errstate(invalid="ignore"):
            ref = -np.sum(np.where(t == 0, 0, t * logp), axis=-1)
        assert_close(value[keras_nan], ref[keras_nan], y_pred.dtype, rtol=1e-6)


def test_golden_file_is_the_keras_we_follow():
    assert DOC["versions"]["keras"].startswith("3.")
    assert len(AGREEING) > 1000 and len(DIFFERENCES) < 40
    assert set(DOC["configs"]) == set(CLASSES)


# ---- the seed documents' numbers ---------------------------------------------------------------------------
SEED_TRUE = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
SEED_PRED = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]])


def test_seed_class_value_with_an_unnormalised_row():
    with pytest.warns(ce.ProbabilityWarning, match="1 of 3 rows do not sum to 1"):
        value = K.CategoricalCrossentropy()(SEED_TRUE, SEED_PRED)
    assert value.dtype == np.float32
    np.testing.assert_allclose(value, 0.3239681124687195, rtol=1e-6)


def test_seed_function_rescales_rows():
    with pytest.warns(ce.ProbabilityWarning):
        value = K.categorical_crossentropy(SEED_TRUE, SEED_PRED)
    assert value.dtype == np.float64
    np.testing.assert_allclose(value, [0.10536052, 0.80466845, 0.0618754], rtol=1e-7)
    # the row the seed rescales by hand gives the plain formula's value
    scaled = np.array([[0.9, 0.05, 0.05], [0.2512563, 0.44723618, 0.30150756], [0.05, 0.01, 0.94]])
    np.testing.assert_allclose(
        K.categorical_crossentropy(SEED_TRUE, scaled), [0.10536052, 0.80466846, 0.0618754], rtol=1e-7
    )


def test_seed_clipping_to_epsilon():
    y_true, y_pred = np.array([[0, 1]]), np.array([[0.99999999999, 0.00000000001]])
    value32 = K.CategoricalCrossentropy()(y_true, y_pred)
    assert value32.dtype == np.float32
    np.testing.assert_allclose(value32, 16.11809539794922, rtol=1e-6)
    np.testing.assert_allclose(K.categorical_crossentropy(y_true, y_pred), [16.11809565], rtol=1e-9)
    np.testing.assert_allclose(
        K.categorical_crossentropy(y_true, np.clip(y_pred, 1e-7, 1 - 1e-7)), [16.11809565], rtol=1e-9
    )


def test_seed_binary_crossentropy_of_a_perfect_prediction():
    # Keras 3 clips 1 to 1 - 2**-23 in float32: -log(1 - 2**-23) = 1.1920929e-07; the seed's 1.1920933e-07
    # came from TF 1.x's log(p / (1 - p)) round trip.  They agree to 4e-7.
    value = K.binary_crossentropy(np.array([1.0], np.float32), np.array([1.0], np.float32))
    assert value.dtype == np.float32 and value.shape == ()
    np.testing.assert_allclose(value, 1.1920933e-07, rtol=1e-6)
    np.testing.assert_allclose(value, -np.log1p(-(2.0**-23)), rtol=1e-6)


def test_seed_categorical_with_targets_summing_to_3():
    y = np.array([1.0, 2.0], np.float32)
    with pytest.warns(ce.ProbabilityWarning):  # [1, 2] is not a probability row
        np.testing.assert_allclose(K.categorical_crossentropy(y, y), 1.9095424, rtol=1e-6)
    np.testing.assert_allclose(K.categorical_crossentropy(y, y, from_logits=True), 1.939785, rtol=1e-6)


def test_seed_sparse_categorical():
    pred = np.array([0.2, 0.2, 0.6], np.float32)
    np.testing.assert_allclose(K.sparse_categorical_crossentropy(np.array(1), pred), 1.609438, rtol=1e-6)
    np.testing.assert_allclose(K.sparse_categorical_crossentropy(1, pred), 1.609438, rtol=1e-6)
    np.testing.assert_allclose(K.SparseCategoricalCrossentropy()(1, pred), 1.609438, rtol=1e-6)
    np.testing.assert_allclose(
        K.sparse_categorical_crossentropy(1, np.array([1.0, 2.0], np.float32), from_logits=True), 0.31326166, rtol=1e-6
    )


# ---- probability warnings ------------------------------------------------------------------------------------
def test_warns_for_unnormalised_rows_and_points_at_the_caller():
    with pytest.warns(ce.ProbabilityWarning, match="1 of 3 rows do not sum to 1") as record:
        K.categorical_crossentropy(SEED_TRUE, SEED_PRED)
    assert record[0].filename == __file__
    with pytest.warns(ce.ProbabilityWarning) as record:
        K.CategoricalCrossentropy()(SEED_TRUE, SEED_PRED)
    assert record[0].filename == __file__
    with pytest.warns(ce.ProbabilityWarning, match="2 of 2 rows do not sum to 1"):
        K.sparse_categorical_crossentropy([0, 1], [[0.5, 0.9], [0.1, 0.2]])


@pytest.mark.parametrize(
    "fn",
    ["categorical_crossentropy", "categorical_focal_crossentropy", "binary_crossentropy", "binary_focal_crossentropy"],
)
def test_warns_that_logits_look_like_logits(fn):
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        getattr(K, fn)(np.eye(3)[:2], logits)
    messages = [str(w.message) for w in record if w.category is ce.ProbabilityWarning]
    assert any("2 of 2 rows have values outside [0, 1]" in m and "from_logits=True" in m for m in messages)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(K, fn)(np.eye(3)[:2], logits, from_logits=True)


def test_silent_for_proper_probabilities():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        K.categorical_crossentropy(np.eye(5)[rng.integers(0, 5, 7)], p)
        K.sparse_categorical_crossentropy(rng.integers(0, 5, 7), p)
        K.categorical_focal_crossentropy(np.eye(5)[rng.integers(0, 5, 7)], p)
        K.binary_crossentropy(rng.integers(0, 2, (7, 5)), p)
        K.CategoricalCrossentropy()(np.eye(5)[rng.integers(0, 5, 7)], p.astype(np.float32))


def test_warning_is_filterable_and_results_unchanged():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ce.ProbabilityWarning)
        quiet = K.categorical_crossentropy(SEED_TRUE, SEED_PRED)
    with pytest.warns(ce.ProbabilityWarning):
        loud = K.categorical_crossentropy(SEED_TRUE, SEED_PRED)
    np.testing.assert_array_equal(quiet, loud)


def test_single_class_warns_like_keras():
    with pytest.warns(SyntaxWarning, match="num_classes > 1"):
        K.categorical_crossentropy(np.ones((2, 1)), np.ones((2, 1)))
    with pytest.warns(SyntaxWarning, match="categorical_focal_crossentropy"):
        K.CategoricalFocalCrossentropy()(np.ones((2, 1)), np.ones((2, 1)))


# ---- Keras quirks, pinned explicitly ---------------------------------------------------------------------------
def test_clip_ties_pass_half_the_gradient():
    # p exactly at eps or 1 - eps: jnp.clip's max/min split the gradient
    y_true = np.array([[1.0, 0.0]])
    _, grad = K.binary_crossentropy(y_true, np.array([[1e-7, 1 - 1e-7]]), return_grad=True)
    np.testing.assert_allclose(grad, [[0.5 * -1 / 1e-7 / 2, 0.5 * 1 / 1e-7 / 2]], rtol=1e-9)
    _, grad = K.binary_crossentropy(y_true, np.array([[1e-8, 1.0]]), return_grad=True)
    np.testing.assert_array_equal(grad, 0.0)  # beyond the bounds: nothing passes


def test_label_smoothing_divides_by_the_last_dimension_whatever_the_axis():
    rng = np.random.default_rng(1)
    y_true = np.eye(3)[rng.integers(0, 3, 5)].T  # (3 classes, 5 samples), axis=0
    y_pred = rng.dirichlet(np.ones(3), size=5).T
    got = K.categorical_crossentropy(y_true, y_pred, label_smoothing=0.3, axis=0)
    smoothed = y_true * 0.7 + 0.3 / 5  # K = 5 = y_true.shape[-1], not 3
    want = K.categorical_crossentropy(smoothed, y_pred, axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_ignore_class_masks_reductions():
    rng = np.random.default_rng(2)
    labels = np.array([0, 1, 2, 0, 3, 1])
    pred = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    per_sample = K.sparse_categorical_crossentropy(labels, pred, ignore_class=0)
    assert np.all(per_sample[labels == 0] == 0)
    valid = labels != 0
    mean = K.SparseCategoricalCrossentropy(ignore_class=0)(labels, pred)
    np.testing.assert_allclose(mean, per_sample.sum() / valid.sum(), rtol=1e-6)
    total = K.SparseCategoricalCrossentropy(ignore_class=0, reduction="sum")(labels, pred)
    np.testing.assert_allclose(total, per_sample.sum(), rtol=1e-6)
    none = K.SparseCategoricalCrossentropy(ignore_class=0, reduction=None)(labels, pred)
    np.testing.assert_allclose(none, per_sample, rtol=1e-6)
    all_ignored, grad = K.SparseCategoricalCrossentropy(ignore_class=0)(np.zeros(6, int), pred, return_grad=True)
    assert all_ignored == 0 and np.all(grad == 0)


def test_mean_with_sample_weight_divides_by_the_weights_as_given():
    rng = np.random.default_rng(3)
    y_true, y_pred = np.eye(4)[rng.integers(0, 4, 6)], rng.dirichlet(np.ones(4), size=6)
    per_sample = K.categorical_crossentropy(y_true, y_pred).astype(np.float32)
    loss = K.CategoricalCrossentropy(reduction="mean_with_sample_weight")
    np.testing.assert_allclose(loss(y_true, y_pred, sample_weight=0.7), per_sample.sum(), rtol=1e-6)
    w = rng.uniform(0, 2, 6)
    np.testing.assert_allclose(loss(y_true, y_pred, sample_weight=w), (per_sample * w).sum() / w.sum(), rtol=1e-6)
    assert loss(y_true, y_pred, sample_weight=np.zeros(6)) == 0  # divide_no_nan


def test_sample_weight_rank_matching():
    rng = np.random.default_rng(4)
    y_true, y_pred = np.eye(3)[rng.integers(0, 3, (4, 4))], rng.dirichlet(np.ones(3), size=(4, 4))
    loss = K.CategoricalCrossentropy(reduction=None)
    per_sample = loss(y_true, y_pred)
    # (B, T) losses and a (B,) weight with B == T: Keras broadcasts it along T
    w = np.arange(1.0, 5.0)
    np.testing.assert_allclose(loss(y_true, y_pred, sample_weight=w), per_sample * w.astype(np.float32), rtol=1e-6)
    with pytest.raises(ValueError, match="sample_weight"):
        loss(y_true[:, :3], y_pred[:, :3], sample_weight=w)
    # (B,) losses and a (B, 1) weight: Keras expands the losses, so reduction=None returns (B, 1)
    yt, yp = np.eye(3)[[0, 1]], np.array([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1]])
    np.testing.assert_allclose(loss(yt, yp, sample_weight=[[2.0], [3.0]]), [[1.3862944], [0.6694306]], rtol=1e-6)
    # (B,) y_true against (B, 1) y_pred: y_true is expanded; the gradient keeps y_pred's shape
    value, grad = K.BinaryCrossentropy()(np.array([1.0, 0.0]), np.array([[0.8], [0.3]]), return_grad=True)
    assert value.shape == () and grad.shape == (2, 1)
    np.testing.assert_allclose(value, 0.28990924, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::crossentropy.ProbabilityWarning")
@pytest.mark.parametrize("name", ["BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy"])
def test_one_sample_loss_with_a_weight_per_element(name):
    """1-D y_true/y_pred give one scalar loss L; a (6,) weight broadcasts against it (Keras): the mean over the
    batch is L * mean(w) and the gradient mean(w) * dL/dp."""
    y_true = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    y_pred = np.array([0.1, 0.8, 0.6, 0.3, 0.9, 0.2])
    w = np.arange(1.0, 7.0)
    loss = getattr(K, name)(dtype="float64")
    plain, plain_grad = loss(y_true, y_pred, return_grad=True)
    value, grad = loss(y_true, y_pred, sample_weight=w, return_grad=True)
    np.testing.assert_allclose(value, plain * w.mean(), rtol=1e-14)
    np.testing.assert_allclose(grad, plain_grad * w.mean(), rtol=1e-14)
    if name == "BinaryCrossentropy":  # the formula itself: mean of -(y log p + (1 - y) log(1 - p))
        bce = -(y_true * np.log(y_pred) + (1 - y_true) * np.log1p(-y_pred))
        np.testing.assert_allclose(plain, bce.mean(), rtol=1e-14)
        np.testing.assert_allclose(plain_grad, (y_pred - y_true) / (y_pred * (1 - y_pred)) / 6, rtol=1e-13)
    summed = getattr(K, name)(dtype="float64", reduction="none")(y_true, y_pred, sample_weight=w)
    np.testing.assert_allclose(summed, plain * w, rtol=1e-14)


def test_reduction_skipped_for_scalar_losses():
    value = K.SparseCategoricalCrossentropy()(2, np.array([0.2, 0.3, 0.5]), sample_weight=2.0)
    np.testing.assert_allclose(value, -2 * np.log(0.5), rtol=1e-6)


# ---- differences from Keras, pinned ----------------------------------------------------------------------------
def test_zero_targets_on_neg_inf_logits_add_nothing():
    x = np.array([[-np.inf, 0.0, 1.0]])
    value, grad = K.categorical_crossentropy(np.array([[0.0, 1.0, 0.0]]), x, from_logits=True, return_grad=True)
    np.testing.assert_allclose(value, [np.log1p(np.e)], rtol=1e-12)
    np.testing.assert_allclose(grad, [[0.0, 1 / (1 + np.e) - 1, np.e / (1 + np.e)]], rtol=1e-12)
    value = K.sparse_categorical_crossentropy([1], x, from_logits=True)
    np.testing.assert_allclose(value, [np.log1p(np.e)], rtol=1e-12)


def test_binary_focal_gradient_where_the_focal_factor_vanishes():
    # p_t == 1 exactly: Keras' JAX gradient is NaN for gamma < 1; the focal factor's derivative is 0 for
    # gamma == 0 and +-inf for 0 < gamma < 1; at gamma >= 1 we agree with Keras (values from Keras 3.15/JAX)
    y_true, y_pred = np.array([[1.0, 0.0, 1.0]], np.float32), np.array([[1.0, 0.0, 0.5]], np.float32)
    _, grad = K.binary_focal_crossentropy(y_true, y_pred, gamma=0.0, return_grad=True)
    np.testing.assert_allclose(grad, [[0.0, 0.0, -0.6666667]], rtol=1e-6)
    _, grad = K.binary_focal_crossentropy(y_true, y_pred, gamma=0.5, return_grad=True)
    assert grad[0, 0] == -np.inf and grad[0, 1] == np.inf
    _, grad = K.binary_focal_crossentropy(y_true, y_pred, gamma=1.0, return_grad=True)
    np.testing.assert_allclose(grad, [[-3.9736431e-08, 3.9736431e-08, -5.6438243e-01]], rtol=1e-5)


def test_empty_batches_follow_keras():
    z = np.zeros((0, 3), np.float32)
    assert K.categorical_crossentropy(z, z).shape == (0,)
    assert K.CategoricalCrossentropy()(z, z).shape == (0,)  # (0,) losses are not reduced
    assert K.CategoricalCrossentropy()(np.zeros((2, 0, 3)), np.zeros((2, 0, 3))) == 0  # divide_no_nan
    value, grad = K.SparseCategoricalCrossentropy()(np.zeros(0, int), z, return_grad=True)
    assert value.shape == (0,) and grad.shape == (0, 3)


def test_per_class_alpha():
    rng = np.random.default_rng(10)
    y_true, y_pred = np.eye(4)[rng.integers(0, 4, 6)], rng.dirichlet(np.ones(4), size=6)
    alpha = np.array([0.1, 0.2, 0.3, 0.4])
    got = K.categorical_focal_crossentropy(y_true, y_pred, alpha=alpha, gamma=2.0)
    q = np.clip(y_pred / y_pred.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    want = np.sum(alpha * (1 - q) ** 2 * -y_true * np.log(q), axis=-1)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(
        K.categorical_focal_crossentropy(y_true, y_pred, alpha=[0.3]),
        K.categorical_focal_crossentropy(y_true, y_pred, alpha=0.3),
        rtol=1e-15,
    )


def test_binary_float64_is_averaged_in_float64():
    rng = np.random.default_rng(5)
    z, p = rng.integers(0, 2, (4, 1000)).astype(np.float64), rng.uniform(0.01, 0.99, (4, 1000))
    want = -np.mean(z * np.log(p) + (1 - z) * np.log1p(-p), axis=-1)
    np.testing.assert_allclose(K.binary_crossentropy(z, p), want, rtol=1e-13)


def test_binary_from_logits_is_the_exact_log_sigmoid():
    # Keras' NumPy backend clips sigmoid(x); the JAX/TF backends (and we) do not
    x = np.array([-40.0, -3.0, 0.0, 3.0, 40.0, np.inf])
    z = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.5])
    value = K.binary_crossentropy(z, x, from_logits=True, axis=0)
    elem = np.array([40.0, np.log1p(np.exp(-3.0)), np.log(2.0), np.log1p(np.exp(-3.0)), 40.0, np.inf])
    np.testing.assert_allclose(value, elem.mean(), rtol=1e-12)


# ---- bad inputs ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: K.categorical_crossentropy(np.ones((2, 3)), np.ones((2, 4))), ValueError, "y_true and y_pred"),
        (lambda: K.binary_crossentropy(np.ones((2, 3)), np.ones((3, 2))), ValueError, "y_true and y_pred"),
        (lambda: K.categorical_focal_crossentropy(np.ones((1, 3)), np.ones((2, 3))), ValueError, "same shape"),
        (lambda: K.sparse_categorical_crossentropy([0, 3], np.ones((2, 3))), IndexError, "y_true contains 3"),
        (
            lambda: K.sparse_categorical_crossentropy([0, -1], np.ones((2, 3)), ignore_class=255),
            IndexError,
            "not ignore value 255",
        ),
        (lambda: K.sparse_categorical_crossentropy([0.5, 1], np.ones((2, 3))), ValueError, "integer class"),
        (lambda: K.sparse_categorical_crossentropy([0, 1, 2], np.ones((2, 3))), ValueError, "y_true must have"),
        (lambda: K.sparse_categorical_crossentropy(["a"], np.ones((1, 3))), TypeError, "y_true"),
        (lambda: K.sparse_categorical_crossentropy([0], np.ones((1, 3)), ignore_class=0.5), ValueError, "ignore_class"),
        (lambda: K.categorical_crossentropy(np.ones(3), np.ones(3), axis=True), ValueError, "axis"),
        (lambda: K.categorical_crossentropy(np.ones(3), np.ones(3), axis=1), ValueError, "axis=1"),
        (lambda: K.categorical_crossentropy(np.ones((2, 0)), np.ones((2, 0))), ValueError, "no entries"),
        (lambda: K.categorical_crossentropy(1.0, 1.0), ValueError, "at least one dimension"),
        (lambda: K.categorical_crossentropy(np.ones(3), ["a", "b", "c"]), TypeError, "y_pred"),
        (lambda: K.categorical_focal_crossentropy(np.ones((2, 3)), np.ones((2, 3)), alpha=[1, 2]), ValueError, "alpha"),
        (
            lambda: K.categorical_focal_crossentropy(np.ones((3, 2)), np.ones((3, 2)), alpha=[1, 2], axis=0),
            ValueError,
            "alpha",
        ),
        (lambda: K.CategoricalCrossentropy(reduction="avg"), ValueError, "reduction"),
        (lambda: K.BinaryCrossentropy(dtype="complex64"), ValueError, "dtype"),
        (lambda: K.SparseCategoricalCrossentropy(ignore_class="x"), ValueError, "ignore_class"),
        (
            lambda: K.CategoricalCrossentropy()(np.eye(2), np.eye(2), sample_weight=np.ones(3)),
            ValueError,
            "sample_weight",
        ),
    ],
)
def test_bad_inputs_raise_naming_the_argument(call, exc, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc, match=match):
            call()


# ---- configs, dtypes, classes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CLASSES)
def test_default_config_is_keras(name):
    loss = getattr(K, name)()
    assert loss.get_config() == DOC["configs"][name]
    assert list(loss.get_config()) == list(DOC["configs"][name])
    again = getattr(K, name).from_config(loss.get_config())
    assert again.get_config() == loss.get_config() and again.dtype == "float32"


def test_config_keeps_constructor_arguments():
    loss = K.CategoricalFocalCrossentropy(
        alpha=[0.1, 0.9], gamma=3.0, from_logits=True, label_smoothing=0.1, axis=-1, reduction=None, name="focal"
    )
    assert loss.get_config() == {
        "name": "focal",
        "reduction": None,
        "from_logits": True,
        "label_smoothing": 0.1,
        "axis": -1,
        "alpha": [0.1, 0.9],
        "gamma": 3.0,
    }
    assert K.CategoricalCrossentropy(name=None).name == "categorical_crossentropy"
    assert "axis" not in K.SparseCategoricalCrossentropy(axis=0).get_config()  # as in Keras


def test_positional_arguments_follow_keras():
    assert K.SparseCategoricalCrossentropy(True, 3, "sum").get_config()["reduction"] == "sum"
    assert K.BinaryFocalCrossentropy(True, 0.4).get_config()["apply_class_balancing"] is True
    assert K.CategoricalFocalCrossentropy(0.4, 1.5).get_config()["gamma"] == 1.5


@pytest.mark.parametrize(
    "in_dtype,out_dtype",
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int64, np.float32),
        (np.float16, np.float16),
        (np.bool_, np.float32),
    ],
)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_function_dtype_rules(fn, in_dtype, out_dtype):
    y_pred = np.array([[0.25, 0.75], [1.0, 0.0]]).astype(in_dtype)
    y_true = np.array([1, 0]) if fn.startswith("sparse") else np.array([[0, 1], [1, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value, grad = getattr(K, fn)(y_true, y_pred, return_grad=True)
    # half y_pred: Keras returns its dtype, but sparse_categorical_crossentropy's value is float32 (JAX backend)
    value_dtype = np.float32 if out_dtype == np.float16 and fn.startswith("sparse") else out_dtype
    assert value.dtype == value_dtype and grad.dtype == out_dtype and grad.shape == y_pred.shape


@pytest.mark.parametrize("name", CLASSES)
def test_class_dtype_rules(name):
    y_pred = np.array([[0.25, 0.75], [0.5, 0.5]])
    y_true = np.array([1, 0]) if name.startswith("Sparse") else np.array([[0, 1], [1, 0]])
    value, grad = getattr(K, name)()(y_true, y_pred, return_grad=True)
    assert value.dtype == np.float32 and grad.dtype == np.float64  # computed in floatx, grad as given
    value, grad = getattr(K, name)(dtype="float64")(y_true, y_pred.astype(np.float32), return_grad=True)
    assert value.dtype == np.float64 and grad.dtype == np.float32
    assert getattr(K, name)(dtype=np.float64).dtype == "float64"


# ---- gradients by finite differences ---------------------------------------------------------------------------
FD_CASES = [
    ("categorical_crossentropy", {}),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.2}),
    ("categorical_crossentropy", {"axis": 0}),
    ("sparse_categorical_crossentropy", {}),
    ("sparse_categorical_crossentropy", {"from_logits": True, "ignore_class": 1}),
    ("binary_crossentropy", {"label_smoothing": 0.1}),
    ("binary_crossentropy", {"from_logits": True, "axis": 0}),
    ("categorical_focal_crossentropy", {"gamma": 3.5, "alpha": 0.4}),
    ("categorical_focal_crossentropy", {"from_logits": True, "alpha": [0.2, 0.3, 0.1, 0.4]}),
    ("binary_focal_crossentropy", {"apply_class_balancing": True, "gamma": 1.5}),
    ("binary_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.2}),
]


def fd_inputs(fn, kw, rng):
    shape = (5, 4)
    if kw.get("from_logits"):
        y_pred = rng.standard_normal(shape)
    elif fn.startswith("binary"):
        y_pred = rng.uniform(0.05, 0.95, shape)
    else:
        y_pred = rng.dirichlet(np.ones(shape[-1]), size=shape[0]) * rng.uniform(0.8, 1.2, (shape[0], 1))
    if fn.startswith("sparse"):
        y_true = rng.integers(0, shape[-1], shape[0])
    elif fn.startswith("binary"):
        y_true = rng.integers(0, 2, shape).astype(np.float64)
    else:
        y_true = rng.dirichlet(np.ones(shape[-1]), size=shape[0])
    return y_true, y_pred


@pytest.mark.parametrize("fn,kw", FD_CASES)
def test_function_gradients_match_finite_differences(fn, kw):
    rng = np.random.default_rng(6)
    y_true, y_pred = fd_inputs(fn, kw, rng)
    f = getattr(K, fn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ce.ProbabilityWarning)
        _, grad = f(y_true, y_pred, **kw, return_grad=True)
        want = finite_difference(lambda p: f(y_true, p, **kw), y_pred)
    np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None, "mean_with_sample_weight"])
@pytest.mark.parametrize("name", CLASSES)
def test_class_gradients_match_finite_differences(name, reduction):
    rng = np.random.default_rng(7)
    fn = FUNCTIONS[CLASSES.index(name)]
    kw = {"ignore_class": 2} if name.startswith("Sparse") else {}
    y_true, y_pred = fd_inputs(fn, {}, rng)
    loss = getattr(K, name)(reduction=reduction, dtype="float64", **kw)
    sw = rng.uniform(0, 2, (5, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ce.ProbabilityWarning)
        _, grad = loss(y_true, y_pred, sample_weight=sw, return_grad=True)
        want = finite_difference(lambda p: loss(y_true, p, sample_weight=sw), y_pred)
    np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-7)


# ---- layouts ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_any_layout_and_axis_gives_the_same_values(fn):
    rng = np.random.default_rng(8)
    y_true, y_pred = fd_inputs(fn, {}, rng)
    y_pred = np.stack([y_pred, y_pred[::-1]], axis=1)  # (5, 2, 4)
    y_true = np.stack([y_true, y_true[::-1]], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ce.ProbabilityWarning)
        value, grad = getattr(K, fn)(y_true, y_pred, return_grad=True)
        # class axis first, as a non-contiguous transposed view
        tv = y_true if fn.startswith("sparse") else np.moveaxis(y_true, -1, 0)
        if fn.startswith("sparse"):
            v2, g2 = getattr(K, fn)(y_true, np.moveaxis(y_pred, -1, 0), axis=0, return_grad=True)
        else:
            v2, g2 = getattr(K, fn)(tv, np.moveaxis(y_pred, -1, 0), axis=0, return_grad=True)
        # strided (every other sample) views
        v3, g3 = getattr(K, fn)(y_true[::2], y_pred[::2], return_grad=True)
    np.testing.assert_allclose(v2, value, rtol=1e-13)
    np.testing.assert_allclose(np.moveaxis(g2, 0, -1), grad, rtol=1e-13)
    np.testing.assert_allclose(v3, value[::2], rtol=1e-13)
    np.testing.assert_allclose(g3, grad[::2], rtol=1e-13)


def test_threads_do_not_change_results():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2000, 50)).astype(np.float32)
    t = np.eye(50, dtype=np.float32)[rng.integers(0, 50, 2000)]
    loss = K.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    ce.set_num_threads(1)
    try:
        one = loss(t, x, return_grad=True)
        ce.set_num_threads(2)
        ce._kernels._set_min_work_per_thread(1)
        two = loss(t, x, return_grad=True)
    finally:
        ce._kernels._set_min_work_per_thread(None)
        ce.set_num_threads(None)
    np.testing.assert_allclose(two[0], one[0], rtol=1e-6)
    np.testing.assert_array_equal(two[1], one[1])


def test_inputs_are_not_modified():
    y_true, y_pred = np.eye(3)[[0, 2]], np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    before = y_pred.copy(), y_true.copy()
    K.CategoricalFocalCrossentropy()(y_true, y_pred, sample_weight=[1, 2], return_grad=True)
    np.testing.assert_array_equal(y_pred, before[0])
    np.testing.assert_array_equal(y_true, before[1])


@pytest.mark.parametrize("value", [-(2**63), 2**70])
def test_ignore_class_outside_int64_is_named(value):
    with pytest.raises(ValueError, match="ignore_class"):
        K.sparse_categorical_crossentropy(np.array([0, 1]), np.array([[0.5, 0.5], [0.3, 0.7]]), ignore_class=value)
