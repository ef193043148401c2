/* 2-D convolution, int8, DSP variant (docs/int8_contract.md: conv2d). Same bytes as ref/.
 *
 * dsp/nn_conv2d_q7.c's loops on q7's geometry struct: depthwise direct
 * (common/nn_conv_s8_common.h); general: per group, output pixels in quads, im2col into the
 * interleaved int16 columns (padding taps hold in_zp, which the folded bias expects), the same
 * SMLAD 1x4 mat-mult (nn_conv_mat_mult.h), then per output channel MultiplyByQuantizedMultiplier
 * + out_zp + clamp: only the epilogue differs from q7, outside the MAC loop.
 */
#include "nn_kernels.h"
#include "nn_dsp.h"
#include "nn_conv_s8_common.h"
#include "nn_conv_im2col.h"
#include "nn_conv_mat_mult.h"
#include "nn_conv_quads.h"

static void conv_general(const nn_conv_s8_params *ps, const int8_t *in, const int8_t *weight,
                         const int32_t *chan, int8_t *out, int16_t *scratch)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    const nn_conv_params *p = &geo;
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G;
    const int32_t ozp = ps->out_zp, lo = ps->act_min, hi = ps->act_max;
    const uint32_t pad4 = (uint32_t)(uint8_t)ps->in_zp * 0x01010101u;  /* padding taps: in_zp */
    const int mode = nn_conv_s8_mode(chan, p->out_c, ozp, lo, hi);
    const nn_mat_mult_fn f = mode == 3 ? mat_mult_4px_s8_int8
                           : mode == 5 ? mat_mult_4px_s8_relu : mat_mult_4px_s8;
    int32_t g;
    for (g = 0; g < G; g++) {
        const int32_t *cg = chan + NN_S8_CHAN * g * cout_g;
        nn_conv_quads q;
        nn_conv_quads_init(&q, p, in, g, cin_g, pad4);
        while (nn_conv_quads_next(&q, scratch)) {
            int8_t *o = out + q.pix * p->out_c + g * cout_g;
            if (q.npx == 4)
                f(weight + g * cout_g * q.K, cg, cout_g, q.K, scratch, o, p->out_c, ozp, lo, hi);
            else
                mat_mult_tail(f, weight + g * cout_g * q.K, cg, cout_g, q.K, scratch, o, p->out_c,
                              q.npx, ozp, lo, hi, NN_S8_CHAN);
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

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    const nn_conv_params g = nn_conv_geometry(p);
    return 8 * nn_ceil4(nn_conv_taps(&g));   /* four int16 im2col columns, 4-value blocks */
}
