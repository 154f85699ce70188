# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The gufunc loop table: one inner loop per signature, one entry per (gufunc, dtypes).

Inner loops only translate NumPy's (args, dims, steps) into a problem struct and hand it to the kernel
driver (``run_xent``, ``run_transform``, ``run_rows``), which picks the row function for the dtype;
the math lives in _rowmath_t.h.  Loop order matters: NumPy takes the first loop its inputs cast to
safely, so float32 comes before float64 and int32 labels before int64 (no cast copy for either).
"""
import numpy as np
cimport numpy as cnp
from numpy cimport npy_intp

# NumPy 2's loop type has const dims/steps (GCC 14 rejects a mismatch); numpy's .pxd still omits it.
cdef extern from "numpy/ufuncobject.h":
    ctypedef void (*PyUFuncGenericFunction)(char **, const npy_intp *, const npy_intp *, void *) noexcept nogil
    object PyUFunc_FromFuncAndDataAndSignature(PyUFuncGenericFunction *, void **, char *, int, int, int, int,
                                               const char *, const char *, int, const char *)

from crossentropy._kernels cimport (
    ce_counts, run_rows, run_xent, run_transform, ce_transform_problem, ce_xent_problem, ce_binary_problem,
    ce_binary_row_f32, ce_binary_row_f64, CE_ROW_LSE, CE_ROW_SOFTMAX, CE_ROW_LOG_SOFTMAX,
    CE_BIN_LOGITS_TF, CE_NO_LABEL,
)

cnp.import_array()
cnp.import_ufunc()

cdef extern from "<fenv.h>" nogil:
    int FE_INVALID
    int feraiseexcept(int excepts)


cdef struct loop_info:
    int what        # transform: CE_ROW_*
    int lab_is64
    int itemsize


# ---- inner loops ------------------------------------------------------------------------------------
cdef void transform_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (n)->() : steps [x, y, x_n];  (n)->(n) : steps [x, y, x_n, y_n]
    cdef loop_info *info = <loop_info *>data
    cdef ce_transform_problem p
    p.rows = dims[0]; p.cols = dims[1]; p.what = info.what
    p.x = args[0]; p.x_rs = steps[0]; p.x_cs = steps[2]
    p.y = args[1]; p.y_rs = steps[1]
    p.y_cs = 0 if info.what == CE_ROW_LSE else steps[3]
    run_transform(&p, info.itemsize == 8)


cdef inline void _xent_init(ce_xent_problem *p, char **args, const npy_intp *dims, const npy_intp *steps) noexcept nogil:
    p.rows = dims[0]; p.cols = dims[1]
    p.x = args[0]; p.x_rs = steps[0]
    p.t = NULL; p.t_rs = 0; p.t_cs = 0
    p.lab = NULL; p.lab_rs = 0; p.lab_is64 = 0
    p.v = NULL; p.v_cs = 0
    p.r = NULL; p.r_rs = 0
    p.loss = args[2]; p.loss_rs = steps[2]
    p.grad = NULL; p.g_rs = 0; p.g_cs = 0
    p.a = 1.0; p.b = 0.0; p.c = 1.0
    p.ignore = CE_NO_LABEL; p.mode = 0


cdef void dense_xent_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (n),(n)->() : steps [x, t, loss, x_n, t_n]
    cdef loop_info *info = <loop_info *>data
    cdef ce_xent_problem p
    _xent_init(&p, args, dims, steps)
    p.t = args[1]; p.t_rs = steps[1]
    p.x_cs = steps[3]; p.t_cs = steps[4]
    run_xent(&p, info.itemsize == 8)


cdef void dense_xent_grad_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (n),(n)->(),(n) : steps [x, t, loss, g, x_n, t_n, g_n]
    cdef loop_info *info = <loop_info *>data
    cdef ce_xent_problem p
    _xent_init(&p, args, dims, steps)
    p.t = args[1]; p.t_rs = steps[1]
    p.grad = args[3]; p.g_rs = steps[3]
    p.x_cs = steps[4]; p.t_cs = steps[5]; p.g_cs = steps[6]
    run_xent(&p, info.itemsize == 8)


cdef inline void _sparse_run(ce_xent_problem *p, loop_info *info) noexcept nogil:
    cdef ce_counts counts = run_xent(p, info.itemsize == 8)
    if counts.bad_label:
        feraiseexcept(FE_INVALID)   # from the calling thread, after the parallel region: NumPy sees it


cdef void sparse_xent_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (n),()->() : steps [x, label, loss, x_n]
    cdef loop_info *info = <loop_info *>data
    cdef ce_xent_problem p
    _xent_init(&p, args, dims, steps)
    p.lab = args[1]; p.lab_rs = steps[1]; p.lab_is64 = info.lab_is64
    p.x_cs = steps[3]
    _sparse_run(&p, info)


cdef void sparse_xent_grad_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (n),()->(),(n) : steps [x, label, loss, g, x_n, g_n]
    cdef loop_info *info = <loop_info *>data
    cdef ce_xent_problem p
    _xent_init(&p, args, dims, steps)
    p.lab = args[1]; p.lab_rs = steps[1]; p.lab_is64 = info.lab_is64
    p.grad = args[3]; p.g_rs = steps[3]
    p.x_cs = steps[4]; p.g_cs = steps[5]
    _sparse_run(&p, info)


DEF FLAT_BLOCK = 8192   # element-wise loops are cut into rows of this many elements for the threads


cdef inline void _sigmoid_run(char **args, const npy_intp *dims, const npy_intp *steps, loop_info *info,
                              char *grad, npy_intp g_step) noexcept nogil:
    cdef ce_binary_problem p
    cdef npy_intp n = dims[0], block = FLAT_BLOCK if dims[0] > FLAT_BLOCK else dims[0]
    if n == 0:
        return
    p.rows = (n + block - 1) // block; p.cols = block; p.flat_total = n
    p.x = args[0]; p.x_cs = steps[0]; p.x_rs = steps[0] * block
    p.z = args[1]; p.z_cs = steps[1]; p.z_rs = steps[1] * block
    p.w = NULL; p.w_rs = 0; p.w_cs = 0
    p.pw = NULL; p.pw_rs = 0; p.pw_cs = 0
    p.r = NULL; p.r_rs = 0
    # a one-element output may come with stride 0; a non-zero stride keeps the element-wise mode
    p.loss = args[2]; p.loss_cs = steps[2] if steps[2] != 0 else info.itemsize; p.loss_rs = p.loss_cs * block
    p.grad = grad; p.g_cs = g_step; p.g_rs = g_step * block
    p.za = 1.0; p.zb = 0.0; p.eps = 0.0; p.alpha = 0.0; p.gamma = 0.0
    p.row_loss_scale = 1.0; p.grad_scale = 1.0
    p.mode = CE_BIN_LOGITS_TF; p.from_logits = 1; p.balance = 0; p.check = 0
    run_rows(ce_binary_row_f64 if info.itemsize == 8 else ce_binary_row_f32, &p, p.rows, p.cols)


cdef void sigmoid_xent_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (),()->() : steps [x, z, loss]
    _sigmoid_run(args, dims, steps, <loop_info *>data, NULL, 0)


cdef void sigmoid_xent_grad_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (),()->(),() : steps [x, z, loss, g]
    _sigmoid_run(args, dims, steps, <loop_info *>data, args[3], steps[3] if steps[3] != 0 else (<loop_info *>data).itemsize)


# ---- the loop table ---------------------------------------------------------------------------------
# NumPy keeps these pointers without copying them: they must live as long as the module.
DEF MAX_LOOPS = 4
DEF MAX_ARGS = 4

cdef struct table_entry:
    PyUFuncGenericFunction funcs[MAX_LOOPS]
    void *data[MAX_LOOPS]
    char types[MAX_LOOPS * MAX_ARGS]
    loop_info infos[MAX_LOOPS]

DEF N_GUFUNCS = 9
cdef table_entry _table[N_GUFUNCS]
cdef int _next_entry = 0
_docs = []   # the doc strings NumPy points at


cdef object _make(PyUFuncGenericFunction loop, list loops, int nin, int nout, str name, str doc, signature):
    """loops: list of (what, lab_is64, itemsize, type codes...); the row function follows from itemsize."""
    global _next_entry
    cdef table_entry *e = &_table[_next_entry]
    _next_entry += 1
    cdef int k, j, nargs = nin + nout
    for k, spec in enumerate(loops):
        e.funcs[k] = loop
        e.infos[k].what = spec[0]
        e.infos[k].lab_is64 = spec[1]
        e.infos[k].itemsize = spec[2]
        e.data[k] = &e.infos[k]
        for j in range(nargs):
            e.types[k * nargs + j] = spec[3 + j]
    name_b = name.encode()
    doc_b = doc.encode()
    sig_b = signature.encode() if signature is not None else None
    _docs.extend([name_b, doc_b, sig_b])
    cdef char *sig = <char *>sig_b if sig_b is not None else NULL
    return PyUFunc_FromFuncAndDataAndSignature(
        e.funcs, e.data, e.types, len(loops), nin, nout, cnp.PyUFunc_None, <char *>name_b, <char *>doc_b, 0, sig)


cdef int F4 = cnp.NPY_FLOAT32, F8 = cnp.NPY_FLOAT64, I4 = cnp.NPY_INT32, I8 = cnp.NPY_INT64


def _transform(what, name, doc, sig, nargs):
    return _make(transform_loop, [(what, 0, 4) + (F4,) * nargs, (what, 0, 8) + (F8,) * nargs],
                 1, 1, name, doc, sig)


logsumexp = _transform(CE_ROW_LSE, "logsumexp",
    "logsumexp(x, /, out=None, *, axis=-1, ...)\n\nlog(sum(exp(x))) over the last axis (or `axis`), "
    "computed stably: max + log1p(sum of the non-max terms).", "(n)->()", 2)
softmax = _transform(CE_ROW_SOFTMAX, "softmax",
    "softmax(x, /, out=None, *, axis=-1, ...)\n\nexp(x - logsumexp(x)) over the last axis. "
    "`out=x` works in place.", "(n)->(n)", 2)
log_softmax = _transform(CE_ROW_LOG_SOFTMAX, "log_softmax",
    "log_softmax(x, /, out=None, *, axis=-1, ...)\n\nx - logsumexp(x) over the last axis. "
    "`out=x` works in place.", "(n)->(n)", 2)

_DENSE_DOC = ("softmax_cross_entropy(logits, labels, /, out=None, *, axis=-1, ...)\n\n"
              "sum(-labels * log_softmax(logits)) over the class axis; labels need not sum to 1. "
              "Zero labels contribute 0 even where a logit is -inf (a masked class).")
softmax_cross_entropy = _make(dense_xent_loop, [(0, 0, 4, F4, F4, F4), (0, 0, 8, F8, F8, F8)],
                              2, 1, "softmax_cross_entropy", _DENSE_DOC, "(n),(n)->()")
softmax_cross_entropy_and_grad = _make(
    dense_xent_grad_loop, [(0, 0, 4, F4, F4, F4, F4), (0, 0, 8, F8, F8, F8, F8)], 2, 2,
    "softmax_cross_entropy_and_grad",
    "softmax_cross_entropy_and_grad(logits, labels, /, out=(None, None), *, axis=-1, ...)\n\n"
    "(loss, grad) with loss as in softmax_cross_entropy and grad = softmax(logits) * sum(labels) - labels, "
    "the true derivative, computed in the same pass.", "(n),(n)->(),(n)")

_SPARSE_LOOPS = [(0, 0, 4, F4, I4, F4), (0, 1, 4, F4, I8, F4),
                 (0, 0, 8, F8, I4, F8), (0, 1, 8, F8, I8, F8)]
sparse_softmax_cross_entropy = _make(
    sparse_xent_loop, _SPARSE_LOOPS, 2, 1, "sparse_softmax_cross_entropy",
    "sparse_softmax_cross_entropy(logits, label, /, out=None, *, axis=-1, ...)\n\n"
    "logsumexp(logits) - logits[label] per row; label int32 or int64.  A label outside [0, n) gives NaN "
    "for that row and the 'invalid value' floating-point signal (np.errstate(invalid='raise') raises).",
    "(n),()->()")
sparse_softmax_cross_entropy_and_grad = _make(
    sparse_xent_grad_loop, [s + (s[3],) for s in _SPARSE_LOOPS], 2, 2,
    "sparse_softmax_cross_entropy_and_grad",
    "sparse_softmax_cross_entropy_and_grad(logits, label, /, out=(None, None), *, axis=-1, ...)\n\n"
    "(loss, softmax(logits) - onehot(label)); a bad label gives a NaN row and the invalid signal.",
    "(n),()->(),(n)")

sigmoid_cross_entropy = _make(
    sigmoid_xent_loop, [(0, 0, 4, F4, F4, F4), (0, 0, 8, F8, F8, F8)], 2, 1,
    "sigmoid_cross_entropy",
    "sigmoid_cross_entropy(logits, labels, /, out=None, ...)\n\nElement-wise "
    "max(x, 0) - x * z + log1p(exp(-|x|)) (tf.nn.sigmoid_cross_entropy_with_logits).", None)
sigmoid_cross_entropy_and_grad = _make(
    sigmoid_xent_grad_loop, [(0, 0, 4, F4, F4, F4, F4), (0, 0, 8, F8, F8, F8, F8)], 2, 2,
    "sigmoid_cross_entropy_and_grad",
    "sigmoid_cross_entropy_and_grad(logits, labels, /, out=(None, None), ...)\n\nElement-wise "
    "(loss, sigmoid(x) - z).  For dask, use da.apply_gufunc(f, '(),()->(),()', x, z).", None)
