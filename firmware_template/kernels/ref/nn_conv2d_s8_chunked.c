/* nn_conv2d_s8 in `chunks` chunks of its window (issue 14): only the DSP variant
 * (dsp/nn_conv2d_s8_chunked.c) has a chunked loop, the one whose im2col columns are worth
 * splitting; every other variant ignores the chunk count and runs its own nn_conv2d_s8 with its
 * own scratch, so the entry exists in every variant (the generator asks for it on dsp only). */
#include "nn_kernels.h"

void nn_conv2d_s8_chunked(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                          const int32_t *chan, int8_t *out, int16_t *scratch, int32_t chunks)
{
    (void)chunks;
    nn_conv2d_s8(p, in, weight, chan, out, scratch);
}

int32_t nn_conv2d_s8_chunked_scratch_bytes(const nn_conv_s8_params *p, int32_t chunks)
{
    (void)chunks;
    return nn_conv2d_s8_scratch_bytes(p);
}
