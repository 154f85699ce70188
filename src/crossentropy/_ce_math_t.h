/* Math for one compute type (CE_T = float or double, names suffixed by CE_MSUF through CE_M()): exp, log
 * and log1p written branch-free so that the row loops over them vectorise.  Included once per compute type
 * by _rowmath.c; element types that compute in float (float16, bfloat16) share the float instance. */

#if CE_IS_DOUBLE
#define CE_EXP_HI 709.0
#define CE_EXP_LO (-745.2)
#define CE_MAGIC 6755399441055744.0          /* 1.5 * 2^52: adding it rounds to an integer */
#define CE_LN2_HI 6.93147180369123816490e-01 /* trailing zeros: k * LN2_HI is exact */
#define CE_LN2_LO 1.90821492927058770002e-10
#define CE_MANT 52
#define CE_BIAS 1023
#define CE_MIN_NORMAL 2.2250738585072014e-308
#define CE_TWO_MANT 4503599627370496.0       /* 2^52 */
#define CE_MANT_MASK 0x000fffffffffffffULL
#define CE_ONE_BITS 0x3ff0000000000000ULL
#define CE_TWO_MANT_BITS 0x4330000000000000ULL
#else
#define CE_EXP_HI 88.0f
#define CE_EXP_LO (-104.0f)
#define CE_MAGIC 12582912.0f                 /* 1.5 * 2^23 */
#define CE_LN2_HI 0.693359375f
#define CE_LN2_LO (-2.12194440e-4f)
#define CE_MANT 23
#define CE_BIAS 127
#define CE_MIN_NORMAL 1.17549435e-38f
#define CE_TWO_MANT 8388608.0f               /* 2^23 */
#define CE_MANT_MASK 0x007fffffU
#define CE_ONE_BITS 0x3f800000U
#define CE_TWO_MANT_BITS 0x4b000000U
#endif

CE_INLINE CE_T CE_M(ce_from_bits)(CE_UINT u) { CE_T f; memcpy(&f, &u, sizeof f); return f; }
CE_INLINE CE_UINT CE_M(ce_bits)(CE_T f) { CE_UINT u; memcpy(&u, &f, sizeof u); return u; }

/* exp(x), branch-free so loops over it vectorise.  Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2,
 * Taylor polynomial for e^r (truncation < 0.05 ulp), and 2^k applied as two factors so results down to
 * the subnormals stay right.  NaN propagates; below the underflow limit the result is exactly 0. */
CE_INLINE CE_T CE_M(ce_exp)(CE_T x)
{
    CE_T xc = x > CE_EXP_HI ? CE_EXP_HI : x;
    xc = xc < CE_EXP_LO ? CE_EXP_LO : xc;
    CE_T t = xc * CE_K(1.44269504088896340736) + CE_MAGIC;
    CE_T k = t - CE_MAGIC;
    CE_T r = xc - k * CE_LN2_HI;
    r = r - k * CE_LN2_LO;
#if CE_IS_DOUBLE
    CE_T p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
#else
    CE_T p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
#endif
    CE_SINT ki = (CE_SINT)(CE_M(ce_bits)(t) - CE_M(ce_bits)(CE_MAGIC));
    CE_SINT k1 = ki >> 1, k2 = ki - k1;
    CE_T s1 = CE_M(ce_from_bits)((CE_UINT)(k1 + CE_BIAS) << CE_MANT);
    CE_T s2 = CE_M(ce_from_bits)((CE_UINT)(k2 + CE_BIAS) << CE_MANT);
    CE_T y = p * s1 * s2;
    return x < CE_EXP_LO ? CE_K(0.0) : y;
}

/* exp(d) for d <= 0 or NaN (the sweeps' x - max, max finite), cheaper than ce_exp: one clamp, a minimax
 * polynomial on |r| <= ln2/2 (benchmarks/expf/fit_exp.py: float32 degree 6, 0.24 eps; float64 degree 11,
 * 0.05 eps) and 2^k from one shift: t = d log2e + CE_MAGIC_S keeps k + CE_BIAS + CE_SHIFT_K in its low
 * mantissa bits, so bits(t) << CE_MANT is 2^(k + CE_SHIFT_K), normal down to the clamp; the last product by
 * 2^-CE_SHIFT_K rounds once, into the subnormals when needed.  At the clamp the result rounds to 0. */
#if CE_IS_DOUBLE
#define CE_MAGIC_S (6755399441055744.0 + 1079.0)  /* 1.5 * 2^52 + 1023 + 56 */
#define CE_UNSHIFT 0x1p-56
#else
#define CE_MAGIC_S (12582912.0f + 153.0f)         /* 1.5 * 2^23 + 127 + 26 */
#define CE_UNSHIFT 0x1p-26f
#endif
/* e^r 2^k for |r| <= ln2/2 (a little over is fine), t holding k + CE_BIAS + CE_SHIFT_K in its low mantissa
 * bits.  The last product by 2^-CE_SHIFT_K is folded into the coefficients (exact: a power of two on normal
 * numbers), so p * s rounds once, into the subnormals when needed, with the same result as
 * (p * s) * 2^-CE_SHIFT_K. */
CE_INLINE CE_T CE_M(ce_exp_poly_scaled)(CE_T r, CE_T t)
{
#if CE_IS_DOUBLE
    CE_T p = 0x1.ad596e8e8c280p-26 * CE_UNSHIFT;
    p = p * r + 0x1.28afa5ff38f9bp-22 * CE_UNSHIFT;
    p = p * r + 0x1.71df48e58eb37p-19 * CE_UNSHIFT;
    p = p * r + 0x1.a019974c74f21p-16 * CE_UNSHIFT;
    p = p * r + 0x1.a01a0111b4b53p-13 * CE_UNSHIFT;
    p = p * r + 0x1.6c16c18560789p-10 * CE_UNSHIFT;
    p = p * r + 0x1.111111112f8a6p-7 * CE_UNSHIFT;
    p = p * r + 0x1.555555555017ap-5 * CE_UNSHIFT;
    p = p * r + 0x1.55555555554b3p-3 * CE_UNSHIFT;
    p = p * r + 0x1.000000000000bp-1 * CE_UNSHIFT;
    p = p * r + CE_UNSHIFT;
    p = p * r + CE_UNSHIFT;
#else
    CE_T p = 0x1.6da76cp-10f * CE_UNSHIFT;
    p = p * r + 0x1.12a1ecp-7f * CE_UNSHIFT;
    p = p * r + 0x1.555470p-5f * CE_UNSHIFT;
    p = p * r + 0x1.55538cp-3f * CE_UNSHIFT;
    p = p * r + 0.5f * CE_UNSHIFT;
    p = p * r + 0x1.000002p+0f * CE_UNSHIFT;
    p = p * r + CE_UNSHIFT;
#endif
    return p * CE_M(ce_from_bits)(CE_M(ce_bits)(t) << CE_MANT);
}

/* The clamp-free core of ce_exp_nonpos for d in [CE_EXP_LO - 1, 0] or NaN */
CE_INLINE CE_T CE_M(ce_exp_nonpos_core)(CE_T dc)
{
    CE_T t = dc * CE_K(1.44269504088896340736) + CE_MAGIC_S;
    CE_T k = t - CE_MAGIC_S;
    CE_T r = dc - k * CE_LN2_HI;
    r = r - k * CE_LN2_LO;
    return CE_M(ce_exp_poly_scaled)(r, t);
}

CE_INLINE CE_T CE_M(ce_exp_nonpos)(CE_T d)
{
    CE_T dc = d < CE_EXP_LO ? CE_EXP_LO : d;     /* NaN stays NaN */
    return CE_M(ce_exp_nonpos_core)(dc);
}

/* exp(x - mref) for the rows where |m| <= CE_REL_MAX (_ce_base.h), m the row's max: the exps are taken
 * relative to mref = km ln2 (km = rint(m / ln2), so |m - mref| <= ln2 / 2) instead of m itself, which makes
 * the reduction that of x alone: k = rint(x log2e), r = (x - k LN2_HI) - k LN2_LO, 2^(k - km) from the same
 * t.  k LN2_HI is exact (the trailing zeros of LN2_HI, |k| < 2^15) and so is x - k LN2_HI; with a fused
 * multiply-add r rounds once, within 2^-26 of the exact reduced argument however far x sits below m (where
 * x - m alone would be off by half an ulp of x - m).  Without one, k LN2_LO rounds first: still within
 * 2^-26 for |m| < 1600, 2^-23 at |m| = 10^4.  The row's constants come from ce_exp_rel_row(m); its `top`,
 * exp(m - mref) in [0.70, 1.42], is what an entry equal to m gives (to rounding), `inv_top` turns these exps
 * into exp(x - m).  Clamping x at m + CE_EXP_LO - 1 (one max; NaN stays NaN, -inf becomes that bound) keeps
 * k - km in the clamp-free range of the scaling, and the result there rounds to 0 even when mref sits ln2/2
 * below m. */
typedef struct { CE_T xlo, t0; double top, inv_top; } CE_M(ce_exp_rel_t);
/* exp(d) in double for |d| <= 0.35, inline (a libm call per row made rows of 64 classes 25% slower): Taylor
 * to degree 7 for float rows (truncation 6e-9, a tenth of a float32 ulp), 13 for double ones (5e-18), by
 * Horner (one multiply-add per degree) */
CE_INLINE double CE_M(ce_exp_near0)(double d)
{
    static const double inv_fact[14] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
                                        1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,
                                        1.0 / 6227020800.0};
    const int deg = CE_IS_DOUBLE ? 13 : 7;
    double p = inv_fact[deg];
    for (int i = deg - 1; i >= 0; i--) p = p * d + inv_fact[i];
    return p;
}
CE_INLINE CE_M(ce_exp_rel_t) CE_M(ce_exp_rel_row)(CE_T m)
{
    CE_M(ce_exp_rel_t) c;
    const double km = rint((double)m * 1.44269504088896340736);
    c.xlo = m + (CE_EXP_LO - 1);
    c.t0 = (CE_T)(CE_MAGIC_S - km);   /* exact: an integer of CE_MAGIC_S's binade */
    /* m - mref for the reference the reduction really uses, km (LN2_HI + LN2_LO) (not km ln2: they differ by
     * km 7e-12 in float), subtracted in two steps as the reduction does (the first exact) */
    const double d = ((double)m - km * (double)CE_LN2_HI) - km * (double)CE_LN2_LO;
    c.top = CE_M(ce_exp_near0)(d);
    c.inv_top = CE_M(ce_exp_near0)(-d);   /* not 1 / top: no division on the row's path */
    return c;
}
/* ce_exp_rel from the row's two constants alone (the few-class block kernel keeps them per row, a lane each) */
CE_INLINE CE_T CE_M(ce_exp_rel_at)(CE_T x, CE_T xlo, CE_T t0)
{
    CE_T xc = x < xlo ? xlo : x;
    CE_T t = xc * CE_K(1.44269504088896340736) + t0;   /* t0 + k, k - km in its low mantissa bits */
    CE_T k = t - t0;
    CE_T r = (xc - k * CE_LN2_HI) - k * CE_LN2_LO;
    return CE_M(ce_exp_poly_scaled)(r, t);
}
CE_INLINE CE_T CE_M(ce_exp_rel)(CE_T x, CE_M(ce_exp_rel_t) c) { return CE_M(ce_exp_rel_at)(x, c.xlo, c.t0); }
#undef CE_MAGIC_S
#undef CE_UNSHIFT

/* exp(x - m) with the rounding error of the subtraction folded back in (Knuth's two-sum, no branch): on a
 * confident row |x - m| is large and the rounded difference alone costs |x - m| ulp of relative precision
 * in exp (48 ulp at a float32 margin of 80).  Returns 1 exactly where x == m; -inf gives 0, NaN gives NaN. */
CE_INLINE CE_T CE_M(ce_exp_sub)(CE_T x, CE_T m)
{
    CE_T d = x - m;
    /* infinite or NaN d: no correction, and no inf - inf (the "invalid" signal) in the two-sum */
    CE_T xf = (d > -(CE_T)INFINITY && d < (CE_T)INFINITY) ? x : m;
    CE_T df = xf - m, xs = df + m, ms = df - xs;
    CE_T err = (xf - xs) - (m + ms);   /* (x - m) - d, exactly */
    CE_T e = CE_M(ce_exp_nonpos)(d);   /* d <= 0: m is the row's max */
    return e + e * err;
}

/* log(x), branch-free: x = 2^e m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1)) as an odd
 * series.  log(0) = -inf, log(<0) = NaN, log(inf) = inf, NaN -> NaN. */
CE_INLINE CE_T CE_M(ce_log)(CE_T x)
{
    int sub = x < CE_MIN_NORMAL;
    CE_T xs = sub ? x * CE_TWO_MANT : x;
    CE_UINT u = CE_M(ce_bits)(xs);
    /* the biased exponent as a float, without an int->float conversion (slow for int64 vectors) */
    CE_T e = CE_M(ce_from_bits)((u >> CE_MANT) | CE_TWO_MANT_BITS) - CE_TWO_MANT - CE_BIAS;
    e = sub ? e - CE_MANT : e;
    CE_T m = CE_M(ce_from_bits)((u & CE_MANT_MASK) | CE_ONE_BITS);
    int big = m > CE_K(1.41421356237309504880);
    m = big ? m * CE_K(0.5) : m;
    e = big ? e + CE_K(1.0) : e;
    CE_T f = m - CE_K(1.0);
    CE_T s = f / (m + CE_K(1.0));
    CE_T z = s * s;
#if CE_IS_DOUBLE
    CE_T q = 1.0 / 25.0;
    q = q * z + 1.0 / 23.0;
    q = q * z + 1.0 / 21.0;
    q = q * z + 1.0 / 19.0;
    q = q * z + 1.0 / 17.0;
    q = q * z + 1.0 / 15.0;
    q = q * z + 1.0 / 13.0;
    q = q * z + 1.0 / 11.0;
    q = q * z + 1.0 / 9.0;
    q = q * z + 1.0 / 7.0;
    q = q * z + 1.0 / 5.0;
    q = q * z + 1.0 / 3.0;
#else
    CE_T q = 1.0f / 11.0f;
    q = q * z + 1.0f / 9.0f;
    q = q * z + 1.0f / 7.0f;
    q = q * z + 1.0f / 5.0f;
    q = q * z + 1.0f / 3.0f;
#endif
    /* log m = 2s + 2s z q = f - s (f - 2 z q s ... ); written as f - s*(f - 2zq) keeps the leading term exact */
    CE_T logm = f - s * (f - CE_K(2.0) * z * q);
    CE_T res = e * CE_LN2_HI + (logm + e * CE_LN2_LO);
    res = x == (CE_T)INFINITY ? x : res;
    return x > 0 ? res : (x == 0 ? -(CE_T)INFINITY : (CE_T)NAN);
}

/* log(1 + y) for y >= -1, accurate for tiny y: log(u) * y / (u - 1) with u = 1 + y corrects u's rounding. */
CE_INLINE CE_T CE_M(ce_log1p)(CE_T y)
{
    CE_T u = CE_K(1.0) + y;
    CE_T d = u - CE_K(1.0);
    CE_T res = CE_M(ce_log)(u) * (y / (d == 0 ? CE_K(1.0) : d));
    res = u == (CE_T)INFINITY ? u : res;
    return d == 0 ? y : res;
}

#undef CE_EXP_HI
#undef CE_EXP_LO
#undef CE_MAGIC
#undef CE_LN2_HI
#undef CE_LN2_LO
#undef CE_MANT
#undef CE_BIAS
#undef CE_MIN_NORMAL
#undef CE_TWO_MANT
#undef CE_MANT_MASK
#undef CE_ONE_BITS
#undef CE_TWO_MANT_BITS
