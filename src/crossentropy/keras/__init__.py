"""Keras 3 semantics on the fused kernels: the cross-entropy losses of ``keras.losses``.

The functions and classes live in :mod:`crossentropy.keras.losses` (its docstring lists what is reproduced
from Keras and what deliberately is not); they are re-exported here, as ``keras.losses`` names them.
"""

from crossentropy.keras.losses import (
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    SparseCategoricalCrossentropy,
    __all__,
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    sparse_categorical_crossentropy,
)
