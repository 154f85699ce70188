# Type stubs for the compiled kernel driver.
from typing import Any

import numpy as np
import numpy.typing as npt

Counts = dict[str, int]

def set_num_threads(n: int | None = ...) -> None: ...
def get_num_threads() -> int: ...
def openmp_info() -> dict[str, Any]: ...
def _set_min_work_per_thread(n: int | None = ...) -> None: ...
def _serial_begin() -> None: ...
def _serial_end() -> None: ...
def row_dtype(dtype: npt.DTypeLike) -> np.dtype[Any]: ...

# The three row kernels share one argument order: (x, loss, *, t=None, labels=None, <options>, row_scale, grad).
def softmax_xent_rows(
    x: npt.NDArray[np.floating],
    loss: npt.NDArray[np.floating],
    *,
    t: npt.NDArray[np.floating] | None = ...,
    labels: npt.NDArray[np.integer] | None = ...,
    class_vector: npt.NDArray[np.floating] | None = ...,
    a: float = ...,
    b: float = ...,
    c: float = ...,
    ignore: int | None = ...,
    log_probs: bool = ...,
    tf_op_grad: bool = ...,
    row_scale: npt.NDArray[np.floating] | None = ...,
    grad: npt.NDArray[np.floating] | None = ...,
) -> Counts: ...
def prob_xent_rows(
    x: npt.NDArray[np.floating],
    loss: npt.NDArray[np.floating],
    *,
    t: npt.NDArray[np.floating] | None = ...,
    labels: npt.NDArray[np.integer] | None = ...,
    class_vector: npt.NDArray[np.floating] | None = ...,
    a: float = ...,
    b: float = ...,
    eps: float = ...,
    focal: bool = ...,
    alpha: float = ...,
    gamma: float = ...,
    from_logits: bool = ...,
    ignore: int | None = ...,
    check: bool = ...,
    clip_tie: float = ...,
    row_scale: npt.NDArray[np.floating] | None = ...,
    grad: npt.NDArray[np.floating] | None = ...,
) -> Counts: ...
def binary_xent_rows(
    x: npt.NDArray[np.floating],
    loss: npt.NDArray[np.floating],
    *,
    t: npt.NDArray[np.floating],
    mode: str,
    weight: npt.NDArray[np.floating] | None = ...,
    pos_weight: npt.NDArray[np.floating] | None = ...,
    za: float = ...,
    zb: float = ...,
    eps: float = ...,
    alpha: float = ...,
    gamma: float = ...,
    from_logits: bool = ...,
    balance: bool = ...,
    row_divisor: float = ...,
    grad_scale: float = ...,
    check: bool = ...,
    clip_tie: float = ...,
    row_scale: npt.NDArray[np.floating] | None = ...,
    grad: npt.NDArray[np.floating] | None = ...,
) -> Counts: ...
def lm_token_stats_rows(
    x: npt.NDArray[np.floating],
    nll: npt.NDArray[np.floating],
    *,
    labels: npt.NDArray[np.integer],
    lse: npt.NDArray[np.floating],
    entropy: npt.NDArray[np.floating],
    rank: npt.NDArray[np.int64],
    ignore: int | None = ...,
    softcap: float | None = ...,
) -> Counts: ...
def lm_xent_rows(
    x: npt.NDArray[np.floating],
    loss: npt.NDArray[np.floating],
    *,
    labels: npt.NDArray[np.integer],
    ignore: int | None = ...,
    softcap: float | None = ...,
    label_smoothing: float = ...,
    z_loss: float = ...,
    grad_scale: float = ...,
    grad: npt.NDArray[np.floating] | None = ...,
) -> Counts: ...
def row_stats_rows(
    x: npt.NDArray[np.floating],
    *,
    row_min: npt.NDArray[np.floating] | None = ...,
    row_max: npt.NDArray[np.floating] | None = ...,
    row_sum: npt.NDArray[np.floating] | None = ...,
    labels: npt.NDArray[np.integer] | None = ...,
    picked: npt.NDArray[np.floating] | None = ...,
    clip: tuple[float, float] | None = ...,
) -> Counts: ...
