/* Row math for one element type; included twice by _rowmath.h (CE_T = float, then double).
 * Names get the suffix _f32 / _f64 through CE_F().  All column strides are in elements. */

#if CE_IS_DOUBLE
#define CE_K(v) v
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
#define CE_K(v) v##f
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

CE_INLINE CE_T CE_F(ce_from_bits)(CE_UINT u) { CE_T f; memcpy(&f, &u, sizeof f); return f; }
CE_INLINE CE_UINT CE_F(ce_bits)(CE_T f) { CE_UINT u; memcpy(&u, &f, sizeof u); return u; }

/* exp(x), branch-free so loops over it vectorise.  Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2,
 * Taylor polynomial for e^r (truncation < 0.05 ulp), and 2^k applied as two factors so results down to
 * the subnormals stay right.  NaN propagates; below the underflow limit the result is exactly 0. */
CE_INLINE CE_T CE_F(ce_exp)(CE_T x)
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
    CE_SINT ki = (CE_SINT)(CE_F(ce_bits)(t) - CE_F(ce_bits)(CE_MAGIC));
    CE_SINT k1 = ki >> 1, k2 = ki - k1;
    CE_T s1 = CE_F(ce_from_bits)((CE_UINT)(k1 + CE_BIAS) << CE_MANT);
    CE_T s2 = CE_F(ce_from_bits)((CE_UINT)(k2 + CE_BIAS) << CE_MANT);
    CE_T y = p * s1 * s2;
    return x < CE_EXP_LO ? CE_K(0.0) : y;
}

/* log(x), branch-free: x = 2^e m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1)) as an odd
 * series.  log(0) = -inf, log(<0) = NaN, log(inf) = inf, NaN -> NaN. */
CE_INLINE CE_T CE_F(ce_log)(CE_T x)
{
    int sub = x < CE_MIN_NORMAL;
    CE_T xs = sub ? x * CE_TWO_MANT : x;
    CE_UINT u = CE_F(ce_bits)(xs);
    /* the biased exponent as a float, without an int->float conversion (slow for int64 vectors) */
    CE_T e = CE_F(ce_from_bits)((u >> CE_MANT) | CE_TWO_MANT_BITS) - CE_TWO_MANT - CE_BIAS;
    e = sub ? e - CE_MANT : e;
    CE_T m = CE_F(ce_from_bits)((u & CE_MANT_MASK) | CE_ONE_BITS);
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
CE_INLINE CE_T CE_F(ce_log1p)(CE_T y)
{
    CE_T u = CE_K(1.0) + y;
    CE_T d = u - CE_K(1.0);
    CE_T res = CE_F(ce_log)(u) * (y / (d == 0 ? CE_K(1.0) : d));
    res = u == (CE_T)INFINITY ? u : res;
    return d == 0 ? y : res;
}

/* ---------------------------------------------------------------------------------------------------
 * Row statistics of the log-softmax: m = max(x) and L with lse = m + L.  The sum of exp(x - m) is split
 * into the terms equal to the max (cnt, each exactly 1) and the rest, so L = log1p(rest + cnt - 1) keeps
 * a confident row's tiny loss (logits [-40, 0] give 4.2e-18, not 0).  Returns 0 when m is not finite. */
CE_INLINE CE_T CE_F(ce_max_impl)(const CE_T *x, npy_intp n, npy_intp sx)
{
    CE_T m = -(CE_T)INFINITY;
    CE_SIMD_REDUCE(max : m)
    for (npy_intp j = 0; j < n; j++) {
        CE_T v = x[j * sx];
        m = v > m ? v : m;   /* NaN never wins here; it propagates through the exp sums instead */
    }
    return m;
}

CE_INLINE void CE_F(ce_expsum_impl)(const CE_T *x, npy_intp n, npy_intp sx, CE_T m, CE_T *rest_out, CE_T *cnt_out,
                                     CE_T *keep, npy_intp sk)
{
    double rest_all = 0, cnt_all = 0;   /* blocks summed in double: float32 rows of 10^5+ stay accurate */
    for (npy_intp j0 = 0; j0 < n; j0 += CE_SUM_BLOCK) {
        npy_intp j1 = n - j0 > CE_SUM_BLOCK ? j0 + CE_SUM_BLOCK : n;
        CE_T rest = 0, cnt = 0;
        CE_SIMD_REDUCE(+ : rest, cnt)
        for (npy_intp j = j0; j < j1; j++) {
            CE_T d = x[j * sx] - m;
            CE_T e = CE_F(ce_exp)(d);
            rest += d == 0 ? CE_K(0.0) : e;
            cnt += d == 0 ? CE_K(1.0) : CE_K(0.0);
            if (keep) keep[j * sk] = e;   /* the gradient sweep reuses it (callers pass NULL or not as a constant) */
        }
        rest_all += rest;
        cnt_all += cnt;
    }
    *rest_out = (CE_T)rest_all;
    *cnt_out = (CE_T)cnt_all;
}

/* The value of a row's log-sum-exp when its max is not finite: -inf for an empty or all -inf row, +inf
 * with a +inf entry, NaN with a NaN entry. */
CE_INLINE CE_T CE_F(ce_lse_nonfinite)(const CE_T *x, npy_intp n, npy_intp sx, CE_T m)
{
    for (npy_intp j = 0; j < n; j++)
        if (x[j * sx] != x[j * sx]) return (CE_T)NAN;
    return m;
}

typedef struct { CE_T m, L, s; int finite; } CE_F(ce_lse_t);

CE_INLINE CE_F(ce_lse_t) CE_F(ce_lse_stats)(const CE_T *x, npy_intp n, npy_intp sx)
{
    CE_F(ce_lse_t) st;
    CE_T rest, cnt;
    st.m = sx == 1 ? CE_F(ce_max_impl)(x, n, 1) : CE_F(ce_max_impl)(x, n, sx);
    st.finite = st.m > -(CE_T)INFINITY && st.m < (CE_T)INFINITY;
    if (!st.finite) {
        st.L = 0; st.s = 0;
        return st;
    }
    if (sx == 1) CE_F(ce_expsum_impl)(x, n, 1, st.m, &rest, &cnt, NULL, 0);
    else CE_F(ce_expsum_impl)(x, n, sx, st.m, &rest, &cnt, NULL, 0);
    st.L = CE_F(ce_log1p)(rest + (cnt - CE_K(1.0)));
    st.s = cnt + rest;
    return st;
}

CE_INLINE void CE_F(ce_fill)(CE_T *g, npy_intp n, npy_intp sg, CE_T v)
{
    for (npy_intp j = 0; j < n; j++) g[j * sg] = v;
}

/* Row i's label: rows with the ignored label get loss 0 and grad 0, rows with a label outside [0, n) get
 * NaN.  Returns 1 when the row is still to be computed (label in *y), 0 when ignored, -1 when bad. */
CE_INLINE int CE_F(ce_row_label)(const char *lab, npy_intp lab_rs, int is64, int64_t ignore, npy_intp i,
                                 npy_intp n, CE_T *loss, CE_T *g, npy_intp sg, int64_t *y)
{
    *y = ce_label_at(lab, lab_rs, i, is64);
    /* CE_NO_LABEL (INT64_MIN) means "nothing ignored": a label equal to it is out of range, not ignored */
    if (*y == ignore && ignore != CE_NO_LABEL) {
        *loss = 0;
        if (g) CE_F(ce_fill)(g, n, sg, CE_K(0.0));
        return 0;
    }
    if (*y < 0 || *y >= n) {
        *loss = (CE_T)NAN;
        if (g) CE_F(ce_fill)(g, n, sg, (CE_T)NAN);
        return -1;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------------
 * logsumexp / softmax / log_softmax of one row.  The writing sweep reads x_j before writing y_j, so
 * y may be x itself (softmax(x, out=x)). */
CE_CLONES static int CE_F(ce_transform_row)(const void *pp, npy_intp i)
{
    const ce_transform_problem *p = (const ce_transform_problem *)pp;
    const CE_T *x = (const CE_T *)(p->x + i * p->x_rs);
    CE_T *y = (CE_T *)(p->y + i * p->y_rs);
    npy_intp n = p->cols, sx = p->x_cs / (npy_intp)sizeof(CE_T), sy = p->y_cs / (npy_intp)sizeof(CE_T);
    CE_F(ce_lse_t) st = CE_F(ce_lse_stats)(x, n, sx);
    if (p->what == CE_ROW_LSE) {
        *y = st.finite ? st.m + st.L : CE_F(ce_lse_nonfinite)(x, n, sx, st.m);
        return 0;
    }
    if (!st.finite) {
        CE_F(ce_fill)(y, n, sy, (CE_T)NAN);
        return 0;
    }
    CE_T m = st.m, L = st.L, inv = CE_K(1.0) / st.s;
    if (p->what == CE_ROW_SOFTMAX) {
        if (sx == 1 && sy == 1) {
            CE_SIMD
            for (npy_intp j = 0; j < n; j++) y[j] = CE_F(ce_exp)(x[j] - m) * inv;
        } else {
            for (npy_intp j = 0; j < n; j++) y[j * sy] = CE_F(ce_exp)(x[j * sx] - m) * inv;
        }
    } else {
        if (sx == 1 && sy == 1) {
            CE_SIMD
            for (npy_intp j = 0; j < n; j++) y[j] = (x[j] - m) - L;
        } else {
            for (npy_intp j = 0; j < n; j++) y[j * sy] = (x[j * sx] - m) - L;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * Softmax cross-entropy (see ce_xent_problem).  has_t / has_v / has_lab are compile-time constants at
 * each call site, so the common cases compile to tight loops. */
CE_INLINE CE_T CE_F(ce_target)(const CE_T *t, npy_intp st, const CE_T *v, npy_intp sv, npy_intp j, int64_t y,
                               CE_T a, CE_T b, CE_T c, int has_t, int has_v, int has_lab)
{
    CE_T tj = b;
    if (has_t) tj += a * t[j * st];
    if (has_lab) tj += (j == y) ? c : CE_K(0.0);
    if (has_v) tj *= v[j * sv];
    return tj;
}

/* The sums of the softmax cross-entropy sweep: exps split as in ce_expsum_impl, S = sum t', dot =
 * sum t'_j (m - x_j); exps optionally kept in `keep` for the gradient sweep. */
CE_INLINE void CE_F(ce_xent_sums_impl)(const CE_T *x, npy_intp sx, const CE_T *t, npy_intp st, const CE_T *v,
                                       npy_intp sv, npy_intp n, int64_t y, CE_T a, CE_T b, CE_T c, CE_T m,
                                       int has_t, int has_v, int has_lab, CE_T *keep, npy_intp sk, CE_T *out)
{
    double rest_all = 0, cnt_all = 0, S_all = 0, dot_all = 0;
    for (npy_intp j0 = 0; j0 < n; j0 += CE_SUM_BLOCK) {
        npy_intp j1 = n - j0 > CE_SUM_BLOCK ? j0 + CE_SUM_BLOCK : n;
        CE_T rest = 0, cnt = 0, S = 0, dot = 0;
        CE_SIMD_REDUCE(+ : rest, cnt, S, dot)
        for (npy_intp j = j0; j < j1; j++) {
            CE_T d = x[j * sx] - m;
            CE_T e = CE_F(ce_exp)(d);
            rest += d == 0 ? CE_K(0.0) : e;
            cnt += d == 0 ? CE_K(1.0) : CE_K(0.0);
            CE_T tj = CE_F(ce_target)(t, st, v, sv, j, y, a, b, c, has_t, has_v, has_lab);
            S += tj;
            /* a zero target on a -inf logit adds 0, not NaN; so does any target on the max (d == 0), where
             * an infinite one would give inf * 0 = NaN instead of its S * L share (inf) */
            dot += (tj != 0 && d != 0) ? tj * -d : CE_K(0.0);
            if (keep) keep[j * sk] = e;
        }
        rest_all += rest; cnt_all += cnt; S_all += S; dot_all += dot;
    }
    out[0] = (CE_T)rest_all; out[1] = (CE_T)cnt_all; out[2] = (CE_T)S_all; out[3] = (CE_T)dot_all;
}

CE_INLINE CE_T CE_F(ce_xent_logits_impl)(const CE_T *x, npy_intp sx, const CE_T *t, npy_intp st, const CE_T *v,
                                         npy_intp sv, npy_intp n, int64_t y, CE_T a, CE_T b, CE_T c, CE_T r,
                                         CE_T *g, npy_intp sg, int has_t, int has_v, int has_lab, int op_grad)
{
    CE_T m = CE_F(ce_max_impl)(x, n, sx);
    if (!(m > -(CE_T)INFINITY && m < (CE_T)INFINITY)) {
        if (g) CE_F(ce_fill)(g, n, sg, (CE_T)NAN);
        return n == 0 ? CE_K(0.0) : (CE_T)NAN;
    }
    CE_T rest = 0, cnt = 0, S = 0, dot = 0;
    int sparse_only = has_lab && !has_t && !has_v && b == 0;
    /* With a gradient to write, the sum sweep leaves its exps in g so the gradient sweep needs no second
     * exp (x_j is read before g_j is written, so out=x works); not when g is the target row itself. */
    CE_T *keep = (g && !(has_t && (const CE_T *)g == t)) ? g : NULL;
    if (sparse_only) {
        dot = c * (m - x[y * sx]);   /* before the sweep: g may be x itself */
        if (keep) CE_F(ce_expsum_impl)(x, n, sx, m, &rest, &cnt, keep, sg);
        else CE_F(ce_expsum_impl)(x, n, sx, m, &rest, &cnt, NULL, 0);
        S = c;
    } else {
        CE_T sums[4];
        if (keep)
            CE_F(ce_xent_sums_impl)(x, sx, t, st, v, sv, n, y, a, b, c, m, has_t, has_v, has_lab, keep, sg, sums);
        else
            CE_F(ce_xent_sums_impl)(x, sx, t, st, v, sv, n, y, a, b, c, m, has_t, has_v, has_lab, NULL, 0, sums);
        rest = sums[0]; cnt = sums[1]; S = sums[2]; dot = sums[3];
    }
    CE_T L = CE_F(ce_log1p)(rest + (cnt - CE_K(1.0)));
    if (g) {
        CE_T coef = r * (op_grad ? CE_K(1.0) : S) / (cnt + rest);   /* op_grad: TF's softmax - t' */
        if (keep) {
            CE_SIMD
            for (npy_intp j = 0; j < n; j++) {
                CE_T tj = CE_F(ce_target)(t, st, v, sv, j, y, a, b, c, has_t, has_v, has_lab);
                g[j * sg] = coef * g[j * sg] - r * tj;
            }
        } else {
            CE_SIMD
            for (npy_intp j = 0; j < n; j++) {
                CE_T tj = CE_F(ce_target)(t, st, v, sv, j, y, a, b, c, has_t, has_v, has_lab);
                g[j * sg] = coef * CE_F(ce_exp)(x[j * sx] - m) - r * tj;
            }
        }
    }
    return dot + S * L;
}

/* x holds log-probabilities (torch nll_loss): loss = -sum t'_j x_j, grad = -r t'_j. */
CE_INLINE CE_T CE_F(ce_xent_logprob_impl)(const CE_T *x, npy_intp sx, const CE_T *t, npy_intp st, const CE_T *v,
                                          npy_intp sv, npy_intp n, int64_t y, CE_T a, CE_T b, CE_T c, CE_T r,
                                          CE_T *g, npy_intp sg, int has_t, int has_v, int has_lab, int op_grad)
{
    (void)op_grad;   /* no softmax here */
    CE_T dot = 0;
    if (has_lab && !has_t && b == 0) {
        dot = -(c * (has_v ? v[y * sv] : CE_K(1.0))) * x[y * sx];
    } else {
        CE_SIMD_REDUCE(+ : dot)
        for (npy_intp j = 0; j < n; j++) {
            CE_T tj = CE_F(ce_target)(t, st, v, sv, j, y, a, b, c, has_t, has_v, has_lab);
            dot += tj != 0 ? -tj * x[j * sx] : CE_K(0.0);
        }
    }
    if (g) {
        CE_SIMD
        for (npy_intp j = 0; j < n; j++)
            g[j * sg] = -r * CE_F(ce_target)(t, st, v, sv, j, y, a, b, c, has_t, has_v, has_lab);
    }
    return dot;
}

#define CE_XENT_CALL(fn, SX, ST, SV, SG, HT, HV, HL) \
    fn(x, SX, t, ST, v, SV, n, y, a, b, c, r, g, SG, HT, HV, HL, op_grad)

CE_CLONES static int CE_F(ce_xent_row)(const void *pp, npy_intp i)
{
    const ce_xent_problem *p = (const ce_xent_problem *)pp;
    const npy_intp sz = (npy_intp)sizeof(CE_T), n = p->cols;
    const CE_T *x = (const CE_T *)(p->x + i * p->x_rs);
    const CE_T *t = p->t ? (const CE_T *)(p->t + i * p->t_rs) : NULL;
    const CE_T *v = (const CE_T *)p->v;
    CE_T *g = p->grad ? (CE_T *)(p->grad + i * p->g_rs) : NULL;
    npy_intp sx = p->x_cs / sz, st = p->t_cs / sz, sv = p->v_cs / sz, sg = p->g_cs / sz;
    CE_T *loss = (CE_T *)(p->loss + i * p->loss_rs);
    CE_T r = p->r ? *(const CE_T *)(p->r + i * p->r_rs) : CE_K(1.0);
    CE_T a = (CE_T)p->a, b = (CE_T)p->b, c = (CE_T)p->c;
    int64_t y = -1;
    if (p->lab) {
        int todo = CE_F(ce_row_label)(p->lab, p->lab_rs, p->lab_is64, p->ignore, i, n, loss, g, sg, &y);
        if (todo <= 0) return todo < 0 ? CE_ROW_BAD_LABEL : 0;
    }
    int ht = t != NULL, hv = v != NULL, hl = p->lab != NULL, op_grad = p->mode == 2;
    if (p->mode == 1) {
        *loss = CE_XENT_CALL(CE_F(ce_xent_logprob_impl), sx, st, sv, sg, ht, hv, hl);
        return 0;
    }
    int unit = sx == 1 && (!g || sg == 1) && (!ht || st == 1) && (!hv || sv == 1);
    if (unit && ht && !hv && !hl)          /* dense labels (TF, Keras) */
        *loss = CE_XENT_CALL(CE_F(ce_xent_logits_impl), 1, 1, 1, 1, 1, 0, 0);
    else if (unit && !ht && !hv && hl)     /* sparse labels, maybe smoothed */
        *loss = CE_XENT_CALL(CE_F(ce_xent_logits_impl), 1, 1, 1, 1, 0, 0, 1);
    else if (unit && !ht && hv && hl)      /* torch class weights */
        *loss = CE_XENT_CALL(CE_F(ce_xent_logits_impl), 1, 1, 1, 1, 0, 1, 1);
    else
        *loss = CE_XENT_CALL(CE_F(ce_xent_logits_impl), sx, st, sv, sg, ht, hv, hl);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * Few classes (cols <= CE_SMALL_COLS), rows contiguous: a row is too short to fill a vector, so a block of
 * CE_BLOCK_ROWS rows is handled at once and the exps run over the whole block (vectorised across rows).
 * Same math and results as ce_xent_row for dense targets or plain sparse labels without class vector.
 * Returns flags | (bad rows << CE_COUNT_SHIFT). */
CE_CLONES static int CE_F(ce_xent_small_block)(const void *pp, npy_intp blk)
{
    const ce_xent_problem *p = (const ce_xent_problem *)pp;
    const npy_intp n = p->cols, r0 = blk * CE_BLOCK_ROWS;
    const npy_intp nb = p->rows - r0 < CE_BLOCK_ROWS ? p->rows - r0 : CE_BLOCK_ROWS;
    const CE_T a = (CE_T)p->a, b = (CE_T)p->b, c = (CE_T)p->c;
    enum { R = CE_BLOCK_ROWS };
    /* the block transposed (class-major), so every step below is a vector op across the block's rows */
    CE_T xt[R * CE_SMALL_COLS], et[R * CE_SMALL_COLS], tt[R * CE_SMALL_COLS];
    CE_T m[R], mm[R], rest[R], cnt[R], S[R], dot[R], L[R];
    int nbad = 0;
    for (npy_intp i = 0; i < R; i++) {
        const CE_T *x = (const CE_T *)(p->x + (r0 + (i < nb ? i : 0)) * p->x_rs);
        const CE_T *t = p->t ? (const CE_T *)(p->t + (r0 + (i < nb ? i : 0)) * p->t_rs) : NULL;
        for (npy_intp j = 0; j < n; j++) {
            xt[j * R + i] = i < nb ? x[j] : CE_K(0.0);   /* rows past the end are padding */
            if (t) tt[j * R + i] = i < nb ? a * t[j] + b : CE_K(0.0);
        }
    }
    CE_SIMD
    for (npy_intp i = 0; i < R; i++) m[i] = -(CE_T)INFINITY;
    for (npy_intp j = 0; j < n; j++) {
        CE_SIMD
        for (npy_intp i = 0; i < R; i++) m[i] = xt[j * R + i] > m[i] ? xt[j * R + i] : m[i];
    }
    CE_SIMD
    for (npy_intp i = 0; i < R; i++) {
        mm[i] = (m[i] > -(CE_T)INFINITY && m[i] < (CE_T)INFINITY) ? m[i] : CE_K(0.0);
        rest[i] = 0; cnt[i] = 0; S[i] = 0; dot[i] = 0;
    }
    for (npy_intp j = 0; j < n; j++) {
        CE_SIMD
        for (npy_intp i = 0; i < R; i++) {
            CE_T d = xt[j * R + i] - mm[i];
            CE_T e = CE_F(ce_exp)(d);
            rest[i] += d == 0 ? CE_K(0.0) : e;
            cnt[i] += d == 0 ? CE_K(1.0) : CE_K(0.0);
            et[j * R + i] = e;
        }
        if (p->t) {
            CE_SIMD
            for (npy_intp i = 0; i < R; i++) {
                CE_T d = xt[j * R + i] - mm[i], tj = tt[j * R + i];
                S[i] += tj;
                dot[i] += (tj != 0 && d != 0) ? tj * -d : CE_K(0.0);
            }
        }
    }
    CE_SIMD
    for (npy_intp i = 0; i < R; i++) L[i] = CE_F(ce_log1p)(rest[i] + (cnt[i] - CE_K(1.0)));
    for (npy_intp i = 0; i < nb; i++) {
        const CE_T *x = (const CE_T *)(p->x + (r0 + i) * p->x_rs);
        CE_T *loss = (CE_T *)(p->loss + (r0 + i) * p->loss_rs);
        CE_T *g = p->grad ? (CE_T *)(p->grad + (r0 + i) * p->g_rs) : NULL;
        CE_T r = p->r ? *(const CE_T *)(p->r + (r0 + i) * p->r_rs) : CE_K(1.0);
        int64_t y = -1;
        if (p->lab) {
            int todo = CE_F(ce_row_label)(p->lab, p->lab_rs, p->lab_is64, p->ignore, r0 + i, n, loss, g, 1, &y);
            if (todo <= 0) {
                nbad += todo < 0;
                continue;
            }
        }
        if (!(m[i] > -(CE_T)INFINITY && m[i] < (CE_T)INFINITY)) {
            *loss = (CE_T)NAN;
            if (g) CE_F(ce_fill)(g, n, 1, (CE_T)NAN);
            continue;
        }
        CE_T Si = p->t ? S[i] : c, doti = p->t ? dot[i] : c * (m[i] - x[y]);
        *loss = doti + Si * L[i];
        if (g) {
            CE_T coef = r * Si / (cnt[i] + rest[i]);
            for (npy_intp j = 0; j < n; j++) {
                CE_T tj = p->t ? tt[j * R + i] : (j == y ? c : CE_K(0.0));
                g[j] = coef * et[j * R + i] - r * tj;
            }
        }
    }
    return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
}

/* Whether ce_xent_small_block can run this problem (contiguous short rows, no class vector). */
static int CE_F(ce_xent_small_ok)(const ce_xent_problem *p)
{
    const npy_intp sz = (npy_intp)sizeof(CE_T);
    if (p->mode != 0 || p->v || p->cols > CE_SMALL_COLS || p->cols == 0 || p->x_cs != sz) return 0;
    if (p->t && (p->lab || p->t_cs != sz)) return 0;
    if (!p->t && (!p->lab || p->b != 0)) return 0;
    if (p->grad && p->g_cs != sz) return 0;
    return 1;
}

/* ---------------------------------------------------------------------------------------------------
 * Rows that lie next to each other while their classes are strided (axis=0 of a C-ordered array, torch's
 * (N, C, d...) with the class axis moved last): strided rows cannot use vector loads, so a block of rows
 * is copied into a contiguous buffer (reading whole cache lines across rows), the contiguous row kernel
 * runs there, and the gradient or output rows are copied back.  Buffers are O(block x cols) per thread. */
CE_INLINE void CE_F(ce_gather_rows)(CE_T *dst, const char *src, npy_intp rs, npy_intp cs, npy_intp nb, npy_intp n)
{
    for (npy_intp j = 0; j < n; j++)
        for (npy_intp i = 0; i < nb; i++) dst[i * n + j] = *(const CE_T *)(src + j * cs + i * rs);
}

CE_INLINE void CE_F(ce_scatter_rows)(char *dst, npy_intp rs, npy_intp cs, const CE_T *src, npy_intp nb, npy_intp n)
{
    for (npy_intp j = 0; j < n; j++)
        for (npy_intp i = 0; i < nb; i++) *(CE_T *)(dst + j * cs + i * rs) = src[i * n + j];
}

CE_CLONES static int CE_F(ce_xent_tblock)(const void *pp, npy_intp blk)
{
    const ce_xent_problem *p = (const ce_xent_problem *)pp;
    const npy_intp sz = (npy_intp)sizeof(CE_T), n = p->cols, tb = ce_tblock_rows(n), r0 = blk * tb;
    const npy_intp nb = p->rows - r0 < tb ? p->rows - r0 : tb;
    int nbuf = 1 + (p->t != NULL) + (p->grad != NULL), ret, nbad = 0;
    CE_T *buf = (CE_T *)malloc((size_t)(nbuf * nb * n) * sizeof(CE_T));
    if (!buf) {   /* out of memory: the strided row kernel needs no buffer */
        for (npy_intp i = 0; i < nb; i++) nbad += CE_F(ce_xent_row)(pp, r0 + i) & CE_ROW_BAD_LABEL;
        return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
    }
    ce_xent_problem q = *p;
    CE_T *xb = buf, *tb_ = buf + nb * n, *gb = buf + (nbuf - 1) * nb * n;
    CE_F(ce_gather_rows)(xb, p->x + r0 * p->x_rs, p->x_rs, p->x_cs, nb, n);
    q.rows = nb;
    q.x = (const char *)xb; q.x_rs = n * sz; q.x_cs = sz;
    if (p->t) {
        CE_F(ce_gather_rows)(tb_, p->t + r0 * p->t_rs, p->t_rs, p->t_cs, nb, n);
        q.t = (const char *)tb_; q.t_rs = n * sz; q.t_cs = sz;
    }
    if (p->lab) q.lab = p->lab + r0 * p->lab_rs;
    if (p->r) q.r = p->r + r0 * p->r_rs;
    q.loss = p->loss + r0 * p->loss_rs;
    if (p->grad) { q.grad = (char *)gb; q.g_rs = n * sz; q.g_cs = sz; }
    if (CE_F(ce_xent_small_ok)(&q)) {
        for (npy_intp k = 0; k * CE_BLOCK_ROWS < nb; k++) {
            ret = CE_F(ce_xent_small_block)(&q, k);
            nbad += ret >> CE_COUNT_SHIFT;
        }
    } else {
        for (npy_intp i = 0; i < nb; i++) nbad += CE_F(ce_xent_row)(&q, i) & CE_ROW_BAD_LABEL;
    }
    if (p->grad) CE_F(ce_scatter_rows)(p->grad + r0 * p->g_rs, p->g_rs, p->g_cs, gb, nb, n);
    free(buf);
    return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
}

CE_CLONES static int CE_F(ce_transform_tblock)(const void *pp, npy_intp blk)
{
    const ce_transform_problem *p = (const ce_transform_problem *)pp;
    const npy_intp sz = (npy_intp)sizeof(CE_T), n = p->cols, tb = ce_tblock_rows(n), r0 = blk * tb;
    const npy_intp nb = p->rows - r0 < tb ? p->rows - r0 : tb;
    const int row_out = p->what != CE_ROW_LSE;
    CE_T *buf = (CE_T *)malloc((size_t)((1 + row_out) * nb * n) * sizeof(CE_T));
    if (!buf) {
        for (npy_intp i = 0; i < nb; i++) CE_F(ce_transform_row)(pp, r0 + i);
        return 0;
    }
    ce_transform_problem q = *p;
    CE_F(ce_gather_rows)(buf, p->x + r0 * p->x_rs, p->x_rs, p->x_cs, nb, n);
    q.rows = nb;
    q.x = (const char *)buf; q.x_rs = n * sz; q.x_cs = sz;
    q.y = p->y + r0 * p->y_rs;
    if (row_out) { q.y = (char *)(buf + nb * n); q.y_rs = n * sz; q.y_cs = sz; }
    for (npy_intp i = 0; i < nb; i++) CE_F(ce_transform_row)(&q, i);
    if (row_out) CE_F(ce_scatter_rows)(p->y + r0 * p->y_rs, p->y_rs, p->y_cs, buf + nb * n, nb, n);
    free(buf);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * Probabilities: rescale by the row sum, clip, (focal-)weighted -t log c.  See ce_prob_problem. */
typedef struct {
    CE_T eps, hi, alpha, gamma, S, tie;
    int focal;
} CE_F(ce_prob_ctx);

/* The share of d clip(q) / dq passed at q: 1 strictly inside (eps, hi), `tie` on a bound, 0 outside. */
CE_INLINE CE_T CE_F(ce_clip_pass)(CE_T q, CE_T eps, CE_T hi, CE_T tie)
{
    /* NaN passes NaN: JAX's clip returns NaN and its gradient carries it */
    return (q > eps && q < hi) ? CE_K(1.0) : ((q == eps || q == hi) ? tie : (q != q ? q : CE_K(0.0)));
}

/* One element's loss term f and h = d f / d q (zero where the clip is active, a share at ties). */
CE_INLINE void CE_F(ce_prob_term)(const CE_F(ce_prob_ctx) *k, CE_T pj, CE_T tj, CE_T *f, CE_T *h)
{
    CE_T q = pj / k->S;
    CE_T c = q < k->eps ? k->eps : q;
    c = c > k->hi ? k->hi : c;
    CE_T lc = CE_F(ce_log)(c);
    CE_T pass = CE_F(ce_clip_pass)(q, k->eps, k->hi, k->tie);
    if (k->focal) {
        CE_T om = CE_K(1.0) - c;
        CE_T pw = k->gamma == 2 ? om * om : pow(om, k->gamma);
        CE_T dpw = k->gamma == 0 ? CE_K(0.0) : k->gamma * (k->gamma == 2 ? om : pow(om, k->gamma - 1));
        *f = k->alpha * pw * (-tj * lc);
        *h = pass != 0 ? pass * (k->alpha * (dpw * tj * lc - pw * tj / c)) : CE_K(0.0);
    } else {
        *f = -tj * lc;
        *h = pass != 0 ? pass * (-tj / c) : CE_K(0.0);
    }
}

CE_CLONES static int CE_F(ce_prob_row)(const void *pp, npy_intp i)
{
    const ce_prob_problem *p = (const ce_prob_problem *)pp;
    const npy_intp sz = (npy_intp)sizeof(CE_T), n = p->cols;
    const CE_T *x = (const CE_T *)(p->x + i * p->x_rs);
    const CE_T *t = p->t ? (const CE_T *)(p->t + i * p->t_rs) : NULL;
    CE_T *g = p->grad ? (CE_T *)(p->grad + i * p->g_rs) : NULL;
    npy_intp sx = p->x_cs / sz, st = p->t_cs / sz, sg = p->g_cs / sz;
    CE_T *loss = (CE_T *)(p->loss + i * p->loss_rs);
    CE_T r = p->r ? *(const CE_T *)(p->r + i * p->r_rs) : CE_K(1.0);
    CE_T a = (CE_T)p->a, b = (CE_T)p->b;
    int64_t y = -1;
    int flags = 0;
    if (p->lab) {
        int todo = CE_F(ce_row_label)(p->lab, p->lab_rs, p->lab_is64, p->ignore, i, n, loss, g, sg, &y);
        if (todo <= 0) return todo < 0 ? CE_ROW_BAD_LABEL : 0;
    }
    const CE_T *v = (const CE_T *)p->v;
    npy_intp sv = p->v_cs / sz;
#define CE_TGT(j) (((t ? a * t[(j) * st] + b : b) + ((j) == y ? CE_K(1.0) : CE_K(0.0))) * (v ? v[(j) * sv] : CE_K(1.0)))
    CE_F(ce_prob_ctx) k;
    k.eps = (CE_T)p->eps;
    k.hi = CE_K(1.0) - k.eps;
    k.tie = (CE_T)p->clip_tie;
    k.alpha = (CE_T)p->alpha;
    k.gamma = (CE_T)p->gamma;
    k.focal = p->focal;
    CE_T m = 0, s = 1, S = 0;
    if (p->from_logits) {
        CE_F(ce_lse_t) ls = CE_F(ce_lse_stats)(x, n, sx);
        if (!ls.finite) {
            *loss = (CE_T)NAN;
            if (g) CE_F(ce_fill)(g, n, sg, (CE_T)NAN);
            return flags;
        }
        m = ls.m;
        s = ls.s;
        CE_SIMD_REDUCE(+ : S)
        for (npy_intp j = 0; j < n; j++) S += CE_F(ce_exp)(x[j * sx] - m) / s;
    } else {
        CE_T lo_bad = 0;
        CE_SIMD_REDUCE(+ : S, lo_bad)
        for (npy_intp j = 0; j < n; j++) {
            CE_T pj = x[j * sx];
            S += pj;
            lo_bad += (pj < 0 || pj > 1) ? CE_K(1.0) : CE_K(0.0);
        }
        if (p->check) {
            if (lo_bad > 0) flags |= CE_ROW_OUT_OF_UNIT;
            if (fabs((double)S - 1.0) > CE_NORM_TOL) flags |= CE_ROW_NOT_NORMALISED;
        }
    }
    k.S = S;
#define CE_PROB(j) (p->from_logits ? CE_F(ce_exp)(x[(j) * sx] - m) / s : x[(j) * sx])
    CE_T total = 0, G = 0;
    for (npy_intp j = 0; j < n; j++) {
        CE_T f, h, pj = CE_PROB(j);
        CE_F(ce_prob_term)(&k, pj, CE_TGT(j), &f, &h);
        total += f;
        G += h * (pj / S);
    }
    *loss = total;
    if (g) {
        if (!p->from_logits) {
            for (npy_intp j = 0; j < n; j++) {
                CE_T f, h;
                CE_F(ce_prob_term)(&k, x[j * sx], CE_TGT(j), &f, &h);
                g[j * sg] = r * ((h - G) / S);
            }
        } else {
            /* through the softmax too: dx_k = p_k (dp_k - sum_j p_j dp_j) */
            CE_T D = 0;
            for (npy_intp j = 0; j < n; j++) {
                CE_T f, h, pj = CE_PROB(j);
                CE_F(ce_prob_term)(&k, pj, CE_TGT(j), &f, &h);
                D += pj * ((h - G) / S);
            }
            for (npy_intp j = 0; j < n; j++) {
                CE_T f, h, pj = CE_PROB(j);
                CE_F(ce_prob_term)(&k, pj, CE_TGT(j), &f, &h);
                g[j * sg] = r * (pj * ((h - G) / S - D));
            }
        }
    }
#undef CE_PROB
#undef CE_TGT
    return flags;
}

/* ---------------------------------------------------------------------------------------------------
 * Binary cross-entropy, element by element.  Returns the loss term and d loss / d x. */
CE_INLINE void CE_F(ce_binary_elem)(int mode, CE_T x, CE_T z, CE_T pw, int has_pw, CE_T eps, CE_T alpha,
                                    CE_T gamma, int from_logits, int balance, CE_T tie, CE_T *l, CE_T *g)
{
    if (mode == CE_BIN_LOGITS_TF || mode == CE_BIN_LOGITS_TORCH || mode == CE_BIN_LOGITS_TF_WEIGHTED ||
        mode == CE_BIN_LOGITS_KERAS) {
        CE_T ax = x < 0 ? -x : x;
        CE_T e = CE_F(ce_exp)(-ax);
        CE_T sp = CE_F(ce_log1p)(e);
        CE_T sig = x >= 0 ? CE_K(1.0) / (CE_K(1.0) + e) : e / (CE_K(1.0) + e);
        if (has_pw) {
            CE_T lw = CE_K(1.0) + (pw - CE_K(1.0)) * z;
            *l = (CE_K(1.0) - z) * x + lw * (sp + (x < 0 ? -x : CE_K(0.0)));
            *g = lw * sig - pw * z;
        } else if (mode == CE_BIN_LOGITS_TF) {
            *l = (x > 0 ? x : CE_K(0.0)) - x * z + sp;
            *g = sig - z;
        } else if (mode == CE_BIN_LOGITS_KERAS) {
            *l = (x > 0 ? (CE_K(1.0) - z) * x : -z * x) + sp;
            *g = sig - z;
        } else {
            *l = (CE_K(1.0) - z) * x + (sp + (x < 0 ? -x : CE_K(0.0)));
            *g = sig - z;
        }
        /* TF differentiates abs and relu with subgradient 0 at 0, so its weighted grad at x = 0 is 1 - z */
        if (mode == CE_BIN_LOGITS_TF_WEIGHTED && x == 0) *g = CE_K(1.0) - z;
    } else if (mode == CE_BIN_PROB_CLIP) {
        CE_T hi = CE_K(1.0) - eps;
        CE_T c = x < eps ? eps : x;
        c = c > hi ? hi : c;
        *l = -(z * CE_F(ce_log)(c) + (CE_K(1.0) - z) * CE_F(ce_log)(CE_K(1.0) - c));
        CE_T pass = CE_F(ce_clip_pass)(x, eps, hi, tie);
        *g = pass != 0 ? pass * (-z / c + (CE_K(1.0) - z) / (CE_K(1.0) - c)) : CE_K(0.0);
    } else if (mode == CE_BIN_PROB_TORCH) {
        CE_T lp = CE_F(ce_log)(x);
        CE_T l1p = CE_F(ce_log1p)(-x);
        lp = lp < CE_K(-100.0) ? CE_K(-100.0) : lp;
        l1p = l1p < CE_K(-100.0) ? CE_K(-100.0) : l1p;
        *l = (z - CE_K(1.0)) * l1p - z * lp;
        CE_T den = (CE_K(1.0) - x) * x;
        const CE_T tiny = (CE_T)1e-12f;   /* torch's EPS: the float32 constant, for float64 too */
        *g = (x - z) / (den < tiny ? tiny : den);
    } else { /* CE_BIN_FOCAL */
        CE_T pr = x;
        if (from_logits) {
            CE_T e = CE_F(ce_exp)(-(x < 0 ? -x : x));
            pr = x >= 0 ? CE_K(1.0) / (CE_K(1.0) + e) : e / (CE_K(1.0) + e);
        }
        CE_T hi = CE_K(1.0) - eps;
        CE_T c = pr < eps ? eps : pr;
        c = c > hi ? hi : c;
        CE_T bce = -(z * CE_F(ce_log)(c) + (CE_K(1.0) - z) * CE_F(ce_log)(CE_K(1.0) - c));
        CE_T pass = CE_F(ce_clip_pass)(pr, eps, hi, tie);
        CE_T dbce = pass != 0 ? pass * (-z / c + (CE_K(1.0) - z) / (CE_K(1.0) - c)) : CE_K(0.0);
        CE_T pt = z * pr + (CE_K(1.0) - z) * (CE_K(1.0) - pr);
        CE_T om = CE_K(1.0) - pt;
        CE_T ff = gamma == 2 ? om * om : pow(om, gamma);
        CE_T dff = gamma == 0 ? CE_K(0.0) : -gamma * (gamma == 2 ? om : pow(om, gamma - 1)) * (CE_K(2.0) * z - CE_K(1.0));
        CE_T wb = balance ? z * alpha + (CE_K(1.0) - z) * (CE_K(1.0) - alpha) : CE_K(1.0);
        *l = wb * (ff * bce);
        CE_T dp = wb * (dff * bce + ff * dbce);
        *g = from_logits ? dp * (pr * (CE_K(1.0) - pr)) : dp;
    }
}

CE_INLINE int CE_F(ce_binary_row_impl)(const ce_binary_problem *p, int mode, const CE_T *x, npy_intp sx,
                                       const CE_T *z, npy_intp sz_, const CE_T *w, npy_intp sw, const CE_T *pw,
                                       npy_intp spw, CE_T *lo, npy_intp sl, CE_T *g, npy_intp sg, npy_intp n,
                                       CE_T r)
{
    const CE_T za = (CE_T)p->za, zb = (CE_T)p->zb, eps = (CE_T)p->eps, alpha = (CE_T)p->alpha,
               gamma = (CE_T)p->gamma, div = (CE_T)p->row_loss_scale, gs = r * (CE_T)p->grad_scale;
    const int has_pw = pw != NULL, has_w = w != NULL, fl = p->from_logits, bal = p->balance;
    /* only the clipping modes read clip_tie (the gufuncs leave it unset) */
    const CE_T tie = (mode == CE_BIN_PROB_CLIP || mode == CE_BIN_FOCAL) ? (CE_T)p->clip_tie : CE_K(0.0);
    CE_T total = 0, out_of_unit = 0;
    CE_SIMD_REDUCE(+ : total, out_of_unit)
    for (npy_intp j = 0; j < n; j++) {
        CE_T xj = x[j * sx], l, gj;
        CE_F(ce_binary_elem)(mode, xj, za * z[j * sz_] + zb, has_pw ? pw[j * spw] : CE_K(1.0), has_pw, eps, alpha,
                             gamma, fl, bal, tie, &l, &gj);
        if (has_w) {
            l *= w[j * sw];
            gj *= w[j * sw];
        }
        if (sl) lo[j * sl] = l;
        else total += l;
        if (g) g[j * sg] = gs * gj;
        out_of_unit += (xj < 0 || xj > 1) ? CE_K(1.0) : CE_K(0.0);
    }
    if (!sl) *lo = total / div;
    return (p->check && out_of_unit > 0) ? CE_ROW_OUT_OF_UNIT : 0;
}

CE_CLONES static int CE_F(ce_binary_row)(const void *pp, npy_intp i)
{
    const ce_binary_problem *p = (const ce_binary_problem *)pp;
    const npy_intp sz = (npy_intp)sizeof(CE_T);
    npy_intp n = p->cols;
    if (p->flat_total > 0 && (i + 1) * p->cols > p->flat_total) n = p->flat_total - i * p->cols;
    const CE_T *x = (const CE_T *)(p->x + i * p->x_rs);
    const CE_T *z = (const CE_T *)(p->z + i * p->z_rs);
    const CE_T *w = p->w ? (const CE_T *)(p->w + i * p->w_rs) : NULL;
    const CE_T *pw = p->pw ? (const CE_T *)(p->pw + i * p->pw_rs) : NULL;
    CE_T *lo = (CE_T *)(p->loss + i * p->loss_rs);
    CE_T *g = p->grad ? (CE_T *)(p->grad + i * p->g_rs) : NULL;
    CE_T r = p->r ? *(const CE_T *)(p->r + i * p->r_rs) : CE_K(1.0);
    npy_intp sx = p->x_cs / sz, szz = p->z_cs / sz, sw = p->w_cs / sz, spw = p->pw_cs / sz, sl = p->loss_cs / sz,
             sg = p->g_cs / sz;
    int unit = sx == 1 && szz == 1 && (!w || sw == 1) && (!pw || spw == 1) && (!g || sg == 1) && sl <= 1;
#define CE_BIN_CASE(MODE)                                                                                     \
    case MODE:                                                                                                \
        if (unit && !w && !pw)                                                                                \
            return sl ? CE_F(ce_binary_row_impl)(p, MODE, x, 1, z, 1, NULL, 0, NULL, 0, lo, 1, g, 1, n, r)     \
                      : CE_F(ce_binary_row_impl)(p, MODE, x, 1, z, 1, NULL, 0, NULL, 0, lo, 0, g, 1, n, r);    \
        return CE_F(ce_binary_row_impl)(p, MODE, x, sx, z, szz, w, sw, pw, spw, lo, sl, g, sg, n, r);
    switch (p->mode) {
        CE_BIN_CASE(CE_BIN_LOGITS_TF)
        CE_BIN_CASE(CE_BIN_LOGITS_TORCH)
        CE_BIN_CASE(CE_BIN_PROB_CLIP)
        CE_BIN_CASE(CE_BIN_PROB_TORCH)
        CE_BIN_CASE(CE_BIN_LOGITS_TF_WEIGHTED)
        CE_BIN_CASE(CE_BIN_LOGITS_KERAS)
        default:
        CE_BIN_CASE(CE_BIN_FOCAL)
    }
#undef CE_BIN_CASE
}

#undef CE_K
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
#undef CE_XENT_CALL
