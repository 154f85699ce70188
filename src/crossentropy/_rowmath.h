/* The row-math library's interface: problem structs (with their one initialiser each), the mode enums, the
 * row flags and the per-dtype kernel table.  The math itself is compiled once, in _rowmath.c (a static
 * library linked into both extensions); see CONTRIBUTING.md "Where things live".
 *
 * Problems are described by plain structs with byte strides, filled either from a gufunc inner loop's
 * (args, dims, steps) or from ndarrays by the Python-facing drivers, always through ce_*_problem_init()
 * first; a dtype's row functions are then run over all rows by one OpenMP driver (`run_rows` in
 * _kernels.pyx), picked from that dtype's ce_dtype_kernels entry.
 */
#ifndef CROSSENTROPY_ROWMATH_H
#define CROSSENTROPY_ROWMATH_H

#include <numpy/npy_common.h>   /* first: it includes Python.h, which must precede the system headers */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <fenv.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(CE_NO_INTRINSICS)
#include <xmmintrin.h>
#define CE_FP_MXCSR 1
#else
#define CE_FP_MXCSR 0
#endif

/* Bits returned by every row function; the driver counts them over rows. */
#define CE_ROW_BAD_LABEL 1      /* label outside [0, cols): the row's results are NaN */
#define CE_ROW_NOT_NORMALISED 2 /* probability row whose sum differs from 1 by more than CE_NORM_TOL */
#define CE_ROW_OUT_OF_UNIT 4    /* probability row with a value outside [0, 1] (probably logits) */
#define CE_ROW_NO_MEMORY 8      /* no scratch memory for rows that need it (t_f32, z_f32): their results are NaN */
#define CE_NORM_TOL 1e-3
#define CE_SMALL_COLS 32        /* rows this short: row statistics CE_BLOCK_ROWS rows to a call, scalar sweeps;
                                   * the few-class block's limit on the baseline path */
#define CE_BLOCK_COLS 96        /* float softmax cross-entropy rows this short are vectorised across rows,
                                   * CE_BLOCK_ROWS at a time (ce_block_takes) */
#define CE_BLOCK_COLS_F64 64    /* the longest double rows the few-class block kernel's buffers hold */
#define CE_BLOCK_ROWS 64
#define CE_COUNT_SHIFT 3        /* row functions handling blocks return their bad-row count above the flags */
#define CE_KEEP_STACK 4096      /* half-output rows up to this long keep their exps in a stack row */

#define CE_NO_LABEL INT64_MIN   /* `ignore` value meaning "no label is ignored" */

typedef int (*ce_row_fn)(const void *problem, npy_intp row);

/* What the softmax cross-entropy treats x as, and which gradient it writes. */
typedef enum {
    CE_XENT_LOGITS = 0,        /* loss = sum t'_j (lse - x_j); grad = r (sum(t') softmax - t') */
    CE_XENT_LOG_PROBS = 1,     /* x holds log-probabilities (torch nll_loss): loss = -sum t'_j x_j */
    CE_XENT_LOGITS_TF_OP = 2,  /* logits, with the gradient TF's SoftmaxCrossEntropyWithLogits op returns:
                                  r (softmax - t') */
} ce_xent_mode;

/* Plain row transforms for the logsumexp / softmax / log_softmax gufuncs. */
typedef enum {
    CE_ROW_LSE = 0,
    CE_ROW_SOFTMAX = 1,
    CE_ROW_LOG_SOFTMAX = 2,
} ce_transform_kind;

/* Element-wise binary losses; each is one inline function in _ce_losses_t.h (the name after CE_BIN_). */
typedef enum {
    CE_BIN_LOGITS_TF = 0,          /* max(x,0) - x z + log1p(exp(-|x|)), pos_weight form when pw given */
    CE_BIN_LOGITS_TORCH = 1,       /* (1-z) x + lw * softplus(-x), lw = 1 + (pw-1) z */
    CE_BIN_PROB_CLIP = 2,          /* Keras: c = clip(p, eps, 1-eps); -(z log c + (1-z) log(1-c)) */
    CE_BIN_PROB_TORCH = 3,         /* torch: -(z max(log p,-100) + (1-z) max(log(1-p),-100)) */
    CE_BIN_FOCAL = 4,              /* Keras binary focal on p (or sigmoid(x) when from_logits) */
    CE_BIN_LOGITS_TF_WEIGHTED = 5, /* TF weighted_cross_entropy_with_logits: pos_weight form, grad 1-z at x=0 */
    CE_BIN_LOGITS_KERAS = 6,       /* Keras (JAX): ((1-z) x or -z x) + log1p(exp(-|x|)); +inf at x = +-inf */
} ce_binary_loss;

/* The previous row's N x C output, stored from its kept float32 row a line at a time inside the current row's
 * exp sweep (ce_xent_rows_direct's streamed rows), so that its non-temporal stores drain while the exps run
 * instead of filling the store buffer in one burst after them.  The table sweeps store it, a line per step,
 * and advance `at` (ce_table_behind_at, ce_table_behind_mend); the row kernel then stores what is left
 * (ce_store_behind_rest, _ce_rows_t.h). */
typedef struct {
    float *kept;                           /* the row, unscaled but at keep */
    void *out;                             /* its output row; NULL: nothing pending */
    npy_intp n, at;                        /* its length, and how much of it is stored */
    float coef;
    int64_t keep;                          /* -1: none */
    int shared;                            /* kept is also the row the sweep keeps its exps in (one scratch
                                            * row): the sweep stores it a line ahead of them */
} ce_store_behind;

/* An N x C output row a row kernel left unscaled for its caller (the half rows, _ce_rows_t.h, which scale it
 * while rounding it into the half output, instead of a pass of its own; the long float32 gradient rows, which
 * scale it while streaming it out): the row holds exp(x_j - max), the result is coef times the row, except at
 * keep, which is already final (the label entry of a sparse gradient row).  The row is the float32 kernel's
 * output row, or `kept`, a float32 row of the caller's where the kernel keeps its exps (NULL: none). */
typedef struct {
    int unscaled;                          /* 0: the kernel scaled the row itself */
    float coef;
    int64_t keep;                          /* -1: none */
    float *kept;
    int confident;                         /* a confident row: its entries above 0.5 take max_coef (ce_kept_value) */
    float max_coef;
    ce_store_behind *behind;               /* the previous row, stored during this row's sweep (or NULL) */
} ce_unscaled_row;

/* The next staged half row, widened block by block inside the current row's exp sweep (the staged half rows,
 * _ce_rows_t.h), so that its read and conversion overlap the current row's exps instead of following them. */
typedef struct {
    const uint16_t *h;                     /* the next half row, contiguous */
    float *f;                              /* its float32 scratch row */
    float (*widen)(const uint16_t *, float *, npy_intp);   /* widens n values, returns their max (NaN ignored) */
    float max;                             /* the next row's max, when done */
    int done;                              /* set by the sweep that widened the whole row */
} ce_widen_next;

/* Softmax cross-entropy against the composite target
 *     t'_j = v_j * (a * t_j + b + c * [j == label])
 * (v_j = 1 without a class vector, the t term absent without dense targets, the label term absent without
 * labels).  One struct covers TF/Keras dense labels with smoothing, sparse labels, and torch's class
 * weights with label smoothing.  The loss and gradient coefficients come from an epilogue (ce_xent_epilogue
 * in _ce_losses_t.h) applied to the row statistics.  Fill with ce_xent_problem_init() first. */
typedef struct {
    npy_intp rows, cols;
    const char *x; npy_intp x_rs, x_cs;
    const char *t; npy_intp t_rs, t_cs;    /* dense targets or NULL */
    int t_f32;                             /* half x only: t is float32 (read as is, never narrowed) */
    const char *lab; npy_intp lab_rs; int lab_is64;
    const char *v; npy_intp v_cs;          /* class vector or NULL */
    const char *r; npy_intp r_rs;          /* per-row gradient scale, NULL = 1 */
    char *loss; npy_intp loss_rs;
    char *grad; npy_intp g_rs, g_cs;       /* NULL = no gradient */
    double a, b, c;
    int64_t ignore;                        /* rows whose label equals this give loss 0, grad 0 */
    ce_xent_mode mode;
    ce_unscaled_row *unscaled;             /* internal, NULL: see ce_unscaled_row */
    ce_widen_next *wnext;                  /* internal, NULL: see ce_widen_next */
    npy_intp pipe_rows;                    /* rows per block of xent_rows, 0: see ce_block_rows */
} ce_xent_problem;

/* Cross-entropy of probabilities that are first rescaled by their row sum and clipped to [eps, 1-eps]
 * (optionally after a softmax, and optionally focal-weighted):
 *     q = p / sum(p);  c = clip(q, eps, 1 - eps);  loss = sum_j w(c_j) * (-t'_j log c_j)
 * with t'_j = v_j * (a * t_j + b (+ [j == label])) (v_j = 1 without a class vector) and
 * w(c) = alpha (1 - c)^gamma when focal, else 1.
 * The gradient goes through the clip (zero outside [eps, 1-eps], clip_tie times the unclipped one where
 * q equals a bound exactly: JAX's max/min give 0.5), the rescale and the softmax. */
typedef struct {
    npy_intp rows, cols;
    const char *x; npy_intp x_rs, x_cs;
    const char *t; npy_intp t_rs, t_cs;
    const char *lab; npy_intp lab_rs; int lab_is64;
    const char *r; npy_intp r_rs;
    char *loss; npy_intp loss_rs;
    char *grad; npy_intp g_rs, g_cs;
    double a, b, eps, alpha, gamma;
    const char *v; npy_intp v_cs;          /* class vector multiplying the target, or NULL */
    double clip_tie;                       /* gradient fraction where q equals a clip bound */
    int64_t ignore;
    int focal, from_logits, check;         /* check: report CE_ROW_NOT_NORMALISED / CE_ROW_OUT_OF_UNIT */
} ce_prob_problem;

/* Element-wise binary cross-entropy, summed over a row and divided by row_divisor (e.g. cols for Keras'
 * mean), or written element-wise (loss_cs != 0).  z' = za * z + zb (label smoothing). */
typedef struct {
    npy_intp rows, cols, flat_total;       /* flat_total > 0: a 1-D array cut into rows of `cols` */
    const char *x; npy_intp x_rs, x_cs;
    const char *z; npy_intp z_rs, z_cs;
    int z_f32;                             /* half x only: z is float32; w and pw must then be NULL */
    const char *w; npy_intp w_rs, w_cs;    /* element weight or NULL */
    const char *pw; npy_intp pw_rs, pw_cs; /* pos_weight or NULL */
    const char *r; npy_intp r_rs;          /* per-row gradient scale or NULL */
    char *loss; npy_intp loss_rs, loss_cs; /* loss_cs == 0: one value per row */
    char *grad; npy_intp g_rs, g_cs;
    double za, zb, eps, alpha, gamma, row_divisor, grad_scale;
    ce_binary_loss mode;
    int from_logits, balance, check;
    double clip_tie;                       /* PROB_CLIP / FOCAL: gradient fraction where p equals a clip bound */
} ce_binary_problem;

typedef struct {
    npy_intp rows, cols;
    const char *x; npy_intp x_rs, x_cs;
    char *y; npy_intp y_rs, y_cs;          /* a scalar per row for CE_ROW_LSE */
    ce_transform_kind what;
    ce_unscaled_row *unscaled;             /* internal, NULL: see ce_unscaled_row */
    npy_intp pipe_rows;                    /* rows per block of transform_rows, 0: see ce_block_rows */
} ce_transform_problem;

/* Language-model rows (crossentropy.lm): the token statistics, or Liger's loss and its gradient, of soft-capped
 * logits, from one read of each row (ce_lm_sweep). */
#define CE_LM_BLOCK 1024        /* elements per block of the one-read sweep: a block's buffer stays in L1 */
#define CE_LM_KEEP_BLOCKS 512   /* rows up to this many blocks keep their exps in the gradient row */
typedef enum { CE_LM_STATS = 0, CE_LM_LOSS = 1 } ce_lm_kind;
typedef struct {
    npy_intp rows, cols;
    const char *x; npy_intp x_rs, x_cs;
    const char *lab; npy_intp lab_rs; int lab_is64;
    int64_t ignore;                         /* rows with this label: nll 0, rank -1 / loss 0, grad 0 */
    double softcap;                         /* 0: no soft-capping */
    double smoothing, z_loss, grad_scale;   /* CE_LM_LOSS: label smoothing, z-loss, gradient factor */
    char *nll, *lse, *ent, *rank;           /* CE_LM_STATS outputs (compute type; rank int64) */
    npy_intp nll_rs, lse_rs, ent_rs, rank_rs;
    char *loss; npy_intp loss_rs;           /* CE_LM_LOSS outputs (loss in the compute type) */
    char *grad; npy_intp g_rs, g_cs;        /* NULL: no gradient */
    ce_lm_kind what;
} ce_lm_problem;

/* Row statistics: min, max and sum of each row (compute type; min and max NaN when the row holds a NaN, the
 * sum NaN with a NaN or with both infinities; an empty row gives +inf, -inf, 0), and each row's entry at its
 * label clipped to [lo, hi] (NaN for a label outside [0, cols)).  A NULL output is not computed. */
typedef struct {
    npy_intp rows, cols;
    const char *x; npy_intp x_rs, x_cs;
    const char *lab; npy_intp lab_rs; int lab_is64;   /* NULL: no picked entries */
    char *min, *max, *sum, *picked;                   /* (rows,) outputs in the compute type, or NULL */
    npy_intp min_rs, max_rs, sum_rs, picked_rs;
    double lo, hi;                                    /* clip bounds of the picked entries */
} ce_stats_problem;

/* ---- the one initialiser per problem: everything zeroed (NULL operands), then the neutral defaults ---- */
static inline void ce_xent_problem_init(ce_xent_problem *p)
{
    memset(p, 0, sizeof *p);
    p->a = 1.0; p->c = 1.0;
    p->ignore = CE_NO_LABEL;
    p->mode = CE_XENT_LOGITS;
}

static inline void ce_prob_problem_init(ce_prob_problem *p)
{
    memset(p, 0, sizeof *p);
    p->a = 1.0; p->eps = 1e-7; p->alpha = 0.25; p->gamma = 2.0;
    p->ignore = CE_NO_LABEL;
}

static inline void ce_binary_problem_init(ce_binary_problem *p)
{
    memset(p, 0, sizeof *p);
    p->za = 1.0; p->row_divisor = 1.0; p->grad_scale = 1.0;
    p->alpha = 0.25; p->gamma = 2.0;
    p->mode = CE_BIN_LOGITS_TF;
}

static inline void ce_transform_problem_init(ce_transform_problem *p)
{
    memset(p, 0, sizeof *p);
    p->what = CE_ROW_LSE;
}

static inline void ce_lm_problem_init(ce_lm_problem *p)
{
    memset(p, 0, sizeof *p);
    p->ignore = CE_NO_LABEL;
    p->grad_scale = 1.0;
    p->what = CE_LM_STATS;
}

static inline void ce_stats_problem_init(ce_stats_problem *p)
{
    memset(p, 0, sizeof *p);
    p->lo = -INFINITY; p->hi = INFINITY;
}

/* ---- one dtype's kernels: the single place the drivers pick code by element type ---- */
typedef struct {
    const char *name;                     /* "float32", ... */
    int type_num;                         /* NPY_FLOAT32, ... */
    int itemsize;                         /* bytes per stored element */
    int row_itemsize;                     /* bytes per per-row result (loss, logsumexp) and row scale */
    int out_itemsize;                     /* bytes per N x C output element (softmax, gradient) */
    ce_row_fn transform_row, transform_tblock;
    ce_row_fn transform_small_block;      /* blocks of CE_BLOCK_ROWS rows of few classes (transform_small_ok) */
    int (*transform_small_ok)(const ce_transform_problem *p);
    ce_row_fn transform_rows;             /* blocks of ce_block_rows rows, each sweep taking the next row's max */
    ce_row_fn xent_row, xent_small_block, xent_tblock;
    int (*xent_small_ok)(const ce_xent_problem *p);
    ce_row_fn xent_rows;                  /* blocks of ce_block_rows rows, each sweep taking the next row's max */
    ce_row_fn prob_row, binary_row;
    ce_row_fn lm_row;                     /* ce_lm_problem rows */
    ce_row_fn stats_row, stats_small_block;   /* ce_stats_problem rows, blocks of short rows */
} ce_dtype_kernels;

/* The kernels for a NumPy type number, or NULL when that element type has none. */
const ce_dtype_kernels *ce_kernels_for(int type_num);
/* The kernels reading type_num and writing N x C outputs of out_type_num (a half type, or float32 from a
 * half type), or NULL. */
const ce_dtype_kernels *ce_kernels_for_out(int type_num, int out_type_num);
/* bfloat16 has no fixed NumPy type number: ml_dtypes' is set here when its loops are registered. */
void ce_set_bfloat16_type_num(int type_num);
int ce_bfloat16_type_num(void);
/* Which float16 conversion the float16 kernels use: "F16C (AVX-512)", "F16C" or "integer bits". */
const char *ce_float16_path(void);
const char *ce_bfloat16_path(void);
/* Which of the SIMD clones this CPU runs: "x86-64-v4 (AVX-512)", "x86-64-v3 (AVX2+FMA)" or "baseline". */
const char *ce_simd_path(void);
/* Which rows the sweeps prefetch ahead on this CPU (ce_pf_next_row, ce_pf_kept_row, ce_grad_rows_prefetched),
 * in words. */
const char *ce_row_prefetch(void);
extern const int CE_HAVE_CLONES;

/* The calling thread's floating-point exception flags, saved before the row math and restored after it (its
 * flags are not the caller's: results say what went wrong).  On x86-64 the row math is SSE/AVX code, so
 * MXCSR holds every flag it raises: saving and restoring that register costs about 20 ns, where
 * fegetexceptflag/fesetexceptflag, which also rewrite the x87 environment, cost about 160 ns (a tenth of a
 * 32x10 call). */
typedef struct { unsigned int csr; fexcept_t flags; } ce_fp_flags;
static inline void ce_fp_flags_save(ce_fp_flags *s)
{
#if CE_FP_MXCSR
    s->csr = _mm_getcsr();
#else
    fegetexceptflag(&s->flags, FE_ALL_EXCEPT);
#endif
}
static inline void ce_fp_flags_restore(const ce_fp_flags *s)
{
#if CE_FP_MXCSR
    if (_mm_getcsr() != s->csr) _mm_setcsr(s->csr);
#else
    fesetexceptflag(&s->flags, FE_ALL_EXCEPT);
#endif
}

/* Whether a block of rows (row stride rs, class stride cs, bytes) is copied a row at a time: rows further apart
 * than their classes; adjacent rows are read across the rows instead, whole cache lines at a time. */
static inline int ce_copy_row_by_row(npy_intp rs, npy_intp cs)
{
    return (cs < 0 ? -cs : cs) <= (rs < 0 ? -rs : rs);
}

/* Rows per block when strided rows are copied into a contiguous buffer (see ce_xent_tblock): few enough that
 * the buffer stays in L2, and for adjacent rows enough to read whole cache lines across them (rows copied one
 * by one go down to one a block, so that a long row's buffer is that row). */
static inline npy_intp ce_tblock_rows(npy_intp cols, npy_intp rs, npy_intp cs)
{
    const npy_intp r = (npy_intp)262144 / (cols > 0 ? cols : 1), lo = ce_copy_row_by_row(rs, cs) ? 1 : 16;
    return r < 16 ? (r < lo ? lo : r) : (r > 512 ? 512 : r - r % 16);
}

/* staged half rows prefetch their input and output rows this many bytes ahead (rows up to this long) */
#define CE_PF_AHEAD 12288

/* A float32 row of n (class stride cs bytes) copied into a contiguous one (float32 targets of half logits). */
static inline void ce_copy_f32_row(const char *src, npy_intp cs, float *dst, npy_intp n)
{
    if (cs == (npy_intp)sizeof(float)) memcpy(dst, src, (size_t)n * sizeof(float));
    else for (npy_intp j = 0; j < n; j++) dst[j] = *(const float *)(src + j * cs);
}

/* Softmax and log_softmax rows of this many bytes and more take the next row's max in their statistics sweep
 * (ce_transform_rows): rows of 1000 and 2000 float32 classes were up to 6% and 7-24% slower with it, rows of
 * 4000 and more as fast or faster (docs/performance.md, "logsumexp rows take the next row's max").  logsumexp rows
 * always do. */
#define CE_TRANSFORM_CARRY_MIN 16000

/* How many rows of row_bytes make about CE_PF_AHEAD bytes; 0 (no prefetching ahead) for longer rows. */
static inline npy_intp ce_rows_ahead(npy_intp row_bytes)
{
    return (row_bytes > 0 && row_bytes <= CE_PF_AHEAD) ? (CE_PF_AHEAD + row_bytes - 1) / row_bytes : 0;
}

/* Rows per block of ce_xent_rows: enough that a block's first max sweep (not overlapped) is rare, few enough
 * that the blocks still spread over the threads. */
static inline npy_intp ce_pipe_rows(npy_intp rows, npy_intp cols)
{
    npy_intp r = rows / 16;
    (void)cols;
    return r < 1 ? 1 : (r > 16 ? 16 : r);
}

/* Rows per block of ce_xent_rows and ce_transform_rows: pipe_rows when set, else ce_pipe_rows.  The drivers
 * set one block per thread (each thread's share of rows is one contiguous range anyway): a block's first row
 * takes its max in a read of its own, which no exps overlap, and with blocks of 16 rows that cost 5-10% of a
 * forward (docs/performance.md). */
static inline npy_intp ce_block_rows(npy_intp pipe_rows, npy_intp rows, npy_intp cols)
{
    return pipe_rows > 0 ? pipe_rows : ce_pipe_rows(rows, cols);
}

/* Whether a problem's rows are strided but adjacent, so that copying blocks of rows pays. */
static inline int ce_rows_adjacent(npy_intp rows, npy_intp cols, npy_intp rs, npy_intp cs, npy_intp itemsize)
{
    npy_intp ars = rs < 0 ? -rs : rs, acs = cs < 0 ? -cs : cs;
    return rows > 1 && cols > 1 && cs != itemsize && ars < acs;
}

#endif
