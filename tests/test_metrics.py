"""crossentropy.metrics: compensated accumulation, merging shards, pickling, ignored targets, the
loss/semantics table, Arrow/pandas/polars columns without copies, and live checks against torch/torchmetrics."""

import math
import pickle
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crossentropy as ce
from crossentropy import metrics as M


def _ulps(a, b):
    return abs(a - b) / np.spacing(abs(b))


# ---------------------------------------------------------------------------------------------------------
# accumulation accuracy
# ---------------------------------------------------------------------------------------------------------
def test_ten_million_rows_exact_mean_where_running_sum_is_not():
    """10^7 per-row losses: one of about 1 and the rest just under half an ulp of 1.  A plain float64 running
    sum stays at the first value; the metric gets the exact mean to 1e-12."""
    rows, updates = 10_000, 1_000
    small = np.tile(np.array([[0.0, -37.5]]), (rows, 1))  # loss log1p(e^-37.5), about 5.2e-17
    first = small.copy()
    first[0] = [0.0, 0.0]  # loss log 2
    labels = np.zeros(rows, np.int64)
    v_small = float(ce.sparse_softmax_cross_entropy(small[:1], labels[:1])[0])
    v_first = float(ce.sparse_softmax_cross_entropy(first[:1], labels[:1])[0])
    assert 0 < v_small < np.spacing(v_first) / 2

    m = M.CrossEntropy()
    m.update(first, labels)  # the full path once ...
    per_row = ce.sparse_softmax_cross_entropy(small, labels)
    plain = float(np.cumsum(ce.sparse_softmax_cross_entropy(first, labels))[-1])
    for _ in range(updates - 1):
        m.update_values(per_row)  # ... then the same rows' losses (kernel time)
        plain = float(np.cumsum(np.concatenate([[plain], per_row]))[-1])  # the per-row running sum
    n = rows * updates
    exact = (Fraction(v_first) + (n - 1) * Fraction(v_small)) / n
    assert m.count == n
    assert abs(Fraction(m.result()) - exact) / exact < 1e-12
    assert abs(Fraction(plain / n) - exact) / exact > 1e-12


def test_ten_million_values_cancellation_where_batch_running_sum_is_not():
    """10^7 values in 10^3 updates whose batch sums are odd integers next to 1e16, then -1e16: summing
    batch sums in a float64 running total loses one unit per update; the metric's pair does not."""
    m = M.CrossEntropy()
    ones = np.ones(10_001)
    plain = 0.0
    m.update_values(np.array([1e16]))
    plain += 1e16
    for _ in range(1_000 - 2):
        m.update_values(ones)
        plain += float(np.sum(ones))
    m.update_values(np.array([-1e16]))
    plain += -1e16
    n = 2 + 10_001 * (1_000 - 2)
    exact = Fraction(10_001 * (1_000 - 2), n)
    assert m.updates == 1_000 and m.count == n
    assert abs(Fraction(m.result()) - exact) / exact < 1e-12
    assert abs(Fraction(plain / n) - exact) / exact > 1e-12


def test_batch_sum_is_compensated():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(100_000) * 1e10, rng.standard_normal(100_000)])
    x = np.concatenate([x, -x[:100_000]])
    rng.shuffle(x)
    hi, lo = M._batch_sum(x)
    assert hi + lo == math.fsum(x)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_batches=st.integers(1, 8),
    n_shards=st.integers(1, 5),
    scale=st.sampled_from([1.0, 1e3, 1e-3]),
    weighted=st.booleans(),
)
def test_merging_any_split_equals_single_pass(seed, n_batches, n_shards, scale, weighted):
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(n_batches):
        n = int(rng.integers(0, 40))
        x = rng.standard_normal((n, 7)) * scale
        y = rng.integers(0, 7, n)
        y[rng.random(n) < 0.2] = -100
        w = rng.random(n) if weighted else None
        batches.append((x, y, w))
    for metric in (M.CrossEntropy(semantics="torch"), M.Perplexity(), M.Accuracy(top_k=2)):
        single = pickle.loads(pickle.dumps(metric))
        for x, y, w in batches:
            single.update(x, y, w)
        shards = [pickle.loads(pickle.dumps(metric)) for _ in range(n_shards)]
        owner = rng.integers(0, n_shards, n_batches)
        for (x, y, w), k in zip(batches, owner, strict=False):
            shards[k].update(x, y, w)
        shards = [pickle.loads(pickle.dumps(s)) for s in shards]  # states travel between processes
        order = rng.permutation(n_shards)
        merged = shards[order[0]]
        for k in order[1:]:
            assert merged.merge(shards[k]) is merged
        a, b = merged.result(), single.result()
        if not math.isfinite(b):
            assert a == b or (math.isnan(a) and math.isnan(b))
        else:
            assert _ulps(a, b) <= 1, (type(metric).__name__, a, b)


# ---------------------------------------------------------------------------------------------------------
# semantics
# ---------------------------------------------------------------------------------------------------------
def test_ignored_targets_left_out_like_torch():
    from crossentropy import torch as T

    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 5))
    y = rng.integers(0, 5, 50)
    y[::3] = -100
    m = M.CrossEntropy(semantics="torch")
    m.update(x[:20], y[:20])
    m.update(x[20:], y[20:])
    assert m.count == np.count_nonzero(y != -100)
    assert _ulps(m.result(), float(T.cross_entropy(x, y))) <= 4
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.cross_entropy(torch.from_numpy(x), torch.from_numpy(y)).item()
    assert _ulps(m.result(), ref) <= 8
    k = M.CrossEntropy(ignore_class=3)  # keras semantics, ignore_class
    k.update(x, np.where(y == -100, 3, y))
    assert k.count == np.count_nonzero((y != -100) & (y != 3))


def test_all_ignored_is_nan_and_empty_is_nan():
    m = M.CrossEntropy(semantics="torch")
    assert math.isnan(m.result())
    m.update(np.zeros((3, 2)), np.full(3, -100))
    assert math.isnan(m.result()) and m.count == 0
    assert math.isnan(M.Perplexity().result()) and math.isnan(M.Accuracy().result())


@pytest.mark.parametrize(
    "loss,sem,from_logits,kw",
    [
        ("sparse_categorical", "keras", True, {}),
        ("sparse_categorical", "keras", False, {}),
        ("categorical", "keras", True, {"label_smoothing": 0.1}),
        ("binary", "keras", True, {}),
        ("categorical_focal", "keras", False, {"gamma": 1.5}),
        ("binary_focal", "keras", True, {"apply_class_balancing": True}),
        ("categorical", "torch", True, {}),
        ("sparse_categorical", "torch", True, {"label_smoothing": 0.05}),
        ("binary", "torch", False, {}),
        ("binary", "torch", True, {}),
        ("categorical", "tf", True, {}),
        ("sparse_categorical", "tf", True, {}),
        ("binary", "tf", True, {}),
    ],
)
def test_table_matches_the_layer_functions(loss, sem, from_logits, kw):
    from crossentropy import keras as K
    from crossentropy import tf as TF
    from crossentropy import torch as T

    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 4))
    if not from_logits:
        x = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, 30)
    dense = np.eye(4)[labels] if loss.startswith("categorical") else rng.integers(0, 2, (30, 4)).astype(float)
    t = labels if loss == "sparse_categorical" else dense
    m = M.CrossEntropy(loss, from_logits=from_logits, semantics=sem, **kw)
    for a in range(0, 30, 7):
        m.update(x[a : a + 7], t[a : a + 7])
    if sem == "keras":
        ref = getattr(K, f"{loss}_crossentropy")(t, x, from_logits=from_logits, **kw)
    elif sem == "torch" and loss != "binary":
        ref = T.cross_entropy(x, t, reduction="none", **kw)
    elif sem == "torch":
        f = T.binary_cross_entropy_with_logits if from_logits else T.binary_cross_entropy
        ref = f(x, t, reduction="none").mean(axis=-1)
    elif loss == "categorical":
        ref = TF.softmax_cross_entropy_with_logits(t, x)
    elif loss == "sparse_categorical":
        ref = TF.sparse_softmax_cross_entropy_with_logits(t, x)
    else:
        ref = TF.sigmoid_cross_entropy_with_logits(t, x).mean(axis=-1)
    assert _ulps(m.result(), math.fsum(np.asarray(ref)) / 30) <= 2


def test_perplexity_and_accuracy_against_torchmetrics():
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 11, 9))
    y = rng.integers(0, 9, (3, 11))
    y[0, :4] = -100
    p, a1, a3 = M.Perplexity(), M.Accuracy(), M.Accuracy(top_k=3)
    for b in range(3):
        for m in (p, a1, a3):
            m.update(x[b : b + 1], y[b : b + 1])
    ref = tm.text.Perplexity(ignore_index=-100)
    ref.set_dtype(torch.float64)
    ref.update(torch.from_numpy(x), torch.from_numpy(y))
    assert _ulps(p.result(), ref.compute().item()) <= 16
    for k, m in ((1, a1), (3, a3)):
        acc = tm.classification.MulticlassAccuracy(num_classes=9, top_k=k, average="micro", ignore_index=-100)
        acc.update(torch.from_numpy(x.reshape(-1, 9)), torch.from_numpy(y.reshape(-1)))
        assert m.result() == pytest.approx(acc.compute().item(), abs=1e-7)


def test_accuracy_rank_in_blocks_and_nan(monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((500, 33)).astype(np.float32)
    y = rng.integers(0, 33, 500)
    whole = M.Accuracy(top_k=5)
    whole.update(x, y)
    monkeypatch.setattr(M, "_RANK_BLOCK_BYTES", 64)  # two rows per block
    blocks = M.Accuracy(top_k=5)
    blocks.update(x, y)
    own = x[np.arange(500), y]
    assert whole.result() == blocks.result() == np.mean((x > own[:, None]).sum(axis=1) < 5)
    x[0, y[0]] = np.nan
    m = M.Accuracy(top_k=33)
    m.update(x[:2], y[:2])
    assert m.result() == 0.5  # a NaN score is a miss, even at k = C


def test_sample_weight_and_nan_propagation():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    y = np.array([0, 0, 1])
    vals = ce.sparse_softmax_cross_entropy(x, y)
    m = M.CrossEntropy()
    m.update(x, y, sample_weight=np.array([1.0, 2.0, 0.5]))
    assert _ulps(m.result(), float(np.dot(vals, [1, 2, 0.5]) / 3.5)) <= 2
    with np.errstate(invalid="ignore"):
        m.update(np.array([[np.nan, 0.0]]), np.array([0]))
    assert math.isnan(m.result())


def test_bad_input_messages():
    with pytest.raises(ValueError, match="loss must be one of"):
        M.CrossEntropy("hinge")
    with pytest.raises(ValueError, match="no 'torch' semantics"):
        M.CrossEntropy("categorical_focal", semantics="torch")
    with pytest.raises(ValueError, match="from_logits=True"):
        M.CrossEntropy("categorical", semantics="tf", from_logits=False).update(np.zeros((2, 2)), np.eye(2))
    with pytest.raises(ValueError, match="same class and settings"):
        M.Accuracy(top_k=1).merge(M.Accuracy(top_k=2))
    with pytest.raises(ValueError, match="top_k"):
        M.Accuracy(top_k=0)
    with pytest.raises(ValueError, match="does not match pred"):
        M.Perplexity().update(np.zeros((4, 3)), np.zeros(5, int))
    with pytest.raises(TypeError, match="integer class labels"):
        M.Accuracy().update(np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(IndexError, match="outside the class range"):
        M.Accuracy().update(np.zeros((4, 3)), np.array([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="sample_weight"):
        M.CrossEntropy().update(np.zeros((4, 3)), np.zeros(4, int), sample_weight=np.ones(3))
    with pytest.raises(TypeError, match="reduction"):
        M.CrossEntropy(reduction="sum")


def test_reset_and_repr():
    m = M.CrossEntropy("binary", semantics="tf", label_smoothing=0.0) if False else M.CrossEntropy("binary")
    m.update(np.zeros((2, 3)), np.ones((2, 3)))
    assert m.count == 2 and m.reset() is m and m.count == 0
    assert "binary" in repr(m) and repr(M.Accuracy(top_k=3)) == "Accuracy(top_k=3, ignore_index=-100)"


# ---------------------------------------------------------------------------------------------------------
# columns: Arrow, pandas, polars, the PyCapsule interface
# ---------------------------------------------------------------------------------------------------------
pa = pytest.importorskip("pyarrow")


def _arrow_2d(x):
    return pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), x.shape[1])


def _data(n=40, c=6, seed=6, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)).astype(dtype), rng.integers(0, c, n)


def test_fixed_size_list_zero_copy_and_slices():
    from crossentropy.io.columns import to_ndarray

    x, y = _data()
    col = _arrow_2d(x)
    view = to_ndarray(col)
    assert (
        np.shares_memory(view, np.frombuffer(col.flatten().buffers()[1], np.float32))
        or view.ctypes.data == col.flatten().buffers()[1].address
    )
    sl = col.slice(7, 10)
    v = to_ndarray(sl)
    np.testing.assert_array_equal(v, x[7:17])
    assert v.ctypes.data == view.ctypes.data + 7 * 6 * 4  # a view into the same buffer
    m, ref = M.CrossEntropy(), M.CrossEntropy()
    m.update(col, pa.array(y))
    ref.update(x, y)
    assert m.result() == ref.result()


def test_list_column_equal_lengths_zero_copy_and_ragged_error():
    from crossentropy.io.columns import to_ndarray

    x, y = _data()
    col = pa.array(list(x), type=pa.list_(pa.float32()))
    sl = col.slice(5, 20)
    v = to_ndarray(sl)
    np.testing.assert_array_equal(v, x[5:25])
    assert v.ctypes.data == col.values.buffers()[1].address + 5 * 6 * 4
    ragged = pa.array([[1.0, 2.0], [1.0, 2.0], [3.0]], type=pa.list_(pa.float64()))
    with pytest.raises(ValueError, match=r"column 'logits': ragged lists: row 2 has 1 values"):
        to_ndarray(ragged, "logits")
    with pytest.raises(ValueError, match=r"column 'logits': a null at row 1"):
        to_ndarray(pa.array([[1.0], None], type=pa.list_(pa.float64())), "logits")
    with pytest.raises(ValueError, match=r"a null value inside row 1"):
        to_ndarray(pa.array([[1.0, 2.0], [None, 1.0]], type=pa.list_(pa.float64(), 2)), "logits")
    with pytest.raises(TypeError, match=r"column 'logits': .*not numbers"):
        to_ndarray(pa.array([["a"], ["b"]]), "logits")


def test_fixed_shape_tensor_and_half_precision():
    from crossentropy.io.columns import to_ndarray

    x = np.random.default_rng(7).standard_normal((5, 4, 3)).astype(np.float16)
    t = pa.FixedShapeTensorArray.from_numpy_ndarray(x)
    v = to_ndarray(t)
    assert v.shape == (5, 4, 3) and v.dtype == np.float16 and v.ctypes.data == t.storage.flatten().buffers()[1].address
    labels = pa.FixedShapeTensorArray.from_numpy_ndarray(np.random.default_rng(8).integers(0, 3, (5, 4)))
    p, ref = M.Perplexity(), M.Perplexity()
    p.update(t, labels)
    ref.update(x.astype(np.float32), to_ndarray(labels))
    assert p.result() == pytest.approx(ref.result(), rel=1e-6)


def test_chunked_table_columns_walk_chunks_without_copy():
    x, y = _data(n=60)
    table = pa.concat_tables(
        [pa.table({"x": _arrow_2d(x[a:b]), "y": y[a:b]}) for a, b in ((0, 25), (25, 26), (26, 60))]
    )
    assert table.column("x").num_chunks == 3
    m, ref = M.Accuracy(top_k=2), M.Accuracy(top_k=2)
    m.update(table.column("x"), table.column("y"))
    ref.update(x, y)
    assert m.result() == ref.result() and m.count == 60


def test_pandas_and_polars_columns():
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    from crossentropy.io.columns import to_ndarray

    x, y = _data()
    ref = M.CrossEntropy()
    ref.update(x, y)

    s = pl.Series("x", x)  # polars Array dtype: a 2-D view
    v = to_ndarray(s)
    assert v.shape == x.shape and v.ctypes.data == s.to_arrow().flatten().buffers()[1].address
    m = M.CrossEntropy()
    m.update(s, pl.Series("y", y))
    assert m.result() == ref.result()

    arrow_backed = pd.Series(pd.arrays.ArrowExtensionArray(_arrow_2d(x)))
    v = to_ndarray(arrow_backed)
    np.testing.assert_array_equal(v, x)
    assert not v.flags.owndata
    m = M.CrossEntropy()
    m.update(arrow_backed, pd.Series(y))
    assert m.result() == ref.result()

    df = pd.DataFrame({"x": list(x), "y": y})  # object column of per-row arrays: a copy
    m = M.CrossEntropy()
    m.update(df["x"], df["y"])
    assert m.result() == ref.result()
    with pytest.raises(ValueError, match=r"column 'x': ragged lists: row 1"):
        to_ndarray(pd.Series([np.zeros(3), np.zeros(2)]), "x")
    with pytest.raises(ValueError, match=r"column 'y': a null at row 2"):
        to_ndarray(pd.Series([1, 2, None], dtype="Int64"), "y")
    with pytest.raises(ValueError, match=r"column 'y': a null at row 1"):
        to_ndarray(pl.Series("y", [1, None, 3]), "y")


def test_pycapsule_producer():
    from crossentropy.io.columns import to_ndarray

    x, y = _data()
    col = _arrow_2d(x)

    class Producer:  # any library exporting the C data interface
        def __arrow_c_array__(self, requested_schema=None):
            return col.__arrow_c_array__(requested_schema)

    v = to_ndarray(Producer())
    np.testing.assert_array_equal(v, x)
    assert v.ctypes.data == col.flatten().buffers()[1].address


def test_without_pyarrow_message(monkeypatch):
    import builtins

    from crossentropy.io import columns

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError("no pyarrow")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r"pip install crossentropy\[arrow\]"):
        columns.require_pyarrow("reading x.parquet")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_token_stats_blocks(monkeypatch, dtype):
    """The token statistics the command line writes (--per-token): crossentropy.lm.token_stats when installed,
    else the gufuncs in row blocks; both against a float64 reference."""
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((3, 17, 13)) * 3).astype(dtype)
    x[0, 0, 4] = -np.inf
    y = rng.integers(0, 13, (3, 17))
    y[2, ::2] = -100
    monkeypatch.setattr(M, "_RANK_BLOCK_BYTES", 200)
    xd = x.astype(np.float64)
    valid = y != -100
    own = np.take_along_axis(xd, np.where(valid, y, 0)[..., None], axis=-1)[..., 0]
    lse = np.log(np.exp(xd).sum(axis=-1))
    with np.errstate(invalid="ignore"):  # 0 * -inf at the -inf logit, dropped by the where
        p = np.exp(xd - lse[..., None])
        ent = -np.sum(np.where(p > 0, p * (xd - lse[..., None]), 0), axis=-1)
    rank = np.where(valid, (xd > own[..., None]).sum(axis=-1), -1)
    variants = [M._lm_token_stats]
    if M._lm_token_stats() is not None:
        variants.append(lambda: None)  # the fallback, too
    for variant in variants:
        monkeypatch.setattr(M, "_lm_token_stats", variant)
        nll, lse_got, e, r, v = M.token_stats_blocks(x, y, -100)
        tol = 1e-12 if dtype == np.float64 else 2e-6
        assert nll.dtype == lse_got.dtype == e.dtype == dtype
        np.testing.assert_allclose(nll, np.where(valid, lse - own, 0), rtol=tol, atol=tol)
        np.testing.assert_allclose(lse_got, lse, rtol=tol)
        np.testing.assert_allclose(e, ent, rtol=tol, atol=tol)
        np.testing.assert_array_equal(r, rank)
        np.testing.assert_array_equal(v, valid)
