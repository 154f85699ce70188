"""``crossentropy eval`` with sparse labels and logits: perplexity, top-1 / top-k accuracy, per-token statistics
(``--per-token``) and per-sequence perplexities (``--per-sequence``), accumulated chunk by chunk from
:func:`crossentropy.lm.token_stats` (one read of each row; memory stays at O(tokens), never tokens x classes)."""

import math
import os

import numpy as np

from crossentropy.cli.parser import CLIError

FIELDS = ("nll", "lse", "entropy", "rank", "valid")


def _writable(path, option, inputs):
    for src in inputs:
        if os.path.exists(path) and os.path.exists(src) and os.path.samefile(path, src):
            raise CLIError(f"{option} {path} would overwrite an input file")
    out_dir = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(out_dir):
        raise CLIError(f"{option}: directory {out_dir} does not exist")


class TokenReport:
    """Token statistics of an evaluation (``enabled`` only for --loss sparse_categorical --from-logits)."""

    def __init__(self, args, plan, inputs=()):
        self.enabled = plan.loss == "sparse_categorical" and bool(args.from_logits)
        self.top_k = args.top_k
        self.per_token, self.per_sequence = args.per_token, args.per_sequence
        asked = [o for o, v in (("--top-k", self.top_k), ("--per-token", self.per_token),
                                ("--per-sequence", self.per_sequence)) if v is not None]
        if asked and not self.enabled:
            raise CLIError(f"{'/'.join(asked)} need --loss sparse_categorical --from-logits "
                           "(token statistics of logits)")
        if not self.enabled:
            return
        if self.top_k is not None and self.top_k < 1:
            raise CLIError(f"--top-k must be >= 1, got {self.top_k}")
        ndim = len(plan.sample_shape) + 1
        if self.per_sequence is not None and (ndim != 3 or plan.axis != 2):
            raise CLIError("--per-sequence needs PRED of shape (sequences, tokens, classes) with the class axis last, "
                           f"got {ndim} dimensions with class axis {plan.axis}")
        for path, option in ((self.per_token, "--per-token"), (self.per_sequence, "--per-sequence")):
            if path is not None:
                _writable(path, option, inputs)
        self.plan = plan
        # labels are checked against [0, classes) before they get here: without an ignored class, any negative
        # value never matches
        self.ignore = plan.ignore if plan.ignore is not None else -1
        self.nll_sums, self.count, self.hits, self.hits_k = [], 0, 0, 0
        self.tokens = None
        if self.per_sequence is not None:
            self.seq_sum = np.zeros(plan.sample_shape[0])
            self.seq_count = np.zeros(plan.sample_shape[0], np.int64)

    def add(self, p, t, start, stop):
        """Fold in one chunk: logits ``p`` (class axis plan.axis) and checked labels ``t``, rows [start, stop)."""
        from crossentropy import lm

        plan = self.plan
        st = lm.token_stats(p, t, ignore_index=self.ignore, axis=plan.axis)
        self.nll_sums.append(float(np.sum(st.nll, dtype=np.float64)))   # ignored tokens hold 0
        self.count += int(np.count_nonzero(st.valid))
        self.hits += int(np.count_nonzero(st.rank == 0))
        if self.top_k is not None:
            self.hits_k += int(np.count_nonzero((st.rank >= 0) & (st.rank < self.top_k)))
        if self.per_token is not None:
            if self.tokens is None:
                self.tokens = {name: np.empty(plan.sample_shape, getattr(st, name).dtype) for name in FIELDS}
            idx = [slice(None)] * len(plan.sample_shape)
            if plan.out_chunk_axis is not None:
                idx[plan.out_chunk_axis] = slice(start, stop)
            for name in FIELDS:
                self.tokens[name][tuple(idx)] = getattr(st, name).reshape(self.tokens[name][tuple(idx)].shape)
        if self.per_sequence is not None:   # class axis 2, so chunks are whole sequences [start, stop)
            self.seq_sum[start:stop] += np.sum(st.nll, axis=1, dtype=np.float64)
            self.seq_count[start:stop] += np.count_nonzero(st.valid, axis=1)

    def finish(self):
        """Write the requested files; return the figures for the result (empty when not enabled)."""
        if not self.enabled:
            return {}
        mean_nll = math.fsum(self.nll_sums) / self.count if self.count else float("nan")
        perplexity = float("nan") if math.isnan(mean_nll) else (math.exp(mean_nll) if mean_nll < 709.0 else math.inf)
        out = {"perplexity": perplexity,
               "tokens": self.count,
               "accuracy": self.hits / self.count if self.count else float("nan")}
        if self.top_k is not None:
            out["top_k"] = self.top_k
            out["top_k_accuracy"] = self.hits_k / self.count if self.count else float("nan")
        if self.per_token is not None:
            try:
                if self.tokens is None:   # no rows at all
                    self.tokens = {name: np.empty(self.plan.sample_shape) for name in FIELDS}
                np.savez(self.per_token, **self.tokens)
            except OSError as exc:
                raise CLIError(f"cannot write --per-token {self.per_token}: {exc.strerror or exc}") from None
            out["per_token"] = self.per_token
        if self.per_sequence is not None:
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                ppl = np.exp(self.seq_sum / self.seq_count)   # a sequence without valid tokens: NaN
            try:
                np.save(self.per_sequence, ppl)
            except OSError as exc:
                raise CLIError(f"cannot write --per-sequence {self.per_sequence}: {exc.strerror or exc}") from None
            out["per_sequence"] = self.per_sequence
        return out
