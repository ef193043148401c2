/* Fully connected, q7, portable variant (docs/q7_contract.md: fully_connected): two weight rows
 * per pass share every input load. */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_fc_q7(const nn_fc_params *p, const int8_t *in, const int8_t *weight,
              const int32_t *bias, int8_t *out, int16_t *scratch)
{
    const int32_t N = p->in_n, s = p->out_shift, lo = p->act_min, hi = p->act_max;
    int32_t o, k;
    (void)scratch;
    for (o = 0; o < p->out_n; o += 2) {
        /* an odd last output runs as a pair with itself (the same byte stored twice): one loop */
        const int32_t o1 = o + 1 < p->out_n ? o + 1 : o;
        const int8_t *w0 = weight + o * N, *w1 = weight + o1 * N;
        int32_t acc0 = bias[o], acc1 = bias[o1];
        for (k = 0; k < N; k++) {
            acc0 += in[k] * w0[k];
            acc1 += in[k] * w1[k];
        }
        out[o] = (int8_t)nn_requant(acc0, s, lo, hi);
        out[o1] = (int8_t)nn_requant(acc1, s, lo, hi);
    }
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_fc_q7_scratch_bytes(const nn_fc_params *p)
{
    (void)p;
    return 0;   /* no widening */
}
