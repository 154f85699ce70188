#!/usr/bin/env python
"""float16 / bfloat16 logits next to float32, measured in ONE process (docs/half_precision.md).

    python benchmarks/compare_half.py                                  # the three shapes, threads 1 and 2
    python benchmarks/compare_half.py --shapes 4096x1000 --threads 1   # a quick look

For every shape, dtype (float32, float16, bfloat16 when ml_dtypes is installed) and thread count it times
the sparse cross-entropy forward (``sparse_softmax_cross_entropy``) and the fused loss+grad
(``sparse_softmax_cross_entropy_and_grad``, into fresh arrays and into preallocated ``out=``), and prints
each half time as a ratio to float32 at the same thread count (``half / float32``: below 1 means half is
faster).  PyTorch CPU (``F.cross_entropy``, forward and forward+backward, on the same half tensors) and JAX
``jit`` on CPU (``logsumexp - x[label]`` and its VJP, on the same half arrays) are timed next to them, each
only when importable; JAX's thread pool cannot be resized at run time, so its column uses every core
whatever the thread count.

It also reports the peak extra memory (``tracemalloc``) of our half calls against the size of their
outputs: no float32 copy of the input is made.

Timing: ``time.perf_counter``; one warm-up call, then the best of ``--repeat`` calls, in ``--rounds`` rounds
with the dtypes alternating (best over the rounds).
"""

import argparse
import gc
import time
import tracemalloc

import numpy as np
from compare import _torch_tensor  # benchmarks/ is on sys.path when this script runs

import crossentropy as ce


def _dtypes():
    out = [("float32", np.dtype(np.float32)), ("float16", np.dtype(np.float16))]
    try:
        import ml_dtypes

        out.append(("bfloat16", np.dtype(ml_dtypes.bfloat16)))
    except ImportError:
        pass
    return out


def _best(f, repeat):
    f()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def _peak_extra(f):
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = f()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    outs = out if isinstance(out, tuple) else (out,)
    return peak, sum(o.nbytes for o in outs)


def _torch_fns(x, y, threads):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    torch.set_num_threads(threads)
    tx = _torch_tensor(torch, x)
    ty = torch.from_numpy(y)

    def fwd():
        with torch.no_grad():
            return F.cross_entropy(tx, ty, reduction="none")

    def fwd_bwd():
        t = tx.detach().requires_grad_(True)
        F.cross_entropy(t, ty, reduction="none").sum().backward()
        return t.grad

    return fwd, fwd_bwd


def _jax_fns(x, y):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jx, jy = jnp.asarray(x), jnp.asarray(y)

    def loss(z):
        return jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, jy[:, None], axis=1)[:, 0]

    f = jax.jit(loss)
    g = jax.jit(lambda z: jax.vjp(loss, z)[1](jnp.ones(z.shape[0], z.dtype))[0])
    return (lambda: f(jx).block_until_ready()), (lambda: g(jx).block_until_ready())


def run(shapes, threads, repeat, frameworks=True, rounds=3):
    rows = []
    for shape in shapes:
        n, c = (int(v) for v in shape.split("x"))
        rng = np.random.default_rng(0)
        base = (rng.standard_normal((n, c), dtype=np.float32) * 2).astype(np.float32)
        y = rng.integers(0, c, n).astype(np.int64)
        xs = {name: base.astype(dt) for name, dt in _dtypes()}
        del base
        loss = np.empty(n, np.float32)
        mems = {
            name: _peak_extra(lambda x=x, y=y: ce.sparse_softmax_cross_entropy_and_grad(x, y))
            for name, x in xs.items()
            if name != "float32"
        }
        for nt in threads:
            ce.set_num_threads(nt)
            recs = {name: {"shape": shape, "dtype": name, "threads": nt, "mem": mems.get(name)} for name in xs}
            # the dtypes alternate within each round, so that a slower stretch of a shared machine hits all of
            # them; each figure is the best over the rounds
            for _ in range(rounds):
                for name, x in xs.items():
                    g = np.empty_like(x)
                    times = {
                        "fwd": _best(lambda x=x, y=y: ce.sparse_softmax_cross_entropy(x, y), repeat),
                        "grad": _best(lambda x=x, y=y: ce.sparse_softmax_cross_entropy_and_grad(x, y), repeat),
                        "grad_out": _best(
                            lambda x=x, y=y, o=(loss, g): ce.sparse_softmax_cross_entropy_and_grad(x, y, out=o),
                            repeat,
                        ),
                    }
                    for k, v in times.items():
                        recs[name][k] = min(recs[name].get(k, np.inf), v)
                    del g
            for name, x in xs.items():
                rec = recs[name]
                if frameworks and name != "float32":
                    tf = _torch_fns(x, y, nt)
                    if tf is not None:
                        rec["torch_fwd"], rec["torch_grad"] = (_best(f, repeat) for f in tf)
                    jf = _jax_fns(x, y) if nt == threads[-1] else None
                    if jf is not None:
                        rec["jax_fwd"], rec["jax_grad"] = (_best(f, repeat) for f in jf)
                rows.append(rec)
                print(_line(rec, rows), flush=True)
        del xs
        gc.collect()
    ce.set_num_threads(None)
    return rows


def _line(rec, rows):
    ref = next(
        (r for r in rows if r["shape"] == rec["shape"] and r["threads"] == rec["threads"] and r["dtype"] == "float32"),
        None,
    )
    parts = [
        f"{rec['shape']:>12} {rec['dtype']:>8} {rec['threads']}t",
        f"fwd {rec['fwd'] * 1e3:8.1f} ms",
        f"fwd+grad {rec['grad'] * 1e3:8.1f} ms",
        f"into out= {rec['grad_out'] * 1e3:8.1f} ms",
    ]
    if ref is not None and rec is not ref:
        parts.append(
            f"vs float32: fwd {rec['fwd'] / ref['fwd']:.2f}x, fwd+grad {rec['grad'] / ref['grad']:.2f}x, "
            f"into out= {rec['grad_out'] / ref['grad_out']:.2f}x"
        )
    for k in ("torch", "jax"):
        if f"{k}_fwd" in rec:
            parts.append(f"{k} {rec[f'{k}_fwd'] * 1e3:.1f} / {rec[f'{k}_grad'] * 1e3:.1f} ms")
    if rec["mem"] is not None:
        peak, outs = rec["mem"]
        parts.append(f"peak extra {peak / 2**20:.1f} MiB (outputs {outs / 2**20:.1f} MiB)")
    return " | ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="65536x1000,2048x50257,512x128256")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeat", type=int, default=3, help="calls per figure and round (best kept)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the dtypes alternating within each")
    parser.add_argument("--no-frameworks", action="store_true", help="leave out torch and JAX")
    opts = parser.parse_args()
    threads = [int(t) for t in opts.threads.split(",")]
    run(opts.shapes.split(","), threads, opts.repeat, not opts.no_frameworks, opts.rounds)


if __name__ == "__main__":
    main()
