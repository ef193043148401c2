/* 2-D convolution, int8, variant for cores with SMLAL and no DSP extension (Cortex-M3);
 * docs/int8_contract.md: conv2d, the same bytes as ref/ and dsp/.
 *
 * mla/nn_conv2d_q7.c's loops on q7's geometry struct: depthwise direct
 * (common/nn_conv_s8_common.h); general: the packed column with padding taps holding in_zp,
 * which the folded bias expects (so every window is the same int8 x int8 MAC), then per output
 * channel MultiplyByQuantizedMultiplier + out_zp + clamp.
 */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"
#include "nn_conv_packed.h"

static void conv_general(const nn_conv_s8_params *ps, const int8_t *in, const int8_t *weight,
                         const int32_t *chan, int8_t *out, int32_t *col)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    const nn_conv_params *p = &geo;
    const int32_t G = p->groups, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t K = p->k_h * p->k_w * (p->in_c / G);
    const int32_t ozp = ps->out_zp, lo = ps->act_min, hi = ps->act_max;
    int32_t g, oy, ox, o;
    for (g = 0; g < G; g++) {
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox += 2) {
                const int one = ox + 1 == p->out_w;
                int8_t *y0 = out + (oy * p->out_w + ox) * OC, *y1 = y0 + OC;
                int8_t unused[2];
                im2col_packed(p, in, oy, ox, g, one, ps->in_zp, col);
                for (o = g * cout_g; o < (g + 1) * cout_g; o += 2) {
                    const int pair = o + 1 < (g + 1) * cout_g;
                    const int8_t *wa = weight + o * K, *wb = pair ? wa + K : wa;
                    const int32_t *ca = chan + NN_S8_CHAN * o, *cb = ca + NN_S8_CHAN;
                    int32_t acc[4];
                    acc[0] = acc[1] = ca[0];
                    acc[2] = acc[3] = pair ? cb[0] : 0;
                    mac_packed_2ch(col, wa, wb, K, acc);
                    nn_requant2_s8(acc[0], acc[1], ca[1], ca[2], ozp, lo, hi, &y0[o],
                                   one ? &unused[0] : &y1[o]);
                    if (pair)
                        nn_requant2_s8(acc[2], acc[3], cb[1], cb[2], ozp, lo, hi, &y0[o + 1],
                                       one ? &unused[1] : &y1[o + 1]);
                }
            }
        }
    }
}

void nn_conv2d_s8(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *chan, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p))
        conv_depthwise_s8(p, in, weight, chan, out);
    else   /* the scratch (4 * K bytes, 4-aligned) holds the K-word column */
        conv_general(p, in, weight, chan, out, (int32_t *)(void *)scratch);
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    const nn_conv_params g = nn_conv_geometry(p);
    return 4 * nn_conv_taps(&g);   /* one column of K words (two pixels packed per word) */
}
