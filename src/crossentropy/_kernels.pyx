# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The kernel driver: runs a row function over all rows with OpenMP, and the thread policy.

Both the gufunc inner loops (_gufuncs.pyx) and the framework layers (keras.py, torch.py, tf.py) end here:
the layers call the ``*_rows`` functions below with 2-D views and the parameters their semantics need, so
no layer ever touches N x C data itself.
"""
import operator
import os

import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange
from libc.stdint cimport int64_t

cnp.import_array()

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CE_HAVE_OPENMP 1
    #else
    #define CE_HAVE_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    """
    int CE_HAVE_OPENMP
    int omp_get_max_threads() nogil

# The process-wide budget of OpenMP worker threads.  Each Python thread that enters a parallel region is
# the master of its own team (GNU OpenMP keeps one pool per master thread), so 8 Python threads calling
# kernels with 2 threads each would run 16 threads.  A kernel therefore reserves its extra workers from
# one budget of (threads - 1) shared by all callers and runs serially when none are free: at most
# (number of calling threads) + (threads - 1) threads compute at any time.  Results do not depend on it.
cdef extern from *:
    """
    static int ce_busy_workers = 0, ce_peak_workers = 0;
    /* > 0 while this thread's calls run serially (_serial_begin): a mark per calling thread, not a setting */
    static _Thread_local int ce_serial_depth = 0;
    static int ce_reserve_workers(int want, int budget)
    {
        int got = 0;
    #ifdef _OPENMP
        #pragma omp critical(ce_worker_budget)
        {
            got = budget - ce_busy_workers;
            got = got < want ? got : want;
            got = got > 0 ? got : 0;
            ce_busy_workers += got;
            if (ce_busy_workers > ce_peak_workers) ce_peak_workers = ce_busy_workers;
        }
    #endif
        return got;
    }
    static void ce_release_workers(int n)
    {
    #ifdef _OPENMP
        #pragma omp critical(ce_worker_budget)
        ce_busy_workers -= n;
    #endif
    }
    """
    int ce_reserve_workers(int want, int budget) nogil
    void ce_release_workers(int n) nogil
    int ce_busy_workers, ce_peak_workers
    int ce_serial_depth


# ---- thread policy ------------------------------------------------------------------------------------
cdef int _requested_threads = 0          # 0: follow OpenMP (OMP_NUM_THREADS, threadpoolctl)
cdef int _cpu_count = max(
    1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
cdef bint _in_forked_child = False       # GNU OpenMP's pool does not survive fork(): run serially there
# Below this many elements per thread a thread team costs more than it saves.  Measured on a 2-core
# EPYC (sparse forward, float32): 4k elements 0.7x with 2 threads, 16k 1.4x, 64k 1.8x; team start-up
# is ~2 us against ~0.5-1 ns per element.
DEF DEFAULT_MIN_WORK = 8192
cdef npy_intp _min_work_per_thread = DEFAULT_MIN_WORK


def _after_fork_in_child():
    global _in_forked_child
    _in_forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


cdef inline int _max_threads() noexcept nogil:
    cdef int n
    if _in_forked_child or ce_serial_depth > 0:
        return 1
    if _requested_threads > 0:
        return _requested_threads
    n = omp_get_max_threads()
    return n if n < _cpu_count else _cpu_count


cdef inline int _threads_for(npy_intp rows, npy_intp cols) noexcept nogil:
    # in floating point: rows * (cols + 8) overflows npy_intp for huge stride-0 (broadcast) inputs
    cdef double by_work = (<double>rows * (<double>cols + 8.0)) / <double>_min_work_per_thread
    cdef npy_intp nt = _max_threads()
    if by_work < nt:
        nt = <npy_intp>by_work
    if rows < nt:
        nt = rows
    return <int>nt if nt > 1 else 1


def set_num_threads(n=None):
    """Use at most ``n`` threads in every kernel, process-wide.

    Parameters
    ----------
    n : int or None
        The thread limit; ``None`` or 0 follows OpenMP (``OMP_NUM_THREADS``, threadpoolctl).  Small inputs always
        run on one thread.

    Raises
    ------
    TypeError
        ``n`` is not an integer.
    ValueError
        ``n`` is negative, or more than 4 x the CPUs available (and more than 64).

    Examples
    --------
    >>> import crossentropy as ce
    >>> ce.set_num_threads(1); ce.get_num_threads()
    1
    >>> ce.set_num_threads(None)
    """
    global _requested_threads
    if n is None:
        n = 0
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an integer or None, got {type(n).__name__}") from None
    if n < 0:
        raise ValueError(f"n must be >= 0 or None, got {n}")
    # GNU OpenMP ends the process when it cannot create a thread: refuse absurd requests here instead
    if n > _thread_request_limit():
        raise ValueError(f"n={n} is too many threads: at most {_thread_request_limit()} "
                         f"(4 x the {_cpu_count} CPUs available, and at least 64)")
    _requested_threads = n


def _thread_request_limit():
    return max(64, 4 * _cpu_count)


def get_num_threads():
    """The number of threads a large input is computed with.

    Returns
    -------
    int
        ``set_num_threads``' limit if one is set, else OpenMP's, capped by the CPUs available.
    """
    return _max_threads()


def _serial_begin():
    """From here to the matching ``_serial_end``, kernels called from this thread run on it alone; other
    threads and the ``set_num_threads`` setting are left as they are.  Pairs nest."""
    global ce_serial_depth
    ce_serial_depth += 1


def _serial_end():
    global ce_serial_depth
    if ce_serial_depth > 0:
        ce_serial_depth -= 1


def _set_min_work_per_thread(n=None):
    """Tuning knob for tests and benchmarks: elements of work below which a thread is not started
    (None: the measured default)."""
    global _min_work_per_thread
    _min_work_per_thread = DEFAULT_MIN_WORK if n is None else max(1, int(n))


def openmp_info():
    return {"openmp": bool(CE_HAVE_OPENMP), "simd_clones": bool(CE_HAVE_CLONES),
            "simd_path": ce_simd_path().decode(), "float16_path": ce_float16_path().decode(),
            "bfloat16_path": ce_bfloat16_path().decode(), "row_prefetch": ce_row_prefetch().decode(),
            "omp_max_threads": int(omp_get_max_threads()),
            "cpu_count": int(_cpu_count), "min_work_per_thread": int(_min_work_per_thread),
            "forked_child": bool(_in_forked_child)}


def _worker_budget(reset_peak=False):
    """(OpenMP workers busy now, most ever busy at once) under the shared budget (tests)."""
    global ce_peak_workers
    cdef int busy = ce_busy_workers, peak = ce_peak_workers
    if reset_peak:
        ce_peak_workers = busy
    return busy, peak


# ---- the driver -------------------------------------------------------------------------------------
cdef ce_counts run_rows(ce_row_fn fn, const void *problem, npy_intp rows, npy_intp cols) noexcept nogil:
    """Run ``fn`` over rows (in parallel when the work is large) and count the flags rows returned.
    Floating-point flags raised by the row math are discarded: results say what went wrong (NaN), and
    callers raise the flags they mean (a bad label) themselves."""
    cdef ce_counts counts
    cdef npy_intp i, bad = 0, not_norm = 0, oou = 0, nomem = 0
    cdef int ret, extra = 0, nt = _threads_for(rows, cols)
    cdef ce_fp_flags saved
    if nt > 1:   # take the extra workers from the process-wide budget (see ce_reserve_workers)
        extra = ce_reserve_workers(nt - 1, _max_threads() - 1)
        nt = 1 + extra
    ce_fp_flags_save(&saved)
    if nt <= 1:
        for i in range(rows):
            ret = fn(problem, i)
            if ret:
                bad += (ret >> CE_COUNT_SHIFT) if ret >> CE_COUNT_SHIFT else (ret & CE_ROW_BAD_LABEL)
                not_norm += (ret & CE_ROW_NOT_NORMALISED) != 0
                oou += (ret & CE_ROW_OUT_OF_UNIT) != 0
                nomem += (ret & CE_ROW_NO_MEMORY) != 0
    else:
        for i in prange(rows, num_threads=nt, schedule="static"):
            ret = fn(problem, i)
            bad += (ret >> CE_COUNT_SHIFT) if ret >> CE_COUNT_SHIFT else (ret & CE_ROW_BAD_LABEL)
            not_norm += (ret & CE_ROW_NOT_NORMALISED) != 0
            oou += (ret & CE_ROW_OUT_OF_UNIT) != 0
            nomem += (ret & CE_ROW_NO_MEMORY) != 0
    if extra:
        ce_release_workers(extra)
    ce_fp_flags_restore(&saved)
    counts.bad_label = bad
    counts.not_normalised = not_norm
    counts.out_of_unit = oou
    counts.no_memory = nomem
    return counts


cdef inline npy_intp rows_per_thread(npy_intp rows, npy_intp cols) noexcept nogil:
    # the rows of a block of xent_rows / transform_rows: one block per thread (ce_block_rows)
    cdef npy_intp nt = _threads_for(rows, cols)
    return (rows + nt - 1) // nt if rows > 0 else 1


cdef ce_counts run_xent(const ce_xent_problem *p, const ce_dtype_kernels *k) noexcept nogil:
    """Softmax cross-entropy: float rows with strided classes (logits, targets or gradient), adjacent strided
    rows and few-class half rows go through contiguous block buffers, few-class contiguous problems go
    block-wise (exp vectorised across rows), the rest in blocks of consecutive rows."""
    cdef npy_intp blocks = (p.rows + CE_BLOCK_ROWS - 1) // CE_BLOCK_ROWS
    cdef npy_intp tb = ce_tblock_rows(p.cols, p.x_rs, p.x_cs)
    cdef ce_xent_problem q
    # float rows with strided classes are gathered into contiguous blocks, so that they run the contiguous
    # rows' kernels and give their results bit for bit (half rows are staged through contiguous float32 rows
    # anyway); half types with few classes also go block-wise: a block is widened once, then runs the float32
    # path
    cdef bint strided = k.itemsize != 2 and (
        p.x_cs != k.itemsize or (p.t != NULL and p.t_cs != k.itemsize)
        or (p.grad != NULL and p.g_cs != k.out_itemsize))
    if (strided or ce_rows_adjacent(p.rows, p.cols, p.x_rs, p.x_cs, k.itemsize)
            or (k.itemsize == 2 and p.cols <= CE_BLOCK_COLS)):
        return run_rows(k.xent_tblock, p, (p.rows + tb - 1) // tb, p.cols * tb)
    if k.xent_small_ok(p):
        return run_rows(k.xent_small_block, p, blocks, p.cols * CE_BLOCK_ROWS)
    # blocks of rows: each row's sweep also takes the next row's max (its read overlaps this row's exps)
    q = p[0]
    q.pipe_rows = rows_per_thread(p.rows, p.cols)
    return run_rows(k.xent_rows, &q, (q.rows + q.pipe_rows - 1) // q.pipe_rows, q.cols * q.pipe_rows)


cdef inline bint transform_few_in_any_layout(const ce_transform_problem *p, const ce_dtype_kernels *k) noexcept nogil:
    """Whether p's rows, gathered into contiguous rows (transform_tblock), run the few-class block kernel."""
    cdef ce_transform_problem q = p[0]
    q.x_cs = k.itemsize
    q.y_cs = k.out_itemsize
    return k.transform_small_ok(&q)


cdef ce_counts run_transform(const ce_transform_problem *p, const ce_dtype_kernels *k) noexcept nogil:
    """logsumexp / softmax / log_softmax: float rows with strided classes (input or output), adjacent strided
    rows and few-class half rows go through contiguous block buffers, few-class contiguous problems go
    block-wise (exp vectorised across rows)."""
    cdef npy_intp tb = ce_tblock_rows(p.cols, p.x_rs, p.x_cs)
    cdef bint few = k.transform_small_ok(p)
    # as run_xent: float rows with strided classes are gathered (the contiguous rows' results), few-class half
    # rows in any layout widened a block at a time to run the float32 block kernel
    cdef bint strided = k.itemsize != 2 and (
        p.x_cs != k.itemsize or (p.what != CE_ROW_LSE and p.y_cs != k.out_itemsize))
    cdef bint half_few = k.itemsize == 2 and (few or transform_few_in_any_layout(p, k))
    if strided or half_few or ce_rows_adjacent(p.rows, p.cols, p.x_rs, p.x_cs, k.itemsize):
        return run_rows(k.transform_tblock, p, (p.rows + tb - 1) // tb, p.cols * tb)
    if few:
        return run_rows(k.transform_small_block, p, (p.rows + CE_BLOCK_ROWS - 1) // CE_BLOCK_ROWS,
                        p.cols * CE_BLOCK_ROWS)
    # blocks of rows: logsumexp rows (and long softmax / log_softmax rows) also take the next row's max in
    # their sweep, its read overlapping this row's exps (ce_transform_rows)
    cdef ce_transform_problem q = p[0]
    q.pipe_rows = rows_per_thread(p.rows, p.cols)
    return run_rows(k.transform_rows, &q, (q.rows + q.pipe_rows - 1) // q.pipe_rows, q.cols * q.pipe_rows)


cdef ce_counts run_stats(const ce_stats_problem *p, const ce_dtype_kernels *k) noexcept nogil:
    """Row statistics; short rows go CE_BLOCK_ROWS to a call."""
    if p.cols <= CE_SMALL_COLS:
        return run_rows(k.stats_small_block, p, (p.rows + CE_BLOCK_ROWS - 1) // CE_BLOCK_ROWS,
                        p.cols * CE_BLOCK_ROWS)
    return run_rows(k.stats_row, p, p.rows, p.cols)


# ---- Python entry points for the framework layers ----------------------------------------------------
# Each takes 2-D views (rows x classes, any strides), checks every shape, dtype and stride it will touch
# (so no caller can make it read out of bounds), fills a problem struct and runs it.

cdef const ce_dtype_kernels *_kernels_of(cnp.ndarray x, str name, object grad=None) except NULL:
    """The kernel table entry for x's element type (and, for half x, the gradient's: x's own or float32):
    the one place the drivers dispatch on dtype."""
    cdef const ce_dtype_kernels *k = ce_kernels_for(x.dtype.num)
    if k == NULL:
        raise TypeError(f"{name} must be float32, float64, float16 or bfloat16, got {x.dtype}")
    if not x.dtype.isnative:
        raise TypeError(f"{name} must be in native byte order")
    if grad is not None and k.itemsize == 2 and isinstance(grad, np.ndarray) and grad.dtype == np.float32:
        k = ce_kernels_for_out(x.dtype.num, cnp.NPY_FLOAT32)
    return k


def _set_bfloat16_type_num(int type_num):
    """ml_dtypes' bfloat16 type number, for this module's copy of the row math (see _gufuncs.register_bfloat16)."""
    ce_set_bfloat16_type_num(type_num)


def row_dtype(dtype):
    """The dtype of per-row results and row scales for inputs of ``dtype``: float32 for the half types."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype.itemsize == 2 else dtype


cdef cnp.ndarray _arr(object a, str name, tuple shape, object dtype, bint out=False):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if (<object>arr).shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {(<object>arr).shape}")
    if dtype is not None and arr.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {arr.dtype}")
    if not cnp.PyArray_ISALIGNED(arr):
        raise ValueError(f"{name} must be aligned")
    if out and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{name} must be writeable")
    return arr


cdef inline const char *_ptr(cnp.ndarray a):
    return <const char *>cnp.PyArray_DATA(a) if a is not None else NULL


cdef inline npy_intp _st(cnp.ndarray a, int axis):
    return cnp.PyArray_STRIDE(a, axis) if a is not None else 0


cdef cnp.ndarray _labels(object labels, npy_intp rows, int *is64):
    if labels is None:
        return None
    cdef cnp.ndarray lab = _arr(labels, "labels", (rows,), None)
    if lab.dtype == np.int64 and lab.dtype.isnative:
        is64[0] = 1
    elif lab.dtype == np.int32 and lab.dtype.isnative:
        is64[0] = 0
    else:
        raise TypeError(f"labels must be int32 or int64, got {lab.dtype}")
    return lab


cdef int64_t _ignore_value(object ignore) except? -1:
    """The label to ignore; CE_NO_LABEL (INT64_MIN) is the kernels' "nothing ignored", so it cannot be one."""
    if ignore is None:
        return CE_NO_LABEL
    ignore = operator.index(ignore)
    if not CE_NO_LABEL < ignore <= 0x7FFFFFFFFFFFFFFF:
        raise ValueError(f"ignore={ignore} is outside the labels that can be ignored, (-2**63, 2**63)")
    return <int64_t>ignore


cdef dict _counts_dict(ce_counts c):
    return {"bad_label": c.bad_label, "not_normalised": c.not_normalised, "out_of_unit": c.out_of_unit}


ctypedef fused label_problem:
    ce_xent_problem
    ce_prob_problem


cdef const ce_dtype_kernels *_fill_label_problem(label_problem *p, x, loss, t, labels, class_vector, row_scale,
                                                 grad, ignore) except NULL:
    """Check the operands the softmax and probability kernels share and point ``p`` (already initialised)
    at them.  Returns the dtype's kernels (the arrays stay alive in the caller's arguments)."""
    cdef cnp.ndarray X = _arr(x, "x", np.shape(x)[:2] if np.ndim(x) == 2 else (-1, -1), None)
    cdef const ce_dtype_kernels *k = _kernels_of(X, "x", grad)
    dt = X.dtype
    rdt = row_dtype(dt)
    gdt = np.float32 if k.out_itemsize != k.itemsize else dt
    cdef npy_intp rows = X.shape[0], cols = X.shape[1]
    cdef int is64 = 0
    cdef cnp.ndarray T = _arr(t, "t", (rows, cols), dt) if t is not None else None
    cdef cnp.ndarray LAB = _labels(labels, rows, &is64)
    cdef cnp.ndarray V = _arr(class_vector, "class_vector", (cols,), dt) if class_vector is not None else None
    cdef cnp.ndarray R = _arr(row_scale, "row_scale", (rows,), rdt) if row_scale is not None else None
    cdef cnp.ndarray L = _arr(loss, "loss", (rows,), rdt, True)
    cdef cnp.ndarray G = _arr(grad, "grad", (rows, cols), gdt, True) if grad is not None else None
    p.rows = rows; p.cols = cols
    p.x = _ptr(X); p.x_rs = _st(X, 0); p.x_cs = _st(X, 1)
    p.t = _ptr(T); p.t_rs = _st(T, 0); p.t_cs = _st(T, 1)
    p.lab = _ptr(LAB); p.lab_rs = _st(LAB, 0); p.lab_is64 = is64
    p.v = _ptr(V); p.v_cs = _st(V, 0)
    p.r = _ptr(R); p.r_rs = _st(R, 0)
    p.loss = <char *>_ptr(L); p.loss_rs = _st(L, 0)
    p.grad = <char *>_ptr(G); p.g_rs = _st(G, 0); p.g_cs = _st(G, 1)
    p.ignore = _ignore_value(ignore)
    return k


# The three row kernels share one argument order: (x, loss, *, t=None, labels=None, <loss options>,
# row_scale=None, grad=None).

def softmax_xent_rows(x, loss, *, t=None, labels=None, class_vector=None, double a=1.0, double b=0.0,
                      double c=1.0, ignore=None, bint log_probs=False, bint tf_op_grad=False, row_scale=None,
                      grad=None):
    """Softmax cross-entropy of each row of ``x`` (rows x cols) against t'_j = v_j (a t_j + b + c [j == label]).

    Writes ``loss`` (rows,) and, if given, ``grad`` (rows x cols) = row_scale * (sum(t') softmax - t').
    ``log_probs``: x already holds log-probabilities (no log-softmax).  ``tf_op_grad``: grad = row_scale *
    (softmax - t'), what TF's SoftmaxCrossEntropyWithLogits op returns.  Returns flag counts."""
    cdef ce_xent_problem p
    ce_xent_problem_init(&p)
    cdef const ce_dtype_kernels *k = _fill_label_problem(&p, x, loss, t, labels, class_vector, row_scale, grad,
                                                         ignore)
    p.a = a; p.b = b; p.c = c
    p.mode = CE_XENT_LOG_PROBS if log_probs else (CE_XENT_LOGITS_TF_OP if tf_op_grad else CE_XENT_LOGITS)
    cdef ce_counts counts
    with nogil:
        counts = run_xent(&p, k)
    return _counts_dict(counts)


def prob_xent_rows(x, loss, *, t=None, labels=None, class_vector=None, double a=1.0, double b=0.0,
                   double eps=1e-7, bint focal=False, double alpha=0.25, double gamma=2.0, bint from_logits=False,
                   ignore=None, bint check=True, double clip_tie=0.0, row_scale=None, grad=None):
    """Cross-entropy of probability rows, rescaled by their sum and clipped to [eps, 1-eps] (optionally
    after a softmax, optionally focal), against t'_j = v_j (a t_j + b (+ [j == label])).  ``clip_tie``: the
    share of the gradient passed where a value equals a clip bound (JAX's clip: 0.5).  Returns flag counts."""
    cdef ce_prob_problem p
    ce_prob_problem_init(&p)
    cdef const ce_dtype_kernels *k = _fill_label_problem(&p, x, loss, t, labels, class_vector, row_scale, grad,
                                                         ignore)
    p.a = a; p.b = b; p.eps = eps; p.alpha = alpha; p.gamma = gamma; p.clip_tie = clip_tie
    p.focal = focal; p.from_logits = from_logits; p.check = check
    cdef ce_counts counts
    with nogil:
        counts = run_rows(k.prob_row, &p, p.rows, p.cols)
    return _counts_dict(counts)


_BINARY_LOSSES = {"logits_tf": CE_BIN_LOGITS_TF, "logits_torch": CE_BIN_LOGITS_TORCH,
                  "prob_clip": CE_BIN_PROB_CLIP, "prob_torch": CE_BIN_PROB_TORCH, "focal": CE_BIN_FOCAL,
                  "logits_tf_weighted": CE_BIN_LOGITS_TF_WEIGHTED, "logits_keras": CE_BIN_LOGITS_KERAS}


def binary_xent_rows(x, loss, *, t, str mode, weight=None, pos_weight=None, double za=1.0, double zb=0.0,
                     double eps=1e-7, double alpha=0.25, double gamma=2.0, bint from_logits=False,
                     bint balance=False, double row_divisor=1.0, double grad_scale=1.0, bint check=False,
                     double clip_tie=0.0, row_scale=None, grad=None):
    """Element-wise binary cross-entropy of ``x`` against the targets ``t`` (both rows x cols; weight and
    pos_weight too, broadcast views welcome).  ``loss`` is (rows,) for the row sum / row_divisor, or
    (rows, cols) for element-wise values.  grad = row_scale * grad_scale * d loss / d x.  Returns flag
    counts."""
    cdef cnp.ndarray X = _arr(x, "x", np.shape(x)[:2] if np.ndim(x) == 2 else (-1, -1), None)
    cdef const ce_dtype_kernels *k = _kernels_of(X, "x", grad)
    dt = X.dtype
    rdt = row_dtype(dt)
    gdt = np.float32 if k.out_itemsize != k.itemsize else dt
    cdef npy_intp rows = X.shape[0], cols = X.shape[1]
    cdef cnp.ndarray Z = _arr(t, "t", (rows, cols), dt)
    cdef cnp.ndarray W = _arr(weight, "weight", (rows, cols), dt) if weight is not None else None
    cdef cnp.ndarray PW = _arr(pos_weight, "pos_weight", (rows, cols), dt) if pos_weight is not None else None
    cdef cnp.ndarray R = _arr(row_scale, "row_scale", (rows,), rdt) if row_scale is not None else None
    cdef bint elementwise = np.ndim(loss) == 2
    cdef cnp.ndarray L = _arr(loss, "loss", (<object>(rows, cols)) if elementwise else (<object>(rows,)), rdt, True)
    cdef cnp.ndarray G = _arr(grad, "grad", (rows, cols), gdt, True) if grad is not None else None
    if mode not in _BINARY_LOSSES:
        raise ValueError(f"mode must be one of {sorted(_BINARY_LOSSES)}, got {mode!r}")
    cdef ce_binary_problem p
    ce_binary_problem_init(&p)
    p.rows = rows; p.cols = cols
    p.x = _ptr(X); p.x_rs = _st(X, 0); p.x_cs = _st(X, 1)
    p.z = _ptr(Z); p.z_rs = _st(Z, 0); p.z_cs = _st(Z, 1)
    p.w = _ptr(W); p.w_rs = _st(W, 0); p.w_cs = _st(W, 1)
    p.pw = _ptr(PW); p.pw_rs = _st(PW, 0); p.pw_cs = _st(PW, 1)
    p.r = _ptr(R); p.r_rs = _st(R, 0)
    p.loss = <char *>_ptr(L); p.loss_rs = _st(L, 0)
    p.loss_cs = _st(L, 1) if elementwise else 0
    if elementwise and p.loss_cs == 0:   # only possible for one column; keep the element-wise mode
        p.loss_cs = L.itemsize
    p.grad = <char *>_ptr(G); p.g_rs = _st(G, 0); p.g_cs = _st(G, 1)
    p.za = za; p.zb = zb; p.eps = eps; p.alpha = alpha; p.gamma = gamma
    p.row_divisor = row_divisor; p.grad_scale = grad_scale
    p.mode = _BINARY_LOSSES[mode]; p.from_logits = from_logits; p.balance = balance; p.check = check
    p.clip_tie = clip_tie   # prob_clip / focal: share of the gradient where p equals a clip bound
    cdef ce_counts counts
    with nogil:
        counts = run_rows(k.binary_row, &p, rows, cols)
    return _counts_dict(counts)


# ---- language-model rows (crossentropy.lm) ----------------------------------------------------------
def _signal_bad_labels(str name, npy_intp count):
    """NaN rows from labels outside [0, n): NumPy's 'invalid value' signal, under np.errstate's policy."""
    policy = np.geterr()["invalid"]
    msg = f"invalid value encountered in {name}: {count} label(s) outside [0, n) gave NaN"
    if policy == "raise":
        raise FloatingPointError(msg)
    if policy == "warn":
        import warnings
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
    elif policy == "call":
        handler = np.geterrcall()
        if handler is not None:
            handler.write(msg) if hasattr(handler, "write") else handler("invalid", 8)
    elif policy == "print" or policy == "log":
        print(msg)


cdef const ce_dtype_kernels *_lm_fill(ce_lm_problem *p, x, labels, ignore, softcap) except NULL:
    """Initialise ``p`` and point it at the operands both language-model kernels read; returns the dtype's
    kernels.  Float outputs are in the compute type: float64 for float64 rows, float32 otherwise."""
    cdef cnp.ndarray X = _arr(x, "x", np.shape(x)[:2] if np.ndim(x) == 2 else (-1, -1), None)
    cdef const ce_dtype_kernels *k = _kernels_of(X, "x")
    if labels is None:
        raise TypeError("labels are required")
    cdef int is64 = 0
    cdef cnp.ndarray LAB = _labels(labels, X.shape[0], &is64)
    ce_lm_problem_init(p)
    p.rows = X.shape[0]; p.cols = X.shape[1]
    p.x = _ptr(X); p.x_rs = _st(X, 0); p.x_cs = _st(X, 1)
    p.lab = _ptr(LAB); p.lab_rs = _st(LAB, 0); p.lab_is64 = is64
    p.ignore = _ignore_value(ignore)
    if softcap is not None:
        if not softcap > 0:
            raise ValueError(f"softcap must be > 0, got {softcap}")
        p.softcap = softcap
    return k


def lm_token_stats_rows(x, nll, *, labels, lse, entropy, rank, ignore=None, softcap=None):
    """Token statistics of each row of ``x`` (rows x cols) against its label, from one read of the row:
    writes ``nll``, ``lse``, ``entropy`` (rows,) in the compute dtype (float64 for float64 x, else float32)
    and ``rank`` (rows,) int64.  A label outside [0, cols) that is not ``ignore`` gives NaN nll, rank -1 and
    NumPy's 'invalid value' signal (np.errstate decides).  Returns flag counts."""
    cdef ce_lm_problem p
    cdef const ce_dtype_kernels *k = _lm_fill(&p, x, labels, ignore, softcap)
    dt = row_dtype(x.dtype)
    cdef npy_intp rows = p.rows
    cdef cnp.ndarray N = _arr(nll, "nll", (rows,), dt, True)
    cdef cnp.ndarray S = _arr(lse, "lse", (rows,), dt, True)
    cdef cnp.ndarray E = _arr(entropy, "entropy", (rows,), dt, True)
    cdef cnp.ndarray R = _arr(rank, "rank", (rows,), np.int64, True)
    p.what = CE_LM_STATS
    p.nll = <char *>_ptr(N); p.nll_rs = _st(N, 0)
    p.lse = <char *>_ptr(S); p.lse_rs = _st(S, 0)
    p.ent = <char *>_ptr(E); p.ent_rs = _st(E, 0)
    p.rank = <char *>_ptr(R); p.rank_rs = _st(R, 0)
    cdef ce_counts counts
    with nogil:
        counts = run_rows(k.lm_row, &p, p.rows, p.cols)
    if counts.bad_label:
        _signal_bad_labels("lm_token_stats_rows", counts.bad_label)
    return _counts_dict(counts)


def lm_xent_rows(x, loss, *, labels, ignore=None, softcap=None, double label_smoothing=0.0, double z_loss=0.0,
                 double grad_scale=1.0, grad=None):
    """Liger's language-model loss of each row of ``x`` (soft-capping, z-loss, label smoothing; ``loss``
    (rows,) in the compute dtype) and, if ``grad`` is given (x's shape and dtype), grad_scale * d loss / d x,
    in one kernel call.  Ignored rows give 0 and a zero gradient; a label outside [0, cols) NaN and NumPy's
    'invalid value' signal.  Returns flag counts."""
    cdef ce_lm_problem p
    cdef const ce_dtype_kernels *k = _lm_fill(&p, x, labels, ignore, softcap)
    cdef npy_intp rows = p.rows, cols = p.cols
    cdef cnp.ndarray L = _arr(loss, "loss", (rows,), row_dtype(x.dtype), True)
    cdef cnp.ndarray G = _arr(grad, "grad", (rows, cols), x.dtype, True) if grad is not None else None
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if not z_loss >= 0.0:
        raise ValueError(f"z_loss must be >= 0, got {z_loss}")
    p.what = CE_LM_LOSS
    p.loss = <char *>_ptr(L); p.loss_rs = _st(L, 0)
    p.grad = <char *>_ptr(G); p.g_rs = _st(G, 0); p.g_cs = _st(G, 1)
    p.smoothing = label_smoothing; p.z_loss = z_loss; p.grad_scale = grad_scale
    cdef ce_counts counts
    with nogil:
        counts = run_rows(k.lm_row, &p, p.rows, p.cols)
    if counts.bad_label:
        _signal_bad_labels("lm_xent_rows", counts.bad_label)
    return _counts_dict(counts)


# ---- row statistics ---------------------------------------------------------------------------------
def row_stats_rows(x, *, row_min=None, row_max=None, row_sum=None, labels=None, picked=None, clip=None):
    """Statistics of each row of ``x`` (rows x cols) from one read: writes ``row_min``, ``row_max`` and ``row_sum``
    (rows,) and, with ``labels`` (rows,) int32 or int64, ``picked`` (rows,) = x[i, labels[i]] clipped to
    ``clip`` = (lo, hi).  Outputs are in the compute dtype (float64 for float64 x, else float32); any may be
    None (not computed), but ``labels`` and ``picked`` come together.  A row holding a NaN gives NaN min, max
    and sum (the sum is also NaN for a row with both infinities); an empty row gives +inf, -inf and 0; a label
    outside [0, cols) gives a NaN entry and NumPy's 'invalid value' signal (np.errstate decides).  Returns flag
    counts."""
    cdef cnp.ndarray X = _arr(x, "x", np.shape(x)[:2] if np.ndim(x) == 2 else (-1, -1), None)
    cdef const ce_dtype_kernels *k = _kernels_of(X, "x")
    dt = row_dtype(X.dtype)
    cdef npy_intp rows = X.shape[0]
    cdef cnp.ndarray MN = _arr(row_min, "row_min", (rows,), dt, True) if row_min is not None else None
    cdef cnp.ndarray MX = _arr(row_max, "row_max", (rows,), dt, True) if row_max is not None else None
    cdef cnp.ndarray SM = _arr(row_sum, "row_sum", (rows,), dt, True) if row_sum is not None else None
    if (labels is None) != (picked is None):
        raise TypeError("labels and picked must be given together")
    if clip is not None and labels is None:
        raise TypeError("clip needs labels and picked")
    cdef int is64 = 0
    cdef cnp.ndarray LAB = _labels(labels, rows, &is64)
    cdef cnp.ndarray PK = _arr(picked, "picked", (rows,), dt, True) if picked is not None else None
    cdef ce_stats_problem p
    ce_stats_problem_init(&p)
    if clip is not None:
        try:
            lo, hi = (float(v) for v in clip)
        except (TypeError, ValueError):
            raise TypeError(f"clip must be a pair (lo, hi) of numbers, got {clip!r}") from None
        if not lo <= hi:
            raise ValueError(f"clip must be (lo, hi) with lo <= hi, got {clip!r}")
        p.lo = lo; p.hi = hi
    p.rows = rows; p.cols = X.shape[1]
    p.x = _ptr(X); p.x_rs = _st(X, 0); p.x_cs = _st(X, 1)
    p.lab = _ptr(LAB); p.lab_rs = _st(LAB, 0); p.lab_is64 = is64
    p.min = <char *>_ptr(MN); p.min_rs = _st(MN, 0)
    p.max = <char *>_ptr(MX); p.max_rs = _st(MX, 0)
    p.sum = <char *>_ptr(SM); p.sum_rs = _st(SM, 0)
    p.picked = <char *>_ptr(PK); p.picked_rs = _st(PK, 0)
    cdef ce_counts counts
    with nogil:
        counts = run_stats(&p, k)
    if counts.bad_label:
        _signal_bad_labels("row_stats_rows", counts.bad_label)
    return _counts_dict(counts)
