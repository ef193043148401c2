/* Rows [y0, y1) of nn_avgpool_q7's output from a buffer holding some of its input rows (common/nn_rows.h):
 * the linked variant of nn_avgpool_q7 on adjusted parameters, so one file serves every ISA. */
#include "nn_rows.h"

void nn_avgpool_q7_rows(const nn_pool_params *p, int32_t y0, int32_t y1, int32_t in_first,
                        int32_t in_rows, const int8_t *in, int8_t *out)
{
    nn_pool_params q;
    NN_BAND(q, p, 1, y0, y1, in_first, in_rows);
    nn_avgpool_q7(&q, in, out);
}
