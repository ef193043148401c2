/* Max pooling, q7, Helium (MVE) variant, Caffe ceil-mode windows (docs/q7_contract.md,
 * ir.pool_window): per output pixel, the channels in runs of 32 (two vectors per window cell),
 * then 16, then a tail-predicated rest (inactive lanes neither read nor written): the first cell
 * of the clipped window loads the maximum (padding is never a candidate) and each further cell
 * updates it with VMAX.S8. The s8 kernel calls this one. */
#include "nn_kernels.h"
#include "nn_mve.h"
#include "nn_pool_common.h"

/* The maximum over rows x cols cells (row_step / C bytes apart) of 32 channels from src. */
static inline void max32(const int8_t *src, int32_t row_step, int32_t C, int32_t rows,
                         int32_t cols, int8_t *out)
{
    int8x16_t m0 = vldrbq_s8(src), m1 = vldrbq_s8(src + 16);
    int32_t y, x;
    for (y = 0; y < rows; y++, src += row_step) {
        const int8_t *s = src;
        for (x = 0; x < cols; x++, s += C) {
            m0 = vmaxq_s8(m0, vldrbq_s8(s));
            m1 = vmaxq_s8(m1, vldrbq_s8(s + 16));
        }
    }
    vstrbq_s8(out, m0);
    vstrbq_s8(out + 16, m1);
}

/* The same for n <= 16 channels (predicated when n < 16). */
static inline void max16(const int8_t *src, int32_t row_step, int32_t C, int32_t rows,
                         int32_t cols, int32_t n, int8_t *out)
{
    const mve_pred16_t pr = vctp8q((uint32_t)n);
    int8x16_t m = vldrbq_z_s8(src, pr);
    int32_t y, x;
    for (y = 0; y < rows; y++, src += row_step) {
        const int8_t *s = src;
        for (x = 0; x < cols; x++, s += C)
            m = vmaxq_s8(m, vldrbq_z_s8(s, pr));
    }
    vstrbq_p_s8(out, m, pr);
}

void nn_maxpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w, row_step = W * C;
    int32_t oy, ox, c;
    for (oy = 0; oy < p->out_h; oy++) {
        int32_t y0, y1;
        window(oy, p->k_h, p->stride_h, p->pad_h, p->in_h, &y0, &y1);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            int32_t x0, x1;
            const int8_t *corner;
            window(ox, p->k_w, p->stride_w, p->pad_w, W, &x0, &x1);
            corner = in + (y0 * W + x0) * C;
            /* the first cell is read twice (it initialises the maximum): fewer branches */
            for (c = 0; c + 32 <= C; c += 32)
                max32(corner + c, row_step, C, y1 - y0, x1 - x0, out + c);
            for (; c < C; c += 16)
                max16(corner + c, row_step, C, y1 - y0, x1 - x0, C - c < 16 ? C - c : 16, out + c);
        }
    }
}
