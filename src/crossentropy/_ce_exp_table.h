/* The table exps of the AVX-512 and AVX2 paths, for contiguous float32 rows and half rows read in registers
 * (one block of ce_expsum_rel, _ce_sweeps_t.h).
 *
 * exp(x - mref), mref = km fl(ln2) (ce_exp_table_ref; km as in ce_exp_rel, _ce_math_t.h), is taken as 2^(K/L) e^r with
 * K = rint(L (x - mref) / ln2) and |r| <= ln2/(2L): 2^((K mod L)/L) comes from an L-entry table held in one
 * register (vpermd), e^r from a polynomial 1 + r + c2 r^2 + c3 r^3.  r = x - k fl(ln2)/L in one fused
 * multiply-add (k = rint(L x / ln2)), not in ce_exp_rel's two steps: fl(ln2) exceeds ln2 by only 2.7e-9 of
 * it (CE_TABLE_LN2), so the exp comes out as exp(x (1 - 2.7e-9)), and taking the row's reference point as
 * km fl(ln2) (ce_exp_table_ref) leaves exp(x - m) scaled by exp(2.7e-9 (m - x)): nothing near the max,
 * 0.5 ulp at 20 below it, 2.4 ulp at the clamp's 105.  That is one multiply-add less per vector, the
 * forwards' sweeps 5-9% faster (docs/performance.md, "One step of range reduction").
 *   AVX-512: L = 16, Taylor's c2, c3: 7 multiplies per 16 floats instead of the polynomial exp's 10.
 *   AVX2:    L = 8 (one vpermd holds 8 entries), c2, c3 minimax on |r| <= ln2/16
 *            (benchmarks/expf/fit_exp.py --degree 3 --table 8): 7 multiplies per 8 floats instead of 10.
 *            Taylor's would need degree 4 there (one more FMA, 10% of the AVX2 forward's time).
 * GCC does not turn a table lookup in a portable loop into a register permute, hence the intrinsics.
 * Max error 1.7 ulp (AVX-512) and 1.93 ulp (AVX2) plus that scaling, against ce_exp_rel's 1.2
 * (tests/c/exp_table.c). Same clamp and the same single rounding into the subnormals as ce_exp_rel.
 * Included by _rowmath.c after _ce_base.h. */
#ifndef CROSSENTROPY_CE_EXP_TABLE_H
#define CROSSENTROPY_CE_EXP_TABLE_H

#include "_rowmath.h"   /* ce_store_behind */

#if defined(__GNUC__) && defined(__x86_64__) && !defined(CE_NO_INTRINSICS)   /* see _ce_widen.h */
#include <immintrin.h>
#include "_ce_half.h"
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

/* How a block leaves the row's max m out of rest.  skip = CE_TABLE_COUNT: every entry equal to m, counted in
 * cnt (a compare per step).  skip >= 0: entry `skip` alone (cnt 1), -1: none (cnt 0); other entries equal to m
 * are then added to rest like the others, which log1p(rest + cnt - 1) takes as well (they make rest >= 1,
 * where its precision no longer matters).  On the AVX2 path, rows of CE_TABLE_SKIP_MIN entries and more
 * take the position, found by ce_first_at_max_avx2 (float32 rows without kept exps: forward, logsumexp; see
 * CE_TABLE_FIND) or ce_first_pattern_avx2 (half rows, kept exps or not): the compare, its mask and its count
 * cost 15-20% of the float32 forward, and the search repays itself from about 512 floats; for float32 rows with
 * kept exps (loss+grad) it did not (docs/performance.md).  Without ties at m both give the same sums, bit for
 * bit. */
#define CE_TABLE_COUNT (-2)
#define CE_TABLE_SKIP_MIN 768
/* skip = CE_TABLE_FIND (float32 rows on the AVX2 path): the same position, looked for by each chunk of the block
 * until one holds it, just before the chunk's exps, which then read the chunk from L1 instead of L2 */
#define CE_TABLE_FIND (-3)

/* One block's results, as ce_expsum_rel's loop adds them: the sum of the exps of the entries other than m,
 * how many entries equal m (counted from the compare that leaves them out of rest: one scalar popcount per
 * step instead of a second vector sum to recover the count from), and the next row's max */
typedef struct { double rest; int cnt; float nmax; } ce_exp_table_sums;

/* A block runs in chunks of CE_TABLE_LANE_ADDS vector steps: each lane adds at most that many float32 exps
 * (see ce_sum_block) before its sum goes into a double lane.  One call then takes a whole row, and the
 * reduction across the lanes, with the call's own setup about 50 cycles, comes once per row instead of once
 * per 512 (AVX2) or 1024 (AVX-512) entries: a 1000-class forward on the AVX2 path 6% faster. */
#define CE_TABLE_LANE_ADDS 64
/* The entries one call takes at most: its count of entries at the max stays an int (a struct of 16 bytes,
 * returned in registers) */
#define CE_TABLE_CALL_MAX ((npy_intp)1 << 30)

/* km = rint(m / ln2), the row's multiple of ln2, as ce_exp_rel_row sets it */
static inline double ce_exp_table_km(float m) { return rint((double)m * 1.44269504088896340736); }

/* fl(ln2), the reduction's constant (times 1/L, exact), and the row's reference point km fl(ln2) (in double,
 * exact: km has at most 15 bits) that the table exps are relative to: its inv_top is exp(ref - m) */
#define CE_TABLE_LN2 0.693147182464599609375
static inline double ce_exp_table_ref(float m) { return ce_exp_table_km(m) * CE_TABLE_LN2; }

/* t0 = 1.5 2^23 + L (26 - km).  The low mantissa bits of t then hold
 * L (26 + k - km) + j, which stays >= -126 L at the clamp (m - 105): 2^(q + 26) stays normal, and the 2^-26
 * folded into the coefficients rounds the product once, into the subnormals when needed. */
static inline float ce_exp_table_t0(float m, int L)
{
    return (float)(12582912.0 + L * (26 - ce_exp_table_km(m)));
}

/* exp(xc - mref) for clamped xc (xc >= m - 105, or NaN), 16 at a time, in two factors: returns p and sets
 * *s, exp = p s (in one rounding) */
__attribute__((target("avx512f"))) static inline __m512 ce_exp16_avx512_parts(__m512 xc, __m512 t0, __m512i table,
                                                                              __m512 *s)
{
    const __m512 t = _mm512_fmadd_ps(xc, _mm512_set1_ps(16.0f * 1.44269504088896340736f), t0);
    const __m512 k = _mm512_sub_ps(t, t0);
    const __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps((float)CE_TABLE_LN2 / 16), xc);
    const __m512i tb = _mm512_castps_si512(t);
    *s = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_slli_epi32(tb, 19), _mm512_permutexvar_epi32(tb, table)));
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0x1p-26f / 6), r, _mm512_set1_ps(0x1p-26f / 2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1p-26f));
    return _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1p-26f));
}

/* The same, 8 at a time, in two factors: returns p and sets *s, exp = p s (in one rounding) */
__attribute__((target("avx2,fma"))) static inline __m256 ce_exp8_avx2_parts(__m256 xc, __m256 t0, __m256i table,
                                                                           __m256 *s)
{
    const __m256 t = _mm256_fmadd_ps(xc, _mm256_set1_ps(8.0f * 1.44269504088896340736f), t0);
    const __m256 k = _mm256_sub_ps(t, t0);
    const __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps((float)CE_TABLE_LN2 / 8), xc);
    const __m256i tb = _mm256_castps_si256(t);
    *s = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_slli_epi32(tb, 20), _mm256_permutevar8x32_epi32(table, tb)));
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(0x1p-26f * 0.16664298f), r, _mm256_set1_ps(0x1p-26f * 0.5000648f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1p-26f));
    return _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1p-26f));
}

/* The element types a block reads: float32 rows, or half rows converted in registers (exact, as
 * _ce_half.h's loads), so that a half row's forward sweep needs no float32 copy of the row */
enum { CE_TABLE_F32 = 0, CE_TABLE_F16 = 1, CE_TABLE_BF16 = 2 };

#define CE_TABLE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,f16c,popcnt")))
#define CE_TABLE_AVX2 __attribute__((target("avx2,fma,f16c,popcnt")))
#define CE_TABLE_BODY static inline __attribute__((always_inline))

/* 16 entries of a row of `kind` from entry j, as float32; with `in`, only those lanes are read (others 0) */
CE_TABLE_AVX512 CE_TABLE_BODY __m512 ce_table_load16(const void *p, npy_intp j, __mmask16 in, int masked, int kind)
{
    if (kind == CE_TABLE_F32)
        return masked ? _mm512_maskz_loadu_ps(in, (const float *)p + j) : _mm512_loadu_ps((const float *)p + j);
    const uint16_t *h = (const uint16_t *)p + j;
    const __m256i v = masked ? _mm256_maskz_loadu_epi16(in, h) : _mm256_loadu_si256((const __m256i *)h);
    if (kind == CE_TABLE_F16) return _mm512_cvtph_ps(v);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

/* Sweeps that keep their exps (loss+grad, softmax) also prefetch the first two lines of each 4 KiB page this far
 * past the line they prefetch: the L2 cache's own prefetcher, which follows a stream within a page only, then
 * brings the rest of that page into L2 before the sweep's prefetches reach it.  Each of those holds one of the
 * core's few fill buffers until its line arrives, as each non-temporal store of the output rows does, and
 * from L2 it arrives sooner.  On the 2-core Xeon the float32 loss+grad into out= of 1000 to 50257 classes
 * took 0.87-0.99x its time, the forward (no output rows) 0.99-1.12x, hence the forward without
 * (docs/performance.md, "Each page's first lines prefetched further ahead"). */
#define CE_PF_PAGE_AHEAD 16384

/* The line at byte `at` past the prefetch address pf into L2, unless pf is 0 (see ce_exp_block16); with
 * pages, at a page's first two lines those of the page CE_PF_PAGE_AHEAD further as well */
CE_TABLE_BODY void ce_table_prefetch(uintptr_t pf, npy_intp at, int pages)
{
    if (!pf) return;
    const uintptr_t a = pf + (uintptr_t)at;
    _mm_prefetch((const char *)a, _MM_HINT_T1);
    if (pages && (a & 4095) < 128) _mm_prefetch((const char *)(a + CE_PF_PAGE_AHEAD), _MM_HINT_T1);
}

/* Where the previous row's output goes out in plain lines from entry `at` on: up to `stop`, each step stores a
 * whole line of out (16 entries from a line boundary) times the coef, with nothing to mend; stop is `at`
 * itself where the line at `at` is partial (the row's first or last) or holds entry `keep`, which the row's
 * mending step (ce_table_behind_mend) stores.  One compare per plain step: working out
 * each line's length and testing it for `keep` took 21 more instructions per step on the AVX2 path, 19 on
 * AVX-512 (docs/performance.md, "The previous row stored in plain lines"). */
typedef struct {
    npy_intp at, stop;
} ce_table_behind_pos;
CE_TABLE_BODY ce_table_behind_pos ce_table_behind_at(const float *out, npy_intp at, npy_intp n, npy_intp keep)
{
    if (((uintptr_t)(out + at) & 63) != 0) return (ce_table_behind_pos){at, at};
    npy_intp stop = at + (n - at) / 16 * 16;
    if (keep >= at && keep < stop) stop = at + (keep - at) / 16 * 16;
    return (ce_table_behind_pos){at, stop};
}

/* The previous row's output a float32 sweep stores along (ce_store_behind), as both paths' loops read it: n = 0
 * (nothing to store) without bh, with nothing pending, or with an output row off a float's alignment (that
 * row is stored after the sweep); p: where it stands (ce_table_behind_at) */
typedef struct {
    float *out;
    const float *kept;
    npy_intp n, keep;
    ce_table_behind_pos p;
    float coef;
    int shared;
} ce_table_behind_row;
CE_TABLE_BODY ce_table_behind_row ce_table_behind_of(const ce_store_behind *bh)
{
    if (!bh || !bh->out || ((uintptr_t)bh->out & 3) != 0)
        return (ce_table_behind_row){NULL, NULL, 0, -1, {0, 0}, 0.0f, 0};
    float *out = (float *)bh->out;
    return (ce_table_behind_row){out, bh->kept, bh->n, (npy_intp)bh->keep,
                                 ce_table_behind_at(out, bh->at, bh->n, (npy_intp)bh->keep), bh->coef, bh->shared};
}

/* How a path stores k <= 16 entries of the previous row's output from f[0] into h[0], times s but entry `at`
 * (ce_table_behind_part16 on AVX-512, ce_table_behind_part on AVX2) */
typedef void (*ce_table_part_fn)(const float *f, float *h, npy_intp k, npy_intp at, float s);

/* The previous row's output (ce_store_behind), one step where it stands at b.p.stop (and before its end): up
 * to the output's next line boundary, through the path's `part`; returns where it then stands.  The row's two
 * partial lines and the line holding its `keep` entry (three per row) go out here, out of line, so that
 * their constants take no registers from the sweep. */
__attribute__((noinline, cold)) static ce_table_behind_pos ce_table_behind_mend(ce_table_behind_row b,
                                                                               ce_table_part_fn part)
{
    const npy_intp at = b.p.at, left = b.n - at;
    npy_intp k = 16 - (npy_intp)(((uintptr_t)(b.out + at) & 63) >> 2);
    k = left < k ? left : k;
    part(b.kept + at, b.out + at, k, b.keep - at, b.coef);
    return ce_table_behind_at(b.out, at + k, b.n, b.keep);
}

/* The previous row's output where its kept row is the one this sweep keeps its exps in (ce_store_behind's
 * shared): stored up to a line past keep[0] before the sweep writes keep[0, 16), so that its entries are
 * read before they are overwritten; the sweep's line per step then keeps that lead to the row's end. */
__attribute__((noinline, cold)) static ce_table_behind_pos ce_table_behind_lead(ce_table_behind_row b,
                                                                               const float *keep,
                                                                               ce_table_part_fn part)
{
    while (b.p.at < b.n && b.kept + b.p.at < keep + 16) b.p = ce_table_behind_mend(b, part);
    return b.p;
}

/* k <= 16 entries of the previous row's output (ce_store_behind) from f[0] into h[0] (up to a line boundary of
 * h), times s but entry `at` (when in [0, 16)): a whole line as a non-temporal store, less as a masked store.
 * The AVX-512 path's ce_table_part_fn. */
CE_TABLE_AVX512 __attribute__((noinline, cold)) static void ce_table_behind_part16(const float *f, float *h,
                                                                                npy_intp k, npy_intp at, float s)
{
    const __mmask16 in = (__mmask16)(k >= 16 ? 0xffffu : (1u << k) - 1);
    __m512 sv = _mm512_set1_ps(s);
    if ((uint64_t)at < 16) sv = _mm512_mask_mov_ps(sv, (__mmask16)(1u << at), _mm512_set1_ps(1.0f));
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(in, f), sv);
    if (k == 16) _mm512_stream_ps(h, v);
    else _mm512_mask_storeu_ps(h, in, v);
}

/* Half rows' maxima without converting, 32 (AVX-512) or 16 (AVX2) at a time.  As 16-bit integers the patterns
 * of a half type order as their values when any is >= +0 (signed max), and the negative ones in reverse
 * (unsigned min).  -inf's pattern starts both: the smallest value, and as unsigned below every negative NaN. */
static inline uint16_t ce_table_half_ninf(int kind) { return kind == CE_TABLE_F16 ? 0xfc00 : 0xff80; }

/* The max from 8 lanes of signed maxima and unsigned minima, as float32: NaN when a NaN pattern wins (the
 * caller then takes the max again, NaN left out), -inf for none.  phminposuw finds the unsigned minimum;
 * the signed maximum is the unsigned minimum of the patterns with all bits but the sign flipped. */
__attribute__((target("sse4.1"))) CE_TABLE_BODY float ce_table_half_max_value(__m128i smax, __m128i umin, int kind)
{
    const __m128i flip = _mm_set1_epi16(0x7fff);
    const int s = (int16_t)(_mm_cvtsi128_si32(_mm_minpos_epu16(_mm_xor_si128(smax, flip))) ^ 0x7fff);
    const unsigned u = (uint16_t)_mm_cvtsi128_si32(_mm_minpos_epu16(umin));
    const uint16_t bits = (uint16_t)(s >= 0 ? (unsigned)s : u);
    return kind == CE_TABLE_F16 ? ce_ld_f16_bits(bits) : ce_ld_bf16(bits);
}

/* One step of 16 exps (the lanes of `in`): added to rest as p s + rest in one rounding unless x equals m,
 * those counted in cnt; returns them */
CE_TABLE_AVX512 CE_TABLE_BODY __m512 ce_table_step16(__m512 xv, __m512 lo, __m512 mv, __m512 t0, __m512i table,
                                                     __mmask16 in, __m512 *rest, int *cnt)
{
    __m512 s;
    const __m512 p = ce_exp16_avx512_parts(_mm512_max_ps(lo, xv), t0, table, &s);   /* NaN x stays NaN */
    const __mmask16 ne = _mm512_cmp_ps_mask(xv, mv, _CMP_NEQ_UQ);                   /* NaN x: into rest */
    *rest = _mm512_mask3_fmadd_ps(p, s, *rest, ne & in);
    *cnt += __builtin_popcount((unsigned)(~ne & in));
    return _mm512_mul_ps(p, s);
}

/* One chunk of ce_exp_block16 (n <= 16 CE_TABLE_LANE_ADDS): returns its sums' lanes, adds its count into
 * cnt_out and takes the max of its part of nx into nmax_out */
CE_TABLE_AVX512 CE_TABLE_BODY __m512 ce_exp_chunk16(const void *x, npy_intp n, float m, float xlo, float *keep,
                                                   const void *nx, uintptr_t pf, uintptr_t pfk, int kind,
                                                   ce_store_behind *bh, int *cnt_out, __m512 *nmax_out)
{
    const npy_intp es = kind == CE_TABLE_F32 ? 4 : 2;
    const __m512 t0 = _mm512_set1_ps(ce_exp_table_t0(m, 16)), lo = _mm512_set1_ps(xlo);
    const __m512 mv = _mm512_set1_ps(m), ninf = _mm512_set1_ps(-INFINITY);
    const __m512i table = _mm512_loadu_si512(ce_exp_table16);
    __m512 rest = _mm512_setzero_ps(), nmax = ninf;
    int cnt = 0;
    npy_intp j = 0;
    if (kind != CE_TABLE_F32) {
        /* half rows, 32 at a time: the next row's max on the patterns (one integer max for 32, where a
         * conversion per 16 would cost as much as the row's own); without kept exps, bfloat16's even and odd
         * entries widened in place (a shift, a mask), as the sums need no order */
        __m512i smax = _mm512_set1_epi16((short)ce_table_half_ninf(kind)), umin = smax;
        for (; j + 32 <= n; j += 32) {
            const uint16_t *h = (const uint16_t *)x + j;
            ce_table_prefetch(pf, j * es, keep != NULL);
            __m512 a, b;
            if (kind == CE_TABLE_BF16 && !keep) {
                const __m512i v = _mm512_loadu_si512(h);
                a = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
                b = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
            } else {
                a = ce_table_load16(x, j, 0, 0, kind);
                b = ce_table_load16(x, j + 16, 0, 0, kind);
            }
            const __m512 ea = ce_table_step16(a, lo, mv, t0, table, 0xffff, &rest, &cnt);
            const __m512 eb = ce_table_step16(b, lo, mv, t0, table, 0xffff, &rest, &cnt);
            if (keep) {
                _mm512_storeu_ps(keep + j, ea);
                _mm512_storeu_ps(keep + j + 16, eb);
            }
            if (nx) {
                const __m512i v = _mm512_loadu_si512((const uint16_t *)nx + j);
                smax = _mm512_max_epi16(smax, v);
                umin = _mm512_min_epu16(umin, v);
            }
        }
        if (nx) {
            const __m256i s8 = _mm256_max_epi16(_mm512_castsi512_si256(smax), _mm512_extracti64x4_epi64(smax, 1));
            const __m256i u8 = _mm256_min_epu16(_mm512_castsi512_si256(umin), _mm512_extracti64x4_epi64(umin, 1));
            const float mx = ce_table_half_max_value(
                _mm_max_epi16(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1)),
                _mm_min_epu16(_mm256_castsi256_si128(u8), _mm256_extracti128_si256(u8, 1)), kind);
            if (mx == mx) {
                nmax = _mm512_set1_ps(mx);
            } else {   /* a NaN won (rare): the max of these entries again, NaN left out */
                for (npy_intp i = 0; i < j; i += 16) nmax = _mm512_max_ps(ce_table_load16(nx, i, 0, 0, kind), nmax);
            }
        }
    }
    /* float32 rows: a line of x per step, and a line of the previous row's output */
    ce_table_behind_row hb = ce_table_behind_of(bh);
    if (hb.shared && keep) hb.p = ce_table_behind_lead(hb, keep, ce_table_behind_part16);
    const __m512 hsv = _mm512_set1_ps(hb.coef);
    for (; j + 16 <= n; j += 16) {
        ce_table_prefetch(pf, j * es, keep != NULL);
        ce_table_prefetch(pfk, j * 4, 0);
        const __m512 e = ce_table_step16(ce_table_load16(x, j, 0, 0, kind), lo, mv, t0, table, 0xffff, &rest, &cnt);
        if (keep) _mm512_storeu_ps(keep + j, e);
        if (nx) nmax = _mm512_max_ps(ce_table_load16(nx, j, 0, 0, kind), nmax);
        if (__builtin_expect(hb.p.at < hb.p.stop, 1)) {
            _mm512_stream_ps(hb.out + hb.p.at, _mm512_mul_ps(_mm512_loadu_ps(hb.kept + hb.p.at), hsv));
            hb.p.at += 16;
        } else if (hb.p.at < hb.n) {
            hb.p = ce_table_behind_mend(hb, ce_table_behind_part16);
        }
    }
    if (hb.out) bh->at = hb.p.at;
    if (j < n) {
        const __mmask16 in = (__mmask16)((1u << (n - j)) - 1);
        const __m512 e = ce_table_step16(ce_table_load16(x, j, in, 1, kind), lo, mv, t0, table, in, &rest, &cnt);
        if (keep) _mm512_mask_storeu_ps(keep + j, in, e);
        if (nx) nmax = _mm512_max_ps(_mm512_mask_mov_ps(ninf, in, ce_table_load16(nx, j, in, 1, kind)), nmax);
    }
    *cnt_out += cnt;
    *nmax_out = _mm512_max_ps(nmax, *nmax_out);
    return rest;
}

/* A chunk's float32 lanes added into double lanes */
CE_TABLE_AVX512 CE_TABLE_BODY void ce_table_flush16(__m512 rest, __m512d *acc0, __m512d *acc1)
{
    *acc0 = _mm512_add_pd(*acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(rest)));
    *acc1 = _mm512_add_pd(*acc1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(rest), 1))));
}

/* The exps of x[0, n) relative to mref (m the row's max, xlo = m - 105 its clamp, as ce_exp_rel_row sets
 * them), kept in keep[0, n) unless keep is NULL (keep may be x), summed without the entries equal to m
 * (rest), those counted; with nx (or NULL), the max of nx[0, n), NaN ignored as in ce_max_impl (max(v, m)
 * returns m when v is NaN).  NaN in x gives NaN sums.  The last n % 16 are one masked step.  With pf (an
 * address, or 0), the memory from pf on is prefetched into L2 at the pace x is read, and with pfk the memory
 * from pfk on at the pace keep is written (float32 rows only: half rows keep their exps in scratch); see
 * ce_pf_next_row, ce_pf_kept_row: addresses, not pointers, as they may lie past the array.  With bh (or NULL),
 * the previous float32 row's output is stored along, a line per step (ce_store_behind). */
CE_TABLE_AVX512 CE_TABLE_BODY ce_exp_table_sums ce_exp_block16(const void *x, npy_intp n, float m, float xlo,
                                                              float *keep, const void *nx, uintptr_t pf,
                                                              uintptr_t pfk, int kind, ce_store_behind *bh)
{
    const npy_intp es = kind == CE_TABLE_F32 ? 4 : 2, chunk = 16 * CE_TABLE_LANE_ADDS;
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    __m512 rest = _mm512_setzero_ps(), nmax = _mm512_set1_ps(-INFINITY);
    int cnt = 0;   /* n <= CE_TABLE_CALL_MAX */
    for (npy_intp j0 = 0; j0 < n; j0 += chunk) {
        if (j0) ce_table_flush16(rest, &acc0, &acc1);
        rest = ce_exp_chunk16((const char *)x + j0 * es, n - j0 < chunk ? n - j0 : chunk, m, xlo,
                              keep ? keep + j0 : NULL, nx ? (const char *)nx + j0 * es : NULL,
                              pf ? pf + (uintptr_t)(j0 * es) : 0, pfk ? pfk + (uintptr_t)(j0 * 4) : 0, kind, bh,
                              &cnt, &nmax);
    }
    double sum;
    if (n <= chunk) {   /* one chunk: its lanes added in float32 (a short row pays for no conversion) */
        sum = _mm512_reduce_add_ps(rest);
    } else {
        ce_table_flush16(rest, &acc0, &acc1);
        sum = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
    }
    ce_exp_table_sums s = {sum, cnt, _mm512_reduce_max_ps(nmax)};
    return s;
}

/* 8 entries of a row of `kind` from entry j, as float32; with `in` (lanes below n all bits set), only the
 * first n are read (others 0): float32 by a masked load, half ones through a zeroed copy */
CE_TABLE_AVX2 CE_TABLE_BODY __m256 ce_table_load8(const void *p, npy_intp j, __m256i in, npy_intp n, int kind)
{
    if (kind == CE_TABLE_F32)
        return n < 8 ? _mm256_maskload_ps((const float *)p + j, in) : _mm256_loadu_ps((const float *)p + j);
    const uint16_t *h = (const uint16_t *)p + j;
    __m128i v;
    if (n < 8) {
        uint16_t tail[8] = {0};
        memcpy(tail, h, (size_t)n * sizeof(uint16_t));
        v = _mm_loadu_si128((const __m128i *)tail);
    } else {
        v = _mm_loadu_si128((const __m128i *)h);
    }
    if (kind == CE_TABLE_F16) return _mm256_cvtph_ps(v);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
}

/* One step of 8 exps: those of the lanes of `in` added to rest as p s + rest in one rounding, so that the sums
 * agree bit for bit whether an entry is left out by the compare or by its position (CE_TABLE_COUNT); returns
 * the exps of all lanes */
CE_TABLE_AVX2 CE_TABLE_BODY __m256 ce_table_add8(__m256 xv, __m256 lo, __m256 t0, __m256i table, __m256 in,
                                                 __m256 *rest)
{
    __m256 s;
    const __m256 p = ce_exp8_avx2_parts(_mm256_max_ps(lo, xv), t0, table, &s);   /* NaN x stays NaN */
    *rest = _mm256_fmadd_ps(_mm256_and_ps(in, p), s, *rest);
    return _mm256_mul_ps(p, s);
}

/* One step of 8 exps, every lane added to rest (p s + rest in one rounding, as ce_table_add8); returns them */
CE_TABLE_AVX2 CE_TABLE_BODY __m256 ce_table_add_all8(__m256 xv, __m256 lo, __m256 t0, __m256i table, __m256 *rest)
{
    __m256 s;
    const __m256 p = ce_exp8_avx2_parts(_mm256_max_ps(lo, xv), t0, table, &s);   /* NaN x stays NaN */
    *rest = _mm256_fmadd_ps(p, s, *rest);
    return _mm256_mul_ps(p, s);
}

/* One step of 8 exps: added to rest unless x equals m, those counted in cnt; returns them */
CE_TABLE_AVX2 CE_TABLE_BODY __m256 ce_table_step8(__m256 xv, __m256 lo, __m256 mv, __m256 t0, __m256i table,
                                                  __m256 *rest, int *cnt)
{
    const __m256 ne = _mm256_cmp_ps(xv, mv, _CMP_NEQ_UQ);   /* NaN x: into rest */
    *cnt += 8 - __builtin_popcount((unsigned)_mm256_movemask_ps(ne));
    return ce_table_add8(xv, lo, t0, table, ne, rest);
}

/* Full steps j0 <= j < j1 of ce_exp_block8 without the compare: every exp added to rest (and kept in keep
 * when not NULL), the max of nx (when not NULL) taken in nmax */
CE_TABLE_AVX2 CE_TABLE_BODY void ce_table_sum8_run(const void *x, npy_intp j0, npy_intp j1, __m256 lo, __m256 t0,
                                                  __m256i table, float *keep, const void *nx, uintptr_t pf,
                                                  uintptr_t pfk, int kind, __m256 *rest, __m256 *nmax)
{
    const npy_intp es = kind == CE_TABLE_F32 ? 4 : 2;
    const __m256i all = _mm256_set1_epi32(-1);
    for (npy_intp j = j0; j < j1; j += 8) {
        if ((j & 8) == 0) {   /* a line per 16 float32 */
            ce_table_prefetch(pf, j * es, keep != NULL);
            ce_table_prefetch(pfk, j * 4, 0);
        }
        const __m256 e = ce_table_add_all8(ce_table_load8(x, j, all, 8, kind), lo, t0, table, rest);
        if (keep) _mm256_storeu_ps(keep + j, e);
        if (nx) *nmax = _mm256_max_ps(ce_table_load8(nx, j, all, 8, kind), *nmax);
    }
}

/* The lanes of `in` but the one of entry `at` of an 8-entry step (none when at is outside [0, 8)) */
CE_TABLE_AVX2 CE_TABLE_BODY __m256 ce_table_but8(npy_intp at, __m256i in, __m256i lane)
{
    if ((size_t)at >= 8) return _mm256_castsi256_ps(in);
    return _mm256_castsi256_ps(_mm256_andnot_si256(_mm256_cmpeq_epi32(_mm256_set1_epi32((int)at), lane), in));
}

/* k <= 16 entries of the previous row's output from f[0] into h[0] (up to a line boundary of h), times s but
 * entry `at` (when in [0, 16)): a whole line as two non-temporal stores, less as masked stores.  The AVX2
 * path's ce_table_part_fn. */
CE_TABLE_AVX2 __attribute__((noinline, cold)) static void ce_table_behind_part(const float *f, float *h, npy_intp k,
                                                                             npy_intp at, float s)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i lane8 = _mm256_add_epi32(lane, _mm256_set1_epi32(8));
    const __m256 sv = _mm256_set1_ps(s), one = _mm256_set1_ps(1.0f);
    const __m256i av = _mm256_set1_epi32((uint64_t)at < 16 ? (int)at : -1);
    const __m256 s0 = _mm256_blendv_ps(sv, one, _mm256_castsi256_ps(_mm256_cmpeq_epi32(lane, av)));
    const __m256 s1 = _mm256_blendv_ps(sv, one, _mm256_castsi256_ps(_mm256_cmpeq_epi32(lane8, av)));
    if (k == 16) {
        _mm256_stream_ps(h, _mm256_mul_ps(_mm256_loadu_ps(f), s0));
        _mm256_stream_ps(h + 8, _mm256_mul_ps(_mm256_loadu_ps(f + 8), s1));
    } else {   /* part of a line: masked loads (the row may end) and stores */
        const __m256i kv = _mm256_set1_epi32((int)k);
        const __m256i in0 = _mm256_cmpgt_epi32(kv, lane), in1 = _mm256_cmpgt_epi32(kv, lane8);
        _mm256_maskstore_ps(h, in0, _mm256_mul_ps(_mm256_maskload_ps(f, in0), s0));
        _mm256_maskstore_ps(h + 8, in1, _mm256_mul_ps(_mm256_maskload_ps(f + 8, in1), s1));
    }
}

/* One chunk of ce_exp_block8 (n <= 8 CE_TABLE_LANE_ADDS; skip as there, relative to the chunk, -1 when not in
 * it), as ce_exp_chunk16 */
CE_TABLE_AVX2 CE_TABLE_BODY __m256 ce_exp_chunk8(const void *x, npy_intp n, float m, float xlo, float *keep,
                                                const void *nx, uintptr_t pf, uintptr_t pfk, int kind, npy_intp skip,
                                                ce_store_behind *bh, int *cnt_out, __m256 *nmax_out)
{
    const npy_intp es = kind == CE_TABLE_F32 ? 4 : 2;
    const __m256 t0 = _mm256_set1_ps(ce_exp_table_t0(m, 8)), lo = _mm256_set1_ps(xlo);
    const __m256 mv = _mm256_set1_ps(m), ninf = _mm256_set1_ps(-INFINITY);
    const __m256i table = _mm256_loadu_si256((const __m256i *)ce_exp_table8);
    const __m256i all = _mm256_set1_epi32(-1), lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 rest = _mm256_setzero_ps(), nmax = ninf;
    int cnt = skip >= 0;   /* by position: the entry left out */
    npy_intp j = 0;
    const int by_position = skip != CE_TABLE_COUNT;
    if (by_position && kind == CE_TABLE_F32) {
        /* the full steps before and after the one holding entry `skip`, which adds the others */
        const npy_intp n8 = n & ~(npy_intp)7, s8 = skip >= 0 && skip < n8 ? skip & ~(npy_intp)7 : n8;
        ce_table_sum8_run(x, 0, s8, lo, t0, table, keep, nx, pf, pfk, kind, &rest, &nmax);
        if (s8 < n8) {
            const __m256 e = ce_table_add8(ce_table_load8(x, s8, all, 8, kind), lo, t0, table,
                                           ce_table_but8(skip - s8, all, lane), &rest);
            if (keep) _mm256_storeu_ps(keep + s8, e);
            if (nx) nmax = _mm256_max_ps(ce_table_load8(nx, s8, all, 8, kind), nmax);
            ce_table_sum8_run(x, s8 + 8, n8, lo, t0, table, keep, nx, pf, pfk, kind, &rest, &nmax);
        }
        j = n8;
    } else if (kind != CE_TABLE_F32) {   /* half rows, 16 at a time, as ce_exp_block16 takes 32 */
        __m256i smax = _mm256_set1_epi16((short)ce_table_half_ninf(kind)), umin = smax;
        /* bfloat16 without kept exps widens the even entries into a, the odd ones into b */
        const int interleaved = kind == CE_TABLE_BF16 && !keep;
        for (; j + 16 <= n; j += 16) {
            const uint16_t *h = (const uint16_t *)x + j;
            ce_table_prefetch(pf, j * es, keep != NULL);
            __m256 a, b;
            if (interleaved) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)h);
                a = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
                b = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xffff0000u)));
            } else {
                a = ce_table_load8(x, j, all, 8, kind);
                b = ce_table_load8(x, j + 8, all, 8, kind);
            }
            __m256 ea, eb;
            if (!by_position) {
                ea = ce_table_step8(a, lo, mv, t0, table, &rest, &cnt);
                eb = ce_table_step8(b, lo, mv, t0, table, &rest, &cnt);
            } else if ((size_t)(skip - j) >= 16) {
                ea = ce_table_add_all8(a, lo, t0, table, &rest);
                eb = ce_table_add_all8(b, lo, t0, table, &rest);
            } else {   /* the step holding entry `skip`: its lane left out */
                const npy_intp d = skip - j;
                const npy_intp at_a = interleaved ? (d & 1 ? 8 : d >> 1) : d;
                const npy_intp at_b = interleaved ? (d & 1 ? d >> 1 : 8) : d - 8;
                ea = ce_table_add8(a, lo, t0, table, ce_table_but8(at_a, all, lane), &rest);
                eb = ce_table_add8(b, lo, t0, table, ce_table_but8(at_b, all, lane), &rest);
            }
            if (keep) {
                _mm256_storeu_ps(keep + j, ea);
                _mm256_storeu_ps(keep + j + 8, eb);
            }
            if (nx) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)((const uint16_t *)nx + j));
                smax = _mm256_max_epi16(smax, v);
                umin = _mm256_min_epu16(umin, v);
            }
        }
        if (nx) {
            const float mx = ce_table_half_max_value(
                _mm_max_epi16(_mm256_castsi256_si128(smax), _mm256_extracti128_si256(smax, 1)),
                _mm_min_epu16(_mm256_castsi256_si128(umin), _mm256_extracti128_si256(umin, 1)), kind);
            if (mx == mx) {
                nmax = _mm256_set1_ps(mx);
            } else {   /* a NaN won (rare): the max of these entries again, NaN left out */
                for (npy_intp i = 0; i < j; i += 8) nmax = _mm256_max_ps(ce_table_load8(nx, i, all, 8, kind), nmax);
            }
        }
    } else {   /* float32 rows by the compare (their loss+grad), two steps at a time: a line of x per step */
        /* and a line of the previous row's output per step */
        ce_table_behind_row hb = ce_table_behind_of(bh);
        if (hb.shared && keep) hb.p = ce_table_behind_lead(hb, keep, ce_table_behind_part);
        const __m256 hsv = _mm256_set1_ps(hb.coef);
        for (; j + 16 <= n; j += 16) {
            ce_table_prefetch(pf, j * es, keep != NULL);
            ce_table_prefetch(pfk, j * 4, 0);
            const __m256 e0 = ce_table_step8(ce_table_load8(x, j, all, 8, kind), lo, mv, t0, table, &rest, &cnt);
            const __m256 e1 = ce_table_step8(ce_table_load8(x, j + 8, all, 8, kind), lo, mv, t0, table, &rest, &cnt);
            if (keep) {
                _mm256_storeu_ps(keep + j, e0);
                _mm256_storeu_ps(keep + j + 8, e1);
            }
            if (nx) {
                nmax = _mm256_max_ps(ce_table_load8(nx, j, all, 8, kind), nmax);
                nmax = _mm256_max_ps(ce_table_load8(nx, j + 8, all, 8, kind), nmax);
            }
            if (__builtin_expect(hb.p.at < hb.p.stop, 1)) {   /* a whole line, as two non-temporal stores */
                _mm256_stream_ps(hb.out + hb.p.at, _mm256_mul_ps(_mm256_loadu_ps(hb.kept + hb.p.at), hsv));
                _mm256_stream_ps(hb.out + hb.p.at + 8, _mm256_mul_ps(_mm256_loadu_ps(hb.kept + hb.p.at + 8), hsv));
                hb.p.at += 16;
            } else if (hb.p.at < hb.n) {
                hb.p = ce_table_behind_mend(hb, ce_table_behind_part);
            }
        }
        if (hb.out) bh->at = hb.p.at;
    }
    for (; j + 8 <= n; j += 8) {   /* at most one step */
        if ((j & 8) == 0) {   /* a line per 16 float32 */
            ce_table_prefetch(pf, j * es, keep != NULL);
            ce_table_prefetch(pfk, j * 4, 0);
        }
        const __m256 xv = ce_table_load8(x, j, all, 8, kind);
        const __m256 e = by_position ? ce_table_add8(xv, lo, t0, table, ce_table_but8(skip - j, all, lane), &rest)
                                     : ce_table_step8(xv, lo, mv, t0, table, &rest, &cnt);
        if (keep) _mm256_storeu_ps(keep + j, e);
        if (nx) nmax = _mm256_max_ps(ce_table_load8(nx, j, all, 8, kind), nmax);
    }
    if (j < n) {
        /* lanes below n - j: all bits set (the masked loads and stores look at the top bit) */
        const __m256i in = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - j)), lane);
        const __m256 inf = _mm256_castsi256_ps(in);
        const __m256 xv = ce_table_load8(x, j, in, n - j, kind);
        __m256 taken;   /* the lanes added to rest */
        if (by_position) {
            taken = ce_table_but8(skip - j, in, lane);
        } else {
            taken = _mm256_and_ps(_mm256_cmp_ps(xv, mv, _CMP_NEQ_UQ), inf);
            cnt += __builtin_popcount((unsigned)(~_mm256_movemask_ps(taken) & _mm256_movemask_ps(inf)));
        }
        const __m256 e = _mm256_and_ps(ce_table_add8(xv, lo, t0, table, taken, &rest), inf);
        if (keep) _mm256_maskstore_ps(keep + j, in, e);
        if (nx) nmax = _mm256_max_ps(_mm256_blendv_ps(ninf, ce_table_load8(nx, j, in, n - j, kind), inf), nmax);
    }
    *cnt_out += cnt;
    *nmax_out = _mm256_max_ps(nmax, *nmax_out);
    return rest;
}

/* A chunk's float32 lanes added into double lanes */
CE_TABLE_AVX2 CE_TABLE_BODY void ce_table_flush8(__m256 rest, __m256d *acc0, __m256d *acc1)
{
    *acc0 = _mm256_add_pd(*acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(rest)));
    *acc1 = _mm256_add_pd(*acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(rest, 1)));
}

CE_TABLE_AVX2 static npy_intp ce_first_at_max_avx2(const float *x, npy_intp n, float m);

/* The same as ce_exp_block16, 8 at a time; the last n % 8 are one step of masked loads and stores.  With
 * skip != CE_TABLE_COUNT, the sums leave entry `skip` out instead of comparing each entry with m (see
 * CE_TABLE_COUNT, CE_TABLE_FIND). */
CE_TABLE_AVX2 CE_TABLE_BODY ce_exp_table_sums ce_exp_block8(const void *x, npy_intp n, float m, float xlo,
                                                           float *keep, const void *nx, uintptr_t pf,
                                                           uintptr_t pfk, int kind, npy_intp skip,
                                                           ce_store_behind *bh)
{
    const npy_intp es = kind == CE_TABLE_F32 ? 4 : 2, chunk = 8 * CE_TABLE_LANE_ADDS;
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    __m256 rest = _mm256_setzero_ps(), nmax = _mm256_set1_ps(-INFINITY);
    int cnt = 0;   /* n <= CE_TABLE_CALL_MAX */
    int found = 0;   /* CE_TABLE_FIND: a chunk held the entry */
    for (npy_intp j0 = 0; j0 < n; j0 += chunk) {
        if (j0) ce_table_flush8(rest, &acc0, &acc1);
        const npy_intp cn = n - j0 < chunk ? n - j0 : chunk;
        npy_intp cskip;
        if (skip == CE_TABLE_FIND) {
            cskip = found ? -1 : ce_first_at_max_avx2((const float *)x + j0, cn, m);
            found |= cskip >= 0;
        } else {
            cskip = skip == CE_TABLE_COUNT ? CE_TABLE_COUNT : (skip >= j0 && skip < j0 + chunk ? skip - j0 : -1);
        }
        rest = ce_exp_chunk8((const char *)x + j0 * es, cn, m, xlo,
                             keep ? keep + j0 : NULL, nx ? (const char *)nx + j0 * es : NULL,
                             pf ? pf + (uintptr_t)(j0 * es) : 0, pfk ? pfk + (uintptr_t)(j0 * 4) : 0, kind, cskip,
                             bh, &cnt, &nmax);
    }
    /* across the lanes: the halves, then pairs, then the last two (in float32 for one chunk, as above) */
    double sum;
    if (n <= chunk) {
        __m128 r4 = _mm_add_ps(_mm256_castps256_ps128(rest), _mm256_extractf128_ps(rest, 1));
        r4 = _mm_add_ps(r4, _mm_movehl_ps(r4, r4));
        sum = _mm_cvtss_f32(_mm_add_ss(r4, _mm_movehdup_ps(r4)));
    } else {
        ce_table_flush8(rest, &acc0, &acc1);
        const __m256d r4 = _mm256_add_pd(acc0, acc1);
        const __m128d r2 = _mm_add_pd(_mm256_castpd256_pd128(r4), _mm256_extractf128_pd(r4, 1));
        sum = _mm_cvtsd_f64(_mm_add_sd(r2, _mm_unpackhi_pd(r2, r2)));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(nmax), _mm256_extractf128_ps(nmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    ce_exp_table_sums s = {sum, cnt, _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)))};
    return s;
}

/* The first entry of a float32 row x[0, n) equal to m (-1 for none), 32 at a time: where ce_exp_block8 leaves
 * the row's max out without a compare per step */
CE_TABLE_AVX2 static npy_intp ce_first_at_max_avx2(const float *x, npy_intp n, float m)
{
    const __m256 mv = _mm256_set1_ps(m);
    npy_intp j = 0;
    for (; j + 32 <= n; j += 32) {
        const __m256 a = _mm256_cmp_ps(_mm256_loadu_ps(x + j), mv, _CMP_EQ_OQ);
        const __m256 b = _mm256_cmp_ps(_mm256_loadu_ps(x + j + 8), mv, _CMP_EQ_OQ);
        const __m256 c = _mm256_cmp_ps(_mm256_loadu_ps(x + j + 16), mv, _CMP_EQ_OQ);
        const __m256 d = _mm256_cmp_ps(_mm256_loadu_ps(x + j + 24), mv, _CMP_EQ_OQ);
        if (_mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(a, b), _mm256_or_ps(c, d)))) {
            const unsigned bits = (unsigned)_mm256_movemask_ps(a) | (unsigned)_mm256_movemask_ps(b) << 8 |
                                  (unsigned)_mm256_movemask_ps(c) << 16 | (unsigned)_mm256_movemask_ps(d) << 24;
            return j + __builtin_ctz(bits);
        }
    }
    for (; j < n; j++)
        if (x[j] == m) return j;
    return -1;
}

/* The first entry of a half row h[0, n) whose pattern is pat (-1 for none), 64 at a time: ce_first_at_max_avx2
 * for half rows, on the patterns, which are equal where the values are, but for -0 and +0 */
CE_TABLE_AVX2 static npy_intp ce_first_pattern_avx2(const uint16_t *h, npy_intp n, uint16_t pat)
{
    const __m256i pv = _mm256_set1_epi16((short)pat);
    npy_intp j = 0;
    for (; j + 64 <= n; j += 64) {
        const __m256i a = _mm256_cmpeq_epi16(_mm256_loadu_si256((const __m256i *)(h + j)), pv);
        const __m256i b = _mm256_cmpeq_epi16(_mm256_loadu_si256((const __m256i *)(h + j + 16)), pv);
        const __m256i c = _mm256_cmpeq_epi16(_mm256_loadu_si256((const __m256i *)(h + j + 32)), pv);
        const __m256i d = _mm256_cmpeq_epi16(_mm256_loadu_si256((const __m256i *)(h + j + 48)), pv);
        const __m256i any = _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d));
        if (!_mm256_testz_si256(any, any)) {   /* two mask bits per entry */
            const uint64_t ab = (uint32_t)_mm256_movemask_epi8(a) | (uint64_t)(uint32_t)_mm256_movemask_epi8(b) << 32;
            const uint64_t cd = (uint32_t)_mm256_movemask_epi8(c) | (uint64_t)(uint32_t)_mm256_movemask_epi8(d) << 32;
            return ab ? j + __builtin_ctzll(ab) / 2 : j + 32 + __builtin_ctzll(cd) / 2;
        }
    }
    for (; j < n; j++)
        if (h[j] == pat) return j;
    return -1;
}

/* The skip argument of ce_exp_block for a row x[0, n) of `kind` with max m on path `level` (kept: its exps are
 * kept; one_block: the row is one block), see CE_TABLE_COUNT and CE_TABLE_FIND.  AVX-512 leaves m out with a
 * masked add, which a search for its position did not repay, nor did it float32 rows with kept exps
 * (docs/performance.md).  Half rows, kept exps or not, search m's pattern (m is a half value), unless m is 0
 * (two patterns) or not finite. */
static inline npy_intp ce_table_skip_for(int level, int kind, const void *x, npy_intp n, float m, int kept,
                                         int one_block)
{
    if (level == 4 || n < CE_TABLE_SKIP_MIN) return CE_TABLE_COUNT;
    if (kind == CE_TABLE_F32 && kept) return CE_TABLE_COUNT;
    if (kind == CE_TABLE_F32) return one_block ? CE_TABLE_FIND : ce_first_at_max_avx2((const float *)x, n, m);
    if (m == 0.0f || !isfinite(m)) return CE_TABLE_COUNT;
    const uint16_t pat = kind == CE_TABLE_F16 ? ce_st_f16_bits(m) : (uint16_t)(ce_half_bits_of_f32(m) >> 16);
    return ce_first_pattern_avx2((const uint16_t *)x, n, pat);
}

/* The blocks, one function per path and element type (a target-specific body inlines only into its own
 * target), and the choice between them: level 4 (AVX-512) or 3 (AVX2), kind a constant at each call */
#define CE_TABLE_BLOCKS(kind, suf)                                                                              \
    CE_TABLE_AVX512 static ce_exp_table_sums ce_exp_block_avx512_##suf(                                        \
        const void *x, npy_intp n, float m, float xlo, float *keep, const void *nx, uintptr_t pf, uintptr_t pfk,   \
        npy_intp skip, ce_store_behind *bh)                                                                     \
    {                                                                                                           \
        (void)skip;   /* always CE_TABLE_COUNT: see ce_table_skip_for */                                          \
        return ce_exp_block16(x, n, m, xlo, keep, nx, pf, pfk, kind, bh);                                       \
    }                                                                                                           \
    CE_TABLE_AVX2 static ce_exp_table_sums ce_exp_block_avx2_##suf(                                            \
        const void *x, npy_intp n, float m, float xlo, float *keep, const void *nx, uintptr_t pf, uintptr_t pfk,   \
        npy_intp skip, ce_store_behind *bh)                                                                     \
    {                                                                                                           \
        return ce_exp_block8(x, n, m, xlo, keep, nx, pf, pfk, kind, skip, bh);                                  \
    }
CE_TABLE_BLOCKS(CE_TABLE_F32, f32)
CE_TABLE_BLOCKS(CE_TABLE_F16, f16)
CE_TABLE_BLOCKS(CE_TABLE_BF16, bf16)
#undef CE_TABLE_BLOCKS

static inline ce_exp_table_sums ce_exp_block(int level, int kind, const void *x, npy_intp n, float m, float xlo,
                                             float *keep, const void *nx, uintptr_t pf, uintptr_t pfk, npy_intp skip,
                                             ce_store_behind *bh)
{
    switch (kind) {
        case CE_TABLE_F16:
            return level == 4 ? ce_exp_block_avx512_f16(x, n, m, xlo, keep, nx, pf, pfk, skip, bh)
                              : ce_exp_block_avx2_f16(x, n, m, xlo, keep, nx, pf, pfk, skip, bh);
        case CE_TABLE_BF16:
            return level == 4 ? ce_exp_block_avx512_bf16(x, n, m, xlo, keep, nx, pf, pfk, skip, bh)
                              : ce_exp_block_avx2_bf16(x, n, m, xlo, keep, nx, pf, pfk, skip, bh);
        default:
            return level == 4 ? ce_exp_block_avx512_f32(x, n, m, xlo, keep, nx, pf, pfk, skip, bh)
                              : ce_exp_block_avx2_f32(x, n, m, xlo, keep, nx, pf, pfk, skip, bh);
    }
}
#endif

#endif
