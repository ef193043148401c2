/* Fully connected, q7, Helium (MVE) variant (docs/q7_contract.md: fully_connected): per output,
 * one tail-predicated VMLADAVA loop over the int8 input and weight row (16 MACs an iteration,
 * no widening, no scratch), then the contract's requantisation. */
#include "nn_kernels.h"
#include "nn_mve.h"

void nn_fc_q7(const nn_fc_params *p, const int8_t *in, const int8_t *weight,
              const int32_t *bias, int8_t *out, int16_t *scratch)
{
    const int32_t N = p->in_n, s = p->out_shift, lo = p->act_min, hi = p->act_max;
    int32_t o;
    (void)scratch;
    for (o = 0; o < p->out_n; o++, weight += N)
        out[o] = (int8_t)nn_requant(mve_dot(in, weight, N, bias[o]), s, lo, hi);
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_fc_q7_scratch_bytes(const nn_fc_params *p)
{
    (void)p;
    return 0;   /* no widening */
}
