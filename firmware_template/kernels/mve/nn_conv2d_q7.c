/* 2-D convolution, q7, Helium (MVE) variant (docs/q7_contract.md: conv2d). Same bytes as ref/.
 *
 *   - depthwise (one input channel per group, any multiplier): direct, 4 output channels per
 *     int32 vector (nn_mve_dw.h);
 *   - general: per group, tiles of 3 output pixels: im2col into int8 columns, then 2 output
 *     channels x 3 pixels per VMLADAVA pass (nn_mve_conv.h), the contract's requantisation
 *     (VQRSHL: round half up, exact in any width; left shifts saturate, which the 8-bit clamp
 *     after them cannot tell from the contract's clamp-then-shift).
 * Both accumulate exactly in int32: only the order of the additions differs from ref/.
 */
#include "nn_kernels.h"
#include "nn_mve_conv.h"
#include "nn_mve_dw.h"

/* Depthwise (nn_mve_dw.h): per output pixel and block of 4 channels, bias + the window's
 * products, then the same VQRSHL requantisation as the general path. */
static void conv_depthwise_mve(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                               const int32_t *bias, int8_t *out)
{
    const int32_t OC = p->out_c, m = OC / p->in_c, KK = p->k_h * p->k_w, s = p->out_shift;
    const int32_t sh = s > 40 ? -40 : (s < -31 ? 31 : -s);
    const int32_t row_step = p->dil_h * p->in_w * p->in_c, col_step = p->dil_w * p->in_c;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    int32_t oy, ox, o;
    for (oy = 0; oy < p->out_h; oy++) {
        for (ox = 0; ox < p->out_w; ox++, out += OC) {
            const dw_window_at a = dw_clip(p, oy, ox);
            for (o = 0; o < OC; o += 4) {
                const dw_block b = dw_block_at(o, OC, m, KK);
                int32x4_t acc = vldrwq_z_s32(bias + o, b.pr);
                acc = dw_window(&b, in + a.x_at + o / m, weight + o * KK + a.w_at, a.ky1 - a.ky0,
                                a.kx1 - a.kx0, row_step, col_step, p->k_w, 0, acc);
                acc = vminq_s32(vmaxq_s32(vqrshlq_n_s32(acc, sh), lo), hi);
                vstrbq_p_s32(out + o, acc, b.pr);
            }
        }
    }
}

/* A full tile (3 pixels, columns back to back) through all t->pairs channel pairs: per pass the
 * accumulators start at the two biases, then MAC, then both result vectors are shifted
 * (VQRSHL), clamped and scattered. Everything in one asm block: GCC, left to schedule the
 * loop around MVE_MAC_2X3, kept its state on the stack at twice this cost per pass. */
static NN_NOINLINE void tile_pairs(nn_mve_tile *t)
{
    MVE_TILE_ASM(
        MVE_TILE_COLS
        "ldr     lr, [r12, #68]\n\t"
        "ldr     r0, [lr], #4\n\t"
        "ldr     r6, [lr], #4\n\t"
        "str     lr, [r12, #68]\n\t"
        "mov     r2, r0\n\t"
        "mov     r4, r0\n\t"
        "mov     r8, r6\n\t"
        "mov     r10, r6\n\t"
        MVE_TILE_MAC
        "vmov.32 q0[0], r0\n\t"   /* single lanes: see mve_pack */
        "vmov.32 q0[1], r6\n\t"
        "vmov.32 q0[2], r2\n\t"
        "vmov.32 q0[3], r8\n\t"
        "vmov    q1[2], q1[0], r4, r4\n\t"
        "vmov    q1[3], q1[1], r10, r10\n\t"
        "ldr     r1, [r12, #80]\n\t"
        "vqrshl.s32 q0, r1\n\t"
        "vqrshl.s32 q1, r1\n\t"
        "vmax.s32 q0, q0, q4\n\t"
        "vmax.s32 q1, q1, q4\n\t"
        "vmin.s32 q0, q0, q5\n\t"
        "vmin.s32 q1, q1, q5\n\t"
        "ldr     r1, [r12, #72]\n\t"
        "vstrb.32 q0, [r1, q6]\n\t"
        "vstrb.32 q1, [r1, q7]\n\t"
        MVE_TILE_NEXT,
        t);
}

typedef struct {
    int32_t s, lo, hi;   /* copies: the byte stores may not alias them */
} q7_requant_args;

static inline void q7_epilogue(const void *ctx, const int32_t *acc, int32_t o, int32_t pair,
                               int32_t n, int8_t *y, int32_t OC)
{
    const q7_requant_args *r = (const q7_requant_args *)ctx;
    int32_t j;
    (void)o;
    for (j = 0; j < n; j++) {
        y[j * OC] = (int8_t)nn_requant(acc[j], r->s, r->lo, r->hi);
        if (pair)
            y[j * OC + 1] = (int8_t)nn_requant(acc[3 + j], r->s, r->lo, r->hi);
    }
}

static void conv_general(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *bias, int8_t *out, int16_t *scratch)
{
    const int32_t s = p->out_shift;
    const q7_requant_args r = {s, p->act_min, p->act_max};
    nn_mve_tile t;
    t.lo = vdupq_n_s32(p->act_min);
    t.hi = vdupq_n_s32(p->act_max);
    /* VQRSHL's shift: negative = rounding right shift; |s| beyond 31 gives what 31/40 give */
    t.arg = s > 40 ? -40 : (s < -31 ? 31 : -s);
    mve_conv(p, in, weight, bias, 1, 0, out, scratch, &t, tile_pairs, q7_epilogue, &r);
}

void nn_conv2d_q7(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *bias, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p))
        conv_depthwise_mve(p, in, weight, bias, out);
    else
        conv_general(p, in, weight, bias, out, scratch);
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    return 3 * nn_conv_taps(p);   /* a tile's three int8 columns */
}
