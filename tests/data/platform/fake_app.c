/* Minimal stand-in for preprocess.c/postprocess.c (tests only): nearest-neighbour stretch of
 * RGB888/GRAY8 frames, top-k, and "percent" = score clamped to 0..100 (no softmax). */
#include <stdint.h>

#include "nn_app.h"

int nn_preprocess(const uint8_t *frame, int w, int h, const nn_preprocess_opts *opts,
                  int out_h, int out_w, int out_c, const char *channel_order, uint8_t *out)
{
    (void)channel_order;
    int in_c = opts->format == NN_PIX_RGB888 ? 3 : opts->format == NN_PIX_GRAY8 ? 1 : 0;
    if (in_c == 0 || in_c != out_c || opts->fit != NN_FIT_STRETCH) return NN_ERR_FORMAT;
    for (int y = 0; y < out_h; y++) {
        int sy = y * h / out_h;
        if (opts->flip_v) sy = h - 1 - sy;
        for (int x = 0; x < out_w; x++) {
            int sx = x * w / out_w;
            if (opts->flip_h) sx = w - 1 - sx;
            for (int c = 0; c < out_c; c++)
                out[(y * out_w + x) * out_c + c] = frame[(sy * w + sx) * in_c + c];
        }
    }
    return NN_OK;
}

int nn_topk(const int8_t *scores, int n, int k, int16_t *idx_out)
{
    if (k < 1 || k > n) return NN_ERR_ARG;
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int j = 0; j < r; j++) taken |= idx_out[j] == i;
            if (!taken && (best < 0 || scores[i] > scores[best])) best = i;
        }
        idx_out[r] = (int16_t)best;
    }
    return NN_OK;
}

int nn_softmax_percent(const nn_model *m, const int8_t *scores, int16_t *percent_out)
{
    for (int i = 0; i < m->out_n; i++)
        percent_out[i] = (int16_t)(scores[i] < 0 ? 0 : scores[i] > 100 ? 100 : scores[i]);
    return NN_OK;
}

int nn_classify(const nn_model *m, const uint8_t *frame, int w, int h, const nn_preprocess_opts *opts,
                uint8_t *pixel_buf, int8_t *scores, int k, nn_result *top)
{
    int16_t idx[32], pct[32];
    int r = nn_preprocess(frame, w, h, opts, m->in_h, m->in_w, m->in_c, m->channel_order, pixel_buf);
    if (r != NN_OK) return r;
    if (m->run(pixel_buf, scores) != 0) return NN_ERR_MODEL;
    if ((r = nn_topk(scores, m->out_n, k, idx)) != NN_OK) return r;
    nn_softmax_percent(m, scores, pct);
    for (int i = 0; i < k; i++) {
        top[i].index = idx[i];
        top[i].score = scores[idx[i]];
        top[i].percent = pct[idx[i]];
        top[i].label = m->labels ? m->labels[idx[i]] : 0;
    }
    return NN_OK;
}
