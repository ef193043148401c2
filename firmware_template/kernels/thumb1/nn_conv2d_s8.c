/* 2-D convolution, int8, variant for ARMv6-M (Cortex-M0/M0+); docs/int8_contract.md: conv2d,
 * the same bytes as ref/.
 *
 * thumb1/nn_conv2d_q7.c's loops on q7's geometry struct: depthwise direct
 * (common/nn_conv_s8_common.h); general: the int32 lanes with padding taps holding in_zp, which
 * the folded bias expects, then per output channel MultiplyByQuantizedMultiplier + out_zp +
 * clamp, two pixels at a time (the channel's constants computed once for both).
 */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"
#include "nn_conv_lanes.h"

static void conv_general(const nn_conv_s8_params *ps, const int8_t *in, const int8_t *weight,
                         const int32_t *chan, int8_t *out, int32_t *col)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    const nn_conv_params *p = &geo;
    const int32_t G = p->groups, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t cin_g = p->in_c / G, K = p->k_h * p->k_w * cin_g, kc = lane_chunk(K);
    const int32_t ozp = ps->out_zp, lo = ps->act_min, hi = ps->act_max;
    int32_t acc[NN_LANES * NN_LANE_BLOCK];
    int32_t o0, nb, g = 0, gend = cout_g, oy, ox, i;
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
                int8_t unused[2];
                for (i = 0; i < nb; i++) {
                    const int32_t b = chan[NN_S8_CHAN * (o0 + i)];
                    acc[4 * i] = acc[4 * i + 1] = acc[4 * i + 2] = acc[4 * i + 3] = b;
                }
                lanes_block(p, in, weight, o0, nb, oy, ox, n, g, cin_g, K, kc, ps->in_zp,
                            whole ? &h : 0, col, acc);
                for (i = 0; i < nb; i++) {
                    const int32_t *c = chan + NN_S8_CHAN * (o0 + i), *a = acc + NN_LANES * i;
                    nn_requant2_s8(a[0], a[1], c[1], c[2], ozp, lo, hi, &y[i],
                                   n > 1 ? &y[OC + i] : &unused[0]);
                    if (n > 2)
                        nn_requant2_s8(a[2], a[3], c[1], c[2], ozp, lo, hi, &y[2 * OC + i],
                                       n > 3 ? &y[3 * OC + i] : &unused[1]);
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
    else   /* the scratch (16 * min(ceil4(K), 128) bytes) holds a chunk's 4 lanes */
        conv_general(p, in, weight, chan, out, (int32_t *)(void *)scratch);
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    const nn_conv_params g = nn_conv_geometry(p);
    const int32_t k4 = nn_ceil4(nn_conv_taps(&g));
    return 16 * (k4 < NN_CONV_LANE_TAPS ? k4 : NN_CONV_LANE_TAPS);   /* 4 int32 lanes per tap of a chunk */
}
