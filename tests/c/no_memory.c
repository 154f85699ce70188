/* The row kernels when scratch memory cannot be allocated: every malloc of the row math is refused, and each
 * kernel entry that allocates must either fall back to a path that needs no scratch (results as the normal
 * run's, within half-precision rounding) or, where none exists (half logits with float32 targets), leave its
 * rows NaN and return CE_ROW_NO_MEMORY.  Never a crash, never a silent wrong answer.
 * Built and run by tests/test_half.py::test_rows_without_scratch_memory; prints the failures, exits 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int refuse_allocs;    /* 1: every malloc of the row math returns NULL */
static long allocs_refused;  /* how many were refused: a case that refused none tested nothing */

static void *ce_test_malloc(size_t n)
{
    if (refuse_allocs) {
        allocs_refused++;
        return NULL;
    }
    return malloc(n);
}

#define malloc ce_test_malloc
#include "_rowmath.c"
#undef malloc

static int failures;

static void fail(const char *name, const char *what)
{
    printf("%s: %s\n", name, what);
    failures++;
}

static float half_value(uint16_t h)
{
    _Float16 v;
    memcpy(&v, &h, 2);
    return (float)v;
}

static uint16_t half_of(float f)
{
    _Float16 v = (_Float16)f;
    uint16_t h;
    memcpy(&h, &v, 2);
    return h;
}

/* the fallback's values against the normal run's: float32 rounding of a different summation order, or one
 * float16 ulp for half outputs */
static int close_to(float got, float want, int half)
{
    if (isnan(want)) return isnan(got);
    const double tol = half ? ldexp(fabs((double)want), -10) + 1e-7 : 1e-5 * fabs((double)want) + 1e-7;
    return fabs((double)got - (double)want) <= tol;
}

typedef struct {
    npy_intp rows, cols;
    uint16_t *x;       /* float16 logits */
    float *t32;        /* float32 targets (dense, or binary z) */
    uint16_t *t16;     /* float16 binary targets */
    int64_t *lab;
    float *loss;       /* per-row results, float32 for half logits */
    uint16_t *out;     /* N x C outputs, float16 */
} arrays;

static arrays make_arrays(npy_intp rows, npy_intp cols, unsigned seed)
{
    arrays a = {rows, cols, NULL, NULL, NULL, NULL, NULL, NULL};
    a.x = malloc((size_t)(rows * cols) * 2);
    a.t32 = malloc((size_t)(rows * cols) * 4);
    a.t16 = malloc((size_t)(rows * cols) * 2);
    a.lab = malloc((size_t)rows * 8);
    a.loss = malloc((size_t)rows * 4);
    a.out = malloc((size_t)(rows * cols) * 2);
    unsigned s = seed;
    for (npy_intp i = 0; i < rows * cols; i++) {
        s = s * 1103515245u + 12345u;
        a.x[i] = half_of(((int)(s >> 8) % 10000) / 1000.0f - 5.0f);
        a.t32[i] = (float)((s >> 4) % 1000) / (1000.0f * (float)cols);   /* rows summing to about 1/2 */
        a.t16[i] = half_of((float)((s >> 12) & 1));
    }
    for (npy_intp i = 0; i < rows; i++) {
        s = s * 1103515245u + 12345u;
        a.lab[i] = (int64_t)((s >> 8) % (unsigned)cols);
    }
    return a;
}

static void free_arrays(arrays *a)
{
    free(a->x); free(a->t32); free(a->t16); free(a->lab); free(a->loss); free(a->out);
}

/* One kernel entry over all its blocks, with allocations allowed or refused: the OR of its return codes. */
static int run_entry(ce_row_fn fn, const void *problem, npy_intp calls)
{
    int ret = 0;
    for (npy_intp b = 0; b < calls; b++) ret |= fn(problem, b);
    return ret;
}

/* Runs the entry normally, then with every allocation refused, and compares: either the same results (close)
 * or, when `nan_expected`, NaN everywhere and CE_ROW_NO_MEMORY. */
static void check(const char *name, ce_row_fn fn, const void *problem, npy_intp calls, arrays *a, int nan_expected)
{
    const npy_intp nc = a->rows * a->cols;
    float *loss0 = malloc((size_t)a->rows * 4);
    uint16_t *out0 = malloc((size_t)nc * 2);
    memset(a->loss, 0, (size_t)a->rows * 4);
    memset(a->out, 0, (size_t)nc * 2);
    int ret0 = run_entry(fn, problem, calls);
    memcpy(loss0, a->loss, (size_t)a->rows * 4);
    memcpy(out0, a->out, (size_t)nc * 2);
    for (npy_intp i = 0; i < a->rows; i++)
        if (!isfinite(loss0[i])) { fail(name, "the normal run gave a non-finite row result"); break; }
    if (ret0 & CE_ROW_NO_MEMORY) fail(name, "the normal run reported no memory");

    memset(a->loss, 0, (size_t)a->rows * 4);
    memset(a->out, 0, (size_t)nc * 2);
    allocs_refused = 0;
    refuse_allocs = 1;
    int ret1 = run_entry(fn, problem, calls);
    refuse_allocs = 0;
    if (allocs_refused == 0) fail(name, "no allocation was refused: the case does not reach the fallback");
    if (nan_expected) {
        if (!(ret1 & CE_ROW_NO_MEMORY)) fail(name, "rows without scratch did not report CE_ROW_NO_MEMORY");
        for (npy_intp i = 0; i < a->rows; i++)
            if (!isnan(a->loss[i])) { fail(name, "a row without scratch has a non-NaN result"); break; }
        for (npy_intp j = 0; j < nc; j++)
            if (!isnan(half_value(a->out[j]))) { fail(name, "a row without scratch has a non-NaN output"); break; }
    } else {
        if (ret1 & CE_ROW_NO_MEMORY) fail(name, "a fallback that needs no scratch reported no memory");
        for (npy_intp i = 0; i < a->rows; i++)
            if (!close_to(a->loss[i], loss0[i], 0)) {
                printf("%s: row %ld: %.9g without scratch, %.9g with it\n", name, (long)i, a->loss[i], loss0[i]);
                failures++;
                break;
            }
        for (npy_intp j = 0; j < nc; j++)
            if (!close_to(half_value(a->out[j]), half_value(out0[j]), 1)) {
                printf("%s: output %ld: %.9g without scratch, %.9g with it\n", name, (long)j,
                       half_value(a->out[j]), half_value(out0[j]));
                failures++;
                break;
            }
    }
    free(loss0);
    free(out0);
}

static void xent_case(const char *name, const ce_dtype_kernels *k, npy_intp rows, npy_intp cols, int dense_f32,
                      int tblock)
{
    arrays a = make_arrays(rows, cols, (unsigned)(rows * 31 + cols));
    ce_xent_problem p;
    ce_xent_problem_init(&p);
    p.rows = rows; p.cols = cols;
    p.x = (const char *)a.x; p.x_rs = cols * 2; p.x_cs = 2;
    if (dense_f32) {
        p.t = (const char *)a.t32; p.t_rs = cols * 4; p.t_cs = 4; p.t_f32 = 1;
    } else {
        p.lab = (const char *)a.lab; p.lab_rs = 8; p.lab_is64 = 1;
    }
    p.loss = (char *)a.loss; p.loss_rs = 4;
    p.grad = (char *)a.out; p.g_rs = cols * 2; p.g_cs = 2;
    const npy_intp per = tblock ? ce_tblock_rows(cols, p.x_rs, p.x_cs) : ce_pipe_rows(rows, cols);
    check(name, tblock ? k->xent_tblock : k->xent_rows, &p, (rows + per - 1) / per, &a, dense_f32);
    free_arrays(&a);
}

static void transform_case(const char *name, const ce_dtype_kernels *k, npy_intp rows, npy_intp cols, int tblock)
{
    arrays a = make_arrays(rows, cols, (unsigned)(rows * 17 + cols));
    ce_transform_problem p;
    ce_transform_problem_init(&p);
    p.rows = rows; p.cols = cols; p.what = CE_ROW_SOFTMAX;
    p.x = (const char *)a.x; p.x_rs = cols * 2; p.x_cs = 2;
    p.y = (char *)a.out; p.y_rs = cols * 2; p.y_cs = 2;
    const npy_intp per = tblock ? ce_tblock_rows(cols, p.x_rs, p.x_cs) : ce_pipe_rows(rows, cols);
    /* softmax has no per-row result: the loss array stays at its finite fill (0) in both runs */
    check(name, tblock ? k->transform_tblock : k->transform_rows, &p, (rows + per - 1) / per, &a, 0);
    free_arrays(&a);
}

static void binary_case(const char *name, const ce_dtype_kernels *k, npy_intp rows, npy_intp cols, int z_f32)
{
    arrays a = make_arrays(rows, cols, (unsigned)(rows * 7 + cols));
    ce_binary_problem p;
    ce_binary_problem_init(&p);
    p.rows = rows; p.cols = cols;
    p.x = (const char *)a.x; p.x_rs = cols * 2; p.x_cs = 2;
    if (z_f32) {
        p.z = (const char *)a.t32; p.z_rs = cols * 4; p.z_cs = 4; p.z_f32 = 1;
    } else {
        p.z = (const char *)a.t16; p.z_rs = cols * 2; p.z_cs = 2;
    }
    p.loss = (char *)a.loss; p.loss_rs = 4;
    p.grad = (char *)a.out; p.g_rs = cols * 2; p.g_cs = 2;
    check(name, k->binary_row, &p, rows, &a, z_f32);
    free_arrays(&a);
}

int main(void)
{
    const ce_dtype_kernels *k = ce_kernels_for(NPY_HALF);
    if (!k) {
        printf("no float16 kernels\n");
        return 1;
    }
    /* contiguous rows, staged: the fallback runs the direct half sweeps (5000 classes: their exps kept in an
     * allocated row, refused too, so they are recomputed) */
    xent_case("sparse rows of 1000 classes", k, 6, 1000, 0, 0);
    xent_case("sparse rows of 5000 classes", k, 6, 5000, 0, 0);
    xent_case("float32 targets, rows of 1000 classes", k, 6, 1000, 1, 0);
    /* few classes, block-wise: the fallback runs the row kernel on each row */
    xent_case("sparse rows of 10 classes", k, 100, 10, 0, 1);
    xent_case("float32 targets, rows of 10 classes", k, 100, 10, 1, 1);
    transform_case("softmax, rows of 10 classes", k, 100, 10, 1);
    transform_case("softmax, rows of 5000 classes", k, 4, 5000, 0);
    binary_case("binary, float16 targets, rows of 5000", k, 4, 5000, 0);
    binary_case("binary, float32 targets, rows of 5000", k, 4, 5000, 1);
    if (failures) return 1;
    printf("all cases passed\n");
    return 0;
}
