/* nn_conv2d_s8 with each quad's im2col done in chunks of kernel rows (nn_conv_chunked.h): the
 * generator calls it, DSP variant only, for a layer whose chunk count the streamed plan chose to
 * lower the arena's peak (issue 14); a build without such a layer links none of it. Same bytes
 * as nn_conv2d_s8 (padding taps hold in_zp, the epilogue of nn_conv_s8_mode); scratch
 * nn_conv2d_s8_chunked_scratch_bytes(p, chunks). */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"
#include "nn_conv_chunked.h"

NN_CHUNK_OUT(chunk_out_s8_int8, 3)
NN_CHUNK_OUT(chunk_out_s8, 4)
NN_CHUNK_OUT(chunk_out_s8_relu, 5)

void nn_conv2d_s8_chunked(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                          const int32_t *chan, int8_t *out, int16_t *scratch, int32_t chunks)
{
    const nn_conv_params geo = nn_conv_geometry(p);
    const int mode = nn_conv_s8_mode(chan, p->out_c, p->out_zp, p->act_min, p->act_max);
    conv_chunked(&geo, in, weight, chan, NN_S8_CHAN, out, scratch, chunks,
                 (uint32_t)(uint8_t)p->in_zp * 0x01010101u,
                 mode == 3 ? chunk_out_s8_int8 : mode == 5 ? chunk_out_s8_relu : chunk_out_s8,
                 p->out_zp, p->act_min, p->act_max);
}

int32_t nn_conv2d_s8_chunked_scratch_bytes(const nn_conv_s8_params *p, int32_t chunks)
{
    const nn_conv_params geo = nn_conv_geometry(p);
    return nn_conv_chunked_scratch(&geo, chunks);
}
