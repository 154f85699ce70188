"""Helpers shared by the test modules (pytest puts tests/ on sys.path)."""

import importlib.util
import os
import platform
import shutil
import subprocess
import sysconfig
from pathlib import Path

import numpy as np
import pytest


def finite_difference(f, x, h=1e-6):
    """Central-difference gradient of sum(f(x)) with respect to x (float64 x)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        g[i] = (np.sum(f(up)) - np.sum(f(down))) / (2 * h)
    return g


def x86_64_with_avx2():
    """Whether this is an x86-64 CPU with AVX2, which the benchmark programs in benchmarks/rows/ are built for."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:
        return False
    return bool(__cpu_features__.get("AVX2"))


def run_c_program(tmp_path, name, *flags):
    """Compiles tests/c/NAME.c against the package's C sources (installed or not) and runs it: (rc, stdout)."""
    headers = Path(__file__).resolve().parents[1] / "src" / "crossentropy"
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None or not (headers / "_rowmath.c").exists():
        pytest.skip("needs a C compiler and the package's sources")
    exe = tmp_path / name
    includes = [f"-I{d}" for d in (headers, np.get_include(), sysconfig.get_paths()["include"])]
    src = Path(__file__).parent / "c" / f"{name}.c"
    subprocess.run([cc, *flags, "-std=c11", "-fopenmp-simd", *includes, str(src), "-o", str(exe), "-lm"], check=True)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout


def load_benchmark_script(name):
    """benchmarks/NAME.py loaded as a module; the calling test module is skipped where the tree has no such script."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    if not script.is_file():
        pytest.skip(f"benchmarks/{name}.py is not in this tree", allow_module_level=True)
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
