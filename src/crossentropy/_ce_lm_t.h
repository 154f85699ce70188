/* ---- language-model rows (ce_lm_problem) -------------------------------------------------------------
 * One sweep over the (soft-capped) row gives its max, the split sum of exps, the entropy sum, the label
 * smoothing sum and the label's rank (ce_lm_sweep); an epilogue turns them into the token statistics
 * (ce_lm_epilogue_stats) or Liger's loss and gradient coefficients (ce_lm_epilogue_loss); the loss's
 * gradient sweep (ce_lm_grad_sweep) follows.  Soft-capping happens on load. */

#ifndef CE_LM_SIMD_MAX_COUNT   /* the max-and-count loop's pragma (two reductions: CE_SIMD_REDUCE takes one) */
#ifdef CE_PRAGMA
#define CE_LM_SIMD_MAX_COUNT CE_PRAGMA(omp simd reduction(max : bm) reduction(+ : ab))
#else
#define CE_LM_SIMD_MAX_COUNT
#endif
#endif

#ifndef CE_LM_TANH_F64
#define CE_LM_TANH_F64
/* tanh(a) for the float element types, branch-free so the capping loops vectorise: in double,
 * (1 - e) / (1 + e) with e = exp(-2|a|) (its cancellation for small |a| costs double bits, not float ones),
 * and a (1 - a^2 / 3) below 2^-10.  NaN propagates; +-inf gives +-1. */
static inline double ce_lm_tanh_via_f64(double a)
{
    double aa = a < 0 ? -a : a;
    double e = ce_exp_f64(-2.0 * aa);
    double t = (1.0 - e) / (1.0 + e);
    t = aa < 0x1p-10 ? aa * (1.0 - aa * aa * (1.0 / 3.0)) : t;
    return a < 0 ? -t : t;
}
#endif

/* tanh(x / softcap), and the capped logit softcap * tanh(x / softcap) (x itself when cap == 0).  Float
 * compute types go through ce_lm_tanh_via_f64 (vectorised, correctly rounded but for rare ties); double
 * through the C library. */
CE_INLINE CE_T CE_F(ce_lm_tanh)(CE_T v, CE_T cap)
{
    if (sizeof(CE_T) == sizeof(double)) return (CE_T)tanh((double)v / (double)cap);
    return (CE_T)ce_lm_tanh_via_f64((double)v / (double)cap);
}

CE_INLINE CE_T CE_F(ce_lm_cap)(CE_T v, CE_T cap)
{
    return cap != 0 ? cap * CE_F(ce_lm_tanh)(v, cap) : v;
}

typedef struct {
    CE_T m;         /* max of the capped row */
    CE_T rest;      /* sum of exp(x'_j - m) over the entries below m */
    CE_T cnt;       /* how many entries equal m */
    CE_T ent;       /* sum exp(x'_j - m) (m - x'_j) >= 0 */
    CE_T dev;       /* sum (m - x'_j) >= 0 (only when asked for) */
    npy_intp above; /* entries strictly greater than the label's capped logit */
} CE_F(ce_lm_stats);

/* The sums of one block of capped values v[0..nb) relative to the running max m (in L1: its second pass). */
CE_INLINE void CE_F(ce_lm_block_sums)(const CE_T *v, npy_intp nb, CE_T m, int want_dev, double *acc, CE_S *keep)
{
    CE_T r_ = 0, c_ = 0, e_ = 0, d_ = 0;
    CE_SIMD_REDUCE(+ : r_, c_, e_, d_)
    for (npy_intp j = 0; j < nb; j++) {
        CE_T d = v[j] - m;
        CE_T e = CE_M(ce_exp)(d);
        if (keep) keep[j] = CE_ST(e);   /* for the gradient sweep (callers pass NULL or not as a constant) */
        r_ += d == 0 ? CE_K(0.0) : e;
        c_ += d == 0 ? CE_K(1.0) : CE_K(0.0);
        e_ += e == 0 ? CE_K(0.0) : e * -d;   /* a masked (-inf) entry adds 0, not 0 * inf */
        if (want_dev) d_ -= d;
    }
    acc[0] += r_; acc[1] += c_; acc[2] += e_; acc[3] += d_;
}

/* One read of the row, CE_LM_BLOCK elements at a time: a block is loaded (capped, widened) into a buffer
 * that stays in L1, its max taken, the running sums rescaled when the max grew (online softmax), and its
 * sums taken from the buffer.  Rows longer than L2 are thus read from memory once.  With `keep` (a
 * contiguous gradient row), each block's exps relative to the running max of its time, blk_m[b], are left
 * there for the gradient sweep. */
CE_INLINE void CE_F(ce_lm_sweep)(const CE_S *x, npy_intp n, npy_intp sx, CE_T cap, CE_T xy, int want_dev,
                                 CE_F(ce_lm_stats) *out, CE_S *keep, CE_T *blk_m)
{
    CE_T buf[CE_LM_BLOCK];
    double m = -INFINITY, acc[5] = {0, 0, 0, 0, 0};   /* rest, cnt, ent, dev, above */
    for (npy_intp j0 = 0; j0 < n; j0 += CE_LM_BLOCK) {
        const npy_intp nb = n - j0 < CE_LM_BLOCK ? n - j0 : CE_LM_BLOCK;
        const CE_S *xb = x + j0 * sx;
        const CE_T *v = buf;
#if CE_KEEP_EXPS   /* storage is the compute type: a plain contiguous block is read in place */
        if (cap == 0 && sx == 1) v = (const CE_T *)xb;
        else
#endif
        if (cap != 0) {
            CE_SIMD
            for (npy_intp j = 0; j < nb; j++) buf[j] = CE_F(ce_lm_cap)(CE_LD(xb[j * sx]), cap);
        } else {
            for (npy_intp j = 0; j < nb; j++) buf[j] = CE_LD(xb[j * sx]);
        }
        /* the block's max and its count of entries above the label's logit: this pass waits on memory, so the
         * count (a float: exact for a block, and it vectorises with the max) costs nothing here */
        CE_T bm = -(CE_T)INFINITY, ab = 0;
        CE_LM_SIMD_MAX_COUNT
        for (npy_intp j = 0; j < nb; j++) {
            bm = v[j] > bm ? v[j] : bm;   /* NaN never wins */
            ab += v[j] > xy ? CE_K(1.0) : CE_K(0.0);
        }
        acc[4] += ab;
        if (bm > m) {   /* the max grew: rescale what was summed relative to the old one */
            if (m > -INFINITY) {
                double shift = (double)bm - m, f = exp(-shift), s = acc[0] + acc[1];
                acc[2] = f * (acc[2] + shift * s);
                acc[0] = f * s;
                acc[1] = 0;
                acc[3] += shift * (double)j0;
            }
            m = bm;
        }
        if (keep) {
            blk_m[j0 / CE_LM_BLOCK] = (CE_T)m;
            CE_F(ce_lm_block_sums)(v, nb, (CE_T)m, want_dev, acc, keep + j0);
        } else {
            CE_F(ce_lm_block_sums)(v, nb, (CE_T)m, want_dev, acc, NULL);
        }
    }
    out->m = (CE_T)m; out->rest = (CE_T)acc[0]; out->cnt = (CE_T)acc[1]; out->ent = (CE_T)acc[2];
    out->dev = (CE_T)acc[3]; out->above = (npy_intp)acc[4];
}

/* Token statistics: lse = m + L, nll = L + (m - x'_y), entropy = L + ent / s (a sum of two non-negative
 * terms: never negative, and no cancellation on confident rows). */
CE_INLINE void CE_F(ce_lm_epilogue_stats)(const CE_F(ce_lm_stats) *st, CE_T xy, CE_T *nll, CE_T *lse, CE_T *ent)
{
    CE_T L = CE_M(ce_log1p)(st->rest + (st->cnt - CE_K(1.0)));
    *lse = st->m + L;
    *nll = L + (st->m - xy);
    *ent = L + st->ent / (st->rest + st->cnt);
}

/* Liger's loss: (1 - eps) nll + eps (lse - mean x') + z lse^2; its gradient
 * g_j = r ((1 + 2 z lse) p_j - (1 - eps) [j == y] - eps / n) (1 - t_j^2), t_j = x'_j / softcap. */
typedef struct {
    CE_T loss, coef, ycoef, ucoef;   /* g_j = (coef exp(x'_j - m) - ycoef [j == y] - ucoef) (1 - t_j^2) */
} CE_F(ce_lm_loss_epi);

CE_INLINE CE_F(ce_lm_loss_epi) CE_F(ce_lm_epilogue_loss)(const CE_F(ce_lm_stats) *st, CE_T xy, npy_intp n,
                                                         CE_T eps, CE_T z, CE_T r)
{
    CE_F(ce_lm_loss_epi) e;
    CE_T L = CE_M(ce_log1p)(st->rest + (st->cnt - CE_K(1.0)));
    CE_T lse = st->m + L;
    CE_T nll = L + (st->m - xy);
    e.loss = (CE_K(1.0) - eps) * nll;
    if (eps != 0) e.loss += eps * (L + st->dev / (CE_T)n);   /* lse - mean x' = L + mean (m - x') */
    if (z != 0) e.loss += z * lse * lse;
    e.coef = r * (CE_K(1.0) + CE_K(2.0) * z * lse) / (st->rest + st->cnt);
    e.ycoef = r * (CE_K(1.0) - eps);
    e.ucoef = r * eps / (CE_T)n;
    return e;
}

/* g_j from the epilogue's coefficients: from the exps the sweep kept in g (blk_m != NULL: block b's were
 * taken relative to blk_m[b]), or with x read again (and capped again); g may not be x. */
CE_INLINE void CE_F(ce_lm_grad_sweep)(const CE_S *x, npy_intp n, npy_intp sx, CE_T cap, CE_T m, int64_t y,
                                      const CE_F(ce_lm_loss_epi) *e, CE_S *g, npy_intp sg, const CE_T *blk_m)
{
    const CE_T coef = e->coef, ycoef = e->ycoef, ucoef = e->ucoef;
    if (blk_m) {
        for (npy_intp j0 = 0; j0 < n; j0 += CE_LM_BLOCK) {
            const npy_intp j1 = n - j0 < CE_LM_BLOCK ? n : j0 + CE_LM_BLOCK;
            const CE_T scale = coef * CE_M(ce_exp)(blk_m[j0 / CE_LM_BLOCK] - m);
            CE_SIMD
            for (npy_intp j = j0; j < j1; j++)
                g[j] = CE_ST(scale * CE_LD(g[j]) - (j == y ? ycoef : CE_K(0.0)) - ucoef);
        }
    } else if (cap != 0) {
        CE_SIMD
        for (npy_intp j = 0; j < n; j++) {
            CE_T t = CE_F(ce_lm_tanh)(CE_LD(x[j * sx]), cap);
            CE_T d = coef * CE_M(ce_exp)(cap * t - m) - (j == y ? ycoef : CE_K(0.0)) - ucoef;
            g[j * sg] = CE_ST(d * ((CE_K(1.0) - t) * (CE_K(1.0) + t)));
        }
    } else if (sx == 1 && sg == 1) {
        CE_SIMD
        for (npy_intp j = 0; j < n; j++)
            g[j] = CE_ST(coef * CE_M(ce_exp)(CE_LD(x[j]) - m) - (j == y ? ycoef : CE_K(0.0)) - ucoef);
    } else {
        for (npy_intp j = 0; j < n; j++)
            g[j * sg] = CE_ST(coef * CE_M(ce_exp)(CE_LD(x[j * sx]) - m) - (j == y ? ycoef : CE_K(0.0)) - ucoef);
    }
}

/* A row whose max is not finite: lse = -inf (all -inf), +inf (a +inf entry) or NaN (a NaN entry). */
CE_INLINE CE_T CE_F(ce_lm_lse_nonfinite)(const CE_S *x, npy_intp n, npy_intp sx, CE_T m)
{
    for (npy_intp j = 0; j < n; j++)
        if (CE_LD(x[j * sx]) != CE_LD(x[j * sx])) return (CE_T)NAN;
    return m;
}

/* One row of a ce_lm_problem: the token statistics (CE_LM_STATS) or the loss and gradient (CE_LM_LOSS). */
CE_CLONES static int CE_F(ce_lm_row)(const void *pp, npy_intp i)
{
    const ce_lm_problem *p = (const ce_lm_problem *)pp;
    const npy_intp n = p->cols, sx = p->x_cs / (npy_intp)sizeof(CE_S), sg = p->g_cs / (npy_intp)sizeof(CE_S);
    const CE_S *x = (const CE_S *)(p->x + i * p->x_rs);
    CE_S *g = p->grad ? (CE_S *)(p->grad + i * p->g_rs) : NULL;
    const CE_T cap = (CE_T)p->softcap;
    const int64_t y = ce_label_at(p->lab, p->lab_rs, i, p->lab_is64);
    const int ignored = y == p->ignore && p->ignore != CE_NO_LABEL;
    const int bad = !ignored && (y < 0 || y >= n);
    const CE_T xy = (ignored || bad) ? (CE_T)NAN : CE_F(ce_lm_cap)(CE_LD(x[y * sx]), cap);
    if (p->what == CE_LM_LOSS) {
        CE_T *loss = (CE_T *)(p->loss + i * p->loss_rs);
        if (ignored || bad) {
            *loss = bad ? (CE_T)NAN : CE_K(0.0);
            if (g) for (npy_intp j = 0; j < n; j++) g[j * sg] = CE_ST(bad ? (CE_T)NAN : CE_K(0.0));
            return bad ? CE_ROW_BAD_LABEL : 0;
        }
        CE_F(ce_lm_stats) st;
        CE_T blk_m[CE_LM_KEEP_BLOCKS];
        /* keep the exps in g when it is contiguous, the row not capped (the gradient needs tanh again anyway)
         * and short enough for the per-block maxima to fit here */
        const int keep = CE_KEEP_EXPS && g && sg == 1 && cap == 0 && n <= CE_LM_KEEP_BLOCKS * CE_LM_BLOCK;
        if (keep) CE_F(ce_lm_sweep)(x, n, sx, cap, xy, p->smoothing != 0, &st, g, blk_m);
        else CE_F(ce_lm_sweep)(x, n, sx, cap, xy, p->smoothing != 0, &st, NULL, NULL);
        if (!(st.m > -(CE_T)INFINITY && st.m < (CE_T)INFINITY)) {
            *loss = (CE_T)NAN;
            if (g) for (npy_intp j = 0; j < n; j++) g[j * sg] = CE_ST((CE_T)NAN);
            return 0;
        }
        CE_F(ce_lm_loss_epi) e = CE_F(ce_lm_epilogue_loss)(&st, xy, n, (CE_T)p->smoothing, (CE_T)p->z_loss,
                                                           (CE_T)p->grad_scale);
        *loss = e.loss;
        if (g) CE_F(ce_lm_grad_sweep)(x, n, sx, cap, st.m, y, &e, g, sg, keep ? blk_m : NULL);
        return 0;
    }
    CE_T *nll = (CE_T *)(p->nll + i * p->nll_rs), *lse = (CE_T *)(p->lse + i * p->lse_rs);
    CE_T *ent = (CE_T *)(p->ent + i * p->ent_rs);
    int64_t *rank = (int64_t *)(p->rank + i * p->rank_rs);
    CE_F(ce_lm_stats) st;
    CE_F(ce_lm_sweep)(x, n, sx, cap, xy, 0, &st, NULL, NULL);   /* a NaN xy counts nothing above it */
    if (st.m > -(CE_T)INFINITY && st.m < (CE_T)INFINITY) {
        CE_F(ce_lm_epilogue_stats)(&st, xy, nll, lse, ent);
    } else {
        *lse = CE_F(ce_lm_lse_nonfinite)(x, n, sx, st.m);
        *nll = *ent = (CE_T)NAN;
    }
    *rank = (ignored || bad) ? -1 : (int64_t)st.above;
    if (ignored) *nll = 0;
    if (bad) *nll = (CE_T)NAN;
    return bad ? CE_ROW_BAD_LABEL : 0;
}
