/* Max pooling, q7, Helium (MVE) variant, Caffe ceil-mode windows (docs/q7_contract.md,
 * ir.pool_window): per output pixel and per 16 channels (the last run tail-predicated: its
 * inactive lanes are neither read nor written), the first cell of the clipped window loads the
 * maximum and each further cell updates it with one VMAX.S8. The s8 kernel calls this one. */
#include "nn_kernels.h"
#include "nn_mve.h"
#include "nn_pool_common.h"

void nn_maxpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w, row_step = W * C;
    int32_t oy, ox, y, x, c;
    for (oy = 0; oy < p->out_h; oy++) {
        int32_t y0, y1;
        window(oy, p->k_h, p->stride_h, p->pad_h, p->in_h, &y0, &y1);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            int32_t x0, x1;
            const int8_t *corner;
            window(ox, p->k_w, p->stride_w, p->pad_w, W, &x0, &x1);
            corner = in + (y0 * W + x0) * C;
            for (c = 0; c < C; c += 16) {
                const mve_pred16_t pr = vctp8q((uint32_t)(C - c));
                const int8_t *row = corner + c;
                int8x16_t m = vldrbq_z_s8(row, pr);   /* the first cell: padding is never a candidate */
                for (y = y0; y < y1; y++, row += row_step) {
                    const int8_t *src = row;
                    for (x = x0; x < x1; x++, src += C)
                        m = vmaxq_s8(m, vldrbq_z_s8(src, pr));
                }
                vstrbq_p_s8(out + c, m, pr);
            }
        }
    }
}
