"""Slow float64 NumPy twins of every gufunc, written for clarity, not speed (tests and benchmarks use them
through crossentropy._registry, which binds each gufunc to the function of the same name here).

Each takes the class axis last and returns float64.  They follow the kernels' documented conventions:
zero targets contribute 0 even at -inf logits, a row whose max is not finite gives NaN (logsumexp: -inf
for an empty or all -inf row, +inf with a +inf entry), labels outside [0, n) give NaN.
"""

import numpy as np


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def logsumexp(x):
    x = _f64(x)
    if x.shape[-1] == 0:
        return np.full(x.shape[:-1], -np.inf)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=-1, keepdims=True)
        finite = np.isfinite(m)
        shifted = np.where(finite, x - np.where(finite, m, 0), 0)
        e = np.exp(shifted)
        is_top = shifted == 0
        rest = np.sum(np.where(is_top, 0.0, e), axis=-1)
        cnt = np.sum(is_top, axis=-1)
        out = m[..., 0] + np.log1p(rest + (cnt - 1))
        nonfinite = ~finite[..., 0]
        has_nan = np.isnan(x).any(axis=-1)
        out = np.where(nonfinite, np.where(has_nan, np.nan, m[..., 0]), out)
        return np.where(has_nan, np.nan, out)


def log_softmax(x):
    x = _f64(x)
    with np.errstate(all="ignore"):
        lse = logsumexp(x)[..., None]
        bad = ~np.isfinite(lse)
        return np.where(bad, np.nan, x - np.where(bad, 0, lse))


def softmax(x):
    x = _f64(x)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=-1, keepdims=True) if x.shape[-1] else np.zeros(x.shape[:-1] + (1,))
        e = np.exp(x - m)
        out = e / np.sum(e, axis=-1, keepdims=True)
        return np.where(np.isfinite(m) & ~np.isnan(x).any(axis=-1, keepdims=True), out, np.nan)


def softmax_cross_entropy(logits, labels):
    logits, labels = _f64(logits), _f64(labels)
    with np.errstate(all="ignore"):
        ls = log_softmax(logits)
        terms = np.where(labels == 0, 0.0, -labels * ls)
        out = np.sum(terms, axis=-1)
        if logits.shape[-1] == 0:
            return out
        bad_row = ~np.isfinite(np.max(logits, axis=-1)) | np.isnan(logits).any(axis=-1)
        return np.where(bad_row, np.nan, out)


def softmax_cross_entropy_grad(logits, labels):
    logits, labels = _f64(logits), _f64(labels)
    with np.errstate(all="ignore"):
        return softmax(logits) * np.sum(labels, axis=-1, keepdims=True) - labels


def sparse_softmax_cross_entropy(logits, label):
    logits = _f64(logits)
    label = np.asarray(label)
    n = logits.shape[-1]
    valid = (label >= 0) & (label < n)
    idx = np.where(valid, label, 0)[..., None]
    with np.errstate(all="ignore"):
        picked = np.take_along_axis(log_softmax(logits), idx, axis=-1)[..., 0]
    return np.where(valid, -picked, np.nan)


def sparse_softmax_cross_entropy_grad(logits, label):
    logits = _f64(logits)
    label = np.asarray(label)
    n = logits.shape[-1]
    valid = (label >= 0) & (label < n)
    onehot = np.arange(n) == np.where(valid, label, -1)[..., None]
    with np.errstate(all="ignore"):
        g = softmax(logits) - onehot
    return np.where(valid[..., None], g, np.nan)


def sigmoid_cross_entropy(logits, labels):
    x, z = _f64(logits), _f64(labels)
    with np.errstate(all="ignore"):
        return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


def sigmoid_cross_entropy_grad(logits, labels):
    x, z = _f64(logits), _f64(labels)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        sig = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return sig - z


# ---- the fused kernels' twins: (loss, grad), bound to the gufunc of the same name by crossentropy._registry
def softmax_cross_entropy_and_grad(logits, labels):
    return softmax_cross_entropy(logits, labels), softmax_cross_entropy_grad(logits, labels)


def sparse_softmax_cross_entropy_and_grad(logits, label):
    return sparse_softmax_cross_entropy(logits, label), sparse_softmax_cross_entropy_grad(logits, label)


def sigmoid_cross_entropy_and_grad(logits, labels):
    return sigmoid_cross_entropy(logits, labels), sigmoid_cross_entropy_grad(logits, labels)
