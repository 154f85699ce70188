"""Language-model cross-entropy with Liger-Kernel's ``LigerCrossEntropyLoss`` semantics, on NumPy arrays.

Per valid token (label != ignore_index), with x' = softcap * tanh(x / softcap) (x' = x without softcap),
lse = log sum_j exp(x'_j), V classes and eps = label_smoothing::

    loss = (1 - eps) * (lse - x'_label) + eps * (lse - mean_j x'_j) + z_loss * lse**2

that is torch's label smoothing (``F.cross_entropy(..., label_smoothing=eps)``) of the capped logits plus
PaLM's z-loss (Liger's ``lse_square_scale``).  Ignored tokens contribute 0.  Reductions: "mean" divides the
sum by the number of valid tokens (every token ignored gives 0, not NaN), "sum", "none".

The gradient (``return_grad=True``) is d value / d logits through all of it, computed in the same kernel
call as the value:

    d loss / d x_j = ((1 + 2 z_loss lse) softmax(x')_j - (1 - eps) [j == label] - eps / V) * (1 - (x'_j / softcap)**2)

times 1 / (valid tokens) for "mean"; 0 for ignored tokens.  Not reproduced from Liger: its class ``weight``
(not part of this API), and its behaviour on out-of-range labels (an assertion there, IndexError here).
"""

import numpy as np

from crossentropy.lm._inputs import nonnegative, prepare, result_dtype, run_cross_entropy, softcap_value

__all__ = ["cross_entropy"]

_REDUCTIONS = ("mean", "sum", "none")


def cross_entropy(
    logits,
    labels,
    *,
    ignore_index=-100,
    reduction="mean",
    label_smoothing=0.0,
    z_loss=0.0,
    softcap=None,
    return_grad=False,
):
    """Cross-entropy of language-model logits with z-loss, soft-capping and label smoothing (Liger semantics).

    Parameters
    ----------
    logits : array_like, (..., V)
        Unnormalised scores, class axis last; float16, bfloat16 (``ml_dtypes``), float32 or float64.
    labels : array_like of int, (...)
        Class indices.
    ignore_index : int, optional
        Tokens with this label add nothing to the loss, the count of "mean" or the gradient.
    reduction : {"mean", "sum", "none"}, optional
        "mean" over the valid tokens (0 when every token is ignored), "sum", or "none" (per token, the
        labels' shape).
    label_smoothing : float in [0, 1], optional
        torch's label smoothing: the target is (1 - eps) onehot + eps / V.
    z_loss : float >= 0, optional
        Adds ``z_loss * lse**2`` per valid token (PaLM's z-loss; Liger's ``lse_square_scale``).
    softcap : float > 0, optional
        Replace the logits by ``softcap * tanh(logits / softcap)`` first (Gemma 2's soft-capping).
    return_grad : bool, optional
        Also return d value / d logits (for "none": d sum(value) / d logits).

    Returns
    -------
    value : numpy scalar or numpy.ndarray
        float64 for float64 logits, float32 otherwise; the labels' shape for "none".
    grad : numpy.ndarray, only with ``return_grad=True``
        The logits' shape and dtype.

    Raises
    ------
    IndexError
        A label outside [0, V) that is not ``ignore_index``.
    ValueError, TypeError
        A bad ``reduction``, ``label_smoothing`` outside [0, 1], negative ``z_loss``, ``softcap`` <= 0,
        mismatched shapes, non-integer labels.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.lm import cross_entropy
    >>> logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    >>> print(f"{cross_entropy(logits, np.array([0, 2])):.4f}")
    0.2513
    >>> value, grad = cross_entropy(logits, np.array([0, -100]), z_loss=1e-4, softcap=30.0, return_grad=True)
    >>> print(f"{value:.4f}", np.round(grad, 4))
    0.4091 [[-0.3336  0.245   0.0903]
     [ 0.      0.      0.    ]]
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    eps = nonnegative(label_smoothing, "label_smoothing", 1.0)
    zl = nonnegative(z_loss, "z_loss")
    cap = softcap_value(softcap)
    x, lab, ignore = prepare(logits, labels, -1, ignore_index)
    dt = result_dtype(x)
    valid = int(np.count_nonzero(lab != ignore))
    scale = 1.0 / valid if reduction == "mean" and valid else 1.0
    loss = np.empty(lab.shape, dt)
    grad = np.empty(x.shape, x.dtype) if return_grad else None
    if x.shape[-1] == 0 or lab.size == 0:  # nothing to read: every label ignored (checked) or no tokens
        loss.fill(0)
        if grad is not None:
            grad.fill(0)
    else:
        run_cross_entropy(x, lab, ignore, cap, eps, zl, loss, grad, scale)
    if reduction == "none":
        value = loss
    else:
        total = np.sum(loss, dtype=np.float64)
        value = dt.type(total / valid if reduction == "mean" and valid else total)
    return (value, grad) if return_grad else value
