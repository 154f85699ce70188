#!/usr/bin/env python
"""Language-model statistics side by side, measured in ONE process: ``crossentropy.lm`` against the ways users
write them.

    python benchmarks/compare_lm.py                # 2048x50257 and 512x128256, float32, 1 and 2 threads
    python benchmarks/compare_lm.py --quick        # small shapes, seconds
    python benchmarks/compare_lm.py --dtypes float32,bfloat16 --markdown

Rows (each against the same logits and labels):

* ``lm.token_stats`` (nll, lse, entropy, rank, valid from one read of each row) and our
  ``sparse_softmax_cross_entropy`` gufunc (the loss alone) -- the ratio of the two is the cost of the extra
  statistics (target <= 1.15);
* ``lm.cross_entropy(return_grad=True)`` (Liger semantics, value and gradient in one call) and our
  ``sparse_softmax_cross_entropy_and_grad``;
* torch CPU as users write the statistics: ``log_softmax`` + ``gather`` + rank from the label's logit +
  entropy ``-(p * logp).sum(-1)``; ``F.cross_entropy(reduction="none")``; ``F.cross_entropy`` forward+backward;
* JAX ``jit`` (``JAX_PLATFORMS=cpu``) of the same statistics and of value+grad (JAX uses all cores whatever
  the thread column says).

For ours, the peak of NumPy allocations during one call (``tracemalloc``, which NumPy reports to) is printed
next to the size of the outputs: the kernels allocate nothing of size N x V.
Times are the best of ``repeat`` samples (see benchmarks/compare.py); ratios = their time / ours (> 1: we
are faster).
"""

import argparse
import os
import sys
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import _fmt_time, _optional, bench, header  # noqa: E402

DEFAULT_SHAPES = [(2048, 50257), (512, 128256)]
QUICK_SHAPES = [(128, 50257), (32, 128256)]


def _dtype(name):
    if name == "bfloat16":
        ml_dtypes = _optional("ml_dtypes")
        return None if ml_dtypes is None else np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def peak_extra_bytes(fn):
    """Peak bytes NumPy allocated during fn() (outputs included)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return peak


def _output_bytes(out):
    if isinstance(out, tuple):
        return sum(_output_bytes(o) for o in out)
    return np.asarray(out).nbytes


def torch_cases(torch, x, y):
    F = torch.nn.functional
    if x.dtype.name == "bfloat16":
        xt = torch.from_numpy(x.view(np.uint16).astype(np.int16)).view(torch.bfloat16)
    else:
        xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)

    def stats():
        with torch.no_grad():
            logp = torch.log_softmax(xt.float(), dim=-1)
            nll = -logp.gather(-1, yt[:, None])[:, 0]
            lse = torch.logsumexp(xt.float(), dim=-1)
            rank = (xt > xt.gather(-1, yt[:, None])).sum(-1)
            entropy = -(logp.exp() * logp).sum(-1)
            return nll, lse, entropy, rank

    def ce_none():
        with torch.no_grad():
            return F.cross_entropy(xt.float(), yt, reduction="none")

    xg = xt.clone().requires_grad_(True)

    def ce_grad():
        out = F.cross_entropy(xg.float(), yt)
        (g,) = torch.autograd.grad(out, xg)
        return out, g

    return {
        "stats": [("torch log_softmax+gather+rank+entropy", stats), ("torch F.cross_entropy(none)", ce_none)],
        "grad": [("torch F.cross_entropy fwd+bwd", ce_grad)],
    }


def jax_cases(x, y):
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    jax = _optional("jax")
    if jax is None:
        return {}
    import jax.numpy as jnp

    @jax.jit
    def stats(x, y):
        xf = x.astype(jnp.float32)
        logp = jax.nn.log_softmax(xf, axis=-1)
        picked = jnp.take_along_axis(xf, y[:, None], axis=-1)
        nll = -jnp.take_along_axis(logp, y[:, None], axis=-1)[:, 0]
        entropy = -(jnp.exp(logp) * logp).sum(-1)
        rank = (xf > picked).sum(-1)
        return nll, jax.nn.logsumexp(xf, axis=-1), entropy, rank

    @jax.jit
    def value_grad(x, y):
        def f(z):
            zf = z.astype(jnp.float32)
            return jnp.mean(jax.nn.logsumexp(zf, axis=-1) - jnp.take_along_axis(zf, y[:, None], axis=-1)[:, 0])

        return jax.value_and_grad(f)(x)

    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def run_stats():
        return jax.block_until_ready(stats(xj, yj))

    def run_grad():
        return jax.block_until_ready(value_grad(xj, yj))

    return {"stats": [("JAX jit stats (all thr)", run_stats)], "grad": [("JAX jit value+grad (all thr)", run_grad)]}


def _one_shape(ce, lm, torch, dt, dname, n, v, threads, repeat, min_time, markdown, skip):
    """Measure one (shape, dtype); returns the printed lines."""
    lines = []
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((n, v), dtype=np.float32) * 3).astype(dt)
    y = rng.integers(0, v, n, dtype=np.int64)
    y[::17] = -100
    y_all = np.where(y < 0, 0, y)  # the gufunc and the alternatives have no ignore_index
    alts = {"stats": [], "grad": []}
    if torch is not None:
        for k, lst in torch_cases(torch, x, y_all).items():
            alts[k] += lst
    if "jax" not in skip and dt != np.float16:
        for k, lst in jax_cases(x, y_all).items():
            alts[k] += lst
    ours = {
        "stats": ("lm.token_stats", lambda: lm.token_stats(x, y)),
        "grad": ("lm.cross_entropy(return_grad=True)", lambda: lm.cross_entropy(x, y, return_grad=True)),
    }
    base = {
        "stats": ("sparse_softmax_cross_entropy", lambda: ce.sparse_softmax_cross_entropy(x, y_all)),
        "grad": ("sparse_softmax_cross_entropy_and_grad", lambda: ce.sparse_softmax_cross_entropy_and_grad(x, y_all)),
    }
    for kind in ("stats", "grad"):
        name, fn = ours[kind]
        out = fn()
        peak = peak_extra_bytes(fn)
        lines.append(
            f"\n{n}x{v} {dname}  {name}: peak NumPy allocation {peak / 2**10:.1f} KiB, "
            f"outputs {_output_bytes(out) / 2**10:.1f} KiB"
        )
        print(lines[-1], flush=True)
        for t in threads:
            ce.set_num_threads(t)
            if torch is not None:
                torch.set_num_threads(t)
            mine = bench(fn, repeat=repeat, min_time=min_time)
            row = [f"  threads={t}: {name} {_fmt_time(mine)}"]
            bname, bfn = base[kind]
            try:
                row.append(f"{name}/{bname} = {mine / bench(bfn, repeat=repeat, min_time=min_time):.2f}")
            except TypeError as exc:  # a dtype the gufunc does not take
                row.append(f"{bname}: {exc}")
            for aname, afn in alts[kind]:
                row.append(f"{aname} {bench(afn, repeat=repeat, min_time=min_time) / mine:.2f}x")
            lines.append(("\n    " if not markdown else "; ").join(row))
            print(lines[-1], flush=True)
    return lines


def run(shapes, dtypes, threads, repeat=3, min_time=0.02, markdown=False, skip=()):
    import crossentropy as ce
    from crossentropy import lm

    torch = None if "torch" in skip else _optional("torch")
    header({"torch": torch.__version__} if torch else {})
    old = ce.get_num_threads()
    lines = []
    for dname in dtypes:
        dt = _dtype(dname)
        if dt is None:
            print(f"# {dname}: ml_dtypes is not installed, skipped")
            continue
        for n, v in shapes:
            lines += _one_shape(ce, lm, torch, dt, dname, n, v, threads, repeat, min_time, markdown, skip)
    ce.set_num_threads(old)
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", help="comma list of NxV")
    p.add_argument("--dtypes", default="float32", help="comma list: float32,float64,float16,bfloat16")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--min-time", type=float, default=0.02)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--skip", default="", help="comma list: torch,jax")
    a = p.parse_args(argv)
    shapes = (
        [tuple(int(s) for s in item.lower().split("x")) for item in a.shapes.split(",")]
        if a.shapes
        else (QUICK_SHAPES if a.quick else DEFAULT_SHAPES)
    )
    run(
        shapes,
        a.dtypes.split(","),
        [int(t) for t in a.threads.split(",")],
        a.repeat,
        a.min_time,
        a.markdown,
        set(filter(None, a.skip.split(","))),
    )


if __name__ == "__main__":
    main()
