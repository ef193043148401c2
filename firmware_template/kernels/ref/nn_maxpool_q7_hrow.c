/* One output row of nn_maxpool_q7's horizontal windows over one input row: the first half of a
 * max pool split by rows (max is separable), so that a fused group can pool a convolution's
 * rows as they come (nnbuild.schedule) and keep only the row two windows share. Runs the linked
 * variant of nn_maxpool_q7 on a one-row window, so one file serves every ISA. */
#include "nn_kernels.h"

void nn_maxpool_q7_hrow(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    nn_pool_params q = *p;
    q.in_h = q.out_h = q.k_h = q.stride_h = 1;
    q.pad_h = 0;
    nn_maxpool_q7(&q, in, out);
}
