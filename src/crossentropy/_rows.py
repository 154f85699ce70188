"""The one N-d -> rows driver of the framework layers: every layer's kernel call goes through :func:`run_rows`.

It moves the class axis last (views), allocates the outputs, walks the arrays in 2-D row blocks
(:func:`crossentropy._layout.row_blocks`: one block when the leading axes merge, else one per leading index),
calls the row kernel on each block and sums the flag counts the kernel returns.  Nothing of size N x C is
copied or allocated besides the gradient itself.
"""

import numpy as np

from crossentropy import _kernels
from crossentropy._layout import class_last, row_blocks

# the row kernels by family: softmax (logits), prob (probabilities, Keras' rescale and clip), binary (element-wise)
KERNELS = {
    "softmax": _kernels.softmax_xent_rows,
    "prob": _kernels.prob_xent_rows,
    "binary": _kernels.binary_xent_rows,
}


def _call(kernel, x, loss, operands):
    """The only place a row kernel is called: ``kernel(x, loss, **operands)``; returns its flag counts."""
    return kernel(x, loss, **operands)


def run_rows(
    family,
    x,
    *,
    axis=-1,
    t=None,
    labels=None,
    row_scale=None,
    elementwise=None,
    per_element_loss=False,
    return_grad=False,
    grad_dtype=None,
    **params,
):
    """Run a row kernel over every row of ``x`` along class axis ``axis``.

    Parameters
    ----------
    family : {"softmax", "prob", "binary"}
        Which row kernel (:data:`KERNELS`).
    x : ndarray
        Predictions, native float32/float64 (any strides); ``axis`` is the class axis.  A 0-d ``x`` is one row
        of one element.
    axis : int
        The class axis of ``x`` (and of ``t``, ``elementwise`` and the gradient).
    t : ndarray, optional
        Targets of ``x``'s shape (dense targets; the binary kernels' ``z``).
    labels : ndarray, optional
        Integer labels of ``x``'s shape without ``axis``.
    row_scale : ndarray, optional
        One gradient weight per row (``x``'s shape without ``axis``).
    elementwise : dict of str to ndarray, optional
        Further operands of ``x``'s shape, passed to the kernel under their names (``weight``, ``pos_weight``).
    per_element_loss : bool
        The kernel writes one loss per element (``x``'s shape) instead of one per row.
    return_grad : bool
        Allocate and fill the gradient (``x``'s shape and dtype).
    **params
        The kernel's scalar keywords, passed through unchanged.

    Returns
    -------
    loss : ndarray
        Per-row losses (``x``'s shape without ``axis``) or per-element losses (``x``'s shape).
    grad : ndarray or None
        The gradient, or None without ``return_grad``.
    counts : dict of str to int
        The kernel's flag counts summed over all blocks (``bad_label``, ``out_of_unit``, ``not_normalised``).
    """
    kernel = KERNELS[family]
    shape = x.shape
    if x.ndim == 0:  # one row of one element; reshape views keep the operands uncopied
        x, t = x.reshape(1), None if t is None else t.reshape(1)
        elementwise = {k: None if v is None else v.reshape(1) for k, v in (elementwise or {}).items()}
        axis = -1
    axis = axis % x.ndim
    last = (lambda a: a) if axis == x.ndim - 1 else (lambda a: class_last(a, axis))
    # losses of half inputs are float32 (the kernels compute in float32; the layers round the result once)
    loss_full = np.empty(
        x.shape if per_element_loss else x.shape[:axis] + x.shape[axis + 1 :], _kernels.row_dtype(x.dtype)
    )
    # grad_dtype: float32 gradients of half x (the half kernels write them directly, at float32 accuracy)
    grad = np.empty(x.shape, grad_dtype or x.dtype) if return_grad else None
    names = ["x", "loss", "t", "labels", "row_scale", "grad"]
    arrays = [
        last(x),
        last(loss_full) if per_element_loss else loss_full,
        None if t is None else last(t),
        labels,
        row_scale,
        None if grad is None else last(grad),
    ]
    for name, a in (elementwise or {}).items():
        names.append(name)
        arrays.append(None if a is None else last(a))
    counts = {}
    for blocks in row_blocks(*arrays):
        xb, lossb, *rest = blocks
        operands = {name: b for name, b in zip(names[2:], rest, strict=True) if b is not None}
        operands.update(params)
        for key, n in _call(kernel, xb, lossb, operands).items():
            counts[key] = counts.get(key, 0) + n
    if per_element_loss:
        loss_full = loss_full.reshape(shape)
    elif len(shape) == 0:
        loss_full = loss_full.reshape(())
    if grad is not None:
        grad = grad.reshape(shape)
    return loss_full, grad, counts
