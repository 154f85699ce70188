/* Compiler plumbing shared by the row-math sources (included by _rowmath.c, and by the C tests before the
 * headers they take from it): inlining, SIMD pragmas, the target_clones dispatch, answers asked once of the
 * CPU (ce_ask_once) and the name-pasting macros of the per-type templates. */
#ifndef CROSSENTROPY_CE_BASE_H
#define CROSSENTROPY_CE_BASE_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <limits.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define CE_INLINE static inline __attribute__((always_inline))
#else
#define CE_INLINE static inline
#endif

/* Hot row functions are compiled for AVX-512, AVX2+FMA and the baseline; the loader picks one per CPU
 * (GCC ifunc), so portable wheels still run at full width. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && !defined(CE_NO_CLONES)
#define CE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define CE_CLONES_ON 1
#else
#define CE_CLONES
#define CE_CLONES_ON 0
#endif

#if defined(_OPENMP) || defined(__clang__) || defined(__GNUC__)
#define CE_PRAGMA(x) _Pragma(#x)
#define CE_SIMD_REDUCE(...) CE_PRAGMA(omp simd reduction(__VA_ARGS__))
#define CE_SIMD CE_PRAGMA(omp simd)
#else
#define CE_SIMD_REDUCE(...)
#define CE_SIMD
#endif

/* Rows whose max is at most this in magnitude take the exp sweeps' clamp-free form (ce_exp_rel): there
 * max + CE_EXP_LO is still below the max by about CE_EXP_LO, and its reduction's multiples of LN2_HI are
 * exact. */
#define CE_REL_MAX 16384.0

/* query()'s answer (>= 0), asked once and kept in *answer (-1 before): the row sweeps ask for every row.
 * Racing threads store the same value. */
static inline int ce_ask_once(int *answer, int (*query)(void))
{
#if defined(__GNUC__)
    int v = __atomic_load_n(answer, __ATOMIC_RELAXED);
    if (v < 0) {
        v = query();
        __atomic_store_n(answer, v, __ATOMIC_RELAXED);
    }
    return v;
#else
    (void)answer;
    return query();
#endif
}

#define CE_CAT_(a, b) a##_##b
#define CE_CAT(a, b) CE_CAT_(a, b)
/* CE_F(name): a name for the element (storage) type being instantiated, e.g. ce_xent_row_f32.
 * CE_M(name): a name for its compute type's math, e.g. ce_exp_f32 (shared by float16 and float32). */
#define CE_F(name) CE_CAT(name, CE_SUF)
#define CE_M(name) CE_CAT(name, CE_MSUF)

#endif
