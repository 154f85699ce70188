"""crossentropy.sklearn.log_loss against scikit-learn 1.9.1 (tests/golden/sklearn.jsonl, made by
tests/golden/generate_sklearn_optax.py): values, warnings and errors; O(n) memory; live differential tests
against the installed scikit-learn (skipped without it)."""

import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossentropy.sklearn import InvalidParameterError, log_loss
from golden import goldenio

DOC, ARRAYS = goldenio.load("sklearn")
CASES = DOC["cases"]
ERRORS = {
    "ValueError": ValueError,
    "TypeError": TypeError,
    "ZeroDivisionError": ZeroDivisionError,
    "InvalidParameterError": InvalidParameterError,
}


def _call(case):
    args = {k: goldenio.value_of(v, ARRAYS) for k, v in case["args"].items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):
            try:
                return log_loss(**args), None, caught
            except Exception as exc:  # noqa: BLE001 - compared with scikit-learn's below
                return None, exc, caught


def test_golden_versions():
    assert DOC["versions"]["scikit-learn"] == "1.9.1"
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_golden(case):
    value, exc, caught = _call(case)
    want = case["result"]
    if "error" in want:
        assert exc is not None, f"expected {want['error']}: {want['message']}, got {value}"
        assert isinstance(exc, ERRORS[want["error"]]), (type(exc), want["error"])
        assert str(exc) == want["message"]
    else:
        assert exc is None, exc
        assert type(value) is float
        np.testing.assert_allclose(value, want["value"], rtol=2e-7 if "float16" not in case["id"] else 0)
    mine = [[w.category.__name__, str(w.message)] for w in caught if not issubclass(w.category, RuntimeWarning)]
    assert mine == want["warnings"]


def test_golden_covers_every_error_class():
    assert {c["result"].get("error") for c in CASES} >= set(ERRORS)


def test_docstring_examples():
    import doctest

    import crossentropy.sklearn

    assert doctest.testmod(crossentropy.sklearn).failed == 0


def test_gather_memory_is_o_n():
    """No (n, C) temporary: the extra memory of a 20000 x 200 float64 call stays far below the input's size."""
    rng = np.random.default_rng(1)
    p = rng.random((20000, 200))
    p /= p.sum(axis=1, keepdims=True)
    y = rng.integers(0, 200, 20000)
    y[:200] = np.arange(200)
    tracemalloc.start()
    log_loss(y, p)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.1 * p.nbytes, peak  # input: 32 MB; O(n) extra is well under 3.2 MB


def test_large_sparse_labels_use_sorting():
    y = np.array([0, 10**12, 0, 10**12])
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert np.isclose(log_loss(y, p), -np.mean(np.log([0.9, 0.8, 0.6, 0.7])))


# ---- live, against the installed scikit-learn --------------------------------------------------------------

sk_metrics = pytest.importorskip("sklearn.metrics")


def _both(*args, **kwargs):
    out = []
    for fn in (sk_metrics.log_loss, log_loss):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out.append((fn(*args, **kwargs), None, [str(w.message) for w in caught]))
            except Exception as exc:  # noqa: BLE001 - compared below
                out.append(
                    (
                        None,
                        (
                            type(exc).__name__
                            if type(exc).__name__ != "InvalidParameterError"
                            else "InvalidParameterError",
                            str(exc),
                        ),
                        [str(w.message) for w in caught],
                    )
                )
    return out


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 30),
    c=st.integers(1, 6),
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
    weighted=st.booleans(),
    normalize=st.booleans(),
    string_labels=st.booleans(),
    give_labels=st.booleans(),
    scale=st.sampled_from([1.0, 1.0, 0.9]),
)
def test_live_random(n, c, dtype, seed, weighted, normalize, string_labels, give_labels, scale):
    rng = np.random.default_rng(seed)
    n_classes = max(c, 2)
    p = (rng.dirichlet(np.ones(n_classes), n) * scale).astype(dtype)
    if rng.random() < 0.2:  # hard zeros and ones: clipping at eps
        p[rng.random(p.shape) < 0.3] = 0
    if c == 1:
        p = p[:, 1]
    y = rng.integers(0, n_classes, n)
    if string_labels:
        y = np.array(["cat", "dog", "emu", "fox", "gnu", "hen"])[y]
    labels = (
        sorted(
            set(np.unique(y).tolist())
            | set(["cat", "dog", "emu", "fox", "gnu", "hen"][:n_classes] if string_labels else range(n_classes))
        )
        if give_labels
        else None
    )
    sw = rng.random(n) if weighted else None
    with np.errstate(all="ignore"):
        (ref, ref_err, ref_w), (mine, err, my_w) = _both(y, p, normalize=normalize, sample_weight=sw, labels=labels)
    assert err == ref_err
    assert my_w == ref_w
    if ref_err is None:
        np.testing.assert_allclose(mine, ref, rtol=2e-6 if dtype != np.float16 else 1e-3)


def _live_cases():
    """Inputs that take each path of the one pass over y_proba (integer labels picked in the pass, labels
    mapped or searched, labels= given, layouts, dtypes without a kernel), and its errors and warnings."""
    rng = np.random.default_rng(11)
    p = rng.dirichlet(np.ones(4), 50)
    y = rng.integers(0, 4, 50)
    y[:4] = np.arange(4)
    off = p.copy()
    off[7] *= 1.01  # a row that does not sum to 1
    nan, inf, big = p.copy(), p.copy(), p.copy()
    nan[3, 2], inf[5, 1], big[9, 0] = np.nan, np.inf, 1.5
    return {
        "int64": (y, p),
        "int32-float32": (y.astype(np.int32), p.astype(np.float32)),
        "uint8-shifted": ((y + 3).astype(np.uint8), p),
        "int16-sparse": (np.array([-5, 0, 9, 40])[y].astype(np.int16), p),
        "fortran": (y, np.asfortranarray(p)),
        "strided": (y, np.repeat(p, 2, axis=1)[:, ::2]),
        "big-endian": (y, p.astype(">f8")),
        "labels-given": (y, p, {"labels": [0, 1, 2, 3]}),
        "labels-unsorted": (y, p, {"labels": [1, 0, 2, 3]}),
        "class-missing": (np.where(y == 3, 2, y), p),
        "class-missing-labels": (np.where(y == 3, 2, y), p, {"labels": np.arange(4)}),
        "too-many-classes": (np.where(y == 3, 4, y), p),
        "one-class": (np.zeros(50, np.int64), p),
        "not-summing-to-one": (y, off),
        "nan": (y, nan),
        "inf": (y, inf),
        "above-one": (y, big),
        "weighted": (y, p.astype(np.float32), {"sample_weight": rng.random(50), "normalize": False}),
        "length-mismatch": (y[:-1], p),
    }


@pytest.mark.parametrize("name", sorted(_live_cases()))
def test_live_paths(name):
    y, p, *kw = _live_cases()[name]
    (ref, ref_err, ref_w), (mine, err, my_w) = _both(y, p, **(kw[0] if kw else {}))
    assert err == ref_err
    assert my_w == ref_w
    if ref_err is None:
        np.testing.assert_allclose(mine, ref, rtol=2e-7 if p.dtype == np.float64 else 2e-6)


def test_live_one_pass_at_scale():
    """10^5 x 10 float32 through the threaded kernel: scikit-learn's value."""
    rng = np.random.default_rng(12)
    p = rng.random((100_000, 10), dtype=np.float32)
    p /= p.sum(axis=1, keepdims=True)
    y = rng.integers(0, 10, 100_000)
    np.testing.assert_allclose(log_loss(y, p), sk_metrics.log_loss(y, p), rtol=2e-6)
