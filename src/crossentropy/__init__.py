"""crossentropy: fast, faithful cross-entropy losses and gradients for NumPy."""
from crossentropy._gufuncs import (
    logsumexp,
    log_softmax,
    sigmoid_cross_entropy,
    sigmoid_cross_entropy_and_grad,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_and_grad,
    sparse_softmax_cross_entropy,
    sparse_softmax_cross_entropy_and_grad,
)
from crossentropy._kernels import get_num_threads, set_num_threads

__version__ = "0.1.0"
