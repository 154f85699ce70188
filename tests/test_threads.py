"""Thread control: set_num_threads, OMP_NUM_THREADS and threadpoolctl reach the kernels."""

import os
import subprocess
import sys

import numpy as np
import pytest

import crossentropy as ce


def test_omp_num_threads_is_honoured():
    code = "import crossentropy as ce; print(ce.get_num_threads())"
    for n in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=n)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == str(min(int(n), len(os.sched_getaffinity(0))))


def test_threadpoolctl_limits_the_kernels():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    ce.set_num_threads(None)
    before = ce.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert ce.get_num_threads() == 1
        x = np.random.default_rng(0).standard_normal((2000, 300))
        ce.sparse_softmax_cross_entropy(x, np.zeros(2000, np.int64))
    assert ce.get_num_threads() == before
    libs = [info for info in threadpoolctl.threadpool_info() if info["user_api"] == "openmp"]
    assert libs, "threadpoolctl does not see the OpenMP runtime the kernels use"


def test_set_num_threads_overrides_and_resets():
    try:
        ce.set_num_threads(1)
        assert ce.get_num_threads() == 1
    finally:
        ce.set_num_threads(None)
    assert ce.get_num_threads() >= 1


def test_type_stubs_are_installed():
    import importlib.resources

    files = importlib.resources.files("crossentropy")
    for name in ("py.typed", "_gufuncs.pyi", "_kernels.pyi"):
        assert (files / name).is_file(), name
