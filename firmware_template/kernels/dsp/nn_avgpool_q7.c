/* Average pooling, q7, DSP variant, Caffe ceil-mode windows (docs/q7_contract.md,
 * ir.pool_window) or exclude_pad's: output pixels outside (common/nn_pool_common.h's window
 * iterator), the channel run innermost (HWC keeps a pixel's channels contiguous); 4 channels per
 * word as SXTAB16 halfword-lane sums (windows of up to 255 cells; larger ones and the C % 4 rest
 * take the per-channel loop). */
#include "nn_kernels.h"
#include "nn_dsp.h"
#include "nn_pool_common.h"

void nn_avgpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, row_step = p->in_w * C;
    nn_pool_win w;
    int32_t oy, ox, c;
    for (oy = 0; oy < p->out_h; oy++) {
        NN_POOL_ROW(w, p, oy, in);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            NN_POOL_COL(w, p, ox);
            c = 0;
            /* halfword lanes hold sums of up to 255 cells of |q| <= 128 without overflow */
            if (w.rows * w.cols <= 255) {
                for (; c + 4 <= C; c += 4) {
                    uint32_t s02, s13;
                    nn_pool_sum4(w.corner + c, row_step, C, w.rows, w.cols, &s02, &s13);
                    out[c] = avg_div(nn_sext16_lane(s02, 0), w.n, w.m);
                    out[c + 1] = avg_div(nn_sext16_lane(s13, 0), w.n, w.m);
                    out[c + 2] = avg_div(nn_sext16_lane(s02, 1), w.n, w.m);
                    out[c + 3] = avg_div(nn_sext16_lane(s13, 1), w.n, w.m);
                }
            }
            for (; c < C; c++)
                out[c] = avg_div(nn_pool_sum1(0, w.corner + c, row_step, C, w.rows, w.cols), w.n, w.m);
        }
    }
}
