"""crossentropy: fast, faithful cross-entropy losses and gradients for NumPy.

Top level: nine NumPy gufuncs (float32/float64, axis=, out=, broadcasting, dask via __array_ufunc__),
thread control and the build report.  Framework semantics live in ``crossentropy.keras``,
``crossentropy.torch`` and ``crossentropy.tf``.
"""

from crossentropy import _bfloat16
from crossentropy._config import show_config
from crossentropy._diagnostics import ProbabilityWarning
from crossentropy._gufuncs import (
    log_softmax,
    logsumexp,
    sigmoid_cross_entropy,
    sigmoid_cross_entropy_and_grad,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_and_grad,
    sparse_softmax_cross_entropy,
    sparse_softmax_cross_entropy_and_grad,
)
from crossentropy._kernels import get_num_threads, set_num_threads

_bfloat16.install()  # bfloat16 loops once ml_dtypes is imported (never imported here: it is slow)

try:  # the installed distribution's version: meson.build's project(version:) is the only place it is written
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    __version__ = _version("crossentropy")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "logsumexp",
    "softmax",
    "log_softmax",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy_and_grad",
    "sparse_softmax_cross_entropy_and_grad",
    "sigmoid_cross_entropy_and_grad",
    "set_num_threads",
    "get_num_threads",
    "show_config",
    "ProbabilityWarning",
]
