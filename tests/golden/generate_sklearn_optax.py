"""Generate golden values from real scikit-learn (``log_loss``) and real optax/JAX (six losses and their
gradients) for ``crossentropy.sklearn`` and ``crossentropy.optax``.

Run from the repository root in an environment with scikit-learn, optax and jax::

    python tests/golden/generate_sklearn_optax.py --framework all

It writes ``sklearn.jsonl`` and ``optax.jsonl`` next to this script, in the shared format of ``goldenio.py``.

sklearn document: ``{"versions", "cases"}``; each case is ``{"id", "args": {name: value}, "result"}`` where a
value is ``{"array": name}`` (an array of the golden file), ``{"list": [...]}`` (passed as a Python list, e.g.
string labels), ``{"object_array": [...]}``, ``{"bytes_list": [...]}``, ``{"scalar": v}``, or ``{"none": true}``
(see ``goldenio.value_of``); ``result`` is ``{"value": float, "warnings":
[[class, message], ...]}`` or ``{"error": class name, "message": str}``.

optax document: ``{"versions", "cases"}``; each case is ``{"id", "name", "args": {...}, "kwargs": {...},
"dtype", "outputs": {"value", "grad"}}`` (array names; ``grad`` = ``jax.grad`` of the summed value w.r.t. the
logits) or, for errors, ``"error": class name``.  JAX runs on the CPU with ``JAX_ENABLE_X64=1`` so float64
stays float64.  Everything is seeded.
"""

import argparse
import os
import platform
import sys
import warnings

os.environ["JAX_ENABLE_X64"] = "1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import goldenio  # the shared golden format, next to this script
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


class Golden:
    def __init__(self):
        self.cases, self.arrays = [], {}

    def arg(self, cid, name, value):
        if value is None:
            return {"none": True}
        if isinstance(value, np.ndarray) and value.dtype == object:
            return {"object_array": value.tolist()}
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return {"bytes_list": [v.decode("ascii") for v in value]}
        if isinstance(value, np.ndarray):
            key = f"{cid}/{name}"
            self.arrays[key] = value
            return {"array": key}
        if isinstance(value, list):
            return {"list": value}
        return {"scalar": value}


# ---- scikit-learn ------------------------------------------------------------------------------------------


def sklearn_cases():
    rng = np.random.default_rng(20261201)

    def proba(n, c, dtype=np.float64):
        return rng.dirichlet(np.ones(c), n).astype(dtype)

    cases = []

    def add(cid, **args):
        cases.append((cid, args))

    for dt in (np.float64, np.float32, np.float16):
        tag = np.dtype(dt).name
        p = proba(12, 4, dt)
        y = rng.integers(0, 4, 12)
        y[:4] = [0, 1, 2, 3]
        add(f"multiclass_{tag}", y_true=y, y_proba=p)
        add(f"multiclass_sum_{tag}", y_true=y, y_proba=p, normalize=False)
        add(f"multiclass_weights_{tag}", y_true=y, y_proba=p, sample_weight=rng.random(12))
        add(f"multiclass_weights_sum_{tag}", y_true=y, y_proba=p, sample_weight=rng.random(12), normalize=False)
        pb = rng.random(10).astype(dt)
        yb = rng.integers(0, 2, 10)
        yb[:2] = [0, 1]
        add(f"binary_1d_{tag}", y_true=yb, y_proba=pb)
        add(f"binary_column_{tag}", y_true=yb, y_proba=pb[:, None])
        add(f"binary_two_columns_{tag}", y_true=yb, y_proba=np.stack([1 - pb, pb], axis=1))
        # clipped at eps of the dtype: exact 0 and 1 probabilities
        pc = np.array([[1, 0], [0, 1], [0.5, 0.5], [1, 0]], dt)
        add(f"clip_eps_{tag}", y_true=np.array([1, 0, 1, 0]), y_proba=pc)
        add(f"not_normalised_warns_{tag}", y_true=y, y_proba=(p * 1.1).astype(dt) / np.float64(1.2))
    add(
        "strings",
        y_true=["spam", "ham", "ham", "spam"],
        y_proba=np.array([[0.1, 0.9], [0.9, 0.1], [0.8, 0.2], [0.35, 0.65]]),
    )
    add("strings_three", y_true=["b", "c", "a", "b", "c"], y_proba=proba(5, 3))
    add("strings_labels", y_true=["b", "b", "c"], y_proba=proba(3, 3), labels=["a", "b", "c"])
    add("labels_unsorted_warns", y_true=[2, 1, 2], y_proba=proba(3, 3), labels=[2, 0, 1])
    add("labels_superset", y_true=np.array([1, 1, 3]), y_proba=proba(3, 4), labels=np.array([0, 1, 2, 3]))
    add("labels_binary_one_class_present", y_true=[1, 1, 1], y_proba=np.array([0.2, 0.9, 0.6]), labels=[0, 1])
    add("negative_int_labels", y_true=np.array([-5, 7, 100, -5, 7]), y_proba=proba(5, 3))
    add("float_integral_labels", y_true=np.array([0.0, 2.0, 1.0, 2.0]), y_proba=proba(4, 3))
    add("bool_labels", y_true=np.array([True, False, True]), y_proba=np.array([0.8, 0.3, 0.6]))
    add(
        "multilabel_indicator",
        y_true=np.array([[0, 1], [1, 0], [1, 1]]),
        y_proba=np.array([[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]]),
    )
    add("python_lists", y_true=[0, 1, 2], y_proba=[[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    add("int_proba_to_float64", y_true=[0, 1, 1], y_proba=np.array([[1, 0], [0, 1], [1, 0]]))
    add("weights_list_ints", y_true=[0, 1, 1], y_proba=np.array([0.3, 0.6, 0.2]), sample_weight=[1, 2, 0])
    add("y_pred_deprecated", y_true=[0, 1, 1], y_pred=np.array([0.3, 0.6, 0.2]))
    # errors
    p3 = np.array([[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
    add("err_normalize_int", y_true=[1, 0, 1], y_proba=p3, normalize=1)
    add("err_y_true_string", y_true="abc", y_proba=p3)
    add("err_sample_weight_scalar", y_true=[1, 0, 1], y_proba=p3, sample_weight=2.0)
    add("err_nan", y_true=[1, 0, 1], y_proba=np.array([np.nan, 0.5, 0.5]))
    add("err_inf", y_true=[1, 0, 1], y_proba=np.array([np.inf, 0.5, 0.5]))
    add("err_nan_float32", y_true=[1, 0, 1], y_proba=np.array([[np.nan, 0.5], [0.5, 0.5], [0.5, 0.5]], np.float32))
    add("err_dim3", y_true=[1, 0, 1], y_proba=np.full((3, 1, 2), 0.5))
    add("err_scalar", y_true=[1, 0, 1], y_proba=np.array(0.5))
    add("err_empty", y_true=[], y_proba=np.zeros(0))
    add("err_no_columns", y_true=[1, 0, 1], y_proba=np.zeros((3, 0)))
    add("err_strings_proba", y_true=[1, 0, 1], y_proba=["a", "b", "c"])
    add("err_above_one", y_true=[1, 0, 1], y_proba=[1.5, 0.5, 0.5])
    add("err_below_zero", y_true=[1, 0, 1], y_proba=[-0.5, 0.5, 0.5])
    add("err_length", y_true=[1, 0], y_proba=p3)
    add("err_weights_length", y_true=[1, 0, 1], y_proba=p3, sample_weight=[1, 2])
    add("err_weights_2d", y_true=[1, 0, 1], y_proba=p3, sample_weight=np.ones((3, 2)))
    add("err_weights_zero", y_true=[1, 0, 1], y_proba=p3, sample_weight=[0, 0, 0])
    add("err_weights_nan", y_true=[1, 0, 1], y_proba=p3, sample_weight=np.array([np.nan, 0, 0]))
    add("err_weights_sum_zero", y_true=[1, 0, 1], y_proba=p3, sample_weight=[1, -1, 0])
    add("err_one_label", y_true=[1, 1, 1], y_proba=p3)
    add("err_one_label_given", y_true=[1, 1, 1], y_proba=p3, labels=[1])
    add("err_classes_mismatch", y_true=[1, 0, 2], y_proba=p3)
    add("err_labels_classes_mismatch", y_true=[1, 0, 2], y_proba=p3, labels=[0, 1, 2])
    add("err_undeclared_label", y_true=[1, 0, 5], y_proba=p3, labels=[0, 1])
    add("err_continuous", y_true=[0.5, 0, 1], y_proba=p3)
    add("err_nan_label", y_true=np.array([np.nan, 0, 1]), y_proba=p3)
    add("err_multioutput", y_true=[[0, 1], [1, 0], [1, 2]], y_proba=p3)
    add("err_column_list", y_true=[[0], [1], [1]], y_proba=p3)
    add("err_object_labels", y_true=np.array([0, 1, 1], dtype=object), y_proba=p3)
    add("err_bytes_labels", y_true=[b"a", b"b", b"a"], y_proba=p3)
    add("err_y_pred_and_y_proba", y_true=[1, 0, 1], y_proba=p3, y_pred=p3)
    add("err_none_proba", y_true=[1, 0, 1], y_proba=None)
    return cases


def generate_sklearn():
    import sklearn
    from sklearn.metrics import log_loss

    g = Golden()
    for cid, args in sklearn_cases():
        specs = {k: g.arg(cid, k, v) for k, v in args.items()}
        call = {k: goldenio.value_of(s, g.arrays) for k, s in specs.items()}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = {"value": float(log_loss(**call))}
            except Exception as exc:  # noqa: BLE001 - the error class and message are the golden data
                result = {"error": type(exc).__name__, "message": str(exc)}
        result["warnings"] = [
            [w.category.__name__, str(w.message)] for w in caught if not issubclass(w.category, RuntimeWarning)
        ]
        g.cases.append({"id": cid, "args": specs, "result": result})
    versions = {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "python": platform.python_version()}
    path = goldenio.write(os.path.join(HERE, "sklearn.jsonl"), {"versions": versions, "cases": g.cases}, g.arrays)
    print(f"wrote {path} ({len(g.cases)} cases)")


# ---- optax -------------------------------------------------------------------------------------------------


def optax_cases():
    rng = np.random.default_rng(20261202)
    cases = []

    def add(cid, name, args, **kwargs):
        cases.append((cid, name, args, kwargs))

    for dt in (np.float32, np.float64):
        tag = np.dtype(dt).name
        x = (rng.normal(size=(6, 5)) * 3).astype(dt)
        t = rng.dirichlet(np.ones(5), 6).astype(dt)
        y = rng.integers(0, 5, 6)
        w = rng.random((6, 5)) > 0.3
        w[1] = False
        x3 = rng.normal(size=(2, 3, 4)).astype(dt)
        t3 = rng.random((2, 3, 4)).astype(dt)
        xi = x.copy()
        xi[0, 1] = -np.inf
        xi[2] = -np.inf
        ti = t.copy()
        ti[0] = [1, 0, 0, 0, 0]
        xc = np.array([[20, 0, 0], [-40, 0, 0], [80, -80, 0]], dt)  # confident rows
        tc = np.eye(3, dtype=dt)
        for name in ("softmax_cross_entropy", "poly_loss_cross_entropy"):
            short = "sce" if name.startswith("softmax") else "poly"
            add(f"{short}_{tag}", name, (x, t))
            add(f"{short}_where_{tag}", name, (x, t), where=w)
            add(f"{short}_where_rows_{tag}", name, (x, t), where=w[:, 0])
            add(f"{short}_axis_tuple_{tag}", name, (x3, t3), axis=(0, 2))
            add(f"{short}_axis_none_{tag}", name, (x3, t3), axis=None)
            add(f"{short}_axis0_{tag}", name, (x3, t3), axis=0)
            add(f"{short}_neg_inf_{tag}", name, (xi, ti))
            add(f"{short}_confident_{tag}", name, (xc, tc))
            add(f"{short}_broadcast_labels_{tag}", name, (x, t[0]))
        add(f"poly_eps_neg_{tag}", "poly_loss_cross_entropy", (x, t), epsilon=-1.0, where=w)
        add(f"safe_{tag}", "safe_softmax_cross_entropy", (x, t))
        add(f"safe_neg_inf_{tag}", "safe_softmax_cross_entropy", (xi, ti))
        add(f"int_{tag}", "softmax_cross_entropy_with_integer_labels", (x, y))
        add(f"int_int32_{tag}", "softmax_cross_entropy_with_integer_labels", (x, y.astype(np.int32)))
        add(f"int_where_{tag}", "softmax_cross_entropy_with_integer_labels", (x, y), where=w)
        add(
            f"int_axis_tuple_{tag}",
            "softmax_cross_entropy_with_integer_labels",
            (x3, rng.integers(0, 8, 3)),
            axis=(0, 2),
        )
        add(f"int_axis1_{tag}", "softmax_cross_entropy_with_integer_labels", (x3, rng.integers(0, 3, (2, 4))), axis=1)
        add(f"int_confident_{tag}", "softmax_cross_entropy_with_integer_labels", (xc, np.arange(3)))
        add(f"int_neg_inf_{tag}", "softmax_cross_entropy_with_integer_labels", (xi, np.array([0, 2, 0, 1, 2, 3])))
        xs = np.array([-np.inf, -30, -3, 0, 2, 40, np.inf], dt)
        zs = np.array([0, 1, 0.3, 1, 0, 1, 1], dt)
        add(f"sbce_{tag}", "sigmoid_binary_cross_entropy", (x, t))
        add(f"sbce_edges_{tag}", "sigmoid_binary_cross_entropy", (xs, zs))
        add(f"sbce_broadcast_{tag}", "sigmoid_binary_cross_entropy", (x, t[0]))
        add(f"focal_{tag}", "sigmoid_focal_loss", (x, t))
        add(f"focal_alpha_{tag}", "sigmoid_focal_loss", (x, t), alpha=0.25, gamma=1.5)
        add(f"focal_gamma_half_{tag}", "sigmoid_focal_loss", (xs[1:-1], zs[1:-1]), alpha=0.25, gamma=0.5)
        add(f"focal_gamma0_{tag}", "sigmoid_focal_loss", (x, (t > 0.2).astype(dt)), gamma=0.0)
        add(f"focal_edges_{tag}", "sigmoid_focal_loss", (xs, zs))
    add("err_int_float_labels", "softmax_cross_entropy_with_integer_labels", (np.ones((2, 3)), np.array([0.0, 1.0])))
    add("err_int_logits", "softmax_cross_entropy", (np.array([[1, 2, 3]]), np.ones((1, 3))))
    add("err_int_logits_sigmoid", "sigmoid_binary_cross_entropy", (np.array([1, 2]), np.array([1.0, 0.0])))
    add("err_poly_int_labels", "poly_loss_cross_entropy", (np.ones((2, 3)), np.array([[1, 0, 0], [0, 1, 0]])))
    add("err_int_axis_type", "softmax_cross_entropy_with_integer_labels", (np.ones((2, 3)), np.array([0, 1])), axis=[1])
    return cases


def generate_optax():
    import jax
    import jax.numpy as jnp
    import optax
    from optax import losses

    g = Golden()
    for cid, name, args, kwargs in optax_cases():
        fn = getattr(losses, name)
        arg_specs = {k: g.arg(cid, k, v) for k, v in zip(("logits", "labels"), args, strict=False)}
        kw_specs = {k: g.arg(cid, k, v) for k, v in kwargs.items()}
        jkw = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        labels = jnp.asarray(args[1])
        case = {"id": cid, "name": name, "args": arg_specs, "kwargs": kw_specs, "dtype": np.asarray(args[0]).dtype.name}
        try:
            value = fn(jnp.asarray(args[0]), labels, **jkw)
            grad = jax.grad(lambda x: fn(x, labels, **jkw).sum())(jnp.asarray(args[0]))  # noqa: B023
        except Exception as exc:  # noqa: BLE001 - the error class is the golden data
            case["error"] = type(exc).__name__
            case["message"] = str(exc)
        else:
            value, grad = np.asarray(value), np.asarray(grad)
            assert value.dtype == np.asarray(args[0]).dtype, (cid, value.dtype)
            g.arrays[f"{cid}/value"] = value
            g.arrays[f"{cid}/grad"] = grad
            case["outputs"] = {"value": f"{cid}/value", "grad": f"{cid}/grad"}
        g.cases.append(case)
    versions = {
        "optax": optax.__version__,
        "jax": jax.__version__,
        "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else None,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "JAX_ENABLE_X64": os.environ["JAX_ENABLE_X64"],
        "platform": jax.default_backend(),
    }
    path = goldenio.write(os.path.join(HERE, "optax.jsonl"), {"versions": versions, "cases": g.cases}, g.arrays)
    print(f"wrote {path} ({len(g.cases)} cases)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--framework", choices=("sklearn", "optax", "all"), default="all")
    which = parser.parse_args().framework
    if which in ("sklearn", "all"):
        generate_sklearn()
    if which in ("optax", "all"):
        generate_optax()
    sys.exit(0)
