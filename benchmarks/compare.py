#!/usr/bin/env python
"""Side-by-side speed of crossentropy and the alternatives, measured in ONE process.

    python benchmarks/compare.py                       # the issue's shapes, float32, threads 1 and all
    python benchmarks/compare.py --quick --threads 1   # small shapes, a few seconds
    python benchmarks/compare.py --shapes 65536x1000,2048x50257 --threads 1,2,16 --markdown
    python benchmarks/compare.py --threads 1,2 --plot docs/compare.png   # also draw the figure

or from Python::

    from compare import run        # with benchmarks/ on sys.path
    records = run(shapes=["4096x1000"], threads=[1, 2], repeat=5)

In the style of bottleneck's ``bn.bench()``: for every shape and thread count it prints our time for
the per-sample sparse cross-entropy forward (``sparse_softmax_cross_entropy``) and for the fused
loss+grad (``sparse_softmax_cross_entropy_and_grad``), and for each alternative the ratio
``alternative time / our time`` -- a ratio >= 1 means we are faster.  Alternatives, each only when
importable (a bare NumPy install gets the NumPy rows):

* naive NumPy: ``log(sum(exp(x - max))) + max - x[label]`` and ``softmax - onehot`` (float16 and
  bfloat16 logits are copied to float32 first, inside the timed call: NumPy has no fast half math);
* ``np.sum(x)``: one single-threaded pass over the array;
* read floor: a multi-threaded read of the array (its bytes as 8-byte words, ``np.bitwise_or.reduce``
  on disjoint blocks in a ``ThreadPoolExecutor``; NumPy releases the GIL) -- what memory bandwidth
  allows for any method that reads the logits once;
* copy floor (loss+grad): a multi-threaded ``np.copyto`` of the array into a preallocated one, in
  row blocks -- read once, write once, the least a gradient can cost;
* call floor (0 rows): the same call on the first 0 rows of the arrays -- what NumPy's gufunc
  machinery costs per call before any row is computed (the floor of small calls such as 32x10);
* scikit-learn ``HalfMultinomialLoss`` (``loss`` / ``loss_gradient``, ``n_threads``; float32 and
  float64 only);
* PyTorch CPU ``F.cross_entropy(reduction="none")``, forward and forward+backward
  (``torch.set_num_threads``), on tensors of the same dtype (``torch.bfloat16`` for bfloat16);
* JAX ``jit`` on CPU (``jax.nn.logsumexp(x, 1) - x[arange, y]`` and its VJP).  JAX's XLA CPU
  thread pool cannot be resized at runtime: it uses all cores in every column.

``--dtypes`` takes float32, float64, float16 and bfloat16 (bfloat16 needs ml_dtypes).  Half logits give
a float32 loss and a gradient of their own dtype, and the floors read and copy the half array, so a half
column's floors move half of float32's bytes.

``--plot FILE.png`` (needs matplotlib) draws the same records: time per element against the thread
count for the first shape with at least 1000 classes, and against the number of classes at one thread,
for ours, the alternatives and the floors.

Timing: ``time.perf_counter``, one warm-up call, then best of ``repeat`` samples, each sample
looping the call enough times to last at least ``min_time`` seconds.  The calls of one shape and thread
count take their samples in turn, one of each per round and each after an untimed call, so that a slow
spell of a shared host falls on all of them rather than on the one measured at that moment.  Every
alternative's loss (and gradient) is checked against ours once per shape; a mismatch is flagged with
``!``.
"""

import argparse
import functools
import gc
import importlib
import operator
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

DEFAULT_SHAPES = [(65536, 1000), (2048, 50257), (512, 128256), (2000000, 10), (32, 10)]
QUICK_SHAPES = [(4096, 1000), (128, 50257), (32, 128256), (200000, 10), (32, 10)]
ALTERNATIVES = ("sklearn", "torch", "jax")
NOTE = (
    "ratio = alternative time / our time: ratio >= 1 means we are faster.  Floors are lower "
    "bounds (a ratio near 1 means we run at memory speed)."
)


# --------------------------------------------------------------------------------------------------
# helpers


def _parse_shapes(shapes):
    out = []
    for s in shapes:
        if isinstance(s, str):
            n, c = s.lower().split("x")
            s = (int(n), int(c))
        out.append((int(s[0]), int(s[1])))
    return out


def _dtype(name):
    """A NumPy dtype from its name; bfloat16 from ml_dtypes."""
    if str(name) == "bfloat16":
        ml_dtypes = _optional("ml_dtypes")
        if ml_dtypes is None:
            raise SystemExit("--dtypes bfloat16 needs ml_dtypes (pip install ml_dtypes)")
        return np.dtype(ml_dtypes.bfloat16)
    dt = np.dtype(name)
    if dt.kind != "f":
        raise SystemExit(f"--dtypes: {name} is not a floating-point dtype")
    return dt


def _is_half(dtype):
    return dtype.itemsize == 2


def _random_logits(rng, shape, dtype):
    """Standard normal logits of ``dtype`` (NumPy's generator draws float32 and float64 only)."""
    if _is_half(dtype):
        return rng.standard_normal(shape, dtype=np.float32).astype(dtype)
    return rng.standard_normal(shape, dtype=dtype)


def _parse_list(text, conv=str):
    return [conv(t.strip()) for t in str(text).split(",") if t.strip()]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _optional(name):
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a broken install
        return None


def _fmt_time(t):
    if t is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def _fmt_ratio(r, ok=True):
    if r is None:
        return "-"
    return f"{r:.2f}{'' if ok else '!'}"


def _calls_per_sample(fn, min_time):
    """How many calls of ``fn`` make a sample of at least ``min_time`` seconds (after a warm-up call)."""
    fn()  # warm-up: JIT, thread start, page faults of caches
    once, spent = float("inf"), 0.0  # calibrate on the best of up to 3 calls (<= ~0.2 s)
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        once, spent = min(once, dt), spent + dt
        if spent > 0.2:
            break
    return 1 if once >= min_time else min(100_000, int(min_time / max(once, 1e-7)) + 1)


def _sample(fn, number):
    """Seconds per call of ``fn`` over ``number`` calls in a row."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def bench(fn, repeat=5, min_time=0.02):
    """Best time of one call of ``fn`` in seconds: warm-up, then best of ``repeat`` samples."""
    return bench_interleaved([fn], repeat=repeat, min_time=min_time)[0]


def bench_interleaved(fns, repeat=5, min_time=0.02):
    """Best time of one call of each of ``fns`` in seconds, their samples taken in turn (one sample of
    each per round, ``repeat`` rounds): a slow spell of the host then falls on every call alike, and
    their ratios hold (measured one after the other on a shared VM, one ratio moved 1.7 -> 2.4).  Each
    turn starts with an untimed call, so that a call that allocates finds its memory as in a loop of
    calls: on a VM that hands freed memory back to its host, the first call after the others' turns
    pays for fresh pages (naive NumPy at 65536x1000 then took twice its time)."""
    numbers = [_calls_per_sample(fn, min_time) for fn in fns]
    best = [float("inf")] * len(fns)
    for _ in range(max(1, repeat)):
        for i, (fn, number) in enumerate(zip(fns, numbers, strict=True)):
            if len(fns) > 1:
                fn()
            best[i] = min(best[i], _sample(fn, number))
    return best


def _row_blocks(n, parts):
    edges = np.linspace(0, n, max(1, min(parts, n)) + 1).astype(int)
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=False) if b > a]


def _words(x):
    """The bytes of C-contiguous ``x`` as 8-byte words, and the last ``x.nbytes % 8`` bytes apart."""
    b = x.reshape(-1).view(np.uint8)
    k = b.size // 8 * 8
    return b[:k].view(np.uint64), b[k:]


class _Floors:
    """Multi-threaded memory floors with ``threads`` workers on disjoint blocks of the array."""

    def __init__(self, threads):
        self.threads = threads
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None

    def read(self, x):
        """Every byte of ``x`` read once: its 8-byte words OR-ed together, in ``threads`` blocks.  An
        integer OR never waits on arithmetic; NumPy's float sum (pairwise) can run slower than memory on
        one core, and a floor slower than memory is no floor.  Returns the OR of all bytes' words."""
        words, tail = _words(x)
        orr = np.bitwise_or.reduce
        rest = int(orr(tail))
        if self.pool is None:
            return lambda: int(orr(words)) | rest
        blocks = _row_blocks(words.size, self.threads)
        return lambda: functools.reduce(
            operator.or_, self.pool.map(lambda ab: int(orr(words[ab[0] : ab[1]])), blocks), rest
        )

    def copy(self, x, dst):
        blocks = _row_blocks(x.shape[0], self.threads)
        if self.pool is None:
            return lambda: np.copyto(dst, x)

        def one(ab):
            np.copyto(dst[ab[0] : ab[1]], x[ab[0] : ab[1]])

        return lambda: list(self.pool.map(one, blocks))

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()


# --------------------------------------------------------------------------------------------------
# the alternatives


def naive_forward(x, y):
    m = x.max(1, keepdims=True)
    return np.log(np.sum(np.exp(x - m), 1)) + m[:, 0] - x[np.arange(len(y)), y]


def naive_loss_grad(x, y):
    m = x.max(1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(1, keepdims=True)
    r = np.arange(len(y))
    loss = np.log(s[:, 0]) + m[:, 0] - x[r, y]
    e /= s
    e[r, y] -= 1
    return loss, e


def _load_alternatives(skip=()):
    """Import what is available.  Returns a dict name -> module (or helper), plus version strings."""
    alts, versions = {}, {}
    if "sklearn" not in skip:
        mod = _optional("sklearn._loss.loss")
        if mod is not None and hasattr(mod, "HalfMultinomialLoss"):
            alts["sklearn"] = mod.HalfMultinomialLoss
            versions["scikit-learn"] = importlib.import_module("sklearn").__version__
    if "torch" not in skip:
        torch = _optional("torch")
        if torch is not None:
            alts["torch"] = torch
            versions["torch"] = torch.__version__
    if "jax" not in skip:
        if "jax" not in sys.modules:
            os.environ["JAX_PLATFORMS"] = "cpu"
        jax = _optional("jax")
        if jax is not None:
            try:
                jax.config.update("jax_enable_x64", True)  # keep float64 inputs float64
                import jax.numpy as jnp

                def fwd(x, y):
                    return jax.nn.logsumexp(x, axis=1) - jnp.take_along_axis(x, y[:, None], axis=1)[:, 0]

                def loss_grad(x, y):
                    loss, vjp = jax.vjp(lambda z: fwd(z, y), x)
                    return loss, vjp(jnp.ones_like(loss))[0]

                alts["jax"] = (jax, jax.jit(fwd), jax.jit(loss_grad))
                versions["jax"] = f"{jax.__version__} ({jax.devices()[0].platform})"
            except Exception as exc:  # pragma: no cover
                print(f"# JAX skipped: {exc}", file=sys.stderr)
    return alts, versions


def _call_floor(fn, x, y):
    """The same call on the first 0 rows: NumPy's per-call cost, no row computed (returns None)."""
    x0, y0 = x[:0], y[:0]

    def call():
        fn(x0, y0)

    return call


def _cases(ce, x, y, threads, floors, alts, scratch):
    """Yield (case, label, fn, threaded) for one array; fn() returns loss or (loss, grad) or None."""
    n, c = x.shape
    half = _is_half(x.dtype)
    # NumPy has no fast half math: a user copies half logits to float32 first (inside the timed call)
    xn = (lambda: x.astype(np.float32)) if half else (lambda: x)
    # forward -------------------------------------------------------------------------------
    yield "forward", "ours", lambda: ce.sparse_softmax_cross_entropy(x, y), True
    yield "forward", "naive NumPy", lambda: naive_forward(xn(), y), False
    yield "forward", "np.sum(x)", lambda: np.sum(x), False
    yield "forward", f"read floor ({threads} thr)", floors.read(x), True
    yield "forward", "call floor (0 rows)", _call_floor(ce.sparse_softmax_cross_entropy, x, y), False
    if "sklearn" in alts and not half:
        L = alts["sklearn"](n_classes=c)
        yf = y.astype(x.dtype)
        yield (
            "forward",
            "sklearn HalfMultinomialLoss",
            lambda: L.loss(y_true=yf, raw_prediction=x, n_threads=threads),
            True,
        )
    if "torch" in alts:
        torch = alts["torch"]
        F = torch.nn.functional
        xt, yt = _torch_tensor(torch, x), torch.from_numpy(y)

        def torch_fwd():
            with torch.no_grad():
                return _from_torch(F.cross_entropy(xt, yt, reduction="none"))

        yield "forward", "torch CPU", torch_fwd, True
    if "jax" in alts:
        jax, jfwd, _ = alts["jax"]
        xj, yj = scratch["jax_x"], scratch["jax_y"]
        yield "forward", "JAX jit (all thr)", lambda: np.asarray(jfwd(xj, yj).block_until_ready()), None
    # loss + grad ---------------------------------------------------------------------------
    grad = scratch["grad"]
    loss = scratch["loss"]
    yield "loss+grad", "ours", lambda: ce.sparse_softmax_cross_entropy_and_grad(x, y), True
    yield (
        "loss+grad",
        "ours, out= preallocated",
        lambda: ce.sparse_softmax_cross_entropy_and_grad(x, y, out=(loss, grad)),
        True,
    )
    yield "loss+grad", "naive NumPy", lambda: naive_loss_grad(xn(), y), False
    yield "loss+grad", "np.sum(x)", lambda: np.sum(x), False
    yield "loss+grad", f"read floor ({threads} thr)", floors.read(x), True
    yield "loss+grad", f"copy floor ({threads} thr)", floors.copy(x, scratch["copy_dst"]), True
    yield "loss+grad", "call floor (0 rows)", _call_floor(ce.sparse_softmax_cross_entropy_and_grad, x, y), False
    if "sklearn" in alts and not half:
        yield (
            "loss+grad",
            "sklearn loss_gradient",
            lambda: L.loss_gradient(y_true=yf, raw_prediction=x, n_threads=threads),
            True,
        )
    if "torch" in alts:
        xg = _torch_tensor(torch, x).requires_grad_(True)  # shares x's memory

        def torch_fwd_bwd():
            out = F.cross_entropy(xg, yt, reduction="none")
            (g,) = torch.autograd.grad(out.sum(), xg)
            return _from_torch(out.detach()), _from_torch(g)

        yield "loss+grad", "torch CPU fwd+bwd", torch_fwd_bwd, True
    if "jax" in alts:
        _, _, jlg = alts["jax"]

        def jax_lg():
            lo, g = jlg(xj, yj)
            g.block_until_ready()
            return np.asarray(lo), np.asarray(g)

        yield "loss+grad", "JAX jit value+vjp (all thr)", jax_lg, None


def _torch_tensor(torch, x):
    """x as a torch tensor sharing its memory (bfloat16 through its bits: torch cannot take ml_dtypes')."""
    if x.dtype.name == "bfloat16":
        return torch.from_numpy(x.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(x)


def _from_torch(t):
    """A torch tensor's values as a NumPy array (bfloat16 as float32: NumPy has no bfloat16 of its own)."""
    return t.float().numpy() if str(t.dtype) == "torch.bfloat16" else t.numpy()


def _check(result, ref, dtype):
    """Does an alternative's loss (and grad) agree with ours?  None when it returns no values."""
    if result is None or isinstance(result, list) or (not isinstance(result, tuple) and np.ndim(result) == 0):
        return True  # floors: no values to compare
    # half: the alternatives round their loss (torch, JAX) or not (NumPy's float32 copy), and the gradients
    # are rounded to the half type: a few of its ulps (bfloat16's is 2**-8 relative)
    rtol, atol = {8: (1e-9, 1e-12), 4: (2e-4, 2e-5)}.get(dtype.itemsize, (2e-2, 2e-3))

    def close(a, b):
        return np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=rtol, atol=atol)

    if isinstance(result, tuple):
        return all(close(a, b) for a, b in zip(result, ref, strict=False))
    return bool(close(result, ref[0]))


# --------------------------------------------------------------------------------------------------
# the driver


def header(alts_versions, file=sys.stdout):
    import crossentropy as ce

    aff = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = _mem_total_gb()
    print("crossentropy comparison benchmark", file=file)
    print(
        f"    machine: {_cpu_model()}; {os.cpu_count()} CPUs ({aff} usable)"
        + (f"; {mem:.0f} GiB RAM" if mem else "")
        + f"; {platform.system()} {platform.machine()}",
        file=file,
    )
    vers = [
        f"python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"crossentropy {getattr(ce, '__version__', '?')} ({os.path.dirname(ce.__file__)})",
    ]
    vers += [f"{k} {v}" for k, v in alts_versions.items()]
    print("    " + "; ".join(vers), file=file)
    for line in _show_config_text(ce).splitlines():
        print("    " + line, file=file)
    print("    " + NOTE, file=file)
    print(
        "    NumPy rows are single-threaded and measured once per shape; JAX's CPU thread pool "
        "uses all cores whatever the column says (not settable at runtime).",
        file=file,
    )


def _show_config_text(ce):
    import io

    buf = io.StringIO()
    try:
        ce.show_config(file=buf)
    except TypeError:
        import contextlib

        with contextlib.redirect_stdout(buf):
            ce.show_config()
    return buf.getvalue().rstrip()


def _print_table(title, columns, rows, markdown, file):
    """columns: list of (line1, line2); rows: list of (label, [cells])."""
    print(file=file)
    if markdown:
        print(f"**{title}**", file=file)
        print(file=file)
        print("| | " + " | ".join(f"{a} {b}" for a, b in columns) + " |", file=file)
        print("|---|" + "---:|" * len(columns), file=file)
        for label, cells in rows:
            print(f"| {label.strip()} | " + " | ".join(cells) + " |", file=file)
        return
    lw = max(len(label) for label, _ in rows + [("", [])]) + 2
    cw = max(
        [12]
        + [len(a) + 2 for a, _ in columns]
        + [len(b) + 2 for _, b in columns]
        + [len(x) + 2 for _, cells in rows for x in cells]
    )
    print(title, file=file)
    for k in (0, 1):
        print(" " * lw + "".join(col[k].rjust(cw) for col in columns), file=file)
    for label, cells in rows:
        print(label.ljust(lw) + "".join(x.rjust(cw) for x in cells), file=file)


def run(
    shapes=None,
    threads=None,
    repeat=5,
    dtypes=("float32",),
    quick=False,
    markdown=False,
    skip=(),
    min_time=None,
    max_mb=2048,
    file=sys.stdout,
):
    """Measure and print the comparison tables; return a list of result records (dicts).

    shapes: list of (N, C) or "NxC" strings (default: the issue's shapes, or small ones if quick);
    threads: list of thread counts (default: 1 and os.cpu_count()); dtypes: float32, float64, float16,
    bfloat16 names (bfloat16 needs ml_dtypes);
    skip: any of "sklearn", "torch", "jax"; max_mb: skip a (shape, dtype) whose logits
    exceed this many MB.
    """
    import crossentropy as ce

    shapes = _parse_shapes(shapes or (QUICK_SHAPES if quick else DEFAULT_SHAPES))
    threads = list(dict.fromkeys(int(t) for t in (threads or [1, os.cpu_count() or 1])))
    dtypes = [_dtype(d) for d in dtypes]
    min_time = min_time if min_time is not None else (0.005 if quick else 0.02)
    alts, versions = _load_alternatives(skip)
    header(versions, file=file)
    torch = alts.get("torch")
    old_ce_threads = ce.get_num_threads()
    old_torch_threads = torch.get_num_threads() if torch is not None else None

    records = []
    configs = []
    for dtype in dtypes:
        for n, c in shapes:
            mb = n * c * dtype.itemsize / 2**20
            if mb > max_mb:
                print(f"# skipped {n}x{c} {dtype.name}: {mb:.0f} MB > max_mb={max_mb}", file=file)
                continue
            configs.append(((n, c), dtype))

    # results[(shape, dtype)][(case, label, threads)] = (time, ok)
    results = {}
    labels = {"forward": [], "loss+grad": []}
    for (n, c), dtype in configs:
        rng = np.random.default_rng(0)
        x = _random_logits(rng, (n, c), dtype)
        y = rng.integers(0, c, n, dtype=np.int64)
        loss_dtype = np.float32 if _is_half(dtype) else dtype  # half logits: a float32 loss
        scratch = {"grad": np.zeros_like(x), "loss": np.zeros(n, dtype=loss_dtype)}
        scratch["copy_dst"] = scratch["grad"]  # shared preallocated N x C buffer
        if "jax" in alts:
            jnp = alts["jax"][0].numpy
            scratch["jax_x"], scratch["jax_y"] = jnp.asarray(x), jnp.asarray(y)
        res = results[((n, c), dtype.name)] = {}
        once = {}  # thread-independent timings
        refs = {}
        for t in threads:
            ce.set_num_threads(t)
            if torch is not None:
                torch.set_num_threads(t)
            floors = _Floors(t)
            try:
                timed = []  # (key, fn, threaded, ok): the calls this thread count measures, in turn
                for case, label, fn, threaded in _cases(ce, x, y, t, floors, alts, scratch):
                    key = (case, label.replace(f"({t} thr)", "(threaded)"))
                    if key[1] not in labels[case]:
                        labels[case].append(key[1])
                    if label == "ours" and case not in refs:
                        out = fn()
                        refs[case] = out if isinstance(out, tuple) else (out,)
                    if key in once:
                        res[key + (t,)] = once[key]
                        continue
                    ok = True
                    if case in refs and label != "ours":
                        try:
                            ok = _check(fn(), refs[case], dtype)
                        except Exception as exc:  # an alternative failing: report it
                            print(f"# {label} failed on {n}x{c}: {exc}", file=file)
                            ok = None
                    if ok is None:
                        res[key + (t,)] = (None, False)
                        continue
                    timed.append((key, fn, threaded, ok))
                times = bench_interleaved([fn for _, fn, _, _ in timed], repeat=repeat, min_time=min_time)
                for (key, _, threaded, ok), tm in zip(timed, times, strict=True):
                    if not threaded:
                        once[key] = (tm, ok)
                    res[key + (t,)] = (tm, ok)
            finally:
                floors.close()
        del x, y, scratch, refs
        gc.collect()

    ce.set_num_threads(old_ce_threads)
    if torch is not None:
        torch.set_num_threads(old_torch_threads)

    # tables: one per thread count, columns = (shape, dtype), rows = ours time then ratios
    columns = [(f"{n}x{c}", dt.name) for (n, c), dt in configs]
    keys = [((n, c), dt.name) for (n, c), dt in configs]
    titles = {
        "forward": "forward: sparse_softmax_cross_entropy (per-sample loss)",
        "loss+grad": "loss+grad: sparse_softmax_cross_entropy_and_grad (fused)",
    }
    for t in threads:
        for case in ("forward", "loss+grad"):
            rows = []
            ours = [results[k].get((case, "ours", t), (None, True))[0] for k in keys]
            rows.append(("ours (time)", [_fmt_time(v) for v in ours]))
            for label in labels[case]:
                if label == "ours":
                    continue
                cells = []
                for k, o in zip(keys, ours, strict=False):
                    tm, ok = results[k].get((case, label, t), (None, True))
                    ratio = tm / o if (tm is not None and o) else None
                    cells.append(_fmt_ratio(ratio, ok))
                    records.append(
                        dict(
                            shape=k[0],
                            dtype=k[1],
                            threads=t,
                            case=case,
                            name=label,
                            time=tm,
                            ours=o,
                            ratio=ratio,
                            ok=ok,
                        )
                    )
                rows.append(("  " + label.replace("(threaded)", f"({t} thr)"), cells))
            _print_table(f"threads = {t}   {titles[case]}", columns, rows, markdown, file)
    print(file=file)
    print(NOTE + ("  '!' = result disagrees with ours." if any(r["ok"] is False for r in records) else ""), file=file)
    return records


# --------------------------------------------------------------------------------------------------
# the figure

_STYLE = {  # label prefix -> (colour, line style, marker); unknown labels get defaults
    "ours": ("C0", "-", "o"),
    "ours, out= preallocated": ("C0", "--", "s"),
    "naive NumPy": ("C7", "-", "x"),
    "np.sum(x)": ("C8", ":", None),
    "read floor": ("k", ":", None),
    "copy floor": ("k", "-.", None),
    "sklearn": ("C2", "-", "^"),
    "torch": ("C3", "-", "v"),
    "JAX": ("C1", "-", "d"),
}


def _style(label):
    for prefix, st in _STYLE.items():
        if label == prefix or (prefix != "ours" and label.startswith(prefix)):
            return st
    return (None, "-", None)


def _series(records):
    """{(case, label): {(shape, dtype, threads): seconds}} with "ours" rebuilt from the ratio records."""
    out = {}
    for r in records:
        if r["time"] is not None:
            out.setdefault((r["case"], r["name"]), {})[(r["shape"], r["dtype"], r["threads"])] = r["time"]
        if r["ours"] is not None:
            out.setdefault((r["case"], "ours"), {})[(r["shape"], r["dtype"], r["threads"])] = r["ours"]
    return out


def plot(records, path, title=None):
    """Draw ``records`` (from :func:`run`) into ``path``; returns False (with a message) without matplotlib.

    Top row: nanoseconds per element against the thread count, for the first shape with at least 1000
    classes.  Bottom row: nanoseconds per element against the number of classes at one thread (the
    smallest thread count measured).  Left: forward; right: fused loss+grad.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            f"# --plot {path}: matplotlib is not installed (pip install matplotlib); no figure drawn", file=sys.stderr
        )
        return False
    series = _series(records)
    shapes = list(dict.fromkeys(r["shape"] for r in records))
    dtypes = list(dict.fromkeys(r["dtype"] for r in records))
    threads = sorted({r["threads"] for r in records})
    dtype = dtypes[0]
    wide = [s for s in shapes if s[1] >= 1000] or shapes
    tshape = wide[0]
    t1 = threads[0]
    byc = {}
    for sh in shapes:
        if sh[1] not in byc or sh[0] > byc[sh[1]][0]:
            byc[sh[1]] = sh
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), constrained_layout=True)
    for col, case in enumerate(("forward", "loss+grad")):
        # the call floor is per call, not per element: it has no place on these axes
        labels = [lab for (c, lab) in series if c == case and not lab.startswith("call floor")]
        for lab in labels:
            pts = series[(case, lab)]
            color, ls, mk = _style(lab)
            name = lab.replace("(threaded)", "").strip()
            # vs threads
            xs = [t for t in threads if (tshape, dtype, t) in pts]
            if xs:
                ys = [pts[(tshape, dtype, t)] / (tshape[0] * tshape[1]) * 1e9 for t in xs]
                axes[0, col].plot(xs, ys, ls, color=color, marker=mk, label=name)
            # vs classes: per class count the shape with the most rows (tiny calls measure call overhead)
            cs = sorted((s for s in byc.values() if (s, dtype, t1) in pts), key=lambda s: s[1])
            if cs:
                ys = [pts[(s, dtype, t1)] / (s[0] * s[1]) * 1e9 for s in cs]
                axes[1, col].plot([s[1] for s in cs], ys, ls, color=color, marker=mk, label=name)
        ttl = {"forward": "forward (per-sample loss)", "loss+grad": "fused loss + gradient"}[case]
        ax = axes[0, col]
        ax.set_title(f"{ttl}: {tshape[0]}x{tshape[1]} {dtype}")
        ax.set_xlabel("threads")
        ax.set_xticks(threads)
        ax = axes[1, col]
        ax.set_title(f"{ttl}: {t1} thread{'s' if t1 > 1 else ''}, {dtype}")
        ax.set_xlabel(
            "classes C (shapes: " + ", ".join(f"{n}x{c}" for n, c in sorted(byc.values(), key=lambda s: s[1])) + ")",
            fontsize=8,
        )
        ax.set_xscale("log")
        for ax in axes[:, col]:
            ax.set_yscale("log")
            ax.set_ylabel("ns per element (lower is faster)")
            ax.grid(True, which="both", alpha=0.3)
    for ax in axes[0]:
        ax.legend(fontsize=7, ncol=2)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    fig.suptitle(title or f"crossentropy vs alternatives ({_cpu_model()}, {cores} cores)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"# figure written to {path}", file=sys.stderr)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--shapes", help="comma list of NxC (default: the issue's shapes)")
    p.add_argument("--threads", help="comma list of thread counts (default: 1,os.cpu_count())")
    p.add_argument("--dtypes", default="float32", help="comma list: float32,float64,float16,bfloat16 (default float32)")
    p.add_argument("--repeat", type=int, default=None, help="samples per measurement (best of; default 5, quick 3)")
    p.add_argument("--min-time", type=float, default=None, help="seconds per sample (default 0.02, quick 0.005)")
    p.add_argument("--quick", action="store_true", help="small shapes, fewer repeats")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables")
    p.add_argument("--skip", default="", help="comma list of alternatives to skip: sklearn,torch,jax")
    p.add_argument("--max-mb", type=float, default=2048, help="skip inputs larger than this (MB)")
    p.add_argument("--plot", metavar="FILE.png", help="also draw time vs threads and vs classes (needs matplotlib)")
    a = p.parse_args(argv)
    records = run(
        shapes=_parse_list(a.shapes) if a.shapes else None,
        threads=_parse_list(a.threads, int) if a.threads else None,
        repeat=a.repeat if a.repeat is not None else (3 if a.quick else 5),
        dtypes=_parse_list(a.dtypes),
        quick=a.quick,
        markdown=a.markdown,
        skip=set(_parse_list(a.skip)),
        min_time=a.min_time,
        max_mb=a.max_mb,
    )
    if a.plot:
        plot(records, a.plot)


if __name__ == "__main__":
    main()
