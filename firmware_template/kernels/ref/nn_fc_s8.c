/* Fully connected, int8, portable variant (docs/int8_contract.md: fully_connected): q7's loop
 * (two weight rows per pass share every input load) with the folded bias and the per-channel
 * epilogue. */
#include "nn_kernels.h"
#include "nn_int8.h"

void nn_fc_s8(const nn_fc_s8_params *p, const int8_t *in, const int8_t *weight,
              const int32_t *chan, int8_t *out, int16_t *scratch)
{
    const int32_t N = p->in_n, zp = p->out_zp, lo = p->act_min, hi = p->act_max;
    int32_t o, k;
    (void)scratch;
    for (o = 0; o < p->out_n; o += 2) {
        /* an odd last output runs as a pair with itself (the same byte stored twice): one loop */
        const int32_t o1 = o + 1 < p->out_n ? o + 1 : o;
        const int8_t *w0 = weight + o * N, *w1 = weight + o1 * N;
        const int32_t *c0 = chan + NN_S8_CHAN * o, *c1 = chan + NN_S8_CHAN * o1;
        int32_t acc0 = c0[0], acc1 = c1[0];
        for (k = 0; k < N; k++) {
            acc0 += in[k] * w0[k];
            acc1 += in[k] * w1[k];
        }
        out[o] = nn_requant_s8(acc0, c0[1], c0[2], zp, lo, hi);
        out[o1] = nn_requant_s8(acc1, c1[1], c1[2], zp, lo, hi);
    }
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_fc_s8_scratch_bytes(const nn_fc_s8_params *p)
{
    (void)p;
    return 0;   /* no widening */
}
