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

    plan.ignore = args.ignore_class
    if sparse and sem == "torch" and plan.ignore is None:
        plan.ignore = -100  # torch's default ignore_index
    native = pred.dtype.newbyteorder("=")  # a big-endian float32 file still gives float32 losses
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


def cmd_eval(args):
    """Evaluate the loss chunk by chunk; print (or ``--json``) the mean, the count and how it ran."""
    set_threads(args.threads)
    t_start = time.perf_counter()
    pred = open_array(args.pred, args.pred_key, role="PRED", key_option="--pred-key")
    target = open_array(args.target, args.target_key, role="TARGET", key_option="--target-key")
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
        "warnings": warn_msgs,
    }
    if args.json:
        print(json.dumps(result))
    else:
        how = "logits" if args.from_logits else "probabilities"
        print(f"loss        {plan.loss} ({plan.sem} semantics, {how}, {result['dtype']})")
        print(f"mean        {mean!r}")
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
