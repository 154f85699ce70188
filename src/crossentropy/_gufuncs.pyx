# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The gufuncs, registered from data: one inner loop per loop kind, one row of ``GUFUNC_TABLE`` per gufunc.

Inner loops only translate NumPy's (args, dims, steps) into a problem struct and hand it to the kernel
driver (``run_xent``, ``run_transform``, ``run_rows``) with the float type's kernel table entry; the math
lives in the row-math library (_rowmath.c).  Each row's type pattern is expanded over ``FLOAT_TYPES`` x
``LABEL_TYPES`` in that order: NumPy takes the first loop its inputs cast to safely, so float32 comes
before float64 and int32 labels before int64 (no cast copy for either).
"""
import re
import numpy as np
cimport numpy as cnp
from numpy cimport npy_intp

# NumPy 2's loop type has const dims/steps (GCC 14 rejects a mismatch); numpy's .pxd still omits it.
cdef extern from "numpy/ufuncobject.h":
    ctypedef void (*PyUFuncGenericFunction)(char **, const npy_intp *, const npy_intp *, void *) noexcept nogil
    object PyUFunc_FromFuncAndDataAndSignature(PyUFuncGenericFunction *, void **, char *, int, int, int, int,
                                               const char *, const char *, int, const char *)

from cpython.mem cimport PyMem_Calloc
from crossentropy._kernels cimport (
    ce_counts, run_rows, run_xent, run_transform, ce_transform_problem, ce_xent_problem, ce_binary_problem,
    ce_dtype_kernels, ce_kernels_for_out, ce_transform_kind, ce_xent_problem_init, ce_binary_problem_init,
    ce_transform_problem_init, CE_ROW_LSE, CE_ROW_SOFTMAX, CE_ROW_LOG_SOFTMAX, CE_BIN_LOGITS_TF,
    ce_set_bfloat16_type_num,
)

# Half inputs: a type resolver that takes the loop whose input types match exactly (float16 logits with
# float32 targets, bfloat16 user loops), and NumPy's default for everything else (integer and boolean
# inputs keep resolving to float32).  It is called once per combination of input dtypes (NumPy caches).
cdef extern from *:
    """
    #include <numpy/ufuncobject.h>
    int ce_bfloat16_type_num(void);
    #define CE_MAX_USER_LOOPS 64
    #define CE_MAX_LOOP_ARGS 8
    typedef struct { PyUFuncObject *uf; int types[CE_MAX_LOOP_ARGS]; } ce_user_loop;
    static ce_user_loop ce_user_loops[CE_MAX_USER_LOOPS];
    static int ce_n_user_loops = 0;

    static int ce_half_type_resolver(PyUFuncObject *uf, NPY_CASTING casting, PyArrayObject **ops,
                                     PyObject *type_tup, PyArray_Descr **out)
    {
        int nin = uf->nin, nargs = uf->nargs, bf = ce_bfloat16_type_num();
        int t0 = PyArray_DESCR(ops[0])->type_num;
        if (type_tup == NULL && (t0 == NPY_HALF || (bf >= 0 && t0 == bf))) {
            const int *found = NULL;
            int tmp[CE_MAX_LOOP_ARGS];
            for (int k = 0; k < uf->ntypes && !found; k++) {
                int ok = 1;
                for (int i = 0; i < nin; i++) ok &= uf->types[k * nargs + i] == PyArray_DESCR(ops[i])->type_num;
                if (ok) {
                    for (int i = 0; i < nargs; i++) tmp[i] = uf->types[k * nargs + i];
                    found = tmp;
                }
            }
            for (int k = 0; k < ce_n_user_loops && !found; k++) {
                int ok = ce_user_loops[k].uf == uf;
                for (int i = 0; i < nin && ok; i++) ok &= ce_user_loops[k].types[i] == PyArray_DESCR(ops[i])->type_num;
                if (ok) found = ce_user_loops[k].types;
            }
            if (found) {
                for (int i = 0; i < nargs; i++) {
                    out[i] = PyArray_DescrFromType(found[i]);
                    if (out[i] == NULL) {
                        for (int j = 0; j < i; j++) Py_CLEAR(out[j]);
                        return -1;
                    }
                }
                if (PyUFunc_ValidateCasting(uf, casting, ops, out) < 0) {
                    for (int i = 0; i < nargs; i++) Py_CLEAR(out[i]);
                    return -1;
                }
                return 0;
            }
        }
        return PyUFunc_DefaultTypeResolver(uf, casting, ops, type_tup, out);
    }

    static void ce_install_half_resolver(PyObject *uf)
    {
        ((PyUFuncObject *)uf)->type_resolver = &ce_half_type_resolver;
    }

    /* A bfloat16 loop: registered with NumPy (legacy user-type loops, as ml_dtypes registers its own) and
     * noted for the resolver above. */
    static int ce_register_user_loop(PyObject *uf, int usertype, void *fn, const int *types, void *data)
    {
        if (ce_n_user_loops >= CE_MAX_USER_LOOPS) {
            PyErr_SetString(PyExc_RuntimeError, "too many bfloat16 loops");
            return -1;
        }
        if (PyUFunc_RegisterLoopForType((PyUFuncObject *)uf, usertype, (PyUFuncGenericFunction)fn,
                                        (int *)types, data) < 0)
            return -1;
        ce_user_loops[ce_n_user_loops].uf = (PyUFuncObject *)uf;
        memcpy(ce_user_loops[ce_n_user_loops].types, types, sizeof(int) * ((PyUFuncObject *)uf)->nargs);
        ce_n_user_loops++;
        return 0;
    }
    """
    void ce_install_half_resolver(object uf)
    int ce_register_user_loop(object uf, int usertype, void *fn, const int *types, void *data) except -1

cnp.import_array()
cnp.import_ufunc()

cdef extern from "<fenv.h>" nogil:
    int FE_INVALID
    int feraiseexcept(int excepts)


cdef struct loop_info:
    int what                         # transform: a ce_transform_kind
    int lab_is64                     # label loops: int64 (else int32) labels
    int t_f32                        # float32 targets ("t") with half logits
    int itemsize                     # bytes per input float element
    int row_itemsize                 # bytes per per-row (or element-wise) loss
    int out_itemsize                 # bytes per N x C output element
    const ce_dtype_kernels *kernels  # the float type's row kernels


# ---- inner loops ------------------------------------------------------------------------------------
cdef void transform_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (n)->() : steps [x, y, x_n];  (n)->(n) : steps [x, y, x_n, y_n]
    cdef loop_info *info = <loop_info *>data
    cdef ce_transform_problem p
    ce_transform_problem_init(&p)
    p.rows = dims[0]; p.cols = dims[1]; p.what = <ce_transform_kind>info.what
    p.x = args[0]; p.x_rs = steps[0]; p.x_cs = steps[2]
    p.y = args[1]; p.y_rs = steps[1]
    p.y_cs = 0 if info.what == CE_ROW_LSE else steps[3]
    run_transform(&p, info.kernels)


cdef inline void _xent_init(ce_xent_problem *p, char **args, const npy_intp *dims,
                            const npy_intp *steps) noexcept nogil:
    ce_xent_problem_init(p)
    p.rows = dims[0]; p.cols = dims[1]
    p.x = args[0]; p.x_rs = steps[0]
    p.loss = args[2]; p.loss_rs = steps[2]


cdef inline void _signal_no_memory(ce_counts counts) noexcept nogil:
    if counts.no_memory:
        feraiseexcept(FE_INVALID)   # rows left NaN for want of scratch memory: NumPy's invalid-value signal


cdef void dense_xent_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (n),(n)->() : steps [x, t, loss, x_n, t_n]
    cdef loop_info *info = <loop_info *>data
    cdef ce_xent_problem p
    _xent_init(&p, args, dims, steps)
    p.t = args[1]; p.t_rs = steps[1]; p.t_f32 = info.t_f32
    p.x_cs = steps[3]; p.t_cs = steps[4]
    _signal_no_memory(run_xent(&p, info.kernels))


cdef void dense_xent_grad_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (n),(n)->(),(n) : steps [x, t, loss, g, x_n, t_n, g_n]
    cdef loop_info *info = <loop_info *>data
    cdef ce_xent_problem p
    _xent_init(&p, args, dims, steps)
    p.t = args[1]; p.t_rs = steps[1]; p.t_f32 = info.t_f32
    p.grad = args[3]; p.g_rs = steps[3]
    p.x_cs = steps[4]; p.t_cs = steps[5]; p.g_cs = steps[6]
    _signal_no_memory(run_xent(&p, info.kernels))


cdef inline void _sparse_run(ce_xent_problem *p, loop_info *info) noexcept nogil:
    cdef ce_counts counts = run_xent(p, info.kernels)
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
    ce_binary_problem_init(&p)
    p.rows = (n + block - 1) // block; p.cols = block; p.flat_total = n
    p.x = args[0]; p.x_cs = steps[0]; p.x_rs = steps[0] * block
    p.z = args[1]; p.z_cs = steps[1]; p.z_rs = steps[1] * block; p.z_f32 = info.t_f32
    # a one-element output may come with stride 0; a non-zero stride keeps the element-wise mode
    p.loss = args[2]; p.loss_cs = steps[2] if steps[2] != 0 else info.row_itemsize; p.loss_rs = p.loss_cs * block
    p.grad = grad; p.g_cs = g_step; p.g_rs = g_step * block
    p.mode = CE_BIN_LOGITS_TF; p.from_logits = 1
    _signal_no_memory(run_rows(info.kernels.binary_row, &p, p.rows, p.cols))


cdef void sigmoid_xent_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (),()->() : steps [x, z, loss]
    _sigmoid_run(args, dims, steps, <loop_info *>data, NULL, 0)


cdef void sigmoid_xent_grad_loop(char **args, const npy_intp *dims, const npy_intp *steps, void *data) noexcept nogil:
    # (),()->(),() : steps [x, z, loss, g]
    cdef npy_intp g_step = steps[3] if steps[3] != 0 else (<loop_info *>data).out_itemsize
    _sigmoid_run(args, dims, steps, <loop_info *>data, args[3], g_step)


# ---- the table ----------------------------------------------------------------------------------------
# Loop kinds: the inner loop, and the (inputs, outputs) it reads and writes.
cdef enum loop_kind:
    LOOP_TRANSFORM_SCALAR, LOOP_TRANSFORM_ROW, LOOP_DENSE, LOOP_DENSE_GRAD, LOOP_SPARSE, LOOP_SPARSE_GRAD,
    LOOP_SIGMOID, LOOP_SIGMOID_GRAD

cdef PyUFuncGenericFunction _loop_fn(int kind) noexcept:
    if kind == LOOP_TRANSFORM_SCALAR or kind == LOOP_TRANSFORM_ROW:
        return transform_loop
    if kind == LOOP_DENSE:
        return dense_xent_loop
    if kind == LOOP_DENSE_GRAD:
        return dense_xent_grad_loop
    if kind == LOOP_SPARSE:
        return sparse_xent_loop
    if kind == LOOP_SPARSE_GRAD:
        return sparse_xent_grad_loop
    if kind == LOOP_SIGMOID:
        return sigmoid_xent_loop
    if kind == LOOP_SIGMOID_GRAD:
        return sigmoid_xent_grad_loop
    return NULL

# kind -> (id, inputs, outputs, signature or None for element-wise, operands that are labels); a row's
# signature must equal its kind's, and its type pattern must put labels ("i") exactly there
LOOP_KINDS = {
    "transform_scalar": (LOOP_TRANSFORM_SCALAR, 1, 1, "(n)->()", ()),
    "transform_row": (LOOP_TRANSFORM_ROW, 1, 1, "(n)->(n)", ()),
    "dense": (LOOP_DENSE, 2, 1, "(n),(n)->()", ()),
    "dense_grad": (LOOP_DENSE_GRAD, 2, 2, "(n),(n)->(),(n)", ()),
    "sparse": (LOOP_SPARSE, 2, 1, "(n),()->()", (1,)),
    "sparse_grad": (LOOP_SPARSE_GRAD, 2, 2, "(n),()->(),(n)", (1,)),
    "sigmoid": (LOOP_SIGMOID, 2, 1, None, ()),
    "sigmoid_grad": (LOOP_SIGMOID_GRAD, 2, 2, None, ()),
}

# The columns: every table row's pattern is expanded over these, in this order; a column is (input float
# type "x", per-row result type "r", N x C output type "g", dense target types "t"), and "i" goes over the
# label types.  Adding an element type is adding its column here (and its row kernels).  Half inputs give
# float32 row results and N x C outputs in their own type, or float32 (the loops dtype=np.float32 selects);
# their loops come after float32/float64, and the half type resolver picks them for half inputs.  Half
# logits also take float32 targets, with float32 outputs (NumPy's promotion of the pair): the float32 loop's
# results without its float32 copy of the logits.
FLOAT_COLUMNS = (("float32", "float32", "float32", ("float32",)), ("float64", "float64", "float64", ("float64",)),
                 ("float16", "float32", "float16", ("float16",)),
                 ("float16", "float32", "float32", ("float16", "float32")))
# registered when ml_dtypes is imported ("bfloat16" is ml_dtypes' type): see register_bfloat16
BFLOAT16_COLUMNS = (("bfloat16", "float32", "bfloat16", ("bfloat16",)),
                    ("bfloat16", "float32", "float32", ("bfloat16", "float32")))
FLOAT_TYPES = tuple(dict.fromkeys(c[0] for c in FLOAT_COLUMNS))
LABEL_TYPES = ("int32", "int64")

_TRANSFORMS = {"lse": CE_ROW_LSE, "softmax": CE_ROW_SOFTMAX, "log_softmax": CE_ROW_LOG_SOFTMAX, None: 0}

# (name, signature, loop kind, transform or None, type pattern (one letter per operand), doc)
GUFUNC_TABLE = (
    ("logsumexp", "(n)->()", "transform_scalar", "lse", "xr",
     "logsumexp(x, /, out=None, *, axis=-1, ...)\n\nlog(sum(exp(x))) over the last axis (or `axis`), "
     "computed stably: max + log1p(sum of the non-max terms)."),
    ("softmax", "(n)->(n)", "transform_row", "softmax", "xg",
     "softmax(x, /, out=None, *, axis=-1, ...)\n\nexp(x - logsumexp(x)) over the last axis. "
     "`out=x` works in place."),
    ("log_softmax", "(n)->(n)", "transform_row", "log_softmax", "xg",
     "log_softmax(x, /, out=None, *, axis=-1, ...)\n\nx - logsumexp(x) over the last axis. "
     "`out=x` works in place."),
    ("softmax_cross_entropy", "(n),(n)->()", "dense", None, "xtr",
     "softmax_cross_entropy(logits, labels, /, out=None, *, axis=-1, ...)\n\n"
     "sum(-labels * log_softmax(logits)) over the class axis; labels need not sum to 1. "
     "Zero labels contribute 0 even where a logit is -inf (a masked class)."),
    ("softmax_cross_entropy_and_grad", "(n),(n)->(),(n)", "dense_grad", None, "xtrg",
     "softmax_cross_entropy_and_grad(logits, labels, /, out=(None, None), *, axis=-1, ...)\n\n"
     "(loss, grad) with loss as in softmax_cross_entropy and grad = softmax(logits) * sum(labels) - labels, "
     "the true derivative, computed in the same pass."),
    ("sparse_softmax_cross_entropy", "(n),()->()", "sparse", None, "xir",
     "sparse_softmax_cross_entropy(logits, label, /, out=None, *, axis=-1, ...)\n\n"
     "logsumexp(logits) - logits[label] per row; label int32 or int64.  A label outside [0, n) gives NaN "
     "for that row and the 'invalid value' floating-point signal (np.errstate(invalid='raise') raises)."),
    ("sparse_softmax_cross_entropy_and_grad", "(n),()->(),(n)", "sparse_grad", None, "xirg",
     "sparse_softmax_cross_entropy_and_grad(logits, label, /, out=(None, None), *, axis=-1, ...)\n\n"
     "(loss, softmax(logits) - onehot(label)); a bad label gives a NaN row and the invalid signal."),
    ("sigmoid_cross_entropy", None, "sigmoid", None, "xtr",
     "sigmoid_cross_entropy(logits, labels, /, out=None, ...)\n\nElement-wise "
     "max(x, 0) - x * z + log1p(exp(-|x|)) (tf.nn.sigmoid_cross_entropy_with_logits)."),
    ("sigmoid_cross_entropy_and_grad", None, "sigmoid_grad", None, "xtrg",
     "sigmoid_cross_entropy_and_grad(logits, labels, /, out=(None, None), ...)\n\nElement-wise "
     "(loss, sigmoid(x) - z).  For dask, use da.apply_gufunc(f, '(),()->(),()', x, z)."),
)


class GufuncTableError(ValueError):
    """A malformed GUFUNC_TABLE row (raised at import, before NumPy sees any pointer)."""


def _expand(pattern, columns=None):
    """The loops of a type pattern: one tuple of type codes per (column, target type, label type), in order,
    each loop once (columns: FLOAT_COLUMNS by default; without N x C outputs a type's two columns give the
    same loops, and the first column's is kept)."""
    loops = []
    for x, r, g, targets in FLOAT_COLUMNS if columns is None else columns:
        for t in (targets if "t" in pattern else (None,)):
            for lab in (LABEL_TYPES if "i" in pattern else (None,)):
                loop = tuple({"x": x, "t": t, "r": r, "g": g, "i": lab}[ch] for ch in pattern)
                if loop not in loops:
                    loops.append(loop)
    return loops


def _check_row(row):
    if len(row) != 6:
        raise GufuncTableError(f"gufunc table row {row[:1]!r} has {len(row)} fields, expected 6")
    name, sig, kind, what, pattern, doc = row
    where = f"gufunc table row {name!r}"
    if kind not in LOOP_KINDS:
        raise GufuncTableError(f"{where}: unknown loop kind {kind!r} (one of {sorted(LOOP_KINDS)})")
    _, nin, nout, kind_sig, label_args = LOOP_KINDS[kind]
    if sig != kind_sig:
        raise GufuncTableError(f"{where}: signature {sig!r} does not match loop kind {kind!r} ({kind_sig!r})")
    if sig is not None:
        lhs, _, rhs = sig.partition("->")
        if len(re.findall(r"\([^)]*\)", lhs)) != nin or len(re.findall(r"\([^)]*\)", rhs)) != nout:
            raise GufuncTableError(f"{where}: signature {sig!r} is not {nin} inputs -> {nout} outputs")
    if not isinstance(pattern, str) or len(pattern) != nin + nout or set(pattern) - {"x", "t", "i", "r", "g"}:
        raise GufuncTableError(f"{where}: type pattern {pattern!r} must be {nin + nout} letters of 'x' (logits), "
                               "'t' (dense targets), 'i' (label), 'r' (per-row result) and 'g' (N x C output)")
    if tuple(j for j, ch in enumerate(pattern) if ch == "i") != label_args:
        raise GufuncTableError(f"{where}: type pattern {pattern!r} must have labels ('i') at operands {label_args}, "
                               "floats elsewhere")
    if pattern[0] != "x" or set(pattern[:nin]) - {"x", "t", "i"} or set(pattern[nin:]) - {"r", "g"}:
        raise GufuncTableError(f"{where}: type pattern {pattern!r}: inputs are 'x' (first), 't', 'i'; outputs "
                               "'r', 'g'")
    if what not in _TRANSFORMS or (what is None) != (kind not in ("transform_scalar", "transform_row")):
        raise GufuncTableError(f"{where}: transform {what!r} does not fit loop kind {kind!r}")
    if not isinstance(doc, str) or not doc:
        raise GufuncTableError(f"{where}: needs a doc string")


# NumPy keeps the funcs / data / types pointers without copying them: they are allocated here once per
# gufunc and live as long as the process (as do the encoded name, doc and signature in _keep).
_keep = []


cdef object _register(tuple row):
    _check_row(row)
    name, sig, kind, what, pattern, doc = row
    cdef int kind_id = LOOP_KINDS[kind][0], nin = LOOP_KINDS[kind][1], nout = LOOP_KINDS[kind][2]
    cdef int nargs = nin + nout, k
    loops = _expand(pattern)
    cdef int ntypes = len(loops)
    cdef PyUFuncGenericFunction *funcs = <PyUFuncGenericFunction *>PyMem_Calloc(ntypes, sizeof(PyUFuncGenericFunction))
    cdef void **data = <void **>PyMem_Calloc(ntypes, sizeof(void *))
    cdef char *types = <char *>PyMem_Calloc(ntypes * nargs, sizeof(char))
    cdef loop_info *infos = <loop_info *>PyMem_Calloc(ntypes, sizeof(loop_info))
    if funcs == NULL or data == NULL or types == NULL or infos == NULL:
        raise MemoryError(name)
    for k, codes in enumerate(loops):
        _fill_loop(name, pattern, kind_id, what, codes, &infos[k], &funcs[k], &types[k * nargs], NULL)
        data[k] = &infos[k]
    name_b = name.encode()
    doc_b = doc.encode()
    sig_b = sig.encode() if sig is not None else None
    _keep.extend([name_b, doc_b, sig_b])
    cdef char *csig = <char *>sig_b if sig_b is not None else NULL
    uf = PyUFunc_FromFuncAndDataAndSignature(funcs, data, types, ntypes, nin, nout, cnp.PyUFunc_None,
                                             <char *>name_b, <char *>doc_b, 0, csig)
    ce_install_half_resolver(uf)
    return uf


cdef int _fill_loop(str name, str pattern, int kind_id, object what, tuple codes, loop_info *info,
                    PyUFuncGenericFunction *func, char *types, int *int_types) except -1:
    """One loop of a table row: its inner loop, its loop_info (kernels and sizes) and its type numbers
    (as chars for the static table, or ints for a user-type loop)."""
    dts = [np.dtype(ml_dtype(c)) if c is not None else None for c in codes]
    xdt = dts[0]
    rdt = next((d for d, ch in zip(dts, pattern) if ch == "r"), None)
    gdt = next((d for d, ch in zip(dts, pattern) if ch == "g"), xdt)
    cdef const ce_dtype_kernels *kern = ce_kernels_for_out(xdt.num, gdt.num)
    if kern == NULL or kern.itemsize != xdt.itemsize or kern.out_itemsize != gdt.itemsize or (
            rdt is not None and kern.row_itemsize != rdt.itemsize):
        raise GufuncTableError(f"gufunc table row {name!r}: no row kernels for {xdt} -> {gdt}")
    func[0] = _loop_fn(kind_id)
    info.what = _TRANSFORMS[what]
    info.itemsize = xdt.itemsize
    info.row_itemsize = kern.row_itemsize
    info.out_itemsize = kern.out_itemsize
    info.kernels = kern
    info.lab_is64 = 0
    info.t_f32 = 0
    for j, dt in enumerate(dts):
        if types != NULL:
            types[j] = <char>dt.num
        else:
            int_types[j] = dt.num
        if pattern[j] == "i":
            if dt.kind != "i" or dt.itemsize not in (4, 8):
                raise GufuncTableError(f"gufunc table row {name!r}: label type {dt} is not int32/int64")
            info.lab_is64 = dt.itemsize == 8
        elif pattern[j] == "x" and dt != xdt:
            raise GufuncTableError(f"gufunc table row {name!r}: operand {j} is {dt}, the loop's floats {xdt}")
        elif pattern[j] == "t" and dt != xdt:
            # only the half columns read float32 targets (staged through the float32 kernels)
            if xdt.itemsize != 2 or dt != np.float32:
                raise GufuncTableError(f"gufunc table row {name!r}: targets {dt} with {xdt} logits (targets are "
                                       "the logits' type, or float32 with half logits)")
            info.t_f32 = 1
    return 0


def ml_dtype(code):
    """A type code of the table: NumPy's names, and "bfloat16" (ml_dtypes, imported only when asked for)."""
    if code == "bfloat16":
        import ml_dtypes
        return ml_dtypes.bfloat16
    return code


_bfloat16_registered = False


def register_bfloat16():
    """Add the bfloat16 loops (``BFLOAT16_COLUMNS``) to every gufunc; called once ml_dtypes is imported
    (crossentropy._bfloat16 arranges that, never importing ml_dtypes itself).  Idempotent."""
    global _bfloat16_registered
    if _bfloat16_registered:
        return
    import ml_dtypes
    cdef int bf = np.dtype(ml_dtypes.bfloat16).num
    from crossentropy import _kernels
    ce_set_bfloat16_type_num(bf)
    _kernels._set_bfloat16_type_num(bf)   # each extension links its own copy of the row math
    cdef loop_info *info
    cdef int *types
    cdef PyUFuncGenericFunction fn
    for row in GUFUNC_TABLE:
        name, _sig, kind, what, pattern, _doc = row
        nargs = len(pattern)
        for codes in _expand(pattern, BFLOAT16_COLUMNS):
            info = <loop_info *>PyMem_Calloc(1, sizeof(loop_info))
            types = <int *>PyMem_Calloc(nargs, sizeof(int))
            if info == NULL or types == NULL:
                raise MemoryError(name)
            _fill_loop(name, pattern, LOOP_KINDS[kind][0], what, codes, info, &fn, NULL, types)
            ce_register_user_loop(GUFUNCS[name], bf, <void *>fn, types, info)
    _bfloat16_registered = True


def _build(table):
    names = [row[0] for row in table]
    if len(set(names)) != len(names):
        raise GufuncTableError(f"gufunc table has duplicate names: {sorted(n for n in names if names.count(n) > 1)}")
    for row in table:
        _check_row(row)   # check every row before registering any
    return {row[0]: _register(row) for row in table}


GUFUNCS = _build(GUFUNC_TABLE)
globals().update(GUFUNCS)
