"""Per-token statistics of a language model's logits, from one read of each row, and perplexity."""

from typing import NamedTuple

import numpy as np

from crossentropy.lm._inputs import prepare, result_dtype, run_token_stats, softcap_value

__all__ = ["TokenStats", "token_stats", "perplexity"]


class TokenStats(NamedTuple):
    """The statistics of each token (each has the batch shape: the logits without the class axis)."""

    nll: np.ndarray  #: lse - logit of the label (0 where ignored)
    lse: np.ndarray  #: log sum exp of the row
    entropy: np.ndarray  #: -sum p log p of the softmax of the row
    rank: np.ndarray  #: classes whose logit is strictly greater than the label's (-1 where ignored)
    valid: np.ndarray  #: label != ignore_index


def token_stats(logits, labels, *, ignore_index=-100, axis=-1, softcap=None):
    """Negative log-likelihood, log-sum-exp, entropy and rank of every token, from one read of each row.

    Parameters
    ----------
    logits : array_like, (..., V) (the class axis is ``axis``)
        Unnormalised scores; float16, bfloat16 (``ml_dtypes``), float32 or float64 are read without a copy.
    labels : array_like of int
        Class indices, the shape of ``logits`` without ``axis``.
    ignore_index : int, optional
        Tokens with this label are not scored: nll 0 and rank -1 (lse and entropy are still computed).
    axis : int, optional
        The class axis of ``logits``.
    softcap : float, optional
        When given, every statistic is of the capped logits ``softcap * tanh(logits / softcap)``.

    Returns
    -------
    TokenStats
        ``nll`` = lse - logits[label]; ``lse`` = log sum exp(logits); ``entropy`` = -sum p log p (never
        negative); ``rank`` (int64) = how many classes have a logit strictly greater than the label's, so
        ``rank == 0`` is a greedy hit and ``rank < k`` a top-k hit; ``valid`` (bool) = label != ignore_index.
        Float results are float64 for float64 logits, float32 otherwise.

    Raises
    ------
    IndexError
        A label outside [0, V) that is not ``ignore_index``.
    ValueError, TypeError
        Mismatched shapes, non-integer labels, ``softcap`` <= 0.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.lm import token_stats
    >>> logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    >>> st = token_stats(logits, np.array([1, -100]))
    >>> print(np.round(st.nll, 4), np.round(st.entropy, 4), st.rank, st.valid)
    [1.4076 0.    ] [0.8324 0.3666] [ 1 -1] [ True False]
    """
    cap = softcap_value(softcap)
    x, lab, ignore = prepare(logits, labels, axis, ignore_index)
    dt = result_dtype(x)
    shape = lab.shape
    nll, lse, entropy = (np.empty(shape, dt) for _ in range(3))
    rank = np.empty(shape, np.int64)
    if x.shape[-1] == 0 and lab.size:  # no classes: every label is ignored (checked), nothing to read
        lse.fill(-np.inf)
        entropy.fill(np.nan)
        nll.fill(0)
        rank.fill(-1)
    elif lab.size:
        run_token_stats(x, lab, ignore, cap, nll, lse, entropy, rank)
    return TokenStats(nll, lse, entropy, rank, lab != ignore)


def perplexity(logits, labels, *, ignore_index=-100, axis=-1, per_sequence=False):
    """Perplexity: exp of the mean negative log-likelihood over the valid tokens (torchmetrics' ``Perplexity``).

    Parameters
    ----------
    logits : array_like, (..., V)
        Unnormalised scores (the class axis is ``axis``); with ``per_sequence=True`` (B, T, V).
    labels : array_like of int
        Class indices, the shape of ``logits`` without ``axis``.
    ignore_index : int, optional
        Tokens with this label are left out of the mean.
    axis : int, optional
        The class axis of ``logits``.
    per_sequence : bool, optional
        Give one perplexity per sequence (shape (B,)) instead of one for the batch.

    Returns
    -------
    numpy.float64 or numpy.ndarray of float64
        The batch's perplexity, or each sequence's; NaN where no token is valid (0 / 0, as torchmetrics).
        Log-likelihoods are summed in float64 whatever the logits' dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.lm import perplexity
    >>> logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]]]))
    >>> print(f"{perplexity(logits, np.array([[0, 1]])):.4f}")
    2.0000
    >>> print(np.round(perplexity(logits, np.array([[0, -100]]), per_sequence=True), 4))
    [2.]
    """
    st = token_stats(logits, labels, ignore_index=ignore_index, axis=axis)
    if per_sequence and st.nll.ndim != 2:
        raise ValueError(f"per_sequence=True needs (B, T, V) logits, got logits with {st.nll.ndim + 1} dimensions")
    over = -1 if per_sequence else None
    total = np.sum(st.nll, axis=over, dtype=np.float64)  # ignored tokens hold nll 0
    count = np.sum(st.valid, axis=over)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.exp(total / count)
