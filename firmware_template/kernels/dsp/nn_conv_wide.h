/* Internal to dsp/nn_conv2d_q7_relu_quad_wide.c and nn_conv2d_s8_relu_quad_wide.c: the _quad
 * entries' loop (nn_conv_rows4.h) with the layer's weights widened to int16 once per call, into
 * the scratch before the columns, so that a block of 4 K costs 11 instructions (one LDRD of
 * two weight words, two LDM of four column words, 8 SMLAD) instead of 13 (an LDR and two SXTB16
 * for the weights) or 12.5 (the LDRD loop of int8 pairs). RAM for speed: the generator offers it
 * to the plan (kernels/q7_conv2d.py: wide), which takes it only where the arena stays within the
 * budget (schedule.py); flash is unchanged, and a build of such layers links neither the int8
 * MAC loops nor the C channel loop (issue 13). Static, in a header included once by each. */
#ifndef NN_CONV_WIDE_H
#define NN_CONV_WIDE_H

#include "nn_dsp.h"
#include "nn_conv_common.h"
#include "nn_conv_im2col.h"
#include "nn_conv_mat_mult.h"

/* int16 elements of the widened weights (out_c rows of ceil4(K)) before the columns */
static inline int32_t nn_wide_weights(const nn_conv_params *p)
{
    return p->out_c * nn_ceil4(p->k_h * p->k_w * (p->in_c / p->groups));
}

/* The scratch bytes: the widened weights and the four int16 columns (nn_conv2d_q7_scratch_bytes on
 * dsp, written out here so that an entry file needs no other conv file: the CMake export links
 * only the files a model calls). */
static inline int32_t nn_wide_scratch_bytes(const nn_conv_params *p)
{
    return 2 * nn_wide_weights(p) + 8 * nn_ceil4(p->k_h * p->k_w * (p->in_c / p->groups));
}

/* n blocks of 4 int8 weights (rows of ceil4(K), kernels/q7_conv2d.py: weight_row) into the
 * pairs the columns' words meet: (w0, w2), (w1, w3), as SXTB16 makes them. */
static void widen_weights(const int8_t *w, int32_t n, int16_t *dst)
{
    for (; n > 0; n--, w += 4, dst += 4) {
        const uint32_t x = nn_read32(w);
        nn_write32(dst, nn_sxtb16(x));
        nn_write32(dst + 2, nn_sxtb16_ror8(x));
    }
}

#if defined(NN_MM4_RELU)
/* The blocks of mm4_relu_q7 / _s8 (nn_conv_mat_mult.h) with int16 weights: 11 instructions, 44
 * bytes; the first with the bias in r0 as the addend. */
#define MM4W_HALF_ASM(x)                                                                       \
    "ldmia  r5!, {r8, r9, r10, r11}\n\t"                                                       \
    "smlad  r0, " x ", r8, r0\n\t"                                                             \
    "smlad  r1, " x ", r9, r1\n\t"                                                             \
    "smlad  r2, " x ", r10, r2\n\t"                                                            \
    "smlad  r3, " x ", r11, r3\n\t"
#define MM4W_BLOCK_ASM                                                                         \
    "ldrd   r7, r12, [r4], #8\n\t" MM4W_HALF_ASM("r7") MM4W_HALF_ASM("r12")
#define MM4W_FIRST_BLOCK_ASM                                                                   \
    "ldrd   r7, r12, [r4], #8\n\t"                                                             \
    "ldmia  r5!, {r8, r9, r10, r11}\n\t"                                                       \
    "smlad  r1, r7, r9, r0\n\t"                                                                \
    "smlad  r2, r7, r10, r0\n\t"                                                               \
    "smlad  r3, r7, r11, r0\n\t"                                                               \
    "smlad  r0, r7, r8, r0\n\t" MM4W_HALF_ASM("r12")

static NN_NOINLINE NN_MAYBE_UNUSED __attribute__((naked)) void mm4w_relu_q7(const nn_mm4_frame *f NN_MAYBE_UNUSED)
{
    __asm__ volatile(MM4_RELU_Q7_ASM(MM4W_FIRST_BLOCK_ASM, MM4_PASSES_ASM(MM4W_BLOCK_ASM, 44)));
}

static NN_NOINLINE NN_MAYBE_UNUSED __attribute__((naked)) void mm4w_relu_s8(const nn_mm4s8_frame *f NN_MAYBE_UNUSED)
{
    __asm__ volatile(MM4_RELU_S8_ASM(MM4W_FIRST_BLOCK_ASM, MM4_PASSES_ASM(MM4W_BLOCK_ASM, 44)));
}
#else
/* The same computation in C (the host's NN_EMULATE_DSP build): mode 2 (q7) or 5 (s8). */
static void mm4w_relu_c(const int16_t *w, const int32_t *b, int32_t n_oc, int32_t nb,
                        const int16_t *cols, int8_t *out, int32_t ps, int32_t s, int32_t bw, int mode)
{
    int32_t o, k;
    for (o = 0; o < n_oc; o++, b += bw, out++) {
        int32_t a0 = b[0], a1 = a0, a2 = a0, a3 = a0;
        const int16_t *c = cols;
        for (k = 0; k < nb; k++, w += 4, c += NN_COLW_STEP) {
            const uint32_t we = nn_read32_aligned(w), wo = nn_read32_aligned(w + 2);
            a0 = nn_smlad(we, nn_read32_aligned(c), a0);
            a1 = nn_smlad(we, nn_read32_aligned(c + 2), a1);
            a2 = nn_smlad(we, nn_read32_aligned(c + 4), a2);
            a3 = nn_smlad(we, nn_read32_aligned(c + 6), a3);
            a0 = nn_smlad(wo, nn_read32_aligned(c + 8), a0);
            a1 = nn_smlad(wo, nn_read32_aligned(c + 10), a1);
            a2 = nn_smlad(wo, nn_read32_aligned(c + 12), a2);
            a3 = nn_smlad(wo, nn_read32_aligned(c + 14), a3);
        }
        if (mode == 2)
            rq_store4(out, ps, a0, a1, a2, a3, b, s, 0, 127, 2);
        else
            rq_store4(out, ps, a0, a1, a2, a3, b, s, 0, 127, 5);
    }
}
#endif

/* b: bias words (q7, bw 1, mode 2) or channel records (s8, bw NN_S8_CHAN, mode 5); s: q7's
 * shift (s8: unused); pad4: the padding byte x 4. The layer: nn_conv_rows4.h's, K >= 5. */
static void conv_rows4_wide(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                            const int32_t *b, int8_t *out, int16_t *scratch, int32_t s,
                            int32_t bw, uint32_t pad4, int mode)
{
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G;
    const int32_t K = p->k_h * p->k_w * cin_g, R = nn_ceil4(K), nb = R >> 2;
    int16_t *const cols = scratch + nn_wide_weights(p);
    int32_t g, oy, ox;
    widen_weights(weight, p->out_c * nb, scratch);
    for (g = 0; g < G; g++) {
        const int16_t *const wg = scratch + g * cout_g * R;
        const int32_t *const bg = b + bw * g * cout_g;
        int8_t *o = out + g * cout_g;
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox += 4, o += 4 * p->out_c) {
                if (K <= NN_QSTAGE_MAX)
                    im2col_quad_small_rows(p, in, oy, ox, K, cols, pad4);
                else
                    im2col_quad_taps(p, in, oy, ox, g, cin_g, cols, pad4);
#if defined(NN_MM4_RELU)
                if (mode == 2) {
                    const nn_mm4_frame f = {cols, MM4_PASSES(nb), 1 << (s - 1), MM4_SKIP(nb, 44u), s, o,
                                            p->out_c, 3 * p->out_c, bg + cout_g, (const int8_t *)wg, bg};
                    mm4w_relu_q7(&f);
                } else {
                    const nn_mm4s8_frame f = {o, p->out_c, 3 * p->out_c, bg + bw * cout_g, cols,
                                              MM4_PASSES(nb), MM4_SKIP(nb, 44u), (const int8_t *)wg, bg};
                    mm4w_relu_s8(&f);
                }
#else
                mm4w_relu_c(wg, bg, cout_g, nb, cols, o, p->out_c, s, bw, mode);
#endif
            }
        }
    }
}

#endif
