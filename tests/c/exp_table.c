/* The table exps of the AVX-512 and AVX2 paths (_ce_exp_table.h), each this CPU has, against exp() in
 * double: the kept exps of ce_exp_block_avx512_f32 and ce_exp_block_avx2_f32, exp((x - mref) (1 - eps)) with
 * mref = km fl(ln2) as ce_exp_table_ref sets it and eps = fl(ln2) / ln2 - 1, what their one-step reduction
 * computes, within 2 ulp (normal results; in units of the smallest subnormal below them).  Every 13th
 * float32 x - m in [-105, 0] (the clamp's range and below) with m = 0, every 101st with the row maxima
 * +-ln2/2, 40.3, -1000.1 and 16000.7.  Then the block itself, over
 * every length 0..47 (the masked tail) and rows of several chunks (up to 4096 entries): NaN in x gives NaN
 * sums and a NaN kept exp, -inf gives 0, and the sum without the entries at m, their count and the next
 * row's max (NaN ignored) match double ones.
 * The float16 and bfloat16 blocks, which convert in registers, give the float32 block's results on the
 * widened values (bit for bit with kept exps; the sums to 2^-22 of the total without, when they add in
 * another order):
 * every half value as x and as the next row, every length 0..47, and next rows whose max the 16-bit
 * patterns decide (all negative, NaN, -inf); on the AVX2 path also leaving the max out by its position, found
 * on the 16-bit patterns.
 * Built and run by tests/test_accuracy.py::test_table_exp; exits 77 without AVX2, 1 on any failure. */
#include <numpy/npy_common.h>
#include <stdio.h>
#include "_ce_base.h"
#include "_ce_exp_table.h"
#include "_ce_half.h"

/* fl(ln2) / ln2 - 1: the exps' relative excess in their argument */
static const double eps_ln2 = CE_TABLE_LN2 / 0.693147180559945309417232 - 1.0;

/* error of got against ref in float32 ulps of ref (units of 2^-149 below the normal range) */
static double ulps(float got, double ref)
{
    const double unit = fabs(ref) < 0x1p-126 ? 0x1p-149 : ldexp(1.0, ilogb((float)ref) - 23);
    return fabs((double)got - ref) / unit;
}

#define N 4096
static float x[N], keep[N], keep_count[N], nx[N];

typedef ce_exp_table_sums (*block_fn)(const void *, npy_intp, float, float, float *, const void *, uintptr_t, uintptr_t,
                                      npy_intp, ce_store_behind *);

static int check(const char *path, block_fn block)
{
    int bad = 0;
    const float maxima[] = {0.0f, 0.3465f, -0.3466f, 40.3f, -1000.1f, 16000.7f};
    for (size_t im = 0; im < sizeof maxima / sizeof maxima[0]; im++) {
        const float m = maxima[im], xlo = m + (-104.0f - 1.0f);
        const double mref = ce_exp_table_ref(m);
        double worst = 0;
        float worst_x = 0;
        npy_intp fill = 0;
        const uint32_t stride = im == 0 ? 13 : 101;
        /* d = x - m over [-105, -0]: the bits of a negative float fall towards those of -0 as d rises (x
         * rounds: the reference takes the x really passed) */
        float lo105 = -105.0f;
        uint32_t b0;
        memcpy(&b0, &lo105, 4);
        for (uint32_t b = b0;; b = b - 0x80000000u < stride ? 0x80000000u : b - stride) {
            float d;
            memcpy(&d, &b, 4);
            x[fill++] = m + d;
            const int last = b == 0x80000000u;
            if (fill == N || last) {
                block(x, fill, m, xlo, keep, NULL, 0, 0, CE_TABLE_COUNT, NULL);
                for (npy_intp j = 0; j < fill; j++) {
                    const float xc = x[j] < xlo ? xlo : x[j];
                    const double e = ulps(keep[j], exp(((double)xc - mref) * (1.0 - eps_ln2)));
                    if (e > worst) { worst = e; worst_x = x[j]; }
                }
                fill = 0;
            }
            if (last) break;
        }
        printf("%s, m = %-10g max error %.3f ulp at x = %.9g\n", path, m, worst, worst_x);
        if (worst > 2.0) bad = 1;
    }

    /* the block's sums, NaN, -inf and the next row's max, over tail lengths, then rows of several chunks
     * (CE_TABLE_LANE_ADDS steps each: 512 entries on AVX2, 1024 on AVX-512) */
    const float m = 3.25f;
    const double mref = ce_exp_table_ref(m);
    const npy_intp longer[] = {511, 512, 513, 1000, 1023, 1024, 1025, 2100, N};
    for (npy_intp il = -48; il < (npy_intp)(sizeof longer / sizeof longer[0]); il++) {
        const npy_intp n = il < 0 ? il + 48 : longer[il];
        double rest = 0, tot = 0;
        int cnt = 0;
        float nmax = -INFINITY;
        for (npy_intp j = 0; j < n; j++) {
            x[j] = j % 7 == 3 ? m : (j % 5 == 1 ? -INFINITY : m - 0.37f * (float)(j % 97));
            nx[j] = j % 4 == 2 ? NAN : 0.5f * (float)(j % 9);
            const double e = x[j] == -INFINITY ? 0.0 : exp((double)x[j] - mref);
            tot += e;
            rest += x[j] == m ? 0.0 : e;
            cnt += x[j] == m;
            nmax = nx[j] > nmax ? nx[j] : nmax;
        }
        /* prefetching changes nothing */
        ce_exp_table_sums s =
            block(x, n, m, m - 105.0f, keep, nx, (uintptr_t)nx, (uintptr_t)keep, CE_TABLE_COUNT, NULL);
        if (s.cnt != cnt || fabs(s.rest - rest) > 4e-7 * tot || s.nmax != nmax) {
            printf("%s, n = %ld: rest %.9g count %d max %g, expected %.9g %d %g\n", path, (long)n, s.rest, s.cnt,
                   s.nmax, rest, cnt, nmax);
            bad = 1;
        }
        for (npy_intp j = 0; j < n; j++)
            if (x[j] == -INFINITY && keep[j] != 0.0f) {
                printf("%s, n = %ld: exp(-inf) kept as %g\n", path, (long)n, keep[j]);
                bad = 1;
            }
        if (n > 0) {
            x[n - 1] = NAN;   /* in the last chunk */
            s = block(x, n, m, m - 105.0f, keep, NULL, 0, 0, CE_TABLE_COUNT, NULL);
            if (s.rest == s.rest || keep[n - 1] == keep[n - 1]) {
                printf("%s, n = %ld: NaN lost (sum %g, kept %g)\n", path, (long)n, s.rest, keep[n - 1]);
                bad = 1;
            }
            x[n - 1] = m;
            x[0] = NAN;   /* in the first */
            s = block(x, n, m, m - 105.0f, NULL, NULL, 0, 0, CE_TABLE_COUNT, NULL);
            if (s.rest == s.rest) {
                printf("%s, n = %ld: NaN in the first entry lost (sum %g)\n", path, (long)n, s.rest);
                bad = 1;
            }
        }
    }
    return bad;
}

/* The AVX2 float32 sums that leave one given entry out (skip, see CE_TABLE_COUNT) instead of counting the
 * entries at m: every length 0..47 and a long row, every entry left out in turn (and none), ties at m added
 * like the others, -inf, NaN (an entry not left out keeps the sum NaN), the next row's max; then
 * ce_first_at_max_avx2 finds the first entry at m (-0 equal to +0), or none. */
static int check_skip(void)
{
    int bad = 0;
    const float m = 3.25f;
    const double mref = ce_exp_table_ref(m);
    const npy_intp lengths[] = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 40, 47, 300, 513, 1031};
    for (size_t il = 0; il < sizeof lengths / sizeof lengths[0]; il++) {
        const npy_intp n = lengths[il];
        for (npy_intp skip = -1; skip < n; skip++) {
            double rest = 0, tot = 0;
            float nmax = -INFINITY;
            for (npy_intp j = 0; j < n; j++) {
                x[j] = j % 7 == 3 ? m : (j % 5 == 1 ? -INFINITY : m - 0.37f * (float)(j % 50));
                /* the next row's max near its end, in the last chunk of the longer rows */
                nx[j] = j % 4 == 2 ? NAN : 0.5f * (float)(j % 9) + (j == n - 2 ? 7.0f : 0.0f);
                const double e = x[j] == -INFINITY ? 0.0 : exp((double)x[j] - mref);
                tot += e;
                rest += j == skip ? 0.0 : e;
                nmax = nx[j] > nmax ? nx[j] : nmax;
            }
            ce_exp_table_sums s = ce_exp_block_avx2_f32(x, n, m, m - 105.0f, NULL, nx, (uintptr_t)nx, 0, skip, NULL);
            if (s.cnt != (skip >= 0) || fabs(s.rest - rest) > 4e-7 * tot || s.nmax != nmax) {
                printf("AVX2 skip %ld of %ld: rest %.9g count %d max %g, expected %.9g %d %g\n", (long)skip, (long)n,
                       s.rest, s.cnt, s.nmax, rest, skip >= 0, nmax);
                bad = 1;
            }
            /* with kept exps: the same sums, and the exps the compare's sweep keeps, bit for bit */
            ce_exp_table_sums k = ce_exp_block_avx2_f32(x, n, m, m - 105.0f, keep, nx, 0, (uintptr_t)keep, skip, NULL);
            ce_exp_block_avx2_f32(x, n, m, m - 105.0f, keep_count, NULL, 0, 0, CE_TABLE_COUNT, NULL);
            if (memcmp(&k, &s, sizeof k) != 0 || memcmp(keep, keep_count, (size_t)n * sizeof(float)) != 0) {
                printf("AVX2 skip %ld of %ld: kept exps or their sums differ\n", (long)skip, (long)n);
                bad = 1;
            }
            if (n > 1) {
                const npy_intp at = skip == n - 1 ? 0 : n - 1;
                const float keep_x = x[at];
                x[at] = NAN;
                s = ce_exp_block_avx2_f32(x, n, m, m - 105.0f, NULL, NULL, 0, 0, skip, NULL);
                if (s.rest == s.rest) {
                    printf("AVX2 skip %ld of %ld: NaN at %ld lost (sum %g)\n", (long)skip, (long)n, (long)at, s.rest);
                    bad = 1;
                }
                x[at] = keep_x;
            }
        }
    }
    /* without ties, leaving the max out by its position or by the compare gives the same sums, bit for bit */
    for (npy_intp n = 1; n < 1400; n += 37) {
        for (npy_intp j = 0; j < n; j++) x[j] = j % 5 == 1 ? -INFINITY : m - 0.37f * (float)(j % 50) - 0.01f;
        const npy_intp at = (n * 7) % n;
        x[at] = m;
        const ce_exp_table_sums a = ce_exp_block_avx2_f32(x, n, m, m - 105.0f, NULL, NULL, 0, 0, at, NULL);
        const ce_exp_table_sums b = ce_exp_block_avx2_f32(x, n, m, m - 105.0f, NULL, NULL, 0, 0, CE_TABLE_COUNT, NULL);
        if (memcmp(&a, &b, sizeof a) != 0) {
            printf("AVX2 %ld entries, max at %ld: rest %.9g by position, %.9g by compare\n", (long)n, (long)at, a.rest,
                   b.rest);
            bad = 1;
        }
    }
    /* CE_TABLE_FIND, the first entry at m looked for chunk by chunk: the sums of that entry's position given,
     * bit for bit, wherever it sits (in any chunk, or nowhere), with ties after it in its chunk and the next */
    for (npy_intp n = 1; n < 2100; n += n < 40 ? 1 : 61) {
        for (npy_intp at = -1; at < n; at += n < 40 ? 1 : 97) {
            for (npy_intp j = 0; j < n; j++)
                x[j] = j == at || (at >= 0 && (j == at + 5 || j == at + 600)) ? m : m - 0.37f * (float)(j % 50) - 0.01f;
            const ce_exp_table_sums a = ce_exp_block_avx2_f32(x, n, m, m - 105.0f, NULL, nx, 0, 0, CE_TABLE_FIND, NULL);
            const ce_exp_table_sums b =
                ce_exp_block_avx2_f32(x, n, m, m - 105.0f, NULL, nx, 0, 0, ce_first_at_max_avx2(x, n, m), NULL);
            if (memcmp(&a, &b, sizeof a) != 0) {
                printf("AVX2 %ld entries, first max at %ld: rest %.9g count %d found by chunk, %.9g %d given\n",
                       (long)n, (long)at, a.rest, a.cnt, b.rest, b.cnt);
                bad = 1;
            }
        }
    }
    for (npy_intp n = 0; n < 100; n++) {
        for (npy_intp at = -1; at < n; at++) {
            for (npy_intp j = 0; j < n; j++) x[j] = j == at ? 2.5f : (j > at && j % 3 == 0 ? 2.5f : -1.0f - (float)j);
            const npy_intp got = ce_first_at_max_avx2(x, n, 2.5f);
            npy_intp want = -1;
            for (npy_intp j = 0; j < n && want < 0; j++) want = x[j] == 2.5f ? j : -1;
            if (got != want) {
                printf("AVX2 first entry at the max of %ld: %ld, expected %ld\n", (long)n, (long)got, (long)want);
                bad = 1;
            }
        }
    }
    x[0] = -1.0f; x[1] = -0.0f; x[2] = 0.0f;
    if (ce_first_at_max_avx2(x, 3, 0.0f) != 1 || ce_first_at_max_avx2(x, 1, 0.0f) != -1) {
        printf("AVX2 first entry at the max: -0 and +0 not taken as equal, or an absent max found\n");
        bad = 1;
    }
    /* float32 rows: by position without kept exps only, found chunk by chunk in a row of one block */
    for (npy_intp j = 0; j < 1000; j++) x[j] = j == 700 ? 2.5f : -1.0f;
    if (ce_table_skip_for(3, CE_TABLE_F32, x, 1000, 2.5f, 0, 0) != 700 ||
        ce_table_skip_for(3, CE_TABLE_F32, x, 1000, 2.5f, 0, 1) != CE_TABLE_FIND ||
        ce_table_skip_for(3, CE_TABLE_F32, x, 1000, 2.5f, 1, 1) != CE_TABLE_COUNT) {
        printf("AVX2 float32 skip: by position with kept exps, or not without\n");
        bad = 1;
    }
    printf("AVX2 sums leaving one entry out: %s\n", bad ? "wrong" : "right");
    return bad;
}

static uint16_t xh[N], nxh[N];
static float keep_h[N];

static float widen_f16(uint16_t h) { return ce_ld_f16_bits(h); }
static float widen_bf16(uint16_t h) { return ce_ld_bf16(h); }

/* One half block against the float32 block on the widened values: with kept exps, sums, max and exps bit for
 * bit; without (the 32-wide loop, which may add in another order), rest within 2^-22 of the total, the count
 * and the max */
static int same_as_f32(const char *path, block_fn half, block_fn f32, float (*widen)(uint16_t), npy_intp n, float m,
                       int with_nx)
{
    int bad = 0;
    for (npy_intp j = 0; j < n; j++) { x[j] = widen(xh[j]); nx[j] = widen(nxh[j]); }
    const ce_exp_table_sums b = f32(x, n, m, m - 105.0f, keep, with_nx ? nx : NULL, 0, 0, CE_TABLE_COUNT, NULL);
    const ce_exp_table_sums a = half(xh, n, m, m - 105.0f, keep_h, with_nx ? nxh : NULL, 0, 0, CE_TABLE_COUNT, NULL);
    if (memcmp(&a, &b, sizeof a) != 0 || memcmp(keep_h, keep, (size_t)n * sizeof(float)) != 0) bad = 1;
    const ce_exp_table_sums c =
        half(xh, n, m, m - 105.0f, NULL, with_nx ? nxh : NULL, with_nx ? (uintptr_t)nxh : 0, 0, CE_TABLE_COUNT, NULL);
    /* the total of the exps, each entry at m adding at most 1.42 (ce_exp_rel's top) */
    const float tot = fabsf(b.rest) + 1.42f * (float)b.cnt;
    if (b.rest != b.rest ? c.rest == c.rest : fabsf(c.rest - b.rest) > 0x1p-22f * tot) bad = 1;
    if (c.cnt != b.cnt || c.nmax != b.nmax) bad = 1;
    if (bad)
        printf("%s, n = %ld, m = %g: half block %.9g %d %g (not kept %.9g %d %g), float32 block %.9g %d %g\n", path,
               (long)n, m, a.rest, a.cnt, a.nmax, c.rest, c.cnt, c.nmax, b.rest, b.cnt, b.nmax);
    return bad;
}

static int check_half(const char *path, block_fn half, block_fn f32, float (*widen)(uint16_t))
{
    int bad = 0;
    /* every half value (NaN, infinities, subnormals), N at a time, as x and as the next row */
    for (uint32_t h0 = 0; h0 < 65536; h0 += N) {
        for (npy_intp j = 0; j < N; j++) { xh[j] = (uint16_t)(h0 + j); nxh[j] = (uint16_t)(h0 + (j * 7 + 3) % N); }
        bad |= same_as_f32(path, half, f32, widen, N, 1.5f, 1);
        bad |= same_as_f32(path, half, f32, widen, N, -30.25f, 0);
    }
    /* every tail length, from a varied start (the masked loads read n entries only) */
    for (npy_intp n = 0; n < 48; n++) {
        for (npy_intp j = 0; j < n; j++) {
            xh[j] = (uint16_t)(0x3c00 + 977 * j);
            nxh[j] = (uint16_t)(0xbc00 ^ (613 * j));
        }
        bad |= same_as_f32(path, half, f32, widen, n, 0.75f, 1);
    }
    /* the next row's max on the patterns: all negative, a NaN winning (0x7fff and 0xffff are NaN in both
     * types), only NaN, -inf, and a positive among negative NaNs */
    const npy_intp lengths[] = {32, 33, 64, 95, 100};
    for (size_t il = 0; il < sizeof lengths / sizeof lengths[0]; il++) {
        const npy_intp n = lengths[il];
        for (int pattern = 0; pattern < 5; pattern++) {
            for (npy_intp j = 0; j < n; j++) {
                xh[j] = (uint16_t)(0x3c00 + 977 * j);
                const uint16_t neg = (uint16_t)(0x8000 | ((j * 1237 + 5) % 0x7c00));
                nxh[j] = pattern == 0 ? neg
                         : pattern == 1 ? (j == n / 2 ? 0x7fff : neg)
                         : pattern == 2 ? 0xffff
                         : pattern == 3 ? (j % 3 ? 0xff80 | 0x7c00 : 0xffff)
                                        : (j == n - 3 ? 0x0123 : 0xffff);
            }
            bad |= same_as_f32(path, half, f32, widen, n, 0.75f, 1);
        }
    }
    printf("%s: %s\n", path, bad ? "differs from the float32 block" : "same as the float32 block");
    return bad;
}

/* The AVX2 half blocks that leave one given entry out (skip) instead of comparing: without ties, the same
 * sums as the compare, bit for bit, with and without kept exps (bfloat16 without them widens the even and
 * odd entries apart), the entry left out at every place of rows up to 100 and along longer ones; with a tie
 * the count is 1 and the tie is added; a NaN next to it keeps the sum NaN; then ce_table_skip_for finds the
 * max's first entry by its pattern (kept exps or not), and compares where m is 0 or not finite, on short rows
 * and on the AVX-512 path. */
static int check_half_skip(const char *path, block_fn half, uint16_t (*narrow)(float), int kind)
{
    int bad = 0;
    const float m = 2.5f;
    const uint16_t hm = narrow(m);
    for (npy_intp n = 1; n < 1400; n += n < 100 ? 1 : 37) {
        for (npy_intp j = 0; j < n; j++)
            xh[j] = j % 5 == 1 ? narrow(-INFINITY) : narrow(m - 0.37f * (float)(j % 50) - 0.01f);
        for (npy_intp at = 0; at < n; at += n < 100 ? 1 : 13) {
            const uint16_t was = xh[at];
            xh[at] = hm;
            for (int kept = 0; kept < 2; kept++) {
                float *kp = kept ? keep_h : NULL;
                const ce_exp_table_sums a = half(xh, n, m, m - 105.0f, kp, NULL, 0, 0, at, NULL);
                const ce_exp_table_sums b =
                    half(xh, n, m, m - 105.0f, kept ? keep : NULL, NULL, 0, 0, CE_TABLE_COUNT, NULL);
                if (memcmp(&a, &b, sizeof a) != 0 || (kept && memcmp(keep_h, keep, (size_t)n * sizeof(float)) != 0)) {
                    printf("%s %ld entries, max at %ld (kept %d): rest %.9g %d by position, %.9g %d by compare\n", path,
                           (long)n, (long)at, kept, a.rest, a.cnt, b.rest, b.cnt);
                    bad = 1;
                }
            }
            const npy_intp tie = (at + n / 2) % n;   /* a second entry at m: added to rest, counted once */
            if (tie != at) {
                const uint16_t was_tie = xh[tie];
                xh[tie] = hm;
                const ce_exp_table_sums t = half(xh, n, m, m - 105.0f, NULL, NULL, 0, 0, at, NULL);
                const ce_exp_table_sums c = half(xh, n, m, m - 105.0f, NULL, NULL, 0, 0, CE_TABLE_COUNT, NULL);
                const double top = exp((double)m - ce_exp_table_ref(m));
                if (t.cnt != 1 || c.cnt != 2 || fabs(t.rest - (c.rest + top)) > 1e-6 * (t.rest + c.rest)) {
                    printf("%s %ld entries, ties at %ld and %ld: %.9g %d by position, %.9g %d by compare\n", path,
                           (long)n, (long)at, (long)tie, t.rest, t.cnt, c.rest, c.cnt);
                    bad = 1;
                }
                xh[tie] = was_tie;
            }
            if (n > 1) {   /* a NaN next to the entry left out keeps the sum NaN */
                const npy_intp at_nan = (at + 1) % n;
                const uint16_t was_nan = xh[at_nan];
                xh[at_nan] = narrow(NAN);
                for (int kept = 0; kept < 2; kept++) {
                    const ce_exp_table_sums q = half(xh, n, m, m - 105.0f, kept ? keep_h : NULL, NULL, 0, 0, at, NULL);
                    if (q.rest == q.rest) {
                        printf("%s %ld entries, max at %ld: NaN at %ld lost (kept %d)\n", path, (long)n, (long)at,
                               (long)at_nan, kept);
                        bad = 1;
                    }
                }
                xh[at_nan] = was_nan;
            }
            if (n >= CE_TABLE_SKIP_MIN && ce_table_skip_for(3, kind, xh, n, m, 0, 1) != at) {
                printf("%s %ld entries: max's pattern not found at %ld\n", path, (long)n, (long)at);
                bad = 1;
            }
            xh[at] = was;
        }
    }
    /* m = 0 (-0 equal to it as well), infinite or NaN: the compare */
    for (npy_intp j = 0; j < 1000; j++) xh[j] = narrow(-1.0f - (float)(j % 7));
    const float odd[] = {0.0f, INFINITY, NAN};
    for (int i = 0; i < 3; i++) {
        if (ce_table_skip_for(3, kind, xh, 1000, odd[i], 0, 1) != CE_TABLE_COUNT) {
            printf("%s: max %g searched by its pattern\n", path, odd[i]);
            bad = 1;
        }
    }
    if (ce_table_skip_for(3, kind, xh, CE_TABLE_SKIP_MIN - 1, -1.0f, 0, 1) != CE_TABLE_COUNT ||
        ce_table_skip_for(4, kind, xh, 1000, -1.0f, 0, 1) != CE_TABLE_COUNT ||
        ce_table_skip_for(3, kind, xh, 1000, -1.0f, 1, 1) != 0 ||
        ce_table_skip_for(3, kind, xh, 1000, -1.0f, 0, 1) != 0 ||
        ce_table_skip_for(3, kind, xh, 1000, -0.5f, 0, 1) != -1) {
        printf("%s: skip for short rows, the AVX-512 path, or a max found or absent, wrong\n", path);
        bad = 1;
    }
    printf("%s sums leaving one entry out: %s\n", path, bad ? "wrong" : "right");
    return bad;
}

static uint16_t narrow_f16(float f) { return ce_st_f16_bits(f); }
static uint16_t narrow_bf16(float f) { return ce_st_bf16(f); }

int main(void)
{
    __builtin_cpu_init();
    /* the paths' own requirements (x86-64-v4 and x86-64-v3 give them) */
    const int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c");
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (!avx2) {
        printf("no AVX2 on this CPU\n");
        return 77;
    }
    int bad = check("AVX2", ce_exp_block_avx2_f32);
    bad |= check_skip();
    bad |= check_half("AVX2 float16", ce_exp_block_avx2_f16, ce_exp_block_avx2_f32, widen_f16);
    bad |= check_half("AVX2 bfloat16", ce_exp_block_avx2_bf16, ce_exp_block_avx2_f32, widen_bf16);
    bad |= check_half_skip("AVX2 float16", ce_exp_block_avx2_f16, narrow_f16, CE_TABLE_F16);
    bad |= check_half_skip("AVX2 bfloat16", ce_exp_block_avx2_bf16, narrow_bf16, CE_TABLE_BF16);
    if (avx512) {
        bad |= check("AVX-512", ce_exp_block_avx512_f32);
        bad |= check_half("AVX-512 float16", ce_exp_block_avx512_f16, ce_exp_block_avx512_f32, widen_f16);
        bad |= check_half("AVX-512 bfloat16", ce_exp_block_avx512_bf16, ce_exp_block_avx512_f32, widen_bf16);
    }
    return bad;
}
