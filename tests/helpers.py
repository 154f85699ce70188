"""Helpers shared by the test modules (pytest puts tests/ on sys.path)."""

import numpy as np


def finite_difference(f, x, h=1e-6):
    """Central-difference gradient of sum(f(x)) with respect to x (float64 x)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        g[i] = (np.sum(f(up)) - np.sum(f(down))) / (2 * h)
    return g
