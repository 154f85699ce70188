/* The table-exp blocks of the package (src/crossentropy/_ce_exp_table.h) timed alone on one row of 1000
 * classes held in L1: float32, float16 and bfloat16 rows, with and without the next row's max, on the
 * AVX-512 and AVX2 paths.  Cycles per element at an assumed 3.6 GHz (best of 20 runs of 20000 calls).
 *
 *   cc -O2 -std=c11 -Isrc/crossentropy -I$(python -c "import numpy; print(numpy.get_include())") \
 *      -I$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])") \
 *      benchmarks/expf/table_blocks.c -o table_blocks -lm && ./table_blocks
 */
#include <numpy/npy_common.h>
#include <stdio.h>
#include <time.h>
#include "_ce_base.h"
#include "_ce_exp_table.h"

#define N 1000
#define GHZ 3.6

static float x[N], nx[N];
static uint16_t xh[N], nxh[N], xb[N], nxb[N];
typedef ce_exp_table_sums (*block_fn)(const void *, npy_intp, float, float, float *, const void *, uintptr_t, uintptr_t,
                                      npy_intp, ce_store_behind *);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void run(const char *name, block_fn block, const void *row, const void *next)
{
    double best = 1e9;
    volatile float sink = 0;
    for (int r = 0; r < 20; r++) {
        const double t = now();
        for (int i = 0; i < 20000; i++)
            sink += block(row, N, 3.0f, 3.0f - 105.0f, NULL, next, 0, 0, CE_TABLE_COUNT, NULL).rest;
        const double dt = now() - t;
        best = dt < best ? dt : best;
    }
    printf("%-28s %.3f cycles per element\n", name, best / 20000 / N * GHZ * 1e9);
}

int main(void)
{
    __builtin_cpu_init();
    for (int j = 0; j < N; j++) {
        x[j] = (float)((j * 37) % 100) * 0.03f - 1.0f;
        nx[j] = x[(j * 7) % N];
        _Float16 h = (_Float16)x[j];
        memcpy(&xh[j], &h, 2);
        h = (_Float16)nx[j];
        memcpy(&nxh[j], &h, 2);
        xb[j] = ce_st_bf16(x[j]);
        nxb[j] = ce_st_bf16(nx[j]);
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
        run("AVX-512 float32, next max", ce_exp_block_avx512_f32, x, nx);
        run("AVX-512 float32", ce_exp_block_avx512_f32, x, NULL);
        run("AVX-512 float16, next max", ce_exp_block_avx512_f16, xh, nxh);
        run("AVX-512 float16", ce_exp_block_avx512_f16, xh, NULL);
        run("AVX-512 bfloat16, next max", ce_exp_block_avx512_bf16, xb, nxb);
        run("AVX-512 bfloat16", ce_exp_block_avx512_bf16, xb, NULL);
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        run("AVX2 float32, next max", ce_exp_block_avx2_f32, x, nx);
        run("AVX2 float16, next max", ce_exp_block_avx2_f16, xh, nxh);
        run("AVX2 bfloat16, next max", ce_exp_block_avx2_bf16, xb, nxb);
    }
    return 0;
}
