/* The table exps of the AVX-512 and AVX2 paths, for contiguous float32 rows (one block of ce_expsum_rel,
 * _ce_sweeps_t.h).
 *
 * exp(x - mref), mref = km ln2 as in ce_exp_rel (_ce_math_t.h), is taken as 2^(K/L) e^r with
 * K = rint(L (x - mref) / ln2) and |r| <= ln2/(2L): 2^((K mod L)/L) comes from an L-entry table held in one
 * register (vpermd), e^r from a Taylor polynomial.
 *   AVX-512: L = 16, degree 3: 7 multiplies per 16 floats instead of the polynomial exp's 10.
 *   AVX2:    L = 8, degree 4 (one vpermd holds 8 entries): 8 multiplies per 8 floats instead of 10.
 * GCC does not turn a table lookup in a portable loop into a register permute, hence the intrinsics.
 * Max error 1.7 ulp (AVX-512) and 1.6 ulp (AVX2), against ce_exp_rel's 1.2 (tests/c/exp_table.c). Same clamp,
 * same reference point and the same single rounding into the subnormals as ce_exp_rel.
 * Included by _rowmath.c after _ce_base.h. */
#ifndef CROSSENTROPY_CE_EXP_TABLE_H
#define CROSSENTROPY_CE_EXP_TABLE_H

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define CE_EXP_TABLE 1
#else
#define CE_EXP_TABLE 0
#endif

#if CE_EXP_TABLE
/* bits(2^(j/L)) - (j << (23 - log2 L)): adding bits(t) << (23 - log2 L), whose low bits hold L q + j, makes
 * bits(2^(j/L) 2^q) */
static const int32_t ce_exp_table16[16] = {
    0x3f800000, 0x3f85aac3 - (1 << 19), 0x3f8b95c2 - (2 << 19), 0x3f91c3d3 - (3 << 19),
    0x3f9837f0 - (4 << 19), 0x3f9ef532 - (5 << 19), 0x3fa5fed7 - (6 << 19), 0x3fad583f - (7 << 19),
    0x3fb504f3 - (8 << 19), 0x3fbd08a4 - (9 << 19), 0x3fc5672a - (10 << 19), 0x3fce248c - (11 << 19),
    0x3fd744fd - (12 << 19), 0x3fe0ccdf - (13 << 19), 0x3feac0c7 - (14 << 19), 0x3ff5257d - (15 << 19)};
static const int32_t ce_exp_table8[8] = {
    0x3f800000, 0x3f8b95c2 - (1 << 20), 0x3f9837f0 - (2 << 20), 0x3fa5fed7 - (3 << 20),
    0x3fb504f3 - (4 << 20), 0x3fc5672a - (5 << 20), 0x3fd744fd - (6 << 20), 0x3feac0c7 - (7 << 20)};

/* One block's sums, as ce_expsum_rel's loop adds them */
typedef struct { float rest, tot, nmax; } ce_exp_table_sums;

/* t0 = 1.5 2^23 + L (26 - km), km as ce_exp_rel_row sets it.  The low mantissa bits of t then hold
 * L (26 + k - km) + j, which stays >= -126 L at the clamp (m - 105): 2^(q + 26) stays normal, and the 2^-26
 * folded into the coefficients rounds the product once, into the subnormals when needed. */
static inline float ce_exp_table_t0(float m, int L)
{
    const double km = rint((double)m * 1.44269504088896340736);
    return (float)(12582912.0 + L * (26 - km));
}

/* exp(xc - mref) for clamped xc (xc >= m - 105, or NaN), 16 at a time */
__attribute__((target("avx512f"))) static inline __m512 ce_exp16_avx512(__m512 xc, __m512 t0, __m512i table)
{
    const __m512 t = _mm512_fmadd_ps(xc, _mm512_set1_ps(16.0f * 1.44269504088896340736f), t0);
    const __m512 k = _mm512_sub_ps(t, t0);
    /* ln2/16 split as ce_exp_rel splits ln2: k ln2_hi/16 is exact */
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f / 16), xc);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f / 16), r);
    const __m512i tb = _mm512_castps_si512(t);
    const __m512 s = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_slli_epi32(tb, 19), _mm512_permutexvar_epi32(tb, table)));
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0x1p-26f / 6), r, _mm512_set1_ps(0x1p-26f / 2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1p-26f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1p-26f));
    return _mm512_mul_ps(p, s);
}

/* The same, 8 at a time */
__attribute__((target("avx2,fma"))) static inline __m256 ce_exp8_avx2(__m256 xc, __m256 t0, __m256i table)
{
    const __m256 t = _mm256_fmadd_ps(xc, _mm256_set1_ps(8.0f * 1.44269504088896340736f), t0);
    const __m256 k = _mm256_sub_ps(t, t0);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f / 8), xc);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f / 8), r);
    const __m256i tb = _mm256_castps_si256(t);
    const __m256 s = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_slli_epi32(tb, 20), _mm256_permutevar8x32_epi32(table, tb)));
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(0x1p-26f / 24), r, _mm256_set1_ps(0x1p-26f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1p-26f / 2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1p-26f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1p-26f));
    return _mm256_mul_ps(p, s);
}

/* The exps of x[0, n) relative to mref (m the row's max, xlo = m - 105 its clamp, as ce_exp_rel_row sets
 * them), kept in keep[0, n) unless keep is NULL (keep may be x), summed with (tot) and without (rest) the
 * entries equal to m; with nx (or NULL), the max of nx[0, n), NaN ignored as in ce_max_impl (max(v, m)
 * returns m when v is NaN).  NaN in x gives NaN sums.  The last n % 16 are one masked step. */
__attribute__((target("avx512f"))) static ce_exp_table_sums ce_exp_block_avx512(const float *x, npy_intp n, float m,
                                                                               float xlo, float *keep,
                                                                               const float *nx)
{
    const __m512 t0 = _mm512_set1_ps(ce_exp_table_t0(m, 16)), lo = _mm512_set1_ps(xlo);
    const __m512 mv = _mm512_set1_ps(m), ninf = _mm512_set1_ps(-INFINITY);
    const __m512i table = _mm512_loadu_si512(ce_exp_table16);
    __m512 rest = _mm512_setzero_ps(), tot = rest, nmax = ninf;
    npy_intp j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 xv = _mm512_loadu_ps(x + j);
        const __m512 e = ce_exp16_avx512(_mm512_max_ps(lo, xv), t0, table);   /* NaN x stays NaN */
        rest = _mm512_mask_add_ps(rest, _mm512_cmp_ps_mask(xv, mv, _CMP_NEQ_UQ), rest, e);
        tot = _mm512_add_ps(tot, e);
        if (keep) _mm512_storeu_ps(keep + j, e);
        if (nx) nmax = _mm512_max_ps(_mm512_loadu_ps(nx + j), nmax);
    }
    if (j < n) {
        const __mmask16 in = (__mmask16)((1u << (n - j)) - 1);
        const __m512 xv = _mm512_maskz_loadu_ps(in, x + j);
        const __m512 e = ce_exp16_avx512(_mm512_max_ps(lo, xv), t0, table);
        rest = _mm512_mask_add_ps(rest, _mm512_cmp_ps_mask(xv, mv, _CMP_NEQ_UQ) & in, rest, e);
        tot = _mm512_mask_add_ps(tot, in, tot, e);
        if (keep) _mm512_mask_storeu_ps(keep + j, in, e);
        if (nx) nmax = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, in, nx + j), nmax);
    }
    ce_exp_table_sums s = {_mm512_reduce_add_ps(rest), _mm512_reduce_add_ps(tot), _mm512_reduce_max_ps(nmax)};
    return s;
}

/* The same as ce_exp_block_avx512, 8 at a time; the last n % 8 are one step of masked loads and stores */
__attribute__((target("avx2,fma"))) static ce_exp_table_sums ce_exp_block_avx2(const float *x, npy_intp n, float m,
                                                                              float xlo, float *keep,
                                                                              const float *nx)
{
    const __m256 t0 = _mm256_set1_ps(ce_exp_table_t0(m, 8)), lo = _mm256_set1_ps(xlo);
    const __m256 mv = _mm256_set1_ps(m), ninf = _mm256_set1_ps(-INFINITY);
    const __m256i table = _mm256_loadu_si256((const __m256i *)ce_exp_table8);
    __m256 rest = _mm256_setzero_ps(), tot = rest, nmax = ninf;
    npy_intp j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 xv = _mm256_loadu_ps(x + j);
        const __m256 e = ce_exp8_avx2(_mm256_max_ps(lo, xv), t0, table);   /* NaN x stays NaN */
        rest = _mm256_add_ps(rest, _mm256_and_ps(_mm256_cmp_ps(xv, mv, _CMP_NEQ_UQ), e));
        tot = _mm256_add_ps(tot, e);
        if (keep) _mm256_storeu_ps(keep + j, e);
        if (nx) nmax = _mm256_max_ps(_mm256_loadu_ps(nx + j), nmax);
    }
    if (j < n) {
        /* lanes below n - j: all bits set (the masked loads and stores look at the top bit) */
        const __m256i in = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - j)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 inf = _mm256_castsi256_ps(in);
        const __m256 xv = _mm256_maskload_ps(x + j, in);
        const __m256 e = _mm256_and_ps(ce_exp8_avx2(_mm256_max_ps(lo, xv), t0, table), inf);
        rest = _mm256_add_ps(rest, _mm256_and_ps(_mm256_cmp_ps(xv, mv, _CMP_NEQ_UQ), e));
        tot = _mm256_add_ps(tot, e);
        if (keep) _mm256_maskstore_ps(keep + j, in, e);
        if (nx) nmax = _mm256_max_ps(_mm256_blendv_ps(ninf, _mm256_maskload_ps(nx + j, in), inf), nmax);
    }
    /* across the lanes: the halves, then pairs, then the last two */
    __m128 r4 = _mm_add_ps(_mm256_castps256_ps128(rest), _mm256_extractf128_ps(rest, 1));
    __m128 t4 = _mm_add_ps(_mm256_castps256_ps128(tot), _mm256_extractf128_ps(tot, 1));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(nmax), _mm256_extractf128_ps(nmax, 1));
    r4 = _mm_add_ps(r4, _mm_movehl_ps(r4, r4));
    t4 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    ce_exp_table_sums s = {_mm_cvtss_f32(_mm_add_ss(r4, _mm_movehdup_ps(r4))),
                           _mm_cvtss_f32(_mm_add_ss(t4, _mm_movehdup_ps(t4))),
                           _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)))};
    return s;
}
#endif

#endif
