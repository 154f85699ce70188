#!/usr/bin/env python
"""Where the time of a fresh N x C output goes: page faults and the kernel's zeroing of new pages.

    python benchmarks/fresh_output.py                     # 65536x1000 float32, 1 thread
    python benchmarks/fresh_output.py --shape 2048x50257 --threads 2

For each way of producing an N x C result it reports the best wall time of one call, and per call the
minor page faults and the user / system CPU seconds (``getrusage``; system time is the kernel zeroing
fresh pages and mapping them).  Rows come in pairs, "into out=" (a preallocated array, written again each
call) and "fresh" (a new array each call, freed before the next), for our fused loss+grad and for a plain
``np.copyto`` (the copy floor), with NumPy's huge-page advice (``madvise(MADV_HUGEPAGE)`` on arrays of
4 MiB and more) on and off.
"""

import argparse
import resource
import sys
import time

import numpy as np


def measure(fn, repeat):
    fn()
    best = float("inf")
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return (
        best,
        (r1.ru_minflt - r0.ru_minflt) / repeat,
        (r1.ru_utime - r0.ru_utime) / repeat,
        (r1.ru_stime - r0.ru_stime) / repeat,
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="65536x1000")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=15)
    a = p.parse_args(argv)
    from numpy._core import multiarray as ma

    import crossentropy as ce

    n, c = (int(v) for v in a.shape.lower().split("x"))
    ce.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c), dtype=np.dtype(a.dtype))
    y = rng.integers(0, c, n)
    loss, grad = np.empty(n, x.dtype), np.empty_like(x)
    grad.fill(0)

    cases = [
        ("ours, into out=", lambda: ce.sparse_softmax_cross_entropy_and_grad(x, y, out=(loss, grad))),
        ("ours, fresh", lambda: ce.sparse_softmax_cross_entropy_and_grad(x, y)),
        ("np.copyto into preallocated", lambda: np.copyto(grad, x)),
        ("np.copy (fresh)", lambda: x.copy()),
        ("np.empty only (fresh, untouched)", lambda: np.empty_like(x)),
        ("np.zeros (fresh, calloc)", lambda: np.zeros_like(x)),
    ]
    mb = x.nbytes / 2**20
    print(
        f"{n}x{c} {x.dtype} ({mb:.0f} MiB per N x C array), {a.threads} thread(s), "
        f"best of {a.repeat}; faults and CPU seconds are per call"
    )
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            print("transparent huge pages:", f.read().strip())
    except OSError:
        pass
    print(f"{'':38s}{'time':>10s}{'faults':>10s}{'user s':>10s}{'sys s':>10s}")
    for hp in (True, False):
        old = ma._set_madvise_hugepage(hp)
        print(f"NumPy huge-page advice {'on' if hp else 'off'}:")
        for name, fn in cases:
            t, flt, ut, st = measure(fn, a.repeat)
            print(f"  {name:36s}{t * 1e3:8.1f}ms{flt:10.0f}{ut:10.4f}{st:10.4f}")
        ma._set_madvise_hugepage(old)
    return 0


if __name__ == "__main__":
    sys.exit(main())
