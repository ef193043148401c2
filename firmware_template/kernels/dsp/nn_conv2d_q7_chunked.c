/* nn_conv2d_q7 with each quad's im2col done in chunks of kernel rows (nn_conv_chunked.h): the
 * generator calls it, DSP variant only, for a layer whose chunk count the streamed plan chose to
 * lower the arena's peak (issue 14); a build without such a layer links none of it. Same bytes
 * as nn_conv2d_q7; scratch nn_conv2d_q7_chunked_scratch_bytes(p, chunks). */
#include "nn_kernels.h"
#include "nn_conv_chunked.h"

NN_CHUNK_OUT(chunk_out_requant, 0)
NN_CHUNK_OUT(chunk_out_int8, 1)
NN_CHUNK_OUT(chunk_out_relu, 2)

void nn_conv2d_q7_chunked(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                          const int32_t *bias, int8_t *out, int16_t *scratch, int32_t chunks)
{
    const int32_t s = p->out_shift, lo = p->act_min, hi = p->act_max;
    /* nn_conv_q7_mode's choice of epilogue, as a mode */
    const int mode = s < 2 || s > 31 || hi != 127 ? 0 : lo == -128 ? 1 : lo == 0 ? 2 : 0;
    conv_chunked(p, in, weight, bias, 1, out, scratch, chunks, 0,
                 mode == 1 ? chunk_out_int8 : mode == 2 ? chunk_out_relu : chunk_out_requant,
                 s, lo, hi);
}

int32_t nn_conv2d_q7_chunked_scratch_bytes(const nn_conv_params *p, int32_t chunks)
{
    return nn_conv_chunked_scratch(p, chunks);
}
