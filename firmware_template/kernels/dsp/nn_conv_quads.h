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
    int32_t R;              /* weight row bytes: ceil4(K), the K % 4 gap leading, so that rows are
                             * word-aligned like the columns' blocks (kernels/q7_conv2d.py: weight_row) */
    int32_t next, oy, ox;   /* the next quad's first pixel: index and (row, column) */
    int32_t pix, npx;       /* the current quad: first pixel index, valid pixels (1..4) */
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
    q->R = nn_ceil4(q->K);
    q->next = 0;
    q->oy = 0;
    q->ox = 0;
    q->pix = 0;
    q->npx = 0;
}

/* The next quad's columns into scratch; 0 when every pixel is done. A last quad of fewer than
 * four pixels repeats its last pixel in the missing columns (their outputs are dropped).
 * Builders: small windows (K <= NN_QSTAGE_MAX) gathered on the stack, any quad; quads in one
 * output row of layers with cin_g % 4 == 0 by taps; anything else pixel by pixel. */
static int nn_conv_quads_next(nn_conv_quads *q, int16_t *scratch)
{
    const nn_conv_params *p = q->p;
    const int32_t npix = p->out_h * p->out_w;
    int32_t oy[4], ox[4], k;
    if (q->next >= npix)
        return 0;
    q->pix = q->next;
    q->npx = npix - q->pix < 4 ? npix - q->pix : 4;
    for (k = 0; k < 4; k++) {
        oy[k] = q->oy;
        ox[k] = q->ox;
        if (k < q->npx - 1 && ++q->ox == p->out_w) {
            q->ox = 0;
            q->oy++;
        }
    }
    q->next += q->npx;
    if (++q->ox == p->out_w) {   /* the next quad starts after the last valid pixel */
        q->ox = 0;
        q->oy++;
    }
    if (q->K <= NN_QSTAGE_MAX) {
        im2col_quad_small(p, q->in, oy, ox, q->g, q->cin_g, q->K, scratch, q->pad4);
    } else if ((q->cin_g & 3) == 0 && q->npx == 4 && oy[3] == oy[0]) {
        im2col_quad_taps(p, q->in, oy[0], ox[0], q->g, q->cin_g, scratch, q->pad4);
    } else {
        for (k = 0; k < 4; k++)
            im2col(p, q->in, oy[k], ox[k], q->g, q->cin_g, scratch + 2 * k, q->pad4);
    }
    return 1;
}

#endif
