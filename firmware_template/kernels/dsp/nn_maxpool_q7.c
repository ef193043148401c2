/* Max pooling, q7, DSP variant, Caffe ceil-mode windows (docs/q7_contract.md, ir.pool_window):
 * output pixels outside, the clipped window inside, the channel run innermost (HWC keeps a
 * pixel's channels contiguous); 4 channels per word with SSUB8+SEL, the C % 4 rest one by one.
 * Whole 3x3 and 2x2 windows (the usual pools) of C % 4 == 0 channels keep each word's maximum in
 * a register over the window's cells; other windows update the output cell by cell. */
#include "nn_kernels.h"
#include "nn_dsp.h"
#include "nn_pool_common.h"

/* One output pixel over a whole k x k window at corner (k = 2 or 3, C % 4 == 0): rs the input
 * row step, C the channels. */
static inline void max_full(const int8_t *corner, int32_t rs, int32_t C, int32_t k, int8_t *out)
{
    const int8_t *r0 = corner, *r1 = corner + rs;
    int8_t *const end = out + C;
    if (k == 3) {
        const int8_t *r2 = r1 + rs;
        for (; out != end; out += 4, r0 += 4, r1 += 4, r2 += 4) {
            uint32_t m = nn_max_s8x4(nn_read32(r0), nn_read32(r0 + C));
            m = nn_max_s8x4(m, nn_read32(r0 + 2 * C));
            m = nn_max_s8x4(m, nn_read32(r1));
            m = nn_max_s8x4(m, nn_read32(r1 + C));
            m = nn_max_s8x4(m, nn_read32(r1 + 2 * C));
            m = nn_max_s8x4(m, nn_read32(r2));
            m = nn_max_s8x4(m, nn_read32(r2 + C));
            m = nn_max_s8x4(m, nn_read32(r2 + 2 * C));
            nn_write32(out, m);
        }
        return;
    }
    for (; out != end; out += 4, r0 += 4, r1 += 4) {
        uint32_t m = nn_max_s8x4(nn_read32(r0), nn_read32(r0 + C));
        m = nn_max_s8x4(m, nn_read32(r1));
        m = nn_max_s8x4(m, nn_read32(r1 + C));
        nn_write32(out, m);
    }
}

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
            if ((C & 3) == 0 && y1 - y0 == x1 - x0 && (y1 - y0 == 3 || y1 - y0 == 2)) {
                max_full(in + (y0 * W + x0) * C, W * C, C, y1 - y0, out);
                continue;
            }
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
