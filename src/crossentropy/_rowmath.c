/* The row math, compiled once (a static library linked into _kernels and _gufuncs).
 *
 * Each element type is one block below: its storage type CE_S, the type it computes in CE_T, how one
 * element is loaded (CE_LD: storage -> compute) and stored (CE_ST), its names' suffix and its NumPy type.
 * The templates then instantiate, for that type:
 *   _ce_sweeps_t.h  max, split exp sums, target dot products, the gradient sweep   (row statistics)
 *   _ce_losses_t.h  the losses: softmax epilogues, probability terms, binary element losses
 *   _ce_rows_t.h    the row kernels and the type's ce_dtype_kernels entry
 * Math (_ce_math_t.h: exp, log, log1p) is instantiated once per COMPUTE type.
 * Adding an element type = one block here + one line in ce_kernels_for (+ its gufunc type column). */
#include "_rowmath.h"
#include <numpy/ndarraytypes.h>
#include "_ce_base.h"
#include "_ce_transpose.h"

const int CE_HAVE_CLONES = CE_CLONES_ON;

/* The SIMD path the row functions run: 4 (x86-64-v4, AVX-512), 3 (x86-64-v3, AVX2+FMA) or 0 (baseline) */
static int ce_simd_level_query(void)
{
#if CE_CLONES_ON
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return 4;
    if (__builtin_cpu_supports("x86-64-v3")) return 3;
#elif defined(__AVX512F__) && defined(__AVX512BW__)   /* a forced build: -DCE_NO_CLONES -march=x86-64-v4 */
    return 4;
#elif defined(__AVX2__) && defined(__FMA__)
    return 3;
#endif
    return 0;
}

static int ce_simd_level(void)
{
    static int level = -1;
    return ce_ask_once(&level, ce_simd_level_query);
}

/* Exps summed in the compute type before the block's sums are added into doubles: few enough that a vector
 * lane adds at most 64 float32 ones, as a confident row's thousands of equal tiny terms drift by about
 * (adds / 4) ulp in float32.  Float32 blocks of 1024 on the AVX-512 path (16 lanes), 512 on the AVX2 path (8
 * lanes), 128 on the baseline path (SSE2 or NEON: 4 lanes; 512 put confident rows of 300 classes 15 ulp off,
 * and 256 has not been tried there).  Float64 sums, 2^29 times finer, keep 512 (128 on the baseline path).
 * Each block ends in a reduction across the lanes (about 50 cycles), so the longest block within the bound is
 * the fastest.  The table exps (_ce_exp_table.h) keep the same bound in chunks of their own and take a whole
 * row at a time. */
static npy_intp ce_sum_block(size_t elsize)
{
    const int level = ce_simd_level();
    if (level == 0) return 128;
    return level == 4 && elsize == 4 ? 1024 : 512;
}

static int ce_cpu_is_intel_query(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    return __builtin_cpu_is("intel") != 0;
#else
    return 0;
#endif
}

/* Whether this CPU is an Intel one, asked once: its hardware prefetchers left the row sweeps waiting on memory
 * where AMD Zen 4's did not (ce_pf_next_row, ce_pf_kept_row, ce_grad_rows_prefetched). */
static int ce_cpu_is_intel(void)
{
    static int intel = -1;
    return ce_ask_once(&intel, ce_cpu_is_intel_query);
}

/* Where a table-exp sweep of a row of row_bytes on SIMD path `level` starts prefetching, into L2, at the pace
 * it reads the next row nx: CE_PF_NEXT_AHEAD bytes past nx (0: none, also without a next row).  keeps: the
 * sweep keeps its exps (loss+grad, softmax).  On Intel CPUs every row: there the forward of 500 and 1000
 * float32 classes from memory took 1.6-2.5x its time with the prefetches.  Elsewhere (AMD Zen 4) the
 * forward's rows of CE_PF_NEXT_MIN bytes or more (CE_PF_NEXT_MIN_AVX2 on the AVX2 path) only: the hardware
 * prefetcher alone fell behind on such rows, shorter ones and the kept exps lost to the prefetches
 * (docs/performance.md, "Prefetching long rows", "AVX2: prefetching rows from 4000 bytes" and "Intel CPUs:
 * every row prefetched", measured in whole calls).  An address, not a pointer: it may lie past the array,
 * which a prefetch may touch but C pointer arithmetic may not. */
#define CE_PF_NEXT_MIN 8000
#define CE_PF_NEXT_MIN_AVX2 4000
#define CE_PF_NEXT_AHEAD 8192
#define CE_PF_TEXT(bytes) #bytes   /* the thresholds in ce_row_prefetch's words */
#define CE_PF_TEXT_OF(bytes) CE_PF_TEXT(bytes)
static uintptr_t ce_pf_next_row(const void *nx, npy_intp row_bytes, int level, int keeps)
{
    if (!nx) return 0;
    if (ce_cpu_is_intel()) return (uintptr_t)nx + CE_PF_NEXT_AHEAD;
    const npy_intp min = level == 3 ? CE_PF_NEXT_MIN_AVX2 : CE_PF_NEXT_MIN;
    return (!keeps && row_bytes >= min) ? (uintptr_t)nx + CE_PF_NEXT_AHEAD : 0;
}

/* Where a table-exp sweep that keeps its exps in the caller's row keep, of row_bytes, prefetches that row
 * into L2 at the pace it writes it: CE_PF_NEXT_AHEAD bytes ahead (0: none).  On Intel CPUs, for rows too long
 * to be prefetched rows ahead (ce_rows_ahead): there the stores waited on the row's lines (one thread, from
 * memory, AVX-512, 2048x50257 loss+grad into out= 0.82-0.84 -> 0.75-0.82 ns per element, softmax 0.81 ->
 * 0.65-0.69; this prefetch instead of the next row's gained nothing).  Elsewhere none, as the loss+grad lost
 * to prefetches on AMD Zen 4. */
static uintptr_t ce_pf_kept_row(const void *keep, npy_intp row_bytes)
{
    return keep && !ce_rows_ahead(row_bytes) && ce_cpu_is_intel() ? (uintptr_t)keep + CE_PF_NEXT_AHEAD : 0;
}

/* Whether a loss+grad of contiguous rows prefetches its gradient rows ahead, as the staged half rows do
 * (ce_out_rows_ahead).  On Intel CPUs (AVX-512 and AVX2 paths): there the exps' stores into the gradient row
 * waited on its lines (rows of 500 classes from memory 20-30% faster with the prefetches; long rows, fetched as
 * a burst, lost).  Elsewhere not: on AMD Zen 4 prefetching rows ahead made loss+grad slower
 * (docs/performance.md, "No software prefetch of the rows"). */
static int ce_grad_rows_prefetched(void)
{
    return ce_simd_level() >= 3 && ce_cpu_is_intel();
}

/* What the row sweeps prefetch on this CPU, in words (show_config) */
const char *ce_row_prefetch(void)
{
    if (ce_simd_level() < 3) return "none in the row sweeps";
    if (ce_cpu_is_intel()) return "the next rows of every length, logits and gradients (Intel CPU)";
    return ce_simd_level() == 3 ? "the forward's next rows from " CE_PF_TEXT_OF(CE_PF_NEXT_MIN_AVX2) " bytes"
                                 : "the forward's next rows from " CE_PF_TEXT_OF(CE_PF_NEXT_MIN) " bytes";
}

const char *ce_simd_path(void)
{
    const int level = ce_simd_level();
    if (CE_CLONES_ON && level == 4) return "x86-64-v4 (AVX-512)";
    if (CE_CLONES_ON && level == 3) return "x86-64-v3 (AVX2+FMA)";
    if (level == 4) return "x86-64-v4 (AVX-512, fixed at build time)";
    if (level == 3) return "x86-64-v3 (AVX2+FMA, fixed at build time)";
    return "baseline";
}

/* Whether the few-class block kernel takes rows of `cols` classes of a compute type of `size` bytes: where it
 * beats the row sweeps (docs/performance.md).  Float rows of sparse labels up to 96 classes on the AVX-512
 * and AVX2 paths; of dense targets (a second stream to read) up to 64 on AVX-512 and 48 on AVX2; 32 on the
 * baseline (SSE2) path.  Double rows of sparse labels up to 39 classes, and up to 63 (AVX-512) or 59 (AVX2)
 * where the row sweeps' vector loop would end in scalar exps (cols not a multiple of its 8 or 4 lanes: they
 * made 65536x39 rows 1.65x as slow as 65536x40); of dense targets up to 32, and up to 39 where the row sweeps
 * would end in scalar exps (beyond, the block's loss+grad lost).  One rule for the loss with and
 * without its gradient, so that a loss does not depend on whether its gradient was asked for. */
static int ce_block_takes(size_t size, int dense, npy_intp cols)
{
    const int level = ce_simd_level();
    if (level == 0) return cols <= CE_SMALL_COLS;
    if (size == sizeof(double)) {
        const int tail = cols % (level == 4 ? 8 : 4) != 0;
        if (dense) return cols <= CE_SMALL_COLS || (tail && cols <= 39);
        return cols <= 39 || (tail && cols <= (level == 4 ? 63 : 59));
    }
    if (dense) return cols <= (level == 3 ? 48 : 64);
    return cols <= CE_BLOCK_COLS;
}
_Static_assert(CE_BLOCK_COLS_F64 >= 63, "the block's double buffers hold the longest rows ce_block_takes gives it");

/* Whether the block kernel of logsumexp / softmax / log_softmax takes rows of `cols` classes
 * (docs/performance.md): as the sparse labels', and up to 8 classes on the baseline path (its block costs
 * about 7 ns per element). */
static int ce_transform_block_takes(size_t size, npy_intp cols)
{
    if (ce_simd_level() == 0) return cols <= 8;
    return ce_block_takes(size, 0, cols);
}

static inline int64_t ce_label_at(const char *lab, npy_intp rs, npy_intp i, int is64)
{
    return is64 ? *(const int64_t *)(lab + i * rs) : (int64_t)*(const int32_t *)(lab + i * rs);
}

/* Labels r0 .. r0 + nb - 1 into yl; 1 when every one is in [0, n) and none is the ignored label */
static inline int ce_block_labels(const char *lab, npy_intp rs, int is64, int64_t ignore, npy_intp r0, npy_intp nb,
                                  npy_intp n, npy_intp *yl)
{
    int plain = 1;
    for (npy_intp i = 0; i < nb; i++) {
        const int64_t y = ce_label_at(lab, rs, r0 + i, is64);
        yl[i] = (npy_intp)y;
        plain &= (y >= 0) & (y < n) & (y != ignore);
    }
    return plain;
}

/* ---- math, once per compute type ---- */
#define CE_T float
#define CE_UINT uint32_t
#define CE_SINT int32_t
#define CE_IS_DOUBLE 0
#define CE_MSUF f32
#define CE_K(v) v##f
#include "_ce_math_t.h"
#undef CE_T
#undef CE_UINT
#undef CE_SINT
#undef CE_IS_DOUBLE
#undef CE_MSUF
#undef CE_K

#define CE_T double
#define CE_UINT uint64_t
#define CE_SINT int64_t
#define CE_IS_DOUBLE 1
#define CE_MSUF f64
#define CE_K(v) v
#include "_ce_math_t.h"
#undef CE_T
#undef CE_UINT
#undef CE_SINT
#undef CE_IS_DOUBLE
#undef CE_MSUF
#undef CE_K

#include "_ce_exp_table.h"

/* ---- element types ---- */
#define CE_INSTANTIATE "_ce_instantiate.h"

/* the half conversions, and the row narrowing and streaming stores of N x C outputs */
#include "_ce_half.h"
#include "_ce_widen.h"

/* float32: stored and computed in float */
#define CE_S float
#define CE_T float
#define CE_K(v) v##f
#define CE_SUF f32
#define CE_MSUF f32
#define CE_LD(v) (v)
#define CE_ST(v) (v)
#define CE_KEEP_EXPS 1   /* the gradient row can hold the exps between sweeps (storage as wide as compute) */
#define CE_NARROW_ROW ce_store_row_f32   /* long gradient rows streamed out (ce_xent_grad_rows_kept) */
#define CE_NAME "float32"
#define CE_NPY NPY_FLOAT32
#define CE_TABLE_KIND CE_TABLE_F32   /* the table exps read the rows (_ce_exp_table.h), -1 for none */
#include CE_INSTANTIATE

/* float64: stored and computed in double */
#define CE_S double
#define CE_T double
#define CE_K(v) v
#define CE_SUF f64
#define CE_MSUF f64
#define CE_LD(v) (v)
#define CE_ST(v) (v)
#define CE_KEEP_EXPS 1
#define CE_NAME "float64"
#define CE_NPY NPY_FLOAT64
#define CE_TABLE_KIND (-1)
#include CE_INSTANTIATE

/* ---- half precision (docs/half_precision.md): stored as 16 bits, computed in float32; per-row results
 * float32; N x C outputs in the half type ("...") or float32 ("...f", the dtype=float32 loops) ---- */
/* The half columns stage contiguous softmax cross-entropy rows: CE_WIDEN_ROW widens a row into a float32
 * scratch row, which then runs through the float32 column's row kernel (CE_WIDE names it). */
#define CE_WIDE(name) CE_CAT(name, f32)
/* bfloat16: the conversions are shifts and integer rounding, fast in every clone */
#define CE_WIDEN_ROW ce_widen_row_bf16
#define CE_S uint16_t
#define CE_T float
#define CE_K(v) v##f
#define CE_SUF bf16
#define CE_MSUF f32
#define CE_LD(v) ce_ld_bf16(v)
#define CE_ST(v) ce_st_bf16(v)
#define CE_SR float
#define CE_LDR(v) (v)
#define CE_STR(v) (v)
#define CE_KEEP_EXPS 0   /* bfloat16 gradient rows are too narrow to hold the exps */
#define CE_NARROW_ROW ce_narrow_row_bf16   /* staged rows' N x C outputs (_ce_widen.h) */
#define CE_NAME "bfloat16"
#define CE_NPY (-1)      /* ml_dtypes' type number is known only at run time */
#define CE_TABLE_KIND CE_TABLE_BF16
#include CE_INSTANTIATE

#define CE_S uint16_t
#define CE_T float
#define CE_K(v) v##f
#define CE_SUF bf16f
#define CE_MSUF f32
#define CE_LD(v) ce_ld_bf16(v)
#define CE_ST(v) ce_st_bf16(v)
#define CE_SR float
#define CE_LDR(v) (v)
#define CE_STR(v) (v)
#define CE_SG float
#define CE_LDG(v) (v)
#define CE_STG(v) (v)
#define CE_KEEP_EXPS 1
#define CE_NAME "bfloat16->float32"
#define CE_NPY (-1)
#define CE_TABLE_KIND CE_TABLE_BF16
#include CE_INSTANTIATE
#undef CE_WIDEN_ROW

/* float16: staged rows are widened by the hardware conversions where the CPU has them (_ce_widen.h); the
 * direct sweeps convert with exact integer bit operations (_ce_half.h), which vectorise in every SIMD clone.
 * (Compiling the columns under `#pragma GCC target` regions so that _Float16 conversions become F16C /
 * AVX-512 instructions was measured: the row sums then round differently from the float32 columns, up to
 * 20 float32 ulp on confident rows, and the build takes three times as long.) */
#define CE_WIDEN_ROW ce_widen_row_f16
#define CE_F16_SUF f16
#define CE_F16_SUFF f16f
#define CE_F16_LD(v) ce_ld_f16_bits(v)
#define CE_F16_ST(v) ce_st_f16_bits(v)
#include "_ce_half_columns.h"
#undef CE_WIDEN_ROW

static int ce_bf16_num = -1;
void ce_set_bfloat16_type_num(int type_num) { ce_bf16_num = type_num; }
int ce_bfloat16_type_num(void) { return ce_bf16_num; }

static const ce_dtype_kernels *ce_f16_pair(int out_f32)
{
    return out_f32 ? &ce_kernels_f16f : &ce_kernels_f16;
}

const char *ce_float16_path(void)
{
    return ce_widen_f16_name();
}

const char *ce_bfloat16_path(void)
{
    return ce_widen_bf16_name();
}

const ce_dtype_kernels *ce_kernels_for_out(int type_num, int out_type_num)
{
    switch (type_num) {
        case NPY_FLOAT32: return out_type_num == NPY_FLOAT32 ? &ce_kernels_f32 : NULL;
        case NPY_FLOAT64: return out_type_num == NPY_FLOAT64 ? &ce_kernels_f64 : NULL;
        case NPY_HALF:
            if (out_type_num == NPY_HALF) return ce_f16_pair(0);
            return out_type_num == NPY_FLOAT32 ? ce_f16_pair(1) : NULL;
        default:
            if (ce_bf16_num < 0 || type_num != ce_bf16_num) return NULL;
            if (out_type_num == ce_bf16_num) return &ce_kernels_bf16;
            return out_type_num == NPY_FLOAT32 ? &ce_kernels_bf16f : NULL;
    }
}

const ce_dtype_kernels *ce_kernels_for(int type_num)
{
    return ce_kernels_for_out(type_num, type_num);
}
