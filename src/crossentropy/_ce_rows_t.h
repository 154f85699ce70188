/* Row kernels for one element type (see _rowmath.c): each reads its problem struct, runs the sweeps
 * (_ce_sweeps_t.h) over row i (or over a block of rows) and applies a loss (_ce_losses_t.h).  These are
 * the ce_row_fn entries of the dtype's ce_dtype_kernels table. */

#define CE_SZ ((npy_intp)sizeof(CE_S))
#define CE_SZG ((npy_intp)sizeof(CE_SG))   /* N x C outputs (softmax, gradients) */
#define CE_SZR ((npy_intp)sizeof(CE_SR))   /* per-row results (losses, logsumexp) and row scales */
#define CE_ROW(T, base, rs, i) ((T *)((base) + (i) * (rs)))

/* A row's cache lines prefetched into L2 (prefetcht2 on x86), output rows as well: a line no other core
 * holds arrives exclusive, so the stores that follow find it in L2.  prefetchw, which fills L1 instead,
 * evicted the lines a block or row was still using (AVX-512, one thread: 65536x80 loss+grad into out= 4.4-5.0
 * -> 3.9 ms, 65536x1000 float16 softmax into out= 34-35 -> 32 ms) */
CE_INLINE void CE_F(ce_prefetch_row)(const char *row, npy_intp bytes)
{
#if defined(__GNUC__)
    for (npy_intp o = 0; o < bytes; o += 64) __builtin_prefetch(row + o, 0, 1);
#else
    (void)row; (void)bytes;
#endif
}

/* The line holding the last entry of a streamed output row (ce_stream_rows), prefetched into L2 a row or two
 * before it is stored: that line, which the next row's first entries share unless the row ends on a line
 * boundary, is stored in part by each row (plain stores, where the lines in between go out as non-temporal
 * ones), and the first such store otherwise waits for the line to come from memory while the stores behind it
 * fill the store buffer (one thread, AVX2, 65536x1000 float32 loss+grad into out= from NumPy, whose rows start
 * 16 bytes past a line: 0.67 -> 0.56 ns per element) */
CE_INLINE void CE_F(ce_prefetch_row_end)(const char *row, npy_intp n)
{
    if (n > 0) CE_F(ce_prefetch_row)(row + (n - 1) * CE_SZG, 1);
}

/* How many rows ahead a staged call (and, where ce_grad_rows_prefetched, a direct loss+grad) prefetches its
 * N x C output rows, 0 for none.  A narrowed row is stored in one burst at the row's end, which otherwise
 * waits for its cache lines (65536x1000 float16 loss+grad into out=, 1 thread: 1.15x -> 1.08x float32's
 * time); rows up to CE_PF_AHEAD bytes, about that many bytes ahead (streamed rows need no lines). */
CE_INLINE npy_intp CE_F(ce_out_rows_ahead)(npy_intp n, npy_intp cs, int stream)
{
    return (!stream && cs == CE_SZG) ? ce_rows_ahead(n * CE_SZG) : 0;
}

/* Whether a call's N x C output rows are stored from scratch rows with non-temporal stores (_ce_widen.h): the
 * staged half rows, and the float32 loss+grad's kept rows (ce_xent_grad_rows_kept) */
CE_INLINE int CE_F(ce_stream_rows)(npy_intp rows, npy_intp n)
{
    return n * CE_SZG >= CE_STREAM_ROW_BYTES && (double)rows * (double)(n * CE_SZG) >= CE_STREAM_MIN_BYTES;
}

/* ce_stream_rows for the block of rows [r0, r1) of an output (row stride rs bytes) that is not fresh: the
 * page in the block's middle, which no other thread writes, is in memory already (ce_page_not_resident; the
 * first page of a fresh array holds the allocator's header) */
CE_INLINE int CE_F(ce_stream_block)(npy_intp rows, npy_intp n, const char *out, npy_intp rs, npy_intp r0, npy_intp r1)
{
    if (!CE_F(ce_stream_rows)(rows, n)) return 0;
    return !ce_page_not_resident(out + r0 * rs + (r1 - r0) * rs / 2 + n * CE_SZG / 2);
}

#ifdef CE_WIDEN_ROW
/* ---------------------------------------------------------------------------------------------------
 * Staged half rows: a half row is widened once into a float32 scratch row (taking its max on the way,
 * _ce_widen.h) and runs through the float32 column's row kernel (CE_WIDE), whose result it then is; N x C
 * outputs in the half type come back through a float32 scratch row.  Softmax cross-entropy rows with strided
 * classes or few classes are staged a block of rows at a time (ce_xent_tblock_wide), binary rows one row at a
 * time (ce_binary_row_staged).  The direct half sweeps convert every element once per sweep instead; the
 * forward of sparse labels runs them on the table-exp paths, whose blocks convert in registers
 * (ce_half_rows_direct), and so does the loss+grad of sparse labels (ce_xent_grad_rows_kept).  The
 * staged functions return -1 when scratch rows cannot be allocated. */

/* A float32 scratch row stored into an N x C output row (stride sy elements).  u: NULL, or where the row
 * kernel reports a row it left unscaled (ce_unscaled_row, only for sy == 1): it is scaled while rounded, one
 * pass instead of two. */
CE_INLINE void CE_F(ce_store_scratch_row)(const float *src, CE_SG *dst, npy_intp n, npy_intp sy, int stream,
                                          const ce_unscaled_row *u)
{
#ifdef CE_NARROW_ROW
    if (sy == 1) {
        const int un = u != NULL && u->unscaled;
        /* a row left unscaled has finite exps unless x held NaN, which makes its coef NaN too */
        const int how = (stream ? CE_NARROW_STREAM : 0) | (un && isfinite(u->coef) ? CE_NARROW_FINITE : 0);
        CE_NARROW_ROW(src, dst, n, un ? u->coef : 1.0f, un ? (npy_intp)u->keep : -1, how);
        return;
    }
#endif
    (void)u;
    (void)stream;
    if (sy == 1) {
        CE_SIMD
        for (npy_intp j = 0; j < n; j++) dst[j] = CE_STG(src[j]);
    } else {
        for (npy_intp j = 0; j < n; j++) dst[j * sy] = CE_STG(src[j]);
    }
}

/* A half row of stride s widened into the float32 scratch row f; returns its max (NaN ignored, as CE_WIDEN_ROW) */
CE_INLINE float CE_F(ce_widen_strided)(const CE_S *h, npy_intp s, float *f, npy_intp n)
{
    if (s == 1) return CE_WIDEN_ROW(h, f, n);
    float m = -INFINITY;
    for (npy_intp j = 0; j < n; j++) {
        float v = CE_LD(h[j * s]);
        f[j] = v;
        m = v > m ? v : m;
    }
    return m;
}

CE_INLINE int CE_F(ce_transform_row_staged)(const ce_transform_problem *p, npy_intp i)
{
    const npy_intp n = p->cols;
    const int half_y = p->what != CE_ROW_LSE && sizeof(CE_SG) < sizeof(float);
    float stack[2 * CE_KEEP_STACK];
    float *buf = n <= CE_KEEP_STACK ? stack : (float *)malloc((size_t)n * 2 * sizeof(float));
    if (!buf) return -1;
    float *xb = buf, *yb = buf + n;
    ce_transform_problem q = *p;   /* the float32 view: row i of x and of a half output is the scratch row */
    q.x = (const char *)xb; q.x_rs = 0; q.x_cs = sizeof(float);
    if (half_y) { q.y = (char *)yb; q.y_rs = 0; q.y_cs = sizeof(float); }
    const int stream = half_y && CE_F(ce_stream_rows)(p->rows, n);
    const npy_intp pfw = half_y ? CE_F(ce_out_rows_ahead)(n, p->y_cs, stream) : 0;
    if (pfw && i + pfw < p->rows) CE_F(ce_prefetch_row)(p->y + (i + pfw) * p->y_rs, n * CE_SZG);
    if (stream && p->y_cs == CE_SZG) CE_F(ce_prefetch_row_end)(p->y + i * p->y_rs, n);
    /* strided classes too, so that the result is the contiguous row's */
    CE_F(ce_widen_strided)(CE_ROW(const CE_S, p->x, p->x_rs, i), p->x_cs / CE_SZ, xb, n);
#ifdef CE_NARROW_ROW
    ce_unscaled_row unscaled = {0, 0.0f, -1, NULL};
    if (half_y && p->y_cs == CE_SZG) q.unscaled = &unscaled;   /* scaled while rounded into the output */
#endif
    int res = CE_WIDE(ce_transform_row)(&q, i);
    if (half_y) {
        CE_F(ce_store_scratch_row)(yb, CE_ROW(CE_SG, p->y, p->y_rs, i), n, p->y_cs / CE_SZG, stream, q.unscaled);
        if (stream) ce_stream_fence();
    }
    if (buf != stack) free(buf);
    return res;
}
#endif

/* ---------------------------------------------------------------------------------------------------
 * logsumexp / softmax / log_softmax of one row, given its max when known (m_known, else NaN), taking the max
 * of nx (the next row, or NULL) into *nmax when its statistics sweep can.  The writing sweep reads x_j before
 * writing y_j, so y may be x itself (softmax(x, out=x)); the next row is read before it is written.  A
 * contiguous softmax row in the compute type keeps the statistics sweep's exps and is then scaled in place
 * (one exp per element instead of two).  direct: a half row read as it is, not staged (ce_half_lse_direct). */
CE_INLINE int CE_F(ce_transform_row_impl)(const void *pp, npy_intp i, CE_T m_known, const CE_S *nx, CE_T *nmax,
                                           int direct)
{
    const ce_transform_problem *p = (const ce_transform_problem *)pp;
#ifdef CE_WIDEN_ROW
    if (!direct) {   /* half rows: staged unless ce_half_lse_direct */
        int res = CE_F(ce_transform_row_staged)(p, i);
        if (res >= 0) return res;
    }
#endif
    (void)direct;
    const CE_S *x = CE_ROW(const CE_S, p->x, p->x_rs, i);
    CE_SG *y = CE_ROW(CE_SG, p->y, p->y_rs, i);
    npy_intp n = p->cols, sx = p->x_cs / CE_SZ, sy = p->y_cs / CE_SZG;
    CE_T *keep = (p->what == CE_ROW_SOFTMAX && sy == 1 && sizeof(CE_SG) == sizeof(CE_T)) ? (CE_T *)y : NULL;
    CE_F(ce_lse_t) st = keep ? CE_F(ce_lse_stats_carry)(x, n, sx, keep, m_known, nx, nmax)
                             : CE_F(ce_lse_stats_carry)(x, n, sx, NULL, m_known, nx, nmax);
    if (p->what == CE_ROW_LSE) {
        *CE_ROW(CE_SR, p->y, p->y_rs, i) = CE_STR(st.finite ? st.m + st.L : CE_F(ce_lse_nonfinite)(x, n, sx, st.m));
        return 0;
    }
    if (!st.finite) {
        CE_F(ce_fill)(y, n, sy, (CE_T)NAN);
        return 0;
    }
    CE_T m = st.m, L = st.L, inv = CE_K(1.0) / st.s;
    CE_T kinv = inv * st.kept.ks;   /* for the kept exps */
    int confident = st.s == st.cnt;
    if (keep && p->unscaled) {   /* the caller scales (ce_unscaled_row) */
        ce_unscaled_row *const u = p->unscaled;   /* (its kept row and the row stored behind stay) */
        u->unscaled = 1; u->coef = (float)kinv; u->keep = -1; u->confident = confident; u->max_coef = (float)inv;
    } else if (keep) {
        CE_F(ce_kept_scale_row)(y, keep, n, inv, kinv, confident);
    } else if (p->what == CE_ROW_SOFTMAX) {
        if (sx == 1 && sy == 1) {
            CE_SIMD
            for (npy_intp j = 0; j < n; j++) y[j] = CE_STG(CE_M(ce_exp_nonpos)(CE_LD(x[j]) - m) * inv);
        } else {
            for (npy_intp j = 0; j < n; j++) y[j * sy] = CE_STG(CE_M(ce_exp_nonpos)(CE_LD(x[j * sx]) - m) * inv);
        }
    } else {
        if (sx == 1 && sy == 1) {
            CE_SIMD
            for (npy_intp j = 0; j < n; j++) y[j] = CE_STG((CE_LD(x[j]) - m) - L);
        } else {
            for (npy_intp j = 0; j < n; j++) y[j * sy] = CE_STG((CE_LD(x[j * sx]) - m) - L);
        }
    }
    return 0;
}

/* Rows that carry no max: the constants fold, leaving the code of a row on its own (a float64 softmax of 1000
 * classes ran 7-9% slower through ce_transform_row_carry with nx NULL) */
CE_CLONES static int CE_F(ce_transform_row)(const void *pp, npy_intp i)
{
    return CE_F(ce_transform_row_impl)(pp, i, (CE_T)NAN, NULL, NULL, 0);
}

CE_CLONES static int CE_F(ce_transform_row_carry)(const void *pp, npy_intp i, CE_T m_known, const CE_S *nx,
                                                  CE_T *nmax)
{
    return CE_F(ce_transform_row_impl)(pp, i, m_known, nx, nmax, 1);
}

#ifdef CE_WIDEN_ROW
/* Whether this CPU's path reads half rows in registers: the table-exp blocks of the AVX-512 and AVX2 paths
 * (_ce_exp_table.h), where a float32 copy of a row would only add a sweep */
CE_INLINE int CE_F(ce_half_read_in_registers)(void)
{
#if CE_EXP_TABLE
    return ce_simd_level() >= 3;
#else
    return 0;
#endif
}

/* Whether half rows run direct, carrying the next row's max, rather than staged: logsumexp of contiguous rows
 * read in registers */
CE_INLINE int CE_F(ce_half_lse_direct)(const ce_transform_problem *p)
{
    return p->what == CE_ROW_LSE && p->x_cs == CE_SZ && CE_F(ce_half_read_in_registers)();
}
#endif

#ifdef CE_NARROW_ROW
#if CE_KEEP_EXPS
/* What the sweep left of the previous row's output (ce_store_behind), stored: its last entries, or all of it
 * where the sweep stored none (a row of another length, an output row off a float's alignment) */
static void CE_F(ce_store_behind_rest)(ce_store_behind *b)
{
    CE_SG *const h = (CE_SG *)b->out;
    if (!h || b->at >= b->n) return;
    CE_NARROW_ROW(b->kept + b->at, h + b->at, b->n - b->at, b->coef, (npy_intp)b->keep - b->at, CE_NARROW_STREAM);
    b->at = b->n;
}
#endif

/* The row a row kernel left in u->kept (ce_xent_grad_rows_kept, ce_transform_rows) stored into the output row g:
 * a half row's exps scaled while rounded; a float32 row the kernel finished (not left unscaled) as it is, one
 * it left unscaled at its scale, a confident one first scaled in place as the kernel scales its own rows
 * (ce_kept_value: its entries at the max take max_coef itself), its label entry (if any) left as it is.  With
 * u->behind (float32 rows streamed), the row is left to the next row's sweep instead, once the previous
 * row's rest is stored, and u->kept becomes the previous row's, free again. */
CE_INLINE void CE_F(ce_store_kept_row)(ce_unscaled_row *u, CE_SG *g, npy_intp n, int stream)
{
#if CE_KEEP_EXPS
    float *k = u->kept;
    ce_store_behind *const b = u->behind;
    if (b) CE_F(ce_store_behind_rest)(b);   /* (with one shared kept row, the sweep has stored it all) */
    if (u->unscaled && u->confident) {
        const float ky = u->keep >= 0 ? k[u->keep] : 0.0f;
        CE_F(ce_kept_scale_row)(k, k, n, u->max_coef, u->coef, 1);
        if (u->keep >= 0) k[u->keep] = ky;
        u->coef = 1.0f;
    }
    const float coef = u->unscaled ? u->coef : 1.0f;
    const npy_intp keep = u->unscaled ? (npy_intp)u->keep : -1;
    if (b) {
        u->kept = b->kept;
        *b = (ce_store_behind){k, g, n, 0, coef, keep, b->shared};
    } else {
        CE_NARROW_ROW(k, g, n, coef, keep, stream ? CE_NARROW_STREAM : 0);
    }
#else
    /* finite exps and coef: as in ce_store_scratch_row */
    if (u->unscaled)
        CE_NARROW_ROW(u->kept, g, n, u->coef, (npy_intp)u->keep,
                      (stream ? CE_NARROW_STREAM : 0) | (isfinite(u->coef) ? CE_NARROW_FINITE : 0));
#endif
    u->unscaled = 0;
}
#endif

/* Whether float32 softmax / log_softmax rows [r0, r1) are computed into a kept row of their own, which stays in
 * the cache, and streamed into their output rows (ce_stream_block), as the loss+grad's long rows are: plain
 * stores read each output line from memory before writing it (into out=, one thread: softmax 0.80-0.97x the
 * time, log_softmax 0.74-0.99x, docs/performance.md) */
CE_INLINE int CE_F(ce_transform_rows_streamed)(const ce_transform_problem *p, npy_intp r0, npy_intp r1)
{
#if defined(CE_NARROW_ROW) && !defined(CE_WIDEN_ROW)
    return p->what != CE_ROW_LSE && p->y_cs == CE_SZG && CE_F(ce_stream_block)(p->rows, p->cols, p->y, p->y_rs, r0, r1);
#else
    (void)p; (void)r0; (void)r1;
    return 0;
#endif
}

/* Rows [blk R, blk R + R), R = ce_block_rows, as ce_xent_rows_direct: each logsumexp row's statistics sweep
 * takes the max of the next contiguous row, whose read from memory then overlaps this row's exps (and, where
 * that pays, prefetches the rows after it: ce_pf_next_row); softmax and log_softmax rows do so from
 * CE_TRANSFORM_CARRY_MIN bytes on.  Half rows carry as logsumexp rows where ce_half_lse_direct, else go one at a
 * time (staged).  Long float32 softmax and log_softmax rows are streamed out of a kept row
 * (ce_transform_rows_streamed). */
CE_CLONES static int CE_F(ce_transform_rows)(const void *pp, npy_intp blk)
{
    const ce_transform_problem *p = (const ce_transform_problem *)pp;
    const npy_intp R = ce_block_rows(p->pipe_rows, p->rows, p->cols), r0 = blk * R;
    const npy_intp r1 = p->rows - r0 < R ? p->rows : r0 + R, n = p->cols;
    int res = 0;
#ifdef CE_WIDEN_ROW
    const int carry = CE_F(ce_half_lse_direct)(p);
#else
    const int carry = p->x_cs == CE_SZ && (p->what == CE_ROW_LSE || n * CE_SZ >= CE_TRANSFORM_CARRY_MIN);
#endif
    /* the row kernel's output row is the kept row (a softmax row left unscaled, scaled while streamed out);
     * without its memory, the rows go straight into their output rows */
    float *const kept = CE_F(ce_transform_rows_streamed)(p, r0, r1) ? (float *)malloc((size_t)n * sizeof(float)) : NULL;
    ce_unscaled_row u = {0, 0.0f, -1, kept, 0, 0.0f, NULL};
    ce_transform_problem kq;
    if (kept) {
        kq = *p;
        kq.y = (char *)kept; kq.y_rs = 0;
        kq.unscaled = p->what == CE_ROW_SOFTMAX ? &u : NULL;
        pp = &kq;
    }
    CE_T m = (CE_T)NAN;
    for (npy_intp i = r0; i < r1; i++) {
        CE_SG *const y = CE_ROW(CE_SG, p->y, p->y_rs, i);
        if (kept) CE_F(ce_prefetch_row_end)((const char *)y, n);
        if (carry) {
            CE_T mn = (CE_T)NAN;
            const CE_S *nx = i + 1 < r1 ? CE_ROW(const CE_S, p->x, p->x_rs, i + 1) : NULL;
            res |= CE_F(ce_transform_row_carry)(pp, i, m, nx, &mn);
            m = mn;
        } else {
            res |= CE_F(ce_transform_row)(pp, i);
        }
#ifdef CE_NARROW_ROW
        if (kept) CE_F(ce_store_kept_row)(&u, y, n, 1);
#endif
    }
    if (kept) {
        ce_stream_fence();
        free(kept);
    }
    return res;
}

/* ---------------------------------------------------------------------------------------------------
 * Softmax cross-entropy of one row (see ce_xent_problem): statistics sweep, epilogue, gradient sweep.
 * has_t / has_v / has_lab are compile-time constants at each call site (see ce_xent_row). */
CE_INLINE CE_T CE_F(ce_xent_logits_impl)(const CE_S *x, npy_intp sx, const CE_S *t, npy_intp st, const CE_S *v,
                                         npy_intp sv, npy_intp n, int64_t y, CE_T a, CE_T b, CE_T c, CE_T r,
                                         CE_SG *g, npy_intp sg, int has_t, int has_v, int has_lab, ce_xent_mode mode,
                                         int allow_rel, CE_T m_known, const CE_S *nx, CE_T *nmax,
                                         ce_unscaled_row *unscaled, ce_widen_next *wnext)
{
    /* m_known: the row's max when the previous row's sweep took it (NaN: not known); nx: the next row, whose
     * max the statistics sweep takes into *nmax (left alone when it does not); wnext: the next half row, which
     * the sparse clamp-free sweeps widen (wnext->done set when they did) */
    CE_T m = m_known == m_known ? m_known : CE_F(ce_max_impl)(x, n, sx);
    if (!(m > -(CE_T)INFINITY && m < (CE_T)INFINITY)) {
        if (g) CE_F(ce_fill)(g, n, sg, (CE_T)NAN);
        return n == 0 ? CE_K(0.0) : (CE_T)NAN;
    }
    CE_F(ce_xent_stats) s;
    int sparse_only = has_lab && !has_t && !has_v && b == 0;
    CE_T xy = has_lab ? CE_LD(x[y * sx]) : CE_K(0.0);   /* before the sweeps: g may be x itself */
    /* With a gradient to write, the statistics sweep leaves its exps in g so the gradient sweep needs no
     * second exp (x_j is read before g_j is written, so out=x works); not when g is the target row itself.
     * When g's storage type is narrower than the compute type (half outputs), they go to a compute-type
     * scratch row instead: on the stack for rows up to CE_KEEP_STACK, else allocated (or recomputed when
     * that fails). */
    CE_T *keep = NULL;
    npy_intp sk = 0;
#if CE_KEEP_EXPS
    if (g && !(has_t && (const void *)g == (const void *)t)) { keep = (CE_T *)g; sk = sg; }
#else
    CE_T kstack[CE_KEEP_STACK];
    CE_T *kheap = NULL;
    sk = 1;   /* a constant, so the sweeps' stores stay contiguous vector stores */
    if (g && unscaled && unscaled->kept) keep = unscaled->kept;   /* the caller's row, which it rounds into g */
    else if (g) keep = n <= CE_KEEP_STACK ? kstack : (kheap = (CE_T *)malloc((size_t)n * sizeof(CE_T)));
#endif
    /* the clamp-free exps (ce_exp_rel) on contiguous rows: x, the kept exps and (ce_xent_sums_rel) t and v */
    const int rel = allow_rel && sx == 1 && fabs((double)m) <= CE_REL_MAX && (!keep || sk == 1) &&
                    (sparse_only || ((!has_t || st == 1) && (!has_v || sv == 1)));
    CE_T nmax_unused;   /* no next row: the dense sweep takes this row's max again, not kept */
    CE_T *nmax_r = nx ? nmax : &nmax_unused;
    const CE_S *nx_r = nx ? nx : x;
    if (sparse_only) {
        s.m = m;
        s.dot = c * (m - CE_LD(x[y * sx]));   /* before the sweep: g may be x itself */
        /* without a next row (staged half rows, a block's last row) the sweep takes no max */
        if (rel && keep && nx)
            s.kept = CE_F(ce_expsum_rel)(x, n, m, &s.rest, &s.cnt, keep, 1, nx, nmax, NULL,
                                         unscaled ? unscaled->behind : NULL);
        else if (rel && keep) s.kept = CE_F(ce_expsum_rel)(x, n, m, &s.rest, &s.cnt, keep, 0, NULL, NULL, wnext, NULL);
        else if (rel && nx) s.kept = CE_F(ce_expsum_rel)(x, n, m, &s.rest, &s.cnt, NULL, 1, nx, nmax, NULL, NULL);
        else if (rel) s.kept = CE_F(ce_expsum_rel)(x, n, m, &s.rest, &s.cnt, NULL, 0, NULL, NULL, wnext, NULL);
        else if (keep) s.kept = CE_F(ce_expsum_impl)(x, n, sx, m, &s.rest, &s.cnt, keep, sk);
        else s.kept = CE_F(ce_expsum_impl)(x, n, sx, m, &s.rest, &s.cnt, NULL, 0);
        s.S = c;
    } else if (rel) {
        if (keep)
            CE_F(ce_xent_sums_rel)(x, t, v, n, y, a, b, c, m, has_t, has_v, has_lab, keep, nx_r, nmax_r, &s);
        else
            CE_F(ce_xent_sums_rel)(x, t, v, n, y, a, b, c, m, has_t, has_v, has_lab, NULL, nx_r, nmax_r, &s);
    } else {
        if (keep)
            CE_F(ce_xent_sums_impl)(x, sx, t, st, v, sv, n, y, a, b, c, m, has_t, has_v, has_lab, keep, sk, &s);
        else
            CE_F(ce_xent_sums_impl)(x, sx, t, st, v, sv, n, y, a, b, c, m, has_t, has_v, has_lab, NULL, 0, &s);
    }
    s.L = CE_F(ce_xent_L)(&s);
    CE_F(ce_xent_epi) e = CE_F(ce_xent_epilogue)(mode, &s, r);
    if (g) {
        int defer = 0;   /* the row left to the caller (unscaled): its label entry goes to the kept row */
        CE_F(ce_xent_atmax) am = CE_F(ce_xent_at_max)(&e, &s);
        if (sparse_only && keep && sk == 1 && sg == 1) {   /* (a half scratch row has sk == 1 whatever sg) */
            /* one target entry: scale the kept exps, then that entry (no per-element label test); or leave
             * the scaling to the caller (unscaled: the exps are kept in g itself, or in the caller's row) */
            const CE_T kcoef = e.coef * s.kept.ks, ey = keep[y];
            const int confident = s.cnt + s.rest == s.cnt;
            const CE_T gy = CE_F(ce_kept_value)(ey, e.coef, kcoef, confident) - e.tcoef * c;
            if (unscaled && (void *)keep == (unscaled->kept ? (void *)unscaled->kept : (void *)g)) {
                *unscaled = (ce_unscaled_row){1, (float)kcoef, y, unscaled->kept, confident, (float)e.coef,
                                              unscaled->behind};
                defer = 1;
                keep[y] = gy;
            } else {
                CE_F(ce_kept_scale_row)(g, keep, n, e.coef, kcoef, confident);
                g[y] = CE_STG(gy);
            }
        } else {
            CE_F(ce_xent_grad_sweep)(x, sx, t, st, v, sv, n, y, a, b, c, m, e.coef, e.tcoef, am.x, am.b, am.K,
                                     am.cm1, am.rest, has_t, has_v, has_lab, keep, sk, s.kept, g, sg);
        }
        /* the label entry of a confident row: p_y - 1 without the cancellation (one scalar per row) */
        if (has_lab && !has_t && xy == m) {
            CE_T ty = CE_F(ce_target)(t, st, v, sv, y, y, a, b, c, 0, has_v, 1);
            const CE_T gy = CE_F(ce_xent_grad_at_max)(&am, ty);
            if (defer) keep[y] = gy;
            else g[y * sg] = CE_STG(gy);
        }
    }
#if !CE_KEEP_EXPS
    free(kheap);
#endif
    return e.loss;
}

/* x holds log-probabilities (torch nll_loss): loss = -sum t'_j x_j, grad = -r t'_j. */
CE_INLINE CE_T CE_F(ce_xent_logprob_impl)(const CE_S *x, npy_intp sx, const CE_S *t, npy_intp st, const CE_S *v,
                                          npy_intp sv, npy_intp n, int64_t y, CE_T a, CE_T b, CE_T c, CE_T r,
                                          CE_SG *g, npy_intp sg, int has_t, int has_v, int has_lab)
{
    CE_T dot = 0;
    if (has_lab && !has_t && b == 0) {
        dot = -(c * (has_v ? CE_LD(v[y * sv]) : CE_K(1.0))) * CE_LD(x[y * sx]);
    } else {
        CE_SIMD_REDUCE(+ : dot)
        for (npy_intp j = 0; j < n; j++) {
            CE_T tj = CE_F(ce_target)(t, st, v, sv, j, y, a, b, c, has_t, has_v, has_lab);
            dot += tj != 0 ? -tj * CE_LD(x[j * sx]) : CE_K(0.0);
        }
    }
    if (g) {
        CE_SIMD
        for (npy_intp j = 0; j < n; j++)
            g[j * sg] = CE_STG(-r * CE_F(ce_target)(t, st, v, sv, j, y, a, b, c, has_t, has_v, has_lab));
    }
    return dot;
}

/* One softmax cross-entropy row, given its max when known (m_known, else NaN), taking the max of nx (the next
 * row, or NULL) into *nmax when its sweep can.  Not inlined: ce_xent_row and ce_xent_rows share one copy. */
CE_CLONES static int CE_F(ce_xent_row_carry)(const void *pp, npy_intp i, CE_T m_known, const CE_S *nx, CE_T *nmax)
{
    const ce_xent_problem *p = (const ce_xent_problem *)pp;
    const npy_intp n = p->cols;
    const CE_S *x = CE_ROW(const CE_S, p->x, p->x_rs, i);
    const CE_S *t = p->t ? CE_ROW(const CE_S, p->t, p->t_rs, i) : NULL;
    const CE_S *v = (const CE_S *)p->v;
    CE_SG *g = p->grad ? CE_ROW(CE_SG, p->grad, p->g_rs, i) : NULL;
    npy_intp sx = p->x_cs / CE_SZ, st = p->t_cs / CE_SZ, sv = p->v_cs / CE_SZ, sg = p->g_cs / CE_SZG;
    CE_SR *loss = CE_ROW(CE_SR, p->loss, p->loss_rs, i);
    CE_T r = p->r ? CE_LDR(*CE_ROW(const CE_SR, p->r, p->r_rs, i)) : CE_K(1.0);
    CE_T a = (CE_T)p->a, b = (CE_T)p->b, c = (CE_T)p->c;
    int64_t y = -1;
    if (p->lab) {
        int todo = CE_F(ce_row_label)(p->lab, p->lab_rs, p->lab_is64, p->ignore, i, n, loss, g, sg, &y);
        if (todo <= 0) return todo < 0 ? CE_ROW_BAD_LABEL : 0;
    }
    int ht = t != NULL, hv = v != NULL, hl = p->lab != NULL;
    ce_xent_mode mode = p->mode;
    if (mode == CE_XENT_LOG_PROBS) {
        *loss = CE_STR(CE_F(ce_xent_logprob_impl)(x, sx, t, st, v, sv, n, y, a, b, c, r, g, sg, ht, hv, hl));
        return 0;
    }
    CE_T res;
    int unit = sx == 1 && (!g || sg == 1) && (!ht || st == 1) && (!hv || sv == 1);
    /* the common layouts with constant flags and unit strides, so they compile to tight vector loops */
    if (unit && ht && !hv && !hl)          /* dense labels (TF, Keras) */
        res = CE_F(ce_xent_logits_impl)(x, 1, t, 1, v, 1, n, y, a, b, c, r, g, 1, 1, 0, 0, mode, 1, m_known, nx, nmax,
                                        NULL, NULL);
    else if (unit && !ht && !hv && hl)     /* sparse labels, maybe smoothed */
        res = CE_F(ce_xent_logits_impl)(x, 1, t, 1, v, 1, n, y, a, b, c, r, g, 1, 0, 0, 1, mode, 1, m_known, nx, nmax,
                                        p->unscaled, p->wnext);
    else if (unit && !ht && hv && hl)      /* torch class weights */
        res = CE_F(ce_xent_logits_impl)(x, 1, t, 1, v, 1, n, y, a, b, c, r, g, 1, 0, 1, 1, mode, 1, m_known, nx, nmax,
                                        NULL, NULL);
    else   /* the rest keeps the guarded sweeps (no clamp-free variants compiled for the generic layout) */
        res = CE_F(ce_xent_logits_impl)(x, sx, t, st, v, sv, n, y, a, b, c, r, g, sg, ht, hv, hl, mode, 0, m_known,
                                        NULL, nmax, NULL, NULL);
    *loss = CE_STR(res);
    return 0;
}

CE_CLONES static int CE_F(ce_xent_row)(const void *pp, npy_intp i)
{
    return CE_F(ce_xent_row_carry)(pp, i, (CE_T)NAN, NULL, NULL);
}

/* Whether rows have sparse labels alone (no dense targets, class vector or smoothing offset), logits, contiguous
 * classes */
CE_INLINE int CE_F(ce_is_sparse_alone)(const ce_xent_problem *p)
{
    return p->lab && !p->t && !p->v && p->b == 0 && p->mode != CE_XENT_LOG_PROBS && p->x_cs == CE_SZ;
}

/* Whether rows are the forward of ce_is_sparse_alone: ce_xent_sparse_fwd_rows */
CE_INLINE int CE_F(ce_is_sparse_forward)(const ce_xent_problem *p)
{
    return !p->grad && CE_F(ce_is_sparse_alone)(p);
}

/* ce_xent_rows_direct for ce_is_sparse_forward rows: each sweep leaves its statistics, and the losses of up to
 * 16 rows are finished together after their sweeps (ce_xent_L and the epilogue, as ce_xent_logits_impl), so
 * one row's scalar log1p does not sit between two rows' sweeps.  Rows with an ignored or bad label are
 * settled by ce_row_label; rows whose max is not known, not finite or beyond CE_REL_MAX go through
 * ce_xent_row_carry. */
CE_INLINE int CE_F(ce_xent_sparse_fwd_rows)(const ce_xent_problem *p, npy_intp r0, npy_intp r1)
{
    enum { B = 16 };
    CE_F(ce_xent_stats) st[B];
    CE_SR *dst[B];
    int k = 0, nbad = 0;
    const npy_intp n = p->cols;
    const CE_T c = (CE_T)p->c;
    CE_T m = (CE_T)NAN;
    for (npy_intp i = r0; i < r1; i++) {
        const CE_S *x = CE_ROW(const CE_S, p->x, p->x_rs, i);
        const CE_S *nx = i + 1 < r1 ? CE_ROW(const CE_S, p->x, p->x_rs, i + 1) : NULL;
        CE_SR *loss = CE_ROW(CE_SR, p->loss, p->loss_rs, i);
        int64_t y;
        const int todo = CE_F(ce_row_label)(p->lab, p->lab_rs, p->lab_is64, p->ignore, i, n, loss, NULL, 0, &y);
        CE_T mn = (CE_T)NAN;   /* rows settled by their label take no max of the next row */
        nbad += todo < 0;
        if (todo > 0 && fabs((double)m) <= CE_REL_MAX) {
            CE_F(ce_xent_stats) *s = &st[k];
            s->m = m;
            s->dot = c * (m - CE_LD(x[y]));
            s->S = c;
            if (nx) CE_F(ce_expsum_rel)(x, n, m, &s->rest, &s->cnt, NULL, 1, nx, &mn, NULL, NULL);
            else CE_F(ce_expsum_rel)(x, n, m, &s->rest, &s->cnt, NULL, 0, NULL, NULL, NULL, NULL);
            dst[k++] = loss;
        } else if (todo > 0) {
            CE_F(ce_xent_row_carry)(p, i, m, nx, &mn);
        }
        m = mn;
        if (k == B || (i + 1 == r1 && k > 0)) {
            for (int q = 0; q < k; q++) {
                st[q].L = CE_F(ce_xent_L)(&st[q]);
                *dst[q] = CE_STR(CE_F(ce_xent_epilogue)(p->mode, &st[q], CE_K(1.0)).loss);
            }
            k = 0;
        }
    }
    return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
}

#if CE_KEEP_EXPS && defined(CE_NARROW_ROW)
/* Whether row i's sweep, given its max m and the next row nx, stores the previous row's output b along a line
 * ahead of its own exps, where b is shared (so the table sweep of a float32 row on the AVX-512 or AVX2 path:
 * ce_xent_grad_rows_kept): a row whose label settles it, whose max is not finite or beyond CE_REL_MAX, the
 * last row of a block and an output row off a float's alignment take other sweeps. */
CE_INLINE int CE_F(ce_sweep_stores_behind)(const ce_xent_problem *p, npy_intp i, CE_T m, const CE_S *nx,
                                           const ce_store_behind *b)
{
    if (!nx || !(fabs((double)m) <= CE_REL_MAX) || ((uintptr_t)b->out & 3) != 0) return 0;
    CE_SR loss;
    int64_t y;
    return CE_F(ce_row_label)(p->lab, p->lab_rs, p->lab_is64, p->ignore, i, p->cols, &loss, NULL, 0, &y) > 0;
}
#endif

/* Rows [r0, r1) of a softmax cross-entropy: each row's statistics sweep also takes the max of the next row
 * (contiguous rows), so that row's first read from memory overlaps this row's exps instead of following them.
 * (No software prefetch of the logit rows ahead here: on AMD Zen 4 the hardware prefetcher follows that read,
 * and prefetching a few rows ahead as well made float32 loss+grad 20-25% slower, docs/performance.md.  The
 * table-exp sweeps prefetch as they read the next row, where that pays: ce_pf_next_row; the gradient rows
 * ahead: ce_grad_rows_prefetched.)  A row its kernel left unscaled in the caller's float32 row
 * (p->unscaled->kept, ce_xent_grad_rows_kept) is scaled while stored into its output row: rounded into a half
 * row, or streamed into a long float32 row. */
CE_INLINE int CE_F(ce_xent_rows_direct)(const ce_xent_problem *p, npy_intp r0, npy_intp r1)
{
    if (CE_F(ce_is_sparse_forward)(p)) return CE_F(ce_xent_sparse_fwd_rows)(p, r0, r1);
    const void *pp = p;
    CE_T m = (CE_T)NAN;
    int nbad = 0;
#ifdef CE_NARROW_ROW
    ce_unscaled_row *const u = p->unscaled && p->unscaled->kept ? p->unscaled : NULL;
    const int stream = u && CE_F(ce_stream_rows)(p->rows, p->cols);
    /* float32 rows (ce_grad_rows_streamed): the kept row is the row kernel's gradient row */
    ce_xent_problem kq;
    if (u && CE_KEEP_EXPS) {
        kq = *p;
        kq.grad = (char *)u->kept;
        kq.g_rs = 0;
        pp = &kq;
    }
#else
    const int stream = 0;
#endif
    /* gradient rows stored through the cache: their lines fetched ahead where that pays (ce_grad_rows_prefetched) */
    const npy_intp pfw = p->grad && ce_grad_rows_prefetched() ? CE_F(ce_out_rows_ahead)(p->cols, p->g_cs, stream) : 0;
    for (npy_intp i = r0; i < r1; i++) {
        CE_T mn = (CE_T)NAN;
        const CE_S *nx = (i + 1 < r1 && p->x_cs == CE_SZ) ? CE_ROW(const CE_S, p->x, p->x_rs, i + 1) : NULL;
        if (pfw && i + pfw < p->rows) CE_F(ce_prefetch_row)(p->grad + (i + pfw) * p->g_rs, p->cols * CE_SZG);
        if (stream) CE_F(ce_prefetch_row_end)(p->grad + i * p->g_rs, p->cols);
#if CE_KEEP_EXPS && defined(CE_NARROW_ROW)
        /* one kept row for both (shared): a row whose sweep does not store the previous one along must not
         * write the kept row before the previous row is stored */
        ce_store_behind *const b = u ? u->behind : NULL;
        if (b && b->shared && b->out && !CE_F(ce_sweep_stores_behind)(p, i, m, nx, b)) CE_F(ce_store_behind_rest)(b);
#endif
        nbad += CE_F(ce_xent_row_carry)(pp, i, m, nx, &mn) & CE_ROW_BAD_LABEL;
#ifdef CE_NARROW_ROW
        if (u) {
            CE_F(ce_store_kept_row)(u, CE_ROW(CE_SG, p->grad, p->g_rs, i), p->cols, stream);
            if (CE_KEEP_EXPS) kq.grad = (char *)u->kept;   /* the next row's (ce_store_behind switches them) */
        }
#endif
        m = mn;
    }
#ifdef CE_NARROW_ROW
#if CE_KEEP_EXPS
    if (u && u->behind) CE_F(ce_store_behind_rest)(u->behind);   /* the last row */
#endif
    if (stream) ce_stream_fence();
#endif
    return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
}

#ifdef CE_WIDEN_ROW
/* How many rows ahead of row i the staged rows prefetch x, 0 for none: short contiguous rows, about
 * CE_PF_AHEAD bytes ahead (without it, and the next row widened inside the sweep instead, 65536x1000 half
 * loss+grad into out= was 20% slower) */
CE_INLINE npy_intp CE_F(ce_prefetch_rows_ahead)(const ce_xent_problem *p)
{
    const npy_intp rb = p->cols * CE_SZ;
    return (p->x_cs == CE_SZ && p->x_rs == rb) ? ce_rows_ahead(rb) : 0;
}

/* Half rows [r0, r1), staged (see ce_transform_row_staged); float32 targets (t_f32) are read in place, or
 * copied into a scratch row when strided (so that the float32 row kernel runs its unit-stride loops). */
CE_INLINE int CE_F(ce_xent_rows_staged)(const ce_xent_problem *p, npy_intp r0, npy_intp r1)
{
    const npy_intp n = p->cols, sx = p->x_cs / CE_SZ, st = p->t_cs / CE_SZ, sg = p->g_cs / CE_SZG;
    const int half_t = p->t != NULL && !p->t_f32;
    const int copy_t = p->t != NULL && p->t_f32 && p->t_cs != (npy_intp)sizeof(float);
    /* half or strided gradient rows go through a scratch row too (the float32 kernel then runs unit strides) */
    const int half_g = p->grad != NULL && (sizeof(CE_SG) < sizeof(float) || sg != 1);
    const int stream = half_g && CE_F(ce_stream_rows)(p->rows, n);
    /* contiguous rows too long to be prefetched: the next row is widened inside the current row's sweep (where
     * it can) into xn, its read from memory overlapping the exps (prefetched rows come from L2 anyway) */
    const npy_intp rb = n * CE_SZ, pf_rows = CE_F(ce_prefetch_rows_ahead)(p);
    const int ahead = sx == 1 && pf_rows == 0;
    const size_t rows_of_scratch = 1 + ahead + (half_t || copy_t) + (p->v != NULL) + half_g;
    float *buf = (float *)malloc((size_t)(n > 0 ? n : 1) * rows_of_scratch * sizeof(float));
    if (!buf) return -1;
    float *xb = buf, *xn = xb + ahead * n, *tb = xn + n, *vb = tb + (half_t || copy_t) * n;
    float *gb = vb + (p->v != NULL) * n;
    ce_xent_problem q = *p;   /* the float32 view: row i of x, t and a half gradient is the scratch row */
    q.x = (const char *)xb; q.x_rs = 0; q.x_cs = sizeof(float);
    q.t_f32 = 0;
    if (half_t || copy_t) { q.t = (const char *)tb; q.t_rs = 0; q.t_cs = sizeof(float); }
    if (p->v) {
        const CE_S *v = (const CE_S *)p->v;
        for (npy_intp j = 0; j < n; j++) vb[j] = CE_LD(v[j * (p->v_cs / CE_SZ)]);
        q.v = (const char *)vb; q.v_cs = sizeof(float);
    }
    if (half_g) { q.grad = (char *)gb; q.g_rs = 0; q.g_cs = sizeof(float); }
#ifdef CE_NARROW_ROW
    ce_unscaled_row unscaled = {0, 0.0f, -1, NULL};
    if (half_g && sg == 1) q.unscaled = &unscaled;   /* scaled while rounded into the output (below) */
#endif
    const npy_intp pfw = half_g ? CE_F(ce_out_rows_ahead)(n, p->g_cs, stream) : 0;
    int nbad = 0;
    ce_widen_next wn = {NULL, NULL, CE_WIDEN_ROW, 0.0f, 0};
    float m = r0 < r1 ? CE_F(ce_widen_strided)(CE_ROW(const CE_S, p->x, p->x_rs, r0), sx, xb, n) : 0.0f;
    for (npy_intp i = r0; i < r1; i++) {
        if (pf_rows && i + pf_rows < p->rows) CE_F(ce_prefetch_row)(p->x + (i + pf_rows) * p->x_rs, rb);
        if (pfw && i + pfw < p->rows) CE_F(ce_prefetch_row)(p->grad + (i + pfw) * p->g_rs, n * CE_SZG);
        if (stream && sg == 1) CE_F(ce_prefetch_row_end)(p->grad + i * p->g_rs, n);
        if (half_t) CE_F(ce_widen_strided)(CE_ROW(const CE_S, p->t, p->t_rs, i), st, tb, n);
        if (copy_t) ce_copy_f32_row(p->t + i * p->t_rs, p->t_cs, tb, n);
        if (q.unscaled) q.unscaled->unscaled = 0;
        const CE_S *next = i + 1 < r1 ? CE_ROW(const CE_S, p->x, p->x_rs, i + 1) : NULL;
        wn.h = (const uint16_t *)next; wn.f = xn; wn.done = 0;
        q.x = (const char *)xb;
        q.wnext = ahead && next ? &wn : NULL;
        nbad += CE_WIDE(ce_xent_row_carry)(&q, i, n > 0 ? m : (float)NAN, NULL, NULL) & CE_ROW_BAD_LABEL;
        if (half_g) CE_F(ce_store_scratch_row)(gb, CE_ROW(CE_SG, p->grad, p->g_rs, i), n, sg, stream, q.unscaled);
        if (next) {   /* widened by the sweep or here, the next row becomes the current one (xn is xb unless ahead) */
            m = wn.done ? wn.max : CE_F(ce_widen_strided)(next, sx, xn, n);
            float *sw = xb; xb = xn; xn = sw;
        }
    }
    if (stream) ce_stream_fence();
    free(buf);
    return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
}

#endif

/* Whether rows are a loss+grad of ce_is_sparse_alone into contiguous output rows: ce_xent_grad_rows_kept */
CE_INLINE int CE_F(ce_is_sparse_grad)(const ce_xent_problem *p)
{
    return p->grad && p->g_cs == CE_SZG && CE_F(ce_is_sparse_alone)(p);
}

/* Rows [r0, r1) of ce_is_sparse_grad whose exps are kept in a float32 row of their own (ce_xent_rows_direct),
 * which is then scaled while stored into the output row (ce_unscaled_row, CE_NARROW_ROW):
 * - half rows read in registers: each row's sweep converts its halves and takes the next row's max, and the
 *   kept row is rounded into a half output row (a float32 output row keeps the exps itself).  The staged rows'
 *   widening pass is left out; the results are theirs, bit for bit.  No software prefetch of the rows ahead,
 *   of x or of the output (with both, as the staged rows have them, 65536x1000 float16 ran at 0.43 ns per
 *   element instead of 0.34: the hardware prefetcher follows).
 * - float32 rows of ce_grad_rows_streamed: the kept row stays in the cache, and the output row is written
 *   once, with non-temporal stores, instead of taking the exps and then their scaled values.
 * -1 when the float32 row cannot be allocated. */
CE_INLINE int CE_F(ce_xent_grad_rows_kept)(const ce_xent_problem *p, npy_intp r0, npy_intp r1)
{
#ifdef CE_NARROW_ROW
    /* streamed float32 rows: the row the sweep computes and the row it stores meanwhile (ce_store_behind) share
     * one kept row where the table sweeps store it, a line ahead of the exps they keep, and the rows are long
     * (ce_behind_shared_min_bytes), whatever their length; else two alternate, for rows of up to
     * ce_behind_max_bytes() (longer ones are stored after their own sweep) */
    const npy_intp len = p->cols > 0 ? p->cols : 1, bytes = len * (npy_intp)sizeof(float);
    const int stream = CE_KEEP_EXPS && CE_F(ce_stream_rows)(p->rows, p->cols);
#if CE_EXP_TABLE
    const int shared = stream && CE_TABLE_KIND == CE_TABLE_F32 && ce_simd_level() >= 3 &&
                       bytes >= ce_behind_shared_min_bytes();
#else
    const int shared = 0;
#endif
    const int behind = shared || (stream && bytes <= ce_behind_max_bytes());
    float *kept = (float *)malloc((size_t)(behind && !shared ? 2 * len : len) * sizeof(float));
    if (!kept) return -1;
    ce_unscaled_row unscaled = {0, 0.0f, -1, kept, 0, 0.0f, NULL};
#if CE_KEEP_EXPS
    ce_store_behind rows_behind = {shared ? kept : kept + len, NULL, 0, 0, 1.0f, -1, shared};
    if (behind) unscaled.behind = &rows_behind;
#endif
    ce_xent_problem q = *p;
    q.unscaled = &unscaled;
    const int res = CE_F(ce_xent_rows_direct)(&q, r0, r1);
    free(kept);
    return res;
#else
    return CE_F(ce_xent_rows_direct)(p, r0, r1);
#endif
}

/* Whether float32 rows [r0, r1) of ce_is_sparse_grad stream their gradient rows out of a kept row
 * (ce_xent_grad_rows_kept): long rows in large calls (ce_stream_rows: from 600 classes) into an output that is
 * not fresh (ce_stream_block).  Shorter rows keep their exps in the gradient row, in the cache (streaming rows
 * of 500 classes measured even to 6% slower on an Intel Xeon). */
CE_INLINE int CE_F(ce_grad_rows_streamed)(const ce_xent_problem *p, npy_intp r0, npy_intp r1)
{
#if defined(CE_NARROW_ROW) && !defined(CE_WIDEN_ROW)
    return CE_F(ce_is_sparse_grad)(p) && CE_F(ce_stream_block)(p->rows, p->cols, p->grad, p->g_rs, r0, r1);
#else
    (void)p; (void)r0; (void)r1;
    return 0;
#endif
}

/* Rows [r0, r1) with no scratch memory where they need it: NaN results, and CE_ROW_NO_MEMORY. */
CE_INLINE int CE_F(ce_xent_rows_no_memory)(const ce_xent_problem *p, npy_intp r0, npy_intp r1)
{
    for (npy_intp i = r0; i < r1; i++) {
        *CE_ROW(CE_SR, p->loss, p->loss_rs, i) = CE_STR((CE_T)NAN);
        if (p->grad) CE_F(ce_fill)(CE_ROW(CE_SG, p->grad, p->g_rs, i), p->cols, p->g_cs / CE_SZG, (CE_T)NAN);
    }
    return CE_ROW_NO_MEMORY;
}

#ifdef CE_WIDEN_ROW
/* Whether half rows run direct rather than staged: the forward of contiguous rows with labels alone, read in
 * registers */
CE_INLINE int CE_F(ce_half_rows_direct)(const ce_xent_problem *p)
{
    return CE_F(ce_is_sparse_forward)(p) && CE_F(ce_half_read_in_registers)();
}
#endif

/* Rows [blk R, blk R + R), R = ce_block_rows: half rows staged where their layout allows (always with float32
 * targets, which only the staged rows read) unless ce_half_rows_direct, the rest direct. */
CE_CLONES static int CE_F(ce_xent_rows)(const void *pp, npy_intp blk)
{
    const ce_xent_problem *p = (const ce_xent_problem *)pp;
    const npy_intp R = ce_block_rows(p->pipe_rows, p->rows, p->cols), r0 = blk * R;
    const npy_intp r1 = p->rows - r0 < R ? p->rows : r0 + R;
#ifdef CE_WIDEN_ROW
    if (CE_F(ce_half_rows_direct)(p)) return CE_F(ce_xent_rows_direct)(p, r0, r1);
    if (CE_F(ce_is_sparse_grad)(p) && CE_F(ce_half_read_in_registers)()) {
        int res = CE_F(ce_xent_grad_rows_kept)(p, r0, r1);
        if (res >= 0) return res;
    }
    if (p->t_f32 || (p->x_cs == CE_SZ && (!p->t || p->t_cs == CE_SZ))) {
        int res = CE_F(ce_xent_rows_staged)(p, r0, r1);
        if (res >= 0) return res;
    }
#endif
    if (p->t_f32) return CE_F(ce_xent_rows_no_memory)(p, r0, r1);
    if (CE_F(ce_grad_rows_streamed)(p, r0, r1)) {
        int res = CE_F(ce_xent_grad_rows_kept)(p, r0, r1);
        if (res >= 0) return res;
    }
    return CE_F(ce_xent_rows_direct)(p, r0, r1);
}

/* nb contiguous rows of n (row stride rs bytes) read into a class-major block of CE_BLOCK_ROWS columns
 * (xt[j * CE_BLOCK_ROWS + i] = row i's x_j); the rows from nb to nv are padding, 0. */
CE_INLINE void CE_F(ce_block_read)(const char *rows, npy_intp rs, CE_T *xt, npy_intp nb, npy_intp nv, npy_intp n)
{
    const npy_intp R = CE_BLOCK_ROWS;
    if (sizeof(CE_S) == sizeof(CE_T)) {   /* stored in the compute type: tiles in registers */
        ce_transpose(rows, rs, (char *)xt, R * (npy_intp)sizeof(CE_T), (int)nb, (int)n, (int)sizeof(CE_T));
    } else {
        for (npy_intp i = 0; i < nb; i++)
            for (npy_intp j = 0; j < n; j++) xt[j * R + i] = CE_LD(CE_ROW(const CE_S, rows, rs, i)[j]);
    }
    for (npy_intp j = 0; j < n; j++)
        for (npy_intp i = nb; i < nv; i++) xt[j * R + i] = CE_K(0.0);
}

/* The class-major block gt (as ce_block_read's) written back as nb rows of n (row stride rs bytes). */
CE_INLINE void CE_F(ce_block_write)(const CE_T *gt, char *rows, npy_intp rs, npy_intp nb, npy_intp n)
{
    const npy_intp R = CE_BLOCK_ROWS;
    if (sizeof(CE_SG) == sizeof(CE_T)) {   /* output in the compute type */
        ce_transpose((const char *)gt, R * (npy_intp)sizeof(CE_T), rows, rs, (int)n, (int)nb, (int)sizeof(CE_T));
    } else {
        for (npy_intp i = 0; i < nb; i++)
            for (npy_intp j = 0; j < n; j++) CE_ROW(CE_SG, rows, rs, i)[j] = CE_STG(gt[j * R + i]);
    }
}

/* The block after the one at row r0, for prefetching a slice per class over this block's exps: its start when
 * its rows lie end to end (row stride rs = n elements of sz bytes; else, or without rows, NULL) and the bytes
 * of one slice (n slices make the block) */
typedef struct { const char *at; npy_intp slice; } CE_F(ce_next_block);
CE_INLINE CE_F(ce_next_block) CE_F(ce_next_block_at)(const char *rows, npy_intp rs, npy_intp nrows, npy_intp r0,
                                                     npy_intp n, npy_intp sz)
{
    const npy_intp R = CE_BLOCK_ROWS, next_rows = nrows - r0 - R < R ? nrows - r0 - R : R;
    CE_F(ce_next_block) b = {NULL, next_rows * sz};
    if (rows && next_rows > 0 && rs == n * sz) b.at = rows + (r0 + R) * rs;
    return b;
}

/* The exps of a class-major block (ce_block_read's): per row (lane) i < nv, rest and cnt as ce_expsum_impl
 * sums them around mm[i] (the row's max, or 0 where that is not finite), exp(x - mm) kept in et (NULL: not
 * kept; a constant at each call site), the next block's rows a and b prefetched a slice per class.  From
 * CE_BLOCK_REL_MIN classes on, without kept exps or with rel_kept, the exps of rows whose max is within
 * CE_REL_MAX (the others' by ce_exp_sub) are taken relative to each row's reference point (ce_exp_rel, a
 * lane's constants each: no two-sum, half the operations of ce_exp_sub) times exp(mref - m), kept as exactly
 * 1 at the max as ce_exp_sub gives it (the gradient tests it): logsumexp of 24 to 96 classes 16-26% faster,
 * log_softmax 5-21%, the cross-entropy 5-17% (whole calls, one thread).  Fewer classes: the constants cost
 * what the cheaper exps save.  softmax keeps ce_exp_sub: its outputs are these exps, and the relative ones
 * cost them up to an ulp more for 3-4% (docs/performance.md). */
#define CE_BLOCK_REL_MIN 20
CE_INLINE void CE_F(ce_block_exps)(const CE_T *xt, const CE_T *mm, npy_intp nv, npy_intp n, CE_T *rest, CE_T *cnt,
                                   CE_T *et, int rel_kept, CE_F(ce_next_block) a, CE_F(ce_next_block) b)
{
    const npy_intp R = CE_BLOCK_ROWS;
    CE_T xlo[CE_BLOCK_ROWS], t0[CE_BLOCK_ROWS], ks[CE_BLOCK_ROWS];
    const int rel = (!et || rel_kept) && n >= CE_BLOCK_REL_MIN;
    CE_SIMD
    for (npy_intp i = 0; i < nv; i++) { rest[i] = 0; cnt[i] = 0; }
    CE_T nfar = 0;   /* rows beyond CE_REL_MAX: 0's constants here, and their own exps after the block's */
    if (rel) {
        CE_SIMD_REDUCE(+ : nfar)
        for (npy_intp i = 0; i < nv; i++) {
            const int near = fabs(mm[i]) <= CE_REL_MAX;
            const CE_M(ce_exp_rel_t) er = CE_M(ce_exp_rel_row)(near ? mm[i] : CE_K(0.0));
            xlo[i] = er.xlo; t0[i] = er.t0; ks[i] = (CE_T)er.inv_top;
            nfar += near ? CE_K(0.0) : CE_K(1.0);
        }
    }
#define CE_BLOCK_EXP(i, j, e_of_x)                                              \
    {                                                                           \
        const CE_T xj = xt[(j) * R + (i)], e = e_of_x;                          \
        rest[i] += xj == mm[i] ? CE_K(0.0) : e;                                 \
        cnt[i] += xj == mm[i] ? CE_K(1.0) : CE_K(0.0);                          \
        if (et) et[(j) * R + (i)] = e;                                          \
    }
#define CE_BLOCK_EXPS(e_of_x)                                                   \
    for (npy_intp j = 0; j < n; j++) {                                          \
        if (a.at) CE_F(ce_prefetch_row)(a.at + j * a.slice, a.slice);          \
        if (b.at) CE_F(ce_prefetch_row)(b.at + j * b.slice, b.slice);          \
        CE_SIMD                                                                 \
        for (npy_intp i = 0; i < nv; i++) CE_BLOCK_EXP(i, j, e_of_x)            \
    }
    if (rel) {
        CE_BLOCK_EXPS(xj == mm[i] ? CE_K(1.0) : CE_M(ce_exp_rel_at)(xj, xlo[i], t0[i]) * ks[i])
        /* rows beyond CE_REL_MAX again, each on its own: a row's results do not depend on the rows beside it */
        for (npy_intp i = 0; nfar != 0 && i < nv; i++) {
            if (fabs(mm[i]) <= CE_REL_MAX) continue;
            rest[i] = 0; cnt[i] = 0;
            for (npy_intp j = 0; j < n; j++) CE_BLOCK_EXP(i, j, CE_M(ce_exp_sub)(xj, mm[i]))
        }
    } else {
        CE_BLOCK_EXPS(CE_M(ce_exp_sub)(xj, mm[i]))
    }
#undef CE_BLOCK_EXPS
#undef CE_BLOCK_EXP
}

/* A block row's statistics for its epilogue, neutral (no division by 0, no infinity) where it is not computed */
CE_INLINE CE_F(ce_xent_stats) CE_F(ce_block_row_stats)(int on, CE_T m, CE_T rest, CE_T cnt, CE_T L, CE_T S, CE_T dot)
{
    CE_F(ce_xent_stats) s;
    s.m = on ? m : CE_K(0.0);
    s.rest = on ? rest : CE_K(0.0);
    s.cnt = on ? cnt : CE_K(1.0);
    s.L = on ? L : CE_K(0.0);
    s.S = on ? S : CE_K(0.0);
    s.dot = on ? dot : CE_K(0.0);
    return s;
}

/* ---------------------------------------------------------------------------------------------------
 * Few classes (ce_block_takes: up to 96 float, 39-63 double), rows contiguous: a row is too short to fill a
 * vector, so a block of CE_BLOCK_ROWS rows is handled at once and the exps run over the whole block
 * (vectorised across rows).  Same statistics and the same epilogue as ce_xent_row, for dense targets or plain
 * sparse labels without class vector.  Returns flags | (bad rows << CE_COUNT_SHIFT). */
/* nv: the block's rows rounded up to a vector multiple (a constant CE_BLOCK_ROWS for full blocks) */
CE_INLINE int CE_F(ce_xent_small_block_impl)(const void *pp, npy_intp blk, const npy_intp nv)
{
    const ce_xent_problem *p = (const ce_xent_problem *)pp;
    const npy_intp n = p->cols, r0 = blk * CE_BLOCK_ROWS;
    const npy_intp nb = p->rows - r0 < CE_BLOCK_ROWS ? p->rows - r0 : CE_BLOCK_ROWS;
    const CE_T a = (CE_T)p->a, b = (CE_T)p->b, c = (CE_T)p->c;
    enum { R = CE_BLOCK_ROWS };
    /* the block transposed (class-major), so every step below is a vector op across the block's rows */
    enum { RC = R * (sizeof(CE_T) == sizeof(double) ? CE_BLOCK_COLS_F64 : CE_BLOCK_COLS) };   /* ce_block_takes */
    CE_T xt[RC], et[RC], tt[RC];
    CE_T m[R], mm[R], rest[R], cnt[R], S[R], dot[R], L[R];
    int nbad = 0;
    CE_F(ce_block_read)(p->x + r0 * p->x_rs, p->x_rs, xt, nb, nv, n);
    if (p->t) {
        CE_F(ce_block_read)(p->t + r0 * p->t_rs, p->t_rs, tt, nb, nv, n);
        for (npy_intp j = 0; j < n; j++) {
            CE_SIMD
            for (npy_intp i = 0; i < nb; i++) tt[j * R + i] = a * tt[j * R + i] + b;
        }
    }
    CE_SIMD
    for (npy_intp i = 0; i < nv; i++) m[i] = -(CE_T)INFINITY;
    for (npy_intp j = 0; j < n; j++) {
        CE_SIMD
        for (npy_intp i = 0; i < nv; i++) m[i] = xt[j * R + i] > m[i] ? xt[j * R + i] : m[i];
    }
    CE_SIMD
    for (npy_intp i = 0; i < nv; i++) {
        mm[i] = (m[i] > -(CE_T)INFINITY && m[i] < (CE_T)INFINITY) ? m[i] : CE_K(0.0);
        S[i] = 0; dot[i] = 0;
    }
    /* the next block's logits and gradient rows prefetched a slice per class over this block's exps: the
     * transposing reads and writes jump between rows, which the hardware prefetchers do not follow
     * (prefetching the targets as well made dense rows in cache 1.4x slower) */
    const CE_F(ce_next_block) nx = CE_F(ce_next_block_at)(p->x, p->x_rs, p->rows, r0, n, CE_SZ);
    const CE_F(ce_next_block) ng = CE_F(ce_next_block_at)(p->grad, p->g_rs, p->rows, r0, n, CE_SZG);
    /* the exps kept even without a gradient, the same exps either way: a loss then comes out bit for bit as
     * with one */
    CE_F(ce_block_exps)(xt, mm, nv, n, rest, cnt, et, 1, nx, ng);
    if (p->t) {
        for (npy_intp j = 0; j < n; j++) {
            CE_SIMD
            for (npy_intp i = 0; i < nv; i++) {
                CE_T d = xt[j * R + i] - mm[i], tj = tt[j * R + i];
                S[i] += tj;
                dot[i] += (tj != 0 && d != 0) ? tj * -d : CE_K(0.0);
            }
        }
    }
    CE_SIMD
    for (npy_intp i = 0; i < nv; i++) L[i] = CE_M(ce_log1p)(rest[i] + (cnt[i] - CE_K(1.0)));   /* = ce_xent_L */
    /* per row: its label (yl; 0 for none, a column its gradient fill overwrites harmlessly) and the exp there
     * (ey; 0 for none), its target dot product (ldot, where the max is finite), its weight (rw), and whether it
     * is computed (live: 1; an ignored row's loss and gradient are 0, a bad label's NaN, as ce_row_label fills
     * them, kept in gfill).  Padding rows are not computed. */
    CE_T rw[R], ldot[R], ey[R], live[R], gfill[R];
    npy_intp yl[R];
    /* (the float lanes apart from the integer ones: together, the loop did not vectorise) */
    CE_SIMD
    for (npy_intp i = 0; i < nv; i++) {
        rw[i] = CE_K(1.0); ey[i] = CE_K(0.0); ldot[i] = CE_K(0.0); gfill[i] = CE_K(0.0);
        live[i] = i < nb ? CE_K(1.0) : CE_K(0.0);
    }
    for (npy_intp i = 0; i < nv; i++) yl[i] = 0;
    if (p->r)
        for (npy_intp i = 0; i < nb; i++) rw[i] = CE_LDR(*CE_ROW(const CE_SR, p->r, p->r_rs, r0 + i));
    if (p->lab) {
        /* row by row through ce_row_label only when some label is ignored or out of range: its branches per row
         * cost a tenth of the kernel */
        if (!ce_block_labels(p->lab, p->lab_rs, p->lab_is64, p->ignore, r0, nb, n, yl)) {
            for (npy_intp i = 0; i < nb; i++) {
                int64_t y = -1;
                CE_SR *loss = CE_ROW(CE_SR, p->loss, p->loss_rs, r0 + i);
                const int todo =
                    CE_F(ce_row_label)(p->lab, p->lab_rs, p->lab_is64, p->ignore, r0 + i, n, loss, NULL, 1, &y);
                if (todo <= 0) {
                    nbad += todo < 0;
                    live[i] = CE_K(0.0);
                    gfill[i] = todo < 0 ? (CE_T)NAN : CE_K(0.0);
                    yl[i] = 0;
                }
            }
        }
        /* every lane's label entry loaded (a row not computed has label 0), the rows not computed zeroed after:
         * loaded under its row's test, the loop took 14 instructions per row, now 10 (callgrind, AVX2) */
        CE_T xy[R];
        for (npy_intp i = 0; i < nv; i++) {
            const npy_intp at = yl[i] * R + i;
            ey[i] = et[at];
            xy[i] = xt[at];
        }
        CE_SIMD
        for (npy_intp i = 0; i < nv; i++) {
            ey[i] = live[i] != 0 ? ey[i] : CE_K(0.0);
            const int on = (live[i] != 0) & (m[i] > -(CE_T)INFINITY) & (m[i] < (CE_T)INFINITY);
            const CE_T mi = on ? m[i] : CE_K(0.0), xi = on ? xy[i] : CE_K(0.0);   /* no inf - inf in any lane */
            ldot[i] = on ? c * (mi - xi) : CE_K(0.0);
        }
    }
    /* the epilogues vectorised across rows, the loss first.  A row not computed (its label, or a max that is
     * not finite: NaN) takes neutral statistics and weight, so that it raises no floating-point signal the row
     * kernel would not (the vector loops compute every lane).  (No omp simd on these loops: it would keep the
     * structs in memory.) */
    const int dense = p->t != NULL, weighted = p->r != NULL;
    const ce_xent_mode mode = p->mode;
    CE_T fin[R], lv[R];
    for (npy_intp i = 0; i < nv; i++) {
        fin[i] = (m[i] > -(CE_T)INFINITY) & (m[i] < (CE_T)INFINITY) ? CE_K(1.0) : CE_K(0.0);
        const int on = fin[i] * live[i] != 0;
        const CE_F(ce_xent_stats) s = CE_F(ce_block_row_stats)(on, m[i], rest[i], cnt[i], L[i], dense ? S[i] : c,
                                                               dense ? dot[i] : ldot[i]);
        const CE_T r = weighted && on ? rw[i] : CE_K(1.0);
        const CE_T loss = fin[i] != 0 ? CE_F(ce_xent_epilogue)(mode, &s, r).loss : (CE_T)NAN;
        lv[i] = live[i] != 0 ? loss : gfill[i];   /* (ce_row_label's fill) */
    }
    if (p->loss_rs == (npy_intp)sizeof(CE_SR)) {   /* contiguous losses: vector stores */
        CE_SR *lo = CE_ROW(CE_SR, p->loss, p->loss_rs, r0);
        CE_SIMD
        for (npy_intp i = 0; i < nb; i++) lo[i] = CE_STR(lv[i]);
    } else {
        for (npy_intp i = 0; i < nb; i++) *CE_ROW(CE_SR, p->loss, p->loss_rs, r0 + i) = CE_STR(lv[i]);
    }
    if (!p->grad) return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
    /* the gradient's coefficients (gmax: a sparse row's label entry at the max; gdo: 1 for a computed row, else
     * its gradient is gfill) */
    CE_T gc[R], gtc[R], ax[R], ab[R], aK[R], acm1[R], arest[R], gmax[R], gdo[R];
    for (npy_intp i = 0; i < nv; i++) {
        const int on = fin[i] * live[i] != 0;
        const CE_F(ce_xent_stats) s = CE_F(ce_block_row_stats)(on, m[i], rest[i], cnt[i], L[i], dense ? S[i] : c,
                                                               dense ? dot[i] : ldot[i]);
        CE_F(ce_xent_epi) e = CE_F(ce_xent_epilogue)(mode, &s, weighted && on ? rw[i] : CE_K(1.0));
        CE_F(ce_xent_atmax) am = CE_F(ce_xent_at_max)(&e, &s);
        gc[i] = e.coef; gtc[i] = e.tcoef;
        ax[i] = am.x; ab[i] = am.b; aK[i] = am.K; acm1[i] = am.cm1; arest[i] = am.rest;
        gmax[i] = dense ? CE_K(0.0) : CE_F(ce_xent_grad_at_max)(&am, c);   /* p - 1 without the cancellation */
        gfill[i] = live[i] - fin[i] > 0 ? (CE_T)NAN : gfill[i];   /* live, but no finite max */
        gdo[i] = on ? CE_K(1.0) : CE_K(0.0);
    }
    /* the gradient, class-major over the block (vectorised across rows) into et */
    if (p->t) {
        for (npy_intp j = 0; j < n; j++) {
            CE_SIMD
            for (npy_intp i = 0; i < nv; i++) {
                CE_T tj = tt[j * R + i], ej = et[j * R + i];
                const CE_F(ce_xent_atmax) am = {ax[i], ab[i], aK[i], acm1[i], arest[i]};
                /* a max entry (ej == 1) without the cancellation of p - 1 on confident rows */
                CE_T gj = ej == CE_K(1.0) ? CE_F(ce_xent_grad_at_max)(&am, tj) : gc[i] * ej - gtc[i] * tj;
                et[j * R + i] = gdo[i] != 0 ? gj : gfill[i];
            }
        }
    } else {   /* sparse labels, as ce_xent_row: the exps scaled, the label entry less the target (gmax at the max),
                * the label entries apart: testing every entry for its row's label took a sixth of the kernel */
        CE_T glab[R];
        CE_SIMD
        for (npy_intp i = 0; i < nv; i++) {
            CE_T gj = gc[i] * ey[i];
            gj = ey[i] == CE_K(1.0) ? gmax[i] : gj - gtc[i] * c;
            glab[i] = gdo[i] != 0 ? gj : gfill[i];
        }
        for (npy_intp j = 0; j < n; j++) {
            CE_SIMD
            for (npy_intp i = 0; i < nv; i++) et[j * R + i] = gdo[i] != 0 ? gc[i] * et[j * R + i] : gfill[i];
        }
        for (npy_intp i = 0; i < nb; i++) et[yl[i] * R + i] = glab[i];
    }
    CE_F(ce_block_write)(et, p->grad + r0 * p->g_rs, p->g_rs, nb, n);
    return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
}

CE_CLONES static int CE_F(ce_xent_small_block)(const void *pp, npy_intp blk)
{
    const ce_xent_problem *p = (const ce_xent_problem *)pp;
    const npy_intp nb = p->rows - blk * CE_BLOCK_ROWS;
    /* a short last block (a call of 32 rows) does not pay for CE_BLOCK_ROWS; full blocks keep constant loops */
    if (nb >= CE_BLOCK_ROWS) return CE_F(ce_xent_small_block_impl)(pp, blk, CE_BLOCK_ROWS);
    return CE_F(ce_xent_small_block_impl)(pp, blk, (nb + 15) / 16 * 16);
}

/* Whether ce_xent_small_block can run this problem (contiguous short rows, no class vector). */
static int CE_F(ce_xent_small_ok)(const ce_xent_problem *p)
{
    if (p->mode != CE_XENT_LOGITS || p->v || p->cols == 0 || p->x_cs != CE_SZ) return 0;
    if (!ce_block_takes(sizeof(CE_T), p->t != NULL, p->cols)) return 0;
    if (p->t_f32) return 0;   /* float32 targets with half logits: only ce_xent_rows reads them */
    if (p->t && (p->lab || p->t_cs != CE_SZ)) return 0;
    if (!p->t && (!p->lab || p->b != 0)) return 0;
    if (p->grad && p->g_cs != CE_SZG) return 0;
    return 1;
}

/* ---------------------------------------------------------------------------------------------------
 * logsumexp / softmax / log_softmax of few classes (ce_transform_block_takes), rows contiguous:
 * CE_BLOCK_ROWS rows at a time, vectorised across rows as the cross-entropy's block kernel above; the row
 * statistics and outputs of ce_transform_row, to rounding (exps by ce_block_exps here). */
CE_INLINE int CE_F(ce_transform_small_block_impl)(const ce_transform_problem *p, npy_intp blk, const npy_intp nv)
{
    const npy_intp n = p->cols, r0 = blk * CE_BLOCK_ROWS;
    const npy_intp nb = p->rows - r0 < CE_BLOCK_ROWS ? p->rows - r0 : CE_BLOCK_ROWS;
    const int soft = p->what == CE_ROW_SOFTMAX;
    enum { R = CE_BLOCK_ROWS };
    enum { RC = R * (sizeof(CE_T) == sizeof(double) ? CE_BLOCK_COLS_F64 : CE_BLOCK_COLS) };   /* ce_block_takes */
    CE_T xt[RC], et[RC];
    CE_T m[R], mm[R], rest[R], cnt[R], L[R], inv[R], fin[R];
    CE_F(ce_block_read)(p->x + r0 * p->x_rs, p->x_rs, xt, nb, nv, n);
    CE_SIMD
    for (npy_intp i = 0; i < nv; i++) m[i] = -(CE_T)INFINITY;
    for (npy_intp j = 0; j < n; j++) {
        CE_SIMD
        for (npy_intp i = 0; i < nv; i++) m[i] = xt[j * R + i] > m[i] ? xt[j * R + i] : m[i];
    }
    CE_SIMD
    for (npy_intp i = 0; i < nv; i++) mm[i] = (m[i] > -(CE_T)INFINITY && m[i] < (CE_T)INFINITY) ? m[i] : CE_K(0.0);
    /* the next block's rows prefetched over this block's exps, as the cross-entropy's block kernel does */
    const CE_F(ce_next_block) nx = CE_F(ce_next_block_at)(p->x, p->x_rs, p->rows, r0, n, CE_SZ);
    const CE_F(ce_next_block) ny = CE_F(ce_next_block_at)(p->what != CE_ROW_LSE ? p->y : NULL, p->y_rs, p->rows,
                                                          r0, n, CE_SZG);
    if (soft) CE_F(ce_block_exps)(xt, mm, nv, n, rest, cnt, et, 0, nx, ny);
    else CE_F(ce_block_exps)(xt, mm, nv, n, rest, cnt, NULL, 0, nx, ny);
    /* as ce_lse_stats and ce_transform_row: lse = m + L, the softmax divides by s = cnt + rest; a row whose
     * max is not finite (fin 0) gets ce_lse_nonfinite's logsumexp, or NaN rows */
    CE_SIMD
    for (npy_intp i = 0; i < nv; i++) {
        fin[i] = (m[i] > -(CE_T)INFINITY && m[i] < (CE_T)INFINITY) ? CE_K(1.0) : CE_K(0.0);
        L[i] = CE_M(ce_log1p)(rest[i] + (cnt[i] - CE_K(1.0)));
        inv[i] = CE_K(1.0) / (cnt[i] + rest[i]);
    }
    if (p->what == CE_ROW_LSE) {
        for (npy_intp i = 0; i < nb; i++) {
            const CE_S *x = CE_ROW(const CE_S, p->x, p->x_rs, r0 + i);
            CE_T v = fin[i] != 0 ? m[i] + L[i] : CE_F(ce_lse_nonfinite)(x, n, 1, m[i]);
            *CE_ROW(CE_SR, p->y, p->y_rs, r0 + i) = CE_STR(v);
        }
        return 0;
    }
    for (npy_intp j = 0; j < n; j++) {
        if (soft) {
            CE_SIMD
            for (npy_intp i = 0; i < nv; i++) et[j * R + i] = fin[i] != 0 ? et[j * R + i] * inv[i] : (CE_T)NAN;
        } else {
            CE_SIMD
            for (npy_intp i = 0; i < nv; i++) et[j * R + i] = fin[i] != 0 ? (xt[j * R + i] - m[i]) - L[i] : (CE_T)NAN;
        }
    }
    CE_F(ce_block_write)(et, p->y + r0 * p->y_rs, p->y_rs, nb, n);
    return 0;
}

CE_CLONES static int CE_F(ce_transform_small_block)(const void *pp, npy_intp blk)
{
    const ce_transform_problem *p = (const ce_transform_problem *)pp;
    const npy_intp nb = p->rows - blk * CE_BLOCK_ROWS;
    if (nb >= CE_BLOCK_ROWS) return CE_F(ce_transform_small_block_impl)(p, blk, CE_BLOCK_ROWS);
    return CE_F(ce_transform_small_block_impl)(p, blk, (nb + 15) / 16 * 16);
}

/* Whether ce_transform_small_block can run this problem (contiguous short rows, N x C outputs written
 * contiguously, as ce_transform_block_takes says) */
static int CE_F(ce_transform_small_ok)(const ce_transform_problem *p)
{
    if (p->cols == 0 || p->x_cs != CE_SZ) return 0;
    if (!ce_transform_block_takes(sizeof(CE_T), p->cols)) return 0;
    return p->what == CE_ROW_LSE || p->y_cs == CE_SZG;
}

/* ---------------------------------------------------------------------------------------------------
 * Rows whose classes are strided, next to each other (axis=0 of a C-ordered array, torch's (N, C, d...) with
 * the class axis moved last) or apart (x[:, ::2]): strided rows cannot use vector loads, so a block of rows
 * is copied into a contiguous buffer (adjacent rows across the rows, whole cache lines at a time; rows apart
 * row by row), the contiguous kernels run there, with the contiguous rows' results, and the gradient or output
 * rows are written in place when contiguous, else copied back.  Buffers are O(block x cols) per thread. */
CE_INLINE void CE_F(ce_gather_rows)(CE_S *dst, const char *src, npy_intp rs, npy_intp cs, npy_intp nb, npy_intp n)
{
    if (ce_copy_row_by_row(rs, cs)) {
        for (npy_intp i = 0; i < nb; i++)
            for (npy_intp j = 0; j < n; j++) dst[i * n + j] = *(const CE_S *)(src + i * rs + j * cs);
        return;
    }
    for (npy_intp j = 0; j < n; j++)
        for (npy_intp i = 0; i < nb; i++) dst[i * n + j] = *(const CE_S *)(src + j * cs + i * rs);
}

CE_INLINE void CE_F(ce_scatter_rows)(char *dst, npy_intp rs, npy_intp cs, const CE_SG *src, npy_intp nb, npy_intp n)
{
    if (ce_copy_row_by_row(rs, cs)) {
        for (npy_intp i = 0; i < nb; i++)
            for (npy_intp j = 0; j < n; j++) *(CE_SG *)(dst + i * rs + j * cs) = src[i * n + j];
        return;
    }
    for (npy_intp j = 0; j < n; j++)
        for (npy_intp i = 0; i < nb; i++) *(CE_SG *)(dst + j * cs + i * rs) = src[i * n + j];
}

#ifdef CE_WIDEN_ROW
/* nb half rows of n (row stride rs, class stride cs, in bytes) widened into contiguous float32 rows */
CE_INLINE void CE_F(ce_widen_block)(const char *src, npy_intp rs, npy_intp cs, float *dst, npy_intp nb, npy_intp n)
{
    if (cs == CE_SZ && rs == n * CE_SZ) {
        CE_WIDEN_ROW((const CE_S *)src, dst, nb * n);   /* one contiguous run */
    } else if (cs == CE_SZ) {
        for (npy_intp i = 0; i < nb; i++) CE_WIDEN_ROW((const CE_S *)(src + i * rs), dst + i * n, n);
    } else if (ce_copy_row_by_row(rs, cs)) {
        for (npy_intp i = 0; i < nb; i++)
            for (npy_intp j = 0; j < n; j++) dst[i * n + j] = CE_LD(*(const CE_S *)(src + i * rs + j * cs));
    } else {   /* strided classes (adjacent rows): read across the rows */
        for (npy_intp j = 0; j < n; j++)
            for (npy_intp i = 0; i < nb; i++) dst[i * n + j] = CE_LD(*(const CE_S *)(src + i * rs + j * cs));
    }
}

/* nb contiguous float32 rows of n stored into N x C output rows (strides in bytes) */
CE_INLINE void CE_F(ce_store_block)(const float *src, char *dst, npy_intp rs, npy_intp cs, npy_intp nb, npy_intp n)
{
    if (cs == CE_SZG && rs == n * CE_SZG) {
        CE_F(ce_store_scratch_row)(src, (CE_SG *)dst, nb * n, 1, 0, NULL);
    } else if (cs == CE_SZG) {
        for (npy_intp i = 0; i < nb; i++)
            CE_F(ce_store_scratch_row)(src + i * n, (CE_SG *)(dst + i * rs), n, 1, 0, NULL);
    } else if (ce_copy_row_by_row(rs, cs)) {
        for (npy_intp i = 0; i < nb; i++)
            for (npy_intp j = 0; j < n; j++) *(CE_SG *)(dst + i * rs + j * cs) = CE_STG(src[i * n + j]);
    } else {
        for (npy_intp j = 0; j < n; j++)
            for (npy_intp i = 0; i < nb; i++) *(CE_SG *)(dst + i * rs + j * cs) = CE_STG(src[i * n + j]);
    }
}

/* A block of half rows, any layout (strided classes, or few classes), staged block-wise: logits, targets (half
 * ones widened, float32 ones copied) and class vector become contiguous float32 rows, which run as the float32
 * column's problem (few classes: vectorised across rows); results are the float32 kernels' on the same values.
 * Returns -1 when the scratch block cannot be allocated. */
CE_INLINE int CE_F(ce_xent_tblock_wide)(const ce_xent_problem *p, npy_intp r0, npy_intp nb)
{
    const npy_intp n = p->cols, nn = nb * n;
    const size_t blocks = 1 + (p->t != NULL) + (p->grad != NULL);
    float *buf = (float *)malloc(((size_t)(nn > 0 ? nn : 1) * blocks + (size_t)(p->v ? n : 0)) * sizeof(float));
    if (!buf) return -1;
    float *xb = buf, *tb = xb + nn, *gb = tb + (p->t != NULL) * nn, *vb = gb + (p->grad != NULL) * nn;
    const npy_intp f32 = (npy_intp)sizeof(float);
    ce_xent_problem q = *p;   /* the float32 view of rows [r0, r0 + nb) */
    q.rows = nb;
    q.t_f32 = 0;
    CE_F(ce_widen_block)(p->x + r0 * p->x_rs, p->x_rs, p->x_cs, xb, nb, n);
    q.x = (const char *)xb; q.x_rs = n * f32; q.x_cs = f32;
    if (p->t && !p->t_f32) CE_F(ce_widen_block)(p->t + r0 * p->t_rs, p->t_rs, p->t_cs, tb, nb, n);
    if (p->t && p->t_f32)
        for (npy_intp i = 0; i < nb; i++) ce_copy_f32_row(p->t + (r0 + i) * p->t_rs, p->t_cs, tb + i * n, n);
    if (p->t) { q.t = (const char *)tb; q.t_rs = n * f32; q.t_cs = f32; }
    if (p->v) {
        for (npy_intp j = 0; j < n; j++) vb[j] = CE_LD(*(const CE_S *)(p->v + j * p->v_cs));
        q.v = (const char *)vb; q.v_cs = f32;
    }
    if (p->lab) q.lab = p->lab + r0 * p->lab_rs;
    if (p->r) q.r = p->r + r0 * p->r_rs;
    q.loss = p->loss + r0 * p->loss_rs;
    if (p->grad) { q.grad = (char *)gb; q.g_rs = n * f32; q.g_cs = f32; }
    int nbad = 0;
    if (CE_WIDE(ce_xent_small_ok)(&q)) {
        for (npy_intp k = 0; k * CE_BLOCK_ROWS < nb; k++) nbad += CE_WIDE(ce_xent_small_block)(&q, k) >> CE_COUNT_SHIFT;
    } else {
        nbad = CE_WIDE(ce_xent_rows_direct)(&q, 0, nb) >> CE_COUNT_SHIFT;
    }
    if (p->grad) CE_F(ce_store_block)(gb, p->grad + r0 * p->g_rs, p->g_rs, p->g_cs, nb, n);
    free(buf);
    return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
}

/* A block of half rows of logsumexp / softmax / log_softmax with few classes (any layout), staged block-wise
 * as ce_xent_tblock_wide stages the cross-entropy's: widened into contiguous float32 rows that run the float32
 * block kernel, N x C outputs rounded back in one vectorised pass.  Returns -1 when the rows are not few-class
 * ones or the scratch block cannot be allocated. */
CE_INLINE int CE_F(ce_transform_tblock_wide)(const ce_transform_problem *p, npy_intp r0, npy_intp nb)
{
    const npy_intp n = p->cols, nn = nb * n, f32 = (npy_intp)sizeof(float);
    const int row_out = p->what != CE_ROW_LSE;
    ce_transform_problem q = *p;   /* the float32 view of rows [r0, r0 + nb) */
    q.rows = nb;
    q.x_rs = n * f32; q.x_cs = f32;
    q.y = p->y + r0 * p->y_rs;
    if (row_out) { q.y_rs = n * f32; q.y_cs = f32; }
    if (!CE_WIDE(ce_transform_small_ok)(&q)) return -1;
    float *buf = (float *)malloc((size_t)(nn > 0 ? nn : 1) * (1 + row_out) * sizeof(float));
    if (!buf) return -1;
    CE_F(ce_widen_block)(p->x + r0 * p->x_rs, p->x_rs, p->x_cs, buf, nb, n);
    q.x = (const char *)buf;
    if (row_out) q.y = (char *)(buf + nn);
    for (npy_intp k = 0; k * CE_BLOCK_ROWS < nb; k++) CE_WIDE(ce_transform_small_block)(&q, k);
    if (row_out) CE_F(ce_store_block)(buf + nn, p->y + r0 * p->y_rs, p->y_rs, p->y_cs, nb, n);
    free(buf);
    return 0;
}
#endif

CE_CLONES static int CE_F(ce_xent_tblock)(const void *pp, npy_intp blk)
{
    const ce_xent_problem *p = (const ce_xent_problem *)pp;
    const npy_intp n = p->cols, tb = ce_tblock_rows(n, p->x_rs, p->x_cs), r0 = blk * tb;
    const npy_intp nb = p->rows - r0 < tb ? p->rows - r0 : tb;
#ifdef CE_WIDEN_ROW
    int wide = CE_F(ce_xent_tblock_wide)(p, r0, nb);
    if (wide >= 0 || p->t_f32) return wide >= 0 ? wide : CE_F(ce_xent_rows_no_memory)(p, r0, r0 + nb);
#endif
    int nin = 1 + (p->t != NULL), ret, nbad = 0;
    /* the input rows (x, t) in the storage type, then the gradient rows in the output type */
    size_t goff = ((size_t)(nb * n) * nin * sizeof(CE_S) + 15) & ~(size_t)15;   /* gradient rows, aligned */
    const int g_direct = p->grad != NULL && p->g_cs == CE_SZG;   /* contiguous gradient rows: written in place */
    char *buf = (char *)malloc(goff + (size_t)(nb * n) * (p->grad != NULL && !g_direct) * sizeof(CE_SG));
    if (!buf) {   /* out of memory: the strided row kernel needs no buffer */
        for (npy_intp i = 0; i < nb; i++) nbad += CE_F(ce_xent_row)(pp, r0 + i) & CE_ROW_BAD_LABEL;
        return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
    }
    ce_xent_problem q = *p;
    CE_S *xb = (CE_S *)buf, *tb_ = xb + nb * n;
    CE_SG *gb = (CE_SG *)(buf + goff);
    CE_F(ce_gather_rows)(xb, p->x + r0 * p->x_rs, p->x_rs, p->x_cs, nb, n);
    q.rows = nb;
    q.x = (const char *)xb; q.x_rs = n * CE_SZ; q.x_cs = CE_SZ;
    if (p->t) {
        CE_F(ce_gather_rows)(tb_, p->t + r0 * p->t_rs, p->t_rs, p->t_cs, nb, n);
        q.t = (const char *)tb_; q.t_rs = n * CE_SZ; q.t_cs = CE_SZ;
    }
    if (p->lab) q.lab = p->lab + r0 * p->lab_rs;
    if (p->r) q.r = p->r + r0 * p->r_rs;
    q.loss = p->loss + r0 * p->loss_rs;
    if (g_direct) q.grad = p->grad + r0 * p->g_rs;
    else if (p->grad) { q.grad = (char *)gb; q.g_rs = n * CE_SZG; q.g_cs = CE_SZG; }
    if (CE_F(ce_xent_small_ok)(&q)) {
        for (npy_intp k = 0; k * CE_BLOCK_ROWS < nb; k++) {
            ret = CE_F(ce_xent_small_block)(&q, k);
            nbad += ret >> CE_COUNT_SHIFT;
        }
    } else {
        for (npy_intp i = 0; i < nb; i++) nbad += CE_F(ce_xent_row)(&q, i) & CE_ROW_BAD_LABEL;
    }
    if (p->grad && !g_direct) CE_F(ce_scatter_rows)(p->grad + r0 * p->g_rs, p->g_rs, p->g_cs, gb, nb, n);
    free(buf);
    return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
}

CE_CLONES static int CE_F(ce_transform_tblock)(const void *pp, npy_intp blk)
{
    const ce_transform_problem *p = (const ce_transform_problem *)pp;
    const npy_intp n = p->cols, tb = ce_tblock_rows(n, p->x_rs, p->x_cs), r0 = blk * tb;
    const npy_intp nb = p->rows - r0 < tb ? p->rows - r0 : tb;
#ifdef CE_WIDEN_ROW
    if (CE_F(ce_transform_tblock_wide)(p, r0, nb) == 0) return 0;
#endif
    const int row_out = p->what != CE_ROW_LSE;
    const int y_direct = row_out && p->y_cs == CE_SZG;   /* contiguous output rows: written in place */
    size_t yoff = ((size_t)(nb * n) * sizeof(CE_S) + 15) & ~(size_t)15;   /* output rows, aligned */
    CE_S *buf = (CE_S *)malloc(yoff + (size_t)(nb * n) * (row_out && !y_direct) * sizeof(CE_SG));
    if (!buf) {
        for (npy_intp i = 0; i < nb; i++) CE_F(ce_transform_row)(pp, r0 + i);
        return 0;
    }
    CE_SG *yb = (CE_SG *)((char *)buf + yoff);
    ce_transform_problem q = *p;
    CE_F(ce_gather_rows)(buf, p->x + r0 * p->x_rs, p->x_rs, p->x_cs, nb, n);
    q.rows = nb;
    q.x = (const char *)buf; q.x_rs = n * CE_SZ; q.x_cs = CE_SZ;
    q.y = p->y + r0 * p->y_rs;
    if (row_out && !y_direct) { q.y = (char *)yb; q.y_rs = n * CE_SZG; q.y_cs = CE_SZG; }
    if (CE_F(ce_transform_small_ok)(&q)) {
        for (npy_intp k = 0; k * CE_BLOCK_ROWS < nb; k++) CE_F(ce_transform_small_block)(&q, k);
    } else {
        for (npy_intp i = 0; i < nb; i++) CE_F(ce_transform_row)(&q, i);
    }
    if (row_out && !y_direct) CE_F(ce_scatter_rows)(p->y + r0 * p->y_rs, p->y_rs, p->y_cs, yb, nb, n);
    free(buf);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * Probabilities: rescale by the row sum, clip, (focal-)weighted -t log c.  See ce_prob_problem. */

/* A probability row's element loops (ce_prob_row): returns its loss, and writes its gradient when g is given.
 * has_t, has_v, from_logits and focal are constants at the call for Keras' plain categorical rows, which then
 * vectorise (the generic call branches per element; the focal term's pow never vectorises). */
CE_INLINE CE_T CE_F(ce_prob_loops)(const CE_F(ce_prob_ctx) *k, const CE_S *x, npy_intp sx, const CE_S *t,
                                   npy_intp st, const CE_S *v, npy_intp sv, int64_t y, CE_T a, CE_T b, npy_intp n,
                                   CE_T m, CE_T s, CE_T r, CE_SG *g, npy_intp sg, int has_t, int has_v,
                                   int from_logits, int focal)
{
    const CE_T S = k->S;
#define CE_TGT(j)                                                                  \
    (((has_t ? a * CE_LD(t[(j) * st]) + b : b) + ((j) == y ? CE_K(1.0) : CE_K(0.0))) \
     * (has_v ? CE_LD(v[(j) * sv]) : CE_K(1.0)))
#define CE_PROB(j) (from_logits ? CE_M(ce_exp)(CE_LD(x[(j) * sx]) - m) / s : CE_LD(x[(j) * sx]))
    CE_T total = 0, G = 0;
    CE_SIMD_REDUCE(+ : total, G)
    for (npy_intp j = 0; j < n; j++) {
        CE_T f, h, pj = CE_PROB(j);
        CE_F(ce_prob_term)(k, pj, CE_TGT(j), &f, &h, focal);
        total += f;
        G += h * (pj / S);
    }
    if (g && !from_logits) {
        CE_SIMD
        for (npy_intp j = 0; j < n; j++) {
            CE_T f, h;
            CE_F(ce_prob_term)(k, CE_LD(x[j * sx]), CE_TGT(j), &f, &h, focal);
            g[j * sg] = CE_STG(r * ((h - G) / S));
        }
    } else if (g) {
        /* through the softmax too: dx_k = p_k (dp_k - sum_j p_j dp_j) */
        CE_T D = 0;
        CE_SIMD_REDUCE(+ : D)
        for (npy_intp j = 0; j < n; j++) {
            CE_T f, h, pj = CE_PROB(j);
            CE_F(ce_prob_term)(k, pj, CE_TGT(j), &f, &h, focal);
            D += pj * ((h - G) / S);
        }
        CE_SIMD
        for (npy_intp j = 0; j < n; j++) {
            CE_T f, h, pj = CE_PROB(j);
            CE_F(ce_prob_term)(k, pj, CE_TGT(j), &f, &h, focal);
            g[j * sg] = CE_STG(r * (pj * ((h - G) / S - D)));
        }
    }
#undef CE_PROB
#undef CE_TGT
    return total;
}

CE_CLONES static int CE_F(ce_prob_row)(const void *pp, npy_intp i)
{
    const ce_prob_problem *p = (const ce_prob_problem *)pp;
    const npy_intp n = p->cols;
    const CE_S *x = CE_ROW(const CE_S, p->x, p->x_rs, i);
    const CE_S *t = p->t ? CE_ROW(const CE_S, p->t, p->t_rs, i) : NULL;
    CE_SG *g = p->grad ? CE_ROW(CE_SG, p->grad, p->g_rs, i) : NULL;
    npy_intp sx = p->x_cs / CE_SZ, st = p->t_cs / CE_SZ, sg = p->g_cs / CE_SZG;
    CE_SR *loss = CE_ROW(CE_SR, p->loss, p->loss_rs, i);
    CE_T r = p->r ? CE_LDR(*CE_ROW(const CE_SR, p->r, p->r_rs, i)) : CE_K(1.0);
    CE_T a = (CE_T)p->a, b = (CE_T)p->b;
    int64_t y = -1;
    int flags = 0;
    if (p->lab) {
        int todo = CE_F(ce_row_label)(p->lab, p->lab_rs, p->lab_is64, p->ignore, i, n, loss, g, sg, &y);
        if (todo <= 0) return todo < 0 ? CE_ROW_BAD_LABEL : 0;
    }
    const CE_S *v = (const CE_S *)p->v;
    npy_intp sv = p->v_cs / CE_SZ;
    CE_F(ce_prob_ctx) k;
    k.eps = (CE_T)p->eps;
    k.hi = CE_K(1.0) - k.eps;
    k.tie = (CE_T)p->clip_tie;
    k.alpha = (CE_T)p->alpha;
    k.gamma = (CE_T)p->gamma;
    CE_T m = 0, s = 1, S = 0;
    if (p->from_logits) {
        CE_F(ce_lse_t) ls = CE_F(ce_lse_stats)(x, n, sx, NULL);
        if (!ls.finite) {
            *loss = CE_STR((CE_T)NAN);
            if (g) CE_F(ce_fill)(g, n, sg, (CE_T)NAN);
            return flags;
        }
        m = ls.m;
        s = ls.s;
        CE_SIMD_REDUCE(+ : S)
        for (npy_intp j = 0; j < n; j++) S += CE_M(ce_exp)(CE_LD(x[j * sx]) - m) / s;
    } else {
        CE_T lo_bad = 0;
        CE_SIMD_REDUCE(+ : S, lo_bad)
        for (npy_intp j = 0; j < n; j++) {
            CE_T pj = CE_LD(x[j * sx]);
            S += pj;
            lo_bad += (pj < 0 || pj > 1) ? CE_K(1.0) : CE_K(0.0);
        }
        if (p->check) {
            if (lo_bad > 0) flags |= CE_ROW_OUT_OF_UNIT;
            if (fabs((double)S - 1.0) > CE_NORM_TOL) flags |= CE_ROW_NOT_NORMALISED;
        }
    }
    k.S = S;
    CE_T total;
    if (!p->focal && t && !v && !p->from_logits && sx == 1 && st == 1 && (!g || sg == 1))
        total = CE_F(ce_prob_loops)(&k, x, 1, t, 1, NULL, 0, y, a, b, n, m, s, r, g, 1, 1, 0, 0, 0);
    else
        total = CE_F(ce_prob_loops)(&k, x, sx, t, st, v, sv, y, a, b, n, m, s, r, g, sg, t != NULL, v != NULL,
                                    p->from_logits, p->focal);
    *loss = CE_STR(total);
    return flags;
}

/* ---------------------------------------------------------------------------------------------------
 * Binary cross-entropy, element by element: one row loop per element loss (CE_BIN_ROW_LOOP), picked by
 * the problem's ce_binary_loss in ce_binary_row. */
#define CE_BIN_ROW_LOOP(LOSS)                                                                                  \
    CE_INLINE int CE_F(ce_binary_row_##LOSS)(const ce_binary_problem *p, const CE_F(ce_bin_ctx) *k, const CE_S *x, \
                                             npy_intp sx, const CE_S *z, npy_intp sz_, const CE_S *w, npy_intp sw, \
                                             const CE_S *pw, npy_intp spw, CE_SR *lo, npy_intp sl, CE_SG *g,    \
                                             npy_intp sg, npy_intp n, CE_T r)                                    \
    {                                                                                                          \
        const CE_T za = (CE_T)p->za, zb = (CE_T)p->zb, div = (CE_T)p->row_divisor, gs = r * (CE_T)p->grad_scale; \
        CE_F(ce_bin_ctx) kk = *k;                                                                              \
        kk.has_pw = pw != NULL;   /* a constant where the caller passes NULL */                                \
        CE_T total = 0, out_of_unit = 0;                                                                       \
        CE_SIMD_REDUCE(+ : total, out_of_unit)                                                                 \
        for (npy_intp j = 0; j < n; j++) {                                                                     \
            CE_T xj = CE_LD(x[j * sx]), l, gj;                                                                 \
            CE_F(ce_bin_##LOSS)(&kk, xj, za * CE_LD(z[j * sz_]) + zb, pw ? CE_LD(pw[j * spw]) : CE_K(1.0), &l, &gj); \
            if (w) {                                                                                           \
                l *= CE_LD(w[j * sw]);                                                                         \
                gj *= CE_LD(w[j * sw]);                                                                        \
            }                                                                                                  \
            if (sl) lo[j * sl] = CE_STR(l);                                                                    \
            else total += l;                                                                                   \
            if (g) g[j * sg] = CE_STG(gs * gj);                                                                \
            out_of_unit += (xj < 0 || xj > 1) ? CE_K(1.0) : CE_K(0.0);                                         \
        }                                                                                                      \
        if (!sl) *lo = CE_STR(total / div);                                                                    \
        return (p->check && out_of_unit > 0) ? CE_ROW_OUT_OF_UNIT : 0;                                         \
    }
CE_BIN_ROW_LOOP(logits_tf)
CE_BIN_ROW_LOOP(logits_torch)
CE_BIN_ROW_LOOP(logits_tf_weighted)
CE_BIN_ROW_LOOP(logits_keras)
CE_BIN_ROW_LOOP(prob_clip)
CE_BIN_ROW_LOOP(prob_torch)
CE_BIN_ROW_LOOP(focal)
#undef CE_BIN_ROW_LOOP

#ifdef CE_WIDEN_ROW
/* Half binary rows at least this long are staged: rows of a few elements (Keras' (N, 1) binary targets) would
 * pay the staging's per-row calls for little conversion work saved */
#define CE_BIN_STAGE_MIN 16

/* A half row of a binary problem, staged (see ce_transform_row_staged): x, half targets, weights and pos_weight
 * widened into float32 scratch rows (float32 targets, z_f32, read in place), through the float32 column's
 * kernel; a half gradient comes back through a scratch row.  Returns -1 when scratch cannot be allocated. */
static int CE_F(ce_binary_row_staged)(const ce_binary_problem *p, npy_intp i, npy_intp n)
{
    const int half_z = !p->z_f32, half_g = p->grad != NULL && sizeof(CE_SG) < sizeof(float);
    const size_t rows_of_scratch = 1 + half_z + (p->w != NULL) + (p->pw != NULL) + half_g;
    float stack[2 * CE_KEEP_STACK];
    const size_t need = (size_t)n * rows_of_scratch;
    float *buf = need <= 2 * CE_KEEP_STACK ? stack : (float *)malloc(need * sizeof(float));
    if (!buf) return -1;
    float *xb = buf, *zb = xb + n, *wb = zb + half_z * n, *pwb = wb + (p->w != NULL) * n;
    float *gb = pwb + (p->pw != NULL) * n;
    ce_binary_problem q = *p;   /* the float32 view: row i of each half operand is its scratch row */
    q.z_f32 = 0;
    CE_F(ce_widen_strided)(CE_ROW(const CE_S, p->x, p->x_rs, i), p->x_cs / CE_SZ, xb, n);
    q.x = (const char *)xb; q.x_rs = 0; q.x_cs = sizeof(float);
    if (half_z) {
        CE_F(ce_widen_strided)(CE_ROW(const CE_S, p->z, p->z_rs, i), p->z_cs / CE_SZ, zb, n);
        q.z = (const char *)zb; q.z_rs = 0; q.z_cs = sizeof(float);
    }
    if (p->w) {
        CE_F(ce_widen_strided)(CE_ROW(const CE_S, p->w, p->w_rs, i), p->w_cs / CE_SZ, wb, n);
        q.w = (const char *)wb; q.w_rs = 0; q.w_cs = sizeof(float);
    }
    if (p->pw) {
        CE_F(ce_widen_strided)(CE_ROW(const CE_S, p->pw, p->pw_rs, i), p->pw_cs / CE_SZ, pwb, n);
        q.pw = (const char *)pwb; q.pw_rs = 0; q.pw_cs = sizeof(float);
    }
    if (half_g) { q.grad = (char *)gb; q.g_rs = 0; q.g_cs = sizeof(float); }
    int res = CE_WIDE(ce_binary_row)(&q, i);
    if (half_g) CE_F(ce_store_scratch_row)(gb, CE_ROW(CE_SG, p->grad, p->g_rs, i), n, p->g_cs / CE_SZG, 0, NULL);
    if (buf != stack) free(buf);
    return res;
}
#endif

CE_CLONES static int CE_F(ce_binary_row)(const void *pp, npy_intp i)
{
    const ce_binary_problem *p = (const ce_binary_problem *)pp;
    npy_intp n = p->cols;
    if (p->flat_total > 0 && (i + 1) * p->cols > p->flat_total) n = p->flat_total - i * p->cols;
#ifdef CE_WIDEN_ROW
    if (p->z_f32 || n >= CE_BIN_STAGE_MIN) {
        int res = CE_F(ce_binary_row_staged)(p, i, n);
        if (res >= 0) return res;
        if (p->z_f32) {   /* float32 targets: only the staged rows read them */
            CE_SR *lo = CE_ROW(CE_SR, p->loss, p->loss_rs, i);
            for (npy_intp j = 0; j < (p->loss_cs ? n : 1); j++) lo[j * (p->loss_cs / CE_SZR)] = CE_STR((CE_T)NAN);
            if (p->grad) CE_F(ce_fill)(CE_ROW(CE_SG, p->grad, p->g_rs, i), n, p->g_cs / CE_SZG, (CE_T)NAN);
            return CE_ROW_NO_MEMORY;
        }
    }
#endif
    const CE_S *x = CE_ROW(const CE_S, p->x, p->x_rs, i);
    const CE_S *z = CE_ROW(const CE_S, p->z, p->z_rs, i);
    const CE_S *w = p->w ? CE_ROW(const CE_S, p->w, p->w_rs, i) : NULL;
    const CE_S *pw = p->pw ? CE_ROW(const CE_S, p->pw, p->pw_rs, i) : NULL;
    CE_SR *lo = CE_ROW(CE_SR, p->loss, p->loss_rs, i);
    CE_SG *g = p->grad ? CE_ROW(CE_SG, p->grad, p->g_rs, i) : NULL;
    CE_T r = p->r ? CE_LDR(*CE_ROW(const CE_SR, p->r, p->r_rs, i)) : CE_K(1.0);
    npy_intp sx = p->x_cs / CE_SZ, szz = p->z_cs / CE_SZ, sw = p->w_cs / CE_SZ, spw = p->pw_cs / CE_SZ,
             sl = p->loss_cs / CE_SZR, sg = p->g_cs / CE_SZG;
    CE_F(ce_bin_ctx) k;
    k.eps = (CE_T)p->eps; k.alpha = (CE_T)p->alpha; k.gamma = (CE_T)p->gamma;
    /* only the clipping losses read clip_tie */
    k.tie = (p->mode == CE_BIN_PROB_CLIP || p->mode == CE_BIN_FOCAL) ? (CE_T)p->clip_tie : CE_K(0.0);
    k.has_pw = pw != NULL; k.from_logits = p->from_logits; k.balance = p->balance;
    int unit = sx == 1 && szz == 1 && (!w || sw == 1) && (!pw || spw == 1) && (!g || sg == 1) && sl <= 1;
    /* unit strides without weights get their own constant-stride copies: they vectorise */
#define CE_BIN_CASE(MODE, LOSS)                                                                                 \
    case MODE:                                                                                                 \
        if (unit && !w && !pw)                                                                                 \
            return sl ? CE_F(ce_binary_row_##LOSS)(p, &k, x, 1, z, 1, NULL, 0, NULL, 0, lo, 1, g, 1, n, r)      \
                      : CE_F(ce_binary_row_##LOSS)(p, &k, x, 1, z, 1, NULL, 0, NULL, 0, lo, 0, g, 1, n, r);     \
        return CE_F(ce_binary_row_##LOSS)(p, &k, x, sx, z, szz, w, sw, pw, spw, lo, sl, g, sg, n, r);
    switch (p->mode) {
        CE_BIN_CASE(CE_BIN_LOGITS_TF, logits_tf)
        CE_BIN_CASE(CE_BIN_LOGITS_TORCH, logits_torch)
        CE_BIN_CASE(CE_BIN_PROB_CLIP, prob_clip)
        CE_BIN_CASE(CE_BIN_PROB_TORCH, prob_torch)
        CE_BIN_CASE(CE_BIN_LOGITS_TF_WEIGHTED, logits_tf_weighted)
        CE_BIN_CASE(CE_BIN_LOGITS_KERAS, logits_keras)
        default:
        CE_BIN_CASE(CE_BIN_FOCAL, focal)
    }
#undef CE_BIN_CASE
}

/* One row of a ce_lm_problem: the token statistics (CE_LM_STATS) or the loss and gradient (CE_LM_LOSS). */
CE_CLONES static int CE_F(ce_lm_row)(const void *pp, npy_intp i)
{
    const ce_lm_problem *p = (const ce_lm_problem *)pp;
    const npy_intp n = p->cols, sx = p->x_cs / (npy_intp)sizeof(CE_S), sg = p->g_cs / (npy_intp)sizeof(CE_S);
    const CE_S *x = (const CE_S *)(p->x + i * p->x_rs);
    CE_SG *g = p->grad ? (CE_SG *)(p->grad + i * p->g_rs) : NULL;
    const CE_T cap = (CE_T)p->softcap;
    const int64_t y = ce_label_at(p->lab, p->lab_rs, i, p->lab_is64);
    const int ignored = y == p->ignore && p->ignore != CE_NO_LABEL;
    const int bad = !ignored && (y < 0 || y >= n);
    const CE_T xy = (ignored || bad) ? (CE_T)NAN : CE_F(ce_lm_cap)(CE_LD(x[y * sx]), cap);
    if (p->what == CE_LM_LOSS) {
        CE_T *loss = (CE_T *)(p->loss + i * p->loss_rs);
        if (ignored || bad) {
            *loss = bad ? (CE_T)NAN : CE_K(0.0);
            if (g) for (npy_intp j = 0; j < n; j++) g[j * sg] = CE_STG(bad ? (CE_T)NAN : CE_K(0.0));
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
            if (g) for (npy_intp j = 0; j < n; j++) g[j * sg] = CE_STG((CE_T)NAN);
            return 0;
        }
        CE_F(ce_lm_loss_epi) e = CE_F(ce_lm_epilogue_loss)(&st, xy, n, (CE_T)p->smoothing, (CE_T)p->z_loss,
                                                           (CE_T)p->grad_scale);
        *loss = e.loss;
        if (g) CE_F(ce_lm_grad_sweep)(x, n, sx, cap, st.m, y, e.coef, e.ycoef, e.ucoef, g, sg, keep ? blk_m : NULL);
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
        *lse = CE_F(ce_lse_nonfinite)(x, n, sx, st.m);
        *nll = *ent = (CE_T)NAN;
    }
    *rank = (ignored || bad) ? -1 : (int64_t)st.above;
    if (ignored) *nll = 0;
    if (bad) *nll = (CE_T)NAN;
    return bad ? CE_ROW_BAD_LABEL : 0;
}

/* ---------------------------------------------------------------------------------------------------
 * Row statistics (see ce_stats_problem): min, max and sum of row i from one read, and its entry at the label
 * clipped to [lo, hi] (NaN, and CE_ROW_BAD_LABEL, for a label outside [0, cols)).  Outputs in the compute type. */
CE_INLINE int CE_F(ce_stats_one_n)(const ce_stats_problem *p, npy_intp i, const npy_intp n, const npy_intp sx)
{
    const CE_S *x = CE_ROW(const CE_S, p->x, p->x_rs, i);
    int ret = 0;
    if (p->min || p->max || p->sum) {
        CE_F(ce_minmaxsum_t) st = sx == 1 ? CE_F(ce_minmaxsum_impl)(x, n, 1) : CE_F(ce_minmaxsum_impl)(x, n, sx);
        if (p->min) *CE_ROW(CE_T, p->min, p->min_rs, i) = st.min;
        if (p->max) *CE_ROW(CE_T, p->max, p->max_rs, i) = st.max;
        if (p->sum) *CE_ROW(CE_T, p->sum, p->sum_rs, i) = st.sum;
    }
    if (p->lab) {
        const int64_t y = ce_label_at(p->lab, p->lab_rs, i, p->lab_is64);
        CE_T v = (CE_T)NAN;
        if (y < 0 || y >= n) {
            ret = CE_ROW_BAD_LABEL;
        } else {
            const CE_T lo = (CE_T)p->lo, hi = (CE_T)p->hi;
            v = CE_LD(x[y * sx]);
            v = v < lo ? lo : v;   /* NaN stays NaN */
            v = v > hi ? hi : v;
        }
        *CE_ROW(CE_T, p->picked, p->picked_rs, i) = v;
    }
    return ret;
}

CE_CLONES static int CE_F(ce_stats_row)(const void *pp, npy_intp i)
{
    const ce_stats_problem *p = (const ce_stats_problem *)pp;
    return CE_F(ce_stats_one_n)(p, i, p->cols, p->x_cs / CE_SZ);
}

/* Short rows (cols <= CE_SMALL_COLS) CE_BLOCK_ROWS at a time: one call per block, not per row, and for contiguous
 * rows of 2 to 16 elements a copy of the row loop per length, unrolled (a third faster than the loop over an
 * unknown length).  Returns flags | (bad rows << CE_COUNT_SHIFT). */
CE_CLONES static int CE_F(ce_stats_small_block)(const void *pp, npy_intp blk)
{
    const ce_stats_problem *p = (const ce_stats_problem *)pp;
    const npy_intp r0 = blk * CE_BLOCK_ROWS, r1 = p->rows - r0 < CE_BLOCK_ROWS ? p->rows : r0 + CE_BLOCK_ROWS;
    const npy_intp n = p->cols, sx = p->x_cs / CE_SZ;
    int nbad = 0;
#define CE_STATS_LEN(N) \
    case N: for (npy_intp i = r0; i < r1; i++) nbad += CE_F(ce_stats_one_n)(p, i, N, 1); break;
    switch (sx == 1 ? n : 0) {
        CE_STATS_LEN(2) CE_STATS_LEN(3) CE_STATS_LEN(4) CE_STATS_LEN(5) CE_STATS_LEN(6) CE_STATS_LEN(7)
        CE_STATS_LEN(8) CE_STATS_LEN(9) CE_STATS_LEN(10) CE_STATS_LEN(11) CE_STATS_LEN(12) CE_STATS_LEN(13)
        CE_STATS_LEN(14) CE_STATS_LEN(15) CE_STATS_LEN(16)
        default:
            for (npy_intp i = r0; i < r1; i++) nbad += CE_F(ce_stats_one_n)(p, i, n, sx);
    }
#undef CE_STATS_LEN
    return nbad ? (CE_ROW_BAD_LABEL | (nbad << CE_COUNT_SHIFT)) : 0;
}

/* This element type's entry in the kernel table (ce_kernels_for). */
static const ce_dtype_kernels CE_F(ce_kernels) = {
    CE_NAME, CE_NPY, (int)sizeof(CE_S), (int)sizeof(CE_SR), (int)sizeof(CE_SG),
    CE_F(ce_transform_row), CE_F(ce_transform_tblock), CE_F(ce_transform_small_block), CE_F(ce_transform_small_ok),
    CE_F(ce_transform_rows),
    CE_F(ce_xent_row), CE_F(ce_xent_small_block), CE_F(ce_xent_tblock), CE_F(ce_xent_small_ok),
    CE_F(ce_xent_rows),
    CE_F(ce_prob_row), CE_F(ce_binary_row),
    CE_F(ce_lm_row),
    CE_F(ce_stats_row), CE_F(ce_stats_small_block),
};

#undef CE_SZ
#undef CE_SZG
#undef CE_SZR
#undef CE_ROW
