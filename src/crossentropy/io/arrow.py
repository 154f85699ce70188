"""Parquet files and datasets and Arrow IPC files as a stream of NumPy row blocks, in bounded memory.

``open_table(path, columns)`` opens one table:

* a ``.parquet`` file, a folder of Parquet files (searched recursively, read in sorted path order) or a glob
  pattern (``"preds/part-*.parquet"``): read one record batch at a time with pyarrow's pre-buffering off, so
  memory holds a batch (and the row group being decoded), not the file;
* an Arrow IPC file, ``.arrow`` / ``.feather`` (Feather v2 is Arrow IPC) or the IPC stream format:
  memory-mapped; uncompressed columns are views of the mapping, and pages already evaluated are handed back
  to the kernel, so resident memory stays bounded too.

``iter_blocks(pred, target, max_rows=...)`` walks a prediction column and a target column — of one table, or
of two tables of the same length — in aligned blocks of at most ``max_rows`` rows, each as NumPy arrays
(see :mod:`crossentropy.io.columns` for which column types are read without a copy).

Errors are ``ValueError``/``TypeError`` with one line that names the file and column (and the first bad row
for nulls and ragged lists); without pyarrow, ``ImportError`` says ``pip install crossentropy[arrow]``.
"""

import glob
import mmap
import os

import numpy as np

from crossentropy.io.columns import require_pyarrow, to_ndarray

__all__ = ["ARROW_SUFFIXES", "is_arrow_path", "open_table", "iter_blocks", "ArrowTable"]

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
IPC_SUFFIXES = (".arrow", ".feather", ".arrows", ".ipc")
ARROW_SUFFIXES = PARQUET_SUFFIXES + IPC_SUFFIXES
DEFAULT_BATCH_ROWS = 65536


def is_arrow_path(path):
    """True for paths ``open_table`` reads: Parquet/IPC suffixes, folders of Parquet files, glob patterns."""
    p = os.fspath(path)
    if p.lower().endswith(ARROW_SUFFIXES):
        return True
    if os.path.isdir(p):
        return True
    return glob.has_magic(p) and not os.path.exists(p)


def _parquet_files(path):
    if os.path.isdir(path):
        files = sorted(
            f
            for f in glob.glob(os.path.join(path, "**", "*"), recursive=True)
            if os.path.isfile(f) and f.lower().endswith(PARQUET_SUFFIXES)
        )
        if not files:
            raise ValueError(f"{path}: folder holds no .parquet files")
        return files
    if glob.has_magic(path) and not os.path.exists(path):
        files = sorted(f for f in glob.glob(path, recursive=True) if os.path.isfile(f))
        if not files:
            raise ValueError(f"{path}: no file matches this pattern")
        return files
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    return [path]


class ArrowTable:
    """One Parquet file/dataset or Arrow IPC file, opened for streaming a few named columns.

    Attributes
    ----------
    path : str
    kind : {"parquet", "ipc"}
    files : list of str
        The files read, in order.
    schema : pyarrow.Schema
        Schema of the first file.
    num_rows : int
    """

    def __init__(self, path, columns):
        pa = require_pyarrow(f"reading {path}")
        self.path = os.fspath(path)
        self.columns = list(columns)
        self._closers = []
        self._pa = pa
        low = self.path.lower()
        if low.endswith(IPC_SUFFIXES):
            self.kind = "ipc"
            self.files = [self.path]
            self._open_ipc()
        else:
            self.kind = "parquet"
            self.files = _parquet_files(self.path)
            self._open_parquet()
        self._check_columns()

    # ---- Parquet
    def _open_parquet(self):
        import pyarrow.parquet as pq

        self._parquet = []
        rows = 0
        for f in self.files:
            try:
                # pre_buffer=False: pyarrow would otherwise fetch whole column chunks ahead of the batches
                pf = pq.ParquetFile(f, pre_buffer=False, memory_map=False)
            except (OSError, self._pa.ArrowInvalid) as exc:
                raise ValueError(f"{f}: not a readable Parquet file ({_short(exc)})") from None
            self._closers.append(pf.close)
            self._parquet.append(pf)
            rows += pf.metadata.num_rows
        self.schema = self._parquet[0].schema_arrow
        self.num_rows = rows
        for f, pf in zip(self.files[1:], self._parquet[1:], strict=False):
            for c in self.columns:
                a, b = _field(self.schema, c), _field(pf.schema_arrow, c)
                if b is None:
                    raise ValueError(f"{f}: column {c!r} is missing (the dataset's first file has it)")
                if a is not None and a.type != b.type:
                    raise TypeError(f"{f}: column {c!r} has type {b.type}, the first file has {a.type}")

    # ---- Arrow IPC (file or stream format), memory-mapped
    def _open_ipc(self):
        pa = self._pa
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"{self.path}: no such file")
        with open(self.path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise ValueError(f"{self.path}: empty file")
            self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self._buf = pa.py_buffer(self._mm)
        try:
            self._reader = pa.ipc.open_file(pa.BufferReader(self._buf))
            self._stream = False
            self.schema = self._reader.schema
            self.num_rows = sum(self._reader.get_batch(i).num_rows for i in range(self._reader.num_record_batches))
        except pa.ArrowInvalid:
            try:
                self._reader = pa.ipc.open_stream(pa.BufferReader(self._buf))
            except pa.ArrowInvalid as exc:
                raise ValueError(
                    f"{self.path}: not an Arrow IPC file or stream ({_short(exc)}); Feather v1 "
                    "files need rewriting as Feather v2"
                ) from None
            self._stream = True
            self.schema = self._reader.schema
            self.num_rows = None  # a stream tells its length only at the end

    def _check_columns(self):
        names = self.schema.names
        for c in self.columns:
            if c not in names:
                raise ValueError(f"{self.path}: no column {c!r} (columns: {', '.join(names) or 'none'})")
            check_column_type(self.schema.field(c).type, c, self.path)

    def batches(self, max_rows=None):
        """Record batches of the selected columns, at most ``max_rows`` rows each (views, no copies)."""
        max_rows = max_rows or DEFAULT_BATCH_ROWS
        if self.kind == "parquet":
            for pf in self._parquet:
                for rb in pf.iter_batches(batch_size=max_rows, columns=self.columns, use_threads=True):
                    yield rb
            return
        done = 0
        for rb in self._ipc_batches():
            rb = self._pa.RecordBatch.from_arrays([rb.column(c) for c in self.columns], names=self.columns)
            for a in range(0, rb.num_rows, max_rows):
                yield rb.slice(a, max_rows)
            done = max(done, _end_offset(rb, self._buf.address))
            self._release(done)

    def _ipc_batches(self):
        if self._stream:
            yield from self._pa.ipc.open_stream(self._pa.BufferReader(self._buf))  # a stream reads once: reopen
        else:
            for i in range(self._reader.num_record_batches):
                yield self._reader.get_batch(i)

    def _release(self, end):
        """Hand back the mapped pages before ``end`` (already evaluated): resident memory stays bounded."""
        page = mmap.PAGESIZE
        end = (end // page) * page
        if end > 0 and hasattr(self._mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            self._mm.madvise(mmap.MADV_DONTNEED, 0, min(end, len(self._mm)))

    def close(self):
        """Close the files (and the memory map)."""
        for c in self._closers:
            c()
        self._closers = []
        if getattr(self, "_mm", None) is not None:
            self._reader = None
            self._buf = None
            try:
                self._mm.close()
            except BufferError:  # a view still exported: the mapping goes with its last user
                pass
            self._mm = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _end_offset(rb, base):
    """One past the last byte (relative to the mapping) of any buffer of the batch; 0 if not in the map."""
    end = 0
    for col in rb.columns:
        for b in col.buffers():
            if b is not None and b.address >= base:
                end = max(end, b.address - base + b.size)
    return end


def _field(schema, name):
    i = schema.get_field_index(name)
    return None if i < 0 else schema.field(i)


def _short(exc):
    return " ".join(str(exc).split())[:200]


def check_column_type(t, name, where=""):
    """Raise TypeError unless ``t`` is a numeric type or a (fixed-size/tensor) list of numbers."""
    import pyarrow as pa

    cur = t
    if isinstance(cur, pa.FixedShapeTensorType):
        cur = cur.value_type
    while pa.types.is_fixed_size_list(cur) or pa.types.is_list(cur) or pa.types.is_large_list(cur):
        cur = cur.value_type
    if not (pa.types.is_floating(cur) or pa.types.is_integer(cur) or pa.types.is_boolean(cur)):
        prefix = f"{where}: " if where else ""
        raise TypeError(
            f"{prefix}column {name!r} has type {t}; expected numbers: float16/32/64 or integer values, "
            "or fixed-size lists, equal-length lists or fixed-shape tensors of them"
        )


def open_table(path, columns):
    """Open a Parquet file/dataset or Arrow IPC file for streaming ``columns``.

    Parameters
    ----------
    path : str or os.PathLike
        ``.parquet`` file, folder of Parquet files, glob pattern, or ``.arrow``/``.feather`` IPC file.
    columns : list of str
        Column names to read.

    Returns
    -------
    ArrowTable

    Examples
    --------
    >>> import os, tempfile, numpy as np, pyarrow as pa, pyarrow.parquet as pq
    >>> from crossentropy.io.arrow import open_table
    >>> d = tempfile.mkdtemp()
    >>> logits = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6, dtype=np.float32)), 3)
    >>> pq.write_table(pa.table({"logits": logits, "label": [0, 2]}), os.path.join(d, "p.parquet"))
    >>> with open_table(os.path.join(d, "p.parquet"), ["logits", "label"]) as t:
    ...     print(t.num_rows, [rb.num_rows for rb in t.batches(max_rows=1)])
    2 [1, 1]
    """
    return ArrowTable(path, columns)


def iter_blocks(pred, pred_col, target=None, target_col=None, *, max_rows=None):
    """Aligned (row0, pred_block, target_block) NumPy blocks from one table or two of the same length.

    Parameters
    ----------
    pred : ArrowTable or str
        Table holding the prediction column (a path is opened and closed here).
    pred_col : str
        Prediction column.
    target : ArrowTable or str, optional
        Table holding the target column; default: ``pred`` itself.
    target_col : str
        Target column.
    max_rows : int, optional
        Rows per block (default 65536).

    Yields
    ------
    row0 : int
        Index of the block's first row.
    pred_block, target_block : numpy.ndarray
        (rows, C) (or (rows, *shape)) predictions and the matching targets.

    Examples
    --------
    >>> import os, tempfile, numpy as np, pyarrow as pa, pyarrow.feather as feather
    >>> from crossentropy.io.arrow import iter_blocks
    >>> path = os.path.join(tempfile.mkdtemp(), "t.arrow")
    >>> logits = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(8, dtype=np.float32)), 2)
    >>> feather.write_feather(pa.table({"x": logits, "y": [0, 1, 1, 0]}), path, compression="uncompressed")
    >>> [(r, p.shape, t.tolist()) for r, p, t in iter_blocks(path, "x", target_col="y", max_rows=3)]
    [(0, (3, 2), [0, 1, 1]), (3, (1, 2), [0])]
    """
    if target_col is None:
        raise TypeError("iter_blocks needs target_col")
    opened = []
    try:
        same = target is None or (isinstance(target, str) and isinstance(pred, str) and target == pred)
        if isinstance(pred, (str, os.PathLike)):
            pred = open_table(pred, [pred_col] + ([target_col] if same and target_col != pred_col else []))
            opened.append(pred)
        if same:
            target = pred
        elif isinstance(target, (str, os.PathLike)):
            target = open_table(target, [target_col])
            opened.append(target)
        if target is pred:
            row0 = 0
            for rb in pred.batches(max_rows):
                yield (
                    row0,
                    to_ndarray(rb.column(pred_col), pred_col, row0),
                    to_ndarray(rb.column(target_col), target_col, row0),
                )
                row0 += rb.num_rows
            return
        if pred.num_rows is not None and target.num_rows is not None and pred.num_rows != target.num_rows:
            raise ValueError(
                f"{pred.path} has {pred.num_rows} rows, {target.path} has {target.num_rows}: "
                "predictions and targets need one row each"
            )
        yield from _zip_streams(pred, pred_col, target, target_col, max_rows)
    finally:
        for t in opened:
            t.close()


def _zip_streams(pred, pred_col, target, target_col, max_rows):
    """Blocks of two tables whose batch boundaries differ: cut both at every boundary (slices, no copies)."""
    p_iter = (rb.column(pred_col) for rb in pred.batches(max_rows))
    t_iter = (rb.column(target_col) for rb in target.batches(max_rows))
    p_cur = t_cur = None
    row0 = 0
    while True:
        while p_cur is None or len(p_cur) == 0:
            p_cur = next(p_iter, None)
            if p_cur is None:
                break
        while t_cur is None or len(t_cur) == 0:
            t_cur = next(t_iter, None)
            if t_cur is None:
                break
        if p_cur is None or t_cur is None:
            if p_cur is not None or t_cur is not None:
                longer = pred.path if p_cur is not None else target.path
                raise ValueError(
                    f"{longer} has more rows than the other table (first unmatched row {row0}): "
                    "predictions and targets need one row each"
                )
            return
        n = min(len(p_cur), len(t_cur))
        yield (row0, to_ndarray(p_cur.slice(0, n), pred_col, row0), to_ndarray(t_cur.slice(0, n), target_col, row0))
        p_cur, t_cur = p_cur.slice(n), t_cur.slice(n)
        row0 += n


def evaluate(metric, pred, pred_col, target=None, target_col=None, *, max_rows=None):
    """Stream a table (or two) through ``metric.update``, block by block; returns the metric.

    The one accumulation path of ``crossentropy eval``, the Python API and Dask partitions: each block's
    per-sample values come from the metric's kernels, the metric's compensated sums add them up.

    Parameters
    ----------
    metric : crossentropy.metrics.CrossEntropy, Perplexity or Accuracy
        Updated in place.
    pred, pred_col, target, target_col, max_rows
        As for :func:`iter_blocks`.

    Returns
    -------
    metric

    Examples
    --------
    >>> import os, tempfile, numpy as np, pyarrow as pa, pyarrow.parquet as pq
    >>> from crossentropy.io.arrow import evaluate
    >>> from crossentropy.metrics import CrossEntropy
    >>> path = os.path.join(tempfile.mkdtemp(), "p.parquet")
    >>> logits = pa.FixedSizeListArray.from_arrays(pa.array(np.log([0.5, 0.5, 0.25, 0.75])), 2)
    >>> pq.write_table(pa.table({"logits": logits, "label": [0, 1]}), path)
    >>> print(f"{evaluate(CrossEntropy(), path, 'logits', target_col='label').result():.6f}")
    0.490415
    """
    for _, p, t in iter_blocks(pred, pred_col, target, target_col, max_rows=max_rows):
        metric.update(p, t)
    return metric


# ---------------------------------------------------------------------------------------------------------
# the command line's reader interface (crossentropy.io.ArrayReader): one column of a table as an array
# ---------------------------------------------------------------------------------------------------------
def _row_shape(table, column):
    """Shape of one row of ``column`` from the schema (a ``list`` column: from its first row)."""
    import pyarrow as pa

    t = table.schema.field(column).type
    if isinstance(t, pa.FixedShapeTensorType):
        return tuple(t.shape), t.value_type
    shape = []
    while pa.types.is_fixed_size_list(t):
        shape.append(t.list_size)
        t = t.value_type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        first = next(iter(table.batches(1)), None)
        if first is None or first.num_rows == 0:
            return tuple(shape) + (0,), t.value_type
        block = to_ndarray(first.column(column), column, 0)
        return block.shape[1:], t.value_type if not shape else t
    return tuple(shape), t


def _numpy_dtype(arrow_type):
    import pyarrow as pa

    while pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_boolean(arrow_type):
        return np.dtype(bool)
    return np.dtype(arrow_type.to_pandas_dtype())


from crossentropy.io import ArrayReader as _ArrayReaderBase  # noqa: E402 - io/__init__ defines it first
from crossentropy.io import ReadError as _ReadError  # noqa: E402
from crossentropy.io import register_format  # noqa: E402


def _uniform_batch_rows(table):
    """Rows per record batch of an Arrow IPC file whose batches (but the last) are all that long, else None:
    blocks of that many rows are views of the memory map (a block across two batches would be a copy)."""
    if table.kind != "ipc" or table._stream:
        return None
    n = table._reader.num_record_batches
    lengths = {table._reader.get_batch(i).num_rows for i in range(max(0, n - 1))}
    return lengths.pop() if len(lengths) == 1 else None


class ColumnReader(_ArrayReaderBase):
    """One column of a Parquet/Arrow table as an array of shape (rows, *row shape), read in row blocks.

    Blocks are read in increasing order from one stream of record batches (pyarrow's batch size follows the
    first block asked for); a block inside one record batch is a view, a block that straddles two is joined
    (a copy of that block only).  Going back restarts the stream.  ``batch_rows``: the rows per record batch
    of an IPC file with equal batches (the command line then reads blocks of that size), else None.
    """

    def __init__(self, table, column, label):
        self._table = table
        self.column = column
        self.label = label
        row_shape, leaf = _row_shape(table, column)
        n = table.num_rows
        if n is None:  # IPC stream: count the batches' rows
            n = sum(rb.num_rows for rb in table._ipc_batches())
        self._row_shape = tuple(row_shape)
        self.shape = (n, *row_shape)
        self.dtype = _numpy_dtype(leaf)
        self._fns = []
        self._stream = None
        self.batch_rows = _uniform_batch_rows(table)

    def view(self, fn):
        self._fns.append(fn)
        probe = np.empty((0, *self.shape[1:]), self.dtype)
        for f in self._fns:
            probe = f(probe)
        self.shape = (self.shape[0], *probe.shape[1:])

    def _apply(self, a):
        for f in self._fns:
            a = f(a)
        return a

    def _restart(self, rows):
        self._stream = (rb.column(self.column) for rb in self._table.batches(rows))
        self._pos = 0
        self._cur = None

    def _take(self, start, stop):
        if self._stream is None or start < self._pos:
            self._restart(max(1, stop - start))
        pieces = []
        while self._pos < stop:
            if self._cur is None or len(self._cur) == 0:
                self._cur = next(self._stream, None)
                if self._cur is None:
                    break
            cur_end = self._pos + len(self._cur)
            if cur_end <= start:  # skip rows before the block
                self._pos, self._cur = cur_end, None
                continue
            a = max(start, self._pos) - self._pos
            b = min(stop, cur_end) - self._pos
            pieces.append((self._pos + a, self._cur.slice(a, b - a)))
            if b == len(self._cur):
                self._pos, self._cur = cur_end, None
            else:
                self._cur = self._cur.slice(b)
                self._pos += b
        blocks = [to_ndarray(p, self.column, r0) for r0, p in pieces]
        if not blocks:
            return np.empty((0, *self.shape[1:]), self.dtype)
        if len(blocks) > 1:
            shapes = {b.shape[1:] for b in blocks}
            if len(shapes) > 1:
                raise ValueError(
                    f"column {self.column!r}: rows of different lengths across record batches "
                    f"(from row {pieces[1][0]}: {sorted(shapes)})"
                )
        out = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        if out.shape[1:] != self._row_shape:
            raise ValueError(
                f"column {self.column!r}: ragged lists: the rows from {start} have {out.shape[1:]} "
                f"values, the first row has {self._row_shape}"
            )
        return out

    def read(self, axis, start, stop):
        if axis != 0:
            whole = self.whole()
            idx = [slice(None)] * whole.ndim
            idx[axis] = slice(start, stop)
            return whole[tuple(idx)]
        return self._apply(self._take(start, stop))

    def whole(self):
        return self._apply(self._take(0, self.shape[0]))

    def close(self):
        self._stream = None
        self._table.close()


def open_column(path, key=None, *, role="input", key_option="column option"):
    """Open column ``key`` of a Parquet file/dataset or Arrow IPC file as a :class:`ColumnReader`.

    Raises ``ReadError`` (one line) for a missing file or column, an unreadable file or a column that does not
    hold numbers, and ImportError with the install hint when pyarrow is missing.
    """
    try:
        if key is None:
            with ArrowTable(path, []) as t:
                names = t.schema.names
        table = None if key is None and len(names) != 1 else ArrowTable(path, [key or names[0]])
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise _ReadError(f"{role} {exc}") from None
    if table is None:
        raise _ReadError(f"{role} {path} is a table with columns {', '.join(names)}: name one with {key_option}")
    key = key or names[0]
    try:
        return ColumnReader(table, key, f"{role} {path}[{key}]")
    except BaseException:
        table.close()
        raise


register_format("arrow", is_arrow_path, open_column, datasets=True)
