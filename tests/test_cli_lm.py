"""crossentropy eval on language-model logits: perplexity, top-1/top-k accuracy, --per-token statistics and
--per-sequence perplexities, chunked or not, text and JSON, and the options' errors."""
import json

import numpy as np
import pytest

from crossentropy import cli, lm
from crossentropy.lm import _reference as ref

B, T, V = 5, 7, 300


def run_cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_lm")
    rng = np.random.default_rng(11)
    logits = (rng.standard_normal((B, T, V)) * 3).astype(np.float32)
    labels = rng.integers(0, V, (B, T))
    labels[0, :3] = -100
    labels[3, :] = -100   # a sequence with no scored token
    logits[1, 2, labels[1, 2]] = 50.0   # a sure greedy hit
    np.save(d / "logits3.npy", logits)
    np.save(d / "labels3.npy", labels)
    np.save(d / "logits2.npy", logits.reshape(B * T, V))
    np.save(d / "labels2.npy", labels.reshape(B * T))
    return d, logits, labels


def _expected(logits, labels, k):
    nll, lse, ent, rank, valid = ref.token_stats(logits.astype(np.float64), labels)
    n = valid.sum()
    return np.exp(nll[valid].mean()), (rank == 0).sum() / n, ((rank >= 0) & (rank < k)).sum() / n, n


@pytest.mark.parametrize("chunk", [None, 2])
def test_json_figures(capsys, files, chunk):
    d, logits, labels = files
    extra = ["--chunk-rows", chunk] if chunk else []
    rc, out, err = run_cli(capsys, "eval", d / "logits2.npy", d / "labels2.npy", "--loss", "sparse_categorical",
                           "--semantics", "torch", "--from-logits", "--axis", "-1", "--top-k", 5, "--json", *extra)
    assert rc == 0, err
    res = json.loads(out)
    ppl, acc, acc_k, n = _expected(logits, labels, 5)
    assert res["tokens"] == n == res["count"]
    np.testing.assert_allclose(res["perplexity"], ppl, rtol=1e-6)
    np.testing.assert_allclose(res["perplexity"], np.exp(res["mean"]), rtol=1e-6)   # no smoothing: loss = nll
    assert res["accuracy"] == pytest.approx(acc) and res["top_k"] == 5 and res["top_k_accuracy"] == pytest.approx(acc_k)
    assert 0 < res["accuracy"] <= res["top_k_accuracy"]


def test_text_report(capsys, files):
    d, logits, labels = files
    rc, out, err = run_cli(capsys, "eval", d / "logits2.npy", d / "labels2.npy", "--loss", "sparse_categorical",
                           "--semantics", "torch", "--from-logits", "--axis", "-1", "--top-k", 3)
    assert rc == 0, err
    ppl, acc, acc_k, n = _expected(logits, labels, 3)
    line = next(s for s in out.splitlines() if s.startswith("perplexity"))
    assert float(line.split()[1]) == pytest.approx(ppl, rel=1e-6)
    line = next(s for s in out.splitlines() if s.startswith("accuracy"))
    assert "top-1" in line and "top-3" in line and f"of {n} tokens" in line


def test_per_token_and_per_sequence(capsys, files, tmp_path):
    d, logits, labels = files
    tok, seq = tmp_path / "tok.npz", tmp_path / "seq.npy"
    rc, out, err = run_cli(capsys, "eval", d / "logits3.npy", d / "labels3.npy", "--loss", "sparse_categorical",
                           "--semantics", "keras", "--from-logits", "--ignore-class", -100, "--per-token", tok,
                           "--per-sequence", seq, "--chunk-rows", 2)
    assert rc == 0, err
    st = lm.token_stats(logits, labels)
    with np.load(tok) as z:
        assert sorted(z.files) == sorted(lm.TokenStats._fields)
        for name in lm.TokenStats._fields:
            np.testing.assert_array_equal(z[name], getattr(st, name))
    per_seq = np.load(seq)
    np.testing.assert_allclose(per_seq, lm.perplexity(logits, labels, per_sequence=True), rtol=1e-12)
    assert per_seq.shape == (B,) and np.isnan(per_seq[3])
    assert "per-sequence" in out and "per-token" in out


def test_keras_without_ignored_class(capsys, files, tmp_path):
    d, logits, labels = files
    clean = np.where(labels < 0, 0, labels)
    np.save(tmp_path / "clean.npy", clean)
    rc, out, err = run_cli(capsys, "eval", d / "logits3.npy", tmp_path / "clean.npy", "--loss", "sparse_categorical",
                           "--from-logits", "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert res["tokens"] == B * T
    np.testing.assert_allclose(res["perplexity"], lm.perplexity(logits, clean), rtol=1e-6)


@pytest.mark.parametrize("argv, message", [
    (["--loss", "sparse_categorical", "--top-k", "3"], "--from-logits"),
    (["--loss", "categorical", "--from-logits", "--per-token", "x.npz"], "sparse_categorical"),
    (["--loss", "sparse_categorical", "--from-logits", "--top-k", "0"], "--top-k must be >= 1"),
])
def test_option_errors(capsys, files, argv, message):
    d, _, _ = files
    target = d / ("logits2.npy" if "categorical" in argv else "labels2.npy")
    rc, out, err = run_cli(capsys, "eval", d / "logits2.npy", target, *argv)
    assert rc != 0 and message in err


def test_per_sequence_needs_three_dimensions(capsys, files, tmp_path):
    d, _, _ = files
    rc, out, err = run_cli(capsys, "eval", d / "logits2.npy", d / "labels2.npy", "--loss", "sparse_categorical",
                           "--semantics", "torch", "--from-logits", "--axis", "-1", "--per-sequence",
                           tmp_path / "s.npy")
    assert rc == 1 and "--per-sequence needs PRED of shape" in err
