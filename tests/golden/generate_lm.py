#!/usr/bin/env python3
"""Golden values for ``crossentropy.lm`` from real PyTorch and torchmetrics.

Run from the repository root (torch 2.13 CPU and torchmetrics 1.9 installed):

    python tests/golden/generate_lm.py

Writes ``lm.jsonl`` next to this script, in the shared format of ``goldenio.py``.  Each case has inputs,
keyword arguments and outputs (names of arrays in the file):

* ``token_stats``: torch as users write it: ``log_softmax`` + ``gather`` (nll), ``logsumexp`` (lse),
  ``torch.special.entr(softmax).sum(-1)`` (entropy, 0 log 0 = 0), ``(x > x[label]).sum(-1)`` (rank) of the
  soft-capped logits; ignored tokens nll 0 and rank -1.
* ``perplexity``: ``torchmetrics.text.Perplexity(ignore_index=...)`` on the batch (a float64 state through
  ``set_dtype(torch.float64)`` for float64 logits), and on each sequence for ``per_sequence``.
* ``cross_entropy``: the Liger-Kernel ``LigerCrossEntropyLoss`` formula written out in torch --
  ``x' = softcap * tanh(x / softcap)``; ``F.cross_entropy(x', y, ignore_index, reduction="none",
  label_smoothing)`` + ``z_loss * logsumexp(x')**2`` at valid tokens; "mean" divides the sum by the number
  of valid tokens (0 when there is none) -- and ``grad`` = ``logits.grad`` after ``value.sum().backward()``.

Everything is seeded, so regeneration is byte-for-byte deterministic for given library versions.
"""

import hashlib
import platform
from pathlib import Path

import goldenio  # the shared golden format, next to this script
import numpy as np
import torch
import torch.nn.functional as F
import torchmetrics
from torchmetrics.text import Perplexity

HERE = Path(__file__).resolve().parent
IGNORE = -100


def capped(x, softcap):
    return x if softcap is None else softcap * torch.tanh(x / softcap)


def torch_token_stats(x, y, softcap, ignore_index):
    xc = capped(x, softcap)
    valid = y != ignore_index
    safe = torch.where(valid, y, torch.zeros_like(y))
    logp = torch.log_softmax(xc, dim=-1)
    nll = -logp.gather(-1, safe[..., None])[..., 0]
    lse = torch.logsumexp(xc, dim=-1)
    entropy = torch.special.entr(logp.exp()).sum(-1)
    picked = xc.gather(-1, safe[..., None])
    rank = (xc > picked).sum(-1)
    return (
        torch.where(valid, nll, torch.zeros_like(nll)),
        lse,
        entropy,
        torch.where(valid, rank, torch.full_like(rank, -1)),
        valid,
    )


def torch_liger_loss(x, y, ignore_index, reduction, label_smoothing, z_loss, softcap):
    xc = capped(x, softcap)
    flat_x, flat_y = xc.reshape(-1, xc.shape[-1]), y.reshape(-1)
    ce = F.cross_entropy(
        flat_x, flat_y, ignore_index=ignore_index, reduction="none", label_smoothing=label_smoothing
    ).reshape(y.shape)
    valid = y != ignore_index
    lse = torch.logsumexp(xc, dim=-1)
    per_token = ce + torch.where(valid, z_loss * lse**2, torch.zeros_like(lse))
    if reduction == "none":
        return per_token
    total = per_token.sum()
    if reduction == "sum":
        return total
    count = valid.sum()
    return total / count if count > 0 else total * 0


def logits_cases(rng):
    """Named (logits float64, labels int64) pairs."""
    cases = {}
    x = rng.normal(size=(6, 11)) * 3
    y = rng.integers(0, 11, size=6)
    y[[1, 4]] = IGNORE
    cases["rand6x11_ign"] = (x, y)
    x = rng.normal(size=(2, 5, 17)) * 2
    y = rng.integers(0, 17, size=(2, 5))
    y[0, 3] = IGNORE
    y[1, :] = IGNORE  # a sequence with no valid token
    cases["seq2x5x17"] = (x, y)
    x = rng.integers(-2, 3, size=(8, 6)).astype(np.float64)  # ties: rank counts strictly greater only
    y = rng.integers(0, 6, size=8)
    cases["ties8x6"] = (x, y)
    x = rng.normal(size=(4, 9))
    x[0, 2] = x[1, :4] = x[3, 5] = -np.inf  # masked classes (never the label)
    x[2, 0] = 60.0  # a confident row
    y = np.array([3, 7, 0, 1])
    cases["masks_confident"] = (x, y)
    x = rng.normal(size=(3, 8)) * 1e4  # huge logits
    y = np.array([0, 5, IGNORE])
    cases["huge3x8"] = (x, y)
    # longer rows whose max moves late (blocked / online sweeps), one token ignored
    x = rng.normal(size=(3, 3000)) * 2
    x[0, 2900] = 25.0
    x[1] = np.linspace(-5, 5, 3000)
    y = np.array([2900, 10, IGNORE])
    cases["long3x3000"] = (x, y)
    x = rng.normal(size=(4, 7))
    cases["all_ignored4x7"] = (x, np.full(4, IGNORE))
    return cases


class Golden:
    def __init__(self):
        self.arrays, self.cases, self._by_digest = {}, [], {}

    def add(self, case_id, func, inputs, kwargs, outputs, dtype):
        def store(name, arr):  # identical arrays (the inputs of many cases) are stored once
            arr = np.array(arr, order="C")
            digest = hashlib.sha1(f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes()).hexdigest()
            if digest not in self._by_digest:
                self._by_digest[digest] = f"{case_id}.{name}"
                self.arrays[self._by_digest[digest]] = arr
            return self._by_digest[digest]

        self.cases.append(
            {
                "id": case_id,
                "func": func,
                "dtype": dtype,
                "kwargs": kwargs,
                "inputs": {k: store(k, v) for k, v in inputs.items()},
                "outputs": {k: store(k, v) for k, v in outputs.items()},
            }
        )

    def write(self):
        versions = {
            "torch": torch.__version__,
            "torchmetrics": torchmetrics.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        }
        doc = {"versions": versions, "ignore_index": IGNORE, "cases": self.cases}
        return goldenio.write(HERE / "lm.jsonl", doc, self.arrays)


def main():
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(20261201)
    golden = Golden()
    for name, (x64, y) in logits_cases(rng).items():
        for dtype in ("float32", "float64"):
            xn = x64.astype(dtype)
            tdt = getattr(torch, dtype)
            x, yt = torch.from_numpy(xn), torch.from_numpy(y)
            for softcap in (None, 30.0, 5.0):
                if softcap == 5.0 and name not in ("rand6x11_ign", "seq2x5x17"):
                    continue
                with torch.no_grad():
                    nll, lse, ent, rank, valid = torch_token_stats(x, yt, softcap, IGNORE)
                golden.add(
                    f"stats.{name}.cap{softcap}.{dtype}",
                    "token_stats",
                    {"logits": xn, "labels": y},
                    {"ignore_index": IGNORE, "softcap": softcap},
                    {
                        "nll": nll.numpy(),
                        "lse": lse.numpy(),
                        "entropy": ent.numpy(),
                        "rank": rank.numpy().astype(np.int64),
                        "valid": valid.numpy(),
                    },
                    dtype,
                )
            if name != "huge3x8":  # torchmetrics' softmax then log: exp underflow gives inf there
                metric = Perplexity(ignore_index=IGNORE)
                if dtype == "float64":
                    metric.set_dtype(torch.float64)
                flat_x = x.reshape(1, -1, x.shape[-1])
                metric.update(flat_x, yt.reshape(1, -1))
                golden.add(
                    f"ppl.{name}.{dtype}",
                    "perplexity",
                    {"logits": xn, "labels": y},
                    {"ignore_index": IGNORE},
                    {"value": metric.compute().numpy()},
                    dtype,
                )
                if x.ndim == 3:
                    per_seq = []
                    for b in range(x.shape[0]):
                        m = Perplexity(ignore_index=IGNORE)
                        if dtype == "float64":
                            m.set_dtype(torch.float64)
                        m.update(x[b : b + 1], yt[b : b + 1])
                        per_seq.append(m.compute().item())
                    golden.add(
                        f"ppl_seq.{name}.{dtype}",
                        "perplexity",
                        {"logits": xn, "labels": y},
                        {"ignore_index": IGNORE, "per_sequence": True},
                        {"value": np.array(per_seq, dtype=np.float64)},
                        dtype,
                    )
            options = [(0.0, 0.0, None), (0.1, 0.0, None), (0.0, 1e-3, None), (0.0, 0.0, 30.0), (0.2, 1e-2, 5.0)]
            for smoothing, zl, softcap in options:
                for reduction in ("mean", "sum", "none"):
                    if (
                        name in ("ties8x6", "huge3x8", "long3x3000")
                        and (smoothing, zl, softcap) != (0.1, 1e-3, None)
                        and (smoothing, zl, softcap) != (0.2, 1e-2, 5.0)
                    ):
                        continue
                    xt = torch.from_numpy(xn.copy()).requires_grad_(True)
                    value = torch_liger_loss(xt, yt, IGNORE, reduction, smoothing, zl, softcap)
                    value.sum().backward()
                    golden.add(
                        f"ce.{name}.ls{smoothing}.z{zl}.cap{softcap}.{reduction}.{dtype}",
                        "cross_entropy",
                        {"logits": xn, "labels": y},
                        {
                            "ignore_index": IGNORE,
                            "reduction": reduction,
                            "label_smoothing": smoothing,
                            "z_loss": zl,
                            "softcap": softcap,
                        },
                        {"value": value.detach().numpy(), "grad": xt.grad.numpy()},
                        dtype,
                    )
            del tdt
    path = golden.write()
    print(f"{len(golden.cases)} cases written to {path}")


if __name__ == "__main__":
    main()
