/* Rows [y0, y1) of nn_conv2d_q7_chunked's output from a buffer holding some of its input rows
 * (common/nn_rows.h): the linked variant of the chunked entry (issue 14), so one file serves every ISA. */
#include "nn_rows.h"

void nn_conv2d_q7_chunked_rows(const nn_conv_params *p, int32_t y0, int32_t y1, int32_t in_first,
                               int32_t in_rows, const int8_t *in, const int8_t *weight,
                               const int32_t *bias, int8_t *out, int16_t *scratch, int32_t chunks)
{
    nn_conv_params q;
    NN_BAND(q, p, 0, y0, y1, in_first, in_rows);
    nn_conv2d_q7_chunked(&q, in, weight, bias, out, scratch, chunks);
}
