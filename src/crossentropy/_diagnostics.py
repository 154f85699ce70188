"""ProbabilityWarning: raised from the row flags the probability kernels already compute (no extra pass)."""

import warnings

# kind -> message template; {argument}, {count} and {rows} are the warning's attributes
_MESSAGES = {
    "out_of_unit": (
        "{argument}: {count} of {rows} rows have values outside [0, 1]; these look like logits, not "
        "probabilities - pass from_logits=True (the result is computed as given)."
    ),
    "not_normalised": (
        "{argument}: {count} of {rows} rows do not sum to 1 (beyond 1e-3); like Keras, each row "
        "is divided by its sum first, so the value differs from -sum(y_true * log(y_pred))."
    ),
}


class ProbabilityWarning(UserWarning):
    """Probability inputs that do not look like probabilities.

    Raised (through :mod:`warnings`) by the probability-input paths; the result is computed as given, so
    standard warning filters silence it without changing anything.

    Parameters
    ----------
    message : str, optional
        The text; composed from ``kind``, ``argument``, ``count`` and ``rows`` when omitted.
    kind : {"out_of_unit", "not_normalised"}, optional
        What was seen: values outside [0, 1] (probably logits), or rows that do not sum to 1.
    count : int, optional
        How many rows showed it.
    rows : int, optional
        How many rows were checked.
    argument : str, optional
        The argument the rows belong to (``"y_pred"``, ``"input"``).

    Attributes
    ----------
    kind, count, rows, argument
        As given; code that counts rows reads these instead of the text.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> import crossentropy as ce
    >>> from crossentropy import keras as K
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = K.categorical_crossentropy(np.eye(2), np.array([[0.9, 0.3], [0.2, 0.8]]))
    >>> w = caught[0].message
    >>> isinstance(w, ce.ProbabilityWarning), w.kind, w.count, w.rows
    (True, 'not_normalised', 1, 2)
    """

    def __init__(self, message=None, *, kind=None, count=None, rows=None, argument=None):
        self.kind, self.count, self.rows, self.argument = kind, count, rows, argument
        if message is None:
            if kind not in _MESSAGES:
                raise ValueError(f"kind must be one of {tuple(_MESSAGES)} when no message is given, got {kind!r}")
            message = _MESSAGES[kind].format(argument=argument, count=count, rows=rows)
        super().__init__(message)

    def __reduce__(self):  # keep the attributes through pickling (multiprocessing, dask workers)
        return (_rebuild, (type(self), self.args, self.kind, self.count, self.rows, self.argument))


def _rebuild(cls, args, kind, count, rows, argument):
    return cls(*args, kind=kind, count=count, rows=rows, argument=argument)


def warn_probabilities(counts, n_rows, argument, *, rescaled, stacklevel=3):
    """Warn about the rows the kernel flagged.  ``rescaled``: the semantics divide each row by its sum
    (Keras), so a row not summing to 1 changes the value compared with the plain formula."""
    kinds = ("out_of_unit", "not_normalised") if rescaled else ("out_of_unit",)
    for kind in kinds:
        if counts.get(kind):
            warnings.warn(
                ProbabilityWarning(kind=kind, count=int(counts[kind]), rows=int(n_rows), argument=argument),
                stacklevel=stacklevel,
            )
