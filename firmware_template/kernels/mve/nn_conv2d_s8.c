/* 2-D convolution, int8, Helium (MVE) variant (docs/int8_contract.md: conv2d). Same bytes as ref/.
 *
 * mve/nn_conv2d_q7.c's loops (depthwise: 4 channels per vector, nn_mve_dw.h; general: int8
 * im2col with in_zp in the padding taps, which the folded bias expects, and the 2 x 3 VMLADAVA
 * tile) with TFLite's per-channel MultiplyByQuantizedMultiplier as vectors of 4 results
 * (nn_mve.h: mve_mbqm_right) for layers whose shifts are all <= 0 (multipliers below 1);
 * others take the scalar epilogue of nn_int8.h.
 */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"
#include "nn_mve_conv.h"
#include "nn_mve_dw.h"

/* Word `word` of the records of channels o .. o + 3 (c: channel o's record), lanes past the
 * n channels left repeating lane 0 (never read past the array). Scalar loads: in QEMU 7.2 /
 * GCC 12 the predicated word gather (VLDRW.U32 Qd, [Rn, Qm]) returned values from nowhere. */
static inline int32x4_t rec_word(const int32_t *c, int32_t n, int32_t word)
{
    const int32_t i1 = n > 1 ? NN_S8_CHAN : 0, i2 = n > 2 ? 2 * NN_S8_CHAN : 0;
    const int32_t i3 = n > 3 ? 3 * NN_S8_CHAN : 0;
    return mve_pack(c[word], c[i1 + word], c[i2 + word], c[i3 + word]);
}

/* Depthwise (nn_mve_dw.h), as nn_conv_s8_common.h's loop: inside the input the folded bias and
 * x * w; a window clipped by the padding the contract's bias (folded + in_zp * sum(w)) and
 * (x - in_zp) * w. The epilogue is the general path's vector one, or nn_int8.h's per lane
 * where a shift is > 0. */
static void conv_depthwise_mve(const nn_conv_s8_params *ps, const int8_t *in,
                               const int8_t *weight, const int32_t *chan, int8_t *out, int fast)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    const nn_conv_params *p = &geo;
    const int32_t OC = p->out_c, m = OC / p->in_c, KH = p->k_h, KW = p->k_w, KK = KH * KW;
    const int32_t row_step = p->dil_h * p->in_w * p->in_c, col_step = p->dil_w * p->in_c;
    const int32_t zp = ps->out_zp, lo = ps->act_min, hi = ps->act_max;
    const int32x4_t vlo = vdupq_n_s32(lo), vhi = vdupq_n_s32(hi);
    int32_t oy, ox, o, i;
    for (oy = 0; oy < p->out_h; oy++) {
        for (ox = 0; ox < p->out_w; ox++, out += OC) {
            const dw_window_at a = dw_clip(p, oy, ox);
            const int32_t z = a.ky0 > 0 || a.ky1 < KH || a.kx0 > 0 || a.kx1 < KW ? ps->in_zp : 0;
            for (o = 0; o < OC; o += 4) {
                const dw_block b = dw_block_at(o, OC, m, KK);
                const int32_t *c = chan + NN_S8_CHAN * o;
                const int32_t n = OC - o;
                int32x4_t acc = vmlaq_n_s32(rec_word(c, n, 0), rec_word(c, n, 4), z);
                acc = dw_window(&b, in + a.x_at + o / m, weight + o * KK + a.w_at, a.ky1 - a.ky0,
                                a.kx1 - a.kx0, row_step, col_step, KW, z, acc);
                if (fast) {
                    acc = mve_mbqm_right(acc, rec_word(c, n, 1), rec_word(c, n, 2));
                    acc = vqaddq_n_s32(acc, zp);
                    vstrbq_p_s32(out + o, vminq_s32(vmaxq_s32(acc, vlo), vhi), b.pr);
                } else {
                    int32_t lane[4];
                    vst1q_s32(lane, acc);
                    for (i = 0; i < 4 && o + i < OC; i++)
                        out[o + i] = nn_requant_s8(lane[i], c[NN_S8_CHAN * i + 1],
                                                   c[NN_S8_CHAN * i + 2], zp, lo, hi);
                }
            }
        }
    }
}

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
static NN_NOINLINE void tile_pairs(nn_mve_tile *t)
{
    MVE_TILE_ASM(
        MVE_TILE_COLS
        "ldr     lr, [r12, #68]\n\t"
        "ldr     r0, [lr]\n\t"
        "ldr     r6, [lr, #20]\n\t"   /* NN_S8_CHAN words per record */
        "mov     r2, r0\n\t"
        "mov     r4, r0\n\t"
        "mov     r8, r6\n\t"
        "mov     r10, r6\n\t"
        MVE_TILE_MAC
        "ldr     r5, [r12, #68]\n\t"
        "ldrd    r1, r3, [r5, #4]\n\t"    /* mult, shift of channel o */
        "vmov    q2[2], q2[0], r1, r1\n\t"
        "vmov    q3[2], q3[0], r3, r3\n\t"
        "ldrd    r1, r3, [r5, #24]\n\t"   /* of channel o + 1 */
        "vmov    q2[3], q2[1], r1, r1\n\t"
        "vmov    q3[3], q3[1], r3, r3\n\t"
        "adds    r5, r5, #40\n\t"
        "str     r5, [r12, #68]\n\t"
        "ldr     r5, [r12, #80]\n\t"
        "ldr     r1, [r12, #72]\n\t"
        "vmov.32 q0[0], r0\n\t"   /* single lanes: see mve_pack */
        "vmov.32 q0[1], r6\n\t"
        "vmov.32 q0[2], r2\n\t"
        "vmov.32 q0[3], r8\n\t"
        MVE_S8_STORE("q6")
        "vmov    q0[2], q0[0], r4, r4\n\t"
        "vmov    q0[3], q0[1], r10, r10\n\t"
        MVE_S8_STORE("q7")
        MVE_TILE_NEXT,
        t);
}

typedef struct {
    const int32_t *chan;   /* the channels' records */
    int32_t zp, lo, hi;    /* copies: the byte stores may not alias them */
} s8_requant_args;

static inline void s8_epilogue(const void *ctx, const int32_t *acc, int32_t o, int32_t pair,
                               int32_t n, int8_t *y, int32_t OC)
{
    const s8_requant_args *r = (const s8_requant_args *)ctx;
    const int32_t *c0 = r->chan + NN_S8_CHAN * o, *c1 = pair ? c0 + NN_S8_CHAN : c0;
    int32_t j;
    for (j = 0; j < n; j++) {
        y[j * OC] = nn_requant_s8(acc[j], c0[1], c0[2], r->zp, r->lo, r->hi);
        if (pair)
            y[j * OC + 1] = nn_requant_s8(acc[3 + j], c1[1], c1[2], r->zp, r->lo, r->hi);
    }
}

static void conv_general(const nn_conv_s8_params *ps, const int8_t *in, const int8_t *weight,
                         const int32_t *chan, int8_t *out, int16_t *scratch, int fast)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    const s8_requant_args r = {chan, ps->out_zp, ps->act_min, ps->act_max};
    nn_mve_tile t;
    t.lo = vdupq_n_s32(ps->act_min);
    t.hi = vdupq_n_s32(ps->act_max);
    t.arg = ps->out_zp;
    mve_conv(&geo, in, weight, chan, NN_S8_CHAN, ps->in_zp, out, scratch, &t,
             fast ? tile_pairs : 0, s8_epilogue, &r);
}

/* Whether every shift is <= 0 (multipliers below 1): the vector epilogues' condition. */
static int right_shifts_only(const int32_t *chan, int32_t n)
{
    int32_t o, ok = 1;
    for (o = 0; o < n; o++)
        ok &= chan[NN_S8_CHAN * o + 2] <= 0;
    return ok;
}

void nn_conv2d_s8(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *chan, int8_t *out, int16_t *scratch)
{
    const int fast = right_shifts_only(chan, p->out_c);
    if (NN_CONV_IS_DEPTHWISE(p))
        conv_depthwise_mve(p, in, weight, chan, out, fast);
    else
        conv_general(p, in, weight, chan, out, scratch, fast);
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    const nn_conv_params g = nn_conv_geometry(p);
    return 3 * nn_conv_taps(&g);   /* a tile's three int8 columns */
}
