/* nn_conv2d_s8 in `chunks` chunks of its window (issue 14): the DSP variant's loop
 * (dsp/nn_conv2d_s8_chunked.c); every other variant runs its own nn_conv2d_s8 (common/nn_chunked_fwd.h). */
#include "nn_chunked_fwd.h"

NN_CHUNKED_FORWARD(nn_conv2d_s8_chunked, nn_conv2d_s8, nn_conv_s8_params)
