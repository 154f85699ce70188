"""Threads and processes: concurrent Python threads, thread-count independence, the shared worker budget
(no oversubscription from a ThreadPoolExecutor), fork safety, and floating-point hygiene at every thread count.

How the threads behave (docs/hardening.md has the details):
* every kernel releases the GIL, so Python threads compute concurrently;
* OpenMP regions do not nest: each Python thread that calls a kernel is the master of its own team, and GNU
  OpenMP keeps one idle pool per such thread.  To keep 8 Python threads x N OpenMP threads from running
  8 x N threads, the extra workers come from one process-wide budget of (threads - 1): a call that finds
  none free runs serially on its own thread;
* results do not depend on the number of threads (rows are independent, each row is computed by one thread);
* after fork() the child computes serially (GNU OpenMP's pool does not survive a fork).
"""

import multiprocessing
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import crossentropy as ce
from crossentropy import _kernels
from crossentropy import keras as ck
from crossentropy import tf as ctf
from crossentropy import torch as ct


@pytest.fixture(autouse=True)
def _restore_threads():
    yield
    ce.set_num_threads(None)
    _kernels._set_min_work_per_thread(None)


def workload(seed, rows=300, cols=37, dtype=np.float64):
    """A call of every public entry point on arrays made from ``seed``; returns all results in a list."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, cols)) * 4).astype(dtype)
    x[::11, 3] = -np.inf
    lab = rng.integers(0, cols, rows)
    t = rng.random((rows, cols)).astype(dtype)
    p = rng.dirichlet(np.ones(cols), rows).astype(dtype)
    z = rng.random((rows, cols)).astype(dtype)
    xt = np.ascontiguousarray(x.T)  # class axis 0 (strided rows: the block-gather path)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ce.ProbabilityWarning)
        out += [ce.logsumexp(x), ce.softmax(x), ce.log_softmax(xt, axis=0), ce.softmax_cross_entropy(x, t)]
        out += list(ce.softmax_cross_entropy_and_grad(xt, t.T, axis=0))
        out += list(ce.sparse_softmax_cross_entropy_and_grad(x, lab)) + [
            ce.sparse_softmax_cross_entropy(x[:, :5], lab % 5)
        ]
        out += list(ce.sigmoid_cross_entropy_and_grad(x, z)) + [ce.sigmoid_cross_entropy(x, z)]
        out += list(ct.cross_entropy(x, lab, weight=t[0], label_smoothing=0.1, return_grad=True))
        out += list(ct.cross_entropy(x, p, return_grad=True)) + [ct.nll_loss(x, lab, reduction="none")]
        out += list(ct.binary_cross_entropy(p, z, return_grad=True))
        out += list(ct.binary_cross_entropy_with_logits(x, z, pos_weight=t[0], return_grad=True))
        out += list(ctf.softmax_cross_entropy_with_logits(t, x, return_grad=True))
        out += list(ctf.sparse_softmax_cross_entropy_with_logits(lab, x, return_grad=True))
        out += [ctf.sigmoid_cross_entropy_with_logits(z, x), ctf.weighted_cross_entropy_with_logits(z, x, 2.0)]
        out += list(ck.categorical_crossentropy(np.eye(cols)[lab], p, return_grad=True))
        out += list(ck.sparse_categorical_crossentropy(lab, x, from_logits=True, return_grad=True))
        out += list(ck.binary_crossentropy(z, p, return_grad=True))
        out += list(ck.categorical_focal_crossentropy(np.eye(cols)[lab], x, from_logits=True, return_grad=True))
        out += list(ck.binary_focal_crossentropy(z, x, from_logits=True, return_grad=True))
        out += list(ck.CategoricalCrossentropy(from_logits=True)(np.eye(cols)[lab], x, return_grad=True))
        out += list(ck.SparseCategoricalCrossentropy(ignore_class=1)(lab, p, return_grad=True))
    return [np.asarray(r) for r in out]


def same_bits(a, b):
    assert len(a) == len(b)
    for i, (u, v) in enumerate(zip(a, b, strict=False)):
        assert u.dtype == v.dtype and u.shape == v.shape, i
        assert u.tobytes() == v.tobytes(), f"result {i} differs"


# ---- many Python threads -------------------------------------------------------------------------------
@pytest.mark.parametrize("threads,min_work", [(None, None), (2, 1), (3, 1)])
def test_eight_python_threads_match_sequential_calls(threads, min_work):
    seeds = list(range(8))
    want = [workload(s) for s in seeds]
    ce.set_num_threads(threads)
    _kernels._set_min_work_per_thread(min_work)
    barrier = threading.Barrier(len(seeds))
    got, errors = {}, []

    def worker(seed):
        try:
            barrier.wait()
            for _ in range(3):
                got.setdefault(seed, []).append(workload(seed))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with np.errstate(all="raise"):  # threads do not inherit the suite's errstate: set it in each
        pool = [threading.Thread(target=lambda s=s: _with_errstate(worker, s)) for s in seeds]
        for th in pool:
            th.start()
        for th in pool:
            th.join(120)
    assert not errors, errors
    assert not any(th.is_alive() for th in pool)
    for s in seeds:
        for result in got[s]:
            same_bits(result, want[s])


def _with_errstate(fn, *args):
    with np.errstate(all="raise"):
        return fn(*args)


# ---- the thread count does not change a bit -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_bitwise_identical_for_1_2_3_threads(dtype):
    results = []
    for n in (1, 2, 3):
        ce.set_num_threads(n)
        _kernels._set_min_work_per_thread(1)  # thread even these small inputs
        results.append(workload(7, rows=500, cols=9, dtype=dtype) + workload(8, rows=70, cols=300, dtype=dtype))
    same_bits(results[0], results[1])
    same_bits(results[0], results[2])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_no_floating_point_warnings_from_valid_inputs(threads):
    """Valid inputs (masked -inf logits, huge and tiny values, exact 0/1 probabilities) raise nothing under
    errstate(all="raise"), whatever the thread count (flags raised in worker threads are discarded, and the
    calling thread raises only the invalid flag of a bad label)."""
    ce.set_num_threads(threads)
    _kernels._set_min_work_per_thread(1)
    rng = np.random.default_rng(threads)
    for dtype, big in ((np.float32, 80.0), (np.float64, 700.0)):
        x = (rng.standard_normal((257, 19)) * 30).astype(dtype)
        x[::3, 0] = -np.inf
        x[1] = -np.inf
        x[1, 4] = 0.0
        x[2, :] = big
        x[3, :] = -big
        x[4, ::2] = np.finfo(dtype).tiny
        lab = rng.integers(0, 19, 257)
        lab[1] = 4
        t = np.zeros_like(x)
        t[np.arange(257), lab] = 1
        p = np.zeros_like(x)
        p[np.arange(257), lab] = 1
        with np.errstate(all="raise"):
            workload_calls = [
                lambda: ce.sparse_softmax_cross_entropy_and_grad(x, lab),
                lambda: ce.softmax_cross_entropy_and_grad(x, t),
                lambda: (ce.logsumexp(x), ce.softmax(x), ce.log_softmax(x)),
                lambda: ce.sigmoid_cross_entropy_and_grad(x, p),
                lambda: ct.cross_entropy(x, lab, return_grad=True),
                lambda: ct.binary_cross_entropy(p, p, return_grad=True),
                lambda: ctf.softmax_cross_entropy_with_logits(t, x, return_grad=True),
                lambda: ck.categorical_crossentropy(t, p, return_grad=True),
                lambda: ck.binary_crossentropy(p, p, return_grad=True),
                lambda: ck.sparse_categorical_crossentropy(lab, x, from_logits=True, return_grad=True),
            ]
            for call in workload_calls:
                call()


# ---- no oversubscription from a thread pool ---------------------------------------------------------------------
def _os_threads():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return None  # pragma: no cover


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
@pytest.mark.skipif(not _kernels.openmp_info()["openmp"], reason="built without OpenMP")
@pytest.mark.parametrize("n", [2, 3])
def test_thread_pool_does_not_multiply_openmp_threads(n):
    """8 executor threads each calling kernels that would use n threads: at most n - 1 OpenMP workers compute
    at any time (the shared budget), the process never holds more than one idle OpenMP pool per calling
    thread, and every thread is gone after the executor shuts down."""
    ce.set_num_threads(n)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 200))
    lab = rng.integers(0, 200, 4000)
    want = ce.sparse_softmax_cross_entropy_and_grad(x, lab)
    base = _os_threads()
    _kernels._worker_budget(reset_peak=True)
    peak_os, stop = [0], threading.Event()

    def monitor():
        while not stop.is_set():
            peak_os[0] = max(peak_os[0], _os_threads())
            time.sleep(0.001)

    mon = threading.Thread(target=monitor)
    mon.start()
    try:
        with ThreadPoolExecutor(8) as ex:
            results = list(ex.map(lambda _: ce.sparse_softmax_cross_entropy_and_grad(x, lab), range(48)))
    finally:
        stop.set()
        mon.join()
    busy, peak_workers = _kernels._worker_budget()
    for r in results:
        np.testing.assert_array_equal(r[0], want[0])
        np.testing.assert_array_equal(r[1], want[1])
    assert busy == 0
    assert 1 <= peak_workers <= n - 1, peak_workers  # the budget held (and threads were used)
    # base + 8 executor threads + the monitor + at most one pool of n - 1 per executor thread
    assert peak_os[0] <= base + 8 + 1 + 8 * (n - 1)
    deadline = time.monotonic() + 10
    while _os_threads() > base + (n - 1) and time.monotonic() < deadline:  # pools leave with their masters
        time.sleep(0.05)
    assert _os_threads() <= base + (n - 1)


@pytest.mark.skipif(not _kernels.openmp_info()["openmp"], reason="built without OpenMP")
def test_single_caller_still_gets_all_threads():
    """The budget only shares: a lone caller (main or any other thread) gets the configured threads."""
    ce.set_num_threads(2)
    x = np.random.default_rng(1).standard_normal((4000, 200))
    _kernels._worker_budget(reset_peak=True)
    ce.logsumexp(x)
    assert _kernels._worker_budget()[1] == 1
    _kernels._worker_budget(reset_peak=True)
    th = threading.Thread(target=ce.logsumexp, args=(x,))
    th.start()
    th.join()
    assert _kernels._worker_budget() == (0, 1)


# ---- fork -------------------------------------------------------------------------------------------------------
def _child_compute(conn, seed):
    try:
        info = _kernels.openmp_info()
        conn.send(("ok", workload(seed), info["forked_child"], ce.get_num_threads()))
    except BaseException as exc:  # pragma: no cover - reported in the parent
        conn.send(("error", repr(exc), None, None))
    finally:
        conn.close()


def _fork_and_check(ctx, seed, want):
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_compute, args=(child, seed))
    proc.start()
    child.close()
    try:
        assert parent.poll(60), "the forked child hung"
        status, result, forked, nthreads = parent.recv()
    finally:
        proc.join(30)
        if proc.is_alive():  # pragma: no cover - a hang: do not leave it behind
            proc.kill()
            proc.join()
    assert status == "ok", result
    assert proc.exitcode == 0
    assert forked and nthreads == 1  # the child computes serially
    same_bits(result, want)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_after_multithreaded_use():
    ctx = multiprocessing.get_context("fork")
    ce.set_num_threads(2)
    _kernels._set_min_work_per_thread(1)
    want = workload(3)  # multi-threaded in the parent: GNU OpenMP's pool exists now
    assert _kernels._worker_budget()[1] >= 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "fork() in a multi-threaded process"
        _fork_and_check(ctx, 3, want)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_while_other_threads_are_computing():
    """fork() while two other threads are inside multi-threaded kernels: the child must not hang on a lock
    or a thread pool it inherited half-used."""
    ctx = multiprocessing.get_context("fork")
    ce.set_num_threads(2)
    _kernels._set_min_work_per_thread(1)
    want = workload(4)
    stop = threading.Event()
    x = np.random.default_rng(2).standard_normal((3000, 100))

    def busy():
        while not stop.is_set():
            ce.softmax(x)
            ct.cross_entropy(x, np.zeros(3000, np.int64), return_grad=True)

    threads = [threading.Thread(target=busy) for _ in range(2)]
    for th in threads:
        th.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for _ in range(3):
                _fork_and_check(ctx, 4, want)
    finally:
        stop.set()
        for th in threads:
            th.join()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_pool_map():
    ctx = multiprocessing.get_context("fork")
    ce.set_num_threads(2)
    x = np.random.default_rng(5).standard_normal((4, 2000, 50))
    want = [ce.logsumexp(a) for a in x]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with ctx.Pool(2) as pool:
            res = pool.map_async(ce.logsumexp, list(x)).get(timeout=60)
    for r, w in zip(res, want, strict=False):
        np.testing.assert_array_equal(r, w)


# ---- per-thread OpenMP settings (documented behaviour) ------------------------------------------------------
def test_set_num_threads_is_process_wide():
    ce.set_num_threads(1)
    seen = []
    th = threading.Thread(target=lambda: seen.append(ce.get_num_threads()))
    th.start()
    th.join()
    assert seen == [1]
