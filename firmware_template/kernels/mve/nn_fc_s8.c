/* Fully connected, int8, Helium (MVE) variant (docs/int8_contract.md: fully_connected): q7's
 * VMLADAVA loop per output from the folded bias, then the per-channel epilogue. */
#include "nn_kernels.h"
#include "nn_mve.h"
#include "nn_int8.h"

void nn_fc_s8(const nn_fc_s8_params *p, const int8_t *in, const int8_t *weight,
              const int32_t *chan, int8_t *out, int16_t *scratch)
{
    const int32_t N = p->in_n, zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    int32_t o;
    (void)scratch;
    for (o = 0; o < p->out_n; o++, weight += N, chan += NN_S8_CHAN)
        out[o] = nn_requant_s8(mve_dot(in, weight, N, chan[0]), chan[1], chan[2], zp, lo, hi);
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_fc_s8_scratch_bytes(const nn_fc_s8_params *p)
{
    (void)p;
    return 0;   /* no widening */
}
