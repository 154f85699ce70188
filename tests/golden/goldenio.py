"""One format for every golden file: ``<framework>.jsonl``, written by ``write`` and read by ``load``.

Each line is one JSON object, so a regenerated file diffs line by line (one case or one array per line):

* ``{"schema": "crossentropy-golden/1"}`` -- always the first line;
* ``{"doc": KEY, "value": V}`` -- a top-level entry of the document (versions, configs, ...);
* ``{"doc": KEY, "item": V}`` -- one element of a top-level list (one case per line), in order;
* ``{"array": NAME, "dtype": "float32", "shape": [2, 3], "data": [...]}`` -- one array, C order.

Floats are written exactly: each value as the shortest decimal that reads back to the same bits in its own
dtype (float16/bfloat16/float32/float64), infinities and the default NaN as JSON's ``Infinity``/``-Infinity``/``NaN``
(Python's json reads them), any other NaN (sign bit set, other payload) as the string ``"nan:<hex bits>"``; the
writer checks that every array reads back bit for bit before it writes the file.
Documents may hold any JSON value; arrays are NumPy bool, integer or float arrays.  The document and the
arrays are returned by ``load`` as ``(doc, arrays)`` with ``arrays`` a plain dict name -> ndarray.
bfloat16 arrays (``ml_dtypes.bfloat16``) are stored by value like the other floats; where ml_dtypes is not
installed they load as None (the tests that need them skip).
"""

import json
import math
import pathlib

import numpy as np

SCHEMA = "crossentropy-golden/1"
HERE = pathlib.Path(__file__).resolve().parent


def path_of(name):
    """The golden file of a framework name ("keras", "torch", ...) next to this module."""
    return HERE / f"{name}.jsonl"


def _float_text(values):
    """Shortest decimal text of each float that reads back (as float64, then cast) to the same bits."""
    default_nan = np.array(np.nan, values.dtype).tobytes()
    out = []
    for v in values:
        if math.isnan(v) and v.tobytes() != default_nan:
            out.append("nan:" + v.tobytes()[::-1].hex())  # big-endian hex of the bits
            continue
        if values.dtype == np.float64 or not math.isfinite(v):
            out.append(float(v))
            continue
        size = abs(float(v))
        text = (
            np.format_float_positional(v, unique=True, trim="-")
            if 1e-4 <= size < 1e16 or size == 0
            else np.format_float_scientific(v, unique=True, trim="-")
        )
        short = float(text)
        # float64 -> float32/16 double rounding can in principle miss; then the exact float64 value is written
        out.append(short if np.array(short).astype(values.dtype).tobytes() == v.tobytes() else float(v))
    return out


def _bfloat16():
    """ml_dtypes' bfloat16, or None when ml_dtypes is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return np.dtype(ml_dtypes.bfloat16)


def _is_float(dtype):
    return dtype.kind == "f" or dtype.name == "bfloat16"


def _encode(name, a):
    a = np.asarray(a)
    if a.dtype.kind not in "biuf" and a.dtype.name != "bfloat16":
        raise TypeError(f"golden array {name!r} has dtype {a.dtype}; only bool, integer and float arrays")
    a = a.astype(a.dtype.newbyteorder("="), copy=False)
    flat = np.ascontiguousarray(a).reshape(-1)
    data = _float_text(flat) if _is_float(a.dtype) else flat.tolist()
    return {"array": name, "dtype": a.dtype.name, "shape": list(a.shape), "data": data}


def _decode(line):
    if line["dtype"] == "bfloat16":
        dtype = _bfloat16()
        if dtype is None:
            return None
    else:
        dtype = np.dtype(line["dtype"])
    data = line["data"]
    if _is_float(dtype):
        odd = [(i, v) for i, v in enumerate(data) if isinstance(v, str)]
        if odd:
            data = [0.0 if isinstance(v, str) else v for v in data]
        arr = np.array(data, dtype=np.float64).astype(dtype) if data else np.empty(0, dtype)
        bits = arr.view(f"u{dtype.itemsize}")
        for i, v in odd:  # NaNs with their own bits
            bits[i] = int(v.removeprefix("nan:"), 16)
    else:
        arr = np.array(data, dtype=dtype) if data else np.empty(0, dtype)
    return arr.reshape(line["shape"])


def dumps(doc, arrays):
    """The text of a golden file; raises if any array would not read back bit for bit."""
    lines = [json.dumps({"schema": SCHEMA})]
    for key, value in doc.items():
        if isinstance(value, list):
            lines.append(json.dumps({"doc": key, "value": []}))  # the list itself, even when empty
            lines.extend(json.dumps({"doc": key, "item": item}) for item in value)
        else:
            lines.append(json.dumps({"doc": key, "value": value}))
    for name in sorted(arrays):
        record = _encode(name, arrays[name])
        back = _decode(json.loads(json.dumps(record)))
        want = np.asarray(arrays[name])
        if (
            back.dtype != want.dtype.newbyteorder("=")
            or back.shape != want.shape
            or back.tobytes() != np.ascontiguousarray(want.astype(back.dtype)).tobytes()
        ):
            raise AssertionError(f"golden array {name!r} does not round-trip exactly")
        lines.append(json.dumps(record, separators=(",", ":")))
    return "\n".join(lines) + "\n"


def write(name_or_path, doc, arrays):
    """Write ``doc`` (a dict of JSON values) and ``arrays`` (name -> ndarray) as one golden file."""
    path = pathlib.Path(name_or_path)
    if path.suffix != ".jsonl":
        path = path_of(str(name_or_path))
    path.write_text(dumps(doc, arrays))
    return path


def loads(text):
    """(doc, arrays) from the text of a golden file."""
    doc, arrays = {}, {}
    rows = text.splitlines()
    head = json.loads(rows[0])
    if head.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} file (first line {rows[0][:80]!r})")
    for row in rows[1:]:
        rec = json.loads(row)
        if "array" in rec:
            arrays[rec["array"]] = _decode(rec)
        elif "item" in rec:
            doc[rec["doc"]].append(rec["item"])
        else:
            doc[rec["doc"]] = rec["value"]
    return doc, arrays


def load(name_or_path):
    """(doc, arrays) of a golden file given by framework name ("keras") or path."""
    path = pathlib.Path(name_or_path)
    if path.suffix != ".jsonl":
        path = path_of(str(name_or_path))
    return loads(path.read_text())


def value_of(spec, arrays):
    """The Python value an argument spec of a case stands for: ``{"array": name}``, ``{"list": [...]}``,
    ``{"object_array": [...]}``, ``{"bytes_list": [...]}``, ``{"scalar": v}`` or ``{"none": true}``."""
    if "array" in spec:
        return arrays[spec["array"]]
    if "list" in spec:
        return spec["list"]
    if "object_array" in spec:
        return np.array(spec["object_array"], dtype=object)
    if "bytes_list" in spec:
        return [v.encode("ascii") for v in spec["bytes_list"]]
    if "none" in spec:
        return None
    return spec["scalar"]
