/* Row math for crossentropy: vectorisable exp/log, and one function per kernel that computes a row's
 * loss (and optionally its gradient) in a few in-cache sweeps.  Everything here is C because Cython
 * cannot emit the `omp simd` pragmas that make GCC/Clang vectorise the reductions.
 *
 * Problems are described by plain structs with byte strides, filled either from a gufunc inner loop's
 * (args, dims, steps) or from ndarrays by the Python-facing drivers; the row functions are then run over
 * all rows by one OpenMP driver (`run_rows` in _kernels.pyx).
 */
#ifndef CROSSENTROPY_ROWMATH_H
#define CROSSENTROPY_ROWMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <limits.h>
#include <stdlib.h>
#include <numpy/npy_common.h>

#if defined(__GNUC__)
#define CE_INLINE static inline __attribute__((always_inline))
#else
#define CE_INLINE static inline
#endif

/* Hot row functions are compiled for AVX-512, AVX2+FMA and the baseline; the loader picks one per CPU
 * (GCC ifunc), so portable wheels still run at full width. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && !defined(CE_NO_CLONES)
#define CE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define CE_HAVE_CLONES 1
#else
#define CE_CLONES
#define CE_HAVE_CLONES 0
#endif

/* Which of the clones above this CPU runs: "x86-64-v4", "x86-64-v3" or "baseline". */
static inline const char *ce_simd_path(void)
{
#if CE_HAVE_CLONES
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2+FMA)";
#endif
    return "baseline";
}

#if defined(_OPENMP) || defined(__clang__) || defined(__GNUC__)
#define CE_PRAGMA(x) _Pragma(#x)
#define CE_SIMD_REDUCE(...) CE_PRAGMA(omp simd reduction(__VA_ARGS__))
#define CE_SIMD CE_PRAGMA(omp simd)
#else
#define CE_SIMD_REDUCE(...)
#define CE_SIMD
#endif

/* Bits returned by every row function; the driver counts them over rows. */
#define CE_ROW_BAD_LABEL 1   /* label outside [0, cols): the row's results are NaN */
#define CE_ROW_NOT_NORMALISED 2 /* probability row whose sum differs from 1 by more than CE_NORM_TOL */
#define CE_ROW_OUT_OF_UNIT 4 /* probability row with a value outside [0, 1] (probably logits) */
#define CE_NORM_TOL 1e-3
#define CE_SMALL_COLS 32     /* rows this short are vectorised across rows, CE_BLOCK_ROWS at a time */
#define CE_BLOCK_ROWS 64
#define CE_COUNT_SHIFT 3     /* row functions handling blocks return their bad-row count above the flags */
#define CE_SUM_BLOCK 1024    /* elements summed in the row type before adding into a double */

#define CE_NO_LABEL INT64_MIN /* `ignore` value meaning "no label is ignored" */

typedef int (*ce_row_fn)(const void *problem, npy_intp row);

/* Softmax cross-entropy against the composite target
 *     t'_j = v_j * (a * t_j + b + c * [j == label])
 * (v_j = 1 without a class vector, the t term absent without dense targets, the label term absent without
 * labels).  One struct covers TF/Keras dense labels with smoothing, sparse labels, and torch's class
 * weights with label smoothing.  Loss = sum_j t'_j * (lse - x_j); grad_j = r * (sum(t') * softmax_j - t'_j).
 * mode 1 treats x as log-probabilities (no log-softmax): loss = -sum t'_j x_j, grad_j = -r t'_j.
 * mode 2 is mode 0 with the gradient TF's SoftmaxCrossEntropyWithLogits op returns: r * (softmax_j - t'_j). */
typedef struct {
    npy_intp rows, cols;
    const char *x; npy_intp x_rs, x_cs;
    const char *t; npy_intp t_rs, t_cs;
    const char *lab; npy_intp lab_rs; int lab_is64;
    const char *v; npy_intp v_cs;
    const char *r; npy_intp r_rs;          /* per-row gradient scale, NULL = 1 */
    char *loss; npy_intp loss_rs;
    char *grad; npy_intp g_rs, g_cs;       /* NULL = no gradient */
    double a, b, c;
    int64_t ignore;                        /* rows whose label equals this give loss 0, grad 0 */
    int mode;                              /* 0 = logits, 1 = log-probabilities, 2 = logits, TF op grad */
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

/* Element-wise binary cross-entropy, summed over a row (times row_loss_scale, e.g. 1/cols for Keras'
 * mean) or written element-wise (loss_cs != 0).  z' = za * z + zb (label smoothing).  Modes: */
#define CE_BIN_LOGITS_TF 0     /* max(x,0) - x z + log1p(exp(-|x|)), pos_weight form when pw given */
#define CE_BIN_LOGITS_TORCH 1  /* (1-z) x + lw * softplus(-x), lw = 1 + (pw-1) z */
#define CE_BIN_PROB_CLIP 2     /* Keras: c = clip(p, eps, 1-eps); -(z log c + (1-z) log(1-c)) */
#define CE_BIN_PROB_TORCH 3    /* torch: -(z max(log p,-100) + (1-z) max(log(1-p),-100)) */
#define CE_BIN_FOCAL 4         /* Keras binary focal on p (or sigmoid(x) when from_logits) */
#define CE_BIN_LOGITS_TF_WEIGHTED 5 /* TF weighted_cross_entropy_with_logits: the pos_weight form, grad 1-z at x=0 */
#define CE_BIN_LOGITS_KERAS 6  /* Keras (JAX): -z log sig(x) - (1-z) log sig(-x) = ((1-z) x or -z x) + log1p(exp(-|x|));
                                  +inf (TF's form: NaN) at x = +-inf with 0 < z < 1 */
typedef struct {
    npy_intp rows, cols, flat_total;       /* flat_total > 0: a 1-D array cut into rows of `cols` */
    const char *x; npy_intp x_rs, x_cs;
    const char *z; npy_intp z_rs, z_cs;
    const char *w; npy_intp w_rs, w_cs;    /* element weight or NULL */
    const char *pw; npy_intp pw_rs, pw_cs; /* pos_weight or NULL */
    const char *r; npy_intp r_rs;          /* per-row gradient scale or NULL */
    char *loss; npy_intp loss_rs, loss_cs; /* loss_cs == 0: one value per row */
    char *grad; npy_intp g_rs, g_cs;
    double za, zb, eps, alpha, gamma, row_loss_scale, grad_scale;
    int mode, from_logits, balance, check;
    double clip_tie;                       /* PROB_CLIP / FOCAL: gradient fraction where p equals a clip bound */
} ce_binary_problem;


/* Language-model rows (crossentropy.lm): the token statistics or Liger's loss of soft-capped logits. */
#define CE_LM_BLOCK 1024   /* elements per block of the one-read sweep: a block's buffer stays in L1 */
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

static inline void ce_lm_problem_init(ce_lm_problem *p)
{
    memset(p, 0, sizeof *p);
    p->ignore = CE_NO_LABEL;
    p->grad_scale = 1.0;
}

/* Plain row transforms for the logsumexp / softmax / log_softmax gufuncs. */
#define CE_ROW_LSE 0
#define CE_ROW_SOFTMAX 1
#define CE_ROW_LOG_SOFTMAX 2
typedef struct {
    npy_intp rows, cols;
    const char *x; npy_intp x_rs, x_cs;
    char *y; npy_intp y_rs, y_cs;          /* a scalar per row for CE_ROW_LSE */
    int what;
} ce_transform_problem;

/* Rows per block when strided rows are copied into a contiguous buffer (see ce_xent_tblock): enough rows
 * to read whole cache lines across them, few enough that the buffer stays in L2. */
CE_INLINE npy_intp ce_tblock_rows(npy_intp cols)
{
    npy_intp r = (npy_intp)262144 / (cols > 0 ? cols : 1);
    return r < 16 ? 16 : (r > 512 ? 512 : r - r % 16);
}

/* Whether a problem's rows are strided but adjacent, so that copying blocks of rows pays. */
CE_INLINE int ce_rows_adjacent(npy_intp rows, npy_intp cols, npy_intp rs, npy_intp cs, npy_intp itemsize)
{
    npy_intp ars = rs < 0 ? -rs : rs, acs = cs < 0 ? -cs : cs;
    return rows > 1 && cols > 1 && cs != itemsize && ars < acs;
}

CE_INLINE int64_t ce_label_at(const char *lab, npy_intp rs, npy_intp i, int is64)
{
    return is64 ? *(const int64_t *)(lab + i * rs) : (int64_t)*(const int32_t *)(lab + i * rs);
}

#define CE_CAT_(a, b) a##_##b
#define CE_CAT(a, b) CE_CAT_(a, b)
#define CE_F(name) CE_CAT(name, CE_SUF)

/* ---- the two element types ---- */
#define CE_T float
#define CE_IS_DOUBLE 0
#define CE_SUF f32
#define CE_UINT uint32_t
#define CE_SINT int32_t
#include "_rowmath_t.h"
#undef CE_T
#undef CE_SUF
#undef CE_UINT
#undef CE_SINT
#undef CE_IS_DOUBLE

#define CE_T double
#define CE_IS_DOUBLE 1
#define CE_SUF f64
#define CE_UINT uint64_t
#define CE_SINT int64_t
#include "_rowmath_t.h"
#undef CE_T
#undef CE_SUF
#undef CE_UINT
#undef CE_SINT
#undef CE_IS_DOUBLE

/* ---- language-model rows: after both element types, since the float rows use the double exp ---- */
#define CE_S CE_T
#define CE_LD(v) (v)
#define CE_ST(v) (v)
#define CE_M(name) CE_F(name)
#define CE_KEEP_EXPS 1
#define CE_T float
#define CE_SUF f32
#define CE_K(v) v##f
#include "_ce_lm_t.h"
#undef CE_T
#undef CE_SUF
#undef CE_K
#define CE_T double
#define CE_SUF f64
#define CE_K(v) v
#include "_ce_lm_t.h"
#undef CE_T
#undef CE_SUF
#undef CE_K
#undef CE_S
#undef CE_LD
#undef CE_ST
#undef CE_M
#undef CE_KEEP_EXPS

#endif
