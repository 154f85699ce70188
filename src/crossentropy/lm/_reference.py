"""Slow float64 NumPy twins of ``crossentropy.lm``, written for clarity, not speed (tests and benchmarks).

Class axis last; everything in float64.  They state the conventions the kernels follow:

* soft-capping first: every statistic is of ``softcap * tanh(x / softcap)``;
* a row whose max is not finite (all -inf, a +inf or a NaN entry) has lse as ``logsumexp`` says (-inf, +inf,
  NaN) and NaN nll and entropy; -inf entries of an otherwise finite row have probability 0 and add 0 to the
  entropy (0 log 0 = 0);
* ignored tokens (label == ignore_index): nll 0, rank -1, lse and entropy still computed;
* labels outside [0, V) that are not ignored: nll NaN, rank -1 (the Python API raises IndexError first).
"""

import numpy as np

from crossentropy import _reference as base


def capped(x, softcap):
    """``softcap * tanh(x / softcap)`` in float64 (x unchanged when softcap is None)."""
    x = np.asarray(x, dtype=np.float64)
    return x if softcap is None else softcap * np.tanh(x / softcap)


def _label_parts(x, labels, ignore_index):
    labels = np.asarray(labels, dtype=np.int64)
    n = x.shape[-1]
    ignored = labels == ignore_index
    in_range = (labels >= 0) & (labels < n) & ~ignored
    safe = np.where(in_range, labels, 0)
    picked = np.take_along_axis(x, safe[..., None], axis=-1)[..., 0] if n else np.zeros(labels.shape)
    return labels, ignored, in_range, picked


def token_stats(logits, labels, ignore_index=-100, softcap=None):
    """(nll, lse, entropy, rank, valid) of each row, as crossentropy.lm.token_stats defines them."""
    x = capped(logits, softcap)
    labels, ignored, in_range, picked = _label_parts(x, labels, ignore_index)
    with np.errstate(all="ignore"):
        lse = base.logsumexp(x)
        ok = np.isfinite(lse)
        shift = np.where(ok, lse, 0.0)[..., None]
        logp = x - shift
        p = np.exp(logp)
        # -p log p with 0 log 0 = 0: an entry of probability 0 (a -inf logit) adds nothing
        entropy = np.sum(np.where(p > 0, -p * logp, 0.0), axis=-1)
        entropy = np.where(ok, entropy, np.nan)
        nll = np.where(ok, lse - picked, np.nan)
        rank = np.sum(x > picked[..., None], axis=-1).astype(np.int64)
    nll = np.where(in_range, nll, np.where(ignored, 0.0, np.nan))
    rank = np.where(in_range, rank, -1)
    return nll, lse, entropy, rank, ~ignored


def perplexity(logits, labels, ignore_index=-100, per_sequence=False):
    """exp(mean nll over valid tokens), of the batch or of each sequence of (B, T, V) logits."""
    nll, _, _, _, valid = token_stats(logits, labels, ignore_index)
    axis = -1 if per_sequence else None
    with np.errstate(all="ignore"):
        return np.exp(np.sum(np.where(valid, nll, 0.0), axis=axis) / np.sum(valid, axis=axis))


def cross_entropy_terms(logits, labels, ignore_index=-100, label_smoothing=0.0, z_loss=0.0, softcap=None):
    """Per-token Liger loss (0 at ignored tokens) and its gradient with respect to ``logits``.

    loss = (1 - eps) (lse - x'_y) + eps (lse - mean_j x'_j) + z_loss lse**2 with x' the capped logits;
    d loss / d x_j = ((1 + 2 z_loss lse) p_j - (1 - eps) [j == y] - eps / V) (1 - (x'_j / softcap)**2).
    """
    x0 = np.asarray(logits, dtype=np.float64)
    x = capped(x0, softcap)
    n = x.shape[-1]
    labels, ignored, in_range, picked = _label_parts(x, labels, ignore_index)
    eps = float(label_smoothing)
    with np.errstate(all="ignore"):
        lse = base.logsumexp(x)
        loss = (1 - eps) * (lse - picked) + z_loss * lse**2
        if eps > 0:  # the smoothing term only when smoothing: 0 * (an infinite mean of masked logits) is 0
            loss = loss + eps * (lse - np.mean(x, axis=-1))
        p = base.softmax(x)
        onehot = np.arange(n) == np.where(in_range, labels, -1)[..., None]
        g = (1 + 2 * z_loss * lse)[..., None] * p - (1 - eps) * onehot - eps / n
        if softcap is not None:
            g = g * (1 - np.tanh(x0 / softcap) ** 2)
    loss = np.where(in_range, loss, np.where(ignored, 0.0, np.nan))
    g = np.where(in_range[..., None], g, np.where(ignored[..., None], 0.0, np.nan))
    return loss, g


def cross_entropy(logits, labels, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0, softcap=None):
    """(value, grad) of crossentropy.lm.cross_entropy; grad = d value / d logits."""
    loss, g = cross_entropy_terms(logits, labels, ignore_index, label_smoothing, z_loss, softcap)
    if reduction == "none":
        return loss, g
    if reduction == "sum":
        return np.sum(loss), g
    count = np.sum(np.asarray(labels) != ignore_index)
    if count == 0:
        return np.float64(0.0), np.zeros_like(g)
    return np.sum(loss) / count, g / count
