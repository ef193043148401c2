/* 2-D convolution, q7, DSP variant (docs/q7_contract.md: conv2d). Same bytes as ref/.
 *
 * Two loops (nn_conv2d_q7 picks one, like CMSIS-NN's arm_convolve_wrapper_s8):
 *   - depthwise (one input channel per group, any channel multiplier): direct, window clipped
 *     once per output pixel so the tap loop has no bounds tests (common/nn_conv_common.h);
 *   - general: per group, output pixels go in pairs; im2col widens each pixel's window to an
 *     int16 column (the two columns interleaved in the scratch, ceil(K / 4) blocks with the K % 4
 *     gap as leading zeros, common/nn_dsp.h; pairs inside the input build both columns in one
 *     pass: nn_conv_im2col.h), then a mat-mult computes 2 output channels x 2 output pixels per
 *     pass with SMLAD: 4 accumulators, each weight word (SXTB16, SXTB16 ROR 8) and column word
 *     loaded once per 4 MACs, no tail loop (nn_conv_mat_mult.h).
 * Both accumulate exactly in int32 (only the order of the additions differs from ref/) and
 * requantise identically.
 */
#include "nn_kernels.h"
#include "nn_dsp.h"
#include "nn_conv_common.h"
#include "nn_conv_im2col.h"
#include "nn_conv_mat_mult.h"

/* Every kernel row of output row oy lies inside the input. */
static inline int iy_ok(const nn_conv_params *p, int32_t oy)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    return iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h;
}

static void conv_general(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *bias, int8_t *out, int16_t *scratch)
{
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t K = p->k_h * p->k_w * cin_g, npix = p->out_h * p->out_w;
    /* scratch (4-byte aligned): the two columns interleaved, 8 * ceil(K / 4) int16 */
    /* pixel pairs inside the input of dense layers: im2col_pair_interior (1: whole blocks per
     * kernel row) or im2col_pair_small_interior (2); 0: im2col per pixel */
    const int fast = G != 1 || p->dil_w != 1 ? 0
                   : (cin_g & 3) == 0 ? 1
                   : K <= NN_STAGE_MAX && p->k_w * cin_g >= 4 ? 2 : 0;
    int32_t g, q;

    for (g = 0; g < G; g++) {
        const int8_t *wg = weight + g * cout_g * K;
        const int32_t *bg = bias + g * cout_g;
        int8_t *og = out + g * cout_g;
        int32_t oy = 0, ox = 0;
        for (q = 0; q + 1 < npix; q += 2) {
            int32_t oy1 = oy, ox1 = ox + 1;
            if (ox1 == p->out_w) {
                ox1 = 0;
                oy1++;
            }
            if (fast != 0 && oy1 == oy && iy_ok(p, oy) && ox * p->stride_w >= p->pad_w
                && ox1 * p->stride_w - p->pad_w + p->k_w <= p->in_w) {
                const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
                const int8_t *src = in + (iy0 * p->in_w + ix0) * cin_g;
                const int32_t dx = p->stride_w * cin_g, row_step = p->dil_h * p->in_w * cin_g;
                if (fast == 1)
                    im2col_pair_interior(src, dx, row_step, p->k_h, (p->k_w * cin_g) >> 2, scratch);
                else
                    im2col_pair_small_interior(src, dx, row_step, p->k_h, p->k_w * cin_g, K,
                                               scratch);
            } else {
                im2col(p, in, oy, ox, g, cin_g, scratch, 0);
                im2col(p, in, oy1, ox1, g, cin_g, scratch + 2, 0);
            }
            mat_mult(wg, bg, cout_g, K, scratch, 0, og + q * OC, og + (q + 1) * OC,
                     p->out_shift, p->act_min, p->act_max);
            ox = ox1 + 1;
            oy = oy1;
            if (ox == p->out_w) {
                ox = 0;
                oy++;
            }
        }
        if (q < npix) {
            im2col(p, in, oy, ox, g, cin_g, scratch, 0);
            mat_mult(wg, bg, cout_g, K, scratch, 1, og + q * OC, og + q * OC,
                     p->out_shift, p->act_min, p->act_max);
        }
    }
}

void nn_conv2d_q7(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *bias, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p))
        conv_depthwise(p, in, weight, bias, out);
    else
        conv_general(p, in, weight, bias, out, scratch);
}

int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    return nn_conv_scratch_contract(p);
}
