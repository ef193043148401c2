/* 2-D convolution, q7, variant for ARMv6-M (Cortex-M0/M0+); docs/q7_contract.md: conv2d, the
 * same bytes as ref/.
 *
 * Depthwise: the direct loop (common/nn_conv_common.h). General: per block of up to 16 output
 * channels of one group and run of 4 output pixels of one row, the int32 im2col lanes and the
 * LDM + MULS loop (thumb1/nn_conv_lanes.h), then the requantisation of the block.
 */
#include "nn_kernels.h"
#include "nn_conv_lanes.h"

/* requant(acc, s, lo, hi) for 2 <= s <= 31 (sm1 = s - 1): nn_round_shift2's three instructions */
static inline int8_t requant_s(int32_t acc, int32_t sm1, int32_t lo, int32_t hi)
{
    const int32_t r = nn_round_shift2(acc, sm1);
    return (int8_t)(r < lo ? lo : (r > hi ? hi : r));
}

static void conv_general(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *bias, int8_t *out, int32_t *col)
{
    const int32_t G = p->groups, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t cin_g = p->in_c / G, K = p->k_h * p->k_w * cin_g, kc = lane_chunk(K);
    const int32_t s = p->out_shift, lo = p->act_min, hi = p->act_max;
    const int fast = s >= 2 && s <= 31;   /* nn_round_shift2's range */
    int32_t acc[NN_LANES * NN_LANE_BLOCK];
    int32_t o0, nb, g = 0, gend = cout_g, oy, ox, i, lane;
    for (o0 = 0; o0 < OC; o0 += nb) {
        if (o0 == gend) {   /* blocks stay inside one group: one im2col serves them */
            g++;
            gend += cout_g;
        }
        nb = gend - o0 < NN_LANE_BLOCK ? gend - o0 : NN_LANE_BLOCK;
        for (ox = 0; ox < p->out_w; ox += NN_LANES) {   /* columns outside: h once per run */
            const int32_t n = p->out_w - ox < NN_LANES ? p->out_w - ox : NN_LANES;
            const int whole = lanes_whole(p, n, cin_g, K, kc);
            lanes_cols h;
            if (whole)
                lanes_cols_of(p, ox, &h);
            for (oy = 0; oy < p->out_h; oy++) {
                int8_t *y = out + (oy * p->out_w + ox) * OC + o0;
                for (i = 0; i < nb; i++)
                    acc[4 * i] = acc[4 * i + 1] = acc[4 * i + 2] = acc[4 * i + 3] = bias[o0 + i];
                lanes_block(p, in, weight, o0, nb, oy, ox, n, g, cin_g, K, kc, 0,
                            whole ? &h : 0, col, acc);
                for (lane = 0; lane < n; lane++, y += OC) {
                    const int32_t *a = acc + lane;
                    if (fast) {
                        for (i = 0; i < nb; i++)
                            y[i] = requant_s(a[NN_LANES * i], s - 1, lo, hi);
                    } else {
                        for (i = 0; i < nb; i++)
                            y[i] = (int8_t)nn_requant(a[NN_LANES * i], s, lo, hi);
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
    else   /* the scratch (16 * min(ceil4(K), 128) bytes) holds a chunk's 4 lanes */
        conv_general(p, in, weight, bias, out, (int32_t *)(void *)scratch);
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    const int32_t k4 = nn_ceil4(nn_conv_taps(p));
    return 16 * (k4 < NN_CONV_LANE_TAPS ? k4 : NN_CONV_LANE_TAPS);   /* 4 int32 lanes per tap of a chunk */
}
