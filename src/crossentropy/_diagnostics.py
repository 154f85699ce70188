"""ProbabilityWarning: raised from the row flags the probability kernels already compute (no extra pass)."""
import warnings


class ProbabilityWarning(UserWarning):
    """Probability inputs that do not look like probabilities (rows not summing to 1, values outside [0, 1])."""


def warn_probabilities(counts, n_rows, argument, *, rescaled, stacklevel=3):
    """Warn about the rows the kernel flagged.  ``rescaled``: the semantics divide each row by its sum
    (Keras), so a row not summing to 1 changes the value compared with the plain formula."""
    if counts.get("out_of_unit"):
        warnings.warn(
            f"{argument}: {counts['out_of_unit']} of {n_rows} rows have values outside [0, 1]; these look like "
            "logits, not probabilities - pass from_logits=True (the result is computed as given).",
            ProbabilityWarning, stacklevel=stacklevel)
    if rescaled and counts.get("not_normalised"):
        warnings.warn(
            f"{argument}: {counts['not_normalised']} of {n_rows} rows do not sum to 1 (beyond 1e-3); like Keras, "
            "each row is divided by its sum first, so the value differs from -sum(y_true * log(y_pred)).",
            ProbabilityWarning, stacklevel=stacklevel)
