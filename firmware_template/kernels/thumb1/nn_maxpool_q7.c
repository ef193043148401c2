/* Max pooling, q7 (and int8: nn_maxpool_s8 calls it), variant for ARMv6-M (Cortex-M0/M0+);
 * docs/q7_contract.md: max_pool, the same bytes as ref/ (Caffe ceil-mode windows).
 *
 * A 2x2 window inside the input (the common pooling layer) takes each channel's maximum of its
 * four cells in registers, one store per output; any other window keeps ref/'s order (the
 * first cell initialises the output row, each further cell updates all channels). */
#include "nn_kernels.h"
#include "nn_internal.h"
#include "nn_pool_common.h"

static inline int32_t max2(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

/* out[c] = max of a[c], a[c + C], b[c], b[c + C] for c < C: a and b are the window's rows */
static void max_2x2(const int8_t *a, const int8_t *b, int32_t C, int8_t *out)
{
    const int8_t *a1 = a + C, *b1 = b + C;
    int32_t c;
    for (c = 0; c < C; c++)
        out[c] = (int8_t)max2(max2(a[c], a1[c]), max2(b[c], b1[c]));
}

static void max_window(const int8_t *in, int32_t W, int32_t C, int32_t y0, int32_t y1,
                       int32_t x0, int32_t x1, int8_t *out)
{
    int32_t y, x, c;
    const int8_t *first = in + (y0 * W + x0) * C;
    for (c = 0; c < C; c++)
        out[c] = first[c];
    for (y = y0; y < y1; y++) {
        for (x = y == y0 ? x0 + 1 : x0; x < x1; x++) {
            const int8_t *src = in + (y * W + x) * C;
            for (c = 0; c < C; c++)
                if (src[c] > out[c])
                    out[c] = src[c];
        }
    }
}

void nn_maxpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w;
    int32_t oy, ox;
    for (oy = 0; oy < p->out_h; oy++) {
        int32_t y0, y1;
        window(oy, p->k_h, p->stride_h, p->pad_h, p->in_h, &y0, &y1);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            int32_t x0, x1;
            window(ox, p->k_w, p->stride_w, p->pad_w, W, &x0, &x1);
            if (y1 - y0 == 2 && x1 - x0 == 2) {
                const int8_t *a = in + (y0 * W + x0) * C;
                max_2x2(a, a + W * C, C, out);
            } else {
                max_window(in, W, C, y0, y1, x0, x1, out);
            }
        }
    }
}
