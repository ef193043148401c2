/* Fully connected, q7, DSP variant (docs/q7_contract.md: fully_connected). The input is widened
 * once into the int16 scratch (column layout of common/nn_dsp.h), then two weight rows per pass
 * share every column load (SMLAD). */
#include "nn_kernels.h"
#include "nn_dsp.h"

/* out of line: once per output, where the inlined copies cost flash, not time */
static NN_NOINLINE int8_t fc_requant(int32_t acc, int32_t s, int32_t lo, int32_t hi)
{
    return (int8_t)nn_requant(acc, s, lo, hi);
}

void nn_fc_q7(const nn_fc_params *p, const int8_t *in, const int8_t *weight,
              const int32_t *bias, int8_t *out, int16_t *scratch)
{
    const int32_t N = p->in_n, s = p->out_shift, lo = p->act_min, hi = p->act_max;
    int32_t o, k;
    const int32_t k4 = N & ~3;
    const int16_t *t = scratch + k4;  /* the N % 4 tail, natural order */
    nn_widen(scratch, in, N);
    for (o = 0; o < p->out_n; o += 2) {
        /* an odd last output runs as a pair with itself (the same byte stored twice): one loop in flash */
        const int32_t o1 = o + 1 < p->out_n ? o + 1 : o;
        const int8_t *w0 = weight + o * N, *w1 = weight + o1 * N;
        const int16_t *a = scratch;
        int32_t acc0 = bias[o], acc1 = bias[o1], n = k4 >> 2;
        while (n-- > 0) {
            const uint32_t x0 = nn_read32(w0), x1 = nn_read32(w1);
            const uint32_t a02 = nn_read32(a), a13 = nn_read32(a + 2);
            acc0 = nn_smlad(nn_sxtb16(x0), a02, acc0);
            acc1 = nn_smlad(nn_sxtb16(x1), a02, acc1);
            acc0 = nn_smlad(nn_sxtb16_ror8(x0), a13, acc0);
            acc1 = nn_smlad(nn_sxtb16_ror8(x1), a13, acc1);
            w0 += 4;
            w1 += 4;
            a += 4;
        }
        for (k = 0; k < N - k4; k++) {
            acc0 += w0[k] * t[k];
            acc1 += w1[k] * t[k];
        }
        out[o] = fc_requant(acc0, s, lo, hi);
        out[o1] = fc_requant(acc1, s, lo, hi);
    }
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_fc_q7_scratch_bytes(const nn_fc_params *p)
{
    return 2 * p->in_n;   /* the input widened to int16 */
}
