"""Generate golden values for float16 and bfloat16 inputs from the real frameworks.

Run from the repository root in an environment with keras + jax, torch (CPU) and, optionally, tensorflow
(none of them is needed by the package)::

    python tests/golden/generate_half.py

It writes ``half.jsonl`` next to this script (the shared golden format of ``goldenio.py``; bfloat16 arrays
are stored by value with dtype "bfloat16"): the document ``{"versions", "missing", "cases"}`` and every input
and output array.

Each case is ``{"id", "framework" ("keras" | "torch" | "tf"), "kind" ("function" | "class"), "name",
"kwargs", "half": "float16" | "bfloat16", "inputs": {argument: key}, "value", "value_dtype", "grad",
"grad_dtype", "value64", "grad64", "error"}``.  ``value``/``grad`` are what the framework returns for the
half inputs (``grad`` = d sum(value) / d prediction: ``jax.grad`` of the Keras code, ``input.grad`` after
``loss.sum().backward()`` in torch, ``tf.GradientTape`` in TF), in the dtypes it returns them in.
``value64``/``grad64`` are the same framework's float64 results on the SAME values (the half inputs
converted exactly to float64), so a test can tell which of two answers is closer to the exact one.
``error`` is the framework's exception text where it refuses the call (then ``value`` is None).

Keras runs with ``KERAS_BACKEND=jax`` in JAX's default 32-bit mode (what a Keras/JAX user gets); the
float64 references switch ``jax_enable_x64`` on afterwards.  Class cases take float32 inputs and a
``dtype`` of "float16", "bfloat16", "mixed_float16" or "mixed_bfloat16": Keras converts the inputs to the
policy's compute dtype, so the "same values" for ``value64`` are the inputs rounded to that dtype.
The ``keras_dtype_arg`` cases are Keras' own ``test_dtype_arg`` tests of the five cross-entropy classes.

Each framework runs in its own subprocess (this script calling itself with ``--worker``); a framework that
is not installed is listed under ``"missing"``.  Data come from fixed-seed ``numpy.random.default_rng``
streams, so regenerating with the same framework versions gives identical files.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import goldenio  # the shared golden format, next to this script
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
HALVES = ("float16", "bfloat16")
FRAMEWORKS = ("keras", "torch", "tf")
N_CLASSES = 7


# ---- inputs: one matrix of logits whose rows cover the situations the accuracy bars name --------------
def half_dtype(name):
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def softmax64(x):
    x = np.asarray(x, np.float64)
    m = np.max(np.where(np.isnan(x), -np.inf, x), axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=-1, keepdims=True)


def logit_rows(half):
    """(rows, labels): 4 ordinary rows, 2 confident, 2 at the float16 extremes (+-6e4), 2 with -inf masks
    and one with a NaN; every row is exactly representable in ``half``."""
    rng = np.random.default_rng(20261201)
    normal = rng.standard_normal((4, N_CLASSES)) * 3.0
    confident = np.full((2, N_CLASSES), -14.0)
    confident[0, 0] = 6.0
    confident[1, 3] = 9.0
    extreme = rng.standard_normal((2, N_CLASSES)) * 2.0
    extreme[0, [1, 4]] = [6e4, -6e4]
    extreme[1, [2, 5, 6]] = [-6e4, -6e4, 6e4]
    masked = rng.standard_normal((2, N_CLASSES))
    masked[0, [1, 2]] = -np.inf
    masked[1, [0, 3, 4, 5]] = -np.inf
    nan = rng.standard_normal((1, N_CLASSES))
    nan[0, 3] = np.nan
    x = np.concatenate([normal, confident, extreme, masked, nan]).astype(half_dtype(half))
    labels = np.array([0, 3, 6, 2, 0, 3, 1, 6, 0, 6, 1], dtype=np.int64)  # never a masked class
    return x, labels


def inputs_for(half):
    """Every input array of the half cases, already rounded to ``half``."""
    h = half_dtype(half)
    x, labels = logit_rows(half)
    rng = np.random.default_rng(7)
    n = x.shape[0]
    soft = rng.random((n, N_CLASSES))
    soft = (soft / soft.sum(axis=1, keepdims=True)).astype(h)
    onehot = np.eye(N_CLASSES)[labels].astype(h)
    probs = softmax64(rng.standard_normal((n, N_CLASSES)) * 2.0).astype(h)  # rows sum to ~1 after rounding
    binary = rng.integers(0, 2, size=(n, N_CLASSES)).astype(h)
    logp = np.log(softmax64(rng.standard_normal((n, N_CLASSES)) * 2.0)).astype(h)  # log-probabilities
    return {
        "logits": x,
        "labels": labels,
        "soft": soft,
        "onehot": onehot,
        "probs": probs,
        "binary": binary,
        "logp": logp,
        "class_weight": np.linspace(0.5, 2.0, N_CLASSES).astype(h),
        "pos_weight": np.linspace(0.5, 3.0, N_CLASSES).astype(h),
    }


def class_inputs():
    """float32 inputs for the Keras class cases (not representable in half: Keras rounds them)."""
    rng = np.random.default_rng(11)
    x, labels = logit_rows("float32")
    x = x + np.where(np.isfinite(x) & (np.abs(x) < 100), rng.standard_normal(x.shape) * 1e-3, 0).astype(np.float32)
    n = x.shape[0]
    soft = rng.random((n, N_CLASSES))
    return {
        "logits": x,
        "labels": labels,
        "soft": (soft / soft.sum(axis=1, keepdims=True)).astype(np.float32),
        "onehot": np.eye(N_CLASSES, dtype=np.float32)[labels],
        "probs": softmax64(rng.standard_normal((n, N_CLASSES)) * 2.0).astype(np.float32),
        "binary": rng.integers(0, 2, size=(n, N_CLASSES)).astype(np.float32),
    }


# Keras' own test_dtype_arg cases of the five cross-entropy classes (keras/src/losses/losses_test.py)
KERAS_DTYPE_ARG = {
    "BinaryCrossentropy": (
        {},
        np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype="float32"),
        np.array([[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]], dtype="float32"),
    ),
    "CategoricalCrossentropy": (
        {},
        np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype="int64"),
        np.eye(3, dtype="float32"),
    ),
    "SparseCategoricalCrossentropy": ({}, np.array([[0], [1], [2]], dtype="int64"), np.eye(3, dtype="float32")),
    "BinaryFocalCrossentropy": (
        {},
        np.asarray([1, 0, 1, 0]).reshape([2, 2]),
        np.asarray([0.9, 0.8, 0.7, 0.2], dtype=np.float32).reshape([2, 2]),
    ),
    "CategoricalFocalCrossentropy": ({"from_logits": True}, np.array([[1, 0, 0]]), np.array([[4.9, -0.5, 2.05]])),
}
KERAS_FUNCTIONS = [  # (name, kwargs, y_true input, y_pred input)
    ("categorical_crossentropy", {"from_logits": True}, "soft", "logits"),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, "onehot", "logits"),
    ("categorical_crossentropy", {}, "onehot", "probs"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "labels", "logits"),
    ("sparse_categorical_crossentropy", {}, "labels", "probs"),
    ("binary_crossentropy", {"from_logits": True}, "binary", "logits"),
    ("binary_crossentropy", {}, "binary", "probs"),
    ("categorical_focal_crossentropy", {}, "onehot", "probs"),
    ("categorical_focal_crossentropy", {"from_logits": True}, "onehot", "logits"),
    ("binary_focal_crossentropy", {}, "binary", "probs"),
    ("binary_focal_crossentropy", {"from_logits": True}, "binary", "logits"),
]
KERAS_CLASSES = [  # (class, kwargs, y_true input, y_pred input)
    ("CategoricalCrossentropy", {"from_logits": True}, "soft", "logits"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "labels", "logits"),
    ("BinaryCrossentropy", {}, "binary", "probs"),
    ("CategoricalFocalCrossentropy", {}, "onehot", "probs"),
    ("BinaryFocalCrossentropy", {"from_logits": True}, "binary", "logits"),
]
POLICIES = {"float16": "float16", "bfloat16": "bfloat16", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
TORCH_CASES = [  # (function, kwargs, {argument: input}, prediction argument)
    ("cross_entropy", {"reduction": "none"}, {"input": "logits", "target": "labels"}),
    ("cross_entropy", {"reduction": "mean"}, {"input": "logits", "target": "labels"}),
    ("cross_entropy", {"reduction": "none", "label_smoothing": 0.1}, {"input": "logits", "target": "labels"}),
    ("cross_entropy", {"reduction": "mean", "ignore_index": 3}, {"input": "logits", "target": "labels"}),
    ("cross_entropy", {"reduction": "none"}, {"input": "logits", "target": "labels", "weight": "class_weight"}),
    ("cross_entropy", {"reduction": "mean"}, {"input": "logits", "target": "labels", "weight": "class_weight"}),
    ("cross_entropy", {"reduction": "none"}, {"input": "logits", "target": "labels", "weight": "class_weight:f32"}),
    ("cross_entropy", {"reduction": "none"}, {"input": "logits", "target": "soft"}),
    ("cross_entropy", {"reduction": "none"}, {"input": "logits", "target": "soft:f32"}),
    ("nll_loss", {"reduction": "none"}, {"input": "logp", "target": "labels"}),
    ("nll_loss", {"reduction": "mean"}, {"input": "logp", "target": "labels", "weight": "class_weight"}),
    ("nll_loss", {"reduction": "none"}, {"input": "logp", "target": "labels", "weight": "class_weight:f32"}),
    ("binary_cross_entropy", {"reduction": "none"}, {"input": "probs", "target": "binary"}),
    ("binary_cross_entropy", {"reduction": "mean"}, {"input": "probs", "target": "binary"}),
    ("binary_cross_entropy", {"reduction": "none"}, {"input": "probs", "target": "binary", "weight": "class_weight"}),
    ("binary_cross_entropy", {"reduction": "none"}, {"input": "probs", "target": "binary:f32"}),
    ("binary_cross_entropy_with_logits", {"reduction": "none"}, {"input": "logits", "target": "binary"}),
    ("binary_cross_entropy_with_logits", {"reduction": "mean"}, {"input": "logits", "target": "binary"}),
    (
        "binary_cross_entropy_with_logits",
        {"reduction": "none"},
        {"input": "logits", "target": "binary", "pos_weight": "pos_weight"},
    ),
    ("binary_cross_entropy_with_logits", {"reduction": "none"}, {"input": "logits", "target": "binary:f32"}),
    (
        "binary_cross_entropy_with_logits",
        {"reduction": "none"},
        {"input": "logits", "target": "binary", "pos_weight": "pos_weight:f32"},
    ),
]
TF_CASES = [  # (function, kwargs, {argument: input})
    ("softmax_cross_entropy_with_logits", {}, {"labels": "soft", "logits": "logits"}),
    ("sparse_softmax_cross_entropy_with_logits", {}, {"labels": "labels", "logits": "logits"}),
    ("sigmoid_cross_entropy_with_logits", {}, {"labels": "binary", "logits": "logits"}),
    ("weighted_cross_entropy_with_logits", {"pos_weight": 2.0}, {"labels": "binary", "logits": "logits"}),
]
PRED_ARG = {"keras": "y_pred", "torch": "input", "tf": "logits"}


def input_array(source, half):
    """An input named like "soft" (rounded to ``half``), "soft:f32" (those values as float32) or
    "class:soft" (the float32 class-case inputs)."""
    if source.startswith("class:"):
        return class_inputs()[source[6:]]
    name, _, as_f32 = source.partition(":")
    arr = inputs_for(half)[name]
    return arr.astype(np.float32) if as_f32 else arr


def case_specs():
    """Every case, as plain data both the parent and the workers rebuild identically."""
    specs = []
    for half in HALVES:
        for name, kwargs, yt, yp in KERAS_FUNCTIONS:
            tag = "_".join(f"{k}{v}" for k, v in kwargs.items()) or "default"
            specs.append(
                {
                    "id": f"keras_fn_{name}_{tag}_{yt}_{half}",
                    "framework": "keras",
                    "kind": "function",
                    "name": name,
                    "kwargs": kwargs,
                    "half": half,
                    "args": {"y_true": yt, "y_pred": yp},
                }
            )
        for fn, kwargs, args in TORCH_CASES:
            tag = "_".join(f"{k}{v}" for k, v in kwargs.items())
            argtag = "_".join(f"{k}-{v.replace(':', '')}" for k, v in args.items() if k != "input")
            specs.append(
                {
                    "id": f"torch_{fn}_{tag}_{argtag}_{half}",
                    "framework": "torch",
                    "kind": "function",
                    "name": fn,
                    "kwargs": kwargs,
                    "half": half,
                    "args": args,
                }
            )
        for fn, kwargs, args in TF_CASES:
            specs.append(
                {
                    "id": f"tf_{fn}_{half}",
                    "framework": "tf",
                    "kind": "function",
                    "name": fn,
                    "kwargs": kwargs,
                    "half": half,
                    "args": args,
                }
            )
    for policy, half in POLICIES.items():
        for cls, kwargs, yt, yp in KERAS_CLASSES:
            for reduction in ("sum_over_batch_size", "none"):
                kw = dict(kwargs, dtype=policy, reduction=reduction)
                specs.append(
                    {
                        "id": f"keras_cls_{cls}_{policy}_{reduction}",
                        "framework": "keras",
                        "kind": "class",
                        "name": cls,
                        "kwargs": kw,
                        "half": half,
                        "args": {"y_true": f"class:{yt}", "y_pred": f"class:{yp}"},
                    }
                )
    for cls, (kwargs, _yt, _yp) in KERAS_DTYPE_ARG.items():
        specs.append(
            {
                "id": f"keras_dtype_arg_{cls}",
                "framework": "keras",
                "kind": "class",
                "name": cls,
                "kwargs": dict(kwargs, dtype="bfloat16"),
                "half": "bfloat16",
                "args": {"y_true": f"dtype_arg:{cls}:y_true", "y_pred": f"dtype_arg:{cls}:y_pred"},
            }
        )
    return specs


def spec_inputs(spec):
    out = {}
    for arg, source in spec["args"].items():
        if source.startswith("dtype_arg:"):
            _, cls, which = source.split(":")
            _, yt, yp = KERAS_DTYPE_ARG[cls]
            out[arg] = yt if which == "y_true" else yp
        else:
            out[arg] = input_array(source, spec["half"])
    return out


def is_float(a):
    """float16/32/64 or bfloat16 (whose NumPy kind is "V", not "f")."""
    return a.dtype.kind == "f" or a.dtype.name == "bfloat16"


def to64(a, compute=None):
    """``a`` as float64 after rounding to ``compute`` (Keras classes convert their inputs first); integer
    arrays are kept as they are unless a compute dtype converts them."""
    a = np.asarray(a)
    if compute is not None:
        a = a.astype(half_dtype(compute))
    return a.astype(np.float64) if is_float(a) or compute is not None else a


# ---- workers: one framework each, in a subprocess ----------------------------------------------------
def _result(value=None, grad=None, value64=None, grad64=None, error=None):
    return {"value": value, "grad": grad, "value64": value64, "grad64": grad64, "error": error}


def run_keras(specs):
    import jax
    import jax.numpy as jnp
    import keras

    def call(spec, args, dtype_override=None):
        kwargs = dict(spec["kwargs"])
        yt = args["y_true"]
        if spec["kind"] == "class":
            if dtype_override:
                kwargs["dtype"] = dtype_override
            obj = getattr(keras.losses, spec["name"])(**kwargs)

            def f(p):
                return obj(yt, p)
        else:
            fn = getattr(keras.losses, spec["name"])

            def f(p):
                return fn(yt, p, **kwargs)

        yp = jnp.asarray(args["y_pred"])
        value = np.asarray(f(yp))
        grad = np.asarray(jax.grad(lambda p: jnp.sum(f(p)))(yp)) if jnp.issubdtype(yp.dtype, jnp.floating) else None
        return value, grad

    out = {}
    for spec in specs:  # JAX's default 32-bit mode first: what a Keras/JAX user gets
        try:
            value, grad = call(spec, spec_inputs(spec))
            out[spec["id"]] = _result(value, grad)
        except Exception as exc:  # noqa: BLE001 -- recorded: the tests refuse the same calls
            out[spec["id"]] = _result(error=f"{type(exc).__name__}: {exc}")
    jax.config.update("jax_enable_x64", True)
    for spec in specs:  # the float64 reference on the same values
        args = spec_inputs(spec)
        compute = POLICIES.get(spec["kwargs"].get("dtype")) if spec["kind"] == "class" else None
        args = {k: to64(v, compute) for k, v in args.items()}
        if spec["kind"] == "function":
            args["y_pred"] = args["y_pred"].astype(np.float64)
        value64, grad64 = call(spec, args, "float64" if spec["kind"] == "class" else None)
        out[spec["id"]].update(value64=value64, grad64=grad64)
    return out


def _record_each(specs, call, first_line=False):
    """{id: result} for each spec: ``call(spec, args, False)`` in the spec's dtypes (or the framework's refusal,
    only its first line with ``first_line``) and ``call(spec, args, True)``, its float64 reference."""
    out = {}
    for spec in specs:
        args = spec_inputs(spec)
        try:
            value, grad = call(spec, args, False)
            out[spec["id"]] = _result(value, grad)
        except Exception as exc:  # noqa: BLE001 -- the framework's refusal is recorded
            error = f"{type(exc).__name__}: {exc}"
            out[spec["id"]] = _result(error=error.splitlines()[0] if first_line else error)
        out[spec["id"]]["value64"], out[spec["id"]]["grad64"] = call(spec, args, True)
    return out


def run_torch(specs):
    import torch
    import torch.nn.functional as F

    def to_torch(a):
        a = np.asarray(a)
        if a.dtype.name == "bfloat16":
            return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
        return torch.from_numpy(a.copy())

    def to_numpy(t):
        t = t.detach()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np.uint16).view(half_dtype("bfloat16"))
        return t.numpy()

    def call(spec, args, double):
        ts = {k: to_torch(v) for k, v in args.items()}
        if double:
            ts = {k: (v.double() if v.is_floating_point() else v) for k, v in ts.items()}
        ts["input"].requires_grad_(True)
        value = getattr(F, spec["name"])(**ts, **spec["kwargs"])
        value.sum().backward()
        return to_numpy(value), to_numpy(ts["input"].grad)

    return _record_each(specs, call)


def run_tf(specs):
    import tensorflow as tf

    def call(spec, args, double):
        ts = {k: tf.constant(v.astype(np.float64) if double and is_float(v) else v) for k, v in args.items()}
        with tf.GradientTape() as tape:
            tape.watch(ts["logits"])
            value = getattr(tf.nn, spec["name"])(**ts, **spec["kwargs"])
            total = tf.reduce_sum(value)
        return value.numpy(), tape.gradient(total, ts["logits"]).numpy()

    return _record_each(specs, call, first_line=True)


def versions(framework):
    import importlib.metadata as md

    names = {"keras": ["keras", "jax", "jaxlib", "ml_dtypes"], "torch": ["torch"], "tf": ["tensorflow"]}[framework]
    found = {}
    for n in names + ["numpy"]:
        try:
            found[n] = md.version(n)
        except md.PackageNotFoundError:
            found[n] = md.version("tensorflow-cpu") if n == "tensorflow" else None
    return found


def worker(framework, path):
    specs = [s for s in case_specs() if s["framework"] == framework]
    results = {"keras": run_keras, "torch": run_torch, "tf": run_tf}[framework](specs)
    arrays = {}
    for cid, res in results.items():
        for field in ("value", "grad", "value64", "grad64"):
            res[f"{field}_dtype"] = None
            if res[field] is not None:
                arrays[f"{cid}/{field}"] = res[field]
                res[f"{field}_dtype"] = np.asarray(res[field]).dtype.name
                res[field] = f"{cid}/{field}"
    goldenio.write(path + ".jsonl", {"results": results, "versions": versions(framework)}, arrays)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=FRAMEWORKS, action="append", help="run only these frameworks")
    opts = parser.parse_args()
    if opts.worker:
        worker(opts.worker, opts.out)
        return
    specs = case_specs()
    arrays, all_versions, missing, results = {}, {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for fw in opts.only or FRAMEWORKS:
            path = os.path.join(tmp, fw)
            env = dict(
                os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES=""
            )
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", fw, "--out", path],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
                missing[fw] = last
                print(f"{fw}: not run ({last})", file=sys.stderr)
                continue
            got, got_arrays = goldenio.load(path + ".jsonl")
            results.update(got["results"])
            all_versions.update(got["versions"])
            arrays.update(got_arrays)
    cases = []
    for spec in specs:
        if spec["id"] not in results:
            continue
        case = {k: spec[k] for k in ("id", "framework", "kind", "name", "kwargs", "half")}
        inputs = spec_inputs(spec)
        case["inputs"] = {}
        for arg, arr in inputs.items():
            key = f"{spec['id']}/in_{arg}"
            arrays[key] = arr
            case["inputs"][arg] = key
        case.update(results[spec["id"]])
        cases.append(case)
    goldenio.write("half", {"versions": all_versions, "missing": missing, "cases": cases}, arrays)
    print(f"{len(cases)} cases, {len(arrays)} arrays; missing: {missing or 'none'}")


if __name__ == "__main__":
    main()
