/* Internal to mve/nn_conv2d_q7.c and nn_conv2d_s8.c: depthwise convolution (one input channel
 * per group, any channel multiplier m) with 4 output channels per int32 vector. The weight
 * layout (out_c, k_h, k_w, 1) puts a tap's 4 channels k_h*k_w bytes apart and their input
 * channels o/m apart, so both come by widening byte gathers (VLDRB.S32 [base, offsets]);
 * VMUL + VADD accumulate exactly in int32; the last channel block is predicated. Static
 * functions in a header included once by each of those files. */
#ifndef NN_MVE_DW_H
#define NN_MVE_DW_H

#include "nn_mve.h"
#include "nn_conv_common.h"

/* Per block of 4 output channels from o: the gather offsets of the input channels (relative to
 * channel o / m) and of the weights (relative to channel o's), and the predicate. */
typedef struct {
    uint32x4_t xoff, woff;
    mve_pred16_t pr;
} dw_block;

static inline dw_block dw_block_at(int32_t o, int32_t OC, int32_t m, int32_t KK)
{
    dw_block b;
    const int32_t c0 = o / m;
    b.xoff = vreinterpretq_u32_s32(mve_pack(0, (o + 1) / m - c0, (o + 2) / m - c0, (o + 3) / m - c0));
    b.woff = vreinterpretq_u32_s32(mve_pack(0, KK, 2 * KK, 3 * KK));
    b.pr = vctp32q((uint32_t)(OC - o));
    return b;
}

/* acc + sum over the clipped window of (x - z) * w for the block's channels: x from the input
 * at xp (channel o / m of the first valid tap), w from wp (channel o's first valid tap). */
static inline int32x4_t dw_window(const dw_block *b, const int8_t *xp, const int8_t *wp,
                                  int32_t rows, int32_t cols, int32_t row_step,
                                  int32_t col_step, int32_t KW, int32_t z, int32x4_t acc)
{
    int32_t ky, kx;
    for (ky = 0; ky < rows; ky++, xp += row_step, wp += KW) {
        const int8_t *x = xp;
        for (kx = 0; kx < cols; kx++, x += col_step) {
            const int32x4_t xv = vldrbq_gather_offset_z_s32(x, b->xoff, b->pr);
            const int32x4_t wv = vldrbq_gather_offset_z_s32(wp + kx, b->woff, b->pr);
            acc = vaddq_s32(acc, vmulq_s32(z != 0 ? vsubq_n_s32(xv, z) : xv, wv));
        }
    }
    return acc;
}

/* The clipped window of output pixel (oy, ox): tap ranges and the input / weight offsets of its
 * first valid tap (an empty window never reads them). */
typedef struct {
    int32_t ky0, ky1, kx0, kx1, x_at, w_at;
} dw_window_at;

static inline dw_window_at dw_clip(const nn_conv_params *p, int32_t oy, int32_t ox)
{
    dw_window_at a;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    tap_range(iy0, p->k_h, p->dil_h, p->in_h, &a.ky0, &a.ky1);
    tap_range(ix0, p->k_w, p->dil_w, p->in_w, &a.kx0, &a.kx1);
    a.x_at = a.ky0 < a.ky1 && a.kx0 < a.kx1
           ? ((iy0 + a.ky0 * p->dil_h) * p->in_w + ix0 + a.kx0 * p->dil_w) * p->in_c : 0;
    a.w_at = a.ky0 * p->k_w + a.kx0;
    return a;
}

#endif
