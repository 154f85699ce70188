"""Memory: repeated calls of every public entry point keep the process' memory flat.

Default run: 2,000 calls of each entry point with the resident set size (RSS, /proc/self/statm) measured
after a warm-up, plus a tracemalloc pass (Python objects and NumPy buffers, which NumPy reports to
tracemalloc).  Slow run (``python -m pytest -m slow tests/test_leaks.py -s``): 100,000 calls of each entry
point, printing the RSS growth of each.
"""

import gc
import os
import tracemalloc
import warnings

import numpy as np
import pytest

import crossentropy as ce
from crossentropy import _kernels, _registry
from crossentropy import keras as ck
from crossentropy import tf as ctf
from crossentropy import torch as ct

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm"),
    # AddressSanitizer keeps freed memory in quarantine (256 MB by default): RSS says nothing there
    pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""), reason="RSS is meaningless under ASan"),
]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _entry_points():
    """(name, call) for every public function and class, with small inputs made once; some calls raise
    (the error paths must not leak either)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 7))
    lab = rng.integers(0, 7, 16)
    t = rng.random((16, 7))
    p = rng.dirichlet(np.ones(7), 16)
    z = rng.random((16, 7))
    oh = np.eye(7)[lab]
    bad = lab.copy()
    bad[3] = 9

    def expect(exc, fn, *a, **k):
        def call():
            try:
                fn(*a, **k)
            except exc:
                return
            raise AssertionError("no error")

        return call

    return _gufunc_calls(rng, expect) + [
        ("torch.cross_entropy", lambda: ct.cross_entropy(x, lab, weight=t[0], label_smoothing=0.1, return_grad=True)),
        ("torch.cross_entropy-probabilities", lambda: ct.cross_entropy(x, p, return_grad=True)),
        ("torch.cross_entropy-bad-target", expect(IndexError, ct.cross_entropy, x, bad)),
        ("torch.nll_loss", lambda: ct.nll_loss(x, lab, return_grad=True)),
        ("torch.binary_cross_entropy", lambda: ct.binary_cross_entropy(p, z, return_grad=True)),
        (
            "torch.binary_cross_entropy_with_logits",
            lambda: ct.binary_cross_entropy_with_logits(x, z, pos_weight=t[0], return_grad=True),
        ),
        ("torch.CrossEntropyLoss", lambda: ct.CrossEntropyLoss(ignore_index=2)(x, lab)),
        ("torch.NLLLoss", lambda: ct.NLLLoss()(x, lab)),
        ("torch.BCELoss", lambda: ct.BCELoss()(p, z)),
        ("torch.BCEWithLogitsLoss", lambda: ct.BCEWithLogitsLoss()(x, z, return_grad=True)),
        ("tf.softmax_cross_entropy_with_logits", lambda: ctf.softmax_cross_entropy_with_logits(t, x, return_grad=True)),
        (
            "tf.sparse_softmax_cross_entropy_with_logits",
            lambda: ctf.sparse_softmax_cross_entropy_with_logits(lab, x, return_grad=True),
        ),
        ("tf.sigmoid_cross_entropy_with_logits", lambda: ctf.sigmoid_cross_entropy_with_logits(z, x, return_grad=True)),
        ("tf.weighted_cross_entropy_with_logits", lambda: ctf.weighted_cross_entropy_with_logits(z, x, 2.0)),
        ("tf-bad-labels", expect(TypeError, ctf.sparse_softmax_cross_entropy_with_logits, lab * 1.0, x)),
        ("keras.categorical_crossentropy", lambda: ck.categorical_crossentropy(oh, p, return_grad=True)),
        (
            "keras.sparse_categorical_crossentropy",
            lambda: ck.sparse_categorical_crossentropy(lab, x, from_logits=True, return_grad=True),
        ),
        ("keras.binary_crossentropy", lambda: ck.binary_crossentropy(z, p, return_grad=True)),
        ("keras.categorical_focal_crossentropy", lambda: ck.categorical_focal_crossentropy(oh, p, return_grad=True)),
        (
            "keras.binary_focal_crossentropy",
            lambda: ck.binary_focal_crossentropy(z, x, from_logits=True, return_grad=True),
        ),
        ("keras.CategoricalCrossentropy", lambda: ck.CategoricalCrossentropy()(oh, p, sample_weight=t[:, 0])),
        (
            "keras.SparseCategoricalCrossentropy",
            lambda: ck.SparseCategoricalCrossentropy(ignore_class=1)(lab, p, return_grad=True),
        ),
        ("keras.BinaryCrossentropy", lambda: ck.BinaryCrossentropy(from_logits=True)(z, x)),
        ("keras.CategoricalFocalCrossentropy", lambda: ck.CategoricalFocalCrossentropy()(oh, p)),
        ("keras.BinaryFocalCrossentropy", lambda: ck.BinaryFocalCrossentropy(apply_class_balancing=True)(z, p)),
        ("keras-warning", lambda: ck.categorical_crossentropy(oh, p * 2)),  # ProbabilityWarning path
        ("keras-bad-label", expect(IndexError, ck.sparse_categorical_crossentropy, bad, p)),
    ]


def _gufunc_calls(rng, expect):
    """Every registered gufunc: float64, float32 into preallocated out=, and (sparse) a bad label."""
    calls = []
    for k in _registry.KERNELS.values():
        args = k.inputs(rng, (16, 7), np.float64)
        calls.append((k.name, lambda k=k, args=args: k.ufunc(*args)))
        args32 = [a.astype(np.float32) if a.dtype == np.float64 else a for a in k.inputs(rng, (16, 7), np.float64)]
        res = k.ufunc(*args32)
        out = tuple(np.empty_like(r) for r in (res if k.with_grad else (res,)))
        calls.append((f"{k.name}-out", lambda k=k, a=args32, out=out: k.ufunc(*a, out=out)))
        if k.family == "sparse":
            bad = args[1].copy()
            bad[3] = 9
            calls.append((f"{k.name}-bad-label", expect(FloatingPointError, k.ufunc, args[0], bad)))
    return calls


ENTRY_POINTS = _entry_points()


def _run(call, n):
    for _ in range(n):
        call()


def _growth(call, n, warmup=200):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _run(call, warmup)
        gc.collect()
        before = rss()
        _run(call, n)
        gc.collect()
        return rss() - before


@pytest.fixture(params=[(None, None, 2000), (2, 1, 300)], ids=["default-threads", "2-threads-forced"])
def threads(request):
    """(threads, min work per thread, calls): forcing a thread team on every tiny call is slow (a team
    start-up each), so that variant makes fewer calls."""
    ce.set_num_threads(request.param[0])
    _kernels._set_min_work_per_thread(request.param[1])
    yield request.param[2]
    ce.set_num_threads(None)
    _kernels._set_min_work_per_thread(None)


def test_rss_flat_short(threads):
    """2,000 calls of each entry point: the RSS grows by less than 4 MiB in all (allocator noise)."""
    calls = threads
    growth = {name: _growth(call, calls, warmup=100) for name, call in ENTRY_POINTS}
    total = sum(growth.values())
    worst = max(growth, key=growth.get)
    print(
        f"\nRSS growth over {calls:,} calls each: total {total / 2**20:.2f} MiB, largest {worst} "
        f"{growth[worst] / 2**10:.0f} KiB"
    )
    assert total < 4 * 2**20, growth
    assert growth[worst] < 2 * 2**20, growth


def test_tracemalloc_flat():
    """Python objects and NumPy buffers: nothing accumulates over 500 calls of each entry point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, call in ENTRY_POINTS:
            _run(call, 20)
        gc.collect()
        tracemalloc.start()
        try:
            for _, call in ENTRY_POINTS:
                _run(call, 20)
            gc.collect()
            start, _ = tracemalloc.get_traced_memory()
            snap0 = tracemalloc.take_snapshot()
            for _, call in ENTRY_POINTS:
                _run(call, 500)
            gc.collect()
            end, _ = tracemalloc.get_traced_memory()
            snap1 = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    top = snap1.compare_to(snap0, "lineno")[:5]
    assert end - start < 256 * 2**10, "\n".join(str(s) for s in top)


@pytest.mark.slow
def test_rss_flat_100k_calls_each():
    """100,000 calls of each entry point; each may grow the RSS by at most 1 MiB (a leak of even 16 bytes
    per call would show as 1.6 MB)."""
    report = []
    for name, call in ENTRY_POINTS:
        g = _growth(call, 100_000, warmup=2000)
        report.append((name, g))
        print(f"{name:45s} {g / 2**10:8.0f} KiB")
    bad = [(n, g) for n, g in report if g >= 2**20]
    print(f"total RSS growth over {100_000 * len(report):,} calls: {sum(g for _, g in report) / 2**20:.2f} MiB")
    assert not bad, bad
