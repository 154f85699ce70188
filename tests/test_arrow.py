"""crossentropy.io.arrow: Parquet files, datasets (folder, glob) and Arrow IPC files streamed as NumPy blocks;
column types, errors naming the column and row, zero-copy memory-mapped IPC, bounded memory."""

import os

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
feather = pytest.importorskip("pyarrow.feather")

from crossentropy.io import arrow as A  # noqa: E402
from crossentropy.metrics import CrossEntropy  # noqa: E402


def _fsl(x):
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


@pytest.fixture
def data():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1000, 7)).astype(np.float32)
    y = rng.integers(0, 7, 1000)
    return x, y


def _collect(blocks):
    rows, ps, ts = [], [], []
    for r, p, t in blocks:
        rows.append(r)
        ps.append(p)
        ts.append(t)
    return rows, np.concatenate(ps), np.concatenate(ts)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("kind", ["fixed_size_list", "list", "tensor"])
def test_parquet_column_kinds(tmp_path, data, dtype, kind):
    x, y = data
    x = x.astype(dtype)
    col = {
        "fixed_size_list": _fsl(x),
        "list": pa.array(list(x), type=pa.list_(pa.from_numpy_dtype(dtype))),
        "tensor": pa.FixedShapeTensorArray.from_numpy_ndarray(x),
    }[kind]
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"logits": col, "label": y}), path, row_group_size=300)
    rows, p, t = _collect(A.iter_blocks(str(path), "logits", target_col="label", max_rows=128))
    np.testing.assert_array_equal(p, x)
    np.testing.assert_array_equal(t, y)
    assert rows[:3] == [0, 128, 256] and max(np.diff(rows)) <= 128


def test_dataset_folder_and_glob(tmp_path, data):
    x, y = data
    d = tmp_path / "ds"
    (d / "sub").mkdir(parents=True)
    cuts = [0, 300, 301, 700, 1000]
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=False)):
        where = d / "sub" if k == 2 else d
        pq.write_table(pa.table({"x": _fsl(x[a:b]), "y": y[a:b]}), where / f"part-{k}.parquet")
    (d / "README.txt").write_text("not parquet")
    rows, p, t = _collect(A.iter_blocks(str(d), "x", target_col="y", max_rows=1000))
    # folder order is sorted path order: part-0, part-1, part-3, then sub/part-2
    order = np.r_[0:300, 300:301, 701 - 1 : 1000, 301:700]
    np.testing.assert_array_equal(p, x[order])
    np.testing.assert_array_equal(t, y[order])
    rows, p, t = _collect(A.iter_blocks(str(d / "part-*.parquet"), "x", target_col="y"))
    assert len(p) == 300 + 1 + 300
    with A.open_table(str(d), ["x"]) as tab:
        assert tab.num_rows == 1000 and len(tab.files) == 4


def test_ipc_file_zero_copy_and_stream(tmp_path, data):
    x, y = data
    path = tmp_path / "t.arrow"
    feather.write_feather(pa.table({"x": _fsl(x), "y": y}), path, compression="uncompressed", chunksize=256)
    with A.open_table(str(path), ["x", "y"]) as tab:
        base = tab._buf.address
        size = os.path.getsize(path)
        blocks = list(A.iter_blocks(tab, "x", target_col="y", max_rows=100))
        for _, p, t in blocks:  # views of the memory map, not copies
            assert base <= p.ctypes.data < base + size and base <= t.ctypes.data < base + size
        rows, p, t = _collect(blocks)
        np.testing.assert_array_equal(p, x)
        np.testing.assert_array_equal(t, y)
        assert rows[:4] == [0, 100, 200, 256]  # blocks never straddle record batches
    spath = tmp_path / "t.arrows"
    with (
        pa.OSFile(str(spath), "wb") as fh,
        pa.ipc.new_stream(fh, pa.schema([("x", _fsl(x).type), ("y", pa.int64())])) as w,
    ):
        w.write_table(pa.table({"x": _fsl(x), "y": y}), max_chunksize=333)
    rows, p, t = _collect(A.iter_blocks(str(spath), "x", target_col="y"))
    np.testing.assert_array_equal(p, x)
    reader = A.open_column(str(spath), "x", role="PRED")  # the command line's reader: counts, then reads
    assert reader.shape == (1000, 7)
    np.testing.assert_array_equal(reader.read(0, 0, 1000), x)
    reader.close()
    zpath = tmp_path / "z.feather"  # compressed IPC: decoded batch by batch
    feather.write_feather(pa.table({"x": _fsl(x), "y": y}), zpath, compression="zstd", chunksize=128)
    rows, p, t = _collect(A.iter_blocks(str(zpath), "x", target_col="y"))
    np.testing.assert_array_equal(p, x)


def test_two_tables_with_different_batches(tmp_path, data):
    x, y = data
    pq.write_table(pa.table({"logits": _fsl(x)}), tmp_path / "pred.parquet", row_group_size=170)
    feather.write_feather(pa.table({"label": y}), tmp_path / "target.arrow", chunksize=333)
    rows, p, t = _collect(
        A.iter_blocks(str(tmp_path / "pred.parquet"), "logits", str(tmp_path / "target.arrow"), "label", max_rows=100)
    )
    np.testing.assert_array_equal(p, x)
    np.testing.assert_array_equal(t, y)
    m, ref = CrossEntropy(), CrossEntropy()
    for _, pb, tb in A.iter_blocks(
        str(tmp_path / "pred.parquet"), "logits", str(tmp_path / "target.arrow"), "label", max_rows=100
    ):
        m.update(pb, tb)
    ref.update(x, y)
    assert m.result() == pytest.approx(ref.result(), rel=1e-15)
    feather.write_feather(pa.table({"label": y[:-1]}), tmp_path / "short.arrow")
    with pytest.raises(ValueError, match="1000 rows.*999|need one row each"):
        list(A.iter_blocks(str(tmp_path / "pred.parquet"), "logits", str(tmp_path / "short.arrow"), "label"))


def test_errors_name_column_and_row(tmp_path, data):
    x, y = data
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"x": _fsl(x), "y": y, "s": pa.array([str(v) for v in y])}), path)
    with pytest.raises(ValueError, match=r"no column 'logits' \(columns: x, y, s\)"):
        A.open_table(str(path), ["logits"])
    with pytest.raises(TypeError, match=r"column 's' has type string"):
        A.open_table(str(path), ["x", "s"])
    with pytest.raises(FileNotFoundError, match="no such file"):
        A.open_table(str(tmp_path / "missing.parquet"), ["x"])
    with pytest.raises(ValueError, match="no file matches"):
        A.open_table(str(tmp_path / "nothing-*.parquet"), ["x"])
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        A.open_table(str(tmp_path / "bad.parquet"), ["x"])

    rows = [list(r) for r in x[:10]]
    rows[7] = rows[7][:3]  # ragged at global row 507
    nulls = [int(v) for v in y[:10]]
    nulls[4] = None  # null label at global row 504
    part0 = pa.table({"x": pa.array(list(x[:500]), pa.list_(pa.float32())), "y": y[:500]})
    part1 = pa.table({"x": pa.array(rows, pa.list_(pa.float32())), "y": pa.array(nulls, pa.int64())})
    pq.write_table(pa.concat_tables([part0, part1]), tmp_path / "r.parquet", row_group_size=500)
    with pytest.raises(ValueError, match=r"column 'x': ragged lists: row 507 has 3 values"):
        list(A.iter_blocks(str(tmp_path / "r.parquet"), "x", target_col="y", max_rows=600))
    part1 = pa.table({"x": pa.array(list(x[:10]), pa.list_(pa.float32())), "y": pa.array(nulls, pa.int64())})
    pq.write_table(pa.concat_tables([part0, part1]), tmp_path / "n.parquet", row_group_size=500)
    with pytest.raises(ValueError, match=r"column 'y': a null at row 504"):
        list(A.iter_blocks(str(tmp_path / "n.parquet"), "x", target_col="y", max_rows=600))

    d = tmp_path / "mixed"
    d.mkdir()
    pq.write_table(pa.table({"x": _fsl(x), "y": y}), d / "a.parquet")
    pq.write_table(pa.table({"x": _fsl(x.astype(np.float64)), "y": y}), d / "b.parquet")
    with pytest.raises(TypeError, match=r"b.parquet: column 'x' has type"):
        A.open_table(str(d), ["x", "y"])


@pytest.mark.slow
def test_parquet_streams_in_bounded_memory(tmp_path):
    """RSS while streaming a 128 MiB Parquet file in 2 MiB batches grows by a constant (pyarrow's decode buffers
    and its allocator's cache: about 32 MiB measured here on 83 MiB and 333 MiB files), not with the file."""
    rng = np.random.default_rng(0)
    rows, c = 128 * 1024, 256
    path = tmp_path / "big.parquet"
    with pq.ParquetWriter(
        path, pa.schema([("x", pa.list_(pa.float32(), c)), ("y", pa.int64())]), compression="none"
    ) as w:
        for _ in range(4):
            x = rng.standard_normal((rows // 4, c)).astype(np.float32)
            w.write_table(pa.table({"x": _fsl(x), "y": rng.integers(0, c, rows // 4)}), row_group_size=2048)
    del x

    def rss():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc")
    pa.default_memory_pool().release_unused()
    base = rss()
    peak = base
    n = 0
    for _, p, _t in A.iter_blocks(str(path), "x", target_col="y", max_rows=2048):
        n += len(p)
        peak = max(peak, rss())
    assert n == rows
    assert peak - base < 64 << 20, f"RSS grew by {(peak - base) >> 20} MiB streaming a 128 MiB file"


def test_without_pyarrow_one_line(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError("no pyarrow")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(
        ImportError,
        match=r"^reading x.parquet needs pyarrow, which is not installed: "
        r"pip install crossentropy\[arrow\]$",
    ):
        A.open_table("x.parquet", ["a"])


def test_is_arrow_path(tmp_path):
    assert A.is_arrow_path("a.parquet") and A.is_arrow_path("b.feather") and A.is_arrow_path("c.ARROW")
    assert A.is_arrow_path(str(tmp_path)) and A.is_arrow_path(str(tmp_path / "p-*.parquet"))
    assert not A.is_arrow_path("a.npy") and not A.is_arrow_path("a.npz")


# ---------------------------------------------------------------------------------------------------------
# crossentropy eval on tables
# ---------------------------------------------------------------------------------------------------------
def _eval(capsys, *argv):
    import json

    from crossentropy.cli import main

    rc = main(["eval", *argv, "--json"])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else None), err


def test_cli_parquet_one_table_matches_npy(tmp_path, capsys, data):
    x, y = data
    y = y.copy()
    y[::7] = -100
    pq.write_table(pa.table({"logits": _fsl(x), "label": y}), tmp_path / "p.parquet", row_group_size=300)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    common = [
        "--loss",
        "sparse_categorical",
        "--from-logits",
        "--semantics",
        "torch",
        "--top-k",
        "3",
        "--chunk-rows",
        "128",
    ]
    rc, tab, err = _eval(
        capsys,
        str(tmp_path / "p.parquet"),
        "--pred-col",
        "logits",
        "--target-col",
        "label",
        *common,
        "--per-sample",
        str(tmp_path / "ps.npy"),
    )
    assert rc == 0, err
    rc, arr, err = _eval(capsys, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), *common)
    assert rc == 0, err
    for k in ("mean", "sum", "count", "perplexity", "accuracy", "top_k_accuracy", "classes", "dtype"):
        assert tab[k] == arr[k], k
    from crossentropy.metrics import Accuracy, CrossEntropy

    ce_m, acc = CrossEntropy(semantics="torch"), Accuracy(top_k=3)
    ce_m.update(x, y)
    acc.update(x, y)
    assert tab["mean"] == pytest.approx(ce_m.result(), rel=1e-6) and tab["top_k_accuracy"] == acc.result()
    assert tab["perplexity"] == pytest.approx(np.exp(tab["mean"]), rel=1e-15)
    assert np.load(tmp_path / "ps.npy").shape == (1000,)


@pytest.mark.parametrize("layout", ["dataset", "glob", "ipc", "feather", "two-files"])
def test_cli_table_layouts(tmp_path, capsys, data, layout):
    x, y = data
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    rc, ref, err = _eval(
        capsys, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--loss", "sparse_categorical", "--from-logits"
    )
    table = pa.table({"logits": _fsl(x), "label": y})
    if layout in ("dataset", "glob"):
        d = tmp_path / "ds"
        d.mkdir()
        for k, (a, b) in enumerate(((0, 400), (400, 401), (401, 1000))):
            pq.write_table(table.slice(a, b - a), d / f"part-{k}.parquet")
        args = [
            str(d) if layout == "dataset" else str(d / "part-*.parquet"),
            "--pred-col",
            "logits",
            "--target-col",
            "label",
        ]
    elif layout in ("ipc", "feather"):
        path = tmp_path / ("t.arrow" if layout == "ipc" else "t.feather")
        feather.write_feather(table, path, compression="uncompressed" if layout == "ipc" else "lz4", chunksize=300)
        args = [str(path), "--pred-col", "logits", "--target-col", "label"]
    else:
        pq.write_table(table.select(["logits"]), tmp_path / "pred.parquet", row_group_size=333)
        feather.write_feather(table.select(["label"]), tmp_path / "target.arrow", chunksize=250)
        args = [
            str(tmp_path / "pred.parquet"),
            str(tmp_path / "target.arrow"),
            "--pred-col",
            "logits",
            "--target-col",
            "label",
        ]
    rc, got, err = _eval(capsys, *args, "--loss", "sparse_categorical", "--from-logits", "--chunk-rows", "256")
    assert rc == 0, err
    assert got["count"] == ref["count"] == 1000
    assert got["mean"] == pytest.approx(ref["mean"], rel=1e-12) and got["accuracy"] == ref["accuracy"]


def test_cli_dense_targets_and_binary(tmp_path, capsys):
    rng = np.random.default_rng(3)
    p = rng.random((50, 4)).astype(np.float32)
    t = rng.integers(0, 2, (50, 4)).astype(np.float32)
    pq.write_table(pa.table({"p": _fsl(p), "t": pa.array(list(t), pa.list_(pa.float32()))}), tmp_path / "b.parquet")
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    rc, got, err = _eval(
        capsys, str(tmp_path / "b.parquet"), "--pred-col", "p", "--target-col", "t", "--loss", "binary"
    )
    assert rc == 0, err
    rc, ref, _ = _eval(capsys, str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), "--loss", "binary")
    assert got["mean"] == ref["mean"] and "accuracy" not in got


def test_cli_table_errors_one_line_nothing_written(tmp_path, capsys, data):
    from crossentropy.cli import main

    x, y = data
    rows = [list(r) for r in x]
    rows[600] = rows[600][:5]
    pq.write_table(
        pa.table({"logits": pa.array(rows, pa.list_(pa.float32())), "label": y, "s": pa.array(["a"] * 1000)}),
        tmp_path / "r.parquet",
        row_group_size=250,
    )
    out = tmp_path / "out.npy"

    def err_of(*argv):
        rc = main(["eval", *argv, "--loss", "sparse_categorical", "--from-logits"])
        _, err = capsys.readouterr()
        assert rc == 1 and err.count("\n") == 1, err
        return err

    e = err_of(
        str(tmp_path / "r.parquet"),
        "--pred-col",
        "logits",
        "--target-col",
        "label",
        "--per-sample",
        str(out),
        "--chunk-rows",
        "200",
    )
    assert "column 'logits'" in e and "row 600" in e
    assert not out.exists() and not [f for f in os.listdir(tmp_path) if f.startswith(".crossentropy-")]
    e = err_of(str(tmp_path / "r.parquet"), "--pred-col", "nope", "--target-col", "label")
    assert "no column 'nope' (columns: logits, label, s)" in e
    e = err_of(str(tmp_path / "r.parquet"), "--pred-col", "s", "--target-col", "label")
    assert "column 's' has type string" in e
    e = err_of(str(tmp_path / "r.parquet"), "--target-col", "label")
    assert "name one with --pred-col" in e
    e = err_of(str(tmp_path / "r.parquet"), "--pred-col", "logits")
    assert "TARGET is missing" in e
    np.save(tmp_path / "x.npy", x)
    e = err_of(str(tmp_path / "x.npy"), str(tmp_path / "r.parquet"), "--pred-col", "logits", "--target-col", "label")
    assert "--pred-col names a column of a Parquet/Arrow table" in e
    nulls = pa.array([None if i == 321 else int(v) for i, v in enumerate(y)], pa.int64())
    pq.write_table(pa.table({"logits": _fsl(x), "label": nulls}), tmp_path / "n.parquet")
    e = err_of(str(tmp_path / "n.parquet"), "--pred-col", "logits", "--target-col", "label")
    assert "column 'label': a null at row 321" in e


def _token_reference(x, y, ignore=-100):
    x = x.astype(np.float64)
    valid = y != ignore
    safe = np.where(valid, y, 0)
    m = x.max(axis=-1, keepdims=True)
    lse = (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]
    own = np.take_along_axis(x, safe[..., None], axis=-1)[..., 0]
    logp = x - lse[..., None]
    entropy = -(np.exp(logp) * logp).sum(axis=-1)
    rank = np.where(valid, (x > own[..., None]).sum(axis=-1), -1)
    return np.where(valid, lse - own, 0.0), lse, entropy, rank, valid


@pytest.mark.parametrize("source", ["npy", "parquet"])
def test_cli_per_token_and_per_sequence(tmp_path, capsys, source):
    rng = np.random.default_rng(9)
    b, t, v = 6, 5, 11
    x = (rng.standard_normal((b, t, v)) * 2).astype(np.float32)
    y = rng.integers(0, v, (b, t))
    y[1, :3] = -100
    y[4, :] = -100  # a sequence with no counted token: NaN
    if source == "npy":
        np.save(tmp_path / "x.npy", x)
        np.save(tmp_path / "y.npy", y)
        args = [str(tmp_path / "x.npy"), str(tmp_path / "y.npy")]
    else:
        inner = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), v)
        col = pa.FixedSizeListArray.from_arrays(inner, t)  # (B, T, V) as nested fixed-size lists
        labels = pa.FixedSizeListArray.from_arrays(pa.array(y.ravel()), t)
        pq.write_table(pa.table({"x": col, "y": labels}), tmp_path / "lm.parquet", row_group_size=4)
        args = [str(tmp_path / "lm.parquet"), "--pred-col", "x", "--target-col", "y"]
    rc, res, err = _eval(
        capsys,
        *args,
        "--loss",
        "sparse_categorical",
        "--from-logits",
        "--semantics",
        "torch",
        "--axis",
        "-1",
        "--per-token",
        str(tmp_path / "tok.npz"),
        "--per-sequence",
        str(tmp_path / "seq.npy"),
        "--chunk-rows",
        "4",
        "--top-k",
        "2",
    )
    assert rc == 0, err
    got = np.load(tmp_path / "tok.npz")
    ref = _token_reference(x, y)
    for name, want in zip(("nll", "lse", "entropy", "rank", "valid"), ref, strict=True):
        assert got[name].shape == (b, t)
        if got[name].dtype.kind == "f":
            assert got[name].dtype == np.float32
            np.testing.assert_allclose(got[name], want, rtol=2e-6, atol=2e-6)
        else:
            np.testing.assert_array_equal(got[name], want)
    seq = np.load(tmp_path / "seq.npy")
    nll, valid = ref[0], ref[4]
    with np.errstate(all="ignore"):
        want = np.exp(np.sum(nll * valid, axis=1) / valid.sum(axis=1))
    np.testing.assert_allclose(seq, want, rtol=1e-6)
    assert np.isnan(seq[4]) and np.isnan(want[4])
    assert res["perplexity"] == pytest.approx(np.exp(nll[valid].mean()), rel=1e-6)
    assert res["top_k_accuracy"] == pytest.approx(np.mean(ref[3][valid] < 2))
    assert res["accuracy"] == pytest.approx(np.mean(ref[3][valid] < 1))


def test_cli_per_token_refused_and_nothing_left(tmp_path, capsys):
    from crossentropy.cli import main

    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.array([0, 1, 2, 7]))
    rc = main(
        [
            "eval",
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
            "--loss",
            "sparse_categorical",
            "--from-logits",
            "--per-token",
            str(tmp_path / "t.npz"),
        ]
    )
    assert rc == 1 and "outside the class range" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["x.npy", "y.npy"]
    rc = main(
        [
            "eval",
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
            "--loss",
            "sparse_categorical",
            "--from-logits",
            "--per-sequence",
            str(tmp_path / "s.npy"),
        ]
    )
    assert rc == 1 and "(B, T, V)" in capsys.readouterr().err
    rc = main(
        [
            "eval",
            str(tmp_path / "x.npy"),
            str(tmp_path / "x.npy"),
            "--loss",
            "categorical",
            "--from-logits",
            "--per-token",
            str(tmp_path / "t.npz"),
        ]
    )
    assert rc == 1 and "--per-token and --per-sequence apply to" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["x.npy", "y.npy"]
