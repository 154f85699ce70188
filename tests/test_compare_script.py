"""benchmarks/compare.py: its floors read every byte, and a tiny run of every dtype checks out (timings are
not judged here)."""

import io
import time

import numpy as np
import pytest
from helpers import load_benchmark_script

compare = load_benchmark_script("compare")


def _dtypes():
    out = ["float32", "float64", "float16"]
    try:
        import ml_dtypes  # noqa: F401

        out.append("bfloat16")
    except ImportError:
        pass
    return out


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape,dtype", [((3, 5), np.float16), ((7, 3), np.float32), ((2, 2), np.float64)])
def test_read_floor_reads_every_byte(shape, dtype, threads):
    # one non-zero byte at each position in turn: the OR of what the floor read is non-zero only if it
    # read that byte (an array of 30 bytes has 6 bytes after its last whole word)
    floors = compare._Floors(threads)
    try:
        x = np.zeros(shape, dtype)
        raw = x.reshape(-1).view(np.uint8)
        for k in range(raw.size):
            raw[:] = 0
            raw[k] = 0x40
            assert floors.read(x)() != 0, k
        raw[:] = 0
        assert floors.read(x)() == 0
    finally:
        floors.close()


@pytest.mark.parametrize("threads", [1, 2])
def test_copy_floor_copies_the_array(threads):
    floors = compare._Floors(threads)
    try:
        x = np.arange(5 * 7, dtype=np.float16).reshape(5, 7)
        dst = np.zeros_like(x)
        floors.copy(x, dst)()
        np.testing.assert_array_equal(dst, x)
    finally:
        floors.close()


def test_interleaved_samples_take_turns():
    # after each call's warm-up and calibration, the samples go one of each per round
    calls = []
    fns = [lambda name=name: calls.append(name) for name in "abc"]
    times = compare.bench_interleaved(fns, repeat=4, min_time=0.0)
    assert len(times) == 3 and all(t > 0 for t in times)
    assert calls[-24:] == list("aabbcc") * 4  # an untimed call, then the sample
    assert calls[:-24] == sorted(calls[:-24])  # calibration: one call after the other


def test_bench_is_the_best_sample():
    # a call that is slow once, in the middle, is timed by its fast samples
    slow = iter([0, 0, 0, 0, 0, 0.1] + [0] * 10)
    t = compare.bench(lambda: time.sleep(next(slow)), repeat=5, min_time=0.0)
    assert t < 0.01  # (the mean of the samples: 0.02)


def test_run_every_dtype_with_numpy_and_the_floors():
    out = io.StringIO()
    dtypes = _dtypes()
    records = compare.run(
        shapes=["64x10", "16x300"],
        threads=[1],
        repeat=1,
        dtypes=dtypes,
        skip=set(compare.ALTERNATIVES),
        min_time=1e-4,
        file=out,
    )
    got = {(r["dtype"], r["case"], r["name"]) for r in records}
    for dt in dtypes:
        for case in ("forward", "loss+grad"):
            for name in ("naive NumPy", "read floor (threaded)", "call floor (0 rows)"):
                assert (dt, case, name) in got
        assert (dt, "loss+grad", "copy floor (threaded)") in got
    # every alternative agreed with our values ('!' would mark a mismatch) and was timed
    assert all(r["ok"] for r in records)
    assert all(r["time"] > 0 and r["ours"] > 0 for r in records)
    assert "!" not in out.getvalue().split("ratio = alternative")[-1]
    for dt in dtypes:
        assert dt in out.getvalue()


def test_run_half_against_torch():
    pytest.importorskip("torch")
    dtypes = [d for d in _dtypes() if d in ("float16", "bfloat16")]
    records = compare.run(
        shapes=["32x50"],
        threads=[1],
        repeat=1,
        dtypes=dtypes,
        skip={"sklearn", "jax"},
        min_time=1e-4,
        file=io.StringIO(),
    )
    torch_rows = [r for r in records if r["name"].startswith("torch")]
    assert {r["dtype"] for r in torch_rows} == set(dtypes)
    assert {r["case"] for r in torch_rows} == {"forward", "loss+grad"}
    assert all(r["ok"] for r in torch_rows)


def test_check_flags_a_half_gradient_that_disagrees():
    rng = np.random.default_rng(0)
    loss = rng.random(8).astype(np.float32)
    grad = rng.standard_normal((8, 4)).astype(np.float16)
    ref = (loss, grad)
    dt = np.dtype(np.float16)
    assert compare._check((loss, grad.astype(np.float32)), ref, dt)
    assert not compare._check((loss, grad * np.float16(1.1)), ref, dt)
    assert not compare._check(loss + 0.1, ref, dt)


def test_dtypes_takes_floating_point_names_only():
    assert compare._dtype("float16") == np.float16
    with pytest.raises(SystemExit, match="int8"):
        compare._dtype("int8")
