# Type stubs for the compiled gufunc module: each name is a real numpy.ufunc.
import numpy as np

logsumexp: np.ufunc
softmax: np.ufunc
log_softmax: np.ufunc
softmax_cross_entropy: np.ufunc
softmax_cross_entropy_and_grad: np.ufunc
sparse_softmax_cross_entropy: np.ufunc
sparse_softmax_cross_entropy_and_grad: np.ufunc
sigmoid_cross_entropy: np.ufunc
sigmoid_cross_entropy_and_grad: np.ufunc

# the registration table (see _gufuncs.pyx) and the gufuncs it made, by name
FLOAT_TYPES: tuple[str, ...]
LABEL_TYPES: tuple[str, ...]
GUFUNC_TABLE: tuple[tuple[str, str | None, str, str | None, str, str], ...]
GUFUNCS: dict[str, np.ufunc]

class GufuncTableError(ValueError): ...
