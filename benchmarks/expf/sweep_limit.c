/* What the forward exp sweep costs with nothing else around it (AVX-512, float32, one core): the loop the
 * package's sparse forward runs for a row of 1024 classes held in L1, written out in intrinsics as GCC 12
 * emits it (clamp, reduction against a multiple of ln 2, degree-6 polynomial, 2^k from one shift, the split
 * sum and the next row's max), next to a read of the same rows and to a variant whose exp takes 2^(j/16) from a
 * 16-entry table held in one register (degree-3 polynomial), which the package does not use.  No per-row
 * or per-block work: the figures bound what the row kernels can reach on this core.
 *
 *   gcc -O2 -march=x86-64-v4 sweep_limit.c -o sweep_limit -lm
 *   ./sweep_limit              # ns per element and cycles per 16 floats (clock from a chain of dependent adds),
 *                              # and how many 512-bit multiply-adds the core issues per cycle
 *   ./sweep_limit --accuracy   # max error of both exps over every 7th float32 in [-104, 0], in ulp
 */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define C 1024
#define REPS 2000
static float X[C] __attribute__((aligned(64))), NX[C] __attribute__((aligned(64)));
static volatile float sink;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* exp(x) for x in [-105, 0] relative to mref = 0, as the package's ce_exp_rel computes it (km = 0) */
static inline __m512 exp_poly6(__m512 x)
{
    const __m512 t0 = _mm512_set1_ps(12582912.0f + 153.0f), u = _mm512_set1_ps(0x1p-26f);
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), t0);
    __m512 k = _mm512_sub_ps(t, t0);
    __m512 s = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t), 23));
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p =
        _mm512_fmadd_ps(_mm512_set1_ps(0x1.6da76cp-10f * 0x1p-26f), r, _mm512_set1_ps(0x1.12a1ecp-7f * 0x1p-26f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.555470p-5f * 0x1p-26f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.55538cp-3f * 0x1p-26f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f * 0x1p-26f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.000002p+0f * 0x1p-26f));
    p = _mm512_fmadd_ps(p, r, u);
    return _mm512_mul_ps(p, s);
}

/* exp(x) = 2^(k/16) e^r, |r| <= ln2/32: 2^(k/16) from a table of bits(2^(j/16)) - (j << 19) in one register
 * (vpermd picks entry k mod 16; adding bits(t) << 19 puts k div 16 + the bias in the exponent), Taylor degree 3
 * for e^r, the 2^-26 of the subnormal range folded into the coefficients as above */
static __m512i exp2_table;
static inline __m512 exp_table16(__m512 x)
{
    const __m512 t0 = _mm512_set1_ps(12582912.0f + 16 * 26), u = _mm512_set1_ps(0x1p-26f);
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(16 * 1.44269504f), t0);
    __m512 k = _mm512_sub_ps(t, t0);
    __m512i ti = _mm512_castps_si512(t);
    __m512 s =
        _mm512_castsi512_ps(_mm512_add_epi32(_mm512_slli_epi32(ti, 19), _mm512_permutexvar_epi32(ti, exp2_table)));
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f / 16), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f / 16), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0x1p-26f / 6), r, _mm512_set1_ps(0x1p-26f / 2));
    p = _mm512_fmadd_ps(p, r, u);
    p = _mm512_fmadd_ps(p, r, u);
    return _mm512_mul_ps(p, s);
}

static void init_table(void)
{
    unsigned tb[16];
    for (int j = 0; j < 16; j++) {
        float v = (float)exp2(j / 16.0);
        unsigned b;
        memcpy(&b, &v, 4);
        /* bits(t) = 0x4b400000 + 416 + k, and 416 + k = 16 q + j with q = floor(k / 16) + 26, so
         * bits(t) << 19 = (q << 23) + (j << 19): this entry turns it into bits(2^(j/16) 2^q) */
        tb[j] = b - ((unsigned)j << 19);
    }
    exp2_table = _mm512_loadu_si512(tb);
}

#define SWEEP(NAME, EXP)                                                                          \
    static double NAME(void)                                                                      \
    {                                                                                             \
        const __m512 xlo = _mm512_set1_ps(-105.0f), m = _mm512_set1_ps(0.0f);                     \
        double best = 1e9;                                                                        \
        for (int rep = 0; rep < 15; rep++) {                                                      \
            double t = now();                                                                     \
            for (int it = 0; it < REPS; it++) {                                                   \
                __m512 rest = _mm512_setzero_ps(), tot = _mm512_setzero_ps(),                     \
                       mn = _mm512_set1_ps(-INFINITY);                                            \
                for (int j = 0; j < C; j += 16) {                                                 \
                    __m512 xv = _mm512_load_ps(X + j), e = EXP(_mm512_max_ps(xlo, xv));           \
                    rest = _mm512_mask_add_ps(rest, _mm512_cmp_ps_mask(xv, m, _CMP_NEQ_UQ), rest, e); \
                    tot = _mm512_add_ps(tot, e);                                                  \
                    mn = _mm512_max_ps(_mm512_load_ps(NX + j), mn);                               \
                }                                                                                 \
                sink = _mm512_reduce_add_ps(rest) + _mm512_reduce_add_ps(tot) + _mm512_reduce_max_ps(mn); \
            }                                                                                     \
            t = now() - t;                                                                        \
            best = t < best ? t : best;                                                           \
        }                                                                                         \
        return best / ((double)REPS * C);                                                         \
    }
SWEEP(sweep_poly6, exp_poly6)
SWEEP(sweep_table16, exp_table16)

static double read_rows(void)
{
    double best = 1e9;
    for (int rep = 0; rep < 15; rep++) {
        double t = now();
        for (int it = 0; it < REPS; it++) {
            __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
            for (int j = 0; j < C; j += 32) {
                a = _mm512_add_ps(a, _mm512_load_ps(X + j));
                b = _mm512_add_ps(b, _mm512_load_ps(X + j + 16));
            }
            sink = _mm512_reduce_add_ps(_mm512_add_ps(a, b));
        }
        t = now() - t;
        best = t < best ? t : best;
    }
    return best / ((double)REPS * C);
}

/* The clock: a chain of dependent integer adds runs one per cycle */
static double ghz(void)
{
    const long n = 200000000;
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        long v = 0;
        double t = now();
        for (long i = 0; i < n; i++) __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(v));
        t = now() - t;
        best = t < best ? t : best;
    }
    return 4.0 * n / best * 1e-9;
}

/* 512-bit multiply-adds per ns: 12 independent chains (named, so they stay in registers), more than
 * latency x throughput */
static double fma_per_ns(void)
{
    const long n = 20000000;
    const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        __m512 a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = c, a7 = c, a8 = c, a9 = c, a10 = c, a11 = c;
        double t = now();
        for (long i = 0; i < n; i++) {
#define CE_FMA12(v) v = _mm512_fmadd_ps(v, b, c);
            CE_FMA12(a0) CE_FMA12(a1) CE_FMA12(a2) CE_FMA12(a3) CE_FMA12(a4) CE_FMA12(a5)
            CE_FMA12(a6) CE_FMA12(a7) CE_FMA12(a8) CE_FMA12(a9) CE_FMA12(a10) CE_FMA12(a11)
#undef CE_FMA12
            __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7),
                             "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
        }
        t = now() - t;
        best = t < best ? t : best;
    }
    return 12.0 * n / best * 1e-9;
}

static void accuracy(const char *name, __m512 (*f)(__m512))
{
    double worst = 0;
    float worst_x = 0;
    float xs[16], ys[16];
    int fill = 0;
    for (float x = -104.0f; x <= 0.0f; x = nextafterf(x, 1.0f)) {
        xs[fill++] = x;
        for (int skip = 0; skip < 6 && x < 0.0f; skip++) x = nextafterf(x, 1.0f);
        if (fill < 16 && x < 0.0f) continue;
        _mm512_storeu_ps(ys, f(_mm512_loadu_ps(xs)));
        for (int l = 0; l < fill; l++) {
            double ref = exp((double)xs[l]);
            double ulp = ref < 0x1p-126 ? 0x1p-149 : ldexp(1.0, ilogb((float)ref) - 23);
            double err = fabs(ys[l] - ref) / ulp;
            if (err > worst) { worst = err; worst_x = xs[l]; }
        }
        fill = 0;
    }
    printf("%-44s max error %.3f ulp (at x = %.9g)\n", name, worst, worst_x);
}

int main(int argc, char **argv)
{
    init_table();
    if (argc > 1 && !strcmp(argv[1], "--accuracy")) {
        accuracy("degree-6 polynomial (the package's exp)", exp_poly6);
        accuracy("2^(j/16) table, degree-3 polynomial", exp_table16);
        return 0;
    }
    for (int j = 0; j < C; j++) X[j] = NX[j] = (float)((j * 37 % 101) * 0.05 - 5.0);
    const double f = ghz(), rd = read_rows(), p6 = sweep_poly6(), t16 = sweep_table16();
    printf("clock %.2f GHz, %.2f 512-bit multiply-adds per cycle; one core, a row of %d floats in L1, "
           "best of 15 x %d sweeps\n",
           f, fma_per_ns() / f, C, REPS);
    const char *row = "%-37s %.3f ns/element  %5.2f cycles/16 floats\n";
    printf(row, "read of the rows (vector sum)", rd * 1e9, rd * 16 * f * 1e9);
    printf(row, "forward sweep, the package's exp", p6 * 1e9, p6 * 16 * f * 1e9);
    printf(row, "forward sweep, 2^(j/16) table exp", t16 * 1e9, t16 * 16 * f * 1e9);
    return 0;
}
