/* 2-D convolution, int8, variant for cores with SMLAL and no DSP extension (Cortex-M3);
 * docs/int8_contract.md: conv2d, the same bytes as ref/ and dsp/.
 *
 * Depthwise: direct (common/nn_conv_s8_common.h). General: mla/nn_conv_packed.h's packed_conv
 * on q7's geometry struct, the padding taps holding in_zp (which the folded bias expects, so
 * every window is the same int8 x int8 MAC), with int8's epilogue: per output channel
 * MultiplyByQuantizedMultiplier + out_zp + clamp.
 */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"
#include "nn_conv_packed.h"

typedef struct {
    const int32_t *chan;   /* the channels' records */
    int32_t zp, lo, hi;    /* copies: the byte stores may not alias them */
} s8_requant_args;

static inline void s8_epilogue(const void *ctx, const int32_t *acc, int32_t o, int pair, int one,
                               int8_t *y0, int8_t *y1)
{
    const s8_requant_args *r = (const s8_requant_args *)ctx;
    const int32_t ozp = r->zp, lo = r->lo, hi = r->hi;
    const int32_t *ca = r->chan + NN_S8_CHAN * o, *cb = ca + NN_S8_CHAN;
    int8_t unused[2];
    nn_requant2_s8(acc[0], acc[1], ca[1], ca[2], ozp, lo, hi, &y0[o], one ? &unused[0] : &y1[o]);
    if (pair)
        nn_requant2_s8(acc[2], acc[3], cb[1], cb[2], ozp, lo, hi, &y0[o + 1],
                       one ? &unused[1] : &y1[o + 1]);
}

void nn_conv2d_s8(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *chan, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p)) {
        conv_depthwise_s8(p, in, weight, chan, out);
    } else {   /* the scratch (4 * K bytes, 4-aligned) holds the K-word column */
        const nn_conv_params geo = nn_conv_geometry(p);
        const s8_requant_args r = {chan, p->out_zp, p->act_min, p->act_max};
        packed_conv(&geo, in, weight, chan, NN_S8_CHAN, p->in_zp, out, (int32_t *)(void *)scratch,
                    s8_epilogue, &r);
    }
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    const nn_conv_params g = nn_conv_geometry(p);
    return 4 * nn_conv_taps(&g);   /* one column of K words (two pixels packed per word) */
}
