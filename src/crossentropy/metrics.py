"""Streaming, mergeable evaluation metrics: ``CrossEntropy``, ``Perplexity`` and ``Accuracy``.

Each metric takes batches through ``update(pred, target, sample_weight=None)`` and gives the running value from
``result()``.  ``merge(other)`` adds another metric's state (a shard evaluated elsewhere: another process, a
Dask partition, another machine), ``reset()`` starts over, and metrics pickle, so states travel between
workers.  The per-sample losses come from crossentropy's kernels (the framework layers or gufuncs); the metric
adds only the accumulation, which is O(N) and never holds an N x C temporary.

Accumulation is compensated and in float64: each batch is summed error-free (Rump's extraction: the high
parts of all values on one grid sum exactly, the small remainders separately), and batches are added into a
(high, low) pair of doubles with exact two-sums.  The result equals the
correctly rounded mean to about 1e-15 relative however many batches arrive and in whatever split: merging
shards gives the single-pass result to float64 rounding.

Ignored targets (``ignore_index`` / ``ignore_class``) are left out of the mean, as PyTorch leaves them out; an
empty metric (or one that saw only ignored targets) gives NaN.

Inputs: NumPy arrays, and columns of pyarrow, pandas and polars (``fixed_size_list``, ``fixed_shape_tensor``,
equal-length ``list`` columns; anything with the Arrow PyCapsule interface), read as views of their memory where
the layout allows (see :mod:`crossentropy.io.columns`).
"""

import math

import numpy as np

from crossentropy.io.columns import aligned_blocks

__all__ = ["CrossEntropy", "Perplexity", "Accuracy"]

_RANK_BLOCK_BYTES = 4 << 20  # bytes of class scores compared at once when counting ranks for top-k


# ---------------------------------------------------------------------------------------------------------
# compensated float64 summation
# ---------------------------------------------------------------------------------------------------------
def _two_sum(a, b):
    """s = fl(a + b) and the exact rounding error e (a + b = s + e), Knuth's branch-free form."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


_SUM_BLOCK = 1 << 15  # values per extraction block: two block-sized buffers stay in cache


def _batch_sum(x):
    """(hi, lo) with hi + lo = sum(x) to about float64 epsilon squared, relative to sum(|x|).

    Rump's error-free extraction, block by block: with sigma a power of two above 2 n max|x| of the block,
    q = (x + sigma) - sigma keeps the high bits of every value on one grid, so sum(q) is exact in any order
    (NumPy's pairwise sum), and the remainders r = x - q (exact) are small enough that their plain float64 sum
    is accurate to far below an ulp of the total.  Block sums are added with exact two-sums.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return 0.0, 0.0
    buf_q = np.empty(min(_SUM_BLOCK, x.size))
    buf_r = np.empty_like(buf_q)
    hi = lo = 0.0
    for a in range(0, x.size, _SUM_BLOCK):
        blk = x[a : a + _SUM_BLOCK]
        n = blk.size
        big = max(float(np.max(blk)), -float(np.min(blk)))
        if not math.isfinite(big):
            return float(np.sum(x)), 0.0  # inf or NaN: the plain sum says which
        if big == 0.0:
            continue
        k = math.frexp(big)[1] + math.frexp(n)[1] + 1
        if k > 1022:
            parts, rest = _two_sum_tree(blk), 0.0  # values near the float64 limit: no room for sigma
        else:
            b_hi, r = _extract(blk, k, buf_q[:n], buf_r[:n])
            # a second extraction of the remainders: their high parts sum exactly too; what is left is tiny
            big_r = max(float(np.max(r)), -float(np.min(r)))
            if big_r == 0.0:
                parts, rest = (b_hi,), 0.0
            else:
                b_mid, r2 = _extract(r, math.frexp(big_r)[1] + math.frexp(n)[1] + 1, buf_q[:n], r)
                parts, rest = (b_hi, b_mid), float(np.sum(r2))
        for part in parts:  # exact values: added to the pair without loss
            hi, e = _two_sum(hi, part)
            lo += e
        lo += rest
    if not math.isfinite(hi):
        return float(np.sum(x)), 0.0
    return _two_sum(hi, lo)


def _extract(x, k, buf_q, buf_r):
    """sum(q) (exact) and the remainders r = x - q (exact), q = x rounded to the grid of sigma = 2**k."""
    sigma = math.ldexp(1.0, k)
    q = np.add(x, sigma, out=buf_q)
    q -= sigma
    total = float(np.sum(q))
    return total, np.subtract(x, q, out=buf_r)


def _two_sum_tree(x):
    """(hi, lo): a pairwise tree of exact two-sums, the rounding errors summed separately."""
    level = x
    errors = []
    while level.size > 1:
        odd = level[-1:] if level.size % 2 else None
        h = level.size // 2
        s, e = _two_sum(level[:h], level[h : 2 * h])
        errors.append(float(np.sum(e)))
        level = s if odd is None else np.concatenate([s, odd])
    hi = float(level[0])
    if not math.isfinite(hi):
        return float(np.sum(x)), 0.0
    return hi, math.fsum(errors)


class _Sum:
    """A float64 running sum kept as an unevaluated pair hi + lo (double-double, renormalised each add)."""

    __slots__ = ("hi", "lo")

    def __init__(self):
        self.hi = 0.0
        self.lo = 0.0

    def add_pair(self, hi, lo):
        s, e = _two_sum(self.hi, hi)
        if not math.isfinite(s):
            self.hi, self.lo = s, 0.0
            return
        self.hi, self.lo = _two_sum(s, self.lo + lo + e)

    def add(self, values):
        self.add_pair(*_batch_sum(values))

    @property
    def value(self):
        return self.hi + self.lo

    def __getstate__(self):
        return (self.hi, self.lo)

    def __setstate__(self, state):
        self.hi, self.lo = state


# ---------------------------------------------------------------------------------------------------------
# the common machinery: a weighted mean of per-sample values over the counted samples
# ---------------------------------------------------------------------------------------------------------
class _MeanMetric:
    """Numerator and denominator sums, update/merge/reset; subclasses say how a block becomes values."""

    def __init__(self):
        self.reset()

    def reset(self):
        """Forget every update; returns self."""
        self.total = _Sum()
        self.weight = _Sum()
        self.updates = 0
        return self

    def _config(self):
        raise NotImplementedError

    def _values(self, pred, target, row0):
        """Per-sample values of one block and the mask of counted samples (None: all counted)."""
        raise NotImplementedError

    def update(self, pred, target, sample_weight=None):
        """Add a batch.

        Parameters
        ----------
        pred : array_like or column
            Predictions (logits, or probabilities where the loss takes them), class axis as the loss expects.
        target : array_like or column
            Targets: class indices, or dense targets of ``pred``'s shape.
        sample_weight : array_like, optional
            One weight per sample (broadcast to the per-sample shape); the mean becomes
            sum(w * value) / sum(w) over the counted samples.

        Returns
        -------
        None
        """
        for row0, (p, t, w) in aligned_blocks(pred, target, sample_weight, names=["pred", "target", "sample_weight"]):
            values, counted = self._values(p, t, row0)
            self.update_values(values, w, valid=counted)

    def update_values(self, values, sample_weight=None, *, valid=None):
        """Add per-sample values computed elsewhere (the same kernels), e.g. by ``crossentropy eval``.

        Parameters
        ----------
        values : array_like
            Per-sample values.
        sample_weight : array_like, optional
            Weights broadcast to ``values``' shape.
        valid : array_like of bool, optional
            Which samples count; the others are left out of the sums.

        Returns
        -------
        None
        """
        values = np.asarray(values)
        with np.errstate(under="ignore"):  # tiny products and error terms flush harmlessly
            self._accumulate(values, sample_weight, valid)
        self.updates += 1

    def _accumulate(self, values, sample_weight, valid):
        if sample_weight is None and valid is None:
            self.total.add(values)
            self.weight.add_pair(float(values.size), 0.0)
        else:
            w = np.ones(values.shape) if sample_weight is None else _weights(sample_weight, values.shape)
            if valid is not None:
                w = np.where(valid, w, 0.0)
                values = np.where(valid, values, 0.0)  # an ignored sample's value may be NaN by design
            self.total.add(np.multiply(values, w, dtype=np.float64))
            self.weight.add(w)

    def _mean(self):
        den = self.weight.value
        if den == 0:
            return float("nan")
        if not (math.isfinite(self.total.hi) and math.isfinite(den)):
            return self.total.value / den
        return _pair_div(self.total.hi, self.total.lo, self.weight.hi, self.weight.lo)

    def merge(self, other):
        """Add the state of ``other`` (a metric of the same class and settings); returns self.

        Examples
        --------
        >>> import numpy as np
        >>> from crossentropy.metrics import CrossEntropy
        >>> logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0], [1.0, 1.0, 1.0]])
        >>> labels = np.array([0, 2, 1])
        >>> a, b = CrossEntropy(), CrossEntropy()
        >>> a.update(logits[:1], labels[:1]); b.update(logits[1:], labels[1:])
        >>> whole = CrossEntropy(); whole.update(logits, labels)
        >>> bool(np.isclose(a.merge(b).result(), whole.result(), rtol=1e-15))
        True
        """
        if type(other) is not type(self) or other._config() != self._config():
            raise ValueError(f"cannot merge {other!r} into {self!r}: both need the same class and settings")
        self.total.add_pair(other.total.hi, other.total.lo)
        self.weight.add_pair(other.weight.hi, other.weight.lo)
        self.updates += other.updates
        return self

    @property
    def count(self):
        """Sum of the weights of the counted samples (their number when unweighted)."""
        return self.weight.value

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({args})"


def _pair_div(a_hi, a_lo, b_hi, b_lo):
    """(a_hi + a_lo) / (b_hi + b_lo) correctly rounded to a double in all but ties (one Newton step)."""
    q = a_hi / b_hi
    p, pe = _two_prod(q, b_hi)
    r = (a_hi - p - pe + a_lo - q * b_lo) / (b_hi + b_lo)
    return q + r


def _two_prod(a, b):
    p = a * b
    return p, math.fma(a, b, -p) if hasattr(math, "fma") else _dekker_err(a, b, p)


def _dekker_err(a, b, p):
    split = 134217729.0
    t = split * a
    ah = t - (t - a)
    al = a - ah
    t = split * b
    bh = t - (t - b)
    bl = b - bh
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _weights(sample_weight, shape):
    w = np.asarray(sample_weight, dtype=np.float64)
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(
            f"sample_weight of shape {w.shape} does not broadcast to the per-sample shape {shape}"
        ) from None


# ---------------------------------------------------------------------------------------------------------
# CrossEntropy: any of the losses, under Keras, PyTorch or tf.nn semantics
# ---------------------------------------------------------------------------------------------------------
def _keras(fname):
    def run(pred, target, from_logits, opts):
        from crossentropy import keras as K

        return getattr(K, fname)(target, pred, from_logits=from_logits, **opts)

    return run


def _torch_cross_entropy(pred, target, from_logits, opts):
    from crossentropy import torch as T

    _needs_logits("torch", from_logits)
    return T.cross_entropy(pred, target, reduction="none", **opts)


def _torch_binary(pred, target, from_logits, opts):
    from crossentropy import torch as T

    f = T.binary_cross_entropy_with_logits if from_logits else T.binary_cross_entropy
    return _mean_last(f(pred, target, reduction="none", **opts))


def _tf_categorical(pred, target, from_logits, opts):
    from crossentropy import tf as TF

    _needs_logits("tf", from_logits)
    return TF.softmax_cross_entropy_with_logits(target, pred, **opts)


def _tf_sparse(pred, target, from_logits, opts):
    from crossentropy import tf as TF

    _needs_logits("tf", from_logits)
    return TF.sparse_softmax_cross_entropy_with_logits(target, pred, **opts)


def _tf_binary(pred, target, from_logits, opts):
    from crossentropy import tf as TF

    _needs_logits("tf", from_logits)
    return _mean_last(TF.sigmoid_cross_entropy_with_logits(target, pred, **opts))


def _mean_last(x):
    x = np.asarray(x)
    return x.mean(axis=-1) if x.ndim >= 2 else x


def _needs_logits(sem, from_logits):
    if not from_logits:
        raise ValueError(f"semantics={sem!r} takes logits for this loss: use from_logits=True")


#: (loss, semantics) -> function(pred, target, from_logits, options) giving per-sample losses
LOSS_TABLE = {
    ("categorical", "keras"): _keras("categorical_crossentropy"),
    ("sparse_categorical", "keras"): _keras("sparse_categorical_crossentropy"),
    ("binary", "keras"): _keras("binary_crossentropy"),
    ("categorical_focal", "keras"): _keras("categorical_focal_crossentropy"),
    ("binary_focal", "keras"): _keras("binary_focal_crossentropy"),
    ("categorical", "torch"): _torch_cross_entropy,
    ("sparse_categorical", "torch"): _torch_cross_entropy,
    ("binary", "torch"): _torch_binary,
    ("categorical", "tf"): _tf_categorical,
    ("sparse_categorical", "tf"): _tf_sparse,
    ("binary", "tf"): _tf_binary,
}


class CrossEntropy(_MeanMetric):
    """Running mean of a cross-entropy loss over batches, mergeable across shards.

    Parameters
    ----------
    loss : {"sparse_categorical", "categorical", "binary", "categorical_focal", "binary_focal"}
        Which loss (the focal ones under Keras semantics only).
    from_logits : bool
        ``pred`` holds logits (default) rather than probabilities.
    semantics : {"keras", "torch", "tf"}
        Whose definition: ``crossentropy.keras`` functions (class axis last), ``crossentropy.torch``
        (class axis 1, ``ignore_index`` default -100) or ``crossentropy.tf`` (``tf.nn``).
    **loss_options
        Passed to the loss function: ``label_smoothing``, ``ignore_class`` (keras), ``ignore_index``
        (torch), ``alpha``, ``gamma``, ``apply_class_balancing``, ``axis``, ...

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.metrics import CrossEntropy
    >>> m = CrossEntropy()
    >>> m.update(np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]), np.array([0, 2]))
    >>> m.update(np.array([[1.0, 1.0, 1.0]]), np.array([1]))
    >>> print(f"{m.result():.6f}")
    0.483175
    >>> m = CrossEntropy(semantics="torch")                # ignore_index=-100 left out of the mean
    >>> m.update(np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]), np.array([0, -100]))
    >>> print(f"{m.result():.6f}  {m.count:.0f}")
    0.241311  1
    """

    def __init__(self, loss="sparse_categorical", *, from_logits=True, semantics="keras", **loss_options):
        if (loss, semantics) not in LOSS_TABLE:
            losses = sorted({k[0] for k in LOSS_TABLE})
            sems = sorted({k[1] for k in LOSS_TABLE})
            if loss not in losses:
                raise ValueError(f"loss must be one of {losses}, got {loss!r}")
            if semantics not in sems:
                raise ValueError(f"semantics must be one of {sems}, got {semantics!r}")
            raise ValueError(f"loss {loss!r} has no {semantics!r} semantics; use semantics='keras'")
        for k in ("reduction", "return_grad"):
            if k in loss_options:
                raise TypeError(f"CrossEntropy does its own reduction: {k}= is not an option")
        self.loss = loss
        self.from_logits = bool(from_logits)
        self.semantics = semantics
        self.loss_options = dict(loss_options)
        self._fn = LOSS_TABLE[(loss, semantics)]
        self._ignore = None
        if loss == "sparse_categorical":
            if semantics == "keras":
                self._ignore = loss_options.get("ignore_class")
            elif semantics == "torch":
                self._ignore = loss_options.get("ignore_index", -100)
        super().__init__()

    def _config(self):
        return {"loss": self.loss, "from_logits": self.from_logits, "semantics": self.semantics, **self.loss_options}

    def __repr__(self):
        opts = "".join(f", {k}={v!r}" for k, v in self.loss_options.items())
        return f"CrossEntropy({self.loss!r}, from_logits={self.from_logits}, semantics={self.semantics!r}{opts})"

    def per_sample(self, pred, target):
        """Per-sample losses of one batch and the mask of counted samples (None when all count).

        Parameters
        ----------
        pred, target : array_like
            As for :meth:`update` (NumPy arrays; columns go through :meth:`update`).

        Returns
        -------
        values : numpy.ndarray
        valid : numpy.ndarray of bool or None
        """
        values = np.asarray(self._fn(pred, target, self.from_logits, self.loss_options))
        valid = None
        if self._ignore is not None:
            valid = np.asarray(target) != self._ignore
            if valid.shape != values.shape:
                valid = np.broadcast_to(
                    valid.reshape(values.shape) if valid.size == values.size else valid, values.shape
                )
        return values, valid

    def _values(self, pred, target, row0):
        return self.per_sample(pred, target)

    def result(self):
        """The mean loss over the counted samples so far (NaN when none), a Python float."""
        return self._mean()


# ---------------------------------------------------------------------------------------------------------
# Perplexity and Accuracy: language-model style, class axis last, integer labels
# ---------------------------------------------------------------------------------------------------------
def _logits_and_labels(pred, target, ignore_index):
    logits = np.asarray(pred)
    labels = np.asarray(target)
    if logits.ndim < 1:
        raise ValueError(f"pred must have a class axis (last), got shape {logits.shape}")
    if labels.shape != logits.shape[:-1]:
        raise ValueError(
            f"target of shape {labels.shape} does not match pred of shape {logits.shape}: "
            f"it needs pred's shape without the class axis, {logits.shape[:-1]}"
        )
    if labels.dtype.kind not in "iu":
        raise TypeError(f"target must hold integer class labels, got dtype {labels.dtype}")
    valid = None if ignore_index is None else labels != ignore_index
    return logits, labels, valid


class Perplexity(_MeanMetric):
    """exp(mean negative log-likelihood) over the valid tokens seen so far (torchmetrics ``Perplexity``).

    Parameters
    ----------
    ignore_index : int or None
        Label of positions left out (default -100, as in PyTorch); None counts every position.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.metrics import Perplexity
    >>> logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]]))    # (batch 1, 2 tokens, 3 classes)
    >>> p = Perplexity(); p.update(logits, np.array([[0, 1]]))
    >>> print(f"{p.result():.6f}")         # exp((-log 0.5 - log 0.8) / 2)
    1.581139
    """

    def __init__(self, *, ignore_index=-100):
        self.ignore_index = ignore_index
        super().__init__()

    def _config(self):
        return {"ignore_index": self.ignore_index}

    def _values(self, pred, target, row0):
        logits, labels, valid = _logits_and_labels(pred, target, self.ignore_index)
        if _lm_token_stats() is not None:
            return token_stats_blocks(logits, labels, self.ignore_index)[0], valid
        from crossentropy.keras import sparse_categorical_crossentropy

        nll = sparse_categorical_crossentropy(labels, logits, from_logits=True, ignore_class=self.ignore_index)
        return np.asarray(nll), valid

    def result(self):
        """exp of the mean negative log-likelihood (NaN when no valid token was seen), a Python float."""
        mean = self._mean()
        return math.exp(mean) if mean < 709.78 else (float("inf") if mean == mean else mean)


_TOKEN_STATS = []  # the looked-up crossentropy.lm.token_stats (or None), once per process


def _lm_token_stats():
    """``crossentropy.lm.token_stats`` (one kernel pass for nll, lse, entropy and rank) when installed."""
    if not _TOKEN_STATS:
        try:
            from crossentropy.lm import token_stats
        except ImportError:  # looked up once: a failed import is not cached by Python
            token_stats = None
        _TOKEN_STATS.append(token_stats)
    return _TOKEN_STATS[0]


def token_stats_blocks(logits, labels, ignore_index):
    """(nll, lse, entropy, rank, valid) of every position, class axis last, as ``crossentropy.lm.token_stats``
    defines them; from that kernel when present, else from the gufuncs in row blocks of a few MiB.

    Parameters
    ----------
    logits : numpy.ndarray, (..., C)
    labels : numpy.ndarray of int, logits' shape without the last axis
    ignore_index : int or None

    Returns
    -------
    tuple of numpy.ndarray
        nll, lse, entropy (float32 for float32/half logits, float64 for float64), rank (int64, -1 where
        ignored), valid (bool).
    """
    fast = _lm_token_stats()
    if fast is not None:
        ignore = -100 if ignore_index is None else ignore_index  # labels are checked to lie in [0, C) already
        st = fast(logits, labels, ignore_index=ignore)
        return st.nll, st.lse, st.entropy, st.rank, st.valid
    import crossentropy as ce

    x = logits.reshape(-1, logits.shape[-1])
    lab = labels.reshape(-1)
    valid = np.ones(lab.shape, bool) if ignore_index is None else lab != ignore_index
    ftype = np.float64 if x.dtype == np.float64 else np.float32
    out = [np.empty(lab.shape, ftype) for _ in range(3)]
    rank = _ranks(logits, labels, None if ignore_index is None else valid).reshape(-1)
    rank[~valid] = -1
    rows = max(1, _RANK_BLOCK_BYTES // max(1, 8 * x.shape[1]))
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        for a in range(0, x.shape[0], rows):
            blk = x[a : a + rows].astype(ftype, copy=False)
            ok = valid[a : a + rows]
            safe = np.where(ok, lab[a : a + rows], 0)
            out[0][a : a + rows] = np.where(ok, ce.sparse_softmax_cross_entropy(blk, safe), 0)
            out[1][a : a + rows] = ce.logsumexp(blk)
            logp = ce.log_softmax(blk)
            p = np.exp(logp)
            out[2][a : a + rows] = -np.sum(np.where(p > 0, p * logp, 0), axis=1)
    shape = labels.shape
    return (
        out[0].reshape(shape),
        out[1].reshape(shape),
        out[2].reshape(shape),
        rank.reshape(shape),
        valid.reshape(shape),
    )


def _check_label_range(labels, valid, n_classes):
    lab = labels.reshape(-1)
    ok = np.ones(lab.shape, bool) if valid is None else np.asarray(valid).reshape(-1)
    bad = ok & ((lab < 0) | (lab >= n_classes))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise IndexError(f"target: label {int(lab[i])} at position {i} is outside the class range [0, {n_classes})")


def _ranks(logits, labels, valid):
    """Per-row rank of the label's logit (classes strictly greater), in row blocks of bounded size."""
    x = logits.reshape(-1, logits.shape[-1])
    lab = labels.reshape(-1)
    ok = np.ones(lab.shape, bool) if valid is None else valid.reshape(-1)
    n_classes = x.shape[1]
    _check_label_range(lab, ok, n_classes)
    rank = np.zeros(lab.shape, np.int64)
    rows = max(1, _RANK_BLOCK_BYTES // max(1, n_classes))
    for a in range(0, x.shape[0], rows):
        blk = x[a : a + rows]
        idx = np.where(ok[a : a + rows], lab[a : a + rows], 0)
        own = np.take_along_axis(blk, idx[:, None], axis=1)
        # a NaN own logit compares False everywhere; count it as a miss instead (rank = n_classes)
        rank[a : a + rows] = np.where(np.isnan(own[:, 0]), n_classes, np.count_nonzero(blk > own, axis=1))
    return rank.reshape(labels.shape)


class Accuracy(_MeanMetric):
    """Top-k accuracy over the valid positions seen so far: a hit when fewer than k classes score higher.

    A label's rank is the number of classes whose logit is strictly greater than the label's (ties count in
    the label's favour); ``rank < top_k`` is a hit.  Ranks are counted in row blocks of a few MiB.

    Parameters
    ----------
    top_k : int
        k (default 1: the greedy prediction).
    ignore_index : int or None
        Label of positions left out (default -100); None counts every position.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.metrics import Accuracy
    >>> logits = np.array([[0.1, 2.0, 0.3], [1.0, 0.5, 0.2], [0.0, 0.2, 0.1]])
    >>> a = Accuracy(); a.update(logits, np.array([1, 2, -100]))
    >>> a2 = Accuracy(top_k=2); a2.update(logits, np.array([1, 2, -100]))
    >>> print(a.result(), a2.result())
    0.5 0.5
    """

    def __init__(self, *, top_k=1, ignore_index=-100):
        if int(top_k) != top_k or top_k < 1:
            raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
        self.top_k = int(top_k)
        self.ignore_index = ignore_index
        super().__init__()

    def _config(self):
        return {"top_k": self.top_k, "ignore_index": self.ignore_index}

    def _values(self, pred, target, row0):
        logits, labels, valid = _logits_and_labels(pred, target, self.ignore_index)
        if _lm_token_stats() is not None:
            _check_label_range(labels, valid, logits.shape[-1])
            rank = token_stats_blocks(logits, labels, self.ignore_index)[3]
            # a NaN score ranks 0 in the kernel's count; count it as a miss, as the fallback does
            rank = np.where(
                np.isnan(np.take_along_axis(logits, np.where(rank >= 0, labels, 0)[..., None], axis=-1)[..., 0]),
                logits.shape[-1],
                rank,
            )
        else:
            rank = _ranks(logits, labels, valid)
        hits = ((rank >= 0) & (rank < self.top_k)).astype(np.float64)
        return hits, valid

    def result(self):
        """Fraction of hits (weighted by the sample weights), NaN when nothing was counted; a Python float."""
        return self._mean()
