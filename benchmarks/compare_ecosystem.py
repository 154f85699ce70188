"""crossentropy.sklearn / crossentropy.optax against scikit-learn and optax (jax.jit on the CPU), side by side.

    python benchmarks/compare_ecosystem.py [--quick]

Prints one table: best-of-repeats wall time of each call, the speed ratio, and the peak extra memory a call
allocates beyond its inputs (tracemalloc, which sees NumPy's allocations; JAX's own buffers are not traced,
so the optax rows show time only).  All timings come from this one run, so the ratios compare like with like.
"""

import argparse
import os
import sys
import time
import tracemalloc

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import numpy as np


def best_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def peak_extra(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def mib(n):
    return f"{n / 2**20:8.1f}"


def sklearn_rows(shapes, repeats):
    from sklearn.metrics import log_loss as sk_log_loss

    from crossentropy.sklearn import log_loss

    rng = np.random.default_rng(0)
    for n, c in shapes:
        for dtype in (np.float32, np.float64):
            p = rng.random((n, c), dtype=np.float32 if dtype == np.float32 else np.float64)
            p /= p.sum(axis=1, keepdims=True)
            y = rng.integers(0, c, n)
            y[:c] = np.arange(c)
            with np.errstate(all="ignore"):

                def ours(y=y, p=p):
                    return log_loss(y, p)

                def theirs(y=y, p=p):
                    return sk_log_loss(y, p)

                mine, ref = ours(), theirs()
                t_mine = best_time(ours, repeats)
                t_ref = best_time(theirs, max(1, repeats // 2))
                m_mine = peak_extra(ours)
                m_ref = peak_extra(theirs)
            agree = abs(mine - ref) <= 1e-6 * abs(ref)
            yield (f"log_loss {n}x{c} {np.dtype(dtype).name}", t_ref, t_mine, m_ref, m_mine, p.nbytes, agree)


def optax_rows(n, c, repeats):
    import jax
    import jax.numpy as jnp
    from optax import losses

    from crossentropy import optax as cox

    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, c)).astype(np.float32) * 3
    t = rng.dirichlet(np.ones(c), n).astype(np.float32) if c <= 1000 else None
    y = rng.integers(0, c, n)
    jx, jt, jy = jnp.asarray(x), jnp.asarray(t), jnp.asarray(y)
    cases = [
        ("softmax_cross_entropy", (x, t), (jx, jt)),
        ("softmax_cross_entropy_with_integer_labels", (x, y), (jx, jy)),
        ("safe_softmax_cross_entropy", (x, t), (jx, jt)),
        ("sigmoid_binary_cross_entropy", (x, t), (jx, jt)),
        ("sigmoid_focal_loss", (x, t), (jx, jt)),
        ("poly_loss_cross_entropy", (x, t), (jx, jt)),
    ]
    for name, args, jargs in cases:
        fn = getattr(losses, name)
        value_jit = jax.jit(fn)
        grad_jit = jax.jit(jax.value_and_grad(lambda a, b, fn=fn: fn(a, b).sum()))
        mine = getattr(cox, name)
        calls = (
            ("value", lambda f=value_jit, a=jargs: f(*a).block_until_ready(), lambda f=mine, a=args: f(*a)),
            (
                "value+grad",
                lambda f=grad_jit, a=jargs: jax.block_until_ready(f(*a)),
                lambda f=mine, a=args: f(*a, return_grad=True),
            ),
        )
        for label, ref_call, my_call in calls:
            ref_call()  # compile
            with np.errstate(all="ignore"):
                t_ref = best_time(ref_call, repeats)
                t_mine = best_time(my_call, repeats)
                m_mine = peak_extra(my_call)
            yield (f"{name} {label} {n}x{c} float32", t_ref, t_mine, None, m_mine, x.nbytes, True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, one repeat (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        shapes, optax_shape, repeats = [(10000, 10), (1000, 100)], (4096, 100), 1
    else:
        shapes, optax_shape, repeats = [(1_000_000, 10), (100_000, 1000)], (65536, 1000), 3
    import crossentropy

    print(
        f"crossentropy {crossentropy.__version__}, numpy {np.__version__}, threads {crossentropy.get_num_threads()}, "
        f"{os.cpu_count()} CPUs"
    )
    header = f"{'case':<62} {'theirs s':>9} {'ours s':>9} {'ratio':>7} {'their MiB':>9} {'our MiB':>8} {'input MiB':>9}"
    print(header)
    print("-" * len(header))
    rows = []
    try:
        rows += list(sklearn_rows(shapes, repeats))
    except ImportError as exc:
        print(f"(scikit-learn rows skipped: {exc})")
    for row in rows:
        name, t_ref, t_mine, m_ref, m_mine, nbytes, agree = row
        print(
            f"{name:<62} {t_ref:9.4f} {t_mine:9.4f} {t_ref / t_mine:6.1f}x {mib(m_ref):>9} {mib(m_mine):>8} "
            f"{mib(nbytes):>9}" + ("" if agree else "  VALUES DIFFER")
        )
        sys.stdout.flush()
    try:
        for name, t_ref, t_mine, _, m_mine, nbytes, _ in optax_rows(*optax_shape, repeats):
            print(
                f"{name:<62} {t_ref:9.4f} {t_mine:9.4f} {t_ref / t_mine:6.2f}x {'(jax)':>9} {mib(m_mine):>8} "
                f"{mib(nbytes):>9}"
            )
            sys.stdout.flush()
    except ImportError as exc:
        print(f"(optax rows skipped: {exc})")


if __name__ == "__main__":
    main()
