"""benchmarks/rows/kept_rows.c builds, runs every variant and refuses bad arguments (its timings are not tested)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import x86_64_with_avx2

SOURCE = Path(__file__).resolve().parents[1] / "benchmarks" / "rows" / "kept_rows.c"
VARIANTS = (
    "memcpy",
    "one pass",
    "kept, then stored",
    "kept, stored behind",
    "one read, behind",
    "one scratch, behind",
)


@pytest.fixture(scope="module")
def kept_rows(tmp_path_factory):
    cc = shutil.which(os.environ.get("CC", "cc"))
    if not SOURCE.is_file() or cc is None:
        pytest.skip("needs benchmarks/rows/kept_rows.c and a C compiler")
    if not x86_64_with_avx2():
        pytest.skip("kept_rows.c is written for x86-64 with AVX2")
    exe = tmp_path_factory.mktemp("kept_rows") / "kept_rows"
    subprocess.run([cc, "-O2", "-mavx2", "-Wall", "-Wextra", "-Werror", str(SOURCE), "-o", str(exe)], check=True)
    return exe


def test_every_variant_is_timed(kept_rows):
    proc = subprocess.run([str(kept_rows), "3", "21", "2"], capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    assert lines[0] == "3x16 float32, one thread, best of 2"  # C rounded down to a multiple of 8
    for name, line in zip(VARIANTS, lines[1:], strict=True):
        m = re.fullmatch(rf"\s+{re.escape(name)}\s+([0-9.]+) ms\s+([0-9.]+) ns per element\s+([0-9.]+)x memcpy", line)
        assert m, line
    assert lines[1].endswith("1.00x memcpy")


@pytest.mark.parametrize("args", [(), ("4", "7", "1"), ("0", "64", "1"), ("4", "64", "0")])
def test_bad_arguments_are_refused(kept_rows, args):
    proc = subprocess.run([str(kept_rows), *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr
