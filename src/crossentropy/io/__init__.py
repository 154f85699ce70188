"""Reading arrays too large for memory: readers that hand out blocks of rows from files, with bounded memory.

A *reader* (:class:`ArrayReader`) stands for one array in a file.  It reports the array's ``shape`` and
``dtype`` from the file's header, before any data is read, and hands the data out in blocks of rows along one
axis; a caller walks the blocks in order, releasing each when done, so resident memory stays bounded by a few
blocks whatever the file's size.  :func:`open_array` picks the reader for a path from the registered formats
(:func:`register_format`); :mod:`crossentropy.io.numpy_files` registers ``.npy`` and ``.npz``.

Adding a format: write an :class:`ArrayReader` subclass and an opener ``open(path, key, *, role, key_option)``
that raises :class:`ReadError` for anything wrong with the file, then call :func:`register_format` once at
import of its module (and import that module below).
"""

import os

import numpy as np

__all__ = ["ArrayReader", "ReadError", "open_array", "register_format", "formats"]


class ReadError(ValueError):
    """A file that cannot be read as an array: missing, unreadable, the wrong format or a bad key.  The message
    is one user-facing line naming the file."""


class ArrayReader:
    """One array in a file, read in blocks of rows.

    Subclasses set ``label``, ``shape`` and ``dtype`` when opened (from the header: nothing is read yet) and
    implement :meth:`read`, :meth:`whole` and :meth:`close`; :meth:`release` and :meth:`view` have defaults.

    Attributes
    ----------
    label : str
        Names the array in messages, e.g. ``"PRED preds.npz[logits]"``.
    shape : tuple of int
        The shape of the array as :meth:`read` and :meth:`whole` see it (after any :meth:`view`).
    dtype : numpy.dtype
        The element type, as stored (byte order included): no conversion happens while reading.

    Notes
    -----
    Memory: reading blocks of ``k`` rows in increasing order along axis 0 and releasing each holds O(k) rows
    at a time.  Other access (another axis, going back) may read the whole array; :meth:`whole` always does.
    A block is a NumPy array, possibly a read-only view of a memory map; it need not be aligned or native.
    """

    label = "array"
    shape = ()
    dtype = np.dtype(np.float64)

    def read(self, axis, start, stop):
        """Rows ``start:stop`` along ``axis`` (an array of ``shape`` with that axis cut)."""
        raise NotImplementedError

    def whole(self):
        """The entire array (for arrays without a row axis, or a caller that needs all of it)."""
        raise NotImplementedError

    def release(self, axis, start, stop):
        """Rows ``start:stop`` along ``axis`` are no longer needed: readers may drop their pages or buffers."""

    def view(self, fn):
        """Apply a view-making function (``lambda a: a[..., 0]``) to every block from now on; updates ``shape``."""
        raise NotImplementedError

    def close(self):
        """Release the file.  The reader is unusable afterwards; blocks already handed out stay valid."""

    def blocks(self, axis, block_rows):
        """Yield ``(start, stop, block)`` covering the array along ``axis`` in blocks of ``block_rows`` rows,
        releasing each block's rows once the caller asks for the next one."""
        n = self.shape[axis]
        for start in range(0, n, block_rows):
            stop = min(start + block_rows, n)
            yield start, stop, self.read(axis, start, stop)
            self.release(axis, start, stop)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_FORMATS = []  # (name, can_open(path) -> bool, open(path, key, *, role, key_option) -> ArrayReader)


_DATASET_FORMATS = set()  # formats that also read folders and glob patterns (Parquet datasets)


def register_format(name, can_open, opener, *, datasets=False):
    """Make :func:`open_array` read files for which ``can_open(path)`` is true with ``opener``.  Formats are
    tried in the order registered; ``datasets=True`` formats are also asked about folders and glob patterns."""
    _FORMATS.append((name, can_open, opener))
    if datasets:
        _DATASET_FORMATS.add(name)


def formats():
    """Names of the registered formats, in the order they are tried."""
    return [name for name, _, _ in _FORMATS]


def open_array(path, key=None, *, role="input", key_option="key"):
    """Open the array at ``path`` (``key``: which array, for files that hold several) as an :class:`ArrayReader`.

    ``role`` and ``key_option`` only shape the error messages (``"PRED"``, ``"--pred-key"``).
    Raises :class:`ReadError` for a missing file, a directory, or a file no registered format reads.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from crossentropy.io import open_array
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> np.save(path, np.arange(6.0).reshape(3, 2))
    >>> with open_array(path) as reader:
    ...     print(reader.shape, reader.dtype, [block.tolist() for _, _, block in reader.blocks(0, 2)])
    (3, 2) float64 [[[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0]]]
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        for name, can_open, opener in _FORMATS:
            if name in _DATASET_FORMATS and can_open(path):
                return opener(path, key, role=role, key_option=key_option)
    if not os.path.exists(path):
        raise ReadError(f"{role} file not found: {path}")
    if os.path.isdir(path):
        raise ReadError(f"{role} is a directory, not a .npy/.npz file: {path}")
    for _, can_open, opener in _FORMATS:
        if can_open(path):
            return opener(path, key, role=role, key_option=key_option)
    raise ReadError(f"{role} {path} is not a .npy or .npz file, nor a .parquet, .arrow or .feather table")


from crossentropy.io import numpy_files  # noqa: E402,F401,I001 - registers .npy/.npz first
from crossentropy.io import arrow  # noqa: E402,F401 - then .parquet/.arrow/.feather and datasets
