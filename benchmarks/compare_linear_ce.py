#!/usr/bin/env python3
"""Time and peak memory of ``crossentropy.lm.linear_cross_entropy`` next to torch eager and a two-step NumPy path.

Each case runs in a fresh subprocess (so its RSS high-water mark is its own) with NumPy's BLAS, torch and
our kernels all limited to the same number of threads.  Implementations:

* ``linear_ce``: ``linear_cross_entropy(hidden, weight, labels)`` (``--max-memory``, else its default);
* ``torch``: ``F.cross_entropy(F.linear(h, W), y)`` and, for gradients, its ``.backward()``;
* ``two_step``: ``logits = hidden @ weight.T`` then the per-row loss kernel (``lm.cross_entropy`` when
  installed, else ``sparse_softmax_cross_entropy(_and_grad)``), then ``G @ W`` and ``G.T @ hidden``.

"peak extra" is the RSS high-water mark minus the RSS once the inputs exist: it includes the outputs (the
gradients are as large as the inputs).  Usage::

    python benchmarks/compare_linear_ce.py                       # N=2048, d=1024, V=65536 and 131072, 1-2 threads
    python benchmarks/compare_linear_ce.py --vocab 65536 --threads 2 --reps 1
    python benchmarks/compare_linear_ce.py --n 256 --d 64 --vocab 4096   # a quick look
"""

import argparse
import json
import os
import subprocess
import sys
import time

IMPLS = ("linear_ce", "torch", "two_step")
MODES = ("forward", "forward+grad")


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_case(impl, mode, n, d, v, threads, reps, max_memory=None):
    """One measurement in this (fresh) process; returns a dict."""
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    import crossentropy as ce

    grad = mode == "forward+grad"
    threadpool_limits(threads, user_api="blas")
    ce.set_num_threads(threads)
    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((n, d), dtype=np.float32)
    weight = rng.standard_normal((v, d), dtype=np.float32) / np.float32(np.sqrt(d))
    labels = rng.integers(0, v, n)
    labels[rng.random(n) < 0.05] = -100

    if impl == "linear_ce":
        from crossentropy.lm import linear_cross_entropy

        def step():
            return linear_cross_entropy(hidden, weight, labels, return_grad=grad, max_memory=max_memory)
    elif impl == "torch":
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(threads)
        h_t = torch.from_numpy(hidden).requires_grad_(grad)
        w_t = torch.from_numpy(weight).requires_grad_(grad)
        y_t = torch.from_numpy(labels)

        def step():
            h_t.grad = w_t.grad = None
            if not grad:
                with torch.no_grad():
                    return F.cross_entropy(F.linear(h_t, w_t), y_t)
            loss = F.cross_entropy(F.linear(h_t, w_t), y_t)
            loss.backward()
            return loss
    else:
        step = _two_step(hidden, weight, labels, grad)

    baseline = _rss_bytes()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = step()
        times.append(time.perf_counter() - t0)
        del out
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return {
        "impl": impl,
        "mode": mode,
        "n": n,
        "d": d,
        "v": v,
        "threads": threads,
        "time_s": min(times),
        "times_s": times,
        "peak_extra_bytes": _peak_rss_bytes() - baseline,
        "blas_threads": blas,
    }


def _two_step(hidden, weight, labels, grad):
    """Logits by one matmul, then the per-row loss kernel (and the two gradient matmuls)."""
    import numpy as np

    try:
        from crossentropy.lm import cross_entropy as lm_cross_entropy
    except ImportError:
        lm_cross_entropy = None
    import crossentropy as ce

    valid = labels != -100
    safe = np.where(valid, labels, 0)

    def step():
        logits = hidden @ weight.T
        if lm_cross_entropy is not None:
            if not grad:
                return lm_cross_entropy(logits, labels)
            value, g = lm_cross_entropy(logits, labels, return_grad=True)
            del logits
        elif not grad:
            return np.sum(ce.sparse_softmax_cross_entropy(logits, safe)[valid]) / max(valid.sum(), 1)
        else:
            losses = np.empty(len(labels), np.float32)
            ce.sparse_softmax_cross_entropy_and_grad(logits, safe, out=(losses, logits))  # grad in place
            g = logits
            g[~valid] = 0
            g *= np.float32(1 / max(valid.sum(), 1))
            value = np.sum(losses[valid]) / max(valid.sum(), 1)
        return value, (g @ weight, g.T @ hidden)

    return step


def _run_subprocess(impl, mode, v, threads, args):
    """One case in a fresh interpreter with every thread pool limited to ``threads``; its result dict."""
    env = dict(
        os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads)
    )
    cmd = [
        sys.executable,
        __file__,
        "--case",
        f"{impl},{mode},{v},{threads}",
        "--n",
        str(args.n),
        "--d",
        str(args.d),
        "--reps",
        str(args.reps),
    ] + ([] if args.max_memory is None else ["--max-memory", str(args.max_memory)])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        print(f"# {impl} {mode} V={v} threads={threads} failed:\n{proc.stderr}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--d", type=int, default=1024)
    parser.add_argument("--vocab", type=int, nargs="+", default=[65536, 131072])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--impls", nargs="+", default=list(IMPLS), choices=IMPLS)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--reps", type=int, default=1, help="timed runs per process (the minimum is reported)")
    parser.add_argument("--rounds", type=int, default=2, help="fresh processes per case, interleaved")
    parser.add_argument("--max-memory", type=int, help="max_memory of linear_ce in bytes (default: its own)")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = parser.parse_args()
    if args.case:
        impl, mode, v, threads = args.case.split(",")
        print(json.dumps(run_case(impl, mode, args.n, args.d, int(v), int(threads), args.reps, args.max_memory)))
        return

    results = []
    budget = "default" if args.max_memory is None else f"{args.max_memory / 2**20:g} MiB"
    print(
        f"N={args.n}, d={args.d}, float32, linear_ce max_memory {budget}; "
        "peak extra = RSS high-water - RSS with the inputs (MiB)"
    )
    print(
        "| V | threads | mode | linear_ce s | torch s | two-step s | linear_ce MiB | torch MiB | two-step MiB "
        "| time / torch | memory / torch |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for v in args.vocab:
        for threads in args.threads:
            for mode in args.modes:
                row = {}
                for _ in range(args.rounds):  # rounds interleave the implementations against drifting load
                    for impl in args.impls:
                        result = _run_subprocess(impl, mode, v, threads, args)
                        if result is None:
                            continue
                        results.append(result)
                        best = row.setdefault(impl, result)
                        best["time_s"] = min(best["time_s"], result["time_s"])
                        best["peak_extra_bytes"] = min(best["peak_extra_bytes"], result["peak_extra_bytes"])
                fmt_t = {k: f"{r['time_s']:.3g}" for k, r in row.items()}
                fmt_m = {k: f"{r['peak_extra_bytes'] / 2**20:.0f}" for k, r in row.items()}
                ratio_t = ratio_m = "-"
                if "linear_ce" in row and "torch" in row:
                    ratio_t = f"{row['linear_ce']['time_s'] / row['torch']['time_s']:.2f}"
                    ratio_m = f"{row['linear_ce']['peak_extra_bytes'] / max(row['torch']['peak_extra_bytes'], 1):.3f}"
                print(
                    f"| {v} | {threads} | {mode} | {fmt_t.get('linear_ce', '-')} | {fmt_t.get('torch', '-')} | "
                    f"{fmt_t.get('two_step', '-')} | {fmt_m.get('linear_ce', '-')} | {fmt_m.get('torch', '-')} | "
                    f"{fmt_m.get('two_step', '-')} | {ratio_t} | {ratio_m} |",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
