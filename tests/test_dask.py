"""Dask arrays through the gufuncs' __array_ufunc__, the apply_gufunc recipe for the two-output element-wise
ufunc, and a real multi-process cluster (docs/scaling.md describes the same recipes)."""

import numpy as np
import pytest

import crossentropy as ce

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 10))
    t = rng.random((64, 10))
    t /= t.sum(axis=1, keepdims=True)
    labels = rng.integers(0, 10, 64)
    z = rng.random((64, 10))
    return x, t, labels, z


def _sync(arr):
    return arr.compute(scheduler="synchronous")


def test_core_gufunc_rows_chunked(data):
    x, t, labels, _ = data
    dx = da.from_array(x, chunks=(16, -1))
    dt = da.from_array(t, chunks=(16, -1))
    dl = da.from_array(labels, chunks=16)

    r = ce.softmax_cross_entropy(dx, dt)
    assert isinstance(r, da.Array) and r.shape == (64,) and r.dtype == np.float64
    np.testing.assert_allclose(_sync(r), ce.softmax_cross_entropy(x, t), rtol=1e-15)

    r = ce.sparse_softmax_cross_entropy(dx, dl)
    np.testing.assert_allclose(_sync(r), ce.sparse_softmax_cross_entropy(x, labels), rtol=1e-15)

    for f in (ce.logsumexp, ce.softmax, ce.log_softmax):
        np.testing.assert_allclose(_sync(f(dx)), f(x), rtol=1e-15)


def test_float32_stays_float32(data):
    x, _, labels, _ = data
    x32 = x.astype(np.float32)
    r = ce.sparse_softmax_cross_entropy(da.from_array(x32, chunks=(16, -1)), da.from_array(labels, chunks=16))
    assert r.dtype == np.float32
    out = _sync(r)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ce.sparse_softmax_cross_entropy(x32, labels))


def test_class_axis_in_several_chunks_is_refused_then_rechunk_works(data):
    x, t, _, _ = data
    dx = da.from_array(x, chunks=(16, 5))  # class axis split in two chunks
    dt = da.from_array(t, chunks=(16, 5))
    with pytest.raises(ValueError, match="(?i)core dimension|chunk"):
        ce.softmax_cross_entropy(dx, dt)
    # the documented fix: one chunk along the class axis
    r = ce.softmax_cross_entropy(dx.rechunk({-1: -1}), dt.rechunk({-1: -1}))
    np.testing.assert_allclose(_sync(r), ce.softmax_cross_entropy(x, t), rtol=1e-15)


def test_axis_keyword(data):
    x, t, _, _ = data
    dx = da.from_array(np.ascontiguousarray(x.T), chunks=(-1, 16))  # classes along axis 0
    dt = da.from_array(np.ascontiguousarray(t.T), chunks=(-1, 16))
    r = ce.softmax_cross_entropy(dx, dt, axis=0)
    np.testing.assert_allclose(_sync(r), ce.softmax_cross_entropy(x, t), rtol=1e-15)


def test_two_output_gufunc_with_core_dims(data):
    x, t, labels, _ = data
    dx = da.from_array(x, chunks=(16, -1))
    loss, grad = ce.softmax_cross_entropy_and_grad(dx, da.from_array(t, chunks=(16, -1)))
    ref_loss, ref_grad = ce.softmax_cross_entropy_and_grad(x, t)
    np.testing.assert_allclose(_sync(loss), ref_loss, rtol=1e-15)
    np.testing.assert_allclose(_sync(grad), ref_grad, rtol=1e-15, atol=1e-17)

    loss, grad = ce.sparse_softmax_cross_entropy_and_grad(dx, da.from_array(labels, chunks=16))
    ref_loss, ref_grad = ce.sparse_softmax_cross_entropy_and_grad(x, labels)
    loss, grad = dask.compute(loss, grad, scheduler="synchronous")
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-15)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-15, atol=1e-17)


def test_elementwise_one_output_any_chunks(data):
    x, _, _, z = data
    dx = da.from_array(x, chunks=(16, 3))
    dz = da.from_array(z, chunks=(16, 3))
    r = ce.sigmoid_cross_entropy(dx, dz)
    assert isinstance(r, da.Array)
    np.testing.assert_allclose(_sync(r), ce.sigmoid_cross_entropy(x, z), rtol=1e-15)


def test_elementwise_two_outputs_need_apply_gufunc(data):
    x, _, _, z = data
    dx = da.from_array(x, chunks=(16, 3))
    dz = da.from_array(z, chunks=(16, 3))
    # dask knows no two-output element-wise ufunc it did not define itself: __array_ufunc__ gives up
    with pytest.raises(TypeError):
        ce.sigmoid_cross_entropy_and_grad(dx, dz)
    # the documented recipe
    loss, grad = da.apply_gufunc(
        ce.sigmoid_cross_entropy_and_grad, "(),()->(),()", dx, dz, output_dtypes=(x.dtype, x.dtype)
    )
    ref_loss, ref_grad = ce.sigmoid_cross_entropy_and_grad(x, z)
    loss, grad = dask.compute(loss, grad, scheduler="synchronous")
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-15)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-15, atol=1e-17)


def test_gufuncs_pickle_by_reference():
    """Distributed schedulers ship the ufunc itself to the workers: it must pickle as a reference."""
    import pickle

    for name in ("softmax_cross_entropy", "sparse_softmax_cross_entropy", "sigmoid_cross_entropy_and_grad"):
        f = getattr(ce, name)
        assert pickle.loads(pickle.dumps(f)) is f


def test_distributed_local_cluster_matches_numpy():
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4000, 50)).astype(np.float32)
    labels = rng.integers(0, 50, 4000)
    z = rng.random((4000, 50)).astype(np.float32)
    dx = da.from_array(x, chunks=(500, -1))
    dl = da.from_array(labels, chunks=500)
    dz = da.from_array(z, chunks=(500, -1))
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        loss = ce.sparse_softmax_cross_entropy(dx, dl)
        mean = loss.mean()
        s_loss, s_grad = da.apply_gufunc(
            ce.sigmoid_cross_entropy_and_grad, "(),()->(),()", dx, dz, output_dtypes=(np.float32, np.float32)
        )
        got_loss, got_mean, got_sl, got_sg = client.compute([loss, mean, s_loss, s_grad], sync=True)
        workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2
    ref = ce.sparse_softmax_cross_entropy(x, labels)
    np.testing.assert_array_equal(got_loss, ref)
    np.testing.assert_allclose(got_mean, ref.astype(np.float64).mean(), rtol=1e-5)
    ref_l, ref_g = ce.sigmoid_cross_entropy_and_grad(x, z)
    np.testing.assert_array_equal(got_sl, ref_l)
    np.testing.assert_array_equal(got_sg, ref_g)
