#!/usr/bin/env python3
"""Generate golden reference values (loss values and gradients) from real
PyTorch and real TensorFlow, for testing the NumPy reimplementation.

Run from the repository root with an interpreter that has the framework
installed (torch 2.13.0 CPU / tensorflow-cpu 2.21 with Keras 3):

    python tests/golden/generate_torch_tf.py --framework torch
    python tests/golden/generate_torch_tf.py --framework tf
    python tests/golden/generate_torch_tf.py --framework all

Outputs (next to this script):

    torch.jsonl, tf.jsonl (the shared golden format of goldenio.py: the
    document below and every array, by name)

Document layout::

    {"versions": {...},
     "cases": [{"id", "name", "kind": "function"|"class", "qualname",
                "kwargs": {...},          # array kwargs -> {"array": name}
                "inputs": {...},          # argument name -> array name
                "outputs": {"value": key, "grad": key, ...},
                "dtype": "float32"|"float64", "tags": [...],
                "grad_error": {"error_type", "message"}}],
     "error_cases": [...]}

"grad_error" is present only when the forward works but the backward raises;
such a case has no "grad" output.  "outputs" may hold extra keys (the seed
case also stores "closed_form_grad").  Error cases look like::

    {"id", "name", "kind", "qualname", "kwargs", "inputs", "error_type",
     "message"}

Torch inputs are ``{"input", "target"}``; ``grad`` is ``input.grad`` after
``loss.sum().backward()`` (whatever the reduction).  TF inputs are
``{"labels", "logits"}``; ``grad`` is the GradientTape gradient of
``tf.reduce_sum(value)`` w.r.t. ``logits``.  Keras cases (names prefixed
``keras_tf_backend.``) use ``{"y_true", "y_pred"}`` and differentiate w.r.t.
``y_pred``.

Everything is seeded; the golden files are plain text with exact float reprs
and identical arrays are stored once, so regeneration is byte-for-byte
deterministic for a given framework version.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import platform
import sys
from pathlib import Path

import goldenio  # the shared golden format, next to this script
import numpy as np

HERE = Path(__file__).resolve().parent
DTYPES = ("float32", "float64")
REDUCTIONS = ("none", "sum", "mean")
INF = np.inf
NAN = np.nan


# --------------------------------------------------------------------------
# Output container
# --------------------------------------------------------------------------


class GoldenSet:
    """Collects arrays (deduplicated by content) and case records."""

    def __init__(self, versions: dict):
        self.versions = versions
        self.arrays: dict[str, np.ndarray] = {}
        self._by_digest: dict[str, str] = {}
        self.cases: list[dict] = []
        self.error_cases: list[dict] = []
        self._ids: set[str] = set()

    def array(self, key: str, arr) -> str:
        arr = np.array(arr, order="C")  # keeps 0-d arrays 0-d
        digest = hashlib.sha1(f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes()).hexdigest()
        if digest in self._by_digest:
            return self._by_digest[digest]
        assert key not in self.arrays, key
        self.arrays[key] = arr
        self._by_digest[digest] = key
        return key

    def _encode_kwargs(self, case_id: str, kwargs: dict) -> dict:
        out = {}
        for name, value in kwargs.items():
            if isinstance(value, np.ndarray):
                out[name] = {"array": self.array(f"{case_id}.{name}", value)}
            else:
                out[name] = value
        return out

    def _new_id(self, case_id: str) -> None:
        assert case_id not in self._ids, f"duplicate case id {case_id}"
        self._ids.add(case_id)

    def add_case(self, case_id, name, kind, qualname, kwargs, inputs, outputs, dtype, tags=(), extra=None):
        self._new_id(case_id)
        self.cases.append(
            {
                "id": case_id,
                "name": name,
                "kind": kind,
                "qualname": qualname,
                "kwargs": self._encode_kwargs(case_id, kwargs),
                "inputs": {k: self.array(f"{case_id}.{k}", v) for k, v in inputs.items()},
                "outputs": {k: self.array(f"{case_id}.{k}", v) for k, v in outputs.items()},
                "dtype": dtype,
                "tags": list(tags),
                **(extra or {}),
            }
        )

    def add_error(self, case_id, name, kind, qualname, kwargs, inputs, exc):
        self._new_id(case_id)
        self.error_cases.append(
            {
                "id": case_id,
                "name": name,
                "kind": kind,
                "qualname": qualname,
                "kwargs": self._encode_kwargs(case_id, kwargs),
                "inputs": {k: self.array(f"{case_id}.{k}", v) for k, v in inputs.items()},
                "error_type": type(exc).__name__,
                "message": str(exc),
            }
        )

    def write(self, path: Path) -> None:
        doc = {"versions": self.versions, "cases": self.cases, "error_cases": self.error_cases}
        goldenio.write(path, doc, self.arrays)
        print(
            f"wrote {path.name} ({path.stat().st_size} bytes): "
            f"{len(self.cases)} cases, "
            f"{len(self.error_cases)} error cases, "
            f"{len(self.arrays)} arrays"
        )


def ftag(x: float) -> str:
    return f"{x:g}"


# --------------------------------------------------------------------------
# Shared input builders (pure NumPy, seeded)
# --------------------------------------------------------------------------

# (tag, input shape, class count); the class axis is 0 for 1-D, else 1.
TORCH_SHAPES = (
    ("C", (5,)),
    ("NC", (4, 5)),
    ("NCd", (3, 4, 3)),
    ("NCdd", (2, 4, 3, 2)),
)


def target_shape(shape):
    return () if len(shape) == 1 else (shape[0],) + tuple(shape[2:])


def n_classes(shape):
    return shape[0] if len(shape) == 1 else shape[1]


def index_targets(rng, shape, ignore_mode):
    """Class-index targets plus the ignore_index kwarg for ``ignore_mode``.

    none: no ignored entries, default ignore_index.
    default: ignore_index left at -100, some targets are -100.
    custom2: ignore_index=2 and some targets are 2.
    custom-1: ignore_index=-1 and some targets are -1.
    A scalar target (1-D input) in an ignore mode is therefore all-ignored.
    """
    c = n_classes(shape)
    tshape = target_shape(shape)
    t = rng.integers(0, c, size=tshape).astype(np.int64)
    kwargs = {}
    ignore_value = {"none": None, "default": -100, "custom2": 2, "custom-1": -1}[ignore_mode]
    if ignore_mode in ("custom2", "custom-1"):
        kwargs["ignore_index"] = ignore_value
    if ignore_value is not None:
        if t.ndim == 0:
            t = np.array(ignore_value, dtype=np.int64)
        else:
            flat = t.reshape(-1)
            if ignore_value == 2:
                flat[flat == 2] = 3  # keep ignored positions deterministic
            k = max(1, flat.size // 3)
            idx = rng.choice(flat.size, size=k, replace=False)
            flat[idx] = ignore_value
            t = flat.reshape(tshape)
    return t, kwargs


def prob_targets(rng, shape, kind, dtype):
    axis = 0 if len(shape) == 1 else 1
    c = n_classes(shape)
    if kind == "softmax":
        z = rng.normal(size=shape)
        t = np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)
    elif kind == "unnormalized":
        t = rng.uniform(0.0, 1.5, size=shape)  # rows sum to ~0.75*C, not 1
    elif kind == "onehot":
        idx = rng.integers(0, c, size=target_shape(shape))
        t = np.moveaxis(np.eye(c)[idx], -1, axis)
    else:
        raise ValueError(kind)
    return t.astype(dtype)


# Extreme logits for an (N, C) problem with given class-index targets.
EXTREME_KINDS = ("large", "masked", "target_neginf", "nan", "posinf", "all_neginf")


def extreme_logits(rng, kind, target, c):
    n = target.shape[0]
    x = rng.normal(size=(n, c))
    rows = np.arange(n)
    if kind == "large":
        x = rng.choice([-1e4, 1e4, 0.0, 3.0], size=(n, c))
        x[0, :] = 1e4  # a row of equal huge logits
        x[1, target[1]] = -1e4
    elif kind == "masked":  # -inf on non-target classes (masked classes)
        for i in rows:
            others = [j for j in range(c) if j != target[i]]
            x[i, rng.choice(others, size=1 + i % 2, replace=False)] = -INF
    elif kind == "target_neginf":
        x[0, target[0]] = -INF
        x[2, (target[2] + 1) % c] = -INF
    elif kind == "nan":
        x[0, (target[0] + 1) % c] = NAN  # NaN on a non-target class
        x[2, target[2]] = NAN  # NaN on the target class
    elif kind == "posinf":
        x[0, target[0]] = INF
        x[1, (target[1] + 1) % c] = INF
    elif kind == "all_neginf":
        x[1, :] = -INF
    else:
        raise ValueError(kind)
    return x


# ==========================================================================
# PyTorch
# ==========================================================================


def torch_versions():
    import torch

    return {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()}


def generate_torch(out_dir: Path) -> None:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    gs = GoldenSet(torch_versions())

    functions = {
        "cross_entropy": F.cross_entropy,
        "nll_loss": F.nll_loss,
        "binary_cross_entropy": F.binary_cross_entropy,
        "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    }
    classes = {
        "CrossEntropyLoss": torch.nn.CrossEntropyLoss,
        "NLLLoss": torch.nn.NLLLoss,
        "BCELoss": torch.nn.BCELoss,
        "BCEWithLogitsLoss": torch.nn.BCEWithLogitsLoss,
    }

    def to_torch_kwargs(kwargs):
        return {k: torch.from_numpy(v.copy()) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}

    def call(name, kind, x_np, t_np, kwargs):
        x = torch.tensor(x_np, requires_grad=True)
        t = torch.from_numpy(np.array(t_np, copy=True))
        kw = to_torch_kwargs(kwargs)
        if kind == "function":
            out = functions[name](x, t, **kw)
        else:
            out = classes[name](**kw)(x, t)
        try:
            out.sum().backward()
        except RuntimeError as exc:  # forward worked, backward did not
            return out.detach().numpy(), exc
        grad = x.grad if x.grad is not None else torch.zeros_like(x)
        return out.detach().numpy(), grad.numpy()

    def add(case_id, name, x, t, kwargs, dtype, kind="function", tags=()):
        value, grad = call(name, kind, x, t, kwargs)
        qual = f"torch.nn.functional.{name}" if kind == "function" else f"torch.nn.{name}"
        outputs, extra = {"value": value, "grad": grad}, {}
        if isinstance(grad, Exception):
            del outputs["grad"]
            extra["grad_error"] = {"error_type": type(grad).__name__, "message": str(grad)}
        gs.add_case(case_id, name, kind, qual, kwargs, {"input": x, "target": t}, outputs, dtype, tags, extra)

    def add_error(case_id, name, x, t, kwargs, kind="function"):
        qual = f"torch.nn.functional.{name}" if kind == "function" else f"torch.nn.{name}"
        try:
            call(name, kind, x, t, kwargs)
        except Exception as exc:  # noqa: BLE001 - we record whatever it is
            gs.add_error(case_id, name, kind, qual, kwargs, {"input": x, "target": t}, exc)
            return
        raise AssertionError(f"{case_id}: expected an error")

    # ---- seed document -------------------------------------------------
    torch.manual_seed(1234)
    x = torch.rand(4, 7, requires_grad=True)
    y = torch.LongTensor([1, 3, 5, 0])
    loss = torch.nn.CrossEntropyLoss()(x, y)
    loss.backward()
    xs = x.detach()
    closed = (torch.softmax(xs, dim=1) - torch.nn.functional.one_hot(y, 7).to(xs.dtype)) / 4
    gs.add_case(
        "seed_CrossEntropyLoss_rand4x7",
        "CrossEntropyLoss",
        "class",
        "torch.nn.CrossEntropyLoss",
        {},
        {"input": xs.numpy(), "target": y.numpy()},
        {"value": loss.detach().numpy(), "grad": x.grad.numpy(), "closed_form_grad": closed.numpy()},
        "float32",
        ("seed",),
    )

    # ---- cross_entropy, class-index targets ----------------------------
    rng = np.random.default_rng(1001)
    base = {(tag, dt): rng.normal(scale=2.0, size=shape).astype(dt) for tag, shape in TORCH_SHAPES for dt in DTYPES}
    weights = {dt: rng.uniform(0.2, 2.0, size=5).astype(dt) for dt in DTYPES}
    for (tag, shape), ign in itertools.product(TORCH_SHAPES, ("none", "default", "custom2", "custom-1")):
        t, ign_kw = index_targets(rng, shape, ign)
        c = n_classes(shape)
        for dt, use_w, ls, red in itertools.product(DTYPES, (False, True), (0.0, 0.1, 0.25), REDUCTIONS):
            kw = dict(ign_kw)
            if use_w:
                kw["weight"] = weights[dt][:c].copy()
            if ls:
                kw["label_smoothing"] = ls
            kw["reduction"] = red
            add(
                f"ce.idx.{tag}.{'w' if use_w else 'nw'}.ign_{ign}.ls{ftag(ls)}.{red}.{dt}",
                "cross_entropy",
                base[tag, dt],
                t,
                kw,
                dt,
                tags=("index_target", f"ignore_{ign}"),
            )

    # 1-D input with a 1-element 1-D target behaves like a scalar target
    # (0-d output) -- but only without label smoothing (see err.ce.*).
    x64 = rng.normal(size=(5,))
    for dt, red, tv in itertools.product(DTYPES, REDUCTIONS, (3, -100)):
        t = np.array([tv], dtype=np.int64)
        add(
            f"ce.idx.C_target1.t{tv}.{red}.{dt}",
            "cross_entropy",
            x64.astype(dt),
            t,
            {"reduction": red},
            dt,
            tags=("index_target",),
        )
        add(f"nll.C_target1.t{tv}.{red}.{dt}", "nll_loss", x64.astype(dt), t, {"reduction": red}, dt)

    # ---- cross_entropy / nll_loss with every target ignored -------------
    rng = np.random.default_rng(1002)
    for tag, shape in TORCH_SHAPES[1:3]:
        x64 = rng.normal(size=shape)
        for ignore, dt, use_w, ls, red in itertools.product((-100, 1), DTYPES, (False, True), (0.0, 0.1), REDUCTIONS):
            t = np.full(target_shape(shape), ignore, dtype=np.int64)
            kw = {"reduction": red}
            if ignore != -100:
                kw["ignore_index"] = ignore
            if use_w:
                kw["weight"] = rng.uniform(0.2, 2.0, n_classes(shape)).astype(dt)
            if ls:
                kw["label_smoothing"] = ls
            add(
                f"ce.all_ignored.{tag}.i{ignore}.{'w' if use_w else 'nw'}.ls{ftag(ls)}.{red}.{dt}",
                "cross_entropy",
                x64.astype(dt),
                t,
                kw,
                dt,
                tags=("index_target", "all_ignored"),
            )
            if not ls:
                add(
                    f"nll.all_ignored.{tag}.i{ignore}.{'w' if use_w else 'nw'}.{red}.{dt}",
                    "nll_loss",
                    x64.astype(dt),
                    t,
                    kw,
                    dt,
                    tags=("all_ignored",),
                )

    # ---- cross_entropy, class-probability targets ----------------------
    rng = np.random.default_rng(1003)
    for (tag, shape), tkind in itertools.product(TORCH_SHAPES, ("softmax", "unnormalized", "onehot")):
        x64 = rng.normal(scale=2.0, size=shape)
        t64 = prob_targets(rng, shape, tkind, np.float64)
        w64 = rng.uniform(0.2, 2.0, size=n_classes(shape))
        for dt, use_w, ls, red in itertools.product(DTYPES, (False, True), (0.0, 0.1, 0.25), REDUCTIONS):
            kw = {"reduction": red}
            if use_w:
                kw["weight"] = w64.astype(dt)
            if ls:
                kw["label_smoothing"] = ls
            add(
                f"ce.prob.{tag}.{tkind}.{'w' if use_w else 'nw'}.ls{ftag(ls)}.{red}.{dt}",
                "cross_entropy",
                x64.astype(dt),
                t64.astype(dt),
                kw,
                dt,
                tags=("prob_target", tkind),
            )
    # a negative ignore_index is accepted (and has no effect) with prob targets
    for dt in DTYPES:
        shape = (4, 5)
        add(
            f"ce.prob.NC.ignore_index_neg1.{dt}",
            "cross_entropy",
            rng.normal(size=shape).astype(dt),
            prob_targets(rng, shape, "softmax", dt),
            {"ignore_index": -1},
            dt,
            tags=("prob_target",),
        )
    # negative label_smoothing is silently treated as 0 (only > 0 is applied)
    for dt, tk in itertools.product(DTYPES, ("index", "prob")):
        shape = (4, 5)
        t = rng.integers(0, 5, size=4) if tk == "index" else prob_targets(rng, shape, "unnormalized", dt)
        add(
            f"ce.{tk}.NC.ls_negative.{dt}",
            "cross_entropy",
            rng.normal(size=shape).astype(dt),
            t,
            {"label_smoothing": -0.2},
            dt,
            tags=("label_smoothing_negative",),
        )

    # ---- cross_entropy extremes (N, C) ---------------------------------
    rng = np.random.default_rng(1004)
    n, c = 4, 5
    for ekind in EXTREME_KINDS:
        t_idx = rng.integers(0, c, size=n)
        x64 = extreme_logits(rng, ekind, t_idx, c)
        t_onehot = np.eye(c)[t_idx]
        t_soft = prob_targets(rng, (n, c), "softmax", np.float64)
        w64 = rng.uniform(0.2, 2.0, size=c)
        for ttype, dt, use_w, ls, red in itertools.product(
            ("index", "onehot", "soft"), DTYPES, (False, True), (0.0, 0.1), REDUCTIONS
        ):
            t = {"index": t_idx, "onehot": t_onehot.astype(dt), "soft": t_soft.astype(dt)}[ttype]
            kw = {"reduction": red}
            if use_w:
                kw["weight"] = w64.astype(dt)
            if ls:
                kw["label_smoothing"] = ls
            add(
                f"ce.extreme.{ekind}.{ttype}.{'w' if use_w else 'nw'}.ls{ftag(ls)}.{red}.{dt}",
                "cross_entropy",
                x64.astype(dt),
                t,
                kw,
                dt,
                tags=("extreme", ekind),
            )

    # ---- nll_loss --------------------------------------------------------
    rng = np.random.default_rng(1005)
    for (tag, shape), ign, xkind in itertools.product(
        TORCH_SHAPES, ("none", "default", "custom2", "custom-1"), ("raw", "log_softmax")
    ):
        t, ign_kw = index_targets(rng, shape, ign)
        x64 = rng.normal(scale=2.0, size=shape)
        if xkind == "log_softmax":
            axis = 0 if len(shape) == 1 else 1
            x64 = x64 - np.log(np.exp(x64).sum(axis=axis, keepdims=True))
        w64 = rng.uniform(0.2, 2.0, size=n_classes(shape))
        for dt, use_w, red in itertools.product(DTYPES, (False, True), REDUCTIONS):
            kw = dict(ign_kw)
            if use_w:
                kw["weight"] = w64.astype(dt)
            kw["reduction"] = red
            add(
                f"nll.{tag}.{xkind}.{'w' if use_w else 'nw'}.ign_{ign}.{red}.{dt}",
                "nll_loss",
                x64.astype(dt),
                t,
                kw,
                dt,
                tags=(xkind, f"ignore_{ign}"),
            )
    # non-finite values in the input, at target and at non-target positions
    t = np.array([0, 1, 2, 3], dtype=np.int64)
    x64 = rng.normal(size=(4, 5))
    x64[0, 0] = -INF  # target position
    x64[1, 4] = NAN  # non-target position
    x64[2, 2] = NAN  # target position
    x64[3, 0] = INF  # non-target position
    for dt, red in itertools.product(DTYPES, REDUCTIONS):
        add(f"nll.nonfinite.{red}.{dt}", "nll_loss", x64.astype(dt), t, {"reduction": red}, dt, tags=("extreme",))
    # uint8 targets are accepted too
    for dt in DTYPES:
        add(
            f"nll.uint8_target.{dt}",
            "nll_loss",
            rng.normal(size=(4, 5)).astype(dt),
            np.array([0, 4, 2, 1], dtype=np.uint8),
            {},
            dt,
        )
        add(
            f"ce.uint8_target.{dt}",
            "cross_entropy",
            rng.normal(size=(4, 5)).astype(dt),
            np.array([3, 4, 2, 1], dtype=np.uint8),
            {"label_smoothing": 0.1},
            dt,
        )

    # ---- binary_cross_entropy -----------------------------------------
    rng = np.random.default_rng(1006)
    bce_shapes = (("N", (8,)), ("NK", (3, 4)), ("NKM", (2, 3, 4)))
    for (tag, shape), pmode, tmode in itertools.product(bce_shapes, ("interior", "edges"), ("hard", "soft")):
        p64 = rng.uniform(0.02, 0.98, size=shape)
        if pmode == "edges":  # exact 0 and 1, including both target values
            flat = p64.reshape(-1)
            flat[:6] = [0.0, 0.0, 1.0, 1.0, 1e-30, 1e-50]  # log(1e-50) < -100
        t64 = rng.integers(0, 2, size=shape).astype(np.float64) if tmode == "hard" else rng.uniform(size=shape)
        if pmode == "edges":
            t64.reshape(-1)[:4] = [0.0, 1.0, 0.0, 1.0]
        wshapes = {"none": None, "full": shape, "last": shape[-1:], "bcast": (shape[0],) + (1,) * (len(shape) - 1)}
        wvals = {k: None if s is None else rng.uniform(0.2, 2.0, size=s) for k, s in wshapes.items()}
        for dt, wkind, red in itertools.product(DTYPES, wshapes, REDUCTIONS):
            kw = {"reduction": red}
            if wvals[wkind] is not None:
                kw["weight"] = wvals[wkind].astype(dt)
            add(
                f"bce.{tag}.{pmode}.{tmode}.w_{wkind}.{red}.{dt}",
                "binary_cross_entropy",
                p64.astype(dt),
                t64.astype(dt),
                kw,
                dt,
                tags=(pmode,),
            )

    # ---- binary_cross_entropy_with_logits -----------------------------
    rng = np.random.default_rng(1007)
    wp_combos = (
        ("none", "none"),
        ("none", "last"),
        ("none", "one"),
        ("none", "full"),
        ("last", "none"),
        ("full", "last"),
        ("bcast", "last"),
    )
    for (tag, shape), xmode, tmode in itertools.product(bce_shapes, ("normal", "extreme"), ("hard", "soft")):
        x64 = rng.normal(scale=3.0, size=shape)
        if xmode == "extreme":
            flat = x64.reshape(-1)
            flat[:8] = [100.0, -100.0, INF, -INF, INF, -INF, NAN, 0.0]
        t64 = rng.integers(0, 2, size=shape).astype(np.float64) if tmode == "hard" else rng.uniform(size=shape)
        if xmode == "extreme":
            # both target values at +-100 and +-inf (soft: in-between too)
            t64.reshape(-1)[:8] = (
                [0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
                if tmode == "hard"
                else [0.3, 0.7, 1.0, 0.0, 0.4, 0.6, 0.5, 0.5]
            )
        shapes = {
            "none": None,
            "full": shape,
            "last": shape[-1:],
            "one": (1,),
            "bcast": (shape[0],) + (1,) * (len(shape) - 1),
        }
        vals = {k: None if s is None else rng.uniform(0.2, 3.0, size=s) for k, s in shapes.items()}
        for dt, (wk, pk), red in itertools.product(DTYPES, wp_combos, REDUCTIONS):
            kw = {"reduction": red}
            if vals[wk] is not None:
                kw["weight"] = vals[wk].astype(dt)
            if vals[pk] is not None:
                kw["pos_weight"] = vals[pk].astype(dt)
            add(
                f"bcel.{tag}.{xmode}.{tmode}.w_{wk}.pw_{pk}.{red}.{dt}",
                "binary_cross_entropy_with_logits",
                x64.astype(dt),
                t64.astype(dt),
                kw,
                dt,
                tags=(xmode,),
            )

    # ---- module classes -------------------------------------------------
    rng = np.random.default_rng(1008)
    for dt in DTYPES:
        x = rng.normal(size=(4, 5)).astype(dt)
        t = np.array([1, -100, 4, 2], dtype=np.int64)
        w = rng.uniform(0.2, 2.0, size=5).astype(dt)
        add(f"class.CrossEntropyLoss.default.{dt}", "CrossEntropyLoss", x, t, {}, dt, kind="class")
        add(
            f"class.CrossEntropyLoss.w_ls.{dt}",
            "CrossEntropyLoss",
            x,
            t,
            {"weight": w, "label_smoothing": 0.2},
            dt,
            kind="class",
        )
        add(
            f"class.CrossEntropyLoss.ign2_sum.{dt}",
            "CrossEntropyLoss",
            x,
            np.array([1, 2, 4, 2], dtype=np.int64),
            {"ignore_index": 2, "reduction": "sum"},
            dt,
            kind="class",
        )
        add(
            f"class.CrossEntropyLoss.prob_none.{dt}",
            "CrossEntropyLoss",
            x,
            prob_targets(rng, (4, 5), "unnormalized", dt),
            {"weight": w, "reduction": "none", "label_smoothing": 0.1},
            dt,
            kind="class",
        )
        x3 = rng.normal(size=(2, 5, 3)).astype(dt)
        t3 = np.array([[0, 4, -100], [2, 2, 1]], dtype=np.int64)
        add(f"class.CrossEntropyLoss.NCd_w.{dt}", "CrossEntropyLoss", x3, t3, {"weight": w}, dt, kind="class")
        logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
        add(f"class.NLLLoss.default.{dt}", "NLLLoss", logp, t, {}, dt, kind="class")
        add(
            f"class.NLLLoss.w_ign4_mean.{dt}",
            "NLLLoss",
            logp,
            np.array([1, 4, 4, 2], dtype=np.int64),
            {"weight": w, "ignore_index": 4},
            dt,
            kind="class",
        )
        add(f"class.NLLLoss.w_none.{dt}", "NLLLoss", x, t, {"weight": w, "reduction": "none"}, dt, kind="class")
        p = rng.uniform(size=(3, 4)).astype(dt)
        p[0, :2] = [0.0, 1.0]
        tb = rng.integers(0, 2, size=(3, 4)).astype(dt)
        wb = rng.uniform(0.2, 2.0, size=4).astype(dt)
        add(f"class.BCELoss.default.{dt}", "BCELoss", p, tb, {}, dt, kind="class")
        add(f"class.BCELoss.w_sum.{dt}", "BCELoss", p, tb, {"weight": wb, "reduction": "sum"}, dt, kind="class")
        add(f"class.BCELoss.none.{dt}", "BCELoss", p, tb, {"reduction": "none"}, dt, kind="class")
        xl = rng.normal(scale=3.0, size=(3, 4)).astype(dt)
        add(f"class.BCEWithLogitsLoss.default.{dt}", "BCEWithLogitsLoss", xl, tb, {}, dt, kind="class")
        add(f"class.BCEWithLogitsLoss.pw.{dt}", "BCEWithLogitsLoss", xl, tb, {"pos_weight": wb}, dt, kind="class")
        add(
            f"class.BCEWithLogitsLoss.w_pw_none.{dt}",
            "BCEWithLogitsLoss",
            xl,
            tb,
            {"weight": wb[::-1].copy(), "pos_weight": wb, "reduction": "none"},
            dt,
            kind="class",
        )

    # ---- errors ---------------------------------------------------------
    rng = np.random.default_rng(1009)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    ce_errors = {
        "target_out_of_range_high": (x, i64(0, 1, 4), {}),
        "target_out_of_range_negative": (x, i64(0, 1, -1), {}),
        "target_out_of_range_reduction_none": (x, i64(0, 1, 4), {"reduction": "none"}),
        "target_int32": (x, np.array([0, 1, 2], np.int32), {}),
        "target_float_1d": (x, np.array([0, 1, 2], np.float32), {}),
        "target_long_same_shape": (x, np.zeros((3, 4), np.int64), {}),
        "batch_mismatch": (x, i64(0, 1), {}),
        "input1d_target_len2": (x[0], i64(1, 2), {}),
        "input1d_target_len1_label_smoothing": (x[0], i64(1), {"label_smoothing": 0.1}),
        "spatial_mismatch_3d": (rng.normal(size=(2, 4, 5)).astype(np.float32), np.zeros((2, 6), np.int64), {}),
        "spatial_mismatch_4d": (rng.normal(size=(2, 4, 5, 6)).astype(np.float32), np.zeros((2, 5, 5), np.int64), {}),
        "weight_wrong_size": (x, i64(0, 1, 2), {"weight": np.ones(3, np.float32)}),
        "weight_wrong_size_prob": (x, np.full((3, 4), 0.25, np.float32), {"weight": np.ones(3, np.float32)}),
        "weight_wrong_dtype": (x, i64(0, 1, 2), {"weight": np.ones(4, np.float64)}),
        "label_smoothing_gt_1": (x, i64(0, 1, 2), {"label_smoothing": 1.5}),
        "label_smoothing_gt_1_prob": (x, np.full((3, 4), 0.25, np.float32), {"label_smoothing": 1.5}),
        "prob_target_nonneg_ignore_index": (x, np.full((3, 4), 0.25, np.float32), {"ignore_index": 2}),
        "prob_target_shape_mismatch": (x, np.full((3, 5), 0.2, np.float32), {}),
        "bad_reduction": (x, i64(0, 1, 2), {"reduction": "avg"}),
    }
    for eid, (xe, te, kw) in ce_errors.items():
        add_error(f"err.ce.{eid}", "cross_entropy", xe, te, kw)
    add_error("err.nll.target_out_of_range", "nll_loss", x, i64(0, 1, 4), {})
    add_error("err.nll.target_float", "nll_loss", x, np.array([0, 1, 2], np.float32), {})
    add_error("err.nll.target_2d_for_2d_input", "nll_loss", x, np.zeros((3, 4), np.int64), {})
    pb = np.full((3,), 0.5, np.float32)
    bce_errors = {
        "shape_mismatch": (pb, np.ones((3, 1), np.float32), {}),
        "input_gt_1": (np.array([1.5], np.float32), np.ones(1, np.float32), {}),
        "input_negative": (np.array([-0.5], np.float32), np.ones(1, np.float32), {}),
        "input_nan": (np.array([NAN], np.float32), np.ones(1, np.float32), {}),
        "target_gt_1": (pb[:1], np.array([2.0], np.float32), {}),
        "target_int64": (pb[:1], np.array([1], np.int64), {}),
        "target_float64": (pb[:1], np.array([1.0], np.float64), {}),
        "weight_not_broadcastable": (
            np.full((3, 4), 0.5, np.float32),
            np.ones((3, 4), np.float32),
            {"weight": np.ones(3, np.float32)},
        ),
    }
    for eid, (xe, te, kw) in bce_errors.items():
        add_error(f"err.bce.{eid}", "binary_cross_entropy", xe, te, kw)
    bcel_errors = {
        "shape_mismatch": (pb, np.ones((3, 1), np.float32), {}),
        "target_int64": (pb, np.array([1, 0, 1], np.int64), {}),
        "pos_weight_not_broadcastable": (
            np.zeros((3, 4), np.float32),
            np.ones((3, 4), np.float32),
            {"pos_weight": np.ones(3, np.float32)},
        ),
        "weight_larger_than_input": (
            np.zeros((3, 4), np.float32),
            np.ones((3, 4), np.float32),
            {"weight": np.ones((2, 3, 4), np.float32), "reduction": "none"},
        ),
    }
    for eid, (xe, te, kw) in bcel_errors.items():
        add_error(f"err.bcel.{eid}", "binary_cross_entropy_with_logits", xe, te, kw)

    gs.write(out_dir / "torch.jsonl")


# ==========================================================================
# TensorFlow (+ Keras 3 on the TensorFlow backend)
# ==========================================================================


def tf_versions():
    import keras
    import tensorflow as tf

    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def generate_tf(out_dir: Path) -> None:
    import keras
    import tensorflow as tf

    assert keras.backend.backend() == "tensorflow", keras.backend.backend()
    # Op determinism switches TF to a different (autodiff) code path with
    # different gradients for unnormalised labels: make sure it is off.
    from tensorflow.python.framework import config as tf_config

    assert not tf_config.is_op_determinism_enabled()
    gs = GoldenSet(tf_versions())

    functions = {
        "softmax_cross_entropy_with_logits": tf.nn.softmax_cross_entropy_with_logits,
        "sparse_softmax_cross_entropy_with_logits": tf.nn.sparse_softmax_cross_entropy_with_logits,
        "sigmoid_cross_entropy_with_logits": tf.nn.sigmoid_cross_entropy_with_logits,
        "weighted_cross_entropy_with_logits": tf.nn.weighted_cross_entropy_with_logits,
    }

    def call(name, labels, logits, kwargs):
        x = tf.constant(logits)
        kw = {k: tf.constant(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = functions[name](labels=tf.constant(labels), logits=x, **kw)
            total = tf.reduce_sum(value)
        return value.numpy(), tape.gradient(total, x).numpy()

    def add(case_id, name, labels, logits, kwargs, dtype, tags=()):
        value, grad = call(name, labels, logits, kwargs)
        gs.add_case(
            case_id,
            name,
            "function",
            f"tf.nn.{name}",
            kwargs,
            {"labels": labels, "logits": logits},
            {"value": value, "grad": grad},
            dtype,
            tags,
        )

    def add_error(case_id, name, labels, logits, kwargs):
        try:
            call(name, labels, logits, kwargs)
        except Exception as exc:  # noqa: BLE001
            gs.add_error(case_id, name, "function", f"tf.nn.{name}", kwargs, {"labels": labels, "logits": logits}, exc)
            return
        raise AssertionError(f"{case_id}: expected an error")

    f32 = lambda *v: np.array(v, dtype=np.float32)  # noqa: E731

    # ---- documented reference points ------------------------------------
    for dt in DTYPES:
        add(
            f"tf.softmax.doc_unnormalized_labels.{dt}",
            "softmax_cross_entropy_with_logits",
            f32(1, 2).astype(dt),
            f32(1, 2).astype(dt),
            {},
            dt,
            tags=("doc", "unnormalized"),
        )
        add(
            f"tf.sparse.doc_scalar_label.{dt}",
            "sparse_softmax_cross_entropy_with_logits",
            np.int32(1),
            f32(1, 2).astype(dt),
            {},
            dt,
            tags=("doc",),
        )
        add(
            f"tf.sigmoid.doc.{dt}",
            "sigmoid_cross_entropy_with_logits",
            f32(1).astype(dt),
            f32(1).astype(dt),
            {},
            dt,
            tags=("doc",),
        )
        add(
            f"tf.sigmoid.docstring_vector.{dt}",
            "sigmoid_cross_entropy_with_logits",
            f32(0, 0, 0, 1, 1, 1, 0.5).astype(dt),
            f32(1, -1, 0, 1, -1, 0, 0).astype(dt),
            {},
            dt,
            tags=("doc",),
        )
        for q in (1.5, 0.5):
            add(
                f"tf.weighted.docstring_pw{ftag(q)}.{dt}",
                "weighted_cross_entropy_with_logits",
                f32(1, 0.5, 0).astype(dt),
                f32(1.5, -0.1, -10).astype(dt),
                {"pos_weight": q},
                dt,
                tags=("doc",),
            )

    # ---- softmax_cross_entropy_with_logits ------------------------------
    rng = np.random.default_rng(2001)
    # (tag, logits shape, axis or None for the default)
    layouts = (
        ("C", (5,), None),
        ("NC", (4, 5), None),
        ("NC_ax1", (4, 5), 1),
        ("CN_ax0", (5, 4), 0),
        ("BTC", (2, 3, 5), None),
        ("BCT_ax1", (2, 5, 3), 1),
        ("BTC_ax-1", (2, 3, 5), -1),
    )
    for (tag, shape, axis), lkind in itertools.product(layouts, ("softmax", "unnormalized", "onehot", "negative")):
        x64 = rng.normal(scale=2.0, size=shape)
        cax = -1 if axis is None else axis
        moved = np.moveaxis(np.zeros(shape), cax, 1 if len(shape) > 1 else 0)
        if lkind == "negative":  # arbitrary reals, some negative
            l64 = rng.normal(size=moved.shape)
        else:
            l64 = prob_targets(rng, moved.shape, lkind, np.float64)
        l64 = np.moveaxis(l64, 1 if len(shape) > 1 else 0, cax)
        for dt in DTYPES:
            kw = {} if axis is None else {"axis": axis}
            add(
                f"tf.softmax.{tag}.{lkind}.{dt}",
                "softmax_cross_entropy_with_logits",
                l64.astype(dt),
                x64.astype(dt),
                kw,
                dt,
                tags=(lkind,),
            )

    # the op broadcasts labels against logits (axis=-1 path)
    x64 = rng.normal(scale=2.0, size=(3, 4))
    l64 = rng.uniform(0.0, 1.0, size=(1, 4))
    for dt in DTYPES:
        add(
            f"tf.softmax.broadcast_labels_1C.{dt}",
            "softmax_cross_entropy_with_logits",
            l64.astype(dt),
            x64.astype(dt),
            {},
            dt,
            tags=("broadcast", "unnormalized"),
        )
        add(
            f"tf.softmax.broadcast_labels_C.{dt}",
            "softmax_cross_entropy_with_logits",
            l64[0].astype(dt),
            x64.astype(dt),
            {},
            dt,
            tags=("broadcast", "unnormalized"),
        )

    # ---- sparse_softmax_cross_entropy_with_logits -----------------------
    rng = np.random.default_rng(2002)
    for (tag, shape), ldt in itertools.product(
        (("C", (5,)), ("NC", (4, 5)), ("BTC", (2, 3, 5)), ("BTC1", (2, 1, 5))), ("int32", "int64")
    ):
        x64 = rng.normal(scale=2.0, size=shape)
        lab = rng.integers(0, shape[-1], size=shape[:-1]).astype(ldt)
        for dt in DTYPES:
            add(
                f"tf.sparse.{tag}.{ldt}.{dt}",
                "sparse_softmax_cross_entropy_with_logits",
                lab,
                x64.astype(dt),
                {},
                dt,
                tags=(ldt,),
            )

    # ---- softmax / sparse extremes --------------------------------------
    rng = np.random.default_rng(2003)
    n, c = 4, 5
    for ekind in EXTREME_KINDS:
        lab = rng.integers(0, c, size=n)
        x64 = extreme_logits(rng, ekind, lab, c)
        soft = prob_targets(rng, (n, c), "softmax", np.float64)
        for dt in DTYPES:
            add(
                f"tf.sparse.extreme.{ekind}.{dt}",
                "sparse_softmax_cross_entropy_with_logits",
                lab.astype(np.int64),
                x64.astype(dt),
                {},
                dt,
                tags=("extreme", ekind),
            )
            add(
                f"tf.softmax.extreme.{ekind}.onehot.{dt}",
                "softmax_cross_entropy_with_logits",
                np.eye(c)[lab].astype(dt),
                x64.astype(dt),
                {},
                dt,
                tags=("extreme", ekind),
            )
            add(
                f"tf.softmax.extreme.{ekind}.soft.{dt}",
                "softmax_cross_entropy_with_logits",
                soft.astype(dt),
                x64.astype(dt),
                {},
                dt,
                tags=("extreme", ekind),
            )

    # ---- sigmoid / weighted ------------------------------------------------
    rng = np.random.default_rng(2004)
    for (tag, shape), xmode, lmode in itertools.product(
        (("N", (8,)), ("NK", (3, 4)), ("NKM", (2, 3, 4))), ("normal", "extreme"), ("hard", "soft")
    ):
        x64 = rng.normal(scale=3.0, size=shape)
        z64 = rng.integers(0, 2, size=shape).astype(np.float64) if lmode == "hard" else rng.uniform(size=shape)
        if xmode == "extreme":
            flat, zf = x64.reshape(-1), z64.reshape(-1)
            flat[:8] = [1e4, -1e4, INF, -INF, INF, -INF, NAN, 0.0]
            zf[:8] = [0, 1, 1, 0, 0, 1, 1, 1] if lmode == "hard" else [0.3, 0.7, 1.0, 0.0, 0.4, 0.6, 0.5, 0.5]
        pw_last = rng.uniform(0.2, 3.0, size=shape[-1:])
        pw_full = rng.uniform(0.2, 3.0, size=shape)
        for dt in DTYPES:
            add(
                f"tf.sigmoid.{tag}.{xmode}.{lmode}.{dt}",
                "sigmoid_cross_entropy_with_logits",
                z64.astype(dt),
                x64.astype(dt),
                {},
                dt,
                tags=(xmode,),
            )
            for pwtag, pw in (
                ("s0.5", 0.5),
                ("s3", 3.0),
                ("s1", 1.0),
                ("last", pw_last.astype(dt)),
                ("full", pw_full.astype(dt)),
            ):
                add(
                    f"tf.weighted.{tag}.{xmode}.{lmode}.pw_{pwtag}.{dt}",
                    "weighted_cross_entropy_with_logits",
                    z64.astype(dt),
                    x64.astype(dt),
                    {"pos_weight": pw},
                    dt,
                    tags=(xmode,),
                )

    # ---- errors ----------------------------------------------------------
    x = f32(1, 2, 3, 4, 5, 6).reshape(2, 3)
    for ldt in ("int32", "int64"):
        add_error(
            f"tf.err.sparse.label_eq_C.{ldt}", "sparse_softmax_cross_entropy_with_logits", np.array([0, 3], ldt), x, {}
        )
        add_error(
            f"tf.err.sparse.label_negative.{ldt}",
            "sparse_softmax_cross_entropy_with_logits",
            np.array([-1, 2], ldt),
            x,
            {},
        )
    add_error(
        "tf.err.sparse.rank_mismatch", "sparse_softmax_cross_entropy_with_logits", np.array([[0, 1]], np.int32), x, {}
    )
    add_error(
        "tf.err.sparse.scalar_logits", "sparse_softmax_cross_entropy_with_logits", np.int32(0), np.float32(1.0), {}
    )
    add_error(
        "tf.err.softmax.shape_mismatch", "softmax_cross_entropy_with_logits", np.full((2, 4), 0.25, np.float32), x, {}
    )
    add_error("tf.err.sigmoid.shape_mismatch", "sigmoid_cross_entropy_with_logits", np.zeros((3, 2), np.float32), x, {})

    # ---- Keras 3, TensorFlow backend ------------------------------------
    rng = np.random.default_rng(2005)

    def add_keras(case_id, fn_name, y_true, y_pred, kwargs, dtype):
        fn = getattr(keras.losses, fn_name)
        yp = tf.constant(y_pred)
        with tf.GradientTape() as tape:
            tape.watch(yp)
            value = fn(tf.constant(y_true), yp, **kwargs)
            total = tf.reduce_sum(value)
        grad = tape.gradient(total, yp)
        gs.add_case(
            case_id,
            f"keras_tf_backend.{fn_name}",
            "function",
            f"keras.losses.{fn_name}",
            kwargs,
            {"y_true": y_true, "y_pred": y_pred},
            {"value": value.numpy(), "grad": grad.numpy()},
            dtype,
            ("keras",),
        )

    xb = rng.normal(scale=3.0, size=(3, 4))
    xb[0] = [1e4, -1e4, 100.0, -100.0]
    zb = rng.integers(0, 2, size=(3, 4)).astype(np.float64)
    zb[0] = [0, 1, 1, 0]
    zb[2] = rng.uniform(size=4)
    xs = rng.normal(scale=2.0, size=(4, 5))
    xs[0] = [1e4, -1e4, 0.0, 1.0, 2.0]
    xs[1, 2] = -1e4
    ys = np.eye(5)[rng.integers(0, 5, size=4)]
    ys[3] = prob_targets(rng, (5,), "softmax", np.float64)
    ps = rng.uniform(0.01, 1.0, size=(4, 5))
    ps[0] = [1.0, 0.0, 0.0, 0.0, 0.0]
    ps[1] = [0.0, 0.0, 0.0, 0.0, 1.0]  # all mass on a wrong class
    ps[2, :2] = 0.0
    pb = rng.uniform(size=(3, 4))
    pb[0] = [0.0, 1.0, 1.0, 0.0]
    for dt in DTYPES:
        add_keras(
            f"keras.bce.logits.{dt}", "binary_crossentropy", zb.astype(dt), xb.astype(dt), {"from_logits": True}, dt
        )
        add_keras(
            f"keras.bce.logits.ls0.1.{dt}",
            "binary_crossentropy",
            zb.astype(dt),
            xb.astype(dt),
            {"from_logits": True, "label_smoothing": 0.1},
            dt,
        )
        add_keras(
            f"keras.bce.probs.{dt}", "binary_crossentropy", zb.astype(dt), pb.astype(dt), {"from_logits": False}, dt
        )
        add_keras(
            f"keras.cce.logits.{dt}",
            "categorical_crossentropy",
            ys.astype(dt),
            xs.astype(dt),
            {"from_logits": True},
            dt,
        )
        add_keras(
            f"keras.cce.logits.ls0.1.{dt}",
            "categorical_crossentropy",
            ys.astype(dt),
            xs.astype(dt),
            {"from_logits": True, "label_smoothing": 0.1},
            dt,
        )
        add_keras(
            f"keras.cce.probs.{dt}",
            "categorical_crossentropy",
            ys.astype(dt),
            ps.astype(dt),
            {"from_logits": False},
            dt,
        )
        add_keras(
            f"keras.cce.probs_unnormalized.{dt}",
            "categorical_crossentropy",
            ys.astype(dt),
            (3.0 * ps).astype(dt),
            {"from_logits": False},
            dt,
        )

    gs.write(out_dir / "tf.jsonl")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=("torch", "tf", "all"), default="all")
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.framework in ("tf", "all"):
        # Must be set before TensorFlow / Keras are imported.
        os.environ["KERAS_BACKEND"] = "tensorflow"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    if args.framework in ("torch", "all"):
        generate_torch(args.out_dir)
    if args.framework in ("tf", "all"):
        generate_tf(args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
