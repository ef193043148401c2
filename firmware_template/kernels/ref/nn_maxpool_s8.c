/* Max pooling, int8 (docs/int8_contract.md: max_pool): q7's kernel (whichever variant the
 * target links: the max of int8 values does not depend on the scale), then the activation clamp
 * where the range is not the full int8 one. */
#include "nn_kernels.h"

void nn_maxpool_s8(const nn_pool_s8_params *p, const int8_t *in, int8_t *out)
{
    const nn_pool_params q = {p->in_h, p->in_w, p->c, p->out_h, p->out_w, p->k_h, p->k_w,
                              p->stride_h, p->stride_w, p->pad_h, p->pad_w, 0};
    nn_maxpool_q7(&q, in, out);
    if (p->act_min > -128 || p->act_max < 127)
        nn_clamp_s8(out, (int32_t)p->out_h * p->out_w * p->c, p->act_min, p->act_max);
}
