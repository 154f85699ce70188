/* Sweeps over one row, for one element type (see _rowmath.c): max, the split sum of exps, the target dot
 * products of the softmax cross-entropy, fills and the label check.  They compute the row STATISTICS; the
 * losses (_ce_losses_t.h) turn statistics into a loss and gradient coefficients.  Column strides are in
 * elements; every element is read through CE_LD (storage -> compute type) and written through CE_ST. */

/* m = max(x).  NaN never wins here; it propagates through the exp sums instead. */
CE_INLINE CE_T CE_F(ce_max_impl)(const CE_S *x, npy_intp n, npy_intp sx)
{
    CE_T m = -(CE_T)INFINITY;
    CE_SIMD_REDUCE(max : m)
    for (npy_intp j = 0; j < n; j++) {
        CE_T v = CE_LD(x[j * sx]);
        m = v > m ? v : m;
    }
    return m;
}

/* How a sweep's kept exps relate to exp(x_j - m): the kept value times ks.  The guarded sweeps keep
 * exp(x_j - m) itself (ks = 1), the clamp-free ones exps relative to ce_exp_rel's reference point.  kmax: what
 * the entries equal to m hold, exactly, where the sweep marks them (1 in the guarded sweeps, and in the dense
 * clamp-free sweep for its gradient's at-max test), else NaN. */
typedef struct { CE_T ks, kmax; } CE_F(ce_kept_t);

/* coef exp(x_j - m) from a kept value e: coef itself at a marked max (as exact as exp(0) = 1), kcoef e
 * elsewhere, kcoef = coef ks */
CE_INLINE CE_T CE_F(ce_kept_scaled)(CE_T e, CE_F(ce_kept_t) k, CE_T coef, CE_T kcoef)
{
    return e == k.kmax ? coef : kcoef * e;
}

/* coef exp(x_j - m) from a kept exp e (the unmarked ones of ce_expsum_rel included): kcoef e, kcoef = coef ks.
 * In a confident row (s = cnt + rest rounds to cnt: the other exps are below 2^-23 of the max's) the entries
 * at the max, kept values over 1/2, take coef itself: p = 1/cnt exactly, as the frameworks give it. */
CE_INLINE CE_T CE_F(ce_kept_value)(CE_T e, CE_T coef, CE_T kcoef, int confident)
{
    return confident && e > CE_K(0.5) ? coef : kcoef * e;
}

/* ce_kept_value over a row (confident a constant in each loop) */
CE_INLINE void CE_F(ce_kept_scale_row)(CE_SG *y, const CE_T *keep, npy_intp n, CE_T coef, CE_T kcoef, int confident)
{
    if (confident) {
        CE_SIMD
        for (npy_intp j = 0; j < n; j++) y[j] = CE_STG(CE_F(ce_kept_value)(keep[j], coef, kcoef, 1));
    } else {
        CE_SIMD
        for (npy_intp j = 0; j < n; j++) y[j] = CE_STG(CE_F(ce_kept_value)(keep[j], coef, kcoef, 0));
    }
}

/* The sum of exp(x - m), split into the terms equal to the max (cnt, each exactly 1) and the rest, so that
 * L = log1p(rest + cnt - 1) keeps a confident row's tiny loss (logits [-40, 0] give 4.2e-18, not 0).
 * The exps are optionally kept in `keep` for the gradient sweep, as they are (see ce_kept_t). */
CE_INLINE CE_F(ce_kept_t) CE_F(ce_expsum_impl)(const CE_S *x, npy_intp n, npy_intp sx, CE_T m, CE_T *rest_out,
                                               CE_T *cnt_out, CE_T *keep, npy_intp sk)
{
    double rest_all = 0, cnt_all = 0;   /* blocks summed in double: float32 rows of 10^5+ stay accurate */
    const npy_intp sb = ce_sum_block(sizeof(CE_T));
    for (npy_intp j0 = 0; j0 < n; j0 += sb) {
        npy_intp j1 = n - j0 > sb ? j0 + sb : n;
        CE_T rest = 0, cnt = 0;
        CE_SIMD_REDUCE(+ : rest, cnt)
        for (npy_intp j = j0; j < j1; j++) {
            CE_T xj = CE_LD(x[j * sx]), d = xj - m;
            CE_T e = CE_M(ce_exp_sub)(xj, m);
            rest += d == 0 ? CE_K(0.0) : e;
            cnt += d == 0 ? CE_K(1.0) : CE_K(0.0);
            if (keep) keep[j * sk] = e;   /* callers pass NULL or not as a constant */
        }
        rest_all += rest;
        cnt_all += cnt;
    }
    *rest_out = (CE_T)rest_all;
    *cnt_out = (CE_T)cnt_all;
    CE_F(ce_kept_t) k = {CE_K(1.0), CE_K(1.0)};
    return k;
}

#ifndef CE_SIMD_SUMS_NEXT_MAX   /* sums and the next row's max in one loop (CE_SIMD_REDUCE takes one reduction) */
#ifdef CE_PRAGMA
#define CE_SIMD_SUMS_NEXT_MAX(...) CE_PRAGMA(omp simd reduction(+ : __VA_ARGS__) reduction(max : mn))
#else
#define CE_SIMD_SUMS_NEXT_MAX(...)
#endif
#endif

/* How many entries of a block equal the max, from the block's sums of exps (ce_exp_rel) with (tot) and
 * without (rest) them: each such entry adds top = 1 / inv_top to tot (to an ulp), and the two sums' rounding
 * errors stay below 0.02 each for blocks of ce_sum_block() (at most 1024) exps of at most 1.42, so rounding the
 * difference over top recovers the count (a few operations per block instead of a masked count per
 * element).  NaN stays NaN. */
CE_INLINE CE_T CE_F(ce_count_at_max)(CE_T tot, CE_T rest, double inv_top)
{
    return (CE_T)rint(((double)tot - (double)rest) * inv_top);
}

/* ce_expsum_impl for a contiguous row with |m| <= CE_REL_MAX (the exps by ce_exp_rel): rest and cnt as
 * there, the exps kept relative to ce_exp_rel's reference point, unmarked (returned: see ce_kept_t).  With
 * nx (the next row, as long), that row's max is taken in the same loop and returned: its first read, from
 * memory, then overlaps this row's exps, which run from the cache (the max sweep alone waits on memory).
 * has_nx, a constant at each call site: 0 takes no max (nx and nmax_out unused).  With wn (or NULL), the next
 * half row is widened block by block after each block's exps (see ce_widen_next); with bh (or NULL), the
 * table exps store the previous row's output along (ce_store_behind).  The table exps also
 * prefetch the rows after the next one where that pays (ce_pf_next_row: long rows' forward; on Intel CPUs
 * every row). */
CE_INLINE CE_F(ce_kept_t) CE_F(ce_expsum_rel)(const CE_S *x, npy_intp n, CE_T m, CE_T *rest_out, CE_T *cnt_out,
                                              CE_T *keep, int has_nx, const CE_S *nx, CE_T *nmax_out,
                                              ce_widen_next *wn, ce_store_behind *bh)
{
    float wmax = -INFINITY;
    const CE_M(ce_exp_rel_t) er = CE_M(ce_exp_rel_row)(m);
    double rest_all = 0, cnt_all = 0, inv_top = er.inv_top;
    CE_T mn = -(CE_T)INFINITY;
#define CE_EXPSUM_REL_BODY                                                          \
    CE_T xj = CE_LD(x[j]), e = CE_M(ce_exp_rel)(xj, er);                            \
    rest += xj == m ? CE_K(0.0) : e;                                                \
    tot += e;                                                                       \
    if (keep) keep[j] = e;   /* callers pass NULL or not as a constant */
    npy_intp sb = ce_sum_block(sizeof(CE_T));
#if CE_EXP_TABLE
    /* contiguous float32 and half rows on the AVX-512 and AVX2 paths: the table exps (_ce_exp_table.h) */
    const int table = CE_TABLE_KIND >= 0 ? ce_simd_level() : 0;
    const uintptr_t pf = ce_pf_next_row(nx, n * (npy_intp)sizeof(CE_S), table, keep != NULL);
    /* float32 rows keep their exps in the caller's row (the gradient, the output), half rows in scratch; the
     * streamed float32 gradient rows (ce_grad_rows_streamed) in a scratch row too, which this prefetches for
     * nothing (it stays in L2; leaving it out measured within noise) */
    const uintptr_t pfk = sizeof(CE_S) == sizeof(float) ? ce_pf_kept_row(keep, n * (npy_intp)sizeof(float)) : 0;
    /* the table exps' reference point is their own (see CE_TABLE_LN2) */
    if (table >= 3) inv_top = CE_M(ce_exp_near0)(ce_exp_table_ref((float)m) - (double)m);
    /* the table blocks bound their float32 sums themselves (CE_TABLE_LANE_ADDS): the whole row in one (up to
     * CE_TABLE_CALL_MAX), unless the next half row is widened block by block */
    if (table >= 3 && !wn && n > sb) sb = n < CE_TABLE_CALL_MAX ? n : CE_TABLE_CALL_MAX;
    /* how the blocks leave m out of the sums: by the position of its first entry, or by a compare */
    const npy_intp skip = table >= 3 ? ce_table_skip_for(table, CE_TABLE_KIND, x, n, (float)m, keep != NULL, n <= sb)
                                     : CE_TABLE_COUNT;
#endif
    const CE_F(ce_kept_t) kept = {(CE_T)inv_top, (CE_T)NAN};   /* the max entries unmarked */
    for (npy_intp j0 = 0; j0 < n; j0 += sb) {
        npy_intp j1 = n - j0 > sb ? j0 + sb : n;
#if CE_EXP_TABLE
        if (table >= 3) {
            float *kb = keep ? (float *)keep + j0 : NULL;
            const npy_intp bskip = skip == CE_TABLE_COUNT || skip == CE_TABLE_FIND ? skip
                                   : (skip >= j0 && skip < j1 ? skip - j0 : -1);
            ce_exp_table_sums s = ce_exp_block(table, CE_TABLE_KIND, x + j0, j1 - j0, (float)m, (float)er.xlo, kb,
                                               has_nx ? nx + j0 : NULL, pf ? pf + (uintptr_t)(j0 * sizeof(CE_S)) : 0,
                                               pfk ? pfk + (uintptr_t)(j0 * sizeof(float)) : 0, bskip, bh);
            rest_all += s.rest;
            cnt_all += s.cnt;   /* counted by the block */
            if (has_nx) mn = s.nmax > mn ? (CE_T)s.nmax : mn;
        } else
#endif
        {
            CE_T rest = 0, tot = 0;
            CE_SIMD_SUMS_NEXT_MAX(rest, tot)
            for (npy_intp j = j0; j < j1; j++) {
                CE_EXPSUM_REL_BODY
                if (has_nx) {
                    CE_T v = CE_LD(nx[j]);
                    mn = v > mn ? v : mn;   /* NaN never wins, as in ce_max_impl */
                }
            }
            rest_all += rest;
            cnt_all += CE_F(ce_count_at_max)(tot, rest, inv_top);
        }
        if (wn) {   /* the next half row's block, from memory, while this row's exps ran from the cache */
            float wm = wn->widen(wn->h + j0, wn->f + j0, j1 - j0);
            wmax = wm > wmax ? wm : wmax;
        }
    }
#undef CE_EXPSUM_REL_BODY
    *rest_out = (CE_T)(rest_all * inv_top);
    *cnt_out = (CE_T)cnt_all;
    if (has_nx) *nmax_out = mn;
    if (wn) { wn->max = wmax; wn->done = 1; }
    return kept;
}

/* The value of a row's log-sum-exp when its max is not finite: -inf for an empty or all -inf row, +inf
 * with a +inf entry, NaN with a NaN entry. */
CE_INLINE CE_T CE_F(ce_lse_nonfinite)(const CE_S *x, npy_intp n, npy_intp sx, CE_T m)
{
    for (npy_intp j = 0; j < n; j++)
        if (CE_LD(x[j * sx]) != CE_LD(x[j * sx])) return (CE_T)NAN;
    return m;
}

/* Row statistics of the log-softmax: lse = m + L, s = sum exp(x - m) (cnt of it at the max).  finite = 0
 * when m is not finite.  keep: NULL, or a contiguous row that receives the exps when m is finite, as `kept`
 * says (it may be x itself: x_j is read before keep_j is written); callers pass NULL or not as a constant. */
typedef struct { CE_T m, L, s, cnt; CE_F(ce_kept_t) kept; int finite; } CE_F(ce_lse_t);

/* ce_lse_stats given the row's max when known (m_known, else NaN), taking the max of nx (the next contiguous
 * row, or NULL) into *nmax when its sweep can (left alone when it does not), as ce_xent_logits_impl does */
CE_INLINE CE_F(ce_lse_t) CE_F(ce_lse_stats_carry)(const CE_S *x, npy_intp n, npy_intp sx, CE_T *keep, CE_T m_known,
                                                 const CE_S *nx, CE_T *nmax)
{
    CE_F(ce_lse_t) st;
    CE_T rest, cnt;
    st.m = m_known == m_known ? m_known : sx == 1 ? CE_F(ce_max_impl)(x, n, 1) : CE_F(ce_max_impl)(x, n, sx);
    st.finite = st.m > -(CE_T)INFINITY && st.m < (CE_T)INFINITY;
    if (!st.finite) {
        st.L = 0; st.s = 0; st.cnt = 0;
        return st;
    }
    if (sx == 1 && fabs((double)st.m) <= CE_REL_MAX && nx)
        st.kept = CE_F(ce_expsum_rel)(x, n, st.m, &rest, &cnt, keep, 1, nx, nmax, NULL, NULL);
    else if (sx == 1 && fabs((double)st.m) <= CE_REL_MAX)
        st.kept = CE_F(ce_expsum_rel)(x, n, st.m, &rest, &cnt, keep, 0, NULL, NULL, NULL, NULL);
    else if (sx == 1) st.kept = CE_F(ce_expsum_impl)(x, n, 1, st.m, &rest, &cnt, keep, 1);
    else st.kept = CE_F(ce_expsum_impl)(x, n, sx, st.m, &rest, &cnt, keep, 1);
    st.L = CE_M(ce_log1p)(rest + (cnt - CE_K(1.0)));
    st.s = cnt + rest;
    st.cnt = cnt;
    return st;
}

CE_INLINE CE_F(ce_lse_t) CE_F(ce_lse_stats)(const CE_S *x, npy_intp n, npy_intp sx, CE_T *keep)
{
    return CE_F(ce_lse_stats_carry)(x, n, sx, keep, (CE_T)NAN, NULL, NULL);
}

CE_INLINE void CE_F(ce_fill)(CE_SG *g, npy_intp n, npy_intp sg, CE_T v)
{
    for (npy_intp j = 0; j < n; j++) g[j * sg] = CE_STG(v);
}

/* Row i's label: rows with the ignored label get loss 0 and grad 0, rows with a label outside [0, n) get
 * NaN.  Returns 1 when the row is still to be computed (label in *y), 0 when ignored, -1 when bad. */
CE_INLINE int CE_F(ce_row_label)(const char *lab, npy_intp lab_rs, int is64, int64_t ignore, npy_intp i,
                                 npy_intp n, CE_SR *loss, CE_SG *g, npy_intp sg, int64_t *y)
{
    *y = ce_label_at(lab, lab_rs, i, is64);
    /* CE_NO_LABEL (INT64_MIN) means "nothing ignored": a label equal to it is out of range, not ignored */
    if (*y == ignore && ignore != CE_NO_LABEL) {
        *loss = CE_STR(CE_K(0.0));
        if (g) CE_F(ce_fill)(g, n, sg, CE_K(0.0));
        return 0;
    }
    if (*y < 0 || *y >= n) {
        *loss = CE_STR((CE_T)NAN);
        if (g) CE_F(ce_fill)(g, n, sg, (CE_T)NAN);
        return -1;
    }
    return 1;
}

/* The composite target t'_j = v_j (a t_j + b + c [j == y]) of ce_xent_problem.  has_t / has_v / has_lab are
 * compile-time constants at each call site, so the common cases compile to tight loops. */
CE_INLINE CE_T CE_F(ce_target)(const CE_S *t, npy_intp st, const CE_S *v, npy_intp sv, npy_intp j, int64_t y,
                               CE_T a, CE_T b, CE_T c, int has_t, int has_v, int has_lab)
{
    CE_T tj = b;
    if (has_t) tj += a * CE_LD(t[j * st]);
    if (has_lab) tj += (j == y) ? c : CE_K(0.0);
    if (has_v) tj *= CE_LD(v[j * sv]);
    return tj;
}

/* The statistics of one softmax cross-entropy row: everything an epilogue needs. */
typedef struct {
    CE_T m;      /* max(x), finite */
    CE_T rest;   /* sum of exp(x_j - m) over the non-max entries */
    CE_T cnt;    /* how many entries equal m */
    CE_T S;      /* sum t' */
    CE_T dot;    /* sum t'_j (m - x_j) */
    CE_T L;      /* log1p(rest + cnt - 1): lse = m + L (ce_xent_L; the block kernel computes it vectorised) */
    CE_F(ce_kept_t) kept;   /* how the exps kept for the gradient sweep relate to exp(x_j - m) */
} CE_F(ce_xent_stats);

/* log1p of the split sum: lse = m + L */
CE_INLINE CE_T CE_F(ce_xent_L)(const CE_F(ce_xent_stats) *st)
{
    return CE_M(ce_log1p)(st->rest + (st->cnt - CE_K(1.0)));
}

/* The statistics sweep of the softmax cross-entropy (exps split as in ce_expsum_impl, S, dot); exps
 * optionally kept in `keep` for the gradient sweep. */
CE_INLINE void CE_F(ce_xent_sums_impl)(const CE_S *x, npy_intp sx, const CE_S *t, npy_intp st, const CE_S *v,
                                       npy_intp sv, npy_intp n, int64_t y, CE_T a, CE_T b, CE_T c, CE_T m,
                                       int has_t, int has_v, int has_lab, CE_T *keep, npy_intp sk,
                                       CE_F(ce_xent_stats) *out)
{
    double rest_all = 0, cnt_all = 0, S_all = 0, dot_all = 0;
    const npy_intp sb = ce_sum_block(sizeof(CE_T));
    for (npy_intp j0 = 0; j0 < n; j0 += sb) {
        npy_intp j1 = n - j0 > sb ? j0 + sb : n;
        CE_T rest = 0, cnt = 0, S = 0, dot = 0;
        CE_SIMD_REDUCE(+ : rest, cnt, S, dot)
        for (npy_intp j = j0; j < j1; j++) {
            CE_T xj = CE_LD(x[j * sx]), d = xj - m;
            CE_T e = CE_M(ce_exp_sub)(xj, m);
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
    out->m = m;
    out->rest = (CE_T)rest_all; out->cnt = (CE_T)cnt_all; out->S = (CE_T)S_all; out->dot = (CE_T)dot_all;
    out->kept.ks = CE_K(1.0); out->kept.kmax = CE_K(1.0);
}

/* ce_xent_sums_impl for contiguous rows with |m| <= CE_REL_MAX (exps by ce_exp_rel, kept as ce_expsum_rel
 * keeps them), taking the max of the next row nx in the same loop as ce_expsum_rel does. */
CE_INLINE void CE_F(ce_xent_sums_rel)(const CE_S *x, const CE_S *t, const CE_S *v, npy_intp n, int64_t y, CE_T a,
                                      CE_T b, CE_T c, CE_T m, int has_t, int has_v, int has_lab, CE_T *keep,
                                      const CE_S *nx, CE_T *nmax_out, CE_F(ce_xent_stats) *out)
{
    const CE_M(ce_exp_rel_t) er = CE_M(ce_exp_rel_row)(m);
    double rest_all = 0, cnt_all = 0, S_all = 0, dot_all = 0;
    const CE_F(ce_kept_t) kept = {(CE_T)er.inv_top, (CE_T)er.top};
    CE_T mn = -(CE_T)INFINITY;
#define CE_XENT_SUMS_REL_BODY                                                               \
    CE_T xj = CE_LD(x[j]), d = xj - m;                                                      \
    CE_T e = CE_M(ce_exp_rel)(xj, er);                                                      \
    rest += xj == m ? CE_K(0.0) : e;                                                        \
    tot += e;                                                                               \
    CE_T tj = CE_F(ce_target)(t, 1, v, 1, j, y, a, b, c, has_t, has_v, has_lab);            \
    S += tj;                                                                                \
    dot += (tj != 0 && d != 0) ? tj * -d : CE_K(0.0);   /* as in ce_xent_sums_impl */       \
    if (keep) keep[j] = d == 0 ? kept.kmax : e;
    const npy_intp sb = ce_sum_block(sizeof(CE_T));
    for (npy_intp j0 = 0; j0 < n; j0 += sb) {
        npy_intp j1 = n - j0 > sb ? j0 + sb : n;
        CE_T rest = 0, tot = 0, S = 0, dot = 0;
        CE_SIMD_SUMS_NEXT_MAX(rest, tot, S, dot)
        for (npy_intp j = j0; j < j1; j++) {
            CE_XENT_SUMS_REL_BODY
            CE_T vn = CE_LD(nx[j]);
            mn = vn > mn ? vn : mn;
        }
        rest_all += rest; cnt_all += CE_F(ce_count_at_max)(tot, rest, er.inv_top); S_all += S; dot_all += dot;
    }
#undef CE_XENT_SUMS_REL_BODY
    out->m = m;
    out->rest = (CE_T)(rest_all * er.inv_top); out->cnt = (CE_T)cnt_all; out->S = (CE_T)S_all;
    out->dot = (CE_T)dot_all;
    out->kept = kept;
    *nmax_out = mn;
}

/* The gradient sweep: g_j = coef * e_j - tcoef * t'_j, with e_j = exp(x_j - m) read back from kv (kept by
 * the statistics sweep as `kept` says: g itself, or a compute-type scratch row when g is narrower) or
 * recomputed.  With dense targets, the entries equal to the max take the cancellation-free form
 * fx + fb (((fK - t'_j) - t'_j fcm1) - t'_j frest) of the same value (ce_xent_grad_at_max); sparse rows fix
 * their one label entry after the sweep instead. */
CE_INLINE void CE_F(ce_xent_grad_sweep)(const CE_S *x, npy_intp sx, const CE_S *t, npy_intp st, const CE_S *v,
                                        npy_intp sv, npy_intp n, int64_t y, CE_T a, CE_T b, CE_T c, CE_T m,
                                        CE_T coef, CE_T tcoef, CE_T fx, CE_T fb, CE_T fK, CE_T fcm1, CE_T frest,
                                        int has_t, int has_v, int has_lab, const CE_T *kv, npy_intp skv,
                                        CE_F(ce_kept_t) kept, CE_SG *g, npy_intp sg)
{
    if (kv) {
        const CE_T kcoef = coef * kept.ks;
        CE_SIMD
        for (npy_intp j = 0; j < n; j++) {
            CE_T tj = CE_F(ce_target)(t, st, v, sv, j, y, a, b, c, has_t, has_v, has_lab);
            CE_T ej = kv[j * skv], gj = CE_F(ce_kept_scaled)(ej, kept, coef, kcoef) - tcoef * tj;
            if (has_t) gj = ej == kept.kmax ? fx + fb * (((fK - tj) - tj * fcm1) - tj * frest) : gj;
            g[j * sg] = CE_STG(gj);
        }
    } else {
        CE_SIMD
        for (npy_intp j = 0; j < n; j++) {
            CE_T tj = CE_F(ce_target)(t, st, v, sv, j, y, a, b, c, has_t, has_v, has_lab);
            CE_T ej = CE_M(ce_exp_sub)(CE_LD(x[j * sx]), m), gj = coef * ej - tcoef * tj;
            if (has_t) gj = ej == CE_K(1.0) ? fx + fb * (((fK - tj) - tj * fcm1) - tj * frest) : gj;
            g[j * sg] = CE_STG(gj);
        }
    }
}

/* ---- language-model rows (ce_lm_problem) -------------------------------------------------------------
 * One sweep over the (soft-capped) row gives its max, the split sum of exps, the entropy sum, the label
 * smoothing sum and the label's rank (ce_lm_sweep); an epilogue turns them into the token statistics
 * (ce_lm_epilogue_stats) or Liger's loss and gradient coefficients (ce_lm_epilogue_loss); the loss's
 * gradient sweep (ce_lm_grad_sweep) follows.  Soft-capping happens on load.  Every exp argument is taken
 * relative to a running or final max (<= 0), so the cheaper ce_exp_nonpos serves. */

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
CE_INLINE void CE_F(ce_lm_block_sums)(const CE_T *v, npy_intp nb, CE_T m, int want_dev, double *acc, CE_SG *keep)
{
    CE_T r_ = 0, c_ = 0, e_ = 0, d_ = 0;
    CE_SIMD_REDUCE(+ : r_, c_, e_, d_)
    for (npy_intp j = 0; j < nb; j++) {
        CE_T d = v[j] - m;
        CE_T e = CE_M(ce_exp_nonpos)(d);
        if (keep) keep[j] = CE_STG(e);   /* for the gradient sweep (callers pass NULL or not as a constant) */
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
                                 CE_F(ce_lm_stats) *out, CE_SG *keep, CE_T *blk_m)
{
    CE_T buf[CE_LM_BLOCK];
    double m = -INFINITY, acc[5] = {0, 0, 0, 0, 0};   /* rest, cnt, ent, dev, above */
    for (npy_intp j0 = 0; j0 < n; j0 += CE_LM_BLOCK) {
        const npy_intp nb = n - j0 < CE_LM_BLOCK ? n - j0 : CE_LM_BLOCK;
        const CE_S *xb = x + j0 * sx;
        const CE_T *v = buf;
        /* storage is the compute type (the sizes tell, at compile time): a plain contiguous block is read in place */
        if (sizeof(CE_S) == sizeof(CE_T) && cap == 0 && sx == 1) v = (const CE_T *)xb;
#ifdef CE_WIDEN_ROW
        else if (cap == 0 && sx == 1) CE_WIDEN_ROW(xb, buf, nb);   /* a half block: the CPU's conversions */
#endif
        else if (cap != 0) {
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

/* g_j from the epilogue's coefficients: from the exps the sweep kept in g (blk_m != NULL: block b's were
 * taken relative to blk_m[b]), or with x read again (and capped again); g may not be x. */
CE_INLINE void CE_F(ce_lm_grad_sweep)(const CE_S *x, npy_intp n, npy_intp sx, CE_T cap, CE_T m, int64_t y,
                                      CE_T coef, CE_T ycoef, CE_T ucoef, CE_SG *g, npy_intp sg, const CE_T *blk_m)
{
    if (blk_m) {
        for (npy_intp j0 = 0; j0 < n; j0 += CE_LM_BLOCK) {
            const npy_intp j1 = n - j0 < CE_LM_BLOCK ? n : j0 + CE_LM_BLOCK;
            const CE_T scale = coef * CE_M(ce_exp_nonpos)(blk_m[j0 / CE_LM_BLOCK] - m);
            CE_SIMD
            for (npy_intp j = j0; j < j1; j++)
                g[j] = CE_STG(scale * CE_LDG(g[j]) - (j == y ? ycoef : CE_K(0.0)) - ucoef);
        }
    } else if (cap != 0) {
        CE_SIMD
        for (npy_intp j = 0; j < n; j++) {
            CE_T t = CE_F(ce_lm_tanh)(CE_LD(x[j * sx]), cap);
            CE_T d = coef * CE_M(ce_exp_nonpos)(cap * t - m) - (j == y ? ycoef : CE_K(0.0)) - ucoef;
            g[j * sg] = CE_STG(d * ((CE_K(1.0) - t) * (CE_K(1.0) + t)));
        }
    } else if (sx == 1 && sg == 1) {
        CE_SIMD
        for (npy_intp j = 0; j < n; j++)
            g[j] = CE_STG(coef * CE_M(ce_exp_nonpos)(CE_LD(x[j]) - m) - (j == y ? ycoef : CE_K(0.0)) - ucoef);
    } else {
        for (npy_intp j = 0; j < n; j++)
            g[j * sg] = CE_STG(coef * CE_M(ce_exp_nonpos)(CE_LD(x[j * sx]) - m) - (j == y ? ycoef : CE_K(0.0)) - ucoef);
    }
}

/* ---- row statistics (ce_stats_problem) ---------------------------------------------------------------
 * min, max and sum of a row from one read.  NaN never wins the min / max comparisons but makes the sum NaN,
 * so a NaN sum sends the row through a second look that sets min and max to NaN when it holds a NaN (a row
 * with both infinities has a NaN sum too, and keeps its min -inf and max +inf). */

#ifndef CE_STATS_SIMD   /* three reductions of two kinds: CE_SIMD_REDUCE takes one kind */
#ifdef CE_PRAGMA
#define CE_STATS_SIMD CE_PRAGMA(omp simd reduction(min : lo) reduction(max : hi) reduction(+ : s))
#else
#define CE_STATS_SIMD
#endif
#endif

typedef struct { CE_T min, max, sum; } CE_F(ce_minmaxsum_t);

CE_INLINE CE_F(ce_minmaxsum_t) CE_F(ce_minmaxsum_impl)(const CE_S *x, npy_intp n, npy_intp sx)
{
    CE_T lo = (CE_T)INFINITY, hi = -(CE_T)INFINITY;
    double total = 0;   /* blocks summed in the compute type, added into a double (as ce_expsum_impl) */
    if (n <= CE_SMALL_COLS) {   /* too short to fill vectors: a scalar loop (in column order) is faster */
        CE_T s = 0;
        for (npy_intp j = 0; j < n; j++) {
            CE_T v = CE_LD(x[j * sx]);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            s += v;
        }
        total = s;
    }
    const npy_intp sb = ce_sum_block(sizeof(CE_T));
    for (npy_intp j0 = n <= CE_SMALL_COLS ? n : 0; j0 < n; j0 += sb) {
        npy_intp j1 = n - j0 > sb ? j0 + sb : n;
        CE_T s = 0;
        CE_STATS_SIMD
        for (npy_intp j = j0; j < j1; j++) {
            CE_T v = CE_LD(x[j * sx]);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            s += v;
        }
        total += s;
    }
    CE_F(ce_minmaxsum_t) st;
    st.min = lo; st.max = hi; st.sum = (CE_T)total;
    if (total != total) {   /* rare: a NaN, or both infinities */
        for (npy_intp j = 0; j < n; j++) {
            if (CE_LD(x[j * sx]) != CE_LD(x[j * sx])) {
                st.min = st.max = (CE_T)NAN;
                break;
            }
        }
    }
    return st;
}
