/* Internal to dsp/nn_conv2d_q7.c and nn_conv2d_s8.c: the output pixels of one group in quads
 * (row-major order, a quad may wrap to the next row), each quad's four columns built in the
 * scratch for the 1x4 mat-mult. Static functions in a header included once by each of those
 * files. */
#ifndef NN_CONV_QUADS_H
#define NN_CONV_QUADS_H

#include "nn_conv_im2col.h"

typedef struct {
    const nn_conv_params *p;
    const int8_t *in;
    uint32_t pad4;          /* padding byte x 4 (q7: 0; s8: in_zp) */
    int32_t g, cin_g, K;
    int32_t next, oy, ox;   /* the next quad's first pixel: index and (row, column) */
    int32_t pix, npx;       /* the current quad: first pixel index, valid pixels (1..4) */
    int fast;               /* interior quads: 1 im2col_quad_interior, 2 ..._small_interior */
} nn_conv_quads;

static void nn_conv_quads_init(nn_conv_quads *q, const nn_conv_params *p, const int8_t *in,
                               int32_t g, int32_t cin_g, uint32_t pad4)
{
    q->p = p;
    q->in = in;
    q->pad4 = pad4;
    q->g = g;
    q->cin_g = cin_g;
    q->K = p->k_h * p->k_w * cin_g;
    q->next = 0;
    q->oy = 0;
    q->ox = 0;
    q->pix = 0;
    q->npx = 0;
    /* dense layers only (the interior builders read whole input pixels) */
    q->fast = p->groups != 1 || p->dil_w != 1 ? 0
            : (cin_g & 3) == 0 ? 1
            : q->K <= NN_QSTAGE_MAX && p->k_w * cin_g >= 4 ? 2 : 0;
}

/* The next quad's columns into scratch; 0 when every pixel is done. A last quad of fewer than
 * four pixels repeats its last pixel's column in the missing slots (their outputs are dropped). */
static int nn_conv_quads_next(nn_conv_quads *q, int16_t *scratch)
{
    const nn_conv_params *p = q->p;
    const int32_t npix = p->out_h * p->out_w;
    int32_t k;
    if (q->next >= npix)
        return 0;
    q->pix = q->next;
    q->npx = npix - q->pix < 4 ? npix - q->pix : 4;
    if (q->fast != 0 && q->npx == 4 && q->ox + 3 < p->out_w) {
        const int32_t iy0 = q->oy * p->stride_h - p->pad_h, ix0 = q->ox * p->stride_w - p->pad_w;
        if (iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h && ix0 >= 0
            && ix0 + 3 * p->stride_w + p->k_w <= p->in_w) {
            const int8_t *src = q->in + (iy0 * p->in_w + ix0) * q->cin_g;
            const int32_t dx = p->stride_w * q->cin_g, row_step = p->dil_h * p->in_w * q->cin_g;
            if (q->fast == 1)
                im2col_quad_interior(src, dx, row_step, p->k_h, (p->k_w * q->cin_g) >> 2, scratch);
            else
                im2col_quad_small_interior(src, dx, row_step, p->k_h, p->k_w * q->cin_g, q->K,
                                           scratch);
            q->next += 4;
            q->ox += 4;
            if (q->ox == p->out_w) {
                q->ox = 0;
                q->oy++;
            }
            return 1;
        }
    }
    for (k = 0; k < 4; k++) {
        if (k < q->npx) {
            im2col(p, q->in, q->oy, q->ox, q->g, q->cin_g, scratch + 2 * k, q->pad4);
            q->next++;
            if (++q->ox == p->out_w) {
                q->ox = 0;
                q->oy++;
            }
        } else {   /* repeat the last valid column: 2 words per block */
            const int16_t *src = scratch + 2 * (q->npx - 1);
            int16_t *dst = scratch + 2 * k;
            int32_t b;
            for (b = (q->K + 3) >> 2; b > 0; b--, src += NN_COLW_STEP, dst += NN_COLW_STEP) {
                nn_write32(dst, nn_read32_aligned(src));
                nn_write32(dst + NN_COLW_ODD, nn_read32_aligned(src + NN_COLW_ODD));
            }
        }
    }
    return 1;
}

#endif
