"""Views that put the class axis last and cut arrays into 2-D (rows, classes) blocks without copying.

The kernels take any strides, so a layer never copies N x C data: when the leading axes cannot be merged
into one row axis (e.g. torch's (N, C, d1, d2) with the class axis moved last), the arrays are walked
block by block along the first axis instead.
"""

import math

import numpy as np


def class_last(a, axis):
    """A view of ``a`` with ``axis`` moved to the end."""
    return np.moveaxis(a, axis, -1)


def _as_rows(a):
    """(rows, C) view of ``a`` (class axis last), or None when merging the leading axes needs a copy."""
    if a.ndim == 2:
        return a
    view = a.view()
    try:
        # the row count spelled out: -1 is ambiguous (ValueError) when there are no classes (C = 0)
        view.shape = (math.prod(a.shape[:-1]), a.shape[-1]) if a.ndim else (1, 1)
    except AttributeError:
        return None
    return view


def row_blocks(*arrays):
    """Yield tuples of 2-D views, one per array, covering all rows of arrays that share their leading
    shape; arrays are (..., C) or, for per-row values, (...,) and come back as (rows, C) or (rows,).
    ``None`` entries pass through as ``None``."""
    present = [a for a in arrays if a is not None]
    lead = present[0].shape[:-1] if present[0].ndim else ()
    rows_ndim = len(lead)
    if rows_ndim == 0:  # a single row
        yield tuple(None if a is None else (a[np.newaxis] if a.ndim >= 1 else a.reshape(1)) for a in arrays)
        return
    views = []
    for a in arrays:
        if a is None:
            views.append(None)
            continue
        if a.ndim == rows_ndim:  # per-row values: add a fake class axis to merge the same way
            v = _as_rows(a[..., np.newaxis])
            views.append(None if v is None else v[:, 0])
        else:
            views.append(_as_rows(a))
    if all(v is not None for v, a in zip(views, arrays, strict=False) if a is not None):
        yield tuple(views)
        return
    for i in range(lead[0]):
        yield from row_blocks(*(None if a is None else a[i] for a in arrays))
