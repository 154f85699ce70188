"""crossentropy eval on language-model logits against crossentropy.lm and its float64 twin: perplexity, top-k
accuracy, --per-token statistics and --per-sequence perplexities, chunked or not."""

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
    labels[3, :] = -100  # a sequence with no scored token
    logits[1, 2, labels[1, 2]] = 50.0  # a sure greedy hit
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
@pytest.mark.parametrize("k", [1, 5])
def test_json_figures(capsys, files, chunk, k):
    d, logits, labels = files
    extra = ["--chunk-rows", chunk] if chunk else []
    rc, out, err = run_cli(
        capsys,
        "eval",
        d / "logits2.npy",
        d / "labels2.npy",
        "--loss",
        "sparse_categorical",
        "--semantics",
        "torch",
        "--from-logits",
        "--axis",
        "-1",
        "--top-k",
        k,
        "--json",
        *extra,
    )
    assert rc == 0, err
    res = json.loads(out)
    ppl, acc, acc_k, n = _expected(logits, labels, k)
    assert res["count"] == n
    np.testing.assert_allclose(res["perplexity"], ppl, rtol=1e-6)
    assert res["accuracy"] == pytest.approx(acc)  # top-1 always; --top-k K > 1 adds top_k_accuracy
    if k == 1:
        assert "top_k_accuracy" not in res
    else:
        assert res["top_k"] == k and res["top_k_accuracy"] == pytest.approx(acc_k)


def test_per_token_and_per_sequence(capsys, files, tmp_path):
    d, logits, labels = files
    tok, seq = tmp_path / "tok.npz", tmp_path / "seq.npy"
    rc, out, err = run_cli(
        capsys,
        "eval",
        d / "logits3.npy",
        d / "labels3.npy",
        "--loss",
        "sparse_categorical",
        "--semantics",
        "keras",
        "--from-logits",
        "--ignore-class",
        -100,
        "--per-token",
        tok,
        "--per-sequence",
        seq,
        "--chunk-rows",
        2,
    )
    assert rc == 0, err
    st = lm.token_stats(logits, labels)
    with np.load(tok) as z:
        assert sorted(z.files) == sorted(lm.TokenStats._fields)
        for name in lm.TokenStats._fields:
            np.testing.assert_array_equal(z[name], getattr(st, name))
    per_seq = np.load(seq)
    np.testing.assert_allclose(per_seq, lm.perplexity(logits, labels, per_sequence=True), rtol=1e-12)
    assert per_seq.shape == (B,) and np.isnan(per_seq[3])


def test_keras_without_ignored_class(capsys, files, tmp_path):
    d, logits, labels = files
    clean = np.where(labels < 0, 0, labels)
    np.save(tmp_path / "clean.npy", clean)
    rc, out, err = run_cli(
        capsys,
        "eval",
        d / "logits3.npy",
        tmp_path / "clean.npy",
        "--loss",
        "sparse_categorical",
        "--from-logits",
        "--json",
    )
    assert rc == 0, err
    res = json.loads(out)
    assert res["count"] == B * T
    np.testing.assert_allclose(res["perplexity"], lm.perplexity(logits, clean), rtol=1e-6)
