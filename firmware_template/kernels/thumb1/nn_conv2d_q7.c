/* 2-D convolution, q7, variant for ARMv6-M (Cortex-M0/M0+); docs/q7_contract.md: conv2d, the
 * same bytes as ref/.
 *
 * Depthwise: the direct loop (common/nn_conv_common.h). General: per group and run of 4 output
 * pixels of one row, the int32 im2col lanes and the LDM + MULS loop (thumb1/nn_conv_lanes.h);
 * a one-chunk window with a fast shift runs every channel and its requantisation in one asm
 * call (thumb1/nn_lanes_q7.h), others per block of up to 16 channels with the requantisation
 * in C.
 */
#include "nn_kernels.h"
#include "nn_lanes_q7.h"

/* requant(acc, s, lo, hi) for 2 <= s <= 31 (sm1 = s - 1): nn_round_shift2's three instructions */
static inline int8_t requant_s(int32_t acc, int32_t sm1, int32_t lo, int32_t hi)
{
    const int32_t r = nn_round_shift2(acc, sm1);
    return (int8_t)(r < lo ? lo : (r > hi ? hi : r));
}

/* y[p * OC + i] = requant(acc[4i + p]), i < nb, p < n: a block's results in C */
static void block_requant(const int32_t *acc, int8_t *y, int32_t nb, int32_t n, int32_t OC,
                          int32_t s, int32_t lo, int32_t hi)
{
    const int fast = s >= 2 && s <= 31;   /* nn_round_shift2's range */
    int32_t lane, i;
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

/* Per group, run of 4 output pixels of a column and output row: when the window is one chunk,
 * the shift a fast one and the 4 lanes valid, one im2col and lanes_q7 through the group's
 * channels; otherwise blocks of up to 16 channels whose accumulators live on the stack
 * (lanes_block, chunk by chunk) and block_requant. */
static void conv_general(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *bias, int8_t *out, int32_t *col)
{
    const int32_t G = p->groups, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t cin_g = p->in_c / G, K = p->k_h * p->k_w * cin_g, kc = lane_chunk(K);
    const int32_t s = p->out_shift, lo = p->act_min, hi = p->act_max;
    const int one = kc == K && s >= 2 && s <= 31;
    const int slide = p->stride_h == 1 && p->dil_h == 1 && p->k_h > 1;   /* rows shared by oy, oy+1 */
    const int32_t run = p->k_w * cin_g;   /* taps per kernel row */
    int32_t acc[NN_LANES * NN_LANE_BLOCK];
    int32_t o0, nb, g, oy, ox, i;
    for (g = 0; g < G; g++) {
        const int32_t gend = (g + 1) * cout_g;
        for (ox = 0; ox < p->out_w; ox += NN_LANES) {   /* columns outside: h once per run */
            const int32_t n = p->out_w - ox < NN_LANES ? p->out_w - ox : NN_LANES;
            const int whole = lanes_whole(p, n, cin_g, K, kc);
            lanes_cols h;
            if (whole)
                lanes_cols_of(p, ox, &h);
            for (oy = 0; oy < p->out_h; oy++) {
                int8_t *y = out + (oy * p->out_w + ox) * OC + g * cout_g;
                if (one && n == NN_LANES) {
                    lanes_q7_job job;
                    if (whole && slide && oy > 0) {   /* the last window moved up one row */
                        words_move4(col, col + NN_LANES * run, (p->k_h - 1) * run);
                        im2col_whole(p, in, oy, ox, 0, &h, p->k_h - 1, col);
                    } else if (whole)
                        im2col_whole(p, in, oy, ox, 0, &h, 0, col);
                    else
                        im2col_words(p, in, oy, ox, n, g, cin_g, 0, 0, K, col);
                    job.col = col;
                    job.wend = weight + g * cout_g * K + K;
                    job.n = K;
                    job.bias = bias + g * cout_g;
                    job.y = y;
                    job.oc = OC;
                    job.sm1 = s - 1;
                    job.lo = lo;
                    job.hi = hi;
                    job.count = cout_g;
                    lanes_q7(&job);
                    continue;
                }
                for (o0 = g * cout_g; o0 < gend; o0 += nb, y += nb) {
                    nb = gend - o0 < NN_LANE_BLOCK ? gend - o0 : NN_LANE_BLOCK;
                    for (i = 0; i < nb; i++)
                        acc[4 * i] = acc[4 * i + 1] = acc[4 * i + 2] = acc[4 * i + 3] = bias[o0 + i];
                    lanes_block(p, in, weight, o0, nb, oy, ox, n, g, cin_g, K, kc, 0,
                                whole ? &h : 0, col, acc);
                    block_requant(acc, y, nb, n, OC, s, lo, hi);
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
    else   /* the contract's scratch (16 * min(ceil4(K), 128) bytes at least) holds a chunk's 4 lanes */
        conv_general(p, in, weight, bias, out, (int32_t *)(void *)scratch);
}

int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    return nn_conv_scratch_contract(p);
}
