/* The row math, compiled once (a static library linked into _kernels and _gufuncs).
 *
 * Each element type is one block below: its storage type CE_S, the type it computes in CE_T, how one
 * element is loaded (CE_LD: storage -> compute) and stored (CE_ST), its names' suffix and its NumPy type.
 * The templates then instantiate, for that type:
 *   _ce_sweeps_t.h  max, split exp sums, target dot products, the gradient sweep   (row statistics)
 *   _ce_losses_t.h  the losses: softmax epilogues, probability terms, binary element losses
 *   _ce_rows_t.h    the row kernels and the type's ce_dtype_kernels entry
 * Math (_ce_math_t.h: exp, log, log1p) is instantiated once per COMPUTE type.
 * Adding an element type = one block here + one line in ce_kernels_for (+ its gufunc type column). */
#include "_rowmath.h"
#include <numpy/ndarraytypes.h>
#include "_ce_base.h"

const int CE_HAVE_CLONES = CE_CLONES_ON;

const char *ce_simd_path(void)
{
#if CE_CLONES_ON
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2+FMA)";
#elif defined(__AVX512F__) && defined(__AVX512BW__)   /* a forced build: -DCE_NO_CLONES -march=x86-64-v4 */
    return "x86-64-v4 (AVX-512, fixed at build time)";
#elif defined(__AVX2__) && defined(__FMA__)
    return "x86-64-v3 (AVX2+FMA, fixed at build time)";
#endif
    return "baseline";
}

static inline int64_t ce_label_at(const char *lab, npy_intp rs, npy_intp i, int is64)
{
    return is64 ? *(const int64_t *)(lab + i * rs) : (int64_t)*(const int32_t *)(lab + i * rs);
}

/* ---- math, once per compute type ---- */
#define CE_T float
#define CE_UINT uint32_t
#define CE_SINT int32_t
#define CE_IS_DOUBLE 0
#define CE_MSUF f32
#define CE_K(v) v##f
#include "_ce_math_t.h"
#undef CE_T
#undef CE_UINT
#undef CE_SINT
#undef CE_IS_DOUBLE
#undef CE_MSUF
#undef CE_K

#define CE_T double
#define CE_UINT uint64_t
#define CE_SINT int64_t
#define CE_IS_DOUBLE 1
#define CE_MSUF f64
#define CE_K(v) v
#include "_ce_math_t.h"
#undef CE_T
#undef CE_UINT
#undef CE_SINT
#undef CE_IS_DOUBLE
#undef CE_MSUF
#undef CE_K

/* ---- element types ---- */
#define CE_INSTANTIATE "_ce_instantiate.h"

/* float32: stored and computed in float */
#define CE_S float
#define CE_T float
#define CE_K(v) v##f
#define CE_SUF f32
#define CE_MSUF f32
#define CE_LD(v) (v)
#define CE_ST(v) (v)
#define CE_KEEP_EXPS 1   /* the gradient row can hold the exps between sweeps (storage as wide as compute) */
#define CE_NAME "float32"
#define CE_NPY NPY_FLOAT32
#include CE_INSTANTIATE

/* float64: stored and computed in double */
#define CE_S double
#define CE_T double
#define CE_K(v) v
#define CE_SUF f64
#define CE_MSUF f64
#define CE_LD(v) (v)
#define CE_ST(v) (v)
#define CE_KEEP_EXPS 1
#define CE_NAME "float64"
#define CE_NPY NPY_FLOAT64
#include CE_INSTANTIATE

const ce_dtype_kernels *ce_kernels_for(int type_num)
{
    switch (type_num) {
        case NPY_FLOAT32: return &ce_kernels_f32;
        case NPY_FLOAT64: return &ce_kernels_f64;
        default: return NULL;
    }
}
