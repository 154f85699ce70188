# Declarations shared by the kernel driver (_kernels.pyx) and the gufunc loops (_gufuncs.pyx).
from numpy cimport npy_intp
from libc.stdint cimport int64_t

cdef extern from "_rowmath.h" nogil:
    ctypedef int (*ce_row_fn)(const void *problem, npy_intp row) noexcept nogil

    int CE_ROW_BAD_LABEL, CE_ROW_NOT_NORMALISED, CE_ROW_OUT_OF_UNIT, CE_ROW_NO_MEMORY
    int64_t CE_NO_LABEL
    const int CE_HAVE_CLONES
    int CE_BLOCK_ROWS, CE_COUNT_SHIFT
    int CE_SMALL_COLS, CE_BLOCK_COLS
    const char *ce_simd_path()
    const char *ce_row_prefetch()
    ctypedef struct ce_fp_flags:
        pass
    void ce_fp_flags_save(ce_fp_flags *s)
    void ce_fp_flags_restore(const ce_fp_flags *s)

    ctypedef enum ce_xent_mode:
        CE_XENT_LOGITS, CE_XENT_LOG_PROBS, CE_XENT_LOGITS_TF_OP
    ctypedef enum ce_transform_kind:
        CE_ROW_LSE, CE_ROW_SOFTMAX, CE_ROW_LOG_SOFTMAX
    ctypedef enum ce_binary_loss:
        CE_BIN_LOGITS_TF, CE_BIN_LOGITS_TORCH, CE_BIN_PROB_CLIP, CE_BIN_PROB_TORCH, CE_BIN_FOCAL
        CE_BIN_LOGITS_TF_WEIGHTED, CE_BIN_LOGITS_KERAS

    ctypedef struct ce_xent_problem:
        npy_intp rows, cols
        const char *x
        npy_intp x_rs, x_cs
        const char *t
        npy_intp t_rs, t_cs
        int t_f32
        const char *lab
        npy_intp lab_rs
        int lab_is64
        const char *v
        npy_intp v_cs
        const char *r
        npy_intp r_rs
        char *loss
        npy_intp loss_rs
        char *grad
        npy_intp g_rs, g_cs
        double a, b, c
        int64_t ignore
        ce_xent_mode mode
        npy_intp pipe_rows

    ctypedef struct ce_prob_problem:
        npy_intp rows, cols
        const char *x
        npy_intp x_rs, x_cs
        const char *t
        npy_intp t_rs, t_cs
        const char *lab
        npy_intp lab_rs
        int lab_is64
        const char *r
        npy_intp r_rs
        char *loss
        npy_intp loss_rs
        char *grad
        npy_intp g_rs, g_cs
        double a, b, eps, alpha, gamma
        const char *v
        npy_intp v_cs
        double clip_tie
        int64_t ignore
        int focal, from_logits, check

    ctypedef struct ce_binary_problem:
        npy_intp rows, cols, flat_total
        const char *x
        npy_intp x_rs, x_cs
        const char *z
        npy_intp z_rs, z_cs
        int z_f32
        const char *w
        npy_intp w_rs, w_cs
        const char *pw
        npy_intp pw_rs, pw_cs
        const char *r
        npy_intp r_rs
        char *loss
        npy_intp loss_rs, loss_cs
        char *grad
        npy_intp g_rs, g_cs
        double za, zb, eps, alpha, gamma, row_divisor, grad_scale
        ce_binary_loss mode
        int from_logits, balance, check
        double clip_tie

    ctypedef struct ce_transform_problem:
        npy_intp rows, cols
        const char *x
        npy_intp x_rs, x_cs
        char *y
        npy_intp y_rs, y_cs
        ce_transform_kind what
        npy_intp pipe_rows

    void ce_xent_problem_init(ce_xent_problem *p)
    void ce_prob_problem_init(ce_prob_problem *p)
    void ce_binary_problem_init(ce_binary_problem *p)
    void ce_transform_problem_init(ce_transform_problem *p)

    ctypedef enum ce_lm_kind:
        CE_LM_STATS
        CE_LM_LOSS
    ctypedef struct ce_lm_problem:
        npy_intp rows, cols
        const char *x
        npy_intp x_rs, x_cs
        const char *lab
        npy_intp lab_rs
        int lab_is64
        int64_t ignore
        double softcap, smoothing, z_loss, grad_scale
        char *nll
        char *lse
        char *ent
        char *rank
        npy_intp nll_rs, lse_rs, ent_rs, rank_rs
        char *loss
        npy_intp loss_rs
        char *grad
        npy_intp g_rs, g_cs
        ce_lm_kind what
    void ce_lm_problem_init(ce_lm_problem *p)

    ctypedef struct ce_stats_problem:
        npy_intp rows, cols
        const char *x
        npy_intp x_rs, x_cs
        const char *lab
        npy_intp lab_rs
        int lab_is64
        char *min
        char *max
        char *sum
        char *picked
        npy_intp min_rs, max_rs, sum_rs, picked_rs
        double lo, hi
    void ce_stats_problem_init(ce_stats_problem *p)

    ctypedef struct ce_dtype_kernels:
        const char *name
        int type_num
        int itemsize
        int row_itemsize
        int out_itemsize
        ce_row_fn transform_row, transform_tblock
        ce_row_fn transform_small_block
        int (*transform_small_ok)(const ce_transform_problem *p) noexcept nogil
        ce_row_fn transform_rows
        ce_row_fn xent_row, xent_small_block, xent_tblock
        int (*xent_small_ok)(const ce_xent_problem *p) noexcept nogil
        ce_row_fn xent_rows
        ce_row_fn prob_row, binary_row
        ce_row_fn lm_row
        ce_row_fn stats_row, stats_small_block

    const ce_dtype_kernels *ce_kernels_for(int type_num)
    const ce_dtype_kernels *ce_kernels_for_out(int type_num, int out_type_num)
    void ce_set_bfloat16_type_num(int type_num)
    int ce_bfloat16_type_num()
    const char *ce_float16_path()
    const char *ce_bfloat16_path()
    npy_intp ce_tblock_rows(npy_intp cols, npy_intp rs, npy_intp cs)
    int ce_rows_adjacent(npy_intp rows, npy_intp cols, npy_intp rs, npy_intp cs, npy_intp itemsize)


cdef struct ce_counts:
    npy_intp bad_label
    npy_intp not_normalised
    npy_intp out_of_unit
    npy_intp no_memory

cdef ce_counts run_rows(ce_row_fn fn, const void *problem, npy_intp rows, npy_intp cols) noexcept nogil
cdef ce_counts run_xent(const ce_xent_problem *p, const ce_dtype_kernels *k) noexcept nogil
cdef ce_counts run_transform(const ce_transform_problem *p, const ce_dtype_kernels *k) noexcept nogil
