/* Max pooling, q7, DSP variant, Caffe ceil-mode windows (docs/q7_contract.md, ir.pool_window):
 * output pixels outside, the clipped window inside, the channel run innermost (HWC keeps a
 * pixel's channels contiguous); 4 channels per word with SSUB8+SEL, the C % 4 rest one by one. */
#include "nn_kernels.h"
#include "nn_dsp.h"
#include "nn_pool_common.h"

void nn_maxpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w;
    int32_t oy, ox, y, x, c;
    for (oy = 0; oy < p->out_h; oy++) {
        int32_t y0, y1;
        window(oy, p->k_h, p->stride_h, p->pad_h, p->in_h, &y0, &y1);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            int32_t x0, x1;
            window(ox, p->k_w, p->stride_w, p->pad_w, W, &x0, &x1);
            /* the first cell initialises the maximum: padding is never a candidate; then each
             * further cell of the window updates all channels (long contiguous inner loop) */
            memcpy(out, in + (y0 * W + x0) * C, (uint32_t)C);
            for (y = y0; y < y1; y++) {
                for (x = y == y0 ? x0 + 1 : x0; x < x1; x++) {
                    const int8_t *src = in + (y * W + x) * C;
                    c = 0;
                    for (; c + 4 <= C; c += 4)
                        nn_write32(out + c, nn_max_s8x4(nn_read32(src + c), nn_read32(out + c)));
                    for (; c < C; c++)
                        if (src[c] > out[c])
                            out[c] = src[c];
                }
            }
        }
    }
}
