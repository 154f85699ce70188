/* Contiguous half rows widened into float32 scratch rows, returning the row's max, for the staged half
 * kernels (_ce_rows_t.h: a half row is widened once, then runs through the float32 row kernel).
 *
 * float16 uses the hardware conversion (AVX-512 vcvtph2ps, 16 per instruction, or F16C, 8) when the CPU has
 * it, chosen at run time; GCC 12 does not vectorise _Float16 conversions, hence the intrinsics.  Elsewhere,
 * and for the tails, the exact bit conversions of _ce_half.h.  Both convert every value exactly, so the
 * result does not depend on the path.  The max ignores NaN, as ce_max_impl does.  The other way, float32
 * scratch rows are scaled and narrowed into half N x C output rows, and (ce_store_row_f32) scaled into float32
 * ones, with non-temporal stores for long rows.  Included by _rowmath.c after _ce_base.h and _ce_half.h,
 * before the element types. */
#ifndef CROSSENTROPY_CE_WIDEN_H
#define CROSSENTROPY_CE_WIDEN_H

/* CE_NO_INTRINSICS: the portable code alone, as compiled off x86-64 (tests/test_half.py builds it) */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(CE_NO_INTRINSICS)
#include <immintrin.h>
#define CE_WIDEN_X86 1
#else
#define CE_WIDEN_X86 0
#endif
/* vcvtneps2bf16 (AVX512_BF16) and its __builtin_cpu_supports name are known to GCC 10 and clang 16 on */
#if CE_WIDEN_X86 && ((defined(__clang__) && __clang_major__ >= 16) || (!defined(__clang__) && __GNUC__ >= 10))
#define CE_WIDEN_BF16_INSN 1
#else
#define CE_WIDEN_BF16_INSN 0
#endif

/* The portable widening: exact bit conversions, vectorised in the SIMD clones */
#define CE_WIDEN_PORTABLE(NAME, LD)                                                 \
    CE_CLONES static float NAME(const uint16_t *h, float *f, npy_intp n)            \
    {                                                                               \
        float m = -INFINITY;                                                        \
        CE_SIMD_REDUCE(max : m)                                                     \
        for (npy_intp j = 0; j < n; j++) {                                          \
            float v = LD(h[j]);                                                     \
            f[j] = v;                                                               \
            m = v > m ? v : m;                                                      \
        }                                                                           \
        return m;                                                                   \
    }
CE_WIDEN_PORTABLE(ce_widen_row_bf16_bits, ce_ld_bf16)
CE_WIDEN_PORTABLE(ce_widen_row_f16_bits, ce_ld_f16_bits)
#undef CE_WIDEN_PORTABLE

/* float32 output rows (ce_store_row_f32) take the values as they are */
#define CE_ST_F32(v) (v)
#define CE_NARROW_PORTABLE(NAME, OUT, ST)                                                             \
    CE_CLONES static void NAME(const float *f, OUT *h, npy_intp n, float s, npy_intp keep)             \
    {                                                                                                 \
        CE_SIMD                                                                                       \
        for (npy_intp j = 0; j < n; j++) h[j] = ST(f[j] * (j == keep ? 1.0f : s));                    \
    }
CE_NARROW_PORTABLE(ce_narrow_row_f16_bits, uint16_t, ce_st_f16_bits)
CE_NARROW_PORTABLE(ce_narrow_row_bf16_bits, uint16_t, ce_st_bf16)
CE_NARROW_PORTABLE(ce_store_row_f32_portable, float, CE_ST_F32)
#undef CE_NARROW_PORTABLE

/* Output rows at least this long, in calls writing at least CE_STREAM_MIN_BYTES, are stored from a scratch row
 * with non-temporal stores (ce_stream_rows): without the read for ownership that costs half the memory traffic
 * (2048x50257 float16 loss+grad into out=, one thread: about 1.2x -> 1.05x float32's time).  The sparse
 * loss+grad stores each such row during the next row's exps (ce_store_behind): on the table-exp paths rows from
 * ce_behind_shared_min_bytes() of float32 whatever their length, from the row the sweep keeps its own exps in;
 * other rows from a second scratch row, up to ce_behind_max_bytes() (longer ones after their own sweep).
 * Shorter rows and smaller outputs stay in the cache (from 2000 bytes, float32 rows of 500 classes, streaming
 * measured even to 6% slower; from 2400, 1-21% faster than in the cache: docs/performance.md). */
#define CE_STREAM_ROW_BYTES 2400
/* How a row is narrowed (the last argument of CE_NARROW_ROW, bits): CE_NARROW_STREAM, non-temporal stores where
 * they pay (CE_STREAM_ROW_BYTES), followed by ce_stream_fence() before the results are read; CE_NARROW_FINITE,
 * the caller knows the row and its scale finite, so the bfloat16 roundings on the bits leave out their NaN test
 * (and the AVX2 one its row check) */
#define CE_NARROW_STREAM 1
#define CE_NARROW_FINITE 2
#define CE_STREAM_MIN_BYTES ((double)(8 << 20))
#define CE_BEHIND_DEFAULT_BYTES (256 << 10)

/* Whether the memory page holding `at` is known not to be in memory: an output NumPy has just allocated, whose
 * pages the operating system zeroes at their first write, leaving the zeroed lines in the cache.  Such rows
 * are stored through the cache: non-temporal stores would first write those lines back to memory (a fresh
 * float32 loss+grad through the cache, one thread: 0.88-0.97x its time streamed, docs/performance.md).  The
 * mincore system call reads the page table, never the memory; elsewhere than Linux, 0. */
#if defined(__linux__)
#include <unistd.h>
/* as <sys/mman.h> declares it outside strict ISO C (the tests' -std=c11 builds) */
int mincore(void *start, size_t length, unsigned char *vec);
#endif
static int ce_page_not_resident(const void *at)
{
#if defined(__linux__)
    const long page = sysconf(_SC_PAGESIZE);
    unsigned char in_memory = 1;
    if (page <= 0) return 0;
    void *start = (void *)((uintptr_t)at & ~(uintptr_t)(page - 1));
    return mincore(start, 1, &in_memory) == 0 && !(in_memory & 1);
#else
    (void)at;
    return 0;
#endif
}

/* The longest float32 row, in bytes, stored during the next row's exps from a second scratch row
 * (ce_store_behind without `shared`): a quarter of the L2 cache, so that the two scratch rows fill half of it
 * (AVX2, 2 MiB of L2: 512x128256 into out= 0.91-0.95x its time stored after its own row; with 1 MiB,
 * 512x128256 lost 5-10%: docs/performance.md); where the L2's size is not known, CE_BEHIND_DEFAULT_BYTES. */
static inline int ce_behind_query(void)
{
#if defined(__linux__) && defined(_SC_LEVEL2_CACHE_SIZE)
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l2 > 0 && l2 <= (1L << 30)) return (int)(l2 / 4);
#endif
    return CE_BEHIND_DEFAULT_BYTES;
}
static inline int ce_behind_max_bytes(void)
{
    static int answer = -1;
    return ce_ask_once(&answer, ce_behind_query);
}

/* The shortest float32 row, in bytes, whose output the next row's sweep stores from the very row it keeps its
 * own exps in (ce_store_behind's shared), however long: a quarter of ce_behind_max_bytes(), a sixteenth of the
 * L2 cache (32Ki classes with 2 MiB).  One scratch row instead of two leaves L2 to the rows read (AVX-512,
 * 512x128256 into out= 0.8x its time; rows longer than ce_behind_max_bytes(), stored after their own sweep
 * before, 0.77-0.89x); shorter rows keep two, which costs less per row (65536x1000 ran 5% slower shared):
 * docs/performance.md. */
static inline int ce_behind_shared_min_bytes(void)
{
    return ce_behind_max_bytes() / 4;
}

#if CE_WIDEN_X86
/* In the loops below, max(v, m) returns m when v is NaN (the second operand wins unordered compares), so
 * NaN never enters m; two accumulators, as one max's latency would bound the loop. */
/* The last n % VF values go through a VF-value buffer padded with -inf (NEG_INF, the half bits of -inf: no
 * effect on the max), a vector step instead of a scalar conversion per value. */
#define CE_WIDEN_VECTOR(NAME, TARGET, VF, VEC, LOAD, STORE, MAX, SET1, REDUCE, NEG_INF)                         \
    __attribute__((target(TARGET))) static float NAME(const uint16_t *h, float *f, npy_intp n)                   \
    {                                                                                                           \
        VEC m0 = SET1(-INFINITY), m1 = m0;                                                                      \
        npy_intp j = 0;                                                                                         \
        for (; j + 2 * VF <= n; j += 2 * VF) {                                                                  \
            VEC a = LOAD(h + j), b = LOAD(h + j + VF);                                                          \
            STORE(f + j, a);                                                                                    \
            STORE(f + j + VF, b);                                                                               \
            m0 = MAX(a, m0);                                                                                    \
            m1 = MAX(b, m1);                                                                                    \
        }                                                                                                       \
        if (j + VF <= n) {                                                                                      \
            VEC a = LOAD(h + j);                                                                                \
            STORE(f + j, a);                                                                                    \
            m0 = MAX(a, m0);                                                                                    \
            j += VF;                                                                                            \
        }                                                                                                       \
        if (j < n) {                                                                                            \
            const npy_intp k = n - j;                                                                           \
            uint16_t hb[VF];                                                                                    \
            float fb[VF];                                                                                       \
            for (npy_intp i = 0; i < VF; i++) hb[i] = i < k ? h[j + i] : (NEG_INF);                             \
            VEC a = LOAD(hb);                                                                                   \
            STORE(fb, a);                                                                                       \
            memcpy(f + j, fb, (size_t)k * sizeof(float));                                                       \
            m1 = MAX(a, m1);                                                                                    \
        }                                                                                                       \
        return REDUCE(MAX(m0, m1));                                                                             \
    }
#define CE_LOAD_F16_512(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define CE_LOAD_BF16_512(p) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
#define CE_LOAD_F16_256(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define CE_LOAD_BF16_256(p) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))

__attribute__((target("avx2"))) static inline float ce_reduce_max_256(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

CE_WIDEN_VECTOR(ce_widen_row_f16_avx512, "avx512f", 16, __m512, CE_LOAD_F16_512, _mm512_storeu_ps, _mm512_max_ps,
                _mm512_set1_ps, _mm512_reduce_max_ps, 0xfc00)
CE_WIDEN_VECTOR(ce_widen_row_bf16_avx512, "avx512f", 16, __m512, CE_LOAD_BF16_512, _mm512_storeu_ps,
                _mm512_max_ps, _mm512_set1_ps, _mm512_reduce_max_ps, 0xff80)
CE_WIDEN_VECTOR(ce_widen_row_f16_avx2, "avx2,f16c", 8, __m256, CE_LOAD_F16_256, _mm256_storeu_ps, _mm256_max_ps,
                _mm256_set1_ps, ce_reduce_max_256, 0xfc00)
CE_WIDEN_VECTOR(ce_widen_row_bf16_avx2, "avx2", 8, __m256, CE_LOAD_BF16_256, _mm256_storeu_ps, _mm256_max_ps,
                _mm256_set1_ps, ce_reduce_max_256, 0xff80)
#undef CE_WIDEN_VECTOR

/* float32 times a vector of scales -> 16 or 8 halves (the product rounded to float32 first, as a float32 row
 * would be).  float16 rounds to nearest even as ce_st_f16_bits does (by the immediate, not by MXCSR);
 * bfloat16 as ce_st_bf16, on the bits (NaN kept quiet). */
#define CE_ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
__attribute__((target("avx512f"))) static inline __m256i ce_f16x16_avx512(const float *f, __m512 s)
{
    return _mm512_cvtps_ph(_mm512_mul_ps(_mm512_loadu_ps(f), s), CE_ROUND_NEAREST);
}

/* float32 bits rounded to nearest even at bit 16, the bfloat16 in the high half (a NaN may come out an
 * infinity: the callers below keep NaN quiet, or know there is none) */
__attribute__((target("avx512f"))) static inline __m512i ce_bf16_round_bits_512(__m512i u)
{
    return _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)),
                            _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1)));
}

__attribute__((target("avx2"))) static inline __m256i ce_bf16_round_bits_256(__m256i u)
{
    return _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)),
                            _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1)));
}

__attribute__((target("avx512f"))) static inline __m256i ce_bf16x16_round_avx512(__m512 v)
{
    __m512i u = _mm512_castps_si512(v);
    __m512i hi = _mm512_srli_epi32(u, 16);
    __m512i r = ce_bf16_round_bits_512(u);
    __mmask16 nan =
        _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_mov_epi32(_mm512_srli_epi32(r, 16), nan, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
    return _mm512_cvtepi32_epi16(r);
}

__attribute__((target("avx512f"))) static inline __m256i ce_bf16x16_avx512(const float *f, __m512 s)
{
    return ce_bf16x16_round_avx512(_mm512_mul_ps(_mm512_loadu_ps(f), s));
}

/* The same for products that cannot be NaN (CE_NARROW_FINITE): without the NaN test and masked move.
 * Infinities and overflows round as above. */
__attribute__((target("avx512f"))) static inline __m256i ce_bf16x16_no_nan_avx512(const float *f, __m512 s)
{
    __m512i r = ce_bf16_round_bits_512(_mm512_castps_si512(_mm512_mul_ps(_mm512_loadu_ps(f), s)));
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

#if CE_WIDEN_BF16_INSN
/* With AVX512_BF16: vcvtneps2bf16 rounds the same way (nearest even, NaN kept quiet, as src >> 16 | 0x40) in
 * one instruction, but flushes subnormal inputs to zero; a vector holding one (vfpclassps) goes the bit way,
 * so the result does not depend on the CPU.  (A normal float32 never rounds to a subnormal bfloat16.) */
__attribute__((target("avx512f,avx512dq,avx512bf16"))) static inline __m256i ce_bf16x16_avx512bf16(const float *f,
                                                                                                 __m512 s)
{
    __m512 v = _mm512_mul_ps(_mm512_loadu_ps(f), s);
    if (__builtin_expect(_mm512_fpclass_ps_mask(v, 0x20) != 0, 0)) return ce_bf16x16_round_avx512(v);
    return (__m256i)_mm512_cvtneps_pbh(v);
}
#endif

__attribute__((target("avx2,f16c"))) static inline __m128i ce_f16x8_avx2(const float *f, __m256 s)
{
    return _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(f), s), CE_ROUND_NEAREST);
}

__attribute__((target("avx2"))) static inline __m128i ce_bf16x8_avx2(const float *f, __m256 s)
{
    __m256i u = _mm256_castps_si256(_mm256_mul_ps(_mm256_loadu_ps(f), s));
    __m256i hi = _mm256_srli_epi32(u, 16);
    __m256i r = ce_bf16_round_bits_256(u);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(_mm256_srli_epi32(r, 16), _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
    return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));   /* values < 2^16: exact */
}
/* The same for products that cannot be NaN (ce_narrow_row_bf16_avx2 checks the row first): without the NaN
 * test and blend, and the high halves picked by one byte shuffle instead of shifted and packed, it takes about
 * half the instructions.  Infinities and overflows round as above. */
__attribute__((target("avx2"))) static inline __m128i ce_bf16x8_no_nan_avx2(const float *f, __m256 s)
{
    const __m256i high_halves = _mm256_setr_epi8(2, 3, 6, 7, 10, 11, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1,
                                                 2, 3, 6, 7, 10, 11, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1);
    __m256i r = ce_bf16_round_bits_256(_mm256_castps_si256(_mm256_mul_ps(_mm256_loadu_ps(f), s)));
    r = _mm256_shuffle_epi8(r, high_halves);
    return _mm256_castsi256_si128(_mm256_permute4x64_epi64(r, 0x08));   /* 64-bit lanes 0 and 2 */
}

/* Whether every value of f[0, n) is finite, from sums (one that overflows says no too: the slower path, not a
 * wrong one) */
__attribute__((target("avx2"))) static int ce_row_is_finite_avx2(const float *f, npy_intp n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;   /* four, as one add's latency would bound it */
    npy_intp j = 0;
    for (; j + 32 <= n; j += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(f + j));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(f + j + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(f + j + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(f + j + 24));
    }
    for (; j + 8 <= n; j += 8) a0 = _mm256_add_ps(a0, _mm256_loadu_ps(f + j));
    float rest = 0.0f;
    for (; j < n; j++) rest += f[j];
    const __m256 zero = _mm256_setzero_ps();   /* x * 0 is 0 for finite x alone */
    __m256 z = _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                           _mm256_set1_ps(rest)),
                             zero);
    return _mm256_movemask_ps(_mm256_cmp_ps(z, zero, _CMP_EQ_OQ)) == 0xff;
}
#undef CE_ROUND_NEAREST

/* float32 values times s, as they are (the float32 output rows) */
__attribute__((target("avx512f"))) static inline __m512 ce_f32x16_avx512(const float *f, __m512 s)
{
    return _mm512_mul_ps(_mm512_loadu_ps(f), s);
}

__attribute__((target("avx2"))) static inline __m256 ce_f32x8_avx2(const float *f, __m256 s)
{
    return _mm256_mul_ps(_mm256_loadu_ps(f), s);
}

/* The scale vector s with 1 in lane `at` (the entry stored as it is) */
__attribute__((target("avx512f"))) static inline __m512 ce_scale_at_512(__m512 s, npy_intp at)
{
    return _mm512_mask_mov_ps(s, (__mmask16)(1u << at), _mm512_set1_ps(1.0f));
}

__attribute__((target("avx2"))) static inline __m256 ce_scale_at_256(__m256 s, npy_intp at)
{
    __m256i lane = _mm256_cmpeq_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)at));
    return _mm256_blendv_ps(s, _mm256_set1_ps(1.0f), _mm256_castsi256_ps(lane));
}

/* fb[0, VF) = f[0, k) and zeros, k < VF, in one vector store: a copy by narrower stores would stall the vector
 * load that reads fb back (no store forwarding) until the store buffer drains, non-temporal stores and all */
__attribute__((target("avx512f"))) static inline void ce_tail_copy_512(float *fb, const float *f, npy_intp k)
{
    _mm512_storeu_ps(fb, _mm512_maskz_loadu_ps((__mmask16)((1u << k) - 1), f));
}

__attribute__((target("avx2"))) static inline void ce_tail_copy_256(float *fb, const float *f, npy_intp k)
{
    const __m256i in = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_storeu_ps(fb, _mm256_maskload_ps(f, in));
}

/* A row times s, except entry `keep` (< 0: none), stored into h of type OUT VF at a time (ONE), converted by
 * CVT (rounded to a half type, or float32 as it is); with CE_NARROW_STREAM in `how`, whole 64-byte lines of h
 * (PER_LINE values, LINE) go out as non-temporal stores once h is aligned (the caller fences).  The last n % VF
 * values go through a VF-value buffer (a vector step instead of a scalar conversion per value). */
#define CE_NARROW_VECTOR(NAME, TARGET, OUT, VF, PER_LINE, VEC, SET1, SCALE_AT, HSTORE, ONE, LINE, CVT, ST, TAIL) \
    __attribute__((target(TARGET))) static void NAME(const float *f, OUT *h, npy_intp n, float s, npy_intp keep, \
                                                     int how)                                                  \
    {                                                                                                          \
        const VEC sv = SET1(s);                                                                                \
        npy_intp j = 0;                                                                                        \
        if (how & CE_NARROW_STREAM) {                                                                          \
            for (; j < n && ((uintptr_t)(h + j) & 63); j++) h[j] = ST(f[j] * (j == keep ? 1.0f : s));          \
            for (; j + PER_LINE <= n; j += PER_LINE) {                                                         \
                if ((uint64_t)(keep - j) < (uint64_t)PER_LINE) LINE(h + j, f + j, SCALE_AT, CVT, CE_SCALES_AT);\
                else LINE(h + j, f + j, SCALE_AT, CVT, CE_SCALES_NONE);                                        \
            }                                                                                                  \
        }                                                                                                      \
        const npy_intp j0 = j;                                                                                 \
        for (; j + VF <= n; j += VF) ONE(h + j, f + j, sv, CVT);                                               \
        if (keep >= j0 && keep < j) h[keep] = ST(f[keep]);   /* after its vector, as it is */                  \
        if (j < n) {                                                                                           \
            const npy_intp k = n - j;                                                                          \
            float fb[VF];                                                                                      \
            OUT hb[VF];                                                                                        \
            TAIL(fb, f + j, k);                                                                                \
            HSTORE((void *)hb, CVT(fb, CE_SCALES_AT(j, SCALE_AT, VF)));                                        \
            memcpy(h + j, hb, (size_t)k * sizeof(OUT));                                                        \
        }                                                                                                      \
    }
/* the scales of the W entries from j0: sv, or with a 1 at keep (AT: ce_scale_at_512 or _256) */
#define CE_SCALES_AT(j0, AT, W) ((uint64_t)(keep - (j0)) < (uint64_t)(W) ? AT(sv, keep - (j0)) : sv)
#define CE_SCALES_NONE(j0, AT, W) sv   /* the lines without keep */
#define CE_ONE_512(p, q, sc, CVT) _mm256_storeu_si256((__m256i *)(p), CVT(q, sc))
#define CE_LINE_512(p, q, AT, CVT, SC)                                                                         \
    _mm512_stream_si512((__m512i *)(p),                                                                      \
                        _mm512_inserti64x4(_mm512_castsi256_si512(CVT(q, SC(j, AT, 16))),                    \
                                           CVT((q) + 16, SC(j + 16, AT, 16)), 1))
#define CE_ONE_256(p, q, sc, CVT) _mm_storeu_si128((__m128i *)(p), CVT(q, sc))
#define CE_LINE_256(p, q, AT, CVT, SC)                                                                         \
    (_mm256_stream_si256((__m256i *)(p), _mm256_set_m128i(CVT((q) + 8, SC(j + 8, AT, 8)), CVT(q, SC(j, AT, 8)))), \
     _mm256_stream_si256((__m256i *)(p) + 1,                                                                     \
                         _mm256_set_m128i(CVT((q) + 24, SC(j + 24, AT, 8)), CVT((q) + 16, SC(j + 16, AT, 8)))))
CE_NARROW_VECTOR(ce_narrow_row_f16_avx512, "avx512f", uint16_t, 16, 32, __m512, _mm512_set1_ps, ce_scale_at_512,
                 _mm256_storeu_si256, CE_ONE_512, CE_LINE_512, ce_f16x16_avx512, ce_st_f16_bits, ce_tail_copy_512)
CE_NARROW_VECTOR(ce_narrow_row_bf16_nan_avx512, "avx512f", uint16_t, 16, 32, __m512, _mm512_set1_ps,
                 ce_scale_at_512, _mm256_storeu_si256, CE_ONE_512, CE_LINE_512, ce_bf16x16_avx512, ce_st_bf16,
                 ce_tail_copy_512)
CE_NARROW_VECTOR(ce_narrow_row_bf16_no_nan_avx512, "avx512f", uint16_t, 16, 32, __m512, _mm512_set1_ps,
                 ce_scale_at_512, _mm256_storeu_si256, CE_ONE_512, CE_LINE_512, ce_bf16x16_no_nan_avx512, ce_st_bf16,
                 ce_tail_copy_512)
/* Only rows the caller knows finite take the rounding without the NaN test: on this path checking the row
 * first would cost about what the test does */
__attribute__((target("avx512f"))) static void ce_narrow_row_bf16_avx512(const float *f, uint16_t *h, npy_intp n,
                                                                         float s, npy_intp keep, int how)
{
    if (how & CE_NARROW_FINITE) ce_narrow_row_bf16_no_nan_avx512(f, h, n, s, keep, how);
    else ce_narrow_row_bf16_nan_avx512(f, h, n, s, keep, how);
}
#if CE_WIDEN_BF16_INSN
CE_NARROW_VECTOR(ce_narrow_row_bf16_avx512bf16, "avx512f,avx512dq,avx512bf16", uint16_t, 16, 32, __m512,
                 _mm512_set1_ps, ce_scale_at_512, _mm256_storeu_si256, CE_ONE_512, CE_LINE_512,
                 ce_bf16x16_avx512bf16, ce_st_bf16, ce_tail_copy_512)
#endif
CE_NARROW_VECTOR(ce_narrow_row_f16_avx2, "avx2,f16c", uint16_t, 8, 32, __m256, _mm256_set1_ps, ce_scale_at_256,
                 _mm_storeu_si128, CE_ONE_256, CE_LINE_256, ce_f16x8_avx2, ce_st_f16_bits, ce_tail_copy_256)
CE_NARROW_VECTOR(ce_narrow_row_bf16_nan_avx2, "avx2", uint16_t, 8, 32, __m256, _mm256_set1_ps, ce_scale_at_256,
                 _mm_storeu_si128, CE_ONE_256, CE_LINE_256, ce_bf16x8_avx2, ce_st_bf16, ce_tail_copy_256)
CE_NARROW_VECTOR(ce_narrow_row_bf16_no_nan_avx2, "avx2", uint16_t, 8, 32, __m256, _mm256_set1_ps,
                 ce_scale_at_256, _mm_storeu_si128, CE_ONE_256, CE_LINE_256, ce_bf16x8_no_nan_avx2, ce_st_bf16,
                 ce_tail_copy_256)
/* A finite row times a finite s has no NaN product (at most an overflow to infinity, which rounds right) */
__attribute__((target("avx2"))) static void ce_narrow_row_bf16_avx2(const float *f, uint16_t *h, npy_intp n,
                                                                    float s, npy_intp keep, int how)
{
    if ((how & CE_NARROW_FINITE) || (isfinite(s) && ce_row_is_finite_avx2(f, n)))
        ce_narrow_row_bf16_no_nan_avx2(f, h, n, s, keep, how);
    else
        ce_narrow_row_bf16_nan_avx2(f, h, n, s, keep, how);
}

/* The same into float32 output rows (the float32 loss+grad's streamed gradient rows): scaled as they are */
#define CE_ONE_F32_512(p, q, sc, CVT) _mm512_storeu_ps(p, CVT(q, sc))
#define CE_LINE_F32_512(p, q, AT, CVT, SC) _mm512_stream_ps(p, CVT(q, SC(j, AT, 16)))
#define CE_ONE_F32_256(p, q, sc, CVT) _mm256_storeu_ps(p, CVT(q, sc))
#define CE_LINE_F32_256(p, q, AT, CVT, SC) \
    (_mm256_stream_ps(p, CVT(q, SC(j, AT, 8))), _mm256_stream_ps((p) + 8, CVT((q) + 8, SC(j + 8, AT, 8))))
CE_NARROW_VECTOR(ce_store_row_f32_avx512, "avx512f", float, 16, 16, __m512, _mm512_set1_ps, ce_scale_at_512,
                 _mm512_storeu_ps, CE_ONE_F32_512, CE_LINE_F32_512, ce_f32x16_avx512, CE_ST_F32, ce_tail_copy_512)
CE_NARROW_VECTOR(ce_store_row_f32_avx2, "avx2", float, 8, 16, __m256, _mm256_set1_ps, ce_scale_at_256,
                 _mm256_storeu_ps, CE_ONE_F32_256, CE_LINE_F32_256, ce_f32x8_avx2, CE_ST_F32, ce_tail_copy_256)
#undef CE_NARROW_VECTOR
#undef CE_ONE_F32_512
#undef CE_LINE_F32_512
#undef CE_ONE_F32_256
#undef CE_LINE_F32_256
#undef CE_SCALES_AT
#undef CE_SCALES_NONE
#undef CE_ONE_512
#undef CE_LINE_512
#undef CE_ONE_256
#undef CE_LINE_256

/* 2: AVX-512, 1: AVX2 and F16C, 0: neither.  The CPU's (libgcc's CPU model, read once) when the SIMD clones
 * are on; a build fixed to one path (meson option simd) keeps to that path's instructions. */
static int ce_widen_level_query(void)
{
#if CE_CLONES_ON
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 2
         : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c") ? 1 : 0);
#elif defined(__AVX512F__)
    return 2;
#elif defined(__AVX2__) && defined(__F16C__)
    return 1;
#else
    return 0;
#endif
}
/* Asked for every narrowed or streamed row (and the end of each row stored behind the next row's sweep) */
static int ce_widen_level(void)
{
    static int level = -1;
    return ce_ask_once(&level, ce_widen_level_query);
}
/* Whether the CPU (or the fixed build path) has AVX512_BF16 (and DQ) next to AVX-512, for bfloat16 narrowing */
static int ce_has_avx512bf16_query(void)
{
#if !CE_WIDEN_BF16_INSN
    return 0;
#elif CE_CLONES_ON
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bf16");
#elif defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BF16__)
    return 1;
#else
    return 0;
#endif
}
static int ce_has_avx512bf16(void)
{
    static int has = -1;
    return ce_ask_once(&has, ce_has_avx512bf16_query);
}
#define CE_WIDEN_DISPATCH(AVX512, AVX2, ...)      \
    switch (ce_widen_level()) {                  \
        case 2: return AVX512(__VA_ARGS__);      \
        case 1: return AVX2(__VA_ARGS__);        \
        default: break;                          \
    }
#else
#define CE_WIDEN_DISPATCH(AVX512, AVX2, ...)
#endif

/* A contiguous row of n half values widened into f; returns the row's max (NaN ignored, as ce_max_impl). */
static float ce_widen_row_f16(const uint16_t *h, float *f, npy_intp n)
{
    CE_WIDEN_DISPATCH(ce_widen_row_f16_avx512, ce_widen_row_f16_avx2, h, f, n)
    return ce_widen_row_f16_bits(h, f, n);
}

static float ce_widen_row_bf16(const uint16_t *h, float *f, npy_intp n)
{
    CE_WIDEN_DISPATCH(ce_widen_row_bf16_avx512, ce_widen_row_bf16_avx2, h, f, n)
    return ce_widen_row_bf16_bits(h, f, n);
}

/* A contiguous float32 row times s (1: the row as it is), except entry keep (< 0: none), which is taken as it
 * is, rounded into n half values; how: CE_NARROW_STREAM and CE_NARROW_FINITE, or 0 (see CE_NARROW_STREAM). */
#if CE_WIDEN_X86
#define CE_NARROW_DISPATCH(AVX512, AVX2, BITS)                  \
    int level = ce_widen_level();                               \
    if (level == 2) AVX512(f, h, n, s, keep, how);              \
    else if (level == 1) AVX2(f, h, n, s, keep, how);           \
    else BITS(f, h, n, s, keep);
#else
#define CE_NARROW_DISPATCH(AVX512, AVX2, BITS) (void)how; BITS(f, h, n, s, keep);
#endif
static void ce_narrow_row_f16(const float *f, uint16_t *h, npy_intp n, float s, npy_intp keep, int how)
{
    CE_NARROW_DISPATCH(ce_narrow_row_f16_avx512, ce_narrow_row_f16_avx2, ce_narrow_row_f16_bits)
}

static void ce_narrow_row_bf16(const float *f, uint16_t *h, npy_intp n, float s, npy_intp keep, int how)
{
#if CE_WIDEN_BF16_INSN
    if (ce_has_avx512bf16()) {
        ce_narrow_row_bf16_avx512bf16(f, h, n, s, keep, how);
        return;
    }
#endif
    CE_NARROW_DISPATCH(ce_narrow_row_bf16_avx512, ce_narrow_row_bf16_avx2, ce_narrow_row_bf16_bits)
}

/* A contiguous float32 row times s, except entry keep (< 0: none), taken as it is, stored into a float32 row
 * h; how: as the narrowing above.  The float32 loss+grad's CE_NARROW_ROW (_rowmath.c). */
static void ce_store_row_f32(const float *f, float *h, npy_intp n, float s, npy_intp keep, int how)
{
    CE_NARROW_DISPATCH(ce_store_row_f32_avx512, ce_store_row_f32_avx2, ce_store_row_f32_portable)
}
#undef CE_NARROW_DISPATCH
#undef CE_ST_F32

/* Orders the non-temporal stores before whatever follows (the threads' join, the caller's reads). */
static inline void ce_stream_fence(void)
{
#if CE_WIDEN_X86
    _mm_sfence();
#endif
}
#undef CE_WIDEN_DISPATCH

/* How float16 rows are converted on this CPU (show_config). */
static const char *ce_widen_f16_name(void)
{
#if CE_WIDEN_X86
    switch (ce_widen_level()) {
        case 2: return "widened and rounded by AVX-512 conversions; the other sweeps convert on the bits";
        case 1: return "widened and rounded by F16C conversions; the other sweeps convert on the bits";
        default: break;
    }
#endif
    return "converted on the bits, vectorised in the SIMD clones";
}

/* How bfloat16 rows are converted on this CPU (show_config): widening is a shift on every path; rounding
 * float32 output rows to bfloat16 takes vcvtneps2bf16 where the CPU has AVX512_BF16. */
static const char *ce_widen_bf16_name(void)
{
#if CE_WIDEN_X86
    if (ce_has_avx512bf16()) return "widened by shifts, rounded by AVX512_BF16 conversions";
    switch (ce_widen_level()) {
        case 2: return "widened by shifts, rounded on the bits in AVX-512 registers";
        case 1: return "widened by shifts, rounded on the bits in AVX2 registers";
        default: break;
    }
#endif
    return "converted on the bits, vectorised in the SIMD clones";
}

#endif
