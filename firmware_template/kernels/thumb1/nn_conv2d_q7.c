/* 2-D convolution, q7, variant for ARMv6-M (Cortex-M0/M0+); docs/q7_contract.md: conv2d, the
 * same bytes as ref/.
 *
 * Depthwise: the direct loop (common/nn_conv_common.h). General: per group and run of 4 output
 * pixels of one row, im2col into biased byte lanes, then one output channel at a time over the
 * 4 lanes (thumb1/nn_conv_lanes.h).
 */
#include "nn_kernels.h"
#include "nn_conv_lanes.h"

static void conv_general(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *bias, int8_t *out, uint8_t *col)
{
    const int32_t G = p->groups, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t cin_g = p->in_c / G, K = p->k_h * p->k_w * cin_g;
    const int32_t s = p->out_shift, lo = p->act_min, hi = p->act_max;
    int32_t init[NN_LANE_BLOCK];
    int32_t o0, nb, g, oy, ox, i, lane;
    for (o0 = 0; o0 < OC; o0 += nb) {
        g = o0 / cout_g;   /* blocks stay inside one group: one im2col serves them */
        nb = (g + 1) * cout_g - o0;
        nb = nb < NN_LANE_BLOCK ? nb : NN_LANE_BLOCK;
        lane_init(weight, K, o0, nb, bias, 1, init);
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox += NN_LANES) {
                const int32_t n = p->out_w - ox < NN_LANES ? p->out_w - ox : NN_LANES;
                int8_t *y = out + (oy * p->out_w + ox) * OC + o0;
                im2col_lanes(p, in, oy, ox, n, g, cin_g, 0, col);
                for (i = 0; i < nb; i++) {
                    int32_t acc[NN_LANES];
                    acc[0] = acc[1] = acc[2] = acc[3] = init[i];
                    mac_lanes(col, weight + (o0 + i) * K, K, acc);
                    for (lane = 0; lane < n; lane++)
                        y[lane * OC + i] = (int8_t)nn_requant(acc[lane], s, lo, hi);
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
    else   /* the contract's scratch (4 * K bytes at least) holds the 4 lanes of K taps */
        conv_general(p, in, weight, bias, out, (uint8_t *)scratch);
}

int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    return nn_conv_scratch_contract(p);
}
