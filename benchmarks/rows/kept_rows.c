/* The memory pattern of the fused loss+grad into out= on its own, with a multiply and an add where the kernel
 * takes its exps: what that pattern costs against memcpy (the copy floor) on this machine, one thread.
 *     cc -O2 -mavx2 benchmarks/rows/kept_rows.c -o kept_rows && ./kept_rows N C REPS
 * C is rounded down to a multiple of 8.  Each variant is timed over the whole N x C float32 array, the best of
 * REPS, the variants taking turns:
 *   memcpy             the copy floor (glibc's, non-temporal stores for large copies)
 *   one pass           x * a streamed straight into the output (a copy with arithmetic)
 *   kept, then stored  per row: its values kept in a scratch row (taking the next row's max along, as the
 *                      kernel's sweep does), then the scratch row scaled and streamed into the output row
 *   kept, stored behind  the same, the previous row's scratch row streamed during this row's sweep (the
 *                      kernel's ce_store_behind for rows of up to 32Ki classes): two scratch rows, plus this
 *                      row and the next, live in L2
 *   one read, behind   the same without the next row's max: each row read once, from memory (the pattern of a
 *                      sweep that would find the max as it goes)
 *   one scratch, behind  kept, stored behind with one scratch row: each step streams the previous row's values
 *                      out of it before it keeps this row's there (the kernel's shared ce_store_behind, from
 *                      32Ki classes on a 2 MiB L2): three rows in L2
 * Each pattern prefetches the row it reads from memory PF_AHEAD bytes ahead, as the kernel does on Intel CPUs.
 * docs/performance.md ("What the kept rows cost without the exps", "Long rows stored behind from one kept row")
 * gives the figures. */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float hsum(__m256 v)
{
    float f[8], s = 0;
    _mm256_storeu_ps(f, v);
    for (int i = 0; i < 8; i++) s += f[i];
    return s;
}

/* The line PF_AHEAD bytes past `at` into L2, as the kernel prefetches the row it reads from memory on Intel
 * CPUs (ce_pf_next_row): an address, not a pointer, as it may lie past the array */
#define PF_AHEAD 8192
static void prefetch_ahead(const float *at)
{
    _mm_prefetch((const char *)((uintptr_t)at + PF_AHEAD), _MM_HINT_T1);
}

/* One row's sweep: x * a kept in k and summed, the max of the next row nx (NULL: none) taken along, and with
 * prev (NULL: none) the previous row's scratch row kp streamed into prev, scaled by sp, a vector per step.
 * The row read from memory (nx, else x) is prefetched ahead. */
static float sweep(const float *x, float *k, long n, const float *nx, const float *kp, float *prev, float sp,
                   float *nmax)
{
    const float *from_memory = nx ? nx : x;
    const __m256 a = _mm256_set1_ps(1.0001f), sv = _mm256_set1_ps(sp);
    __m256 s = _mm256_setzero_ps(), m = _mm256_set1_ps(-1e30f);
    for (long j = 0; j < n; j += 8) {
        if ((j & 15) == 0) prefetch_ahead(from_memory + j);   /* a line per 16 floats */
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j), a);
        s = _mm256_add_ps(s, v);
        _mm256_storeu_ps(k + j, v);
        if (nx) m = _mm256_max_ps(_mm256_loadu_ps(nx + j), m);
        if (prev) _mm256_stream_ps(prev + j, _mm256_mul_ps(_mm256_loadu_ps(kp + j), sv));
    }
    float f[8];
    _mm256_storeu_ps(f, m);
    for (int i = 1; i < 8; i++) f[0] = f[i] > f[0] ? f[i] : f[0];
    *nmax = f[0];
    return hsum(s);
}

/* sweep() with one scratch row k: each step streams the previous row's values (when prev is not NULL) before it
 * keeps this row's in their place.  A function of its own: with that order in sweep(), its patterns with two
 * scratch rows measured 1.1-1.2x slower at 128256 classes. */
static float sweep_shared(const float *x, float *k, long n, const float *nx, float *prev, float sp, float *nmax)
{
    const float *from_memory = nx ? nx : x;
    const __m256 a = _mm256_set1_ps(1.0001f), sv = _mm256_set1_ps(sp);
    __m256 s = _mm256_setzero_ps(), m = _mm256_set1_ps(-1e30f);
    for (long j = 0; j < n; j += 8) {
        if ((j & 15) == 0) prefetch_ahead(from_memory + j);
        if (prev) _mm256_stream_ps(prev + j, _mm256_mul_ps(_mm256_loadu_ps(k + j), sv));
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j), a);
        s = _mm256_add_ps(s, v);
        _mm256_storeu_ps(k + j, v);
        if (nx) m = _mm256_max_ps(_mm256_loadu_ps(nx + j), m);
    }
    float f[8];
    _mm256_storeu_ps(f, m);
    for (int i = 1; i < 8; i++) f[0] = f[i] > f[0] ? f[i] : f[0];
    *nmax = f[0];
    return hsum(s);
}

static void store_row(const float *k, float *g, long n, float sc)
{
    const __m256 sv = _mm256_set1_ps(sc);
    for (long j = 0; j < n; j += 8) _mm256_stream_ps(g + j, _mm256_mul_ps(_mm256_loadu_ps(k + j), sv));
}

static void one_pass(const float *x, float *g, long n)
{
    const __m256 a = _mm256_set1_ps(1.0001f);
    for (long j = 0; j < n; j += 8) {
        if ((j & 15) == 0) prefetch_ahead(x + j);
        _mm256_stream_ps(g + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), a));
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s N C REPS\n", argv[0]);
        return 2;
    }
    const long N = atol(argv[1]), C = atol(argv[2]) / 8 * 8;
    const int R = atoi(argv[3]);
    if (N < 1 || C < 8 || R < 1) {
        fprintf(stderr, "N and REPS must be at least 1, C at least 8\n");
        return 2;
    }
    const size_t bytes = (size_t)N * C * sizeof(float);
    /* rows 32-byte aligned (C a multiple of 8), as the streaming stores need */
    float *x = aligned_alloc(64, (bytes + 63) / 64 * 64), *g = aligned_alloc(64, (bytes + 63) / 64 * 64);
    float *k = aligned_alloc(64, ((size_t)2 * C * sizeof(float) + 63) / 64 * 64);
    if (!x || !g || !k) {
        fprintf(stderr, "no memory for %ldx%ld floats\n", N, C);
        return 2;
    }
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] = (float)(i % 1000) * 1e-3f;
    memset(g, 0, bytes);
    enum { VARIANTS = 6 };
    const char *names[VARIANTS] = {"memcpy", "one pass", "kept, then stored", "kept, stored behind", "one read, behind",
                                   "one scratch, behind"};
    double best[VARIANTS] = {1e9, 1e9, 1e9, 1e9, 1e9, 1e9};
    volatile float sink = 0;
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < VARIANTS; v++) {
            double t = now();
            if (v == 0) {
                memcpy(g, x, bytes);
            } else if (v == 1) {
                for (long i = 0; i < N; i++) one_pass(x + i * C, g + i * C, C);
            } else {
                float sp = 0;
                for (long i = 0; i <= N; i++) {
                    float *kc = k + (i & 1) * C, *kp = k + ((i + 1) & 1) * C, nm = 0, s = 0;
                    const float *nx = i + 1 < N && v != 4 ? x + (i + 1) * C : NULL;
                    if (v == 5) {
                        if (i == N) store_row(k, g + (i - 1) * C, C, sp);
                        else s = sweep_shared(x + i * C, k, C, nx, i ? g + (i - 1) * C : NULL, sp, &nm);
                    } else if (v == 2) {
                        if (i == N) break;
                        s = sweep(x + i * C, kc, C, nx, NULL, NULL, 0, &nm);
                        store_row(kc, g + i * C, C, 1.0f / (s + 1.0f));
                    } else if (i < N) {
                        s = sweep(x + i * C, kc, C, nx, kp, i ? g + (i - 1) * C : NULL, sp, &nm);
                    } else {
                        store_row(kp, g + (i - 1) * C, C, sp);
                    }
                    sink += s + nm;
                    sp = 1.0f / (s + 1.0f);
                }
            }
            _mm_sfence();
            t = now() - t;
            if (t < best[v]) best[v] = t;
        }
    }
    printf("%ldx%ld float32, one thread, best of %d\n", N, C, R);
    for (int v = 0; v < VARIANTS; v++)
        printf("  %-20s %8.2f ms  %.3f ns per element  %.2fx memcpy\n", names[v], best[v] * 1e3,
               best[v] / ((double)N * C) * 1e9, best[v] / best[0]);
    free(x);
    free(g);
    free(k);
    return 0;
}
