/* Loads and stores of the two half-precision element types, float32 in registers (docs/half_precision.md).
 *
 * bfloat16 is the top half of a float32: loading is a shift, storing rounds to nearest even on the bits.
 * float16 uses the hardware conversions where the compiler may emit them (F16C / AVX-512 on x86-64 inside
 * a target region, native on AArch64), and otherwise exact integer bit operations.  Every function here
 * is branch-free, so loops over them vectorise.  Results match NumPy's casts bit for bit (tests/test_half.py
 * checks all 65536 half values and the float32 rounding boundaries). */
#ifndef CROSSENTROPY_CE_HALF_H
#define CROSSENTROPY_CE_HALF_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define CE_HALF_INLINE static inline __attribute__((always_inline))
#else
#define CE_HALF_INLINE static inline
#endif

CE_HALF_INLINE float ce_half_f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
CE_HALF_INLINE uint32_t ce_half_bits_of_f32(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }

/* ---- bfloat16 ---- */
CE_HALF_INLINE float ce_ld_bf16(uint16_t h) { return ce_half_f32_from_bits((uint32_t)h << 16); }

CE_HALF_INLINE uint16_t ce_st_bf16(float f)
{
    uint32_t u = ce_half_bits_of_f32(f);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;     /* carries into the exponent: inf */
    uint32_t nan = (u >> 16) | 0x40u;                               /* NaN stays NaN (quiet), sign kept */
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

/* ---- float16, portable: exact for every value, including subnormals, infinities and NaN ---- */
CE_HALF_INLINE float ce_ld_f16_bits(uint16_t h)
{
    uint32_t em = (uint32_t)h & 0x7fffu;
    /* the exponent/mantissa moved into float position and rescaled by 2^(127-15): exact for normal and
     * subnormal halves alike (a subnormal becomes a float32 subnormal times a power of two) */
    float f = ce_half_f32_from_bits(em << 13) * 0x1p112f;
    uint32_t u = ce_half_bits_of_f32(f) | (em >= 0x7c00u ? 0x7f800000u : 0u) | (((uint32_t)h & 0x8000u) << 16);
    return ce_half_f32_from_bits(u);
}

CE_HALF_INLINE uint16_t ce_st_f16_bits(float f)
{
    uint32_t u = ce_half_bits_of_f32(f);
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    /* normal range: rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even */
    uint32_t normal = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;
    /* below 2^-14: adding 0.5 puts the value's half-subnormal ulp (2^-24) at the float's last bit, so the
     * float addition itself rounds to nearest even */
    uint32_t sub = ce_half_bits_of_f32(ce_half_f32_from_bits(a) + 0.5f) - 0x3f000000u;
    uint32_t r = a < 0x38800000u ? sub : normal;
    r = a >= 0x477ff000u ? 0x7c00u : r;                             /* 65520 and above round to inf */
    r = a > 0x7f800000u ? 0x7e00u : r;                              /* NaN */
    return (uint16_t)(r | sign);
}

/* ---- float16 through the compiler's _Float16 (hardware conversions where the target has them) ---- */
#if defined(__FLT16_MANT_DIG__) && (defined(__x86_64__) || defined(__aarch64__))
#define CE_HAVE_FLOAT16 1
CE_HALF_INLINE float ce_ld_f16_hw(uint16_t h) { _Float16 v; memcpy(&v, &h, sizeof v); return (float)v; }
CE_HALF_INLINE uint16_t ce_st_f16_hw(float f)
{
    _Float16 v = (_Float16)f;
    uint16_t h;
    memcpy(&h, &v, sizeof h);
    return h;
}
#else
#define CE_HAVE_FLOAT16 0
#endif

#endif
