/* The float16/bfloat16 row widening and narrowing of _ce_widen.h on every path this CPU has (bit conversions,
 * AVX2+F16C, AVX-512, AVX512_BF16 for bfloat16 narrowing) must agree bit for bit: every half value at three
 * alignments and tails, and short rows; for narrowing (float16 and bfloat16, plain and streaming stores,
 * unscaled and scaled, with one entry kept unscaled) every float16 value, the midpoints between neighbours
 * (ties), values between them, float32 subnormals and the largest float32 values (ties to infinity).  The AVX2
 * and AVX-512 bfloat16 roundings for rows without NaN (paths 4 and 5) run on the same rows with their NaN
 * replaced, and the AVX2 row check that chooses its rounding on rows with one NaN or infinity at every position.
 * Built and run by tests/test_half.py::test_widening_paths_agree; prints the mismatches, exits 1 on any. */
#include <numpy/npy_common.h>
#include <stdio.h>
#include "_ce_base.h"
#include "_ce_half.h"
#include "_ce_widen.h"

static int same(float a, float b)
{
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y || (a != a && b != b);
}

static uint16_t h[65536];
#define ROW_MAX (3 * 65536 + 4096 + 16)
static float ref[65536], got[65536], f[ROW_MAX], no_nan[ROW_MAX];
static uint16_t nref[ROW_MAX], ngot[ROW_MAX];

static int avx2, avx512, avx512bf16;

/* Whether narrowing path `path` runs on this CPU, for bfloat16 (bf) or float16 rows: 1 AVX2, 2 AVX-512,
 * 3 AVX512_BF16 (vcvtneps2bf16), 4 and 5 the AVX2 and AVX-512 bfloat16 roundings of rows without NaN */
static int narrow_path_runs(int path, int bf)
{
    switch (path) {
        case 1: return avx2;
        case 2: return avx512;
        case 3: return bf && avx512bf16;
        case 4: return bf && avx2;
        case 5: return bf && avx512;
        default: return 0;
    }
}

/* A row narrowed by path `path` (narrow_path_runs), as the kernels call it; how: CE_NARROW_STREAM or 0 */
static void narrow_by_path(int path, int bf, const float *row, uint16_t *out, npy_intp n, float s, npy_intp keep,
                           int how)
{
    switch (path) {
        case 1: (bf ? ce_narrow_row_bf16_avx2 : ce_narrow_row_f16_avx2)(row, out, n, s, keep, how); break;
        case 2: (bf ? ce_narrow_row_bf16_avx512 : ce_narrow_row_f16_avx512)(row, out, n, s, keep, how); break;
#if CE_WIDEN_BF16_INSN
        case 3: ce_narrow_row_bf16_avx512bf16(row, out, n, s, keep, how); break;
#endif
        case 4: ce_narrow_row_bf16_no_nan_avx2(row, out, n, s, keep, how); break;
        case 5: ce_narrow_row_bf16_avx512(row, out, n, s, keep, how | CE_NARROW_FINITE); break;   /* known finite */
        default: break;
    }
}

int main(void)
{
    int bad = 0;
    __builtin_cpu_init();
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    avx512 = __builtin_cpu_supports("avx512f");
    avx512bf16 = ce_has_avx512bf16();
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    for (int off = 0; off < 3; off++) {
        npy_intp n = 65536 - off * 7;
        for (int bf = 0; bf < 2; bf++) {
            float m = bf ? ce_widen_row_bf16_bits(h + off, ref, n) : ce_widen_row_f16_bits(h + off, ref, n);
            for (int path = 1; path <= 2; path++) {
                if ((path == 1 && !avx2) || (path == 2 && !avx512)) continue;
                float mg = path == 1 ? (bf ? ce_widen_row_bf16_avx2(h + off, got, n)
                                           : ce_widen_row_f16_avx2(h + off, got, n))
                                     : (bf ? ce_widen_row_bf16_avx512(h + off, got, n)
                                           : ce_widen_row_f16_avx512(h + off, got, n));
                for (npy_intp j = 0; j < n; j++)
                    if (!same(ref[j], got[j]) && bad++ < 5)
                        printf("widen %s path %d: %04x\n", bf ? "bf16" : "f16", path, h[off + j]);
                if (!same(m, mg) && bad++ < 5) printf("max %s path %d: %g != %g\n", bf ? "bf16" : "f16", path, mg, m);
            }
        }
    }
    /* short rows (the vector tail alone), the max in the tail, no store past the row */
    for (npy_intp n = 1; n <= 40; n++) {
        for (int bf = 0; bf < 2; bf++) {
            uint16_t hs[40];
            for (npy_intp j = 0; j < n; j++) hs[j] = (uint16_t)((bf ? 0x3f80 : 0x3c00) + j * 3);   /* 1, rising */
            for (int path = 1; path <= 2; path++) {
                if ((path == 1 && !avx2) || (path == 2 && !avx512)) continue;
                for (npy_intp j = 0; j < n + 16; j++) got[j] = -7.0f;
                float mg = path == 1 ? (bf ? ce_widen_row_bf16_avx2(hs, got, n) : ce_widen_row_f16_avx2(hs, got, n))
                                     : (bf ? ce_widen_row_bf16_avx512(hs, got, n)
                                           : ce_widen_row_f16_avx512(hs, got, n));
                float m = bf ? ce_widen_row_bf16_bits(hs, ref, n) : ce_widen_row_f16_bits(hs, ref, n);
                if (!same(m, mg) && bad++ < 5)
                    printf("short max %s path %d n %ld: %g != %g\n", bf ? "bf16" : "f16", path, (long)n, mg, m);
                for (npy_intp j = 0; j < n + 16; j++)
                    if (!same(j < n ? ref[j] : -7.0f, got[j]) && bad++ < 5)
                        printf("short widen %s path %d n %ld: entry %ld\n", bf ? "bf16" : "f16", path, (long)n,
                               (long)j);
            }
        }
    }
    npy_intp k = 0;
    for (int i = 0; i < 65536; i++) {
        float v = ce_ld_f16_bits((uint16_t)i), w = ce_ld_f16_bits((uint16_t)(i + 1));
        uint32_t u;
        memcpy(&u, &v, 4);
        u += 0x1234;
        f[k++] = v;
        f[k++] = (v + w) / 2;
        memcpy(&f[k++], &u, 4);
    }
    for (uint32_t i = 0; i < 4096; i++) {   /* float32 subnormals and the normals next to them, both signs */
        uint32_t u = ((i & 1) << 31) | (((i >> 1) * 0x1003u) & 0x00ffffffu);
        memcpy(&f[k++], &u, 4);
    }
    /* the largest float32 values: below, at and above the tie between the largest bfloat16 and infinity */
    const uint32_t tops[8] = {0x7f7f7fff, 0x7f7f8000, 0x7f7f8001, 0x7f7fffff, 0xff7f7fff, 0xff7f8000, 0xff7e8000,
                              0x7f7e8000};
    for (int i = 0; i < 8; i++) memcpy(&f[k++], &tops[i], 4);
    for (npy_intp j = 0; j < k; j++) no_nan[j] = f[j] != f[j] ? 0.5f : f[j];   /* infinities stay */
    /* narrowing multiplies by a scale first (1: the row as it is), except at one entry (keep, < 0: none): at
     * the start, in the streaming head, in the body's lines, in the vectors after the last line and in the tail */
    const float scales[2] = {1.0f, 0.3f};
    const npy_intp keeps[8] = {-1, 0, 20, 1001, k - 29, k - 20, k - 13, k - 5};
    for (int si = 0; si < 2; si++) {
        for (int ki = 0; ki < 8; ki++) {
            const float s = scales[si];
            for (int bf = 0; bf < 2; bf++) {
                for (int path = 1; path <= 5; path++) {
                    if (!narrow_path_runs(path, bf)) continue;
                    const float *row = path >= 4 ? no_nan : f;
                    if (bf) ce_narrow_row_bf16_bits(row, nref, k, s, keeps[ki]);
                    else ce_narrow_row_f16_bits(row, nref, k, s, keeps[ki]);
                    for (int stream = 0; stream < 2; stream++) {
                        npy_intp off = stream * 3;   /* an unaligned start: the streaming loop's head and tail */
                        npy_intp keep = keeps[ki] < 0 ? -1 : keeps[ki] - off;
                        memset(ngot, 0, sizeof ngot);
                        narrow_by_path(path, bf, row + off, ngot + off, k - off, s, keep, stream);
                        ce_stream_fence();
                        for (npy_intp j = off; j < k; j++) {
                            int nan = row[j] != row[j];
                            int ok = !nan ? ngot[j] == nref[j]
                                          : ((ngot[j] & (bf ? 0x7f80 : 0x7c00)) == (bf ? 0x7f80 : 0x7c00) &&
                                             (ngot[j] & (bf ? 0x7f : 0x3ff)));
                            if (!ok && bad++ < 5)
                                printf("narrow %s path %d stream %d scale %g keep %ld: %a -> %04x, bits %04x\n",
                                       bf ? "bf16" : "f16", path, stream, s, (long)keeps[ki], row[j], ngot[j],
                                       nref[j]);
                        }
                    }
                }
            }
        }
    }
    /* short rows (the vector tail alone) and a keep in the tail, narrowed into a row of guards */
    for (npy_intp n = 1; n <= 40; n++) {
        for (int bf = 0; bf < 2; bf++) {
            for (int path = 1; path <= 5; path++) {   /* f[7, 47) holds no NaN: paths 4 and 5 run on it too */
                if (!narrow_path_runs(path, bf)) continue;
                npy_intp keep = n / 2;
                for (npy_intp j = 0; j < n + 16; j++) ngot[j] = 0xabcd;
                if (bf) ce_narrow_row_bf16_bits(f + 7, nref, n, 0.3f, keep);
                else ce_narrow_row_f16_bits(f + 7, nref, n, 0.3f, keep);
                narrow_by_path(path, bf, f + 7, ngot, n, 0.3f, keep, 0);
                for (npy_intp j = 0; j < n + 16; j++) {
                    int ok = j < n ? ngot[j] == nref[j] : ngot[j] == 0xabcd;
                    if (!ok && bad++ < 5)
                        printf("short narrow %s path %d n %ld: entry %ld\n", bf ? "bf16" : "f16", path, (long)n,
                               (long)j);
                }
            }
        }
    }
    /* the check before the AVX2 rounding without NaN: a NaN or infinity anywhere in rows of 1-80 */
    if (avx2) {
        float r[80];
        const float odd[3] = {NAN, INFINITY, -INFINITY};
        for (npy_intp n = 1; n <= 80; n++) {
            for (npy_intp j = 0; j < n; j++) r[j] = 1.0f;
            if (!ce_row_is_finite_avx2(r, n) && bad++ < 5) printf("finite row of %ld taken as not\n", (long)n);
            for (npy_intp p = 0; p < n; p++) {
                for (int o = 0; o < 3; o++) {
                    r[p] = odd[o];
                    if (ce_row_is_finite_avx2(r, n) && bad++ < 5)
                        printf("row of %ld with %g at %ld taken as finite\n", (long)n, odd[o], (long)p);
                }
                r[p] = 1.0f;
            }
        }
    }
    printf("paths: bits%s%s%s; %d mismatches\n", avx2 ? ", AVX2" : "", avx512 ? ", AVX-512" : "",
           avx512bf16 ? ", AVX512_BF16" : "", bad);
    return bad != 0;
}
