"""Time per element of the softmax cross-entropy over a range of class counts.

Where a kernel hands over to another (the few-class block kernel to the row sweeps, around 32-128 classes),
the time per element jumps; this prints it for each class count, forward and fused into preallocated
``out=``, with the rows in cache and from memory::

    python benchmarks/class_sweep.py                                   # float32, 10-128 classes, 1 thread
    python benchmarks/class_sweep.py --classes 48,64,80,96,112 --dtypes float32,float16 --threads 2
    python benchmarks/class_sweep.py --targets dense                   # one-hot float targets
    python benchmarks/class_sweep.py --transforms                      # logsumexp, softmax, log_softmax

Each figure is the best of ``--repeat`` calls, in ns per element (rows x classes). Compare two builds by
running this against each in turn (benchmarks/README.md, "Comparing two builds").
"""

import argparse

import numpy as np
from compare import bench  # benchmarks/ is on sys.path when this script runs

import crossentropy as ce


def best_of(fn, repeat):
    """The best of `repeat` single calls, in seconds."""
    return bench(fn, repeat=repeat, min_time=0)


def time_case(x, labels, targets, repeat):
    """(forward, fused into out=) seconds, best of `repeat` calls each."""
    n, c = x.shape
    loss = np.empty(n, np.float64 if x.dtype == np.float64 else np.float32)
    grad = np.empty_like(x)
    if targets == "dense":
        t = np.eye(c, dtype=x.dtype)[labels]
        fwd = best_of(lambda: ce.softmax_cross_entropy(x, t), repeat)
        fused = best_of(lambda: ce.softmax_cross_entropy_and_grad(x, t, out=(loss, grad)), repeat)
    else:
        fwd = best_of(lambda: ce.sparse_softmax_cross_entropy(x, labels), repeat)
        fused = best_of(lambda: ce.sparse_softmax_cross_entropy_and_grad(x, labels, out=(loss, grad)), repeat)
    return fwd, fused


def time_transforms(x, repeat):
    """(logsumexp, softmax into out=, log_softmax into out=) seconds, best of `repeat` calls each."""
    lse = np.empty(len(x), np.float64 if x.dtype == np.float64 else np.float32)
    y = np.empty_like(x)
    return (
        best_of(lambda: ce.logsumexp(x, axis=-1, out=lse), repeat),
        best_of(lambda: ce.softmax(x, axis=-1, out=y), repeat),
        best_of(lambda: ce.log_softmax(x, axis=-1, out=y), repeat),
    )


def sweep(classes, rows, dtypes, targets, repeat, transforms=False):
    """Yield (dtype, rows, classes, ns/element of each timed call: see time_case and time_transforms)."""
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        for n in rows:
            for c in classes:
                x = (rng.standard_normal((n, c)) * 3).astype(dtype)
                labels = rng.integers(0, c, n)
                reps = max(12, repeat * 4096 // n)  # small calls are cheap: more of them
                times = time_transforms(x, reps) if transforms else time_case(x, labels, targets, reps)
                yield dtype, n, c, [t / (n * c) * 1e9 for t in times]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classes", default="10,32,48,64,80,96,112,128", help="class counts, comma-separated")
    ap.add_argument("--rows", default="4096,65536", help="row counts: 4096 stay in cache, 65536 do not")
    ap.add_argument("--dtypes", default="float32", help="float32, float64, float16 (comma-separated)")
    ap.add_argument("--targets", choices=["sparse", "dense"], default="sparse")
    ap.add_argument("--transforms", action="store_true", help="time logsumexp, softmax and log_softmax instead")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=150, help="calls per figure at 4096 rows (fewer for more rows)")
    args = ap.parse_args(argv)
    ce.set_num_threads(args.threads)
    what = "logsumexp, softmax and log_softmax" if args.transforms else f"{args.targets} targets"
    print(f"crossentropy {ce.__version__} ({ce.__file__}); {what}; {args.threads} thread(s)")
    columns = ("logsumexp", "softmax out=", "log_softmax out=") if args.transforms else ("forward", "fused out=")
    heads = " ".join(f"{h:>11s}" for h in columns)
    print(f"{'dtype':8s} {'rows':>7s} {'classes':>7s} {heads}   (ns per element)")
    for dtype, n, c, figures in sweep(
        [int(v) for v in args.classes.split(",")],
        [int(v) for v in args.rows.split(",")],
        args.dtypes.split(","),
        args.targets,
        args.repeat,
        args.transforms,
    ):
        print(f"{dtype:8s} {n:7d} {c:7d} " + " ".join(f"{v:11.3f}" for v in figures), flush=True)


if __name__ == "__main__":
    main()
