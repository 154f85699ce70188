"""Generate golden reference values from real Keras 3 for ``crossentropy.keras``.

Run from the repository root, in an environment with keras, jax and jaxlib
(not needed by the package itself); ``--tf-python`` (or the environment
variable ``KERAS_GOLDEN_TF_PYTHON``) names a second interpreter that has
tensorflow and the same keras, and adds the TensorFlow backend::

    python tests/golden/generate_keras.py --tf-python /path/to/tf/venv/bin/python

It writes, next to this script:

* ``keras.jsonl`` (the shared golden format of ``goldenio.py``) -- the document
  ``{"versions", "configs", "backend_mismatches", "backend_dtype_mismatches",
  "tf_jax_mismatches", "cases"}`` and every input and output array.

Each case is ``{"id", "kind" ("function" | "class"), "name", "kwargs",
"inputs": {"y_true", "y_pred"[, "sample_weight"]}, "outputs": {"value",
"grad", "value_numpy", "value_jax", "grad_jax", "value_tf", "grad_tf"},
"dtype", ...}``; the strings in ``inputs``/``outputs`` are array names of the
golden file (``None`` where Keras raised, see ``"errors"``).  ``kwargs`` are the
function's keyword arguments (kind "function") or the constructor's (kind
"class").  ``dtype`` is the dtype of the ``y_pred`` input.  A 0-d
``sample_weight`` with ``"sample_weight_python_scalar": true`` was passed as a
Python float.  Class cases carry their ``get_config()`` in ``"config"``, and
``"configs"`` holds each class's default config.

Backends: a Keras backend is fixed at import, so each one runs in a subprocess
(this script calling itself with ``--worker``).

* ``value_numpy``: ``KERAS_BACKEND=numpy``.
* ``value_jax``/``grad_jax``: ``KERAS_BACKEND=jax`` on the CPU.  Cases whose
  y_pred is float64 or whose class has ``dtype="float64"`` run with
  ``jax_enable_x64``; all other cases run with JAX's default (32-bit) config,
  which is what a Keras/JAX user gets (with x64 on, ``jax.nn.one_hot`` returns
  float64 and would promote float32 sparse losses).
  ``grad = jax.grad(lambda p: jnp.sum(loss(y_true, p)))(y_pred)``, the class's
  reduction and ``sample_weight`` included.
* ``value_tf``/``grad_tf``: ``KERAS_BACKEND=tensorflow``, gradient from
  ``tf.GradientTape`` of the same sum (only with ``--tf-python``).
* ``value``/``grad`` are the reference to test against: the JAX backend's.
  The NumPy backend differs by design in two ways (see ``backend_mismatches``):
  Keras' dtype rules turn float64 tensors into float32 there, and its
  ``binary_crossentropy(from_logits=True)`` clips ``sigmoid(x)`` to
  [eps, 1-eps] where JAX (and TensorFlow) use the exact ``log_sigmoid``.
  ``backend_mismatches`` lists the cases whose NumPy and JAX values differ
  beyond float tolerance (or where only one backend raised);
  ``backend_dtype_mismatches`` those that agree to float32 tolerance but come
  back as float32 from NumPy; ``tf_jax_mismatches`` those whose TensorFlow
  value or gradient differs from JAX's (including float-rounding-only
  differences at float64 tolerance).

Data come from fixed-seed ``numpy.random.default_rng`` streams and the golden
file is plain text with exact float reprs, so regenerating gives identical files.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

import goldenio  # the shared golden format, next to this script
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN_FILE = os.path.join(HERE, "keras.jsonl")

FUNCTIONS = {
    "CategoricalCrossentropy": "categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    "BinaryCrossentropy": "binary_crossentropy",
    "CategoricalFocalCrossentropy": "categorical_focal_crossentropy",
    "BinaryFocalCrossentropy": "binary_focal_crossentropy",
}
CLASSES = list(FUNCTIONS)
REDUCTIONS = [
    "sum_over_batch_size",
    "sum",
    "none",
    None,
    "mean",
    "mean_with_sample_weight",
]
DTYPES = ["float32", "float64"]


# --------------------------------------------------------------------------
# Input data
# --------------------------------------------------------------------------


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def random_logits(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def random_probs(rng, shape, dtype, axis=-1):
    return softmax(rng.standard_normal(shape) * 2.0, axis=axis).astype(dtype)


def random_pred(rng, shape, dtype, from_logits, axis=-1):
    if from_logits:
        return random_logits(rng, shape, dtype)
    return random_probs(rng, shape, dtype, axis=axis)


def random_onehot(rng, shape, dtype, axis=-1):
    axis = axis % len(shape)
    labels = rng.integers(0, shape[axis], size=shape[:axis] + shape[axis + 1 :])
    onehot = np.eye(shape[axis], dtype=dtype)[labels]
    return np.moveaxis(onehot, -1, axis)


def random_soft_labels(rng, shape, dtype, axis=-1):
    t = rng.random(shape)
    return (t / t.sum(axis=axis, keepdims=True)).astype(dtype)


def random_binary(rng, shape, dtype):
    return rng.integers(0, 2, size=shape).astype(dtype)


def random_sparse(rng, n_classes, shape, label_dtype="int64"):
    return rng.integers(0, n_classes, size=shape).astype(label_dtype)


def binary_pred(rng, shape, dtype, from_logits):
    if from_logits:
        return random_logits(rng, shape, dtype)
    return rng.uniform(0.02, 0.98, size=shape).astype(dtype)


# --------------------------------------------------------------------------
# Case list
# --------------------------------------------------------------------------


class Cases:
    """Collects case descriptions and their input arrays."""

    def __init__(self):
        self.cases = []
        self.arrays = {}

    def add(self, id, kind, name, kwargs, y_true, y_pred, sample_weight=None, note=None):
        if any(c["id"] == id for c in self.cases):
            raise ValueError(f"duplicate case id {id!r}")
        y_true = np.asarray(y_true)
        y_pred = np.asarray(y_pred)
        inputs = {"y_true": f"{id}/y_true", "y_pred": f"{id}/y_pred"}
        self.arrays[inputs["y_true"]] = y_true
        self.arrays[inputs["y_pred"]] = y_pred
        case = {
            "id": id,
            "kind": kind,
            "name": name,
            "kwargs": dict(kwargs),
            "inputs": inputs,
            "dtype": str(y_pred.dtype),
        }
        if sample_weight is not None:
            python_scalar = isinstance(sample_weight, float)
            sample_weight = np.asarray(sample_weight)
            inputs["sample_weight"] = f"{id}/sample_weight"
            self.arrays[inputs["sample_weight"]] = sample_weight
            if python_scalar:
                case["sample_weight_python_scalar"] = True
        if note:
            case["note"] = note
        self.cases.append(case)

    def fn(self, id, name, kwargs, y_true, y_pred, note=None):
        self.add(id, "function", name, kwargs, y_true, y_pred, note=note)

    def cls(self, id, name, kwargs, y_true, y_pred, sample_weight=None, note=None):
        self.add(id, "class", name, kwargs, y_true, y_pred, sample_weight, note=note)


def ls_tag(ls):
    return f"ls{ls:g}"


def logit_tag(from_logits):
    return "logits" if from_logits else "probs"


def seed_cases(c):
    """Examples quoted in the seed documents (exact numbers to reproduce)."""
    yt = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype="float32")
    yp = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]])
    c.cls("seed_a_class_f32", "CategoricalCrossentropy", {}, yt, yp.astype("float32"), note="expect 0.3239681124687195")
    for dt in DTYPES:
        c.fn(
            f"seed_a_fn_{dt}",
            "categorical_crossentropy",
            {},
            yt.astype(dt),
            yp.astype(dt),
            note="expect [0.10536052 0.80466845 0.0618754]",
        )
    yt = np.array([[0, 1]], dtype="float32")
    yp = np.array([[0.99999999999, 0.00000000001]])
    c.cls("seed_b_class_f32", "CategoricalCrossentropy", {}, yt, yp.astype("float32"), note="expect 16.11809539794922")
    c.fn("seed_b_fn_float64", "categorical_crossentropy", {}, yt.astype("float64"), yp, note="expect 16.11809565")
    c.fn("seed_b_fn_float32", "categorical_crossentropy", {}, yt, yp.astype("float32"))
    c.fn(
        "seed_c_binary_f32",
        "binary_crossentropy",
        {},
        np.array([1.0], "float32"),
        np.array([1.0], "float32"),
        note="seed says 1.1920933e-07; Keras 3 float32 gives -log(1-2**-23)",
    )
    c.fn(
        "seed_c_categorical_f32",
        "categorical_crossentropy",
        {},
        np.array([1, 2], "float32"),
        np.array([1, 2], "float32"),
        note="expect 1.9095424",
    )
    c.fn(
        "seed_c_sparse_f32",
        "sparse_categorical_crossentropy",
        {},
        np.array(1, "int64"),
        np.array([0.2, 0.2, 0.6], "float32"),
        note="expect 1.609438; Keras 3 needs arrays here (a Python int y_true raises AttributeError)",
    )
    c.cls(
        "seed_c_sparse_class_f32",
        "SparseCategoricalCrossentropy",
        {},
        np.array(1, "int64"),
        np.array([0.2, 0.2, 0.6], "float32"),
        note="expect 1.609438",
    )


def categorical_cases(c, name, tag, extra_grid):
    """Function cases for categorical_crossentropy and the focal variant."""
    rng = np.random.default_rng({"cce": 101, "cfce": 202}[tag])
    # Main grid.
    for dt in DTYPES:
        for C in (2, 3, 10, 50):
            for fl in (False, True):
                for ls in (0.0, 0.1, 0.3):
                    for kw in extra_grid(C, fl, ls):
                        kwargs = {"from_logits": fl, "label_smoothing": ls}
                        kwargs.update(kw)
                        suffix = "".join(f"_{k}{v:g}" for k, v in kw.items())
                        c.fn(
                            f"{tag}_{dt}_C{C}_{logit_tag(fl)}_{ls_tag(ls)}{suffix}",
                            name,
                            kwargs,
                            random_onehot(rng, (6, C), dt),
                            random_pred(rng, (6, C), dt, fl),
                        )
    for dt in DTYPES:
        for fl in (False, True):
            # Soft targets, and targets that do not sum to 1.
            for ls in (0.0, 0.3):
                c.fn(
                    f"{tag}_{dt}_soft_{logit_tag(fl)}_{ls_tag(ls)}",
                    name,
                    {"from_logits": fl, "label_smoothing": ls},
                    random_soft_labels(rng, (5, 4), dt),
                    random_pred(rng, (5, 4), dt, fl),
                )
            c.fn(
                f"{tag}_{dt}_targets_not_summing_to_1_{logit_tag(fl)}",
                name,
                {"from_logits": fl},
                rng.random((5, 4)).astype(dt),
                random_pred(rng, (5, 4), dt, fl),
            )
            # Axis and shape variants.  Label smoothing's K is the LAST
            # dimension of y_true even when axis is not last.
            for ls in (0.0, 0.3):
                kw = {"from_logits": fl, "label_smoothing": ls}
                t = ls_tag(ls)
                lt = logit_tag(fl)
                c.fn(
                    f"{tag}_{dt}_BCT_axis1_{lt}_{t}",
                    name,
                    dict(kw, axis=1),
                    random_onehot(rng, (2, 4, 3), dt, axis=1),
                    random_pred(rng, (2, 4, 3), dt, fl, axis=1),
                )
                c.fn(
                    f"{tag}_{dt}_CN_axis0_{lt}_{t}",
                    name,
                    dict(kw, axis=0),
                    random_onehot(rng, (5, 3), dt, axis=0),
                    random_pred(rng, (5, 3), dt, fl, axis=0),
                )
                c.fn(
                    f"{tag}_{dt}_BTC_{lt}_{t}",
                    name,
                    kw,
                    random_onehot(rng, (2, 3, 5), dt),
                    random_pred(rng, (2, 3, 5), dt, fl),
                )
                c.fn(
                    f"{tag}_{dt}_BTC_axis2_{lt}_{t}",
                    name,
                    dict(kw, axis=2),
                    random_onehot(rng, (2, 3, 5), dt),
                    random_pred(rng, (2, 3, 5), dt, fl),
                )
                c.fn(
                    f"{tag}_{dt}_single_row_{lt}_{t}",
                    name,
                    kw,
                    random_onehot(rng, (6,), dt),
                    random_pred(rng, (6,), dt, fl),
                )
        # Special probability inputs.
        yt = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dt)
        specials = {
            "unnormalized": np.array([[0.5, 0.89, 0.6], [2.0, 3.0, 5.0], [0.1, 0.1, 0.1], [0.01, 0.02, 0.03]], dt),
            "exact_0_and_1": np.array([[1, 0, 0], [0.5, 0.5, 0], [0, 0, 1], [0, 1, 0]], dt),
            "onehot_right": yt.copy(),
            "onehot_wrong": yt[[1, 2, 0, 2]].copy(),
            "tiny_1e-11": np.array(
                [[1e-11, 1 - 1e-11, 0.0], [1e-11, 1e-11, 1.0], [0.3, 0.7, 1e-11], [0.99999999999, 1e-11, 1e-11]], dt
            ),
            "zero_row": np.array([[0, 0, 0], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]], dt),
            "nan_entry": np.array([[np.nan, 0.5, 0.5], [0.2, 0.3, 0.5], [0.2, np.nan, 0.5], [0.2, 0.3, 0.5]], dt),
            "eps_tie": np.array([[1e-7, 1 - 1e-7, 0], [0.5, 0.5, 0], [0.25, 0.25, 0.5], [1.0, 1e-7, 0]], dt),
        }
        for sname, yp in specials.items():
            for ls in (0.0, 0.1):
                c.fn(f"{tag}_{dt}_{sname}_{ls_tag(ls)}", name, {"label_smoothing": ls}, yt, yp)
        c.fn(
            f"{tag}_{dt}_C1",
            name,
            {},
            np.ones((4, 1), dt),
            np.array([[0.3], [0.7], [1.0], [0.0]], dt),
            note="C=1: Keras warns (SyntaxWarning)",
        )
        c.fn(
            f"{tag}_{dt}_C1_logits",
            name,
            {"from_logits": True},
            np.ones((3, 1), dt),
            np.array([[0.3], [-30.0], [5.0]], dt),
        )
        # Special logits.
        logit_specials = {
            "pm30": np.array([[30, -30, 0], [-30, 30, 0], [30, 30, -30], [-30, -30, -30]], dt),
            "pm1e4": np.array([[1e4, -1e4, 0], [-1e4, 1e4, 0], [1e4, 1e4, -1e4], [0, 0, 1e4]], dt),
            "neg_inf": np.array([[-np.inf, 0, 1], [-np.inf, 0, 1], [0, 1, -np.inf], [-np.inf, -np.inf, 2]], dt),
            "pos_inf": np.array([[np.inf, 0, 1], [0, 1, 2], [0, 1, 2], [0, 1, 2]], dt),
            "nan": np.array([[np.nan, 0, 1], [0, 1, 2], [0, np.nan, 2], [0, 1, 2]], dt),
        }
        for sname, yp in logit_specials.items():
            for ls in (0.0, 0.1):
                c.fn(
                    f"{tag}_{dt}_logits_{sname}_{ls_tag(ls)}",
                    name,
                    {"from_logits": True, "label_smoothing": ls},
                    yt,
                    yp,
                )


def cce_grid(C, fl, ls):
    return [{}]


def cfce_grid(C, fl, ls):
    """Focal grid: all (alpha, gamma) pairs for C=3, the default elsewhere."""
    if C == 3:
        return [{"alpha": a, "gamma": g} for a in (0.25, 0.5) for g in (0.0, 2.0, 3.5)]
    return [{}]


def sparse_cases(c):
    name = "sparse_categorical_crossentropy"
    rng = np.random.default_rng(303)
    for dt in DTYPES:
        for C in (2, 3, 10, 50):
            for fl in (False, True):
                for ldt in ("int32", "int64"):
                    for lshape in ((6,), (6, 1)):
                        c.fn(
                            f"scce_{dt}_C{C}_{logit_tag(fl)}_{ldt}_labels{'x'.join(map(str, lshape))}",
                            name,
                            {"from_logits": fl},
                            random_sparse(rng, C, lshape, ldt),
                            random_pred(rng, (6, C), dt, fl),
                        )
    for dt in DTYPES:
        for fl in (False, True):
            lt = logit_tag(fl)
            yp = random_pred(rng, (6, 5), dt, fl)
            ign = {
                "ign0_present": (0, [0, 1, 2, 0, 4, 3]),
                "ign-1_padding": (-1, [2, -1, 0, -1, 4, 1]),
                "ign255_padding": (255, [2, 255, 0, 255, 4, 1]),
                "ign3_absent": (3, [0, 1, 2, 0, 4, 1]),
                "ign1_all": (1, [1, 1, 1, 1, 1, 1]),
            }
            for iname, (ic, labels) in ign.items():
                c.fn(
                    f"scce_{dt}_{iname}_{lt}",
                    name,
                    {"from_logits": fl, "ignore_class": ic},
                    np.array(labels, "int64"),
                    yp,
                )
            c.fn(
                f"scce_{dt}_ign-1_labelsNx1_{lt}",
                name,
                {"from_logits": fl, "ignore_class": -1},
                np.array([[2], [-1], [0], [-1], [4], [1]], "int32"),
                yp,
            )
            labels = random_sparse(rng, 4, (2, 3))
            labels[0, 2] = -1
            labels[1, 0] = -1
            c.fn(
                f"scce_{dt}_BTC_ign-1_{lt}",
                name,
                {"from_logits": fl, "ignore_class": -1},
                labels,
                random_pred(rng, (2, 3, 4), dt, fl),
            )
            # Axis and shape variants.  Keras checks target.shape against
            # y_pred.shape[:-1] whatever the axis, so axis != -1 only works
            # when that shape happens to match.
            c.fn(
                f"scce_{dt}_CN_axis0_C4N4_{lt}",
                name,
                {"from_logits": fl, "axis": 0},
                random_sparse(rng, 4, (4,)),
                random_pred(rng, (4, 4), dt, fl, axis=0),
            )
            c.fn(
                f"scce_{dt}_BCT_axis1_C3T3_{lt}",
                name,
                {"from_logits": fl, "axis": 1},
                random_sparse(rng, 3, (2, 3)),
                random_pred(rng, (2, 3, 3), dt, fl, axis=1),
            )
            c.fn(
                f"scce_{dt}_BCT_axis1_C3T4_{lt}",
                name,
                {"from_logits": fl, "axis": 1},
                random_sparse(rng, 3, (2, 4)),
                random_pred(rng, (2, 3, 4), dt, fl, axis=1),
                note="Keras raises ValueError (shape check uses [:-1])",
            )
            c.fn(
                f"scce_{dt}_BCT_axis1_C3T3_ign0_{lt}",
                name,
                {"from_logits": fl, "axis": 1, "ignore_class": 0},
                random_sparse(rng, 3, (2, 3)),
                random_pred(rng, (2, 3, 3), dt, fl, axis=1),
            )
            c.fn(
                f"scce_{dt}_BTC_{lt}",
                name,
                {"from_logits": fl},
                random_sparse(rng, 5, (2, 3)),
                random_pred(rng, (2, 3, 5), dt, fl),
            )
            c.fn(
                f"scce_{dt}_BTC_labelsBT1_{lt}",
                name,
                {"from_logits": fl},
                random_sparse(rng, 5, (2, 3, 1)),
                random_pred(rng, (2, 3, 5), dt, fl),
            )
            c.fn(
                f"scce_{dt}_single_row_{lt}",
                name,
                {"from_logits": fl},
                np.array(3, "int64"),
                random_pred(rng, (5,), dt, fl),
            )
            # Out-of-range and float labels.
            c.fn(
                f"scce_{dt}_label_eq_C_{lt}",
                name,
                {"from_logits": fl},
                np.array([0, 3, 1], "int64"),
                random_pred(rng, (3, 3), dt, fl),
                note="numpy backend: IndexError; jax backend: all-zero one-hot row -> loss 0",
            )
            c.fn(
                f"scce_{dt}_label_neg1_no_ignore_{lt}",
                name,
                {"from_logits": fl},
                np.array([0, -1, 1], "int64"),
                random_pred(rng, (3, 3), dt, fl),
            )
            c.fn(
                f"scce_{dt}_float_labels_{lt}",
                name,
                {"from_logits": fl},
                np.array([1.7, 0.2, 2.9], dt),
                random_pred(rng, (3, 3), dt, fl),
                note="labels are cast to int32 (truncation)",
            )
        # Special predictions.
        labels = np.array([0, 1, 2, 0], "int64")
        specials = {
            "unnormalized": [[0.5, 0.89, 0.6], [2.0, 3.0, 5.0], [0.1, 0.1, 0.1], [0.01, 0.02, 0.03]],
            "exact_0_and_1": [[1, 0, 0], [0.5, 0.5, 0], [0, 0, 1], [0, 1, 0]],
            "tiny_1e-11": [
                [1e-11, 1 - 1e-11, 0.0],
                [1e-11, 1e-11, 1.0],
                [0.3, 0.7, 1e-11],
                [0.99999999999, 1e-11, 1e-11],
            ],
            "zero_row": [[0, 0, 0], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]],
            "nan_entry": [[np.nan, 0.5, 0.5], [0.2, 0.3, 0.5], [0.2, np.nan, 0.5], [0.2, 0.3, 0.5]],
        }
        for sname, yp in specials.items():
            c.fn(f"scce_{dt}_{sname}", name, {}, labels, np.array(yp, dt))
        logit_specials = {
            "pm30": [[30, -30, 0], [-30, 30, 0], [30, 30, -30], [-30, -30, -30]],
            "pm1e4": [[1e4, -1e4, 0], [-1e4, 1e4, 0], [1e4, 1e4, -1e4], [0, 0, 1e4]],
            "neg_inf": [[-np.inf, 0, 1], [-np.inf, 0, 1], [0, 1, -np.inf], [-np.inf, -np.inf, 2]],
            "nan": [[np.nan, 0, 1], [0, 1, 2], [0, np.nan, 2], [0, 1, 2]],
        }
        for sname, yp in logit_specials.items():
            c.fn(f"scce_{dt}_logits_{sname}", name, {"from_logits": True}, labels, np.array(yp, dt))
        c.fn(
            f"scce_{dt}_logits_neg_inf_ign0",
            name,
            {"from_logits": True, "ignore_class": 0},
            labels,
            np.array(logit_specials["neg_inf"], dt),
        )


def binary_cases(c, name, tag):
    rng = np.random.default_rng({"bce": 404, "bfce": 505}[tag])
    if tag == "bce":
        grid = [{}]
    else:
        grid = [
            {"apply_class_balancing": acb, "alpha": a, "gamma": g}
            for acb in (False, True)
            for a in (0.25, 0.5)
            for g in (0.0, 2.0, 3.5)
        ]
    for dt in DTYPES:
        for fl in (False, True):
            lt = logit_tag(fl)
            for ls in (0.0, 0.1, 0.3):
                for shape in ((8, 1), (6, 3), (8,)):
                    for kw in grid if shape == (6, 3) and ls != 0.3 else [{}]:
                        kwargs = {"from_logits": fl, "label_smoothing": ls}
                        kwargs.update(kw)
                        suffix = "".join(
                            f"_{k}{v:g}" if not isinstance(v, bool) else f"_{k}{int(v)}" for k, v in kw.items()
                        )
                        c.fn(
                            f"{tag}_{dt}_{'x'.join(map(str, shape))}_{lt}_{ls_tag(ls)}{suffix}",
                            name,
                            kwargs,
                            random_binary(rng, shape, dt),
                            binary_pred(rng, shape, dt, fl),
                        )
            kw = {"from_logits": fl}
            c.fn(
                f"{tag}_{dt}_soft_labels_{lt}",
                name,
                kw,
                rng.random((6, 3)).astype(dt),
                binary_pred(rng, (6, 3), dt, fl),
            )
            for axis in (-1, 0, 1):
                c.fn(
                    f"{tag}_{dt}_BTC_axis{axis}_{lt}",
                    name,
                    dict(kw, axis=axis),
                    random_binary(rng, (2, 3, 4), dt),
                    binary_pred(rng, (2, 3, 4), dt, fl),
                )
            c.fn(
                f"{tag}_{dt}_CN_axis0_{lt}",
                name,
                dict(kw, axis=0),
                random_binary(rng, (5, 3), dt),
                binary_pred(rng, (5, 3), dt, fl),
            )
        yt = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dt)
        specials = {
            "exact_0_and_1": [[1, 0, 0], [0, 1, 1], [0.5, 1, 0], [1, 1, 1]],
            "tiny_1e-11": [
                [1e-11, 1 - 1e-11, 1e-11],
                [0.99999999999, 1e-11, 0.5],
                [1e-11, 1e-11, 1e-11],
                [0.5, 0.5, 0.5],
            ],
            "eps_tie": [[1e-7, 1 - 1e-7, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]],
            "nan_entry": [[np.nan, 0.5, 0.5], [0.2, 0.3, 0.5], [0.2, np.nan, 0.5], [0.2, 0.3, 0.5]],
        }
        for sname, yp in specials.items():
            for ls in (0.0, 0.1):
                c.fn(f"{tag}_{dt}_{sname}_{ls_tag(ls)}", name, {"label_smoothing": ls}, yt, np.array(yp, dt))
        logit_specials = {
            "pm30": [[30, -30, 0], [-30, 30, 30], [30, 30, -30], [-30, -30, -30]],
            "pm1e4": [[1e4, -1e4, 0], [-1e4, 1e4, 1e4], [1e4, 1e4, -1e4], [0, 0, 1e4]],
            "neg_inf": [[-np.inf, 0, 1], [-np.inf, 0, 1], [0, 1, -np.inf], [-np.inf, -np.inf, 2]],
            "pos_inf": [[np.inf, 0, 1], [0, np.inf, 2], [0, 1, 2], [0, 1, 2]],
            "nan": [[np.nan, 0, 1], [0, 1, 2], [0, np.nan, 2], [0, 1, 2]],
        }
        for sname, yp in logit_specials.items():
            for ls in (0.0, 0.1):
                c.fn(
                    f"{tag}_{dt}_logits_{sname}_{ls_tag(ls)}",
                    name,
                    {"from_logits": True, "label_smoothing": ls},
                    yt,
                    np.array(yp, dt),
                )


def class_data(rng, cls_name, shape, dt, from_logits=False):
    """(y_true, y_pred) for a class, batch dims shape[:-1], classes shape[-1]."""
    if cls_name.startswith("Sparse"):
        return (random_sparse(rng, shape[-1], shape[:-1]), random_pred(rng, shape, dt, from_logits))
    if cls_name.startswith("Binary"):
        return (random_binary(rng, shape, dt), binary_pred(rng, shape, dt, from_logits))
    return (random_onehot(rng, shape, dt), random_pred(rng, shape, dt, from_logits))


def red_tag(reduction):
    return "redNone" if reduction is None else f"red_{reduction}"


def class_cases(c):
    rng = np.random.default_rng(606)
    N = 6
    for cls_name in CLASSES:
        short = FUNCTIONS[cls_name]
        # Every reduction x every sample_weight form, 2-D float32 input.
        for red in REDUCTIONS:
            for sw_name in ("none", "scalar", "N", "Nx1"):
                yt, yp = class_data(rng, cls_name, (N, 4), "float32")
                sw = {
                    "none": None,
                    "scalar": 0.7,
                    "N": rng.uniform(0, 2, N).astype("float32"),
                    "Nx1": rng.uniform(0, 2, (N, 1)).astype("float32"),
                }[sw_name]
                kw = {} if red == "sum_over_batch_size" else {"reduction": red}
                c.cls(f"cls_{short}_{red_tag(red)}_sw_{sw_name}", cls_name, kw, yt, yp, sw)
        # 3-D (B, T, C) input with per-timestep weights.
        for red in ("sum_over_batch_size", "sum", "none", "mean_with_sample_weight"):
            for sw_name in ("none", "BT", "Bx1"):
                yt, yp = class_data(rng, cls_name, (2, 3, 4), "float32")
                sw = {
                    "none": None,
                    "BT": rng.uniform(0, 2, (2, 3)).astype("float32"),
                    "Bx1": rng.uniform(0, 2, (2, 1)).astype("float32"),
                }[sw_name]
                c.cls(f"cls_{short}_BTC_{red_tag(red)}_sw_{sw_name}", cls_name, {"reduction": red}, yt, yp, sw)
        yt, yp = class_data(rng, cls_name, (2, 3, 4), "float32")
        c.cls(
            f"cls_{short}_BTC_sw_B",
            cls_name,
            {},
            yt,
            yp,
            rng.uniform(0, 2, 2).astype("float32"),
            note="sample_weight (B,) against (B,T) losses: no rank fix-up, plain broadcasting fails",
        )
        # Compute dtype: constructor dtype vs input dtype.
        for dtype_kw, in_dt in ((None, "float64"), ("float64", "float64"), ("float64", "float32")):
            for red in ("sum_over_batch_size", "sum", "none"):
                yt, yp = class_data(rng, cls_name, (N, 4), in_dt)
                kw = {"reduction": red}
                if dtype_kw:
                    kw["dtype"] = dtype_kw
                c.cls(
                    f"cls_{short}_dtype{dtype_kw or 'Default'}_in_{in_dt}_{red_tag(red)}",
                    cls_name,
                    kw,
                    yt,
                    yp,
                    rng.uniform(0, 2, N).astype(in_dt),
                )
        # Non-default options through the constructor.
        yt, yp = class_data(rng, cls_name, (N, 4), "float32", True)
        kw = {"from_logits": True}
        if cls_name != "SparseCategoricalCrossentropy":
            kw["label_smoothing"] = 0.2
        if "Focal" in cls_name:
            kw.update(alpha=0.5, gamma=3.5)
        if cls_name == "BinaryFocalCrossentropy":
            kw["apply_class_balancing"] = True
        c.cls(f"cls_{short}_options_logits", cls_name, kw, yt, yp, rng.uniform(0, 2, N).astype("float32"))
        # All-zero weights: divide_no_nan gives 0 for mean_with_sample_weight.
        yt, yp = class_data(rng, cls_name, (N, 4), "float32")
        c.cls(
            f"cls_{short}_mws_zero_weights",
            cls_name,
            {"reduction": "mean_with_sample_weight"},
            yt,
            yp,
            np.zeros(N, "float32"),
        )

    # ignore_class on the sparse class: the mask reaches the reduction.
    name = "SparseCategoricalCrossentropy"
    for ic, labels in ((0, [0, 1, 2, 0, 3, 1]), (-1, [2, -1, 0, -1, 3, 1])):
        for red in REDUCTIONS:
            for sw_name in ("none", "scalar", "N"):
                for fl in (False, True):
                    yp = random_pred(rng, (N, 4), "float32", fl)
                    sw = {"none": None, "scalar": 0.7, "N": rng.uniform(0, 2, N).astype("float32")}[sw_name]
                    c.cls(
                        f"cls_scce_ign{ic}_{red_tag(red)}_sw_{sw_name}_{logit_tag(fl)}",
                        name,
                        {"ignore_class": ic, "reduction": red, "from_logits": fl},
                        np.array(labels, "int64"),
                        yp,
                        sw,
                    )
    for red in REDUCTIONS:
        c.cls(
            f"cls_scce_all_ignored_{red_tag(red)}",
            name,
            {"ignore_class": 2, "reduction": red},
            np.full(4, 2, "int64"),
            random_probs(rng, (4, 3), "float32"),
        )
        labels = random_sparse(rng, 4, (2, 3))
        labels[0, 1] = labels[1, 2] = -1
        c.cls(
            f"cls_scce_BTC_ign-1_{red_tag(red)}_sw_BT",
            name,
            {"ignore_class": -1, "reduction": red},
            labels,
            random_probs(rng, (2, 3, 4), "float32"),
            rng.uniform(0, 2, (2, 3)).astype("float32"),
        )
    c.cls(
        "cls_scce_ign-1_labelsNx1",
        name,
        {"ignore_class": -1},
        np.array([[2], [-1], [0], [-1], [3], [1]], "int32"),
        random_probs(rng, (N, 4), "float32"),
    )
    c.cls(
        "cls_scce_ign0_dtype_float64",
        name,
        {"ignore_class": 0, "dtype": "float64"},
        np.array([0, 1, 2, 0, 3, 1], "int64"),
        random_probs(rng, (N, 4), "float64"),
        rng.uniform(0, 2, N).astype("float64"),
    )


def build_cases():
    c = Cases()
    seed_cases(c)
    categorical_cases(c, "categorical_crossentropy", "cce", cce_grid)
    categorical_cases(c, "categorical_focal_crossentropy", "cfce", cfce_grid)
    sparse_cases(c)
    binary_cases(c, "binary_crossentropy", "bce")
    binary_cases(c, "binary_focal_crossentropy", "bfce")
    class_cases(c)
    return c


# --------------------------------------------------------------------------
# Worker: runs inside a subprocess with one Keras backend.
# --------------------------------------------------------------------------


def needs_x64(case):
    return case["dtype"] == "float64" or case["kwargs"].get("dtype") == "float64"


def make_grad_fn(backend):
    """Returns grad(f, y_pred) = d sum(f(y_pred)) / d y_pred for a backend."""
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return lambda f, y_pred: jax.grad(lambda p: jnp.sum(f(p)))(jnp.asarray(y_pred))
    if backend == "tensorflow":
        import tensorflow as tf

        def grad(f, y_pred):
            p = tf.constant(y_pred)
            with tf.GradientTape() as tape:
                tape.watch(p)
                total = tf.reduce_sum(f(p))
            return tape.gradient(total, p, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        return grad
    return None


def worker(backend, x64, spec_dir, out_dir):
    import keras

    assert keras.backend.backend() == backend, keras.backend.backend()
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    versions = {"keras": keras.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    if backend == "jax":
        import jax
        import jaxlib

        jax.config.update("jax_enable_x64", x64)
        versions.update(jax=jax.__version__, jaxlib=jaxlib.__version__)
    if backend == "tensorflow":
        import tensorflow as tf

        # Not tf.config.experimental.enable_op_determinism(): it swaps the
        # fused softmax_cross_entropy_with_logits kernel (gradient
        # softmax - labels) for a composite one (softmax * sum(labels) - labels).
        versions.update(tensorflow=tf.__version__)
    grad_fn = make_grad_fn(backend)

    with open(os.path.join(spec_dir, "cases.json")) as f:
        cases = json.load(f)
    arrays = dict(np.load(os.path.join(spec_dir, "inputs.npz")))
    if backend == "jax":
        cases = [case for case in cases if needs_x64(case) == x64]

    def loss_fn(case):
        y_true = arrays[case["inputs"]["y_true"]]
        sw = None
        if "sample_weight" in case["inputs"]:
            sw = arrays[case["inputs"]["sample_weight"]]
            if case.get("sample_weight_python_scalar"):
                sw = float(sw)
        if case["kind"] == "function":
            fn = getattr(keras.losses, case["name"])
            return lambda y_pred: fn(y_true, y_pred, **case["kwargs"])
        loss = getattr(keras.losses, case["name"])(**case["kwargs"])
        return lambda y_pred: loss(y_true, y_pred, sample_weight=sw)

    out, results = {}, {}
    for case in cases:
        cid = case["id"]
        res = results[cid] = {}
        y_pred = arrays[case["inputs"]["y_pred"]]
        try:
            value = loss_fn(case)(y_pred)
            out[f"{cid}/value"] = np.asarray(value)
        except Exception as e:  # Keras' own error is part of the spec
            res["error"] = f"{type(e).__name__}: {e}".split("\n")[0]
        if grad_fn is not None and "error" not in res:
            try:
                out[f"{cid}/grad"] = np.asarray(grad_fn(loss_fn(case), y_pred))
            except Exception as e:
                res["grad_error"] = f"{type(e).__name__}: {e}".split("\n")[0]
        if case["kind"] == "class":
            cfg = getattr(keras.losses, case["name"])(**case["kwargs"])
            res["config"] = cfg.get_config()

    configs = {name: getattr(keras.losses, name)().get_config() for name in CLASSES}
    np.savez(os.path.join(out_dir, "outputs.npz"), **out)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"versions": versions, "configs": configs, "results": results}, f)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def run_worker(backend, x64, spec_dir, python=sys.executable):
    out_dir = tempfile.mkdtemp(prefix=f"keras_{backend}_", dir=spec_dir)
    env = dict(
        os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3"
    )
    subprocess.run(
        [python, os.path.abspath(__file__), "--worker", backend, "--x64", str(int(x64)), spec_dir, out_dir],
        env=env,
        check=True,
    )
    with open(os.path.join(out_dir, "results.json")) as f:
        meta = json.load(f)
    return meta, dict(np.load(os.path.join(out_dir, "outputs.npz")))


def values_agree(a, b):
    if a.shape != b.shape:
        return False
    both64 = a.dtype == np.float64 and b.dtype == np.float64
    rtol, atol = (1e-12, 1e-14) if both64 else (2e-6, 1e-7)
    return bool(np.allclose(a.astype("float64"), b.astype("float64"), rtol=rtol, atol=atol, equal_nan=True))


def outputs_agree(arrays, key_a, key_b):
    if (key_a is None) != (key_b is None):
        return False
    return key_a is None or values_agree(arrays[key_a], arrays[key_b])


def main(tf_python=None):
    built = build_cases()
    with tempfile.TemporaryDirectory() as spec_dir:
        with open(os.path.join(spec_dir, "cases.json"), "w") as f:
            json.dump(built.cases, f)
        np.savez(os.path.join(spec_dir, "inputs.npz"), **built.arrays)
        runs = {
            "numpy": run_worker("numpy", False, spec_dir),
            "jax32": run_worker("jax", False, spec_dir),
            "jax64": run_worker("jax", True, spec_dir),
        }
        if tf_python:
            runs["tf"] = run_worker("tensorflow", False, spec_dir, tf_python)

    arrays = dict(built.arrays)
    mismatches, dtype_mismatches, tf_mismatches = [], [], []
    for case in built.cases:
        cid = case["id"]
        by_label = {"numpy": runs["numpy"], "jax": runs["jax64" if needs_x64(case) else "jax32"]}
        if "tf" in runs:
            by_label["tf"] = runs["tf"]
        outputs, errors = {}, {}
        for label, (meta, out) in by_label.items():
            res = meta["results"][cid]
            for kind in ("value", "grad"):
                key = None
                if f"{cid}/{kind}" in out:
                    key = f"{cid}/{kind}_{label}"
                    arrays[key] = out[f"{cid}/{kind}"]
                if kind == "value" or label != "numpy":
                    outputs[f"{kind}_{label}"] = key
            if res.get("error"):
                errors[label] = res["error"]
            if res.get("grad_error"):
                errors[f"{label}_grad"] = res["grad_error"]
        case["outputs"] = {"value": outputs["value_jax"], "grad": outputs["grad_jax"], **outputs}
        case["jax_x64"] = needs_x64(case)
        if errors:
            case["errors"] = errors
        if case["kind"] == "class":
            case["config"] = by_label["jax"][0]["results"][cid]["config"]
        vn, vj = outputs["value_numpy"], outputs["value_jax"]
        case["backends_agree"] = outputs_agree(arrays, vn, vj)
        if not case["backends_agree"]:
            mismatches.append(cid)
        elif vn is not None and arrays[vn].dtype != arrays[vj].dtype:
            dtype_mismatches.append(cid)
        if "tf" in runs:
            same = outputs_agree(arrays, outputs["value_tf"], vj) and outputs_agree(
                arrays, outputs["grad_tf"], outputs["grad_jax"]
            )
            case["tf_agrees_with_jax"] = same
            if not same:
                tf_mismatches.append(cid)

    versions = dict(runs["numpy"][0]["versions"])
    versions.update({k: v for k, v in runs["jax32"][0]["versions"].items() if k in ("jax", "jaxlib")})
    if "tf" in runs:
        versions["tensorflow_run"] = runs["tf"][0]["versions"]
    doc = {
        "versions": versions,
        "configs": runs["jax32"][0]["configs"],
        "backend_mismatches": mismatches,
        "backend_dtype_mismatches": dtype_mismatches,
        "tf_jax_mismatches": tf_mismatches if "tf" in runs else None,
        "cases": built.cases,
    }
    goldenio.write(GOLDEN_FILE, doc, arrays)
    print(
        f"{len(built.cases)} cases; numpy-vs-jax: {len(mismatches)} value "
        f"mismatches, {len(dtype_mismatches)} more with another dtype; "
        f"tf-vs-jax: {len(tf_mismatches) if 'tf' in runs else 'not run'}; "
        f"wrote {GOLDEN_FILE} ({os.path.getsize(GOLDEN_FILE)} bytes)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tf-python",
        default=os.environ.get("KERAS_GOLDEN_TF_PYTHON"),
        help="a Python with tensorflow and the same keras: adds the "
        "TensorFlow backend's values and gradients (value_tf, grad_tf)",
    )
    parser.add_argument("--worker", choices=["numpy", "jax", "tensorflow"], help=argparse.SUPPRESS)
    parser.add_argument("--x64", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("dirs", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, bool(args.x64), *args.dirs)
    else:
        main(args.tf_python)
