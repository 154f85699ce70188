#!/usr/bin/env python3
"""Golden values for ``crossentropy.lm.linear_cross_entropy`` from real PyTorch autograd.

The reference is the eager formula written out in torch: ``z = F.linear(hidden, weight, bias)``; with a soft-cap
``z = softcap * tanh(z / softcap)``; per token ``F.cross_entropy(z, labels, ignore_index, label_smoothing,
reduction="none") + z_loss * logsumexp(z)**2`` (the z-loss only on tokens not ignored, Liger-Kernel's
``lse_square_scale``); then "none", "sum", or "mean" = sum / max(#tokens not ignored, 1) (Liger-Kernel's
all-ignored mean is 0, where torch's own would be NaN).  Gradients are ``.grad`` of hidden, weight and bias after
``value.sum().backward()``.  Everything runs in the inputs' dtype (float32 or float64).

Run from the repository root with torch installed (2.13.0 CPU was used):

    python tests/golden/generate_linear_ce.py

Writes linear_ce.jsonl next to this script, in the shared format of goldenio.py (arrays named
"<case>/<hidden|weight|labels|bias|value|d_hidden|d_weight|d_bias>"); seeded, so a rerun with the same torch
version gives the same bytes.
"""

import platform
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
IGNORE = -100
OPTIONS = (
    {},
    {"label_smoothing": 0.1},
    {"z_loss": 1e-2},
    {"softcap": 2.5},
    {"label_smoothing": 0.15, "z_loss": 1e-3, "softcap": 4.0},
)


def torch_reference(
    hidden,
    weight,
    labels,
    bias=None,
    *,
    ignore_index=IGNORE,
    reduction="mean",
    label_smoothing=0.0,
    z_loss=0.0,
    softcap=None,
):
    """(value, d_hidden, d_weight, d_bias) of the eager formula by torch autograd, as NumPy arrays."""
    h = torch.tensor(hidden, requires_grad=True)
    w = torch.tensor(weight, requires_grad=True)
    b = None if bias is None else torch.tensor(bias, requires_grad=True)
    y = torch.tensor(labels, dtype=torch.int64)
    z = F.linear(h, w, b)
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    flat = z.reshape(-1, z.shape[-1])
    per_token = F.cross_entropy(
        flat, y.reshape(-1), ignore_index=ignore_index, reduction="none", label_smoothing=label_smoothing
    ).reshape(y.shape)
    valid = y != ignore_index
    if z_loss:
        lse = torch.logsumexp(z, dim=-1)
        per_token = per_token + torch.where(valid, z_loss * lse * lse, torch.zeros_like(lse))
    if reduction == "none":
        value = per_token
    elif reduction == "sum":
        value = per_token.sum()
    else:
        value = per_token.sum() / valid.sum().clamp(min=1)
    value.sum().backward()
    return (value.detach().numpy(), h.grad.numpy(), w.grad.numpy(), None if b is None else b.grad.numpy())


def make_inputs(rng, hidden_shape, v, dtype, *, bias=True, ignored=0.25, scale=1.0, ignore_index=IGNORE):
    d = hidden_shape[-1]
    hidden = (scale * rng.standard_normal(hidden_shape)).astype(dtype)
    weight = (scale * rng.standard_normal((v, d)) / np.sqrt(max(d, 1))).astype(dtype)
    b = rng.standard_normal(v).astype(dtype) if bias else None
    labels = rng.integers(0, v, hidden_shape[:-1])
    labels[rng.random(labels.shape) < ignored] = ignore_index
    return hidden, weight, labels, b


def cases(rng):
    """(name, inputs, options) for every golden case."""
    for dtype in ("float64", "float32"):
        for reduction in ("mean", "sum", "none"):
            for k, opts in enumerate(OPTIONS):
                yield (
                    f"basic-{dtype}-{reduction}-opt{k}",
                    make_inputs(rng, (6, 5), 13, dtype),
                    {"reduction": reduction, **opts},
                )
            yield (
                f"all-ignored-{dtype}-{reduction}",
                make_inputs(rng, (4, 3), 9, dtype, ignored=1.0),
                {"reduction": reduction, "label_smoothing": 0.1, "z_loss": 1e-2},
            )
            yield (
                f"n1-d1-{dtype}-{reduction}",
                make_inputs(rng, (1, 1), 7, dtype, ignored=0.0),
                {"reduction": reduction, "softcap": 3.0},
            )
            yield (
                f"no-bias-3d-{dtype}-{reduction}",
                make_inputs(rng, (2, 3, 4), 11, dtype, bias=False),
                {"reduction": reduction, "label_smoothing": 0.05},
            )
        yield (
            f"ignore-a-class-{dtype}",
            make_inputs(rng, (8, 4), 6, dtype, ignore_index=2, ignored=0.0),
            {"ignore_index": 2, "z_loss": 1e-2},
        )
        yield (
            f"prime-vocab-{dtype}",
            make_inputs(rng, (40, 8), 257, dtype, scale=3.0),
            {"reduction": "mean", "label_smoothing": 0.1, "z_loss": 1e-3, "softcap": 6.0},
        )
        yield (
            f"wide-logits-{dtype}",
            make_inputs(rng, (16, 6), 31, dtype, scale=20.0),
            {"reduction": "sum", "z_loss": 1e-4},
        )
        yield (
            f"many-tokens-{dtype}",
            make_inputs(rng, (3000, 4), 97, dtype, ignored=0.1),
            {"reduction": "mean", "label_smoothing": 0.1, "z_loss": 1e-3},
        )


def main():
    import goldenio  # the shared golden format, next to this script; not needed by tests importing torch_reference

    rng = np.random.default_rng(20260115)
    torch.manual_seed(0)
    arrays, records = {}, []
    for name, (hidden, weight, labels, bias), opts in cases(rng):
        value, d_hidden, d_weight, d_bias = torch_reference(hidden, weight, labels, bias, **opts)
        stored = {
            "hidden": hidden,
            "weight": weight,
            "labels": labels,
            "bias": bias,
            "value": value,
            "d_hidden": d_hidden,
            "d_weight": d_weight,
            "d_bias": d_bias,
        }
        for key, arr in stored.items():
            if arr is not None:
                arrays[f"{name}/{key}"] = np.asarray(arr)
        records.append({"name": name, "dtype": str(hidden.dtype), "options": opts, "has_bias": bias is not None})
    meta = {
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "reference": "torch autograd of F.linear + softcap + F.cross_entropy(reduction='none') + z_loss*lse**2",
        "cases": records,
    }
    path = goldenio.write(HERE / "linear_ce.jsonl", meta, arrays)
    print(f"{len(records)} cases written to {path}")


if __name__ == "__main__":
    main()
