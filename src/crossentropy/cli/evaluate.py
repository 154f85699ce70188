"""``crossentropy eval``: plan an evaluation (options, shapes, axes, chunks) and run it chunk by chunk.

The inputs come from :mod:`crossentropy.io` readers, so memory stays bounded by a few chunks of rows; each
chunk goes through one entry of :data:`EVALUATIONS`, keyed by (loss, semantics).
"""

import json
import math
import os
import sys
import time
import warnings

import numpy as np

from crossentropy._diagnostics import ProbabilityWarning
from crossentropy.cli.parser import DEFAULT_CHUNK_BYTES, PROG, CLIError, set_threads
from crossentropy.io import open_array
from crossentropy.io.numpy_files import drop_pages


class _Plan:
    """What an evaluation does: loss, semantics, class and chunk axes, shapes, ignored label, result dtype."""


def _make_plan(args, pred, target):
    """Check options and shapes; decide the class axis, the chunk axis and the per-sample output shape."""
    loss, sem = args.loss, args.semantics
    plan = _Plan()
    plan.loss, plan.sem = loss, sem
    binary = loss in ("binary", "binary_focal")
    sparse = loss == "sparse_categorical"

    # ---- options that do not fit the loss / semantics
    if (loss, sem) not in EVALUATIONS:
        defined = [s for (name, s) in EVALUATIONS if name == loss]
        raise CLIError(
            f"--loss {loss} is defined by {' and '.join(_SEMANTICS_NAMES[s] for s in defined)} only: "
            f"use --semantics {defined[0]}"
        )
    if sem in ("torch", "tf") and not args.from_logits and not (sem == "torch" and binary):
        raise CLIError(
            f"--semantics {sem} --loss {loss} takes logits: pass --from-logits "
            "(or use --semantics keras for probabilities)"
        )
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
    if (args.alpha != 0.25 or args.gamma != 2.0) and loss not in ("categorical_focal", "binary_focal"):
        raise CLIError("--alpha/--gamma apply to the focal losses only")
    if args.class_balancing and loss != "binary_focal":
        raise CLIError("--class-balancing applies to --loss binary_focal only")

    for src in (pred, target):
        if src.dtype.kind not in "biuf":
            raise CLIError(f"{src.label} has dtype {src.dtype}; expected numbers")

    # ---- a 1-D binary input is N samples with one output each
    plan.squeeze_pred = False
    if binary and len(pred.shape) == 1:
        if tuple(target.shape) != tuple(pred.shape):
            raise CLIError(
                f"shape mismatch: PRED {tuple(pred.shape)} vs TARGET {tuple(target.shape)}; "
                f"--loss {loss} needs equal shapes"
            )
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
            target.view(lambda a: a[..., 0])  # Keras-style (N, 1) labels
        if tuple(target.shape) != sample_shape:
            raise CLIError(
                f"shape mismatch: PRED {tuple(pred.shape)} with class axis {axis} needs TARGET "
                f"labels of shape {sample_shape}, got {tuple(target.shape)}"
            )
        if target.dtype.kind not in "biuf":
            raise CLIError(f"{target.label} must hold integer class labels, got dtype {target.dtype}")
        if n_classes == 0:
            raise CLIError(f"{pred.label} has 0 classes along axis {axis}")
    else:
        if tuple(target.shape) != tuple(pred.shape):
            raise CLIError(
                f"shape mismatch: PRED {tuple(pred.shape)} vs TARGET {tuple(target.shape)}; "
                f"--loss {loss} needs equal shapes"
            )
    plan.sample_shape = sample_shape

    # ---- chunk axis: the first axis that is not the class axis
    plan.chunk_axis = 0 if axis != 0 else (1 if ndim > 1 else None)
    if plan.chunk_axis is None:
        plan.n_rows, plan.row_elems = 1, int(math.prod(pred.shape))
    else:
        plan.n_rows = pred.shape[plan.chunk_axis]
        plan.row_elems = int(math.prod(pred.shape)) // max(plan.n_rows, 1)
    plan.t_chunk_axis = (
        None
        if plan.chunk_axis is None
        else (plan.chunk_axis - 1 if sparse and axis < plan.chunk_axis else plan.chunk_axis)
    )
    plan.out_chunk_axis = (
        None if plan.chunk_axis is None else (plan.chunk_axis - 1 if axis < plan.chunk_axis else plan.chunk_axis)
    )
    if args.chunk_rows is not None:
        plan.chunk_rows = args.chunk_rows
    else:
        row_bytes = max(1, plan.row_elems * pred.dtype.itemsize)
        plan.chunk_rows = max(1, DEFAULT_CHUNK_BYTES // row_bytes)
        batch_rows = getattr(pred, "batch_rows", None)  # a table's record batches: chunks that never straddle
        if plan.chunk_axis == 0 and batch_rows and batch_rows < plan.chunk_rows:
            plan.chunk_rows = batch_rows

    plan.ignore = args.ignore_class
    if sparse and sem == "torch" and plan.ignore is None:
        plan.ignore = -100  # torch's default ignore_index
    native = pred.dtype.newbyteorder("=")  # a big-endian float32 file still gives float32 losses
    plan.out_dtype = native if native in (np.float32, np.float64) else np.dtype(np.float64)
    if native == np.float16 or native.name == "bfloat16":  # read as they are; losses reported in float32
        plan.out_dtype = np.dtype(np.float32)
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
            raise CLIError(
                f"{label}: label {float(t[pos])!r} at index {_pos(pos, row0, plan.t_chunk_axis)} is not an "
                "integer class index"
            )
        t = t.astype(np.int64)
    elif t.dtype.kind in "iu" and (t.dtype not in (np.int32, np.int64) or not t.dtype.isnative):
        if t.dtype.kind == "u" and t.dtype.itemsize == 8:
            big = t > np.iinfo(np.int64).max
            if big.any():
                pos = np.unravel_index(int(np.flatnonzero(big)[0]), t.shape)
                raise CLIError(
                    f"{label}: label {int(t[pos])} at index {_pos(pos, row0, plan.t_chunk_axis)} "
                    f"is outside the class range [0, {plan.n_classes})"
                )
        t = t.astype(np.int64)
    bad = (t < 0) | (t >= plan.n_classes)
    if plan.ignore is not None:
        bad &= t != plan.ignore
    if bad.any():
        pos = np.unravel_index(int(np.flatnonzero(bad)[0]), t.shape)
        raise CLIError(
            f"{label}: label {int(t[pos])} at index {_pos(pos, row0, plan.t_chunk_axis)} is outside "
            f"the class range [0, {plan.n_classes})"
            + (f" and is not the ignored class {plan.ignore}" if plan.ignore is not None else "")
        )
    return t


def _pos(pos, row0, axis):
    pos = list(int(p) for p in pos)
    if axis is not None and pos:
        pos[axis] += row0
    return pos[0] if len(pos) == 1 else tuple(pos)


# ---- the evaluations: (loss, semantics) -> per-sample losses of one chunk -----------------------------------
# Each takes (p, t, plan, args): a chunk of PRED, of TARGET (labels already checked), the plan and the options.
def _keras_categorical(p, t, plan, args):
    from crossentropy import keras as K

    return K.categorical_crossentropy(
        t, p, from_logits=args.from_logits, label_smoothing=args.label_smoothing, axis=plan.axis
    )


def _keras_sparse(p, t, plan, args):
    from crossentropy import keras as K

    return K.sparse_categorical_crossentropy(
        t, p, from_logits=args.from_logits, ignore_class=plan.ignore, axis=plan.axis
    )


def _keras_binary(p, t, plan, args):
    from crossentropy import keras as K

    return K.binary_crossentropy(
        t, p, from_logits=args.from_logits, label_smoothing=args.label_smoothing, axis=plan.axis
    )


def _keras_categorical_focal(p, t, plan, args):
    from crossentropy import keras as K

    return K.categorical_focal_crossentropy(
        t,
        p,
        alpha=args.alpha,
        gamma=args.gamma,
        from_logits=args.from_logits,
        label_smoothing=args.label_smoothing,
        axis=plan.axis,
    )


def _keras_binary_focal(p, t, plan, args):
    from crossentropy import keras as K

    return K.binary_focal_crossentropy(
        t,
        p,
        apply_class_balancing=args.class_balancing,
        alpha=args.alpha,
        gamma=args.gamma,
        from_logits=args.from_logits,
        label_smoothing=args.label_smoothing,
        axis=plan.axis,
    )


def _class_axis_1(a, axis):
    """torch's layout: the class axis moved to 1 (a view)."""
    return np.moveaxis(a, axis, 1) if a.ndim >= 2 else a


def _torch_categorical(p, t, plan, args):
    from crossentropy import torch as T

    return T.cross_entropy(
        _class_axis_1(p, plan.axis), _class_axis_1(t, plan.axis), reduction="none", label_smoothing=args.label_smoothing
    )


def _torch_sparse(p, t, plan, args):
    from crossentropy import torch as T

    return T.cross_entropy(
        _class_axis_1(p, plan.axis), t, ignore_index=plan.ignore, reduction="none", label_smoothing=args.label_smoothing
    )


def _torch_binary(p, t, plan, args):
    from crossentropy import torch as T

    f = T.binary_cross_entropy_with_logits if args.from_logits else T.binary_cross_entropy
    return np.mean(f(p, t, reduction="none"), axis=plan.axis)


def _tf_categorical(p, t, plan, args):
    from crossentropy import tf as TF

    return TF.softmax_cross_entropy_with_logits(labels=t, logits=p, axis=plan.axis)


def _tf_sparse(p, t, plan, args):
    from crossentropy import tf as TF

    return TF.sparse_softmax_cross_entropy_with_logits(labels=t, logits=np.moveaxis(p, plan.axis, -1))


def _tf_binary(p, t, plan, args):
    from crossentropy import tf as TF

    return np.mean(TF.sigmoid_cross_entropy_with_logits(labels=t, logits=p), axis=plan.axis)


EVALUATIONS = {
    ("categorical", "keras"): _keras_categorical,
    ("sparse_categorical", "keras"): _keras_sparse,
    ("binary", "keras"): _keras_binary,
    ("categorical_focal", "keras"): _keras_categorical_focal,
    ("binary_focal", "keras"): _keras_binary_focal,
    ("categorical", "torch"): _torch_categorical,
    ("sparse_categorical", "torch"): _torch_sparse,
    ("binary", "torch"): _torch_binary,
    ("categorical", "tf"): _tf_categorical,
    ("sparse_categorical", "tf"): _tf_sparse,
    ("binary", "tf"): _tf_binary,
}
_SEMANTICS_NAMES = {"keras": "Keras", "torch": "PyTorch", "tf": "tf.nn"}


def _compute(plan, args, p, t):
    """Per-sample losses of one chunk (shape: p without the class axis) and the mask of counted samples."""
    mask = t != plan.ignore if plan.loss == "sparse_categorical" and plan.ignore is not None else None
    return np.asarray(EVALUATIONS[plan.loss, plan.sem](p, t, plan, args)), mask


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
        self.stream.write(f"\r[{bar}] {frac * 100:5.1f}% {done}/{self.total} rows {rate:8.1f} MiB/s ETA {eta:5.1f} s ")
        self.stream.flush()
        self.shown = True

    def close(self):
        if self.enabled and self.shown:
            self.stream.write("\n")
            self.stream.flush()


class _WarningTally:
    """Collect the warnings of every chunk; report each kind once, ProbabilityWarning's row counts summed."""

    def __init__(self):
        self.kinds = {}

    def add(self, records):
        for r in records:
            w = r.message
            if isinstance(w, ProbabilityWarning) and w.kind is not None:
                key = (r.category.__name__, w.kind, w.argument)
                first, count, rows = self.kinds.get(key, (w, 0, 0))
                self.kinds[key] = (first, count + (w.count or 0), rows + (w.rows or 0))
            else:
                self.kinds.setdefault((r.category.__name__, str(w)), (w, None, None))

    def messages(self):
        out = []
        for (cat, *_), (w, count, rows) in self.kinds.items():
            if count is not None:
                w = ProbabilityWarning(kind=w.kind, count=count, rows=rows, argument=w.argument)
            out.append(f"{cat}: {w}")
        return out


def _open_inputs(args):
    """PRED and TARGET readers: .npy/.npz arrays (--pred-key/--target-key) or table columns (--pred-col/
    --target-col; one table holding both when TARGET is not given)."""
    from crossentropy.io.arrow import is_arrow_path

    if args.target is None and args.target_col is None:
        raise CLIError(
            "TARGET is missing: give a TARGET file, or --target-col NAME when PRED's table holds the targets"
        )
    target_path = args.pred if args.target is None else args.target
    for role, path, col, key in (
        ("PRED", args.pred, args.pred_col, args.pred_key),
        ("TARGET", target_path, args.target_col, args.target_key),
    ):
        opt = role.lower()
        if col is not None and not is_arrow_path(path):
            raise CLIError(
                f"--{opt}-col names a column of a Parquet/Arrow table; {role} {path} is not one"
                + (f" (use --{opt}-key for a .npz member)" if path.lower().endswith(".npz") else "")
            )
        if key is not None and is_arrow_path(path):
            raise CLIError(f"--{opt}-key names a .npz member; for the table {path} use --{opt}-col")
    pred = open_array(
        args.pred,
        args.pred_col if args.pred_col is not None else args.pred_key,
        role="PRED",
        key_option="--pred-col" if is_arrow_path(args.pred) else "--pred-key",
    )
    try:
        target = open_array(
            target_path,
            args.target_col if args.target_col is not None else args.target_key,
            role="TARGET",
            key_option="--target-col" if is_arrow_path(target_path) else "--target-key",
        )
    except BaseException:
        pred.close()
        raise
    return pred, target, target_path


class _TokenOutputs:
    """``--per-token`` (the token statistics nll, lse, entropy, rank, valid) and ``--per-sequence``: written
    chunk by chunk into temporary .npy files beside the outputs, moved into place only when the run succeeds."""

    NAMES = ("nll", "lse", "entropy", "rank", "valid")

    def __init__(self, args, plan, pred_dtype):
        import tempfile

        self.per_token, self.per_sequence = args.per_token, args.per_sequence
        self.plan = plan
        self.files = []
        self.arrays = {}
        if plan.loss != "sparse_categorical" or not args.from_logits:
            raise CLIError("--per-token and --per-sequence apply to --loss sparse_categorical --from-logits")
        if self.per_sequence and (len(plan.sample_shape) != 2 or plan.chunk_axis != 0):
            raise CLIError(
                f"--per-sequence needs (B, T, V) PRED with the class axis last or in the middle, got PRED of "
                f"{len(plan.sample_shape) + 1} dimensions with class axis {plan.axis}"
            )
        ftype = np.float64 if pred_dtype.newbyteorder("=") == np.float64 else np.float32
        dtypes = dict(nll=ftype, lse=ftype, entropy=ftype, rank=np.int64, valid=np.bool_)
        for path, opt in ((self.per_token, "--per-token"), (self.per_sequence, "--per-sequence")):
            if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                raise CLIError(f"{opt}: directory {os.path.dirname(os.path.abspath(path))} does not exist")
        try:
            if self.per_token:
                out_dir = os.path.dirname(os.path.abspath(self.per_token))
                self.tmpdir = tempfile.mkdtemp(prefix=".crossentropy-", dir=out_dir)
                for name in self.NAMES:
                    f = os.path.join(self.tmpdir, name + ".npy")
                    self.files.append(f)
                    self.arrays[name] = _open_output(f, dtypes[name], plan.sample_shape, self.per_token)
            if self.per_sequence:
                self.seq_tmp = _temp_path(self.per_sequence)
                self.files.append(self.seq_tmp)
                shape = plan.sample_shape[:1]
                self.arrays["sequence"] = _open_output(self.seq_tmp, np.float64, shape, self.per_sequence)
        except BaseException:
            self.discard()
            raise

    def write(self, start, stop, logits_last, labels):
        from crossentropy.metrics import token_stats_blocks

        stats = token_stats_blocks(logits_last, labels, self.plan.ignore)
        axis = self.plan.out_chunk_axis
        for name, value in zip(self.NAMES, stats, strict=True):
            out = self.arrays.get(name)
            if out is None:
                continue
            if axis is None:
                out[...] = value
            else:
                idx = [slice(None)] * out.ndim
                idx[axis] = slice(start, stop)
                out[tuple(idx)] = value
        seq = self.arrays.get("sequence")
        if seq is not None:
            nll, valid = stats[0], stats[4]
            total = np.sum(nll, axis=1, where=valid, dtype=np.float64)
            n = np.count_nonzero(valid, axis=1)
            with np.errstate(all="ignore"):
                seq[start:stop] = np.exp(total / n)  # no counted token: 0/0 = NaN

    def commit(self):
        import zipfile

        for a in self.arrays.values():
            if a is not None:
                a.flush()
        self.arrays = {}
        if self.per_token:
            tmp_npz = os.path.join(self.tmpdir, "stats.npz")
            with zipfile.ZipFile(tmp_npz, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
                for name in self.NAMES:
                    z.write(os.path.join(self.tmpdir, name + ".npy"), arcname=name + ".npy")
            os.replace(tmp_npz, self.per_token)
        if self.per_sequence:
            os.replace(self.seq_tmp, self.per_sequence)
            self.files.remove(self.seq_tmp)
        self.discard()

    def discard(self):
        self.arrays = {}
        for f in self.files:
            if os.path.exists(f):
                os.unlink(f)
        self.files = []
        if getattr(self, "tmpdir", None) and os.path.isdir(self.tmpdir):
            for f in os.listdir(self.tmpdir):
                os.unlink(os.path.join(self.tmpdir, f))
            os.rmdir(self.tmpdir)
        self.tmpdir = None


def _lm_metrics(plan, args):
    """Perplexity and accuracy accumulators (top-1, and top-k for ``--top-k`` K > 1) for sparse_categorical from
    logits (None otherwise)."""
    if plan.loss != "sparse_categorical" or not args.from_logits:
        return None, []
    from crossentropy.metrics import Accuracy, Perplexity

    if args.top_k < 1:
        raise CLIError(f"--top-k must be >= 1, got {args.top_k}")
    ppl = Perplexity(ignore_index=plan.ignore) if args.label_smoothing else None  # else: exp(mean loss)
    return ppl, [Accuracy(top_k=k, ignore_index=plan.ignore) for k in sorted({1, args.top_k})]


def cmd_eval(args):
    """Evaluate the loss chunk by chunk; print (or ``--json``) the mean, the count and how it ran."""
    from crossentropy.metrics import CrossEntropy

    set_threads(args.threads)
    t_start = time.perf_counter()
    pred, target, target_path = _open_inputs(args)
    out_arr = None
    tmp_out = None
    token_out = None
    try:
        plan = _make_plan(args, pred, target)
        if args.per_sample:
            for src_path in (args.pred, target_path):
                if os.path.exists(args.per_sample) and os.path.samefile(args.per_sample, src_path):
                    raise CLIError(f"--per-sample {args.per_sample} would overwrite an input file")
            out_dir = os.path.dirname(os.path.abspath(args.per_sample))
            if not os.path.isdir(out_dir):
                raise CLIError(f"--per-sample: directory {out_dir} does not exist")
        show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
        progress = _Progress(plan.n_rows, int(math.prod(pred.shape)) * pred.dtype.itemsize, show)
        tally = _WarningTally()
        # one accumulation path for the command line, the Python API and Dask: crossentropy.metrics
        metric = CrossEntropy(plan.loss, from_logits=bool(args.from_logits), semantics=plan.sem)
        ppl, accs = _lm_metrics(plan, args)
        if args.per_token or args.per_sequence:
            token_out = _TokenOutputs(args, plan, pred.dtype)
        n_chunks = 0
        out_shape = plan.sample_shape
        if args.per_sample:
            # written to a temporary file beside the target, renamed at the end: nothing half-way on error
            tmp_out = _temp_path(args.per_sample)
            out_arr = _open_output(tmp_out, plan.out_dtype, out_shape, args.per_sample)
        chunks = (
            [(0, plan.n_rows)]
            if plan.chunk_axis is None
            else [(s, min(s + plan.chunk_rows, plan.n_rows)) for s in range(0, plan.n_rows, plan.chunk_rows)]
        )
        with np.errstate(all="ignore"):
            for start, stop in chunks:
                if plan.chunk_axis is None:
                    p, t = pred.whole(), target.whole()
                else:
                    p = pred.read(plan.chunk_axis, start, stop)
                    t = target.read(plan.t_chunk_axis, start, stop)
                p, t = _aligned(p), _aligned(t)  # an np.savez member can sit at any byte offset
                if plan.loss == "sparse_categorical":
                    t = _labels(t, plan, target.label, start)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    vals, mask = _compute(plan, args, p, t)
                tally.add(caught)
                vals = vals.reshape(_chunk_shape(out_shape, plan.out_chunk_axis, stop - start))
                metric.update_values(vals, valid=mask)
                if accs:
                    p_last = np.moveaxis(p, plan.axis, -1)
                    for acc in accs:
                        acc.update(p_last, t)
                    if ppl is not None:
                        ppl.update(p_last, t)
                    if token_out is not None:
                        token_out.write(start, stop, p_last, t)
                if out_arr is not None:
                    if plan.out_chunk_axis is None:
                        out_arr[...] = vals
                    else:
                        idx = [slice(None)] * out_arr.ndim
                        idx[plan.out_chunk_axis] = slice(start, stop)
                        out_arr[tuple(idx)] = vals
                        drop_pages(out_arr, plan.out_chunk_axis, start, stop)
                if plan.chunk_axis is not None:
                    pred.release(plan.chunk_axis, start, stop)
                    target.release(plan.t_chunk_axis, start, stop)
                n_chunks += 1
                progress.update(stop)
        progress.update(plan.n_rows, final=True)
        progress.close()
        if out_arr is not None:
            out_arr.flush()
            del out_arr
            out_arr = None
        if tmp_out is not None:
            os.replace(tmp_out, args.per_sample)
            tmp_out = None
        if token_out is not None:
            token_out.commit()
            token_out = None
    finally:
        pred.close()
        target.close()
        if out_arr is not None:
            del out_arr
        if tmp_out is not None and os.path.exists(tmp_out):
            os.unlink(tmp_out)
        if token_out is not None:
            token_out.discard()
    count = int(metric.count)
    total = metric.total.value
    mean = metric.result()
    seconds = time.perf_counter() - t_start
    warn_msgs = tally.messages()
    for m in warn_msgs:
        print(f"{PROG} eval: warning: {m}", file=sys.stderr)
    import crossentropy

    finite = lambda v: v if math.isfinite(v) else None  # noqa: E731 - JSON has no NaN/inf
    result = {
        "loss": plan.loss,
        "semantics": plan.sem,
        "from_logits": bool(args.from_logits),
        "mean": finite(mean),
        "sum": finite(total),
        "count": count,
        "finite": math.isfinite(mean),
        "samples": int(math.prod(plan.sample_shape)),
        "pred_shape": list(pred.shape[:1] if plan.squeeze_pred else pred.shape),
        "class_axis": plan.axis,
        "classes": plan.n_classes,
        "dtype": np.dtype(plan.out_dtype).name,
        "chunks": n_chunks,
        "chunk_rows": plan.chunk_rows,
        "threads": crossentropy.get_num_threads(),
        "seconds": round(seconds, 6),
        "per_sample": args.per_sample,
        "per_token": args.per_token,
        "per_sequence": args.per_sequence,
        "warnings": warn_msgs,
    }
    if accs:
        perplexity = ppl.result() if ppl is not None else (math.exp(mean) if mean < 709.78 else float("inf"))
        result["perplexity"] = finite(perplexity)
        result["accuracy"] = finite(accs[0].result())
        if len(accs) > 1:
            result["top_k"] = args.top_k
            result["top_k_accuracy"] = finite(accs[1].result())
    if args.json:
        print(json.dumps(result))
    else:
        how = "logits" if args.from_logits else "probabilities"
        print(f"loss        {plan.loss} ({plan.sem} semantics, {how}, {result['dtype']})")
        print(f"mean        {mean!r}")
        if accs:
            print(f"perplexity  {perplexity!r}")
            print(f"accuracy    {accs[0].result()!r} (top-1)")
            if len(accs) > 1:
                print(f"top-k       {accs[1].result()!r} (top-{args.top_k})")
        print(
            f"count       {count}"
            + (f" (of {result['samples']}; the rest ignored)" if count != result["samples"] else "")
        )
        print(
            f"chunks      {n_chunks} x <= {min(plan.chunk_rows, max(plan.n_rows, 1))} rows, {seconds:.3f} s, "
            f"{result['threads']} thread(s)"
        )
        if args.per_sample:
            print(f"per-sample  {args.per_sample} {out_shape} {result['dtype']}")
        if args.per_token:
            print(f"per-token   {args.per_token} (nll, lse, entropy, rank, valid) {out_shape}")
        if args.per_sequence:
            print(f"per-seq     {args.per_sequence} {out_shape[:1]} float64")
    return 0


def _temp_path(path):
    import tempfile

    fd, tmp = tempfile.mkstemp(
        prefix=".crossentropy-", suffix=".npy.partial", dir=os.path.dirname(os.path.abspath(path))
    )
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result gets the usual permissions
    return tmp


def _aligned(a):
    a = np.asarray(a)
    return a if a.flags.aligned else a.copy()


def _chunk_shape(shape, axis, rows):
    if axis is None:
        return shape
    s = list(shape)
    s[axis] = rows
    return tuple(s)


def _open_output(path, dtype, shape, name=None):
    try:
        if math.prod(shape) == 0:
            with open(path, "wb") as fh:
                np.save(fh, np.empty(shape, dtype))
            return None
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    except OSError as exc:
        raise CLIError(f"cannot write --per-sample {name or path}: {exc.strerror or exc}") from None
