/* nn_conv2d_q7 in `chunks` chunks of its window (issue 14): the DSP variant's loop
 * (dsp/nn_conv2d_q7_chunked.c); every other variant runs its own nn_conv2d_q7 (common/nn_chunked_fwd.h). */
#include "nn_chunked_fwd.h"

NN_CHUNKED_FORWARD(nn_conv2d_q7_chunked, nn_conv2d_q7, nn_conv_params)
