"""crossentropy.keras.metrics against golden values from real Keras 3 metrics (tests/golden/
generate_keras_metrics.py), plus a live comparison when Keras is importable."""

import pickle

import numpy as np
import pytest

from crossentropy.keras import metrics as KM
from golden import goldenio

DOC, ARRAYS = goldenio.load("keras_metrics")


def _arg(spec):
    return goldenio.value_of(spec, ARRAYS)


@pytest.mark.parametrize("case", DOC["cases"], ids=[c["id"] for c in DOC["cases"]])
def test_golden(case):
    m = getattr(KM, case["metric"])(**case["kwargs"])
    results = ARRAYS[case["results"]]
    with np.errstate(all="ignore"):
        for upd, want in zip(case["updates"], results, strict=True):
            m.update_state(_arg(upd["y_true"]), _arg(upd["y_pred"]), sample_weight=_arg(upd["sample_weight"]))
            got = m.result()
            assert got.dtype == np.float32
            # float32 running totals: Keras (XLA) and we sum a batch in different orders
            np.testing.assert_allclose(float(got), float(want), rtol=2e-6, atol=1e-7)
    assert m.get_config() == case["config"]
    m.reset_state()
    assert float(m.result()) == float(case["after_reset"]) == 0.0


def test_versions_recorded():
    assert DOC["versions"]["keras"].startswith("3.") and DOC["versions"]["backend"] == "jax"


def test_ignore_class_counts_in_denominator():
    m = KM.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    logits = np.array([[2.0, 0.0], [0.0, 2.0]], np.float32)
    m.update_state(np.array([0, -1]), logits)
    one = float(np.log1p(np.exp(-2.0)))
    assert float(m.result()) == pytest.approx(one / 2, rel=1e-6)


def test_from_config_roundtrip_and_call():
    m = KM.CategoricalCrossentropy(name="cc", from_logits=True, label_smoothing=0.1, axis=-1, dtype="float64")
    m2 = KM.CategoricalCrossentropy.from_config(m.get_config())
    assert m2.get_config() == m.get_config() and m2.dtype == "float64"
    y = np.eye(3)[[0, 2]]
    x = np.array([[1.0, 2.0, 0.5], [0.3, 0.1, 2.0]])
    r = m2(y, x)
    assert r.dtype == np.float64
    assert pickle.loads(pickle.dumps(m2)).result() == r


def test_bad_arguments():
    with pytest.raises(ValueError, match="dtype"):
        KM.BinaryCrossentropy(dtype="int32")
    m = KM.SparseCategoricalCrossentropy()
    with pytest.raises(IndexError):
        m.update_state(np.array([5]), np.array([[0.5, 0.5]], np.float32))
    m = KM.BinaryCrossentropy()
    with pytest.raises(ValueError, match="sample_weight"):
        m.update_state(np.zeros((4, 2), np.float32), np.full((4, 2), 0.5, np.float32), sample_weight=np.ones(3))


@pytest.mark.filterwarnings("ignore::crossentropy.ProbabilityWarning")
def test_live_against_installed_keras():
    """Random batches through real Keras (whatever backend conftest selected) and through ours."""
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(3)
    for cls, kw, make in [
        (
            "SparseCategoricalCrossentropy",
            {"from_logits": True},
            lambda n: (rng.integers(0, 5, n), rng.standard_normal((n, 5)).astype(np.float32)),
        ),
        (
            "CategoricalCrossentropy",
            {"label_smoothing": 0.05},
            lambda n: (np.eye(5, dtype=np.float32)[rng.integers(0, 5, n)], rng.random((n, 5)).astype(np.float32)),
        ),
        (
            "BinaryCrossentropy",
            {"from_logits": True},
            lambda n: (rng.integers(0, 2, (n, 3)).astype(np.float32), rng.standard_normal((n, 3)).astype(np.float32)),
        ),
    ]:
        theirs, ours = getattr(keras.metrics, cls)(**kw), getattr(KM, cls)(**kw)
        for n in (5, 17, 1):
            yt, yp = make(n)
            w = rng.random(n).astype(np.float32)
            with np.errstate(all="ignore"):
                theirs.update_state(yt, yp, sample_weight=w)
                ours.update_state(yt, yp, sample_weight=w)
            np.testing.assert_allclose(float(ours.result()), float(theirs.result()), rtol=2e-6)
