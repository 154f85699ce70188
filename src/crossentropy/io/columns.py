"""Columns of Arrow, pandas and polars as NumPy arrays, without a copy where the memory layout allows.

A prediction column holds one row of class scores per sample: a ``fixed_size_list<float>`` column, a
``fixed_shape_tensor`` column, or a ``list<float>`` column whose lists all have the same length.  Each becomes an
(n, C) (or (n, *shape)) view of the Arrow buffer: ``fixed_size_list`` through ``flatten()`` (which honours
slice offsets, unlike ``.values``), ``list`` after checking its offsets are evenly spaced.  A label column of
integers or floats becomes a 1-D view.  Objects reach pyarrow through the Arrow PyCapsule interface
(``__arrow_c_array__`` / ``__arrow_c_stream__``), so pandas, polars, DuckDB, ... columns all work.

Copies, each for a stated reason: a pandas ``object`` column of per-row arrays (every row is a separate
allocation), Arrow ``bool`` columns (bit-packed), and Arrow arrays of several chunks asked for as ONE array
(``to_ndarray``); ``aligned_blocks`` avoids the last by walking chunk boundaries instead.

Errors (``ValueError``/``TypeError``) are one line naming the column and, for nulls and ragged lists, the
first bad row.
"""

import numpy as np

__all__ = ["to_ndarray", "aligned_blocks", "require_pyarrow", "ARROW_HINT"]

ARROW_HINT = "pip install crossentropy[arrow]"


def require_pyarrow(what="Arrow input"):
    """Import and return pyarrow, or raise ImportError with a one-line install hint."""
    try:
        import pyarrow
    except ImportError:
        raise ImportError(f"{what} needs pyarrow, which is not installed: {ARROW_HINT}") from None
    return pyarrow


def _is_arrow(x):
    mod = type(x).__module__ or ""
    return mod.startswith("pyarrow")


def _is_pandas(x):
    return (type(x).__module__ or "").startswith("pandas")


def _is_polars(x):
    return (type(x).__module__ or "").startswith("polars")


def _to_arrow(x, name):
    """Any Arrow-capable column (pyarrow, PyCapsule producers) as a pyarrow Array or ChunkedArray."""
    pa = require_pyarrow(f"column {name!r}")
    if isinstance(x, (pa.Array, pa.ChunkedArray)):
        return x
    if isinstance(x, (pa.Table, pa.RecordBatch)):
        raise TypeError(f"{name}: expected one column, got a {type(x).__name__} with columns {x.schema.names}")
    if hasattr(x, "__arrow_c_stream__"):
        return pa.chunked_array(x)
    if hasattr(x, "__arrow_c_array__"):
        return pa.array(x)
    raise TypeError(f"{name}: {type(x).__name__} is not an array or an Arrow-compatible column")


def to_ndarray(x, name="column", row0=0):
    """A NumPy view of an array-like or a column.

    Parameters
    ----------
    x : array_like, pyarrow.Array, pyarrow.ChunkedArray, pandas.Series, polars.Series or any object with
        ``__arrow_c_array__`` / ``__arrow_c_stream__``
        The column.  List-like columns become 2-D (n, C) arrays (more dimensions for nested fixed-size lists
        and fixed-shape tensors).
    name : str
        The column's name, used in error messages.
    row0 : int
        Index of the first row of ``x`` in the whole input, so that errors name the row the user sees.

    Returns
    -------
    numpy.ndarray
        A read-only view of the column's memory where the layout allows; otherwise a copy (see the module
        docstring for when).

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.io.columns import to_ndarray
    >>> to_ndarray(np.arange(6.0).reshape(3, 2)).shape
    (3, 2)
    """
    if isinstance(x, np.ndarray):
        return x
    if _is_pandas(x):
        return _pandas(x, name, row0)
    if _is_polars(x):
        return _polars(x, name, row0)
    if _is_arrow(x) or hasattr(x, "__arrow_c_array__") or hasattr(x, "__arrow_c_stream__"):
        arr = _to_arrow(x, name)
        if hasattr(arr, "num_chunks"):
            if arr.num_chunks == 1:
                arr = arr.chunk(0)
            elif arr.num_chunks == 0:
                return _arrow_array(_empty_of(arr), name, row0)
            else:
                # one array was asked for: the chunks must be joined (aligned_blocks walks them without a copy)
                return np.concatenate(
                    [_arrow_array(c, name, row0 + off) for c, off in zip(arr.chunks, _chunk_offsets(arr), strict=False)]
                )
        return _arrow_array(arr, name, row0)
    return np.asarray(x)


def _empty_of(chunked):
    pa = require_pyarrow()
    return pa.array([], type=chunked.type)


def _chunk_offsets(chunked):
    out, pos = [], 0
    for c in chunked.chunks:
        out.append(pos)
        pos += len(c)
    return out


def _first_true(mask_arrow):
    return int(np.flatnonzero(mask_arrow.to_numpy(zero_copy_only=False))[0])


def _check_no_nulls(arr, name, row0, what="a null"):
    if arr.null_count:
        raise ValueError(f"column {name!r}: {what} at row {row0 + _first_true(arr.is_null())}")


def _arrow_array(arr, name, row0):
    import pyarrow as pa

    t = arr.type
    _check_no_nulls(arr, name, row0)
    if isinstance(t, pa.FixedShapeTensorType):
        flat = arr.storage.flatten()
        _check_child_nulls(flat, name, row0, lambda i: i // t.storage_type.list_size)
        if list(t.permutation or range(len(t.shape))) != list(range(len(t.shape))):
            return arr.to_numpy_ndarray()  # non-default dim order: pyarrow builds the strided view
        values = _leaf(flat, name, row0)
        return values.reshape((len(arr), *t.shape))
    if pa.types.is_fixed_size_list(t):
        shape = [len(arr)]
        cur = arr
        while pa.types.is_fixed_size_list(cur.type):
            shape.append(cur.type.list_size)
            inner = cur.flatten()  # honours the slice offset (.values does not)
            per_row = int(np.prod(shape[1:]))
            _check_child_nulls(inner, name, row0, lambda i, per_row=per_row: i // per_row)
            cur = inner
        return _leaf(cur, name, row0).reshape(shape)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        offsets = arr.offsets.to_numpy(zero_copy_only=True)
        lengths = np.diff(offsets)
        n = len(arr)
        width = int(lengths[0]) if n else 0
        if n and (lengths != width).any():
            bad = int(np.flatnonzero(lengths != width)[0])
            raise ValueError(
                f"column {name!r}: ragged lists: row {row0 + bad} has {int(lengths[bad])} values, "
                f"row {row0} has {width} (every row needs the same length)"
            )
        inner = arr.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0])) if n else arr.values.slice(0, 0)
        if (
            pa.types.is_list(inner.type)
            or pa.types.is_large_list(inner.type)
            or pa.types.is_fixed_size_list(inner.type)
        ):
            sub = _arrow_array(inner, name, row0)  # nested lists: (n, T, C); errors count inner rows
            return sub.reshape((n, width, *sub.shape[1:]))
        _check_child_nulls(inner, name, row0, lambda i: i // max(width, 1))
        return _leaf(inner, name, row0).reshape(n, width)
    return _leaf(arr, name, row0)


def _check_child_nulls(inner, name, row0, row_of):
    if inner.null_count:
        raise ValueError(f"column {name!r}: a null value inside row {row0 + row_of(_first_true(inner.is_null()))}")


def _leaf(arr, name, row0):
    import pyarrow as pa

    t = arr.type
    if pa.types.is_floating(t) or pa.types.is_integer(t):
        _check_no_nulls(arr, name, row0)
        return arr.to_numpy(zero_copy_only=True)
    if pa.types.is_boolean(t):
        _check_no_nulls(arr, name, row0)
        return arr.to_numpy(zero_copy_only=False)  # Arrow booleans are bit-packed: a copy is unavoidable
    raise TypeError(
        f"column {name!r}: values of type {t} are not numbers (expected float16/32/64 or integer "
        "values, or fixed-size/equal-length lists of them)"
    )


def _pandas(s, name, row0):
    import pandas as pd

    if isinstance(s, pd.DataFrame):
        raise TypeError(f"{name}: expected one column, got a DataFrame with columns {list(s.columns)}")
    if isinstance(s.dtype, pd.ArrowDtype):
        pa = require_pyarrow(f"column {name!r}")
        return to_ndarray(pa.chunked_array(s.array.__arrow_array__()), name, row0)  # the Arrow memory, no copy
    if s.dtype == object:
        if s.isna().any():
            raise ValueError(f"column {name!r}: a null at row {row0 + int(np.flatnonzero(s.isna().to_numpy())[0])}")
        rows = s.to_numpy()
        lengths = np.fromiter((np.size(r) for r in rows), dtype=np.intp, count=len(rows))
        if len(rows) and (lengths != lengths[0]).any():
            bad = int(np.flatnonzero(lengths != lengths[0])[0])
            raise ValueError(
                f"column {name!r}: ragged lists: row {row0 + bad} has {int(lengths[bad])} values, "
                f"row {row0} has {int(lengths[0])} (every row needs the same length)"
            )
        # an object column holds one separate array per row: stacking them into one block is a copy
        return np.stack([np.asarray(r) for r in rows]) if len(rows) else np.empty((0, 0))
    if isinstance(s.dtype, np.dtype):
        return s.to_numpy()  # a NumPy-backed column: its own buffer
    na = s.isna().to_numpy()  # nullable extension dtypes (Int64, Float32, ...)
    if na.any():
        raise ValueError(f"column {name!r}: a null at row {row0 + int(np.flatnonzero(na)[0])}")
    return s.to_numpy(dtype=s.dtype.numpy_dtype)


def _polars(s, name, row0):
    import polars as pl

    if isinstance(s, pl.DataFrame):
        raise TypeError(f"{name}: expected one column, got a DataFrame with columns {s.columns}")
    if s.null_count():
        raise ValueError(f"column {name!r}: a null at row {row0 + int(s.is_null().arg_true()[0])}")
    if isinstance(s.dtype, pl.Array) or s.dtype.is_numeric():
        try:
            return s.to_numpy(allow_copy=False)  # Array dtype: a 2-D view of the values buffer
        except RuntimeError:
            pass  # inner nulls or several chunks: the Arrow route says which
    return to_ndarray(_to_arrow(s, name), name, row0)


def aligned_blocks(*columns, names=None):
    """Walk several equally long columns together, one aligned block of rows at a time, without copies.

    Arrow chunked columns (a pyarrow ``Table``'s columns, a polars column made of several chunks) are split
    where any of them starts a new chunk, so each block is a view of every column.  ``None`` entries stay
    ``None``.  Yields ``(row0, arrays)``.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.io.columns import aligned_blocks
    >>> [(r, [a.shape for a in arrs]) for r, arrs in aligned_blocks(np.zeros((4, 3)), np.zeros(4))]
    [(0, [(4, 3), (4,)])]
    """
    names = names or [f"argument {k}" for k in range(len(columns))]
    chunked, whole = [], []
    for col, nm in zip(columns, names, strict=False):
        ch = _multi_chunk(col, nm)
        chunked.append(ch)
        whole.append(None if col is None or ch is not None else to_ndarray(col, nm))
    if all(ch is None for ch in chunked):
        yield 0, whole
        return
    n = max(len(ch) for ch in chunked if ch is not None)
    cuts = {0, n}
    for ch in chunked:
        if ch is not None:
            cuts.update(int(o) for o in np.cumsum([len(c) for c in ch.chunks]))
    cuts = sorted(x for x in cuts if x <= n)
    for a, b in zip(cuts[:-1], cuts[1:], strict=False):
        out = []
        for w, ch, nm in zip(whole, chunked, names, strict=False):
            if ch is not None:
                out.append(to_ndarray(ch.slice(a, b - a), nm, a))  # a slice inside one chunk: a view
            elif w is None or w.ndim == 0:
                out.append(w)
            else:
                out.append(w[a:b])
        yield a, out


def _multi_chunk(col, name):
    """The column as a pyarrow ChunkedArray when it has several chunks, else None."""
    if col is None or isinstance(col, np.ndarray) or _is_pandas(col):
        return None
    if _is_polars(col):
        return _to_arrow(col, name) if col.n_chunks() > 1 else None
    if _is_arrow(col) or hasattr(col, "__arrow_c_stream__"):
        arr = _to_arrow(col, name)
        return arr if getattr(arr, "num_chunks", 1) > 1 else None
    return None
