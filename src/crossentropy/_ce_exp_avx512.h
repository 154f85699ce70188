/* The AVX-512 path's exp sweep for contiguous float32 rows (one block of ce_expsum_rel, _ce_sweeps_t.h).
 *
 * exp(x - mref), mref = km ln2 as in ce_exp_rel (_ce_math_t.h), is taken as 2^(K/16) e^r with
 * K = rint(16 (x - mref) / ln2) and |r| <= ln2/32: 2^((K mod 16)/16) comes from a 16-entry table held in one
 * register (vpermd), e^r from a degree-3 Taylor polynomial.  That is 7 multiplies per 16 floats instead of the
 * polynomial exp's 10.  GCC does not turn a table lookup in a portable loop into a register permute, hence
 * the intrinsics, and only on this path.  Max error 1.7 ulp against ce_exp_rel's 1.2 (tests/c/exp_table.c).
 * Same clamp, same reference point and the same single rounding into the subnormals as ce_exp_rel.
 * Included by _rowmath.c after _ce_base.h. */
#ifndef CROSSENTROPY_CE_EXP_AVX512_H
#define CROSSENTROPY_CE_EXP_AVX512_H

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define CE_EXP16 1
#else
#define CE_EXP16 0
#endif

#if CE_EXP16
/* bits(2^(j/16)) - (j << 19), j = 0..15: adding bits(t) << 19, whose low bits hold 16 q + j, makes
 * bits(2^(j/16) 2^q) */
static const int32_t ce_exp16_table[16] = {
    0x3f800000, 0x3f85aac3 - (1 << 19), 0x3f8b95c2 - (2 << 19), 0x3f91c3d3 - (3 << 19),
    0x3f9837f0 - (4 << 19), 0x3f9ef532 - (5 << 19), 0x3fa5fed7 - (6 << 19), 0x3fad583f - (7 << 19),
    0x3fb504f3 - (8 << 19), 0x3fbd08a4 - (9 << 19), 0x3fc5672a - (10 << 19), 0x3fce248c - (11 << 19),
    0x3fd744fd - (12 << 19), 0x3fe0ccdf - (13 << 19), 0x3feac0c7 - (14 << 19), 0x3ff5257d - (15 << 19)};

/* One block's sums, as ce_expsum_rel's loop adds them */
typedef struct { float rest, tot, nmax; } ce_exp16_sums;

/* exp(xc - mref) for clamped xc (xc >= m - 105, or NaN); t0 = 1.5 2^23 + 16 (26 - km).  The low mantissa bits
 * of t then hold 16 (26 + k - km) + j, which stays >= -2016 at the clamp: 2^(q + 26) stays normal, and the
 * 2^-26 folded into the coefficients rounds the product once, into the subnormals when needed. */
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

/* The exps of x[0, n) relative to mref (m the row's max, xlo = m - 105 its clamp, as ce_exp_rel_row sets
 * them), kept in keep[0, n) unless keep is NULL (keep may be x), summed with (tot) and without (rest) the
 * entries equal to m; with nx (or NULL), the max of nx[0, n), NaN ignored as in ce_max_impl.  NaN in x
 * gives NaN sums. */
__attribute__((target("avx512f"))) static ce_exp16_sums ce_exp16_block_avx512(const float *x, npy_intp n, float m,
                                                                              float xlo, float *keep,
                                                                              const float *nx)
{
    const double km = rint((double)m * 1.44269504088896340736);   /* ce_exp_rel_row's km */
    const __m512 t0 = _mm512_set1_ps((float)(12582912.0 + 16 * 26 - 16 * km)), lo = _mm512_set1_ps(xlo);
    const __m512 mv = _mm512_set1_ps(m), ninf = _mm512_set1_ps(-INFINITY);
    const __m512i table = _mm512_loadu_si512(ce_exp16_table);
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
    if (j < n) {   /* the last n % 16, masked: a vector step instead of a scalar loop */
        const __mmask16 in = (__mmask16)((1u << (n - j)) - 1);
        const __m512 xv = _mm512_maskz_loadu_ps(in, x + j);
        const __m512 e = ce_exp16_avx512(_mm512_max_ps(lo, xv), t0, table);
        rest = _mm512_mask_add_ps(rest, _mm512_cmp_ps_mask(xv, mv, _CMP_NEQ_UQ) & in, rest, e);
        tot = _mm512_mask_add_ps(tot, in, tot, e);
        if (keep) _mm512_mask_storeu_ps(keep + j, in, e);
        if (nx) nmax = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, in, nx + j), nmax);
    }
    ce_exp16_sums s = {_mm512_reduce_add_ps(rest), _mm512_reduce_add_ps(tot), _mm512_reduce_max_ps(nmax)};
    return s;
}
#endif

#endif
