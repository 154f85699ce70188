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
