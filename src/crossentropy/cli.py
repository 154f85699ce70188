"""The ``crossentropy`` command line: ``demo``, ``eval`` and ``info``.

``crossentropy demo``   recomputes the numbers of the three seed documents (why Keras, tf.nn, PyTorch and the
                        plain formula disagree) with crossentropy's own functions, then times a synthetic batch.
``crossentropy eval``   evaluates a loss over .npy/.npz files of any size: inputs are memory-mapped and walked in
                        bounded chunks of rows, so memory stays flat however large the files are.
``crossentropy info``   prints the build and thread configuration.

Errors in the input (a missing file, mismatched shapes, a label out of range, a bad option) end the program
with one line on stderr and a non-zero exit status, never a traceback (set CROSSENTROPY_TRACEBACK=1 to see one).
Exit status: 0 success, 1 bad input or failed computation, 2 bad command line, 130 interrupted.
"""
import argparse
import json
import math
import mmap
import os
import re
import sys
import time
import warnings
import zipfile

import numpy as np

PROG = "crossentropy"
LOSSES = ("categorical", "sparse_categorical", "binary", "categorical_focal", "binary_focal")
SEMANTICS = ("keras", "torch", "tf")
DEFAULT_CHUNK_BYTES = 64 << 20      # bytes of PRED per chunk when --chunk-rows is not given


class CLIError(Exception):
    """A problem with the user's input or options: printed as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus the exit status 2), not the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------------------
def main(argv=None):
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:          # e.g. `crossentropy demo | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as exc:         # noqa: BLE001 - every failure becomes one line
        if os.environ.get("CROSSENTROPY_TRACEBACK"):
            raise
        print(f"{PROG} {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc):
    text = " ".join(str(exc).split()) if str(exc) else ""
    if isinstance(exc, CLIError):
        return text
    if isinstance(exc, MemoryError):
        return "out of memory" + (f" ({text})" if text else "") + "; try a smaller --chunk-rows"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _build_parser():
    p = _Parser(prog=PROG, description="Fast, faithful cross-entropy losses: demo, evaluation of large "
                "arrays on disk, and build information.")
    from crossentropy import __version__
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{demo,eval,info}", parser_class=_Parser)

    d = sub.add_parser("demo", help="reproduce the seed documents' numbers, then time a synthetic batch",
                       description="Recompute the numbers of the seed documents (Keras vs tf.nn vs PyTorch vs "
                       "the plain formula), explain each difference, then time a synthetic batch.")
    d.add_argument("--rows", type=int, default=16384, metavar="N", help="rows of the synthetic batch (default 16384)")
    d.add_argument("--classes", type=int, default=1000, metavar="C", help="classes of the synthetic batch (default 1000)")
    d.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    d.add_argument("--repeat", type=int, default=3, metavar="N", help="timed repetitions, best is reported (default 3)")
    d.add_argument("--threads", type=int, default=None, metavar="N", help="kernel threads (default: OpenMP's choice)")
    d.add_argument("--no-bench", action="store_true", help="skip the throughput part")
    d.set_defaults(func=cmd_demo)

    e = sub.add_parser("eval", help="evaluate a loss over PRED and TARGET arrays (.npy or .npz)",
                       description="Evaluate a loss over memory-mapped .npy/.npz arrays in bounded chunks of "
                       "rows; print the mean loss and the sample count, optionally write per-sample losses.")
    e.add_argument("pred", metavar="PRED", help="predictions: probabilities, or logits with --from-logits")
    e.add_argument("target", metavar="TARGET", help="targets: one-hot/probabilities (same shape as PRED), "
                   "class indices for sparse_categorical, 0/1 (or soft) labels for binary losses")
    e.add_argument("--loss", choices=LOSSES, required=True)
    e.add_argument("--semantics", choices=SEMANTICS, default="keras",
                   help="whose definition to follow (default keras); tf.nn and torch's categorical losses "
                   "take logits (--from-logits)")
    e.add_argument("--from-logits", action="store_true", help="PRED holds logits, not probabilities")
    e.add_argument("--axis", type=int, default=None, metavar="N",
                   help="class axis of PRED (default -1; 1 for torch categorical/sparse_categorical)")
    e.add_argument("--label-smoothing", type=float, default=0.0, metavar="X",
                   help="keras categorical/binary/focal, torch categorical/sparse_categorical (default 0)")
    e.add_argument("--ignore-class", type=int, default=None, metavar="K",
                   help="sparse_categorical: label value that is ignored (keras ignore_class, torch "
                   "ignore_index; torch's default -100 applies under --semantics torch)")
    e.add_argument("--alpha", type=float, default=0.25, metavar="X", help="focal losses: alpha (default 0.25)")
    e.add_argument("--gamma", type=float, default=2.0, metavar="X", help="focal losses: gamma (default 2.0)")
    e.add_argument("--class-balancing", action="store_true", help="binary_focal: apply_class_balancing=True")
    e.add_argument("--pred-key", default=None, metavar="NAME", help="array name inside a PRED .npz")
    e.add_argument("--target-key", default=None, metavar="NAME", help="array name inside a TARGET .npz")
    e.add_argument("--per-sample", metavar="OUT.npy", default=None,
                   help="write the per-sample losses to this .npy file (memory-mapped, written chunk by chunk)")
    e.add_argument("--threads", type=int, default=None, metavar="N",
                   help="kernel threads (crossentropy.set_num_threads)")
    e.add_argument("--chunk-rows", type=int, default=None, metavar="N",
                   help=f"rows per chunk (default: about {DEFAULT_CHUNK_BYTES >> 20} MiB of PRED)")
    e.add_argument("--json", action="store_true", help="print the result as one JSON object")
    e.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress bar on stderr (auto: only when stderr is a terminal)")
    e.set_defaults(func=cmd_eval)

    i = sub.add_parser("info", help="build and thread configuration",
                       description="Print the build and thread configuration (OpenMP, SIMD paths, threads).")
    i.add_argument("--json", action="store_true", help="print crossentropy._config.build_info() as JSON")
    i.add_argument("--threads", type=int, default=None, metavar="N", help="report as if set_num_threads(N) had been called")
    i.set_defaults(func=cmd_info)
    return p


def _set_threads(n):
    if n is None:
        return
    if n < 1:
        raise CLIError(f"--threads must be >= 1, got {n}")
    import crossentropy
    crossentropy.set_num_threads(n)


# ---------------------------------------------------------------------------------------------------------
# info
# ---------------------------------------------------------------------------------------------------------
def cmd_info(args):
    _set_threads(args.threads)
    import crossentropy
    from crossentropy._config import build_info, show_config
    if args.json:
        info = dict(build_info())
        info["version"] = crossentropy.__version__
        print(json.dumps(info, indent=2, sort_keys=True, default=str))
    else:
        print(f"crossentropy {crossentropy.__version__} ({os.path.dirname(crossentropy.__file__)})")
        show_config()
    return 0


# ---------------------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------------------
def _num(v):
    """A number as the seed documents print it: float32 by its shortest repr, float64 to 8 digits."""
    v = np.asarray(v)
    if v.ndim:
        if v.dtype == np.float32:
            return "[" + " ".join(str(x) for x in v.ravel()) + "]"
        return np.array2string(v.ravel(), precision=8, separator=" ")
    if v.dtype == np.float32:
        return str(v[()])
    return f"{float(v):.8g}"


def cmd_demo(args):
    for name in ("rows", "classes", "repeat"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name} must be >= 1, got {getattr(args, name)}")
    _set_threads(args.threads)
    import crossentropy as ce
    from crossentropy import keras as K, tf as TF, torch as T

    def w(s=""):
        print(s, file=sys.stdout)

    def row(what, seed, ours, note=""):
        w(f"    {what:56s} {ours:>14s}   seed: {seed}" + (f"   {note}" if note else ""))

    def why(text):
        w(f"    why: {text}")

    def warned(caught):
        seen = set()
        for wm in caught:
            msg = _first_sentence(str(wm.message))
            if issubclass(wm.category, ce.ProbabilityWarning) and msg not in seen:
                seen.add(msg)
                w(f"    (crossentropy warns: ProbabilityWarning: {msg})")
        caught.clear()

    f32 = np.float32
    w("crossentropy demo: the seed documents' numbers, recomputed with crossentropy")
    w("=" * 100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ce.ProbabilityWarning)

        # --- seed 000: Keras rescales rows that do not sum to 1 ---------------------------------------
        y_true = np.array([[1., 0., 0.], [0., 1., 0.], [0., 0., 1.]])
        y_pred = np.array([[.9, .05, .05], [.5, .89, .6], [.05, .01, .94]])
        plain = np.sum(-y_true * np.log(y_pred), axis=1)
        keras_rows = K.categorical_crossentropy(y_true, y_pred)
        keras_mean = K.CategoricalCrossentropy()(y_true, y_pred)
        w("[1] seed 000: tf.keras CategoricalCrossentropy gives a different value than the plain formula")
        w("    y_true = eye(3), y_pred = [[.9 .05 .05] [.5 .89 .6] [.05 .01 .94]]  (row 2 sums to 1.99)")
        w(f"    plain -sum(y_true*log(y_pred), axis=1)     {_num(plain)}   seed: [0.10536052 0.11653382 0.0618754 ]")
        row("plain: sum over the batch", "0.2837697356318653", _num(plain.sum()))
        row("plain: mean over the batch", "0.09458991187728844", _num(plain.mean()))
        w(f"    keras categorical_crossentropy (per sample) {_num(keras_rows)}   seed: [0.10536052 0.80466845 0.0618754 ]")
        row("keras CategoricalCrossentropy()(y_true, y_pred)", "0.3239681124687195", _num(keras_mean),
            f"(float32; float64 mean {_num(np.mean(keras_rows))})")
        why(f"Keras divides each probability row by its sum: [.5 .89 .6] -> "
            f"{_num(y_pred[1] / y_pred[1].sum())}, so row 2 costs -log 0.4472 = {_num(keras_rows[1])}, "
            f"not -log 0.89 (the class then averages in float32: last digit is rounding).")
        warned(caught)

        # --- seed 000: clipping ------------------------------------------------------------------------
        y_true2 = np.array([[0., 1.]])
        y_pred2 = np.array([[0.99999999999, 0.00000000001]])
        plain2 = np.sum(-y_true2 * np.log(y_pred2), axis=1)
        keras2 = K.categorical_crossentropy(y_true2, y_pred2)
        w()
        w("[2] seed 000: y_true = [[0 1]], y_pred = [[0.99999999999 1e-11]]")
        row("plain -sum(y_true*log(y_pred))", "25.32843602", _num(plain2[0]))
        row("keras categorical_crossentropy", "16.11809565", _num(keras2[0]))
        why(f"Keras clips probabilities to [1e-7, 1 - 1e-7]: -log(1e-11) = {plain2[0]:.3f} becomes "
            f"-log(1e-7) = {-math.log(1e-7):.3f}.")
        warned(caught)

        # --- seed 002: tf.nn takes logits, Keras takes probabilities -----------------------------------
        soft = TF.softmax_cross_entropy_with_logits(labels=np.array([1, 2], f32), logits=np.array([1, 2], f32))
        kcat = K.categorical_crossentropy(np.array([1, 2], f32), np.array([1, 2], f32))
        kcat_caught = list(caught)
        caught.clear()
        sparse = TF.sparse_softmax_cross_entropy_with_logits(labels=np.array(1, np.int32),
                                                              logits=np.array([1, 2], f32))
        sparse64 = TF.sparse_softmax_cross_entropy_with_logits(labels=np.array(1), logits=np.array([1., 2.]))
        ksparse = K.sparse_categorical_crossentropy(np.array([1]), np.array([[.2, .2, .6]], f32))
        sig = TF.sigmoid_cross_entropy_with_logits(labels=np.array([1], f32), logits=np.array([1], f32))
        kbin = K.binary_crossentropy(np.array([1], f32), np.array([1], f32))
        p = np.clip(f32(1), f32(1e-7), f32(1) - f32(1e-7))
        logit = np.log(p / (f32(1) - p))
        old_keras = ce.sigmoid_cross_entropy(logit, f32(1))       # seed 002's Keras 2 route
        w()
        w("[3] seed 002: tf.nn functions take logits, Keras losses take probabilities (float32)")
        row("tf.nn.softmax_cross_entropy_with_logits([1,2], [1,2])", "1.939785", _num(soft))
        why("softmax([1,2]) = [0.2689 0.7311], labels need not sum to 1: -(1*log 0.2689 + 2*log 0.7311).")
        row("keras categorical_crossentropy([1,2], [1,2])", "1.9095424", _num(kcat))
        why("Keras reads [1,2] as probabilities and rescales them to [1/3, 2/3]: -(log(1/3) + 2*log(2/3)).")
        caught.extend(kcat_caught)
        warned(caught)
        row("tf.nn.sparse_softmax_cross_entropy_with_logits(1, [1,2])", "0.31326166", _num(sparse),
            f"(float64 {_num(sparse64)})")
        why("only the labelled class counts: -log softmax([1,2])[1] = log(1 + e^-1) = 0.3132616875; TF's "
            "float32 log(1 + exp(-1)) lands one ulp low, crossentropy's log1p is correctly rounded.")
        row("keras sparse_categorical_crossentropy(1, [0.2 0.2 0.6])", "1.609438", _num(ksparse))
        why("the row is already a probability vector: -log 0.2.")
        row("tf.nn.sigmoid_cross_entropy_with_logits([1], [1])", "0.3132617", _num(sig))
        why("1 is a logit, p = sigmoid(1) = 0.731: labels == logits is not a perfect prediction, "
            "max(x,0) - x*z + log(1 + e^-|x|) = log(1 + e^-1).")
        row("keras binary_crossentropy([1], [1]), the seed's route", "1.1920933e-07", _num(old_keras),
            f"(clip to 1-1e-7, logit {_num(logit)}, sigmoid_cross_entropy)")
        row("keras binary_crossentropy([1], [1]), Keras 3", "-", _num(kbin), "(clip to 1-1e-7, log)")
        why("1 is a probability, clipped to 1 - 1e-7, so the loss is -log(1 - 1e-7) ~ 1.19e-07, not 0; the "
            "last digits are float32 rounding of the route taken.")
        warned(caught)

    # --- seed 001: the gradient is y_hat - y -------------------------------------------------------------
    rng = np.random.default_rng(1234)
    x = rng.random((4, 7))                      # like torch.rand(4, 7): 4 samples, 7 classes
    y = np.array([1, 3, 5, 0])
    loss, grad = T.cross_entropy(x, y, return_grad=True)
    onehot = np.eye(7)[y]
    manual = -(np.log(ce.softmax(x)) * onehot).sum() / 4
    expected = (ce.softmax(x) - onehot) / 4
    _, row_grad = ce.sparse_softmax_cross_entropy_and_grad(x, y)
    w()
    w("[4] seed 001: torch CrossEntropyLoss and its gradient; x = rand(4, 7), y = [1, 3, 5, 0]")
    row("crossentropy.torch.cross_entropy(x, y)", "-", _num(loss))
    row("manual -(log(softmax(x)) * onehot).sum() / 4", "-", _num(manual))
    row("max |grad - (softmax(x) - onehot) / 4|", "-", f"{np.max(np.abs(grad - expected)):.1e}")
    row("max |sparse_..._and_grad(x, y)[1] - (softmax - onehot)|", "-",
        f"{np.max(np.abs(row_grad - (ce.softmax(x) - onehot))):.1e}")
    why("gradient = y_hat - y: d(-log softmax(x)[y])/dx = softmax(x) - onehot(y) (the softmax Jacobian "
        "cancels the 1/y_hat of the log); CrossEntropyLoss's mean adds the 1/N.")

    if not args.no_bench:
        w()
        _demo_bench(args, w)
    return 0


def _first_sentence(msg):
    return msg.split(";")[0].strip()


def _best_time(fn, repeat):
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _demo_bench(args, w):
    import crossentropy as ce
    n, c, dt = args.rows, args.classes, np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c), dtype=dt)
    labels = rng.integers(0, c, n)
    loss = np.empty(n, dt)
    grad = np.empty_like(x)
    nbytes = x.nbytes
    w(f"[5] synthetic batch: {n} x {c} {dt.name} logits ({nbytes / 2**20:.0f} MiB), "
      f"{ce.get_num_threads()} thread(s), best of {args.repeat}")

    def numpy_ref():
        m = x.max(axis=1, keepdims=True)
        lse = np.log(np.exp(x - m).sum(axis=1)) + m[:, 0]
        return lse - x[np.arange(n), labels]

    rows = [
        ("sparse_softmax_cross_entropy", lambda: ce.sparse_softmax_cross_entropy(x, labels, out=loss)),
        ("sparse_softmax_cross_entropy_and_grad",
         lambda: ce.sparse_softmax_cross_entropy_and_grad(x, labels, out=(loss, grad))),
        ("plain NumPy (max, exp, sum, log, gather)", numpy_ref),
    ]
    times = {}
    for name, fn in rows:
        fn()                                  # warm up (page faults, thread team)
        t = _best_time(fn, args.repeat)
        times[name] = t
        w(f"    {name:42s} {t * 1e3:8.2f} ms  {n / t / 1e6:8.2f} M rows/s  {nbytes / t / 1e9:6.2f} GB/s")
    ref = float(np.max(np.abs(ce.sparse_softmax_cross_entropy(x, labels) - numpy_ref())))
    w(f"    loss is {times[rows[2][0]] / times[rows[0][0]]:.1f}x plain NumPy; max |difference| {ref:.1e}")


# ---------------------------------------------------------------------------------------------------------
# eval: array sources
# ---------------------------------------------------------------------------------------------------------
class _MemmapSource:
    """A memory-mapped array.  ``release`` drops the pages of rows already used from this process
    (madvise DONTNEED: the data stays in the page cache), so resident memory stays flat."""

    def __init__(self, arr, label):
        self.arr, self.label = arr, label
        self.shape, self.dtype = arr.shape, arr.dtype

    def view(self, fn):
        """Apply a view-making function (e.g. ``a[..., 0]``) to the array."""
        self.arr = fn(self.arr)
        self.shape = self.arr.shape

    def read(self, axis, start, stop):
        idx = [slice(None)] * self.arr.ndim
        idx[axis] = slice(start, stop)
        return self.arr[tuple(idx)]

    def whole(self):
        return self.arr

    def release(self, axis, start, stop):
        _drop_pages(self.arr, axis, start, stop)

    def close(self):
        self.arr = None


def _mmap_of(arr):
    """The mmap.mmap object behind a memmap or a view of one (None for an in-memory array)."""
    base = arr
    while base is not None and not isinstance(getattr(base, "_mmap", None), mmap.mmap):
        base = getattr(base, "base", None)
    return None if base is None else base._mmap


def _drop_pages(arr, axis, start, stop):
    """madvise(MADV_DONTNEED) the whole pages holding rows [start, stop) along ``axis`` (axis 0 and a
    C-contiguous row layout only; elsewhere a no-op)."""
    mm = _mmap_of(arr)
    if mm is None or axis != 0 or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    if stop <= start or arr.ndim == 0 or arr.strides[0] <= 0 or not arr.flags.c_contiguous:
        return                     # Fortran order: a block of rows is not a block of pages
    try:     # works for read-only maps too (ctypes.from_buffer needs a writable one)
        mm_addr = np.frombuffer(mm, np.uint8, count=1).__array_interface__["data"][0]
    except (TypeError, ValueError, BufferError):
        return
    data_addr = arr.__array_interface__["data"][0]
    lo = data_addr - mm_addr + start * arr.strides[0]
    hi = data_addr - mm_addr + stop * arr.strides[0]
    page = mmap.PAGESIZE
    lo = (lo // page) * page
    hi = (hi // page) * page
    if hi > lo and lo >= 0 and hi <= len(mm):
        try:
            mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        except (OSError, ValueError):
            pass


class _StreamSource:
    """A compressed .npz member, read sequentially block of rows by block of rows along axis 0 (any
    other access reads it whole)."""

    def __init__(self, zf, member, label):
        self.zf, self.label = zf, label
        self.f = zf.open(member)
        version = np.lib.format.read_magic(self.f)
        shape, fortran, dtype = _read_header(self.f, version)
        if dtype.hasobject:
            raise CLIError(f"{label} holds Python objects (dtype {dtype}); only numeric arrays are read")
        self.raw_shape = self.shape = tuple(shape)
        self.dtype = dtype
        self.pos = 0
        self._post = []
        self._whole = None
        if fortran and len(shape) > 1:     # not streamable by rows: read it whole
            self._whole = self._read_all(order="F")

    def view(self, fn):
        self._post.append(fn)
        self.shape = fn(np.broadcast_to(np.zeros((), self.dtype), self.shape)).shape

    def _apply(self, a):
        for fn in self._post:
            a = fn(a)
        return a

    def whole(self):
        if self._whole is None:
            self._whole = self._read_all()
        return self._apply(self._whole)

    def read(self, axis, start, stop):
        if self._whole is None and axis == 0 and start == self.pos:
            rows = stop - start
            nbytes = rows * math.prod(self.raw_shape[1:]) * self.dtype.itemsize
            buf = self.f.read(nbytes)
            if len(buf) != nbytes:
                raise CLIError(f"{self.label}: the data is truncated")
            self.pos = stop
            return self._apply(np.frombuffer(buf, self.dtype).reshape((rows,) + self.raw_shape[1:]))
        a = self.whole()
        idx = [slice(None)] * a.ndim
        idx[axis] = slice(start, stop)
        return a[tuple(idx)]

    def _read_all(self, order="C"):
        if self.pos:
            raise CLIError(f"{self.label}: cannot go back in a compressed member")
        nbytes = math.prod(self.raw_shape) * self.dtype.itemsize
        buf = self.f.read(nbytes)
        if len(buf) != nbytes:
            raise CLIError(f"{self.label}: the data is truncated")
        return np.frombuffer(buf, self.dtype).reshape(self.raw_shape, order=order)

    def release(self, axis, start, stop):
        pass

    def close(self):
        self.f.close()
        self.zf.close()


def _read_header(f, version):
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    return np.lib.format._read_array_header(f, version)   # 3.0 (utf-8 field names)


def _open_source(path, key, role, key_option):
    """Open ``path`` (.npy: memory-mapped; .npz: the member ``key`` or the only one) as a source."""
    label = f"{role} {path}"
    if not os.path.exists(path):
        raise CLIError(f"{role} file not found: {path}")
    if os.path.isdir(path):
        raise CLIError(f"{role} is a directory, not a .npy/.npz file: {path}")
    if zipfile.is_zipfile(path):
        return _open_npz(path, key, role, key_option)
    if key is not None:
        raise CLIError(f"{key_option} applies to .npz files only, but {role} {path} is not one")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":
        raise CLIError(f"{role} {path} is not a .npy or .npz file (no NumPy header)")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise CLIError(f"cannot read {role} {path} as a .npy file: {_one_line(exc)}") from None
    if not isinstance(arr, np.ndarray):
        raise CLIError(f"cannot read {role} {path} as a .npy file")
    if arr.dtype.hasobject or arr.dtype.fields is not None:
        raise CLIError(f"{role} {path} has dtype {arr.dtype}; only plain numeric arrays are supported")
    if not isinstance(arr, np.memmap):        # 0-size arrays are not mapped
        arr = np.asarray(arr)
    return _MemmapSource(arr, label)


def _open_npz(path, key, role, key_option):
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CLIError(f"cannot read {role} {path} as a .npz file: {exc}") from None
    names = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
    if key is None:
        if len(names) != 1:
            zf.close()
            listing = ", ".join(names) if names else "none"
            raise CLIError(f"{role} {path} holds {len(names)} arrays ({listing}); choose one with {key_option}")
        key = names[0]
    elif key not in names:
        zf.close()
        raise CLIError(f"{role} {path} has no array {key!r} (it has: {', '.join(names) or 'none'})")
    member = zf.getinfo(key + ".npy")
    label = f"{role} {path}[{key}]"
    if member.compress_type == zipfile.ZIP_STORED:
        arr = _map_stored_member(path, member)
        if arr is not None:
            zf.close()
            if arr.dtype.hasobject:
                raise CLIError(f"{label} has dtype {arr.dtype}; only plain numeric arrays are supported")
            return _MemmapSource(arr, label)
    return _StreamSource(zf, member, label)


def _map_stored_member(path, member):
    """Memory-map an uncompressed (np.savez) .npz member in place; None if its layout is unexpected."""
    try:
        with open(path, "rb") as f:
            f.seek(member.header_offset)
            local = f.read(30)
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                return None
            name_len = int.from_bytes(local[26:28], "little")
            extra_len = int.from_bytes(local[28:30], "little")
            f.seek(member.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(f)
            shape, fortran, dtype = _read_header(f, version)
            offset = f.tell()
        if dtype.hasobject:
            return np.empty(0, dtype)
        if math.prod(shape) == 0:
            return np.empty(shape, dtype, order="F" if fortran else "C")
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                         order="F" if fortran else "C")
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------------------
# eval: the plan (shapes, axes, semantics) and the per-chunk computation
# ---------------------------------------------------------------------------------------------------------
_ONLY_KERAS = ("categorical_focal", "binary_focal")


class _Plan:
    pass


def _make_plan(args, pred, target):
    """Check options and shapes; decide the class axis, the chunk axis and the per-sample output shape."""
    loss, sem = args.loss, args.semantics
    plan = _Plan()
    plan.loss, plan.sem = loss, sem
    binary = loss in ("binary", "binary_focal")
    sparse = loss == "sparse_categorical"

    # ---- options that do not fit the loss / semantics
    if loss in _ONLY_KERAS and sem != "keras":
        raise CLIError(f"--loss {loss} is defined by Keras only: use --semantics keras")
    if sem in ("torch", "tf") and not args.from_logits and not (sem == "torch" and binary):
        raise CLIError(f"--semantics {sem} --loss {loss} takes logits: pass --from-logits "
                       "(or use --semantics keras for probabilities)")
    if args.ignore_class is not None and not sparse:
        raise CLIError("--ignore-class applies to --loss sparse_categorical only")
    if args.ignore_class is not None and sem == "tf":
        raise CLIError("--ignore-class is not part of tf.nn semantics: use --semantics keras or torch")
    if args.label_smoothing and sem == "tf":
        raise CLIError("--label-smoothing is not part of tf.nn semantics: use --semantics keras or torch")
    if args.label_smoothing and sem == "torch" and binary:
        raise CLIError("--label-smoothing is not an argument of torch's binary cross-entropy")
    if args.label_smoothing and sparse and sem == "keras":
        raise CLIError("--label-smoothing is not an argument of keras sparse_categorical_crossentropy")
    if not 0.0 <= args.label_smoothing <= 1.0:
        raise CLIError(f"--label-smoothing must lie in [0, 1], got {args.label_smoothing}")
    if args.chunk_rows is not None and args.chunk_rows < 1:
        raise CLIError(f"--chunk-rows must be >= 1, got {args.chunk_rows}")
    if (args.alpha != 0.25 or args.gamma != 2.0) and loss not in _ONLY_KERAS:
        raise CLIError("--alpha/--gamma apply to the focal losses only")
    if args.class_balancing and loss != "binary_focal":
        raise CLIError("--class-balancing applies to --loss binary_focal only")

    for src, role in ((pred, "PRED"), (target, "TARGET")):
        if src.dtype.kind not in "biuf":
            raise CLIError(f"{src.label} has dtype {src.dtype}; expected numbers")

    # ---- a 1-D binary input is N samples with one output each
    plan.squeeze_pred = False
    if binary and len(pred.shape) == 1:
        if tuple(target.shape) != tuple(pred.shape):
            raise CLIError(f"shape mismatch: PRED {tuple(pred.shape)} vs TARGET {tuple(target.shape)}; "
                           f"--loss {loss} needs equal shapes")
        pred.view(lambda a: a[:, np.newaxis])
        target.view(lambda a: a[:, np.newaxis])
        plan.squeeze_pred = True
    ndim = len(pred.shape)
    if ndim == 0:
        raise CLIError(f"{pred.label} is a scalar; PRED needs a class axis")

    # ---- class axis
    if args.axis is None:
        axis = 1 if (sem == "torch" and not binary and ndim >= 2) else -1
    else:
        axis = args.axis
    if not -ndim <= axis < ndim:
        raise CLIError(f"--axis {axis} is out of range for PRED with shape {tuple(pred.shape)}")
    axis %= ndim
    plan.axis = axis
    n_classes = pred.shape[axis]
    plan.n_classes = n_classes

    # ---- target shape
    sample_shape = tuple(s for k, s in enumerate(pred.shape) if k != axis)
    if sparse:
        if tuple(target.shape) == sample_shape + (1,) and axis == ndim - 1:
            target.view(lambda a: a[..., 0])           # Keras-style (N, 1) labels
        if tuple(target.shape) != sample_shape:
            raise CLIError(f"shape mismatch: PRED {tuple(pred.shape)} with class axis {axis} needs TARGET "
                           f"labels of shape {sample_shape}, got {tuple(target.shape)}")
        if target.dtype.kind not in "biuf":
            raise CLIError(f"{target.label} must hold integer class labels, got dtype {target.dtype}")
        if n_classes == 0:
            raise CLIError(f"{pred.label} has 0 classes along axis {axis}")
    else:
        if tuple(target.shape) != tuple(pred.shape):
            raise CLIError(f"shape mismatch: PRED {tuple(pred.shape)} vs TARGET {tuple(target.shape)}; "
                           f"--loss {loss} needs equal shapes")
    plan.sample_shape = sample_shape

    # ---- chunk axis: the first axis that is not the class axis
    plan.chunk_axis = 0 if axis != 0 else (1 if ndim > 1 else None)
    if plan.chunk_axis is None:
        plan.n_rows, plan.row_elems = 1, int(math.prod(pred.shape))
    else:
        plan.n_rows = pred.shape[plan.chunk_axis]
        plan.row_elems = int(math.prod(pred.shape)) // max(plan.n_rows, 1)
    plan.t_chunk_axis = None if plan.chunk_axis is None else (
        plan.chunk_axis - 1 if sparse and axis < plan.chunk_axis else plan.chunk_axis)
    plan.out_chunk_axis = None if plan.chunk_axis is None else (
        plan.chunk_axis - 1 if axis < plan.chunk_axis else plan.chunk_axis)
    if args.chunk_rows is not None:
        plan.chunk_rows = args.chunk_rows
    else:
        row_bytes = max(1, plan.row_elems * pred.dtype.itemsize)
        plan.chunk_rows = max(1, DEFAULT_CHUNK_BYTES // row_bytes)

    plan.ignore = args.ignore_class
    if sparse and sem == "torch" and plan.ignore is None:
        plan.ignore = -100                               # torch's default ignore_index
    native = pred.dtype.newbyteorder("=")   # a big-endian float32 file still gives float32 losses
    plan.out_dtype = native if native in (np.float32, np.float64) else np.dtype(np.float64)
    return plan


def _labels(t, plan, label, row0):
    """Integer labels of a chunk; raises CLIError for non-integers or labels outside [0, n_classes)."""
    if t.dtype.kind == "b":
        t = t.astype(np.int64)
    elif t.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(t) | (t != np.floor(t))
        if bad.any():
            pos = np.unravel_index(int(np.flatnonzero(bad)[0]), t.shape)
            raise CLIError(f"{label}: label {float(t[pos])!r} at index {_pos(pos, row0, plan.t_chunk_axis)} is not an "
                           "integer class index")
        t = t.astype(np.int64)
    elif t.dtype.kind in "iu" and (t.dtype not in (np.int32, np.int64) or not t.dtype.isnative):
        if t.dtype.kind == "u" and t.dtype.itemsize == 8:
            big = t > np.iinfo(np.int64).max
            if big.any():
                pos = np.unravel_index(int(np.flatnonzero(big)[0]), t.shape)
                raise CLIError(f"{label}: label {int(t[pos])} at index {_pos(pos, row0, plan.t_chunk_axis)} "
                               f"is outside the class range [0, {plan.n_classes})")
        t = t.astype(np.int64)
    bad = (t < 0) | (t >= plan.n_classes)
    if plan.ignore is not None:
        bad &= t != plan.ignore
    if bad.any():
        pos = np.unravel_index(int(np.flatnonzero(bad)[0]), t.shape)
        raise CLIError(f"{label}: label {int(t[pos])} at index {_pos(pos, row0, plan.t_chunk_axis)} is outside "
                       f"the class range [0, {plan.n_classes})"
                       + (f" and is not the ignored class {plan.ignore}" if plan.ignore is not None else ""))
    return t


def _pos(pos, row0, axis):
    pos = list(int(p) for p in pos)
    if axis is not None and pos:
        pos[axis] += row0
    return pos[0] if len(pos) == 1 else tuple(pos)


def _compute(plan, args, p, t):
    """Per-sample losses of one chunk (shape: p without the class axis) and the mask of counted samples."""
    loss, sem, axis = plan.loss, plan.sem, plan.axis
    fl, ls = args.from_logits, args.label_smoothing
    mask = None
    if loss == "sparse_categorical" and plan.ignore is not None:
        mask = t != plan.ignore
    if sem == "keras":
        from crossentropy import keras as K
        if loss == "categorical":
            out = K.categorical_crossentropy(t, p, from_logits=fl, label_smoothing=ls, axis=axis)
        elif loss == "sparse_categorical":
            out = K.sparse_categorical_crossentropy(t, p, from_logits=fl, ignore_class=plan.ignore, axis=axis)
        elif loss == "binary":
            out = K.binary_crossentropy(t, p, from_logits=fl, label_smoothing=ls, axis=axis)
        elif loss == "categorical_focal":
            out = K.categorical_focal_crossentropy(t, p, alpha=args.alpha, gamma=args.gamma, from_logits=fl,
                                                   label_smoothing=ls, axis=axis)
        else:
            out = K.binary_focal_crossentropy(t, p, apply_class_balancing=args.class_balancing,
                                              alpha=args.alpha, gamma=args.gamma, from_logits=fl,
                                              label_smoothing=ls, axis=axis)
    elif sem == "torch":
        from crossentropy import torch as T
        if loss == "binary":
            f = T.binary_cross_entropy_with_logits if fl else T.binary_cross_entropy
            out = np.mean(f(p, t, reduction="none"), axis=axis)
        else:
            p1 = np.moveaxis(p, axis, 1) if p.ndim >= 2 else p
            if loss == "categorical":
                t1 = np.moveaxis(t, axis, 1) if t.ndim >= 2 else t
                out = T.cross_entropy(p1, t1, reduction="none", label_smoothing=ls)
            else:
                out = T.cross_entropy(p1, t, ignore_index=plan.ignore, reduction="none", label_smoothing=ls)
    else:
        from crossentropy import tf as TF
        if loss == "categorical":
            out = TF.softmax_cross_entropy_with_logits(labels=t, logits=p, axis=axis)
        elif loss == "sparse_categorical":
            p1 = np.moveaxis(p, axis, -1)
            out = TF.sparse_softmax_cross_entropy_with_logits(labels=t, logits=p1)
        else:
            out = np.mean(TF.sigmoid_cross_entropy_with_logits(labels=t, logits=p), axis=axis)
    return np.asarray(out), mask


# ---------------------------------------------------------------------------------------------------------
# eval: progress, warnings, the loop
# ---------------------------------------------------------------------------------------------------------
class _Progress:
    def __init__(self, total, nbytes, enabled, stream=None):
        self.total, self.nbytes, self.enabled = total, nbytes, enabled
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.last = -1.0
        self.shown = False

    def update(self, done, final=False):
        if not self.enabled:
            return
        now = time.perf_counter()
        if not final and now - self.last < 0.1:
            return
        self.last = now
        frac = done / self.total if self.total else 1.0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        el = now - self.t0
        rate = frac * self.nbytes / el / 2**20 if el > 0 else 0.0
        eta = el * (1 - frac) / frac if frac > 0 else 0.0
        self.stream.write(f"\r[{bar}] {frac * 100:5.1f}% {done}/{self.total} rows "
                          f"{rate:8.1f} MiB/s ETA {eta:5.1f} s ")
        self.stream.flush()
        self.shown = True

    def close(self):
        if self.enabled and self.shown:
            self.stream.write("\n")
            self.stream.flush()


class _WarningTally:
    """Collect the warnings of every chunk; report each kind once with the row counts summed."""
    _counts = re.compile(r"(\d+) of (\d+) rows")

    def __init__(self):
        self.kinds = {}

    def add(self, records):
        for r in records:
            msg = str(r.message)
            key = (r.category.__name__, self._counts.sub("#", msg))
            m = self._counts.search(msg)
            k = self.kinds.setdefault(key, [msg, 0, 0, bool(m)])
            if m:
                k[1] += int(m.group(1))
                k[2] += int(m.group(2))

    def messages(self):
        out = []
        for (cat, _), (msg, bad, total, counted) in self.kinds.items():
            if counted:
                msg = self._counts.sub(f"{bad} of {total} rows", msg, count=1)
            out.append(f"{cat}: {msg}")
        return out


def cmd_eval(args):
    _set_threads(args.threads)
    t_start = time.perf_counter()
    pred = _open_source(args.pred, args.pred_key, "PRED", "--pred-key")
    target = _open_source(args.target, args.target_key, "TARGET", "--target-key")
    out_arr = None
    try:
        plan = _make_plan(args, pred, target)
        if args.per_sample:
            for src_path in (args.pred, args.target):
                if os.path.exists(args.per_sample) and os.path.samefile(args.per_sample, src_path):
                    raise CLIError(f"--per-sample {args.per_sample} would overwrite an input file")
            out_dir = os.path.dirname(os.path.abspath(args.per_sample))
            if not os.path.isdir(out_dir):
                raise CLIError(f"--per-sample: directory {out_dir} does not exist")
        show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
        progress = _Progress(plan.n_rows, int(math.prod(pred.shape)) * pred.dtype.itemsize, show)
        tally = _WarningTally()
        partial_sums = []
        count = 0
        n_chunks = 0
        out_shape = plan.sample_shape
        if args.per_sample:
            out_arr = _open_output(args.per_sample, plan.out_dtype, out_shape)
        chunks = ([(0, plan.n_rows)] if plan.chunk_axis is None else
                  [(s, min(s + plan.chunk_rows, plan.n_rows)) for s in range(0, plan.n_rows, plan.chunk_rows)])
        with np.errstate(all="ignore"):
            for start, stop in chunks:
                if plan.chunk_axis is None:
                    p, t = pred.whole(), target.whole()
                else:
                    p = pred.read(plan.chunk_axis, start, stop)
                    t = target.read(plan.t_chunk_axis, start, stop)
                p, t = _aligned(p), _aligned(t)       # an np.savez member can sit at any byte offset
                if plan.loss == "sparse_categorical":
                    t = _labels(t, plan, target.label, start)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    vals, mask = _compute(plan, args, p, t)
                tally.add(caught)
                vals = vals.reshape(_chunk_shape(out_shape, plan.out_chunk_axis, stop - start))
                if mask is not None:
                    partial_sums.append(float(np.sum(vals, where=mask, dtype=np.float64)))
                    count += int(np.count_nonzero(mask))
                else:
                    partial_sums.append(float(np.sum(vals, dtype=np.float64)))
                    count += int(vals.size)
                if out_arr is not None:
                    if plan.out_chunk_axis is None:
                        out_arr[...] = vals
                    else:
                        idx = [slice(None)] * out_arr.ndim
                        idx[plan.out_chunk_axis] = slice(start, stop)
                        out_arr[tuple(idx)] = vals
                        _drop_pages(out_arr, plan.out_chunk_axis, start, stop)
                if plan.chunk_axis is not None:
                    pred.release(plan.chunk_axis, start, stop)
                    target.release(plan.t_chunk_axis, start, stop)
                n_chunks += 1
                progress.update(stop)
        progress.update(plan.n_rows, final=True)
        progress.close()
        if out_arr is not None:
            out_arr.flush()
    finally:
        pred.close()
        target.close()
        if out_arr is not None:
            del out_arr
    total = math.fsum(partial_sums)
    mean = total / count if count else float("nan")
    seconds = time.perf_counter() - t_start
    warn_msgs = tally.messages()
    for m in warn_msgs:
        print(f"{PROG} eval: warning: {m}", file=sys.stderr)
    import crossentropy
    finite = lambda v: v if math.isfinite(v) else None   # noqa: E731 - JSON has no NaN/inf
    result = {
        "loss": plan.loss, "semantics": plan.sem, "from_logits": bool(args.from_logits),
        "mean": finite(mean), "sum": finite(total), "count": count, "finite": math.isfinite(mean),
        "samples": int(math.prod(plan.sample_shape)),
        "pred_shape": list(pred.shape[:1] if plan.squeeze_pred else pred.shape),
        "class_axis": plan.axis, "classes": plan.n_classes, "dtype": np.dtype(plan.out_dtype).name,
        "chunks": n_chunks, "chunk_rows": plan.chunk_rows, "threads": crossentropy.get_num_threads(),
        "seconds": round(seconds, 6), "per_sample": args.per_sample, "warnings": warn_msgs,
    }
    if args.json:
        print(json.dumps(result))
    else:
        how = "logits" if args.from_logits else "probabilities"
        print(f"loss        {plan.loss} ({plan.sem} semantics, {how}, {result['dtype']})")
        print(f"mean        {mean!r}")
        print(f"count       {count}" + (f" (of {result['samples']}; the rest ignored)"
                                        if count != result["samples"] else ""))
        print(f"chunks      {n_chunks} x <= {min(plan.chunk_rows, max(plan.n_rows, 1))} rows, {seconds:.3f} s, "
              f"{result['threads']} thread(s)")
        if args.per_sample:
            print(f"per-sample  {args.per_sample} {out_shape} {result['dtype']}")
    return 0


def _aligned(a):
    a = np.asarray(a)
    return a if a.flags.aligned else a.copy()


def _chunk_shape(shape, axis, rows):
    if axis is None:
        return shape
    s = list(shape)
    s[axis] = rows
    return tuple(s)


def _open_output(path, dtype, shape):
    try:
        if math.prod(shape) == 0:
            np.save(path, np.empty(shape, dtype))
            return None
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    except OSError as exc:
        raise CLIError(f"cannot write --per-sample {path}: {exc.strerror or exc}") from None


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
