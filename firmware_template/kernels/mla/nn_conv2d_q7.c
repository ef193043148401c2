/* 2-D convolution, q7, variant for cores with SMLAL and no DSP extension (Cortex-M3);
 * docs/q7_contract.md: conv2d, the same bytes as ref/ and dsp/.
 *
 * Depthwise: the direct loop (common/nn_conv_common.h). General: mla/nn_conv_packed.h's
 * packed_conv (per group and pair of output pixels of one row, the two windows packed into one
 * int32 column, 2 output channels per pass: 4 exact MACs per 2 SMLAL) with q7's epilogue.
 */
#include "nn_kernels.h"
#include "nn_conv_packed.h"

typedef struct {
    int32_t s, lo, hi;   /* copies: the byte stores may not alias them */
} q7_requant_args;

static inline void q7_epilogue(const void *ctx, const int32_t *acc, int32_t o, int pair, int one,
                               int8_t *y0, int8_t *y1)
{
    const q7_requant_args *r = (const q7_requant_args *)ctx;
    const int32_t s = r->s, lo = r->lo, hi = r->hi;
    y0[o] = (int8_t)nn_requant(acc[0], s, lo, hi);
    if (!one)
        y1[o] = (int8_t)nn_requant(acc[1], s, lo, hi);
    if (pair) {
        y0[o + 1] = (int8_t)nn_requant(acc[2], s, lo, hi);
        if (!one)
            y1[o + 1] = (int8_t)nn_requant(acc[3], s, lo, hi);
    }
}

void nn_conv2d_q7(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *bias, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p)) {
        conv_depthwise(p, in, weight, bias, out);
    } else {   /* the scratch (4 * K bytes, 4-aligned) holds the K-word column */
        const q7_requant_args r = {p->out_shift, p->act_min, p->act_max};
        packed_conv(p, in, weight, bias, 1, 0, out, (int32_t *)(void *)scratch, q7_epilogue, &r);
    }
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    return 4 * nn_conv_taps(p);   /* one column of K words (two pixels packed per word) */
}
