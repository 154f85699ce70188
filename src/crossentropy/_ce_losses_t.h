/* The losses, for one element type (see _rowmath.c).  Each is one small named function:
 *   - softmax cross-entropy EPILOGUES: row statistics (ce_xent_stats) -> loss and gradient coefficients,
 *     shared by the row kernel, the few-class block kernel and the strided-block kernel;
 *   - probability terms: one element's loss and d loss / d q;
 *   - binary element losses: one element's loss and d loss / d x.
 * A new loss is a new function here plus its enum value in _rowmath.h (see CONTRIBUTING.md). */

/* ---- softmax cross-entropy epilogues --------------------------------------------------------------- */
/* What an epilogue returns: the row's loss, and the gradient g_j = coef * exp(x_j - m) - tcoef * t'_j.
 * Extension point: an LM option (z-loss z * lse^2, ...) adds its term to loss and its derivative to coef
 * (d lse / d x_j = exp(x_j - m) / s) in a new epilogue; the sweeps stay as they are. */
typedef struct {
    CE_T loss, coef, tcoef;
    CE_T K;   /* the softmax's multiplier in the gradient: sum(t') (logits) or 1 (TF op) */
} CE_F(ce_xent_epi);

/* Logits: loss = sum t'_j (lse - x_j) = dot + S L; grad = r (S softmax - t'). */
CE_INLINE CE_F(ce_xent_epi) CE_F(ce_xent_epilogue_logits)(const CE_F(ce_xent_stats) *st, CE_T r)
{
    CE_F(ce_xent_epi) e;
    e.loss = st->dot + st->S * st->L;
    e.coef = r * st->S / (st->cnt + st->rest);
    e.tcoef = r;
    e.K = st->S;
    return e;
}

/* Logits with TF's SoftmaxCrossEntropyWithLogits op gradient: r (softmax - t'), whatever sum(t') is. */
CE_INLINE CE_F(ce_xent_epi) CE_F(ce_xent_epilogue_tf_op)(const CE_F(ce_xent_stats) *st, CE_T r)
{
    CE_F(ce_xent_epi) e;
    e.loss = st->dot + st->S * st->L;
    e.coef = r * CE_K(1.0) / (st->cnt + st->rest);
    e.tcoef = r;
    e.K = CE_K(1.0);
    return e;
}

/* The epilogue of a logits mode (CE_XENT_LOG_PROBS has no softmax and no epilogue: ce_xent_logprob_row). */
CE_INLINE CE_F(ce_xent_epi) CE_F(ce_xent_epilogue)(ce_xent_mode mode, const CE_F(ce_xent_stats) *st, CE_T r)
{
    return mode == CE_XENT_LOGITS_TF_OP ? CE_F(ce_xent_epilogue_tf_op)(st, r) : CE_F(ce_xent_epilogue_logits)(st, r);
}

/* The gradient at an entry whose exp(x_j - m) is 1 (a max entry), coef - tcoef t'_j, written without the
 * cancellation of p - 1 on confident rows (API.md: the exact derivative wins over the frameworks' 0):
 * coef = tcoef K / s + x, so coef - tcoef t = x + (tcoef / s) (((K - t) - t (cnt - 1)) - t rest), the tie
 * term apart from rest so that ties at the max cancel exactly first.  x is whatever an epilogue adds to coef
 * beyond the softmax term (exactly 0 for the two above). */
typedef struct {
    CE_T x, b, K, cm1, rest;
} CE_F(ce_xent_atmax);

CE_INLINE CE_F(ce_xent_atmax) CE_F(ce_xent_at_max)(const CE_F(ce_xent_epi) *e, const CE_F(ce_xent_stats) *st)
{
    CE_F(ce_xent_atmax) a;
    CE_T s = st->cnt + st->rest;
    CE_T base = e->tcoef * e->K / s;
    a.x = e->coef == base ? CE_K(0.0) : e->coef - base;   /* equal infinities (infinite targets) leave no x */
    a.b = e->tcoef / s;
    a.K = e->K;
    a.cm1 = st->cnt - CE_K(1.0);
    a.rest = st->rest;
    return a;
}

CE_INLINE CE_T CE_F(ce_xent_grad_at_max)(const CE_F(ce_xent_atmax) *a, CE_T tj)
{
    return a->x + a->b * (((a->K - tj) - tj * a->cm1) - tj * a->rest);
}

/* ---- probability cross-entropy terms ---------------------------------------------------------------- */
typedef struct {
    CE_T eps, hi, alpha, gamma, S, tie;
} CE_F(ce_prob_ctx);

/* The share of d clip(q) / dq passed at q: 1 strictly inside (eps, hi), `tie` on a bound, 0 outside. */
CE_INLINE CE_T CE_F(ce_clip_pass)(CE_T q, CE_T eps, CE_T hi, CE_T tie)
{
    /* NaN passes NaN: JAX's clip returns NaN and its gradient carries it */
    return (q > eps && q < hi) ? CE_K(1.0) : ((q == eps || q == hi) ? tie : (q != q ? q : CE_K(0.0)));
}

/* Plain: f = -t log c, h = d f / d q (zero where the clip is active, a share at ties). */
CE_INLINE void CE_F(ce_prob_term_plain)(const CE_F(ce_prob_ctx) *k, CE_T c, CE_T lc, CE_T pass, CE_T tj, CE_T *f,
                                        CE_T *h)
{
    (void)k;
    *f = -tj * lc;
    *h = pass != 0 ? pass * (-tj / c) : CE_K(0.0);
}

/* Focal (Keras categorical_focal_crossentropy): f = alpha (1 - c)^gamma (-t log c). */
CE_INLINE void CE_F(ce_prob_term_focal)(const CE_F(ce_prob_ctx) *k, CE_T c, CE_T lc, CE_T pass, CE_T tj, CE_T *f,
                                        CE_T *h)
{
    CE_T om = CE_K(1.0) - c;
    CE_T pw = k->gamma == 2 ? om * om : pow(om, k->gamma);
    CE_T dpw = k->gamma == 0 ? CE_K(0.0) : k->gamma * (k->gamma == 2 ? om : pow(om, k->gamma - 1));
    *f = k->alpha * pw * (-tj * lc);
    *h = pass != 0 ? pass * (k->alpha * (dpw * tj * lc - pw * tj / c)) : CE_K(0.0);
}

/* One element's loss term f and h = d f / d q, q = p / S clipped to [eps, 1 - eps] (focal: the problem's flag, a
 * constant where the caller's loop should vectorise). */
CE_INLINE void CE_F(ce_prob_term)(const CE_F(ce_prob_ctx) *k, CE_T pj, CE_T tj, CE_T *f, CE_T *h, int focal)
{
    CE_T q = pj / k->S;
    CE_T c = q < k->eps ? k->eps : q;
    c = c > k->hi ? k->hi : c;
    CE_T lc = CE_M(ce_log)(c);
    CE_T pass = CE_F(ce_clip_pass)(q, k->eps, k->hi, k->tie);
    if (focal) CE_F(ce_prob_term_focal)(k, c, lc, pass, tj, f, h);
    else CE_F(ce_prob_term_plain)(k, c, lc, pass, tj, f, h);
}

/* ---- binary element losses: (x, z', pos_weight) -> loss l and d l / d x ----------------------------- */
typedef struct {
    CE_T eps, alpha, gamma, tie;
    int has_pw, from_logits, balance;
} CE_F(ce_bin_ctx);

/* softplus(-|x|) = log1p(exp(-|x|)) and e = exp(-|x|), the parts every logits form shares */
CE_INLINE void CE_F(ce_bin_parts)(CE_T x, CE_T *sp, CE_T *e_out)
{
    CE_T ax = x < 0 ? -x : x;
    CE_T e = CE_M(ce_exp)(-ax);
    *sp = CE_M(ce_log1p)(e);
    *e_out = e;
}

/* d/dx of every logits form, lw sigmoid(x) - pw z = (1-z) sigmoid(x) - pw z sigmoid(-x), both sigmoids from
 * e = exp(-|x|): no cancellation of sigmoid(x) - z on confident elements (API.md: the exact derivative
 * wins; x = 20, z = 1 gives -2.06e-9, not 0). */
CE_INLINE CE_T CE_F(ce_bin_dsig)(CE_T x, CE_T z, CE_T pw, CE_T e)
{
    CE_T big = x >= 0 ? CE_K(1.0) : e, small = x >= 0 ? e : CE_K(1.0);
    return ((CE_K(1.0) - z) * big - pw * z * small) / (CE_K(1.0) + e);
}

/* With pos_weight (every logits form): (1-z) x + lw softplus(-x), lw = 1 + (pw-1) z. */
CE_INLINE void CE_F(ce_bin_pos_weight)(CE_T x, CE_T z, CE_T pw, CE_T sp, CE_T e, CE_T *l, CE_T *g)
{
    CE_T lw = CE_K(1.0) + (pw - CE_K(1.0)) * z;
    *l = (CE_K(1.0) - z) * x + lw * (sp + (x < 0 ? -x : CE_K(0.0)));
    *g = CE_F(ce_bin_dsig)(x, z, pw, e);
}

/* tf.nn.sigmoid_cross_entropy_with_logits: max(x, 0) - x z + log1p(exp(-|x|)). */
CE_INLINE void CE_F(ce_bin_logits_tf)(const CE_F(ce_bin_ctx) *k, CE_T x, CE_T z, CE_T pw, CE_T *l, CE_T *g)
{
    CE_T sp, e;
    CE_F(ce_bin_parts)(x, &sp, &e);
    if (k->has_pw) { CE_F(ce_bin_pos_weight)(x, z, pw, sp, e, l, g); return; }
    *l = (x > 0 ? x : CE_K(0.0)) - x * z + sp;
    *g = CE_F(ce_bin_dsig)(x, z, CE_K(1.0), e);
}

/* torch binary_cross_entropy_with_logits: (1-z) x + softplus(-x). */
CE_INLINE void CE_F(ce_bin_logits_torch)(const CE_F(ce_bin_ctx) *k, CE_T x, CE_T z, CE_T pw, CE_T *l, CE_T *g)
{
    CE_T sp, e;
    CE_F(ce_bin_parts)(x, &sp, &e);
    if (k->has_pw) { CE_F(ce_bin_pos_weight)(x, z, pw, sp, e, l, g); return; }
    *l = (CE_K(1.0) - z) * x + (sp + (x < 0 ? -x : CE_K(0.0)));
    *g = CE_F(ce_bin_dsig)(x, z, CE_K(1.0), e);
}

/* TF weighted_cross_entropy_with_logits: torch's form; TF differentiates abs and relu with subgradient 0
 * at 0, so its gradient at x = 0 is 1 - z. */
CE_INLINE void CE_F(ce_bin_logits_tf_weighted)(const CE_F(ce_bin_ctx) *k, CE_T x, CE_T z, CE_T pw, CE_T *l,
                                               CE_T *g)
{
    CE_F(ce_bin_logits_torch)(k, x, z, pw, l, g);
    if (x == 0) *g = CE_K(1.0) - z;
}

/* Keras (JAX) binary_crossentropy from logits: -z log sig(x) - (1-z) log sig(-x)
 * = ((1-z) x or -z x) + log1p(exp(-|x|)); +inf (TF's form: NaN) at x = +-inf with 0 < z < 1. */
CE_INLINE void CE_F(ce_bin_logits_keras)(const CE_F(ce_bin_ctx) *k, CE_T x, CE_T z, CE_T pw, CE_T *l, CE_T *g)
{
    CE_T sp, e;
    CE_F(ce_bin_parts)(x, &sp, &e);
    if (k->has_pw) { CE_F(ce_bin_pos_weight)(x, z, pw, sp, e, l, g); return; }
    *l = (x > 0 ? (CE_K(1.0) - z) * x : -z * x) + sp;
    *g = CE_F(ce_bin_dsig)(x, z, CE_K(1.0), e);
}

/* -(z log c + (1-z) log(1-c)) at c = clip(p, eps, 1-eps), and its derivative through the clip. */
CE_INLINE void CE_F(ce_bin_clipped)(const CE_F(ce_bin_ctx) *k, CE_T p, CE_T z, CE_T *l, CE_T *dl)
{
    CE_T hi = CE_K(1.0) - k->eps;
    CE_T c = p < k->eps ? k->eps : p;
    c = c > hi ? hi : c;
    *l = -(z * CE_M(ce_log)(c) + (CE_K(1.0) - z) * CE_M(ce_log)(CE_K(1.0) - c));
    CE_T pass = CE_F(ce_clip_pass)(p, k->eps, hi, k->tie);
    *dl = pass != 0 ? pass * (-z / c + (CE_K(1.0) - z) / (CE_K(1.0) - c)) : CE_K(0.0);
}

/* Keras binary_crossentropy on probabilities (clipped). */
CE_INLINE void CE_F(ce_bin_prob_clip)(const CE_F(ce_bin_ctx) *k, CE_T x, CE_T z, CE_T pw, CE_T *l, CE_T *g)
{
    (void)pw;
    CE_F(ce_bin_clipped)(k, x, z, l, g);
}

/* torch binary_cross_entropy: -(z max(log p, -100) + (1-z) max(log(1-p), -100)). */
CE_INLINE void CE_F(ce_bin_prob_torch)(const CE_F(ce_bin_ctx) *k, CE_T x, CE_T z, CE_T pw, CE_T *l, CE_T *g)
{
    (void)k; (void)pw;
    CE_T lp = CE_M(ce_log)(x);
    CE_T l1p = CE_M(ce_log1p)(-x);
    lp = lp < CE_K(-100.0) ? CE_K(-100.0) : lp;
    l1p = l1p < CE_K(-100.0) ? CE_K(-100.0) : l1p;
    *l = (z - CE_K(1.0)) * l1p - z * lp;
    CE_T den = (CE_K(1.0) - x) * x;
    const CE_T tiny = (CE_T)1e-12f;   /* torch's EPS: the float32 constant, for float64 too */
    *g = (x - z) / (den < tiny ? tiny : den);
}

/* Keras binary_focal_crossentropy on p (or sigmoid(x) when from_logits), optionally alpha-balanced.  From
 * logits the value is Keras' (built on 1 - sigmoid(x)); the gradient is the exact derivative, built on
 * sigmoid(-x) itself (API.md: the exact derivative wins where 1 - sigmoid(x) cancels). */
CE_INLINE void CE_F(ce_bin_focal)(const CE_F(ce_bin_ctx) *k, CE_T x, CE_T z, CE_T pw, CE_T *l, CE_T *g)
{
    (void)pw;
    CE_T pr = x, qr = CE_K(1.0) - x, e = CE_K(0.0), gamma = k->gamma, alpha = k->alpha;
    if (k->from_logits) {
        e = CE_M(ce_exp)(-(x < 0 ? -x : x));
        pr = x >= 0 ? CE_K(1.0) / (CE_K(1.0) + e) : e / (CE_K(1.0) + e);
        qr = x >= 0 ? e / (CE_K(1.0) + e) : CE_K(1.0) / (CE_K(1.0) + e);   /* sigmoid(-x) */
    }
    CE_T bce, dbce;
    CE_F(ce_bin_clipped)(k, pr, z, &bce, &dbce);
    CE_T pt = z * pr + (CE_K(1.0) - z) * (CE_K(1.0) - pr);
    CE_T om = CE_K(1.0) - pt;
    CE_T ff = gamma == 2 ? om * om : pow(om, gamma);
    CE_T wb = k->balance ? z * alpha + (CE_K(1.0) - z) * (CE_K(1.0) - alpha) : CE_K(1.0);
    *l = wb * (ff * bce);
    if (k->from_logits) {   /* the same pieces from pr and qr = sigmoid(-x), none from 1 - pr */
        CE_T hi = CE_K(1.0) - k->eps, c = pr < k->eps ? k->eps : (pr > hi ? hi : pr);
        CE_T qc = pr < k->eps ? CE_K(1.0) - k->eps : (pr > hi ? CE_K(1.0) - hi : qr);   /* 1 - c */
        CE_T pass = CE_F(ce_clip_pass)(pr, k->eps, hi, k->tie);
        dbce = pass != 0 ? pass * (-z / c + (CE_K(1.0) - z) / qc) : CE_K(0.0);
        if (pr > k->eps && pr < hi) {   /* -log sigmoid(+-x) as softplus: no log of a rounded sigmoid near 1 */
            CE_T sp = CE_M(ce_log1p)(e);
            bce = z * (sp + (x < 0 ? -x : CE_K(0.0))) + (CE_K(1.0) - z) * (sp + (x > 0 ? x : CE_K(0.0)));
        }
        om = z * qr + (CE_K(1.0) - z) * pr;   /* 1 - p_t */
        ff = gamma == 2 ? om * om : pow(om, gamma);
    }
    CE_T dff = gamma == 0 ? CE_K(0.0) : -gamma * (gamma == 2 ? om : pow(om, gamma - 1)) * (CE_K(2.0) * z - CE_K(1.0));
    CE_T dp = wb * (dff * bce + ff * dbce);
    *g = k->from_logits ? dp * (pr * qr) : dp;
}

/* ---- language-model epilogues: ce_lm_stats (ce_lm_sweep) -> token statistics, or Liger's loss ---- */
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
