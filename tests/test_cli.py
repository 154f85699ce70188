"""The command line: demo (why the frameworks disagree, with their reference numbers), eval (every loss and
semantics, .npy/.npz, chunking, per-sample output, JSON, flat memory, one-line errors) and info."""

import json
import math
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import crossentropy as ce
from crossentropy import cli

EPS = 1e-7


def run_cli(capsys, *argv):
    """main() in-process: (exit status, stdout, stderr)."""
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def run_sub(*argv, env=None):
    """The real program in a subprocess (python -m crossentropy): stdout/stderr are pipes."""
    e = dict(os.environ)
    e.pop("CROSSENTROPY_TRACEBACK", None)
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "crossentropy", *map(str, argv)], capture_output=True, text=True, env=e, timeout=120
    )


# ---------------------------------------------------------------------------------------------------------
# reference formulas (float64, written out in NumPy)
# ---------------------------------------------------------------------------------------------------------
def lse(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return (np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m).squeeze(axis)


def log_softmax(x, axis=-1):
    return x - np.expand_dims(lse(x, axis), axis)


def keras_categorical_probs(y, p, axis=-1):
    p = p / p.sum(axis=axis, keepdims=True)
    p = np.clip(p, EPS, 1 - EPS)
    return -np.sum(y * np.log(p), axis=axis)


def keras_binary_probs(y, p, axis=-1):
    p = np.clip(p, EPS, 1 - EPS)
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)), axis=axis)


def sigmoid_xent(x, z):
    return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


# ---------------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------------
N, C = 203, 7


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(2024)
    logits = rng.standard_normal((N, C)) * 2
    probs = np.exp(log_softmax(logits))
    labels = rng.integers(0, C, N)
    onehot = np.eye(C)[labels]
    soft = rng.random((N, C))
    soft /= soft.sum(axis=1, keepdims=True)
    multi = (rng.random((N, 3)) < 0.4).astype(np.float64)  # multi-label binary targets
    bin_logits = rng.standard_normal((N, 3)) * 3
    bin_probs = 1 / (1 + np.exp(-bin_logits))
    arrays = dict(
        logits=logits,
        probs=probs,
        labels=labels,
        onehot=onehot,
        soft=soft,
        multi=multi,
        bin_logits=bin_logits,
        bin_probs=bin_probs,
    )
    paths = {}
    for k, v in arrays.items():
        paths[k] = d / f"{k}.npy"
        np.save(paths[k], v)
    np.savez(d / "stored.npz", pred=probs, target=labels)
    np.savez_compressed(d / "compressed.npz", pred=probs, target=labels)
    np.savez(d / "single_pred.npz", probs)
    np.savez(d / "single_target.npz", labels)
    return d, arrays, paths


# ---------------------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------------------
REFERENCE_NUMBERS = [
    "0.10536052 0.80466845 0.0618754",
    "0.10536052 0.11653382 0.0618754",
    "0.3239681",
    "0.2837697",
    "0.0945899",
    "16.118",
    "25.328",
    "1.939785",
    "0.31326166",
    "0.3132617",
    "1.1920933e-07",
    "1.9095424",
    "1.609438",
]


def test_demo_reproduces_the_frameworks_numbers(capsys):
    rc, out, err = run_cli(capsys, "demo", "--no-bench")
    assert rc == 0, err
    for s in REFERENCE_NUMBERS:
        assert s in out, s
    # every "value   reference: number" row: crossentropy's value equals the number the framework prints
    rows = re.findall(r"\s(\[?[-\d.e+]+\]?)\s+reference: ([-\d.e+]+)\b", out)
    checked = 0
    for ours, reference in rows:
        ours, reference = float(ours.strip("[]")), float(reference)
        rel = 2e-7 if abs(reference) > 1e-3 else 1e-6
        assert math.isclose(ours, reference, rel_tol=rel), (ours, reference)
        checked += 1
    assert checked >= 11
    # per-sample arrays: ours == the framework's printed arrays
    for ours, reference in re.findall(r"(\[[\d. ]+\])\s+reference: (\[[\d. ]+\])", out):
        np.testing.assert_allclose(
            np.array(ours.strip("[]").split(), float), np.array(reference.strip("[]").split(), float), rtol=1e-7
        )
    # each difference is explained in one line
    assert out.count("why:") >= 9
    assert "ProbabilityWarning" in out
    # PyTorch: gradient = softmax - onehot, exactly
    grad_lines = [line for line in out.splitlines() if line.strip().startswith("max |")]
    assert len(grad_lines) == 2
    for line in grad_lines:
        assert float(line.split()[-3]) < 1e-15


def test_demo_throughput_size_is_configurable(capsys):
    rc, out, err = run_cli(capsys, "demo", "--rows", 300, "--classes", 40, "--repeat", 1)
    assert rc == 0, err
    assert "300 x 40 float32" in out
    assert out.count("M rows/s") == 3
    rc, out, err = run_cli(capsys, "demo", "--rows", 0)
    assert rc == 1 and "--rows must be >= 1" in err


def test_python_m_and_console_script():
    r = run_sub("demo", "--no-bench")
    assert r.returncode == 0, r.stderr
    assert "0.10536052 0.80466845 0.0618754" in r.stdout
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="console_scripts") if ep.name == "crossentropy"]
    assert eps and eps[0].value == "crossentropy.cli:main"
    assert eps[0].load() is cli.main


# ---------------------------------------------------------------------------------------------------------
# eval: every loss and semantics against the formulas
# ---------------------------------------------------------------------------------------------------------
def _eval_json(capsys, *argv):
    rc, out, err = run_cli(capsys, "eval", *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


def _cases(arrays):
    a = arrays
    ls = 0.1
    ls_onehot = a["onehot"] * (1 - ls) + ls / C
    yield (
        "keras categorical probs",
        ("probs", "onehot", "--loss", "categorical"),
        keras_categorical_probs(a["onehot"], a["probs"]),
    )
    yield (
        "keras categorical logits+smoothing",
        ("logits", "soft", "--loss", "categorical", "--from-logits", "--label-smoothing", ls),
        -np.sum((a["soft"] * (1 - ls) + ls / C) * log_softmax(a["logits"]), axis=-1),
    )
    yield (
        "keras sparse probs",
        ("probs", "labels", "--loss", "sparse_categorical"),
        -np.log(np.clip(a["probs"][np.arange(N), a["labels"]], EPS, 1 - EPS)),
    )
    yield (
        "keras sparse logits",
        ("logits", "labels", "--loss", "sparse_categorical", "--from-logits"),
        -log_softmax(a["logits"])[np.arange(N), a["labels"]],
    )
    yield (
        "keras binary probs",
        ("bin_probs", "multi", "--loss", "binary"),
        keras_binary_probs(a["multi"], a["bin_probs"]),
    )
    yield (
        "keras binary logits",
        ("bin_logits", "multi", "--loss", "binary", "--from-logits"),
        np.mean(sigmoid_xent(a["bin_logits"], a["multi"]), axis=-1),
    )
    yield (
        "torch categorical (prob targets)",
        ("logits", "soft", "--loss", "categorical", "--semantics", "torch", "--from-logits"),
        -np.sum(a["soft"] * log_softmax(a["logits"]), axis=-1),
    )
    yield (
        "torch sparse + smoothing",
        (
            "logits",
            "labels",
            "--loss",
            "sparse_categorical",
            "--semantics",
            "torch",
            "--from-logits",
            "--label-smoothing",
            ls,
        ),
        -np.sum(ls_onehot * log_softmax(a["logits"]), axis=-1),
    )
    yield (
        "torch binary probs",
        ("bin_probs", "multi", "--loss", "binary", "--semantics", "torch"),
        np.mean(
            -(
                a["multi"] * np.maximum(np.log(a["bin_probs"]), -100)
                + (1 - a["multi"]) * np.maximum(np.log1p(-a["bin_probs"]), -100)
            ),
            axis=-1,
        ),
    )
    yield (
        "torch binary logits",
        ("bin_logits", "multi", "--loss", "binary", "--semantics", "torch", "--from-logits"),
        np.mean(sigmoid_xent(a["bin_logits"], a["multi"]), axis=-1),
    )
    yield (
        "tf categorical",
        ("logits", "soft", "--loss", "categorical", "--semantics", "tf", "--from-logits"),
        -np.sum(a["soft"] * log_softmax(a["logits"]), axis=-1),
    )
    yield (
        "tf sparse",
        ("logits", "labels", "--loss", "sparse_categorical", "--semantics", "tf", "--from-logits"),
        -log_softmax(a["logits"])[np.arange(N), a["labels"]],
    )
    yield (
        "tf binary",
        ("bin_logits", "multi", "--loss", "binary", "--semantics", "tf", "--from-logits"),
        np.mean(sigmoid_xent(a["bin_logits"], a["multi"]), axis=-1),
    )


CASE_NAMES = [
    "keras categorical probs",
    "keras categorical logits+smoothing",
    "keras sparse probs",
    "keras sparse logits",
    "keras binary probs",
    "keras binary logits",
    "torch categorical (prob targets)",
    "torch sparse + smoothing",
    "torch binary probs",
    "torch binary logits",
    "tf categorical",
    "tf sparse",
    "tf binary",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_eval_matches_formula(capsys, files, name):
    d, arrays, paths = files
    ((_, argv, ref),) = [c for c in _cases(arrays) if c[0] == name]
    pred, target, *opts = argv
    out_path = d / f"out_{name.replace(' ', '_')}.npy"
    res = _eval_json(capsys, paths[pred], paths[target], *opts, "--per-sample", out_path)
    per = np.load(out_path)
    assert per.shape == (N,) and per.dtype == np.float64
    np.testing.assert_allclose(per, ref, rtol=1e-10, atol=1e-12)
    assert res["count"] == N and res["samples"] == N
    assert res["mean"] == pytest.approx(ref.mean(), rel=1e-12)
    assert res["sum"] == pytest.approx(ref.sum(), rel=1e-12)
    assert res["per_sample"] == str(out_path)


@pytest.mark.parametrize("loss,target", [("categorical_focal", "onehot"), ("binary_focal", "multi")])
def test_eval_focal_losses_follow_crossentropy_keras(capsys, files, loss, target):
    d, arrays, paths = files
    from crossentropy import keras as K

    pred = "probs" if loss == "categorical_focal" else "bin_probs"
    out = d / f"{loss}.npy"
    res = _eval_json(
        capsys,
        paths[pred],
        paths[target],
        "--loss",
        loss,
        "--alpha",
        0.3,
        "--gamma",
        1.5,
        "--per-sample",
        out,
        *(["--class-balancing"] if loss == "binary_focal" else []),
    )
    f = getattr(K, loss.replace("focal", "focal_crossentropy"))
    kw = {"apply_class_balancing": True} if loss == "binary_focal" else {}
    ref = f(arrays[target], arrays[pred], alpha=0.3, gamma=1.5, **kw)
    np.testing.assert_allclose(np.load(out), ref, rtol=1e-12)
    assert res["mean"] == pytest.approx(float(np.mean(ref)), rel=1e-12)


def test_eval_float32_and_text_output(capsys, files, tmp_path):
    _, arrays, _ = files
    np.save(tmp_path / "x.npy", arrays["logits"].astype(np.float32))
    np.save(tmp_path / "y.npy", arrays["labels"].astype(np.int32))
    rc, out, err = run_cli(
        capsys,
        "eval",
        tmp_path / "x.npy",
        tmp_path / "y.npy",
        "--loss",
        "sparse_categorical",
        "--from-logits",
        "--per-sample",
        tmp_path / "o.npy",
    )
    assert rc == 0, err
    per = np.load(tmp_path / "o.npy")
    assert per.dtype == np.float32
    np.testing.assert_array_equal(
        per, ce.sparse_softmax_cross_entropy(arrays["logits"].astype(np.float32), arrays["labels"])
    )
    mean = float(re.search(r"^mean\s+(\S+)$", out, re.M).group(1))
    assert mean == pytest.approx(per.astype(np.float64).mean(), rel=1e-12)
    assert re.search(rf"^count\s+{N}$", out, re.M)
    assert err == ""  # stderr is not a TTY: no progress bar


def test_eval_ignore_class(capsys, files):
    _, arrays, paths = files
    lab = arrays["labels"]
    keep = lab != 3
    ref = -log_softmax(arrays["logits"])[np.arange(N), lab]
    for sem in ("keras", "torch"):
        res = _eval_json(
            capsys,
            paths["logits"],
            paths["labels"],
            "--loss",
            "sparse_categorical",
            "--from-logits",
            "--semantics",
            sem,
            "--ignore-class",
            3,
        )
        assert res["count"] == keep.sum() and res["samples"] == N
        assert res["mean"] == pytest.approx(ref[keep].mean(), rel=1e-12)


def test_eval_torch_default_ignore_index(capsys, tmp_path, files):
    _, arrays, _ = files
    lab = arrays["labels"].copy()
    lab[::10] = -100
    np.save(tmp_path / "lab.npy", lab)
    np.save(tmp_path / "x.npy", arrays["logits"])
    res = _eval_json(
        capsys,
        tmp_path / "x.npy",
        tmp_path / "lab.npy",
        "--loss",
        "sparse_categorical",
        "--from-logits",
        "--semantics",
        "torch",
    )
    keep = lab != -100
    ref = -log_softmax(arrays["logits"])[np.arange(N)[keep], lab[keep]]
    assert res["count"] == keep.sum()
    assert res["mean"] == pytest.approx(ref.mean(), rel=1e-12)


def test_eval_class_axis(capsys, tmp_path, files):
    """torch's class axis 1 on (N, C, T) data equals Keras' --axis 1 and the formula."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, C, 6))
    lab = rng.integers(0, C, (40, 6))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "lab.npy", lab)
    ref = -np.take_along_axis(log_softmax(x, axis=1), lab[:, None, :], axis=1)[:, 0, :]
    outs = []
    for extra in (["--semantics", "torch"], ["--semantics", "keras", "--axis", 1], ["--semantics", "tf", "--axis", 1]):
        o = tmp_path / f"o{len(outs)}.npy"
        res = _eval_json(
            capsys,
            tmp_path / "x.npy",
            tmp_path / "lab.npy",
            "--loss",
            "sparse_categorical",
            "--from-logits",
            "--per-sample",
            o,
            "--chunk-rows",
            7,
            *extra,
        )
        assert res["class_axis"] == 1 and res["count"] == 240
        np.testing.assert_allclose(np.load(o), ref, rtol=1e-12)
        outs.append(np.load(o))


def test_eval_keras_style_label_column_and_float_labels(capsys, tmp_path, files):
    _, arrays, paths = files
    np.save(tmp_path / "col.npy", arrays["labels"][:, None].astype(np.float32))  # (N, 1) float labels
    a = _eval_json(capsys, paths["probs"], tmp_path / "col.npy", "--loss", "sparse_categorical")
    b = _eval_json(capsys, paths["probs"], paths["labels"], "--loss", "sparse_categorical")
    assert a["mean"] == b["mean"] and a["count"] == N


def test_eval_one_dimensional_binary(capsys, tmp_path, files):
    _, arrays, _ = files
    p, y = arrays["bin_probs"][:, 0], arrays["multi"][:, 0]
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", y)
    res = _eval_json(
        capsys, tmp_path / "p.npy", tmp_path / "y.npy", "--loss", "binary", "--per-sample", tmp_path / "o.npy"
    )
    assert res["count"] == N and res["pred_shape"] == [N]
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), keras_binary_probs(y[:, None], p[:, None]), rtol=1e-10)


# ---------------------------------------------------------------------------------------------------------
# eval: .npz
# ---------------------------------------------------------------------------------------------------------
def test_eval_npz(capsys, files):
    d, arrays, paths = files
    ref = _eval_json(capsys, paths["probs"], paths["labels"], "--loss", "sparse_categorical")
    for name in ("stored.npz", "compressed.npz"):
        for chunk in ("5", "1000"):
            res = _eval_json(
                capsys,
                d / name,
                d / name,
                "--pred-key",
                "pred",
                "--target-key",
                "target",
                "--loss",
                "sparse_categorical",
                "--chunk-rows",
                chunk,
            )
            assert res["mean"] == pytest.approx(ref["mean"], rel=1e-13) and res["count"] == N
    # a single array needs no key
    res = _eval_json(capsys, d / "single_pred.npz", d / "single_target.npz", "--loss", "sparse_categorical")
    assert res["mean"] == pytest.approx(ref["mean"], rel=1e-13)
    # and mixes with .npy
    res = _eval_json(capsys, d / "stored.npz", paths["labels"], "--pred-key", "pred", "--loss", "sparse_categorical")
    assert res["mean"] == pytest.approx(ref["mean"], rel=1e-13)


def test_eval_npz_key_errors(capsys, files):
    d, _, paths = files
    rc, out, err = run_cli(capsys, "eval", d / "stored.npz", paths["labels"], "--loss", "sparse_categorical")
    assert rc == 1 and "holds 2 arrays (pred, target); choose one with --pred-key" in err
    rc, out, err = run_cli(
        capsys, "eval", d / "stored.npz", paths["labels"], "--pred-key", "nope", "--loss", "sparse_categorical"
    )
    assert rc == 1 and "has no array 'nope'" in err
    rc, out, err = run_cli(
        capsys, "eval", paths["probs"], paths["labels"], "--pred-key", "pred", "--loss", "sparse_categorical"
    )
    assert rc == 1 and "applies to .npz files only" in err


# ---------------------------------------------------------------------------------------------------------
# eval: chunking, memory, progress
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ("probs", "onehot", "--loss", "categorical"),
        ("logits", "labels", "--loss", "sparse_categorical", "--from-logits", "--semantics", "torch"),
        ("bin_logits", "multi", "--loss", "binary_focal", "--from-logits"),
    ],
)
def test_chunked_equals_unchunked(capsys, files, argv):
    d, _, paths = files
    pred, target, *opts = argv
    results = []
    for chunk in (None, 1, 7, 64, N, 10 * N):
        out = d / f"chunk_{chunk}.npy"
        extra = [] if chunk is None else ["--chunk-rows", chunk]
        res = _eval_json(capsys, paths[pred], paths[target], *opts, "--per-sample", out, *extra)
        results.append((res, np.load(out)))
    (r0, p0), rest = results[0], results[1:]
    assert r0["chunks"] == 1
    for res, per in rest:
        np.testing.assert_array_equal(per, p0)  # row-wise values do not depend on chunking
        assert res["mean"] == pytest.approx(r0["mean"], rel=1e-14, abs=0)
        assert res["count"] == r0["count"]
    assert results[1][0]["chunks"] == N  # --chunk-rows 1


def test_fortran_order_and_warnings_summed_over_chunks(capsys, files, tmp_path):
    _, arrays, paths = files
    np.save(tmp_path / "f.npy", np.asfortranarray(arrays["logits"]))
    a = _eval_json(
        capsys, tmp_path / "f.npy", paths["labels"], "--loss", "sparse_categorical", "--from-logits", "--chunk-rows", 10
    )
    b = _eval_json(capsys, paths["logits"], paths["labels"], "--loss", "sparse_categorical", "--from-logits")
    assert a["mean"] == pytest.approx(b["mean"], rel=1e-14) and a["chunks"] == 21
    # probabilities that do not sum to 1: one ProbabilityWarning with the rows of all chunks added up
    np.save(tmp_path / "p.npy", arrays["probs"] * 0.5)
    rc, out, err = run_cli(
        capsys, "eval", tmp_path / "p.npy", paths["onehot"], "--loss", "categorical", "--chunk-rows", 50
    )
    assert rc == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "ProbabilityWarning" in lines[0] and f"{N} of {N} rows do not sum to 1" in lines[0]
    res = _eval_json(capsys, tmp_path / "p.npy", paths["onehot"], "--loss", "categorical", "--chunk-rows", 50)
    assert len(res["warnings"]) == 1


MEM_SCRIPT = textwrap.dedent("""
    import json, resource, sys, tracemalloc
    tracemalloc.start()
    import numpy as np
    from crossentropy.cli import main
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rc = main(sys.argv[1:])
    peak_traced = tracemalloc.get_traced_memory()[1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rc": rc, "base_kib": base, "peak_kib": peak, "traced": peak_traced}), file=sys.stderr)
""")


def test_eval_memory_stays_flat(tmp_path):
    """A 200 MB input evaluated in 8 MB chunks: resident memory grows by a few chunks, not by the file."""
    rows, classes = 50_000, 1000
    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(rows, classes))
    rng = np.random.default_rng(3)
    for i in range(0, rows, 5000):
        big[i : i + 5000] = rng.standard_normal((5000, classes), dtype=np.float32)
    big.flush()
    del big
    labels = rng.integers(0, classes, rows)
    np.save(tmp_path / "lab.npy", labels)
    argv = [
        "eval",
        tmp_path / "big.npy",
        tmp_path / "lab.npy",
        "--loss",
        "sparse_categorical",
        "--from-logits",
        "--chunk-rows",
        2000,
        "--per-sample",
        tmp_path / "out.npy",
        "--json",
    ]
    r = subprocess.run([sys.executable, "-c", MEM_SCRIPT, *map(str, argv)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    mem = json.loads(r.stderr.strip().splitlines()[-1])
    assert mem["rc"] == 0
    chunk_bytes = 2000 * classes * 4
    assert mem["traced"] < 3 * chunk_bytes, mem  # NumPy allocations: O(chunk)
    assert (mem["peak_kib"] - mem["base_kib"]) * 1024 < 80e6, mem  # RSS: nowhere near the 200 MB
    res = json.loads(r.stdout)
    assert res["count"] == rows and res["chunks"] == 25
    per = np.load(tmp_path / "out.npy", mmap_mode="r")
    check = slice(rows - 300, rows)
    x = np.load(tmp_path / "big.npy", mmap_mode="r")
    np.testing.assert_array_equal(per[check], ce.sparse_softmax_cross_entropy(x[check], labels[check]))


def test_progress_bar_only_when_asked_or_on_a_tty(capsys, files):
    _, _, paths = files
    args = ("eval", paths["probs"], paths["labels"], "--loss", "sparse_categorical", "--chunk-rows", 50)
    rc, out, err = run_cli(capsys, *args)
    assert rc == 0 and err == ""
    rc, out, err = run_cli(capsys, *args, "--progress", "always")
    assert rc == 0 and "\r[" in err and "100.0%" in err and f"{N}/{N} rows" in err
    assert "\r" not in out
    rc, out, err = run_cli(capsys, *args, "--progress", "never")
    assert rc == 0 and err == ""


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_progress_bar_on_a_terminal(files):
    """stderr a terminal (a pty here): the bar appears without being asked for; stdout keeps the result."""
    _, _, paths = files
    master, slave = os.openpty()
    try:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "crossentropy",
                "eval",
                str(paths["probs"]),
                str(paths["labels"]),
                "--loss",
                "sparse_categorical",
                "--chunk-rows",
                "20",
            ],
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
            timeout=120,
        )
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    err = b"".join(chunks).decode()
    assert r.returncode == 0
    assert "\r[" in err and "100.0%" in err
    assert "count       203" in r.stdout and "\r" not in r.stdout


def test_threads_option():
    r = run_sub("info", "--json", "--threads", 1)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["threads_in_use"] == 1


def test_threads_option_eval(files):
    _, _, paths = files
    r = run_sub(
        "eval",
        paths["logits"],
        paths["labels"],
        "--loss",
        "sparse_categorical",
        "--from-logits",
        "--threads",
        1,
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["threads"] == 1


# ---------------------------------------------------------------------------------------------------------
# eval: bad input -> exit status and one line, no traceback
# ---------------------------------------------------------------------------------------------------------
def _bad_files(files, tmp_path):
    d, arrays, paths = files
    bad = arrays["labels"].copy()
    bad[150] = C
    np.save(tmp_path / "bad_labels.npy", bad)
    neg = arrays["labels"].copy()
    neg[3] = -1
    np.save(tmp_path / "neg_labels.npy", neg)
    np.save(tmp_path / "frac_labels.npy", arrays["labels"] + 0.5)
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    return paths


BAD = [
    # (argv, exit status, piece of the message)
    (("{tmp}/missing.npy", "{labels}", "--loss", "sparse_categorical"), 1, "PRED file not found"),
    (("{probs}", "{tmp}/missing.npy", "--loss", "sparse_categorical"), 1, "TARGET file not found"),
    (("{probs}", "{labels}", "--loss", "categorical"), 1, "shape mismatch"),
    (("{probs}", "{multi}", "--loss", "sparse_categorical"), 1, "shape mismatch"),
    (
        ("{probs}", "{tmp}/bad_labels.npy", "--loss", "sparse_categorical", "--chunk-rows", 64),
        1,
        "label 7 at index 150 is outside the class range [0, 7)",
    ),
    (
        ("{logits}", "{tmp}/neg_labels.npy", "--loss", "sparse_categorical", "--from-logits", "--semantics", "tf"),
        1,
        "label -1 at index 3 is outside",
    ),
    (("{probs}", "{tmp}/frac_labels.npy", "--loss", "sparse_categorical"), 1, "not an integer class index"),
    (("{tmp}/junk.npy", "{labels}", "--loss", "sparse_categorical"), 1, "not a .npy or .npz file"),
    (("{tmp}/strings.npy", "{labels}", "--loss", "sparse_categorical"), 1, "expected numbers"),
    (("{probs}", "{labels}", "--loss", "hinge"), 2, "invalid choice"),
    (("{probs}", "{labels}"), 2, "required: --loss"),
    (("{probs}", "{labels}", "--loss", "sparse_categorical", "--chunk-rows", "x"), 2, "invalid int value"),
    (("{probs}", "{labels}", "--loss", "sparse_categorical", "--chunk-rows", 0), 1, "--chunk-rows must be >= 1"),
    (("{probs}", "{labels}", "--loss", "sparse_categorical", "--threads", 0), 1, "--threads must be >= 1"),
    (("{probs}", "{labels}", "--loss", "sparse_categorical", "--axis", 5), 1, "--axis 5 is out of range"),
    (("{logits}", "{labels}", "--loss", "sparse_categorical", "--semantics", "torch"), 1, "pass --from-logits"),
    (
        ("{probs}", "{onehot}", "--loss", "categorical_focal", "--semantics", "torch", "--from-logits"),
        1,
        "defined by Keras only",
    ),
    (("{probs}", "{onehot}", "--loss", "categorical", "--ignore-class", 1), 1, "sparse_categorical only"),
    (("{probs}", "{onehot}", "--loss", "categorical", "--label-smoothing", 2), 1, "must lie in [0, 1]"),
    (
        ("{probs}", "{labels}", "--loss", "sparse_categorical", "--per-sample", "{tmp}/no/such/dir/o.npy"),
        1,
        "does not exist",
    ),
    (("{probs}", "{labels}", "--loss", "sparse_categorical", "--per-sample", "{probs}"), 1, "would overwrite an input"),
]


@pytest.mark.parametrize("argv,status,message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input_in_process(capsys, files, tmp_path, argv, status, message):
    paths = _bad_files(files, tmp_path)
    fill = {k: str(v) for k, v in paths.items()}
    fill["tmp"] = str(tmp_path)
    argv = [str(a).format(**fill) for a in argv]
    with pytest.raises(SystemExit) if status == 2 else _nullcontext() as exc:
        rc = cli.main(["eval", *argv])
    rc = exc.value.code if status == 2 else rc
    out, err = capsys.readouterr()
    assert rc == status
    assert message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_bad_input_subprocess_one_line(files, tmp_path):
    """The real program: non-zero status, exactly one line on stderr, nothing on stdout, no traceback."""
    paths = _bad_files(files, tmp_path)
    cases = [
        (["eval", tmp_path / "missing.npy", paths["labels"], "--loss", "categorical"], 1),
        (["eval", paths["probs"], paths["labels"], "--loss", "categorical"], 1),
        (["eval", paths["probs"], tmp_path / "bad_labels.npy", "--loss", "sparse_categorical"], 1),
        (["eval", paths["probs"], paths["labels"], "--loss", "nope"], 2),
        (["frobnicate"], 2),
    ]
    for argv, status in cases:
        r = run_sub(*argv)
        assert r.returncode == status, (argv, r.stderr)
        assert r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("crossentropy"), r.stderr
        assert "Traceback" not in r.stderr


def test_empty_command_prints_help(capsys):
    rc = cli.main([])
    out, err = capsys.readouterr()
    assert rc == 2 and "demo" in err and "eval" in err


# ---------------------------------------------------------------------------------------------------------
# info
# ---------------------------------------------------------------------------------------------------------
def test_info(capsys):
    rc, out, err = run_cli(capsys, "info")
    assert rc == 0
    assert "OpenMP" in out and "SIMD path in use" in out and ce.__version__ in out
    rc, out, err = run_cli(capsys, "info", "--json")
    info = json.loads(out)
    from crossentropy._config import build_info

    expected = build_info()
    for key in ("openmp", "simd_path", "threads_in_use", "cpu_count"):
        assert info[key] == expected[key]
    assert info["version"] == ce.__version__


def test_eval_big_endian_float32_prediction_gives_float32_losses(tmp_path):
    import subprocess
    import sys

    x = np.random.default_rng(0).standard_normal((10, 4)).astype(">f4")
    np.save(tmp_path / "p.npy", x)
    np.save(tmp_path / "t.npy", np.arange(10) % 4)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "crossentropy",
            "eval",
            str(tmp_path / "p.npy"),
            str(tmp_path / "t.npy"),
            "--loss",
            "sparse_categorical",
            "--from-logits",
            "--per-sample",
            str(tmp_path / "o.npy"),
        ],
        check=True,
        capture_output=True,
    )
    assert np.load(tmp_path / "o.npy").dtype == np.float32
