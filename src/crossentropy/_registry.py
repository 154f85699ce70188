"""One registry of the public kernels: name -> gufunc, float64 NumPy twin, family, dtypes.

Tests (gufuncs, fuzz, bad input, leaks) and the benchmarks iterate ``KERNELS`` instead of keeping their own
lists, so a new gufunc is tested and benchmarked as soon as it has its row in ``_gufuncs.GUFUNC_TABLE`` and
its twin of the same name in ``_reference`` (the binding is by name, as bottleneck binds each function to
its ``slow`` twin).  Nothing here is computed at call time: the registry is built once, at import, and a
gufunc without a twin (or a twin without a gufunc) fails the import with a message.

Families say what a kernel takes:

==============  ======================================  ================================
family          inputs                                  outputs
==============  ======================================  ================================
transform       x (..., n)                              (...) or (..., n)
dense           logits (..., n), labels (..., n)        loss (...) [, grad (..., n)]
sparse          logits (..., n), label (...) int        loss (...) [, grad (..., n)]
elementwise     logits (...), labels (...)              loss (...) [, grad (...)]
==============  ======================================  ================================

``with_grad`` kernels return ``(loss, grad)``, and so do their twins.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crossentropy import _gufuncs, _reference

FAMILIES = ("transform", "dense", "sparse", "elementwise")

# the gufunc table's loop kind -> (family, with_grad)
_LOOP_KIND_FAMILY = {
    "transform_scalar": ("transform", False),
    "transform_row": ("transform", False),
    "dense": ("dense", False),
    "dense_grad": ("dense", True),
    "sparse": ("sparse", False),
    "sparse_grad": ("sparse", True),
    "sigmoid": ("elementwise", False),
    "sigmoid_grad": ("elementwise", True),
}


@dataclass(frozen=True)
class Kernel:
    """A public kernel and what tests and benchmarks need to know about it.

    Attributes
    ----------
    name : str
        The public name (``crossentropy.<name>``).
    ufunc : numpy.ufunc
        The gufunc.
    reference : callable
        Its float64 NumPy twin in ``crossentropy._reference`` (same name, same arguments).
    family : str
        One of ``FAMILIES``: what the kernel takes (see the module docstring).
    with_grad : bool
        Whether it returns ``(loss, grad)``.
    dtypes : tuple of numpy.dtype
        The float types it has loops for, in loop order.
    label_dtypes : tuple of numpy.dtype
        The label types (sparse family), in loop order; empty otherwise.
    """

    name: str
    ufunc: np.ufunc
    reference: Callable
    family: str
    with_grad: bool
    dtypes: tuple
    label_dtypes: tuple = ()

    @property
    def signature(self):
        return self.ufunc.signature

    @property
    def loss_name(self):
        """The loss-only kernel of a fused one (``sparse_softmax_cross_entropy`` for ``..._and_grad``)."""
        return self.name.removesuffix("_and_grad")

    def inputs(self, rng, shape, dtype, label_dtype=np.int64):
        """Valid example inputs for a problem of ``shape`` (batch dims + classes; element-wise: any shape)."""
        x = (rng.standard_normal(shape) * 3).astype(dtype)
        if self.family == "transform":
            return (x,)
        if self.family == "dense":
            return x, rng.random(shape).astype(dtype)
        if self.family == "sparse":
            return x, rng.integers(0, max(shape[-1], 1), shape[:-1]).astype(label_dtype)
        return x, rng.random(shape).astype(dtype)


def _build():
    kernels = {}
    for row in _gufuncs.GUFUNC_TABLE:
        name, kind = row[0], row[2]
        if kind not in _LOOP_KIND_FAMILY:
            raise ImportError(f"crossentropy._registry: gufunc {name!r} has loop kind {kind!r} with no family")
        reference = getattr(_reference, name, None)
        if reference is None:
            raise ImportError(f"crossentropy._registry: gufunc {name!r} has no twin crossentropy._reference.{name}")
        family, with_grad = _LOOP_KIND_FAMILY[kind]
        ufunc = _gufuncs.GUFUNCS[name]
        dtypes = tuple(dict.fromkeys(np.dtype(t[0]) for t in ufunc.types))
        labels = tuple(dict.fromkeys(np.dtype(t[1]) for t in ufunc.types)) if family == "sparse" else ()
        kernels[name] = Kernel(name, ufunc, reference, family, with_grad, dtypes, labels)
    return kernels


KERNELS = _build()


def kernels(family=None, with_grad=None):
    """The registered kernels, in table order, optionally only one family and/or with(out) a gradient.

    Parameters
    ----------
    family : str, optional
        One of ``FAMILIES``.
    with_grad : bool, optional
        Only fused loss-and-gradient kernels (True) or only the others (False).

    Returns
    -------
    list of Kernel

    Examples
    --------
    >>> [k.name for k in kernels("sparse")]
    ['sparse_softmax_cross_entropy', 'sparse_softmax_cross_entropy_and_grad']
    """
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    return [
        k
        for k in KERNELS.values()
        if (family is None or k.family == family) and (with_grad is None or k.with_grad == with_grad)
    ]
