"""Language-model evaluation and training losses over large vocabularies, one read of each row.

* ``token_stats``: per-token nll, log-sum-exp, entropy, rank of the label and validity, in one pass;
* ``perplexity``: torchmetrics' ``Perplexity``, for the batch or per sequence;
* ``cross_entropy``: Liger-Kernel's ``LigerCrossEntropyLoss`` (z-loss, soft-capping, label smoothing,
  ignore_index) with its gradient from the same kernel call.
"""
from crossentropy.lm.loss import cross_entropy
from crossentropy.lm.stats import TokenStats, perplexity, token_stats

# ---- linear_cross_entropy (crossentropy/lm/linear.py) is imported here ----

__all__ = ["TokenStats", "token_stats", "perplexity", "cross_entropy"]
