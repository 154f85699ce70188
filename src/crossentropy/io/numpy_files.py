"""Readers for NumPy's own files: ``.npy`` (memory-mapped) and ``.npz`` (stored members memory-mapped in place,
compressed members streamed block by block).  Both read the header first (shape, dtype, order) and never load
the data to open a file; see :class:`crossentropy.io.ArrayReader` for the interface.
"""

import math
import mmap
import os
import zipfile

import numpy as np

from crossentropy.io import ArrayReader, ReadError, register_format

__all__ = ["MemmapReader", "StreamReader", "open_numpy", "drop_pages"]


def _one_line(exc):
    return " ".join(str(exc).split())


class MemmapReader(ArrayReader):
    """A .npy file or an uncompressed .npz member, memory-mapped (0-size arrays: in memory).  ``release``
    drops the pages of rows already used from this process (madvise DONTNEED: the data stays in the page
    cache), so resident memory stays flat."""

    def __init__(self, arr, label):
        self.arr, self.label = arr, label
        self.shape, self.dtype = arr.shape, arr.dtype

    def view(self, fn):
        """Apply a view-making function (e.g. ``a[..., 0]``) to the array."""
        self.arr = fn(self.arr)
        self.shape = self.arr.shape

    def read(self, axis, start, stop):
        idx = [slice(None)] * self.arr.ndim
        idx[axis] = slice(start, stop)
        return self.arr[tuple(idx)]

    def whole(self):
        return self.arr

    def release(self, axis, start, stop):
        drop_pages(self.arr, axis, start, stop)

    def close(self):
        self.arr = None


def _mmap_of(arr):
    """The mmap.mmap object behind a memmap or a view of one (None for an in-memory array)."""
    base = arr
    while base is not None and not isinstance(getattr(base, "_mmap", None), mmap.mmap):
        base = getattr(base, "base", None)
    return None if base is None else base._mmap


def drop_pages(arr, axis, start, stop):
    """madvise(MADV_DONTNEED) the whole pages holding rows [start, stop) along ``axis`` (axis 0 and a
    C-contiguous row layout only; elsewhere a no-op)."""
    mm = _mmap_of(arr)
    if mm is None or axis != 0 or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    if stop <= start or arr.ndim == 0 or arr.strides[0] <= 0 or not arr.flags.c_contiguous:
        return  # Fortran order: a block of rows is not a block of pages
    try:  # works for read-only maps too (ctypes.from_buffer needs a writable one)
        mm_addr = np.frombuffer(mm, np.uint8, count=1).__array_interface__["data"][0]
    except (TypeError, ValueError, BufferError):
        return
    data_addr = arr.__array_interface__["data"][0]
    lo = data_addr - mm_addr + start * arr.strides[0]
    hi = data_addr - mm_addr + stop * arr.strides[0]
    page = mmap.PAGESIZE
    lo = (lo // page) * page
    hi = (hi // page) * page
    if hi > lo and lo >= 0 and hi <= len(mm):
        try:
            mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        except (OSError, ValueError):
            pass


class StreamReader(ArrayReader):
    """A compressed .npz member, read sequentially block of rows by block of rows along axis 0 (any
    other access reads it whole)."""

    def __init__(self, zf, member, label):
        self.zf, self.label = zf, label
        self.f = zf.open(member)
        version = np.lib.format.read_magic(self.f)
        shape, fortran, dtype = _read_header(self.f, version)
        if dtype.hasobject:
            raise ReadError(f"{label} holds Python objects (dtype {dtype}); only numeric arrays are read")
        self.raw_shape = self.shape = tuple(shape)
        self.dtype = dtype
        self.pos = 0
        self._post = []
        self._whole = None
        if fortran and len(shape) > 1:  # not streamable by rows: read it whole
            self._whole = self._read_all(order="F")

    def view(self, fn):
        self._post.append(fn)
        self.shape = fn(np.broadcast_to(np.zeros((), self.dtype), self.shape)).shape

    def _apply(self, a):
        for fn in self._post:
            a = fn(a)
        return a

    def whole(self):
        if self._whole is None:
            self._whole = self._read_all()
        return self._apply(self._whole)

    def read(self, axis, start, stop):
        if self._whole is None and axis == 0 and start == self.pos:
            rows = stop - start
            nbytes = rows * math.prod(self.raw_shape[1:]) * self.dtype.itemsize
            buf = self.f.read(nbytes)
            if len(buf) != nbytes:
                raise ReadError(f"{self.label}: the data is truncated")
            self.pos = stop
            return self._apply(np.frombuffer(buf, self.dtype).reshape((rows,) + self.raw_shape[1:]))
        a = self.whole()
        idx = [slice(None)] * a.ndim
        idx[axis] = slice(start, stop)
        return a[tuple(idx)]

    def _read_all(self, order="C"):
        if self.pos:
            raise ReadError(f"{self.label}: cannot go back in a compressed member")
        nbytes = math.prod(self.raw_shape) * self.dtype.itemsize
        buf = self.f.read(nbytes)
        if len(buf) != nbytes:
            raise ReadError(f"{self.label}: the data is truncated")
        return np.frombuffer(buf, self.dtype).reshape(self.raw_shape, order=order)

    def release(self, axis, start, stop):
        pass

    def close(self):
        self.f.close()
        self.zf.close()


def _read_header(f, version):
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    return np.lib.format._read_array_header(f, version)  # 3.0 (utf-8 field names)


def open_numpy(path, key=None, *, role="input", key_option="key"):
    """Open ``path`` (.npy: memory-mapped; .npz: the member ``key`` or the only one) as an :class:`ArrayReader`."""
    label = f"{role} {path}"
    if zipfile.is_zipfile(path):
        return _open_npz(path, key, role, key_option)
    if key is not None:
        raise ReadError(f"{key_option} applies to .npz files only, but {role} {path} is not one")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":
        raise ReadError(f"{role} {path} is not a .npy or .npz file (no NumPy header)")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise ReadError(f"cannot read {role} {path} as a .npy file: {_one_line(exc)}") from None
    if not isinstance(arr, np.ndarray):
        raise ReadError(f"cannot read {role} {path} as a .npy file")
    if arr.dtype.hasobject or arr.dtype.fields is not None:
        raise ReadError(f"{role} {path} has dtype {arr.dtype}; only plain numeric arrays are supported")
    if not isinstance(arr, np.memmap):  # 0-size arrays are not mapped
        arr = np.asarray(arr)
    return MemmapReader(arr, label)


def _open_npz(path, key, role, key_option):
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReadError(f"cannot read {role} {path} as a .npz file: {exc}") from None
    names = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
    if key is None:
        if len(names) != 1:
            zf.close()
            listing = ", ".join(names) if names else "none"
            raise ReadError(f"{role} {path} holds {len(names)} arrays ({listing}); choose one with {key_option}")
        key = names[0]
    elif key not in names:
        zf.close()
        raise ReadError(f"{role} {path} has no array {key!r} (it has: {', '.join(names) or 'none'})")
    member = zf.getinfo(key + ".npy")
    label = f"{role} {path}[{key}]"
    if member.compress_type == zipfile.ZIP_STORED:
        arr = _map_stored_member(path, member)
        if arr is not None:
            zf.close()
            if arr.dtype.hasobject:
                raise ReadError(f"{label} has dtype {arr.dtype}; only plain numeric arrays are supported")
            return MemmapReader(arr, label)
    return StreamReader(zf, member, label)


def _map_stored_member(path, member):
    """Memory-map an uncompressed (np.savez) .npz member in place; None if its layout is unexpected."""
    try:
        with open(path, "rb") as f:
            f.seek(member.header_offset)
            local = f.read(30)
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                return None
            name_len = int.from_bytes(local[26:28], "little")
            extra_len = int.from_bytes(local[28:30], "little")
            f.seek(member.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(f)
            shape, fortran, dtype = _read_header(f, version)
            offset = f.tell()
        if dtype.hasobject:
            return np.empty(0, dtype)
        if math.prod(shape) == 0:
            return np.empty(shape, dtype, order="F" if fortran else "C")
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
    except (OSError, ValueError):
        return None


def _is_numpy_file(path):
    """.npy/.npz by name, a zip archive, or a file that starts with NumPy's magic string."""
    if os.path.splitext(path)[1].lower() in (".npy", ".npz") or zipfile.is_zipfile(path):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(6) == b"\x93NUMPY"
    except OSError:
        return False


register_format("numpy", _is_numpy_file, open_numpy)
