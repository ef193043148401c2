/* 2-D convolution, int8, DSP variant (docs/int8_contract.md: conv2d). Same bytes as ref/.
 *
 * dsp/nn_conv2d_q7.c's loops on q7's geometry struct: depthwise direct
 * (common/nn_conv_s8_common.h); general: per group, output pixels in pairs, im2col into the
 * interleaved int16 columns (padding taps hold in_zp, which the folded bias expects), the same
 * SMLAD 2x2 mat-mult (nn_conv_mat_mult.h), then per output channel MultiplyByQuantizedMultiplier
 * + out_zp + clamp: only the epilogue differs from q7, outside the MAC loop.
 */
#include "nn_kernels.h"
#include "nn_dsp.h"
#include "nn_conv_s8_common.h"
#include "nn_conv_im2col.h"
#include "nn_conv_mat_mult.h"

static inline int iy_ok(const nn_conv_params *p, int32_t oy)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    return iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h;
}

static void conv_general(const nn_conv_s8_params *ps, const int8_t *in, const int8_t *weight,
                         const int32_t *chan, int8_t *out, int16_t *scratch)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    const nn_conv_params *p = &geo;
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t K = p->k_h * p->k_w * cin_g, npix = p->out_h * p->out_w;
    const int32_t ozp = ps->out_zp, lo = ps->act_min, hi = ps->act_max;
    const uint32_t pad4 = (uint32_t)(uint8_t)ps->in_zp * 0x01010101u;  /* padding taps: in_zp */
    /* as dsp/nn_conv2d_q7.c: interior pixel pairs of dense layers build both columns at once */
    const int fast = G != 1 || p->dil_w != 1 ? 0
                   : (cin_g & 3) == 0 ? 1
                   : K <= NN_STAGE_MAX && p->k_w * cin_g >= 4 ? 2 : 0;
    const int mode = nn_conv_s8_mode(chan, p->out_c, ozp, lo, hi);
    int32_t g, q;

    for (g = 0; g < G; g++) {
        const int8_t *wg = weight + g * cout_g * K;
        const int32_t *cg = chan + NN_S8_CHAN * g * cout_g;
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
                im2col(p, in, oy, ox, g, cin_g, scratch, pad4);
                im2col(p, in, oy1, ox1, g, cin_g, scratch + 2, pad4);
            }
            mat_mult_s8(wg, cg, cout_g, K, scratch, 0, og + q * OC, og + (q + 1) * OC, ozp, lo,
                        hi, mode);
            ox = ox1 + 1;
            oy = oy1;
            if (ox == p->out_w) {
                ox = 0;
                oy++;
            }
        }
        if (q < npix) {
            im2col(p, in, oy, ox, g, cin_g, scratch, pad4);
            mat_mult_s8(wg, cg, cout_g, K, scratch, 1, og + q * OC, og + q * OC, ozp, lo, hi,
                        mode);
        }
    }
}

void nn_conv2d_s8(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *chan, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p))
        conv_depthwise_s8(p, in, weight, chan, out);
    else
        conv_general(p, in, weight, chan, out, scratch);
}

int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    const nn_conv_params g = nn_conv_geometry(p);
    return nn_conv_scratch_contract(&g);
}
