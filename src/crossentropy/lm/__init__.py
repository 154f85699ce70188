"""Language-model evaluation and training losses over large vocabularies, one read of each row.

* ``token_stats``: per-token nll, log-sum-exp, entropy, rank of the label and validity, in one pass;
* ``perplexity``: torchmetrics' ``Perplexity``, for the batch or per sequence;
* ``cross_entropy``: Liger-Kernel's ``LigerCrossEntropyLoss`` (z-loss, soft-capping, label smoothing,
  ignore_index) with its gradient from the same kernel call;
* ``linear_cross_entropy``: the same loss of a linear head, without ever holding its logits.
"""

from crossentropy.lm.linear import linear_cross_entropy
from crossentropy.lm.loss import cross_entropy
from crossentropy.lm.stats import TokenStats, perplexity, token_stats

__all__ = ["TokenStats", "token_stats", "perplexity", "cross_entropy", "linear_cross_entropy"]
