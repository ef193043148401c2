/* int8 MEAN over H and W (TFLM's reference_integer_ops::Mean, docs/int8_contract.md): per channel
 * mbqm(sum(x - in_zp), mult, shift) + out_zp, clamped. The multiplier already holds 1/n; the
 * generator refuses a left shift that could overflow the sum (so nn_mbqm is exact). */
#include "nn_kernels.h"
#include "nn_int8.h"

void nn_mean_s8(const nn_mean_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, cells = (int32_t)p->in_h * p->in_w;
    int32_t c, i;
    for (c = 0; c < C; c++) {
        int32_t sum = 0, q;
        const int8_t *src = in + c;
        for (i = 0; i < cells; i++, src += C)
            sum += *src - p->in_zp;
        q = nn_mbqm(sum, p->mult, p->shift) + p->out_zp;
        out[c] = (int8_t)(q < p->act_min ? p->act_min : (q > p->act_max ? p->act_max : q));
    }
}
