"""benchmarks/rows/rowbench.c builds against this tree, calls the row kernels right in every mode (its checksums
match the package's results on the same values) and refuses bad arguments.  Its timings are not tested."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import x86_64_with_avx2

import crossentropy as ce

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "benchmarks" / "rows" / "build.sh"
N, C = 64, 1000  # one chunk of rows: the checksum covers them all
LINE = re.compile(r"(\w+) (\d+)x(\d+): [0-9.]+ ns/elem  \[checksum (\S+)\]")


@pytest.fixture(scope="module")
def rowbench(tmp_path_factory):
    cc = shutil.which(os.environ.get("CC", "cc"))
    src = ROOT / "src" / "crossentropy"
    if not BUILD.is_file() or not (src / "_rowmath.c").is_file() or cc is None or shutil.which("sh") is None:
        pytest.skip("needs benchmarks/rows/build.sh, the C sources and a C compiler")
    if not x86_64_with_avx2():
        pytest.skip("built here for x86-64-v3 (AVX2)")
    exe = tmp_path_factory.mktemp("rowbench") / "rowbench"
    flags = ["-march=x86-64-v3", "-DCE_NO_CLONES", "-DROWS_API", "-DTRANSFORM_ROWS_API", "-DPIPE_ROWS_API", "-O1"]
    # build.sh asks `python` for the include directories: this interpreter's
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    subprocess.run(["sh", str(BUILD), str(src), str(exe), *flags], check=True, env=env, cwd=ROOT)
    return exe


def _rowbench_inputs():
    """The logits and labels rowbench.c makes: its linear congruential generator, in float32 arithmetic."""
    s = np.empty(N * C + N, np.uint64)
    v = 1
    for i in range(s.size):
        v = (v * 1103515245 + 12345) & 0xFFFFFFFF
        s[i] = v
    top = (s >> np.uint64(8)).astype(np.int64)
    x = (top[: N * C] % 20000).astype(np.float32) / np.float32(1000.0) - np.float32(10.0)
    return x.reshape(N, C), top[N * C :] % C


def _run(exe, *args, dtype=None):
    env = {**os.environ, "ROWBENCH_DTYPE": dtype} if dtype else None
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, check=False, env=env)


@pytest.mark.parametrize("mode", ["fwd", "fused", "lse", "softmax"])
def test_checksum_matches_the_package(rowbench, mode):
    x, y = _rowbench_inputs()
    proc = _run(rowbench, mode, N, C, 1)
    assert proc.returncode == 0, proc.stderr
    m = LINE.fullmatch(proc.stdout.strip())
    assert m and m.group(1, 2, 3) == (mode, str(N), str(C)), proc.stdout
    if mode in ("fwd", "fused"):
        expected = ce.sparse_softmax_cross_entropy(x, y).astype(np.float64).sum()
    elif mode == "lse":
        expected = ce.logsumexp(x, axis=-1).astype(np.float64).sum()
    else:
        expected = ce.softmax(x, axis=-1).astype(np.float64).sum()  # N rows that sum to 1
    np.testing.assert_allclose(float(m.group(4)), expected, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_softmax_rows_sum_to_one(rowbench, dtype):
    proc = _run(rowbench, "softmax", N, C, 1, dtype=dtype)
    assert proc.returncode == 0, proc.stderr
    m = LINE.fullmatch(proc.stdout.strip())
    assert m, proc.stdout
    # each output rounded to the half type: a row sums to 1 within the type's unit roundoff
    np.testing.assert_allclose(float(m.group(4)), N, rtol=2.0**-7 if dtype == "bfloat16" else 2.0**-10)


BAD_ARGUMENTS = [
    (),
    ("fused", "64", "1000"),  # no REPS
    ("bogus", "64", "1000", "1"),
    ("fwd", "0", "1000", "1"),
    ("fwd", "4", "8", "0"),
]


@pytest.mark.parametrize("args", BAD_ARGUMENTS)
def test_bad_arguments_are_refused(rowbench, args):
    proc = _run(rowbench, *args)
    assert proc.returncode == 2
    assert "usage: rowbench" in proc.stderr
