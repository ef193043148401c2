/* Post-processing: top-k, softmax percentages, and nn_classify (frame -> top-k labels).
 *
 * Integer only, no allocation (site_scons/nnbuild/preprocess.py holds the Python twins):
 *   top-k    order by score descending, ties by the lower index. Each rank is the best entry
 *            strictly after the previous rank in that order, so no scratch memory is needed
 *            (O(n*k), n and k are small).
 *   softmax  docs/q7_contract.md: m = max q, e_i = exp_table[m - q_i], S = sum e_i,
 *            percent_i = (e_i*100 + S/2) / S.  exp_table[0] = 65536 and n <= 32767 keep S and
 *            e_i*100 + S/2 inside uint32.
 */
#include <stddef.h>

#include "nn_app.h"

/* Is (score a, index ia) ranked before (score b, index ib)? */
static int ranks_before(int8_t a, int ia, int8_t b, int ib)
{
    return a > b || (a == b && ia < ib);
}

/* The best index ranked after (prev_score, prev) -- or the overall best when prev < 0. */
static int next_rank(const int8_t *scores, int n, int prev)
{
    int best = -1, i;
    for (i = 0; i < n; i++) {
        if (prev >= 0 && !ranks_before(scores[prev], prev, scores[i], i)) continue;
        if (best < 0 || ranks_before(scores[i], i, scores[best], best)) best = i;
    }
    return best;
}

int nn_topk(const int8_t *scores, int n, int k, int16_t *idx_out)
{
    int r, prev = -1;
    if (scores == NULL || idx_out == NULL) return NN_ERR_ARG;
    if (n < 1 || n > 32767 || k < 1 || k > n) return NN_ERR_ARG;
    for (r = 0; r < k; r++) {
        prev = next_rank(scores, n, prev);
        idx_out[r] = (int16_t)prev;
    }
    return NN_OK;
}

/* exp_table[d], d = 0..255: stored up to softmax_exp_len, zero after (flash: most of the 256 are) */
static uint32_t exp_at(const nn_model *m, int d)
{
    return d < m->softmax_exp_len ? (uint32_t)m->softmax_exp_table[d] : 0u;
}

static uint32_t softmax_sum(const nn_model *mod, const int8_t *scores, int n, int8_t *max_out)
{
    int8_t m = scores[0];
    uint32_t sum = 0;
    int i;
    for (i = 1; i < n; i++) if (scores[i] > m) m = scores[i];
    for (i = 0; i < n; i++) sum += exp_at(mod, m - scores[i]);
    *max_out = m;
    return sum;
}

static int16_t percent_of(const nn_model *mod, int8_t m, int8_t q, uint32_t sum)
{
    return (int16_t)((exp_at(mod, m - q) * 100u + sum / 2u) / sum);
}

int nn_softmax_percent(const nn_model *m, const int8_t *scores, int16_t *percent_out)
{
    int8_t mx;
    uint32_t sum;
    int i;
    if (m == NULL || scores == NULL || percent_out == NULL || m->softmax_exp_table == NULL)
        return NN_ERR_ARG;
    if (m->out_n < 1) return NN_ERR_ARG;
    sum = softmax_sum(m, scores, m->out_n, &mx);
    if (sum == 0) return NN_ERR_ARG;   /* a broken table: exp_table[0] must be > 0 */
    for (i = 0; i < m->out_n; i++) percent_out[i] = percent_of(m, mx, scores[i], sum);
    return NN_OK;
}

int nn_classify(const nn_model *m, const uint8_t *frame, int w, int h, const nn_preprocess_opts *opts,
                uint8_t *pixel_buf, int8_t *scores, int k, nn_result *top)
{
    int rc, r, prev = -1;
    int8_t mx = 0;
    uint32_t sum = 0;

    if (m == NULL || m->run == NULL || m->channel_order == NULL || scores == NULL || top == NULL)
        return NN_ERR_ARG;
    if (m->out_n < 1 || k < 1 || k > m->out_n) return NN_ERR_ARG;
    rc = nn_preprocess(frame, w, h, opts, m->in_h, m->in_w, m->in_c, m->channel_order, pixel_buf);
    if (rc != NN_OK) return rc;
    if (m->run(pixel_buf, scores) != 0) return NN_ERR_MODEL;

    if (m->softmax_exp_table != NULL) sum = softmax_sum(m, scores, m->out_n, &mx);
    for (r = 0; r < k; r++) {
        prev = next_rank(scores, m->out_n, prev);
        top[r].index = (int16_t)prev;
        top[r].score = scores[prev];
        /* -1: the model has no usable softmax table, so no percentage */
        top[r].percent = sum ? percent_of(m, mx, scores[prev], sum) : (int16_t)-1;
        top[r].label = m->labels != NULL ? m->labels[prev] : NULL;
    }
    return NN_OK;
}
