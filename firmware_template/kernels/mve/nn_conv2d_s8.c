/* 2-D convolution, int8, Helium (MVE) variant (docs/int8_contract.md: conv2d). Same bytes as ref/.
 *
 * mve/nn_conv2d_q7.c's loops (depthwise direct, common/nn_conv_s8_common.h; general: int8
 * im2col with in_zp in the padding taps, which the folded bias expects, and the 2 x 3 VMLADAVA
 * tile) with TFLite's per-channel MultiplyByQuantizedMultiplier as vectors of 4 results
 * (nn_mve.h: mve_mbqm_right) for layers whose shifts are all <= 0 (multipliers below 1);
 * others take the scalar epilogue of nn_int8.h.
 */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"
#include "nn_mve_conv.h"

/* One result vector of a pass (q0) to bytes: mve_mbqm_right with mult q2 and shift q3, out_zp
 * (r5) added saturating (so the clamp after it sees the exact order), clamp to q4..q5, scatter
 * by the offsets in `off` from y (r1). q1 is a temporary. */
#define MVE_S8_STORE(off)                                                                      \
    "vqrdmulh.s32 q0, q0, q2\n\t"                                                              \
    "vand    q1, q0, q3\n\t"                                                                   \
    "vshr.s32 q1, q1, #31\n\t"                                                                 \
    "vadd.i32 q0, q0, q1\n\t"                                                                  \
    "vrshl.s32 q0, q0, q3\n\t"                                                                 \
    "vqadd.s32 q0, q0, r5\n\t"                                                                 \
    "vmax.s32 q0, q0, q4\n\t"                                                                  \
    "vmin.s32 q0, q0, q5\n\t"                                                                  \
    "vstrb.32 q0, [r1, " off "]\n\t"

/* A full tile (3 pixels, columns back to back) through all t->pairs channel pairs, for layers
 * whose shifts are all <= 0: per pass the accumulators start at the two records' folded
 * biases, then MAC, then the per-channel multipliers and shifts go into q2/q3 as (o, o+1, o,
 * o+1) and both result vectors through MVE_S8_STORE. One asm block, as q7's. */
static NN_NOINLINE void tile_pairs(nn_mve_tile *t, int32_t K)
{
    MVE_TILE_ASM(
        MVE_TILE_COLS
        "ldr     lr, [r7, #68]\n\t"
        "ldr     r0, [lr]\n\t"
        "ldr     r6, [lr, #20]\n\t"   /* NN_S8_CHAN words per record */
        "mov     r2, r0\n\t"
        "mov     r4, r0\n\t"
        "mov     r8, r6\n\t"
        "mov     r10, r6\n\t"
        MVE_TILE_MAC
        "ldr     r5, [r7, #68]\n\t"
        "ldrd    r1, r3, [r5, #4]\n\t"    /* mult, shift of channel o */
        "vmov    q2[2], q2[0], r1, r1\n\t"
        "vmov    q3[2], q3[0], r3, r3\n\t"
        "ldrd    r1, r3, [r5, #24]\n\t"   /* of channel o + 1 */
        "vmov    q2[3], q2[1], r1, r1\n\t"
        "vmov    q3[3], q3[1], r3, r3\n\t"
        "adds    r5, r5, #40\n\t"
        "str     r5, [r7, #68]\n\t"
        "ldr     r5, [r7, #80]\n\t"
        "ldr     r1, [r7, #72]\n\t"
        "vmov    q0[2], q0[0], r2, r0\n\t"
        "vmov    q0[3], q0[1], r8, r6\n\t"
        MVE_S8_STORE("q6")
        "vmov    q0[2], q0[0], r4, r4\n\t"
        "vmov    q0[3], q0[1], r10, r10\n\t"
        MVE_S8_STORE("q7")
        MVE_TILE_NEXT,
        t, K);
}

static void conv_general(const nn_conv_s8_params *ps, const int8_t *in, const int8_t *weight,
                         const int32_t *chan, int8_t *out, int16_t *scratch)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    const nn_conv_params *p = &geo;
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t K = p->k_h * p->k_w * cin_g, npix = p->out_h * p->out_w;
    const int32_t zp = ps->out_zp, lo = ps->act_min, hi = ps->act_max;
    int8_t *cbuf = (int8_t *)scratch;
    nn_mve_tile t;
    int32_t g, q, o, j, fast = 1;

    for (o = 0; o < p->out_c; o++)   /* the vector epilogue takes right shifts only */
        fast &= chan[NN_S8_CHAN * o + 2] <= 0;
    t.lo = vdupq_n_s32(lo);
    t.hi = vdupq_n_s32(hi);
    tile_offsets(OC, &t.off0, &t.off1);
    t.cols = cbuf;
    t.arg = zp;

    for (g = 0; g < G; g++) {
        const int8_t *wg = weight + g * cout_g * K;
        const int32_t *cg = chan + NN_S8_CHAN * g * cout_g;
        int32_t oy = 0, ox = 0;
        for (q = 0; q < npix; q += NN_MVE_TILE) {
            const int32_t n = npix - q < NN_MVE_TILE ? npix - q : NN_MVE_TILE;
            int8_t *y = out + q * OC + g * cout_g;
            const int8_t *cols[NN_MVE_TILE];
            im2col_tile(p, in, &oy, &ox, g, cin_g, cbuf, n, ps->in_zp, cols);
            o = 0;
            if (n == NN_MVE_TILE && fast && cout_g >= 2) {
                o = cout_g & ~1;
                t.bias = cg;
                t.y = y;
                t.pairs = cout_g >> 1;
                t.w = wg;
                tile_pairs(&t, K);
                y += o;
            }
            for (; o < cout_g; o += 2, y += 2) {
                const int32_t pair = o + 1 < cout_g;
                const int8_t *w0 = wg + o * K, *w1 = pair ? w0 + K : w0;
                const int32_t *c0 = cg + NN_S8_CHAN * o, *c1 = pair ? c0 + NN_S8_CHAN : c0;
                int32_t acc[6];
                acc[0] = acc[1] = acc[2] = c0[0];
                acc[3] = acc[4] = acc[5] = c1[0];
                mve_mac_2x3(w0, w1, cols[0], cols[1], cols[2], K, acc);
                for (j = 0; j < n; j++) {
                    y[j * OC] = nn_requant_s8(acc[j], c0[1], c0[2], zp, lo, hi);
                    if (pair)
                        y[j * OC + 1] = nn_requant_s8(acc[3 + j], c1[1], c1[2], zp, lo, hi);
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
    else
        conv_general(p, in, weight, chan, out, scratch);
}

int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    const nn_conv_params g = nn_conv_geometry(p);
    return nn_conv_scratch_contract(&g);
}
