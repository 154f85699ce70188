"""Generate golden values from real Keras 3 metrics for ``crossentropy.keras.metrics``.

Run from the repository root in an environment with keras, jax and jaxlib (the package itself needs neither)::

    KERAS_BACKEND=jax python tests/golden/generate_keras_metrics.py

It writes ``keras_metrics.jsonl`` next to this script, in the shared format of ``goldenio.py``: ``{"versions",
"cases"}``.  Each case is ``{"id", "metric", "kwargs", "config", "updates": [{"y_true", "y_pred",
"sample_weight"}, ...], "results", "after_reset"}``: the metric is built with ``kwargs``, ``update_state`` is
called with each update in turn (each argument an ``{"array": name}`` or ``{"none": true}`` spec, see
``goldenio.value_of``), and ``results`` names a float32 array whose entry ``i`` is ``metric.result()`` after
update ``i``; ``after_reset`` is ``float(metric.result())`` after ``reset_state()``.  Inputs come from a fixed
seed; JAX runs with its default 32-bit configuration (what a Keras/JAX user gets), so every input is float32.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import goldenio  # noqa: E402  (the shared golden format, next to this script)
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "keras_metrics.jsonl")


def _spec(arrays, key, a):
    """An update argument as a goldenio spec; the array itself goes into ``arrays`` under ``key``."""
    if a is None:
        return {"none": True}
    arrays[key] = np.asarray(a)
    return {"array": key}


def _cases(rng):
    f32 = np.float32

    def probs(*shape):
        p = rng.random(shape).astype(f32) + f32(0.01)
        return (p / p.sum(axis=-1, keepdims=True)).astype(f32)

    def onehot(n, c):
        return np.eye(c, dtype=f32)[rng.integers(0, c, n)]

    cases = []
    # categorical: probabilities, logits, label smoothing, weights of rank 1 and (B, 1), several batches
    cases.append(
        (
            "categorical_probs",
            "CategoricalCrossentropy",
            {},
            [(onehot(8, 5), probs(8, 5), None), (onehot(5, 5), probs(5, 5), None), (onehot(3, 5), probs(3, 5), None)],
        )
    )
    cases.append(
        (
            "categorical_logits_smoothing",
            "CategoricalCrossentropy",
            {"from_logits": True, "label_smoothing": 0.1},
            [
                (onehot(6, 4), rng.standard_normal((6, 4)).astype(f32) * 3, None),
                (onehot(7, 4), rng.standard_normal((7, 4)).astype(f32) * 3, None),
            ],
        )
    )
    cases.append(
        (
            "categorical_weighted",
            "CategoricalCrossentropy",
            {},
            [
                (onehot(6, 3), probs(6, 3), rng.random(6).astype(f32)),
                (onehot(4, 3), probs(4, 3), rng.random((4, 1)).astype(f32)),
            ],
        )
    )
    cases.append(
        (
            "categorical_unnormalised_clip",
            "CategoricalCrossentropy",
            {},
            [
                (
                    onehot(4, 3),
                    np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94], [1.0, 0.0, 0.0]], f32),
                    None,
                )
            ],
        )
    )
    cases.append(
        (
            "categorical_3d",
            "CategoricalCrossentropy",
            {"from_logits": True},
            [
                (np.eye(4, dtype=f32)[rng.integers(0, 4, (3, 5))], rng.standard_normal((3, 5, 4)).astype(f32), None),
                (
                    np.eye(4, dtype=f32)[rng.integers(0, 4, (2, 5))],
                    rng.standard_normal((2, 5, 4)).astype(f32),
                    rng.random(2).astype(f32),
                ),
            ],
        )
    )
    cases.append(
        (
            "categorical_axis0",
            "CategoricalCrossentropy",
            {"axis": 0},
            [(onehot(4, 6).T.copy(), probs(4, 6).T.copy(), None)],
        )
    )
    # sparse: probabilities, logits, ignore_class (counted in the denominator), (B, 1) labels, 3-D
    cases.append(
        (
            "sparse_probs",
            "SparseCategoricalCrossentropy",
            {},
            [(rng.integers(0, 5, 9), probs(9, 5), None), (rng.integers(0, 5, 4), probs(4, 5), None)],
        )
    )
    cases.append(
        (
            "sparse_logits_weighted",
            "SparseCategoricalCrossentropy",
            {"from_logits": True},
            [
                (rng.integers(0, 6, 8), rng.standard_normal((8, 6)).astype(f32) * 4, rng.random(8).astype(f32)),
                (rng.integers(0, 6, (5, 1)), rng.standard_normal((5, 6)).astype(f32), None),
            ],
        )
    )
    lab = rng.integers(0, 4, 10)
    lab[[1, 4, 5]] = 3
    cases.append(
        (
            "sparse_ignore_class",
            "SparseCategoricalCrossentropy",
            {"from_logits": True, "ignore_class": 3},
            [
                (lab, rng.standard_normal((10, 4)).astype(f32), None),
                (np.array([3, 3, 0]), rng.standard_normal((3, 4)).astype(f32), None),
            ],
        )
    )
    cases.append(
        (
            "sparse_3d_weighted",
            "SparseCategoricalCrossentropy",
            {"from_logits": True},
            [
                (
                    rng.integers(0, 7, (4, 6)),
                    rng.standard_normal((4, 6, 7)).astype(f32),
                    rng.random((4, 6)).astype(f32),
                ),
                (rng.integers(0, 7, (3, 6)), rng.standard_normal((3, 6, 7)).astype(f32), None),
            ],
        )
    )
    # binary: probabilities, logits, smoothing, 1-D (one sample per update), weights
    cases.append(
        (
            "binary_probs",
            "BinaryCrossentropy",
            {},
            [
                (rng.integers(0, 2, (6, 3)).astype(f32), rng.random((6, 3)).astype(f32), None),
                (rng.integers(0, 2, (2, 3)).astype(f32), rng.random((2, 3)).astype(f32), None),
            ],
        )
    )
    cases.append(
        (
            "binary_logits_smoothing_weighted",
            "BinaryCrossentropy",
            {"from_logits": True, "label_smoothing": 0.2},
            [
                (
                    rng.integers(0, 2, (5, 4)).astype(f32),
                    rng.standard_normal((5, 4)).astype(f32) * 5,
                    rng.random(5).astype(f32),
                )
            ],
        )
    )
    cases.append(
        (
            "binary_1d",
            "BinaryCrossentropy",
            {},
            [
                (rng.integers(0, 2, 7).astype(f32), rng.random(7).astype(f32), None),
                (rng.integers(0, 2, 3).astype(f32), rng.random(3).astype(f32), None),
            ],
        )
    )
    cases.append(
        (
            "binary_zero_weights",
            "BinaryCrossentropy",
            {},
            [(rng.integers(0, 2, (3, 2)).astype(f32), rng.random((3, 2)).astype(f32), np.zeros(3, f32))],
        )
    )
    return cases


def main():
    import jax
    import keras

    rng = np.random.default_rng(20260412)
    versions = {
        "keras": keras.__version__,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "backend": keras.backend.backend(),
    }
    cases, arrays = [], {}
    for cid, cls, kwargs, updates in _cases(rng):
        m = getattr(keras.metrics, cls)(**kwargs)
        results = []
        for yt, yp, sw in updates:
            m.update_state(yt, yp, sample_weight=sw)
            results.append(np.asarray(m.result()))
        arrays[f"{cid}/results"] = np.array(results)
        cfg = m.get_config()
        cases.append(
            {
                "id": cid,
                "metric": cls,
                "kwargs": kwargs,
                "config": cfg,
                "updates": [
                    {
                        k: _spec(arrays, f"{cid}/{i}/{k}", v)
                        for k, v in (("y_true", yt), ("y_pred", yp), ("sample_weight", sw))
                    }
                    for i, (yt, yp, sw) in enumerate(updates)
                ],
                "results": f"{cid}/results",
            }
        )
        m.reset_state()
        cases[-1]["after_reset"] = float(m.result())
    path = goldenio.write(OUT, {"versions": versions, "cases": cases}, arrays)
    print(f"wrote {path}: {len(cases)} cases, keras {keras.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
