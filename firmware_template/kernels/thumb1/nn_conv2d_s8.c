/* 2-D convolution, int8, variant for ARMv6-M (Cortex-M0/M0+); docs/int8_contract.md: conv2d,
 * the same bytes as ref/.
 *
 * thumb1/nn_conv2d_q7.c's loops on q7's geometry struct: depthwise direct
 * (common/nn_conv_s8_common.h); general: the byte lanes with padding taps holding in_zp, which
 * the folded bias expects, then per output channel MultiplyByQuantizedMultiplier + out_zp +
 * clamp.
 */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"
#include "nn_conv_lanes.h"

static void conv_general(const nn_conv_s8_params *ps, const int8_t *in, const int8_t *weight,
                         const int32_t *chan, int8_t *out, uint8_t *col)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    const nn_conv_params *p = &geo;
    const int32_t G = p->groups, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t cin_g = p->in_c / G, K = p->k_h * p->k_w * cin_g;
    const int32_t ozp = ps->out_zp, lo = ps->act_min, hi = ps->act_max;
    int32_t init[NN_LANE_BLOCK];
    int32_t o0, nb, g, oy, ox, i, lane;
    for (o0 = 0; o0 < OC; o0 += nb) {
        g = o0 / cout_g;   /* blocks stay inside one group: one im2col serves them */
        nb = (g + 1) * cout_g - o0;
        nb = nb < NN_LANE_BLOCK ? nb : NN_LANE_BLOCK;
        lane_init(weight, K, o0, nb, chan, NN_S8_CHAN, init);
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox += NN_LANES) {
                const int32_t n = p->out_w - ox < NN_LANES ? p->out_w - ox : NN_LANES;
                int8_t *y = out + (oy * p->out_w + ox) * OC + o0;
                im2col_lanes(p, in, oy, ox, n, g, cin_g, ps->in_zp, col);
                for (i = 0; i < nb; i++) {
                    const int32_t *c = chan + NN_S8_CHAN * (o0 + i);
                    int32_t acc[NN_LANES];
                    acc[0] = acc[1] = acc[2] = acc[3] = init[i];
                    mac_lanes(col, weight + (o0 + i) * K, K, acc);
                    for (lane = 0; lane < n; lane++)
                        y[lane * OC + i] = nn_requant_s8(acc[lane], c[1], c[2], ozp, lo, hi);
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
    else   /* the contract's scratch (4 * K bytes at least) holds the 4 lanes of K taps */
        conv_general(p, in, weight, chan, out, (uint8_t *)scratch);
}

/* The kernel's contract size (q7's): one memory plan for every target. */
int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    const nn_conv_params g = nn_conv_geometry(p);
    return nn_conv_scratch_contract(&g);
}
