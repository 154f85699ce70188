"""Language-model losses: ``linear_cross_entropy``, the cross-entropy of a linear head without its logits."""
from crossentropy.lm.linear import linear_cross_entropy

__all__ = ["linear_cross_entropy"]
