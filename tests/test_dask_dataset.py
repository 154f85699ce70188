"""A Parquet dataset of several files evaluated on a dask.distributed LocalCluster: each partition (file)
gives a metric state, the states merge, and the result equals one single-process pass and `crossentropy eval`
(docs/scaling.md)."""

import functools
import pickle

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
distributed = pytest.importorskip("distributed")

from crossentropy.io.arrow import evaluate, open_table  # noqa: E402
from crossentropy.metrics import Accuracy, CrossEntropy, Perplexity  # noqa: E402


def _evaluate_file(path, make_metric):
    """One partition: a fresh metric, streamed over one file; its state goes back to the client as the bytes a
    multi-process or multi-machine cluster would send (the test's cluster runs threads, to stay fast)."""
    return pickle.dumps(evaluate(make_metric(), path, "logits", target_col="label", max_rows=500))


def _cli_eval(path):
    import contextlib
    import io
    import json

    from crossentropy.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert (
            main(
                [
                    "eval",
                    str(path),
                    "--pred-col",
                    "logits",
                    "--target-col",
                    "label",
                    "--loss",
                    "sparse_categorical",
                    "--from-logits",
                    "--semantics",
                    "torch",
                    "--top-k",
                    "3",
                    "--json",
                    "--chunk-rows",
                    "700",
                ]
            )
            == 0
        )
    return json.loads(buf.getvalue())


def test_local_cluster_matches_single_pass(tmp_path):
    rng = np.random.default_rng(21)
    d = tmp_path / "preds"
    d.mkdir()
    for k, n in enumerate((900, 1, 2500, 640)):
        x = rng.standard_normal((n, 12)).astype(np.float32) * 3
        y = rng.integers(0, 12, n)
        y[rng.random(n) < 0.1] = -100
        pq.write_table(
            pa.table({"logits": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 12), "label": y}),
            d / f"part-{k}.parquet",
            row_group_size=300,
        )
    with open_table(str(d), ["logits", "label"]) as t:
        files = t.files
    factories = [functools.partial(CrossEntropy, semantics="torch"), Perplexity, functools.partial(Accuracy, top_k=3)]

    single = [evaluate(f(), str(d), "logits", target_col="label") for f in factories]
    cli = _cli_eval(d)  # the single-process command line, same accumulation
    assert cli["count"] == single[0].count and cli["mean"] == pytest.approx(single[0].result(), rel=1e-15)
    # the command line's perplexity is exp(mean loss); Perplexity sums token_stats' nll: another kernel, so the
    # float32 per-token values may differ in their last bits
    assert cli["perplexity"] == pytest.approx(single[1].result(), rel=1e-6)
    assert cli["top_k_accuracy"] == single[2].result()

    # processes=False (worker threads) keeps the test to a few seconds; the states still travel pickled
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None, silence_logs=50
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        for factory, ref in zip(factories, single, strict=False):
            states = [
                pickle.loads(b)
                for b in client.gather(client.map(_evaluate_file, files, make_metric=factory, pure=False))
            ]
            merged = functools.reduce(lambda a, b: a.merge(b), states)
            assert merged.count == ref.count
            assert abs(merged.result() - ref.result()) <= np.spacing(ref.result()), (factory, merged, ref)
