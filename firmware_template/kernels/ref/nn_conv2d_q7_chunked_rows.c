/* Rows [y0, y1) of nn_conv2d_q7_chunked's output from a buffer holding some of its input rows
 * (common/nn_rows.h): the linked variant of the chunked entry (issue 14), so one file serves every ISA. */
#include "nn_chunked_fwd.h"

NN_CHUNKED_ROWS(nn_conv2d_q7_chunked_rows, nn_conv2d_q7_chunked, nn_conv_params)
