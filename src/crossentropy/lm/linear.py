"""Cross-entropy of a linear head, ``loss(hidden @ weight.T + bias, labels)``, without the N×V logits.

The logits are made tile by tile (rows × a vocabulary chunk) by a BLAS matmul into one reused buffer and
consumed at once: an online log-sum-exp per row merges the chunks.  The gradient is formed tile by tile as well
and multiplied straight back into ``d_hidden`` and ``d_weight``.  When a tile can hold whole rows of the
vocabulary (the usual case) there is no recomputation: three matmuls in all, as in the eager formula; otherwise
a second sweep recomputes each chunk's logits once the rows' log-sum-exp is known.
"""

import operator
from collections import namedtuple
from contextlib import contextmanager

import numpy as np

from crossentropy import _kernels
from crossentropy._gufuncs import logsumexp, softmax

__all__ = ["linear_cross_entropy"]

DEFAULT_MAX_MEMORY = 256 * 2**20
_REDUCTIONS = ("mean", "sum", "none")
_FULL_ROWS_MIN = 32  # fewer whole-vocabulary rows per tile than this: chunk the vocabulary instead
_MIN_ROWS, _MIN_COLS = 4, 16  # the smallest tile any max_memory must hold ("a few rows of one chunk")
# tiles tried in turn when whole rows do not fit: (rows, fewest classes worth a chunk)
_CHUNKED_TILES = ((1024, 1024), (256, 512), (64, 256), (16, 64), (_MIN_ROWS, _MIN_COLS))
_VECTORS_PER_ROW = 12  # per-row statistics and index arrays, in 8-byte words
_D_WEIGHT_SLICE_BYTES = (256 * 2**10, 16 * 2**20)  # bounds of the d_weight slice (else max_memory / 8)
_NUMPY_BUFFERS = 64 * 2**10  # NumPy's ufunc iteration buffers (8192 elements per broadcast operand)

_Plan = namedtuple("_Plan", "rows cols working_set")


# ---- arguments ------------------------------------------------------------------------------------------
def _float_operand(x, name):
    """``x`` as an array of float16, bfloat16, float32 or float64 (anything else raises TypeError)."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of floats: {exc}") from None
    if not (arr.dtype.kind == "f" and arr.dtype.itemsize <= 8) and arr.dtype.name != "bfloat16":
        raise TypeError(f"{name} must hold float16, bfloat16, float32 or float64 values, got dtype {arr.dtype}")
    return arr


def _compute_dtype(*arrays):
    """float64 when any operand is float64, else float32 (half inputs are computed in float32)."""
    return np.dtype(np.float64 if any(a is not None and a.dtype.itemsize == 8 for a in arrays) else np.float32)


def _int_labels(labels, shape):
    arr = np.asarray(labels)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"labels must hold integer class indices, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"labels must have shape {shape} (hidden's shape without its last axis), got {arr.shape}")
    return arr.reshape(-1).astype(np.int64, copy=False)


def _check_options(reduction, label_smoothing, z_loss, softcap, ignore_index, max_memory):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    try:
        ignore_index = operator.index(ignore_index)
    except TypeError:
        raise TypeError(f"ignore_index must be an integer, got {type(ignore_index).__name__}") from None
    label_smoothing, z_loss = float(label_smoothing), float(z_loss)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if not (np.isfinite(z_loss) and z_loss >= 0.0):
        raise ValueError(f"z_loss must be a finite number >= 0, got {z_loss}")
    if softcap is not None:
        softcap = float(softcap)
        if not (np.isfinite(softcap) and softcap > 0.0):
            raise ValueError(f"softcap must be None or a finite number > 0, got {softcap}")
    if max_memory is None:
        max_memory = DEFAULT_MAX_MEMORY
    else:
        try:
            max_memory = operator.index(max_memory)
        except TypeError:
            raise TypeError(f"max_memory must be an integer number of bytes, got {type(max_memory).__name__}") from None
        if max_memory <= 0:
            raise ValueError(f"max_memory must be a positive number of bytes, got {max_memory}")
    return ignore_index, label_smoothing, z_loss, softcap, max_memory


# ---- working-set plan -----------------------------------------------------------------------------------
def _working_set(
    rows, cols, *, n, v, d, itemsize, grad, tiles, copy_hidden, copy_weight, gather, hidden_itemsize, slice_bytes
):
    """Bytes held at once while computing ``rows`` × ``cols`` tiles (buffers only; inputs and outputs aside)."""
    chunks = -(-v // cols)
    row_blocks = -(-n // rows)
    total = _NUMPY_BUFFERS + rows * cols * itemsize * tiles + rows * _VECTORS_PER_ROW * 8 + rows * chunks * itemsize
    if copy_hidden:  # cast or gathered rows of hidden (plus NumPy's gather temporary)
        total += rows * d * (itemsize + hidden_itemsize)
    if copy_weight:  # cast or contiguous copy of a chunk of weight
        total += cols * d * itemsize
    if grad and chunks > 1:  # d_hidden of a chunk, added to the rows' running sum
        total += rows * d * itemsize
    if grad and gather:  # d_hidden of the gathered rows, scattered back
        total += rows * d * itemsize
    if grad and row_blocks > 1:  # d_weight of a slice of the chunk, added to the running sum
        total += _d_weight_rows(cols, d, itemsize, slice_bytes) * d * itemsize
    return total


def _d_weight_rows(cols, d, itemsize, slice_bytes):
    """Rows of d_weight added at a time after the first row block: a slice large enough for an efficient
    matmul (few large ones beat many small ones, most of all when the BLAS threads must synchronise)."""
    return min(cols, max(16, slice_bytes // max(d * itemsize, 1)))


def _slice_bytes(max_memory):
    low, high = _D_WEIGHT_SLICE_BYTES
    return min(high, max(low, max_memory // 8))


def _balanced(n, rows):
    """As many row blocks as ``rows`` needs, of equal size (no small last block with an inefficient matmul)."""
    return -(-n // -(-n // rows))


def _plan(n, v, d, max_memory, **sizes):
    """Tile shape (rows, cols) within ``max_memory``: whole-vocabulary rows when enough of them fit (no
    recomputation), else the most rows that still leave a useful vocabulary chunk."""

    def fits(rows, cols):
        return _working_set(rows, cols, n=n, v=v, d=d, **sizes) <= max_memory

    def most_cols(rows):
        lo, hi = 0, v
        while lo < hi:  # largest cols with fits(rows, cols); the working set grows with cols
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(rows, mid) else (lo, mid - 1)
        return lo

    n1 = max(n, 1)
    lo, hi = 0, n1
    while lo < hi:  # most whole-vocabulary rows that fit
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid, v) else (lo, mid - 1)
    if lo >= min(n1, _FULL_ROWS_MIN):
        rows = _balanced(n1, lo)
        return _Plan(rows, v, _working_set(rows, v, n=n, v=v, d=d, **sizes))
    for rows, min_cols in _CHUNKED_TILES:
        rows = _balanced(n1, min(n1, rows))
        cols = most_cols(rows)
        if cols >= min(v, min_cols):
            return _Plan(rows, cols, _working_set(rows, cols, n=n, v=v, d=d, **sizes))
    rows, cols = min(n1, _MIN_ROWS), min(v, _MIN_COLS)
    need = _working_set(rows, cols, n=n, v=v, d=d, **sizes)
    raise ValueError(
        f"max_memory={max_memory} bytes is too small: a tile of {rows} rows × {cols} classes "
        f"with hidden size {d} needs {need} bytes"
    )


def _blas_ready(a):
    """A 2-d operand BLAS reads in place (one unit stride); otherwise matmul would copy it whole."""
    return a.flags.c_contiguous or a.flags.f_contiguous


# ---- the loss ---------------------------------------------------------------------------------------------
def linear_cross_entropy(
    hidden,
    weight,
    labels,
    bias=None,
    *,
    ignore_index=-100,
    reduction="mean",
    label_smoothing=0.0,
    z_loss=0.0,
    softcap=None,
    return_grad=False,
    max_memory=None,
):
    """Cross-entropy of the logits ``hidden @ weight.T + bias`` without holding them.

    The loss is ``crossentropy.lm.cross_entropy`` of those logits (Liger-Kernel's ``LigerCrossEntropyLoss``
    semantics): ``softcap`` first replaces each logit ``z`` by ``softcap * tanh(z / softcap)``; the loss of a
    token is ``(1 - label_smoothing) * (lse - z[label]) + label_smoothing * (lse - mean(z)) + z_loss * lse**2``
    with ``lse = log(sum(exp(z)))``; tokens whose label is ``ignore_index`` count for nothing.  The logits are
    computed a tile (rows × vocabulary chunk) at a time by NumPy's BLAS into a reused buffer, and so are the
    gradients, so the N×V logits never exist.

    Parameters
    ----------
    hidden : array_like, shape (N, d) or (..., d)
        Hidden states (float32, float64, float16 or bfloat16).
    weight : array_like, shape (V, d)
        Output projection, one row per class (float32, float64, float16 or bfloat16).
    labels : array_like of int, shape (N,) or hidden.shape[:-1]
        Class indices in ``[0, V)``, or ``ignore_index``.
    bias : array_like, shape (V,), optional
        Added to every row of logits.
    ignore_index : int, default -100
        Label value of tokens that are left out of the loss, its mean and the gradients.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" over the tokens not ignored (0 when every token is ignored), "sum", or "none" (one loss per
        token, labels' shape, 0 for ignored tokens).
    label_smoothing : float in [0, 1], default 0
        Torch's label smoothing: the target is ``1 - label_smoothing`` on the label plus
        ``label_smoothing / V`` on every class.
    z_loss : float >= 0, default 0
        Adds ``z_loss * lse**2`` per token not ignored (PaLM's z-loss, Liger's ``lse_square_scale``).
    softcap : float > 0, optional
        Soft-cap of the logits, ``softcap * tanh(z / softcap)``, applied before everything else.
    return_grad : bool, default False
        Also return ``(d_hidden, d_weight, d_bias)``, the gradients of the value (of its sum for "none").
    max_memory : int, optional
        Bytes the working buffers may take (default 256 MiB); the tile shape is derived from it.  Inputs
        and outputs are not counted.  A budget that cannot hold 4 rows × 16 classes raises ValueError.

    Returns
    -------
    value : ndarray
        0-d for "mean" and "sum", labels' shape for "none".
    (d_hidden, d_weight, d_bias) : tuple of ndarray, only with ``return_grad=True``
        Shapes of ``hidden``, ``weight`` and ``bias``; ``d_bias`` is None without a bias.

    Notes
    -----
    Dtypes: everything is computed and returned in float64 when any of ``hidden``, ``weight``, ``bias`` is
    float64, and in float32 otherwise.  float16 and bfloat16 operands are cast to float32 one tile at a
    time (NumPy's BLAS has no half-precision matmul) and the results are float32: the value and ``d_hidden``
    sum over the vocabulary, which half precision cannot hold to useful accuracy.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.lm import linear_cross_entropy
    >>> hidden = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> weight = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    >>> labels = np.array([0, 1, -100])
    >>> print(f"{linear_cross_entropy(hidden, weight, labels):.6f}")
    0.543938
    >>> loss, (d_hidden, d_weight, d_bias) = linear_cross_entropy(hidden, weight, labels, return_grad=True)
    >>> print(np.round(d_hidden, 4))
    [[-0.17    0.17  ]
     [ 0.1062 -0.1062]
     [ 0.      0.    ]]
    >>> d_bias is None
    True
    """
    h = _float_operand(hidden, "hidden")
    w = _float_operand(weight, "weight")
    b = None if bias is None else _float_operand(bias, "bias")
    if h.ndim < 1:
        raise ValueError("hidden must have at least one axis (the hidden size d), got a 0-d array")
    if w.ndim != 2:
        raise ValueError(f"weight must be 2-d (V classes, d), got shape {w.shape}")
    v, d = w.shape
    if h.shape[-1] != d:
        raise ValueError(
            f"hidden's last axis ({h.shape[-1]}) must equal weight's second axis (d = {d}); "
            f"got hidden {h.shape} and weight {w.shape}"
        )
    if v == 0:
        raise ValueError("weight must have at least one row (class), got shape (0, d)")
    if b is not None and b.shape != (v,):
        raise ValueError(f"bias must have shape ({v},) (one per row of weight), got {b.shape}")
    ignore_index, smoothing, z_loss, softcap, max_memory = _check_options(
        reduction, label_smoothing, z_loss, softcap, ignore_index, max_memory
    )
    y = _int_labels(labels, h.shape[:-1])
    valid = y != ignore_index
    bad = valid & ((y < 0) | (y >= v))
    if bad.any():
        raise IndexError(
            f"labels contains {int(y[bad][0])}, outside the class range [0, {v}) of weight "
            f"(and not ignore_index={ignore_index})"
        )

    dtype = _compute_dtype(h, w, b)
    h2 = h.reshape(-1, d)
    n = h2.shape[0]
    rows_valid = np.flatnonzero(valid)
    n_valid = rows_valid.size
    losses = np.zeros(n, dtype)
    grads = None
    if return_grad:
        grads = (np.zeros((n, d), dtype), np.zeros((v, d), dtype), None if b is None else np.zeros(v, dtype))
    if n_valid:
        scale = 1.0 / n_valid if reduction == "mean" else 1.0  # d value / d (loss of one token)
        with _row_kernels_serial():
            _run(
                h2,
                w,
                b,
                y,
                None if n_valid == n else rows_valid,
                losses,
                grads,
                dtype=dtype,
                scale=scale,
                smoothing=smoothing,
                z_loss=z_loss,
                softcap=softcap,
                max_memory=max_memory,
            )
    if reduction == "none":
        value = losses.reshape(y.shape if h.ndim == 1 else h.shape[:-1])
    else:
        value = np.sum(losses, dtype=dtype)
        if reduction == "mean":
            value = value / dtype.type(max(n_valid, 1))
        value = np.asarray(value, dtype)[()]
    if not return_grad:
        return value
    d_hidden, d_weight, d_bias = grads
    return value, (d_hidden.reshape(h.shape), d_weight, d_bias)


# ---- threads -----------------------------------------------------------------------------------------------
@contextmanager
def _row_kernels_serial():
    """Run this package's row kernels on the calling thread while the tiles are swept.

    Between BLAS calls, an OpenMP team of the row kernels and the BLAS threads (which spin for a while after
    each call) would fight for the same cores; the matmuls carry the parallel work here.  The mark is this
    thread's own: other threads' calls and the user's ``set_num_threads`` setting are not touched."""
    _kernels._serial_begin()
    try:
        yield
    finally:
        _kernels._serial_end()


# ---- the tile sweep -------------------------------------------------------------------------------------
class _Tiles:
    """Reused buffers and the operations on one tile: logits of rows × a vocabulary chunk, capped."""

    def __init__(self, w, b, dtype, plan, d, softcap, grad, copy_weight):
        self.w, self.dtype, self.softcap = w, dtype, softcap
        self.b = None if b is None else b.astype(dtype, copy=False)
        self.cols = plan.cols
        size = plan.rows * plan.cols
        self.z = np.empty(size, dtype)
        self.g = np.empty(size, dtype) if (grad and softcap is not None) else None
        self.wbuf = np.empty((plan.cols, d), dtype) if copy_weight else None

    def weight(self, v0, v1):
        if self.wbuf is None:
            return self.w[v0:v1]
        out = self.wbuf[: v1 - v0]
        np.copyto(out, self.w[v0:v1], casting="unsafe")
        return out

    def logits(self, hb, wc, v0, v1):
        """Capped logits of the rows ``hb`` for classes [v0, v1), in the reused buffer."""
        z = self.z[: hb.shape[0] * (v1 - v0)].reshape(hb.shape[0], v1 - v0)
        np.matmul(hb, wc.T, out=z)
        if self.b is not None:
            z += self.b[v0:v1]
        if self.softcap is not None:
            z /= self.softcap
            np.tanh(z, out=z)
            z *= self.softcap
        return z

    def grad_buffer(self, z):
        return z if self.g is None else self.g[: z.size].reshape(z.shape)

    def chain_softcap(self, z, g):
        """g *= d capped / d raw = 1 - (capped / softcap)**2 (consumes z)."""
        if self.softcap is not None:
            z /= self.softcap
            np.square(z, out=z)
            np.subtract(1.0, z, out=z)
            g *= z


def _run(h2, w, b, y, rows_valid, losses, grads, *, dtype, scale, smoothing, z_loss, softcap, max_memory):
    """Fill ``losses`` (per token) and accumulate ``grads`` over tiles of the valid rows."""
    n_rows = h2.shape[0] if rows_valid is None else rows_valid.size
    v, d = w.shape
    grad = grads is not None
    gather = rows_valid is not None  # some tokens are ignored: only the others are computed
    copy_hidden = gather or h2.dtype != dtype or not _blas_ready(h2)
    copy_weight = w.dtype != dtype or not _blas_ready(w)
    plan = _plan(
        n_rows,
        v,
        d,
        max_memory,
        itemsize=dtype.itemsize,
        grad=grad,
        tiles=2 if (grad and softcap is not None) else 1,
        copy_hidden=copy_hidden,
        copy_weight=copy_weight,
        gather=gather,
        hidden_itemsize=h2.dtype.itemsize,
        slice_bytes=_slice_bytes(max_memory),
    )
    tiles = _Tiles(w, b, dtype, plan, d, softcap, grad, copy_weight)
    hbuf = np.empty((plan.rows, d), dtype) if copy_hidden else None
    chunks = [(v0, min(v0 + plan.cols, v)) for v0 in range(0, v, plan.cols)]
    one_chunk = len(chunks) == 1
    dh_acc = np.empty((plan.rows, d), dtype) if (grad and gather) else None
    dh_buf = np.empty((plan.rows, d), dtype) if (grad and not one_chunk) else None
    dw_rows = _d_weight_rows(plan.cols, d, dtype.itemsize, _slice_bytes(max_memory))
    dw_buf = np.empty((dw_rows, d), dtype) if (grad and plan.rows < n_rows) else None
    eps_v = dtype.type(smoothing / v)
    keep = dtype.type(1.0 - smoothing)

    with np.errstate(under="ignore"):  # exp of far-below-max logits underflows to 0 by design
        for p0 in range(0, n_rows, plan.rows):
            p1 = min(p0 + plan.rows, n_rows)
            r = p1 - p0
            idx = slice(p0, p1) if rows_valid is None else rows_valid[p0:p1]
            if hbuf is None:
                hb = h2[idx]
            else:
                hb = hbuf[:r]
                np.copyto(hb, h2[idx], casting="unsafe")
            yb = y[idx]

            # sweep 1: online log-sum-exp, label logit and logit sum per row across the chunks
            lse = None
            z_label = np.zeros(r, dtype)
            z_sum = np.zeros(r, dtype) if smoothing else None
            chunk_lse = np.empty((len(chunks), r), dtype)
            for k, (v0, v1) in enumerate(chunks):
                wc = tiles.weight(v0, v1)
                z = tiles.logits(hb, wc, v0, v1)
                logsumexp(z, out=chunk_lse[k])
                lse = chunk_lse[k].copy() if k == 0 else np.logaddexp(lse, chunk_lse[k])
                inside = np.flatnonzero((yb >= v0) & (yb < v1))
                z_label[inside] = z[inside, yb[inside] - v0]
                if smoothing:
                    z_sum += z.sum(axis=1)
            loss = lse - z_label  # the nll first: exactly 0 where the label holds all the mass
            if smoothing:
                loss *= keep
                loss += dtype.type(smoothing) * (lse - z_sum / dtype.type(v))
            if z_loss:
                loss += dtype.type(z_loss) * lse * lse
            losses[idx] = loss
            if not grad:
                continue

            # sweep 2: G = scale * (p * (1 + 2 z_loss lse) - keep * onehot - eps / V), times the soft-cap's slope;
            # one chunk: the logits are still in the buffer; several: each chunk's logits are recomputed
            d_hidden, d_weight, d_bias = grads
            s_ = dtype.type(scale)
            lse2 = dtype.type(2 * z_loss) * lse if z_loss else None  # d (z_loss lse**2) / d lse
            dh = d_hidden[idx] if not gather else dh_acc[:r]
            for k, (v0, v1) in enumerate(chunks):
                if not one_chunk:
                    wc = tiles.weight(v0, v1)
                    z = tiles.logits(hb, wc, v0, v1)
                g = tiles.grad_buffer(z)
                softmax(z, out=g)
                if one_chunk:
                    g *= s_
                else:  # chunk softmax -> softmax over the whole row
                    empty = np.isneginf(chunk_lse[k])
                    g *= (s_ * np.exp(np.where(empty, 0, chunk_lse[k] - lse)))[:, None]
                    if empty.any():  # every logit of the chunk is -inf: its probabilities are 0
                        g[empty] = 0
                inside = np.flatnonzero((yb >= v0) & (yb < v1))
                cols = yb[inside] - v0
                sp_label = g[inside, cols]  # scale * p[label]
                if z_loss:
                    g *= (1 + lse2)[:, None]
                if smoothing:
                    g -= s_ * eps_v
                # the label's entry as scale * ((p - target) + 2 z_loss lse p): no cancellation when p ~ 1
                at_label = sp_label - s_ * (keep + eps_v)
                if z_loss:
                    at_label += lse2[inside] * sp_label
                g[inside, cols] = at_label
                tiles.chain_softcap(z, g)
                if d_bias is not None:
                    d_bias[v0:v1] += g.sum(axis=0)
                _add_d_weight(d_weight, g, hb, v0, v1, first=p0 == 0, buf=dw_buf)
                if k == 0:
                    np.matmul(g, wc, out=dh)
                else:
                    np.matmul(g, wc, out=dh_buf[:r])
                    dh += dh_buf[:r]
            if gather:
                d_hidden[idx] = dh


def _add_d_weight(d_weight, g, hb, v0, v1, *, first, buf):
    """d_weight[v0:v1] (+)= g.T @ hb: written directly by the first row block, added through ``buf`` after."""
    if first:
        np.matmul(g.T, hb, out=d_weight[v0:v1])
        return
    step = buf.shape[0]
    for a in range(0, v1 - v0, step):
        c = min(a + step, v1 - v0)
        part = buf[: c - a]
        np.matmul(g[:, a:c].T, hb, out=part)
        d_weight[v0 + a : v0 + c] += part
