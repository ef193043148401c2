/* 2-D convolution, q7, variant for cores with SMLAL and no DSP extension (Cortex-M3);
 * docs/q7_contract.md: conv2d, the same bytes as ref/ and dsp/.
 *
 * Depthwise: the direct loop (common/nn_conv_common.h). General: per group and pair of output
 * pixels of one row, the two windows packed into one int32 column (mla/nn_conv_packed.h), then
 * 2 output channels per pass: 4 exact MACs per 2 SMLAL.
 */
#include "nn_kernels.h"
#include "nn_conv_packed.h"

static void conv_general(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *bias, int8_t *out, int32_t *col)
{
    const int32_t G = p->groups, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t K = p->k_h * p->k_w * (p->in_c / G);
    const int32_t s = p->out_shift, lo = p->act_min, hi = p->act_max;
    int32_t g, oy, ox, o;
    for (g = 0; g < G; g++) {
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox += 2) {
                const int one = ox + 1 == p->out_w;
                int8_t *y0 = out + (oy * p->out_w + ox) * OC, *y1 = y0 + OC;
                im2col_packed(p, in, oy, ox, g, one, 0, col);
                for (o = g * cout_g; o < (g + 1) * cout_g; o += 2) {
                    const int pair = o + 1 < (g + 1) * cout_g;
                    const int8_t *wa = weight + o * K, *wb = pair ? wa + K : wa;
                    int32_t acc[4];
                    acc[0] = acc[1] = bias[o];
                    acc[2] = acc[3] = pair ? bias[o + 1] : 0;
                    mac_packed_2ch(col, wa, wb, K, acc);
                    y0[o] = (int8_t)nn_requant(acc[0], s, lo, hi);
                    if (!one)
                        y1[o] = (int8_t)nn_requant(acc[1], s, lo, hi);
                    if (pair) {
                        y0[o + 1] = (int8_t)nn_requant(acc[2], s, lo, hi);
                        if (!one)
                            y1[o + 1] = (int8_t)nn_requant(acc[3], s, lo, hi);
                    }
                }
            }
        }
    }
}

void nn_conv2d_q7(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *bias, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p))
        conv_depthwise(p, in, weight, bias, out);
    else   /* the scratch (4 * K bytes, 4-aligned) holds the K-word column */
        conv_general(p, in, weight, bias, out, (int32_t *)(void *)scratch);
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    return 4 * nn_conv_taps(p);   /* one column of K words (two pixels packed per word) */
}
