"""The N-d -> rows driver every layer uses: any class axis and layout gives the gufuncs' values, 0-d input is
one row of one element, per-element losses keep the input's shape, and flag counts are summed over blocks."""

import numpy as np
import pytest

import crossentropy as ce
from crossentropy._rows import run_rows


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_any_class_axis_matches_the_gufunc(axis):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5))
    xl = np.moveaxis(x, axis, -1)
    labels = rng.integers(0, xl.shape[-1], xl.shape[:-1])
    loss, grad, counts = run_rows("softmax", x, axis=axis, labels=labels, return_grad=True)
    want_loss, want_grad = ce.sparse_softmax_cross_entropy_and_grad(xl, labels)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-13)
    np.testing.assert_allclose(np.moveaxis(grad, axis, -1), want_grad, rtol=1e-12, atol=1e-15)
    assert grad.shape == x.shape and counts.get("bad_label", 0) == 0


def test_blocks_that_do_not_merge_sum_their_counts():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 6))[:, :, ::2]  # (4, 3, 3) strided: class axis 1 does not merge
    labels = np.array([[0, 1, 5], [2, 2, 2], [7, 0, 1], [1, 1, 9]])  # three labels out of range
    with np.errstate(invalid="ignore"):
        loss, grad, counts = run_rows("softmax", x, axis=1, labels=labels)
    assert counts["bad_label"] == 3 and grad is None
    assert np.isnan(loss).sum() == 3 and loss.shape == (4, 3)


def test_zero_d_and_per_element_binary():
    loss, grad, _ = run_rows(
        "binary", np.float64(0.5), t=np.float64(1.0), per_element_loss=True, return_grad=True, mode="logits_tf"
    )
    assert loss.shape == () and grad.shape == ()
    want_loss, want_grad = ce.sigmoid_cross_entropy_and_grad(0.5, 1.0)
    np.testing.assert_allclose([loss, grad], [want_loss, want_grad], rtol=1e-14)
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    z = np.tile([0.0, 1.0], 6).reshape(3, 4)
    loss, grad, _ = run_rows(
        "binary", x, t=z, elementwise={"pos_weight": None}, per_element_loss=True, return_grad=True, mode="logits_tf"
    )
    want_loss, want_grad = ce.sigmoid_cross_entropy_and_grad(x, z)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-14)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("rows", [1, 15, 16, 17, 40, 300])
@pytest.mark.parametrize("classes", [97, 1000, 2100])
def test_sparse_forward_finishes_rows_in_batches(dtype, rows, classes):
    """The forward of sparse labels finishes the losses of up to 16 rows after their sweeps (ce_xent_sparse_fwd_rows):
    each loss equals the fused call's, bit for bit, also next to rows that take the per-row kernel (ignored labels,
    rows all -inf, NaN, a max beyond the clamp-free range) anywhere in a batch."""
    import crossentropy.torch as ctorch

    rng = np.random.default_rng(rows * 7919 + classes)
    with np.errstate(under="ignore"):  # float16 rounds the smallest draws to 0
        x = (rng.standard_normal((rows, classes)) * 4).astype(dtype)
    y = rng.integers(0, classes, rows)
    special = rng.permutation(rows)[: max(1, rows // 5)]
    for k, i in enumerate(special):
        kind = k % 4
        if kind == 0:
            y[i] = -100
        elif kind == 1:
            x[i] = -np.inf
        elif kind == 2:
            x[i, (i * 13) % classes] = np.nan
        else:
            x[i] += np.asarray(30000 if dtype != "float16" else 20000, dtype)
    if dtype == "float16":  # no ignore_index on the gufunc: the others take labels in range
        y[y < 0] = 0
        forward = ce.sparse_softmax_cross_entropy(x, y)
        fused, _ = ce.sparse_softmax_cross_entropy_and_grad(x, y)
    else:
        forward = ctorch.cross_entropy(x, y, reduction="none")
        fused, _ = ctorch.cross_entropy(x, y, reduction="none", return_grad=True)
    np.testing.assert_array_equal(forward, fused)
    with np.errstate(all="ignore"):
        x64 = x.astype(np.float64)
        m = x64.max(1, keepdims=True)
        want = np.log(np.exp(x64 - m).sum(1)) + m[:, 0] - x64[np.arange(rows), np.maximum(y, 0)]
    want[y < 0] = 0
    ok = np.isfinite(want)
    np.testing.assert_allclose(forward[ok], want[ok], rtol=1e-5 if dtype != "float64" else 1e-12, atol=1e-5)
    assert np.all(np.isnan(forward[~ok]))


# long half rows are staged through contiguous float32 rows, whose results bfloat16 rows read in registers match to
# 4 ulp only (test_half.py): half types with few classes only
LAYOUTS = [(d, c) for d in ("float32", "float64") for c in (5, 19, 40, 96, 300, 1000)]
LAYOUTS += [(d, c) for d in ("float16", "bfloat16") for c in (5, 19, 40, 96)]


@pytest.mark.parametrize(("dtype", "cols"), LAYOUTS)
def test_rows_in_any_layout(dtype, cols):
    """Float rows whose classes, targets or gradient are strided are gathered into contiguous blocks, and few-class
    half rows widened block-wise, so that they run the contiguous rows' kernels: the same results, bit for bit
    (the strided row sweeps' exps round differently, and such rows once differed in their last bit)."""
    if dtype == "bfloat16":
        dtype = pytest.importorskip("ml_dtypes").bfloat16
    rng = np.random.default_rng(cols)
    with np.errstate(under="ignore"):
        wide = (rng.standard_normal((300, 2 * cols)) * 4).astype(dtype)
        t = rng.dirichlet(np.ones(cols), 300).astype(dtype)
    labels = rng.integers(0, cols, 300)
    for x in (wide[:, ::2], wide[:, ::-2]):
        xc = np.ascontiguousarray(x)
        for f in (ce.logsumexp, ce.softmax, ce.log_softmax):
            np.testing.assert_array_equal(f(x), f(xc), err_msg=f.__name__)
        for f, target in ((ce.sparse_softmax_cross_entropy_and_grad, labels), (ce.softmax_cross_entropy_and_grad, t)):
            (loss, g), (want_loss, want_g) = f(x, target), f(xc, target)
            np.testing.assert_array_equal(loss, want_loss, err_msg=f.__name__)
            np.testing.assert_array_equal(g, want_g, err_msg=f.__name__)
    # contiguous logits with strided targets, or into a strided gradient
    xc = np.ascontiguousarray(wide[:, ::2])
    tw = np.repeat(t, 2, axis=1)[:, ::2]
    np.testing.assert_array_equal(ce.softmax_cross_entropy(xc, tw), ce.softmax_cross_entropy(xc, t))
    loss = np.empty(300, np.float64 if np.dtype(dtype) == np.float64 else np.float32)
    g = np.empty_like(wide)[:, ::2]
    ce.sparse_softmax_cross_entropy_and_grad(xc, labels, out=(loss, g))
    want = ce.sparse_softmax_cross_entropy_and_grad(xc, labels)
    np.testing.assert_array_equal(loss, want[0])
    np.testing.assert_array_equal(g, want[1])


def _unusual_rows(x, shift):
    """Rows of x in turn made all -inf, given a NaN or a +inf, moved by +-shift (a max beyond the clamp-free
    range, 16384), given ties at the max, or left alone."""
    rows, classes = x.shape
    for i in range(rows):
        kind = (i * 5 + classes) % 7
        if kind == 0:
            x[i] = -np.inf
        elif kind == 1:
            x[i, (i * 13) % classes] = np.nan
        elif kind == 2:
            x[i, (i * 7) % classes] = np.inf
        elif kind == 3:
            x[i] += np.asarray(shift if i % 2 else -shift, x.dtype)
        elif kind == 4:
            x[i, :: max(1, classes // 5)] = x[i].max()  # ties at the max


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("rows", [2, 40, 300])  # one block, or one per thread (ce_block_rows)
@pytest.mark.parametrize("classes", [300, 1000, 4100])
@pytest.mark.parametrize("what", ["logsumexp", "softmax", "log_softmax"])
def test_transform_rows_carry_the_next_max(dtype, rows, classes, what):
    """logsumexp rows (and long float32 / float64 softmax and log_softmax rows) take the next row's max in their
    sweep (ce_transform_rows; half logsumexp rows read in registers): every row equals the same row transformed
    alone, bit for bit, also next to rows all -inf, with NaN or +inf, a max beyond the clamp-free range or ties
    at the max, with rows read backwards or apart; softmax(x, out=x) too."""
    fn = getattr(ce, what)
    if dtype == "bfloat16":
        dtype = pytest.importorskip("ml_dtypes").bfloat16
    half = np.dtype(dtype).itemsize == 2
    rng = np.random.default_rng(rows * 31 + classes)
    with np.errstate(under="ignore"):
        x = (rng.standard_normal((rows, classes)) * 4).astype(dtype)
    _unusual_rows(x, 20000 if dtype == "float16" else 30000)
    with np.errstate(invalid="ignore"):
        whole = fn(x)
        alone = np.stack([fn(x[i : i + 1])[0] for i in range(rows)])
        np.testing.assert_array_equal(whole, alone)
        np.testing.assert_array_equal(fn(x[::-1]), alone[::-1])  # rows read backwards
        np.testing.assert_array_equal(fn(x[::2]), alone[::2])  # rows apart
        if what != "logsumexp" and not half:
            y = x.copy()
            fn(y, out=y)
            np.testing.assert_array_equal(y, alone)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("classes", [10, 24, 32, 47, 80, 96])
def test_few_class_block_rows_do_not_depend_on_their_neighbours(dtype, classes):
    """The few-class block kernel (64 rows at a time, exps across rows) gives each row what it gives the same
    row alone, bit for bit, whatever shares its block: rows with a max beyond 16384 (which take other exps),
    all -inf, with NaN or +inf, ties at the max, ignored and out-of-range labels (blocks whose labels are all
    plain take a faster path); and a loss is the same with or without its gradient."""
    import crossentropy.torch as ctorch

    rng = np.random.default_rng(classes)
    rows = 130  # two full blocks and a short one
    x = (rng.standard_normal((rows, classes)) * 4).astype(dtype)
    _unusual_rows(x, 30000)
    labels = rng.integers(0, classes, rows)
    with np.errstate(invalid="ignore"):
        loss, grad = ce.sparse_softmax_cross_entropy_and_grad(x, labels)
        np.testing.assert_array_equal(ce.sparse_softmax_cross_entropy(x, labels), loss)
        alone = [ce.sparse_softmax_cross_entropy_and_grad(x[i : i + 1], labels[i : i + 1]) for i in range(rows)]
        np.testing.assert_array_equal(loss, np.concatenate([a[0] for a in alone]))
        np.testing.assert_array_equal(grad, np.concatenate([a[1] for a in alone]))
        for fn in (ce.logsumexp, ce.softmax, ce.log_softmax):
            np.testing.assert_array_equal(fn(x), np.concatenate([fn(x[i : i + 1]) for i in range(rows)]))
        bad, ignored = labels.copy(), labels.copy()
        bad[[3, 70, 129]] = [classes, -7, -100]  # NaN rows
        ignored[[3, 70, 129]] = -100
        for fn, odd in (
            (ce.sparse_softmax_cross_entropy_and_grad, bad),
            (lambda a, b: ctorch.cross_entropy(a, b, reduction="none", return_grad=True), ignored),
        ):
            loss, grad = fn(x, odd)
            alone = [fn(x[i : i + 1], odd[i : i + 1]) for i in range(rows)]
            np.testing.assert_array_equal(loss, np.concatenate([a[0] for a in alone]))
            np.testing.assert_array_equal(grad, np.concatenate([a[1] for a in alone]))


def _long_rows(classes, rng, at_max):
    """Rows for the streaming tests: a call writing 8 MiB and 40 rows more, with a label per row, unusual rows
    first, then confident rows (every other entry 40 below the max, at many magnitudes) whose max sits at
    at_max(i, labels); and the rows per call that does not stream."""
    rows = (8 << 20) // (4 * classes) + 40
    x = (rng.standard_normal((rows, classes)) * 3).astype(np.float32)
    labels = rng.integers(0, classes, rows)
    _unusual_rows(x[:14], 30000)
    ties = {}
    for i in range(14, 40):
        top = np.float32(rng.uniform(-9000, 9000))
        x[i] = top - 40
        ties[i] = at_max(i, labels)
        x[i, ties[i]] = top
    return x, labels, ties, max(1, (4 << 20) // (4 * classes))


@pytest.mark.parametrize("classes", [500, 600, 1000, 2000, 4096, 50257, 70001, 140000, 300007])
def test_long_gradient_rows_streamed_as_the_rows_alone(classes):
    """A float32 loss+grad of rows of 600 classes and more (500: kept in the cache) in a call writing 8 MiB or
    more into an output already in memory (a fresh one is written through the cache) keeps each row's exps in a
    row of its own and streams the gradient rows out (ce_grad_rows_streamed), each during the next row's exps:
    on the AVX-512 and AVX2 paths rows from a sixteenth of the L2 cache (32Ki classes with 2 MiB), whatever their
    length, from the very row the sweep keeps its own exps in; shorter rows, and other paths' rows up to a
    quarter of the L2 cache, from a second row (longer ones after their own sweep).  Losses and gradients
    equal those of the same rows in calls too small to stream, bit for bit, also for confident rows
    (the label at the max or not, ties at the max, at many magnitudes), unusual rows, ignored and bad labels,
    into out= the logits, into gradient rows that start anywhere in a cache line, and into an output off a
    float's alignment (already in memory, so that it streams)."""
    import crossentropy.torch as ctorch

    rng = np.random.default_rng(classes)
    # confident rows: the label at the max (every third), or one to three entries at the max
    x, labels, _, small = _long_rows(
        classes, rng, lambda i, lab: [lab[i]] if i % 3 == 0 else rng.choice(classes, 1 + i % 3, replace=False)
    )
    rows = len(x)
    labels[[5, 17]] = -100
    with np.errstate(all="ignore"):
        loss, grad = ctorch.cross_entropy(x, labels, reduction="none", return_grad=True)
        for a in range(0, rows, small):
            part = ctorch.cross_entropy(x[a : a + small], labels[a : a + small], reduction="none", return_grad=True)
            np.testing.assert_array_equal(part[0], loss[a : a + small])
            np.testing.assert_array_equal(part[1], grad[a : a + small])
        assert (grad[[5, 17]] == 0).all()
        bad = labels.copy()
        bad[[3, 20, 5, 17]] = [classes, -7, 0, 0]  # NaN rows
        want = [
            ce.sparse_softmax_cross_entropy_and_grad(x[a : a + small], bad[a : a + small])
            for a in range(0, rows, small)
        ]
        in_place = x.copy()
        got = ce.sparse_softmax_cross_entropy_and_grad(x, bad, out=(np.empty(rows, np.float32), in_place))[0]
        # gradient rows that start anywhere in a cache line: each row's stores begin and end off a line
        wide = np.full((rows, classes + 3), 7, np.float32)
        ce.sparse_softmax_cross_entropy_and_grad(x, bad, out=(np.empty(rows, np.float32), wide[:, 1 : classes + 1]))
        raw = np.ones(rows * classes * 4 + 2, np.uint8)
        off = np.frombuffer(raw.data, np.float32, rows * classes, offset=2).reshape(rows, classes)
        assert not off.flags.aligned
        ce.sparse_softmax_cross_entropy_and_grad(x, bad, out=(np.empty(rows, np.float32), off))
    np.testing.assert_array_equal(got, np.concatenate([w[0] for w in want]))
    np.testing.assert_array_equal(in_place, np.concatenate([w[1] for w in want]))
    np.testing.assert_array_equal(wide[:, 1 : classes + 1], in_place)
    assert (wide[:, [0, classes + 1, classes + 2]] == 7).all()
    np.testing.assert_array_equal(off, in_place)
    assert np.isnan(got[[3, 20]]).all()


@pytest.mark.parametrize("classes", [500, 600, 1000, 4096, 70001])
def test_long_softmax_rows_streamed_as_the_rows_alone(classes):
    """float32 softmax and log_softmax rows of 600 classes and more (500: stored through the cache) in a call
    writing 8 MiB or more are computed into a row of their own and streamed into their output rows when these
    are in memory already (ce_transform_rows_streamed; a fresh output goes through the cache): the outputs equal
    those of the same rows in calls too small to stream, bit for bit, also for confident rows (one to three
    entries at the max: each exactly 1/ties), unusual rows, fresh, into out= the input, into output rows that
    start anywhere in a cache line, and into an output off a float's alignment."""
    rng = np.random.default_rng(classes + 1)
    x, _, ties, small = _long_rows(classes, rng, lambda i, _: rng.choice(classes, 1 + i % 3, replace=False))
    rows = len(x)
    with np.errstate(all="ignore"):
        for fn in (ce.softmax, ce.log_softmax):
            want = np.concatenate([fn(x[a : a + small]) for a in range(0, rows, small)])
            np.testing.assert_array_equal(fn(x), want)
            in_place = x.copy()
            fn(in_place, out=in_place)
            np.testing.assert_array_equal(in_place, want)
            wide = np.full((rows, classes + 3), 7, np.float32)
            fn(x, out=wide[:, 1 : classes + 1])
            np.testing.assert_array_equal(wide[:, 1 : classes + 1], want)
            assert (wide[:, [0, classes + 1, classes + 2]] == 7).all()
            raw = np.ones(rows * classes * 4 + 2, np.uint8)  # in memory already, so that it streams
            off = np.frombuffer(raw.data, np.float32, rows * classes, offset=2).reshape(rows, classes)
            assert not off.flags.aligned
            fn(x, out=off)
            np.testing.assert_array_equal(off, want)
            if fn is ce.softmax:
                for i, at in ties.items():
                    assert (want[i, at] == np.float32(1 / len(at))).all()
