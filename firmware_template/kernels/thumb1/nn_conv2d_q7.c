/* 2-D convolution, q7, variant for ARMv6-M (Cortex-M0/M0+); docs/q7_contract.md: conv2d, the
 * same bytes as ref/.
 *
 * Depthwise: the direct loop (common/nn_conv_common.h). General: thumb1/nn_lanes_run.h's
 * lanes_conv (the int32 im2col lanes and the LDM + MULS loop of nn_conv_lanes.h) with q7's
 * epilogue: for the fast shifts a window's channels are requantised in lanes_q7's asm from the
 * accumulator registers, otherwise in C.
 */
#include "nn_kernels.h"
#include "nn_lanes_run.h"

typedef struct {
    lanes_scheme base;
    int32_t oc, s, lo, hi;
} q7_scheme;

/* requant(acc, s, lo, hi) for 2 <= s <= 31 (sm1 = s - 1): nn_round_shift2's three instructions */
static inline int8_t requant_s(int32_t acc, int32_t sm1, int32_t lo, int32_t hi)
{
    const int32_t r = nn_round_shift2(acc, sm1);
    return (int8_t)(r < lo ? lo : (r > hi ? hi : r));
}

static void q7_window(const lanes_scheme *sc, const int32_t *col, const int8_t *w, int32_t n,
                      int32_t o0, int32_t nb, int8_t *y)
{
    const q7_scheme *q = (const q7_scheme *)(const void *)sc;
    lanes_job job;
    job.col = col;
    job.wend = w + n;
    job.n = n;
    job.bias = sc->bias + o0;
    job.out = y;
    job.oc = q->oc;
    job.sm1 = q->s - 1;
    job.lo = q->lo;
    job.hi = q->hi;
    job.count = nb;
    job.bias_step = sizeof(int32_t);
    lanes_q7(&job);
}

static void q7_requant(const lanes_scheme *sc, const int32_t *acc, int32_t o0, int32_t nb,
                       int32_t n, int8_t *y)
{
    const q7_scheme *q = (const q7_scheme *)(const void *)sc;
    const int32_t s = q->s, lo = q->lo, hi = q->hi;
    const int fast = s >= 2 && s <= 31;   /* nn_round_shift2's range */
    int32_t lane, i;
    (void)o0;
    for (lane = 0; lane < n; lane++, y += q->oc) {
        const int32_t *a = acc + lane;
        if (fast) {
            for (i = 0; i < nb; i++)
                y[i] = requant_s(a[NN_LANES * i], s - 1, lo, hi);
        } else {
            for (i = 0; i < nb; i++)
                y[i] = (int8_t)nn_requant(a[NN_LANES * i], s, lo, hi);
        }
    }
}

void nn_conv2d_q7(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *bias, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p)) {
        conv_depthwise(p, in, weight, bias, out);
    } else {   /* the scratch (16 * min(ceil4(K), 128) bytes) holds a chunk's 4 lanes */
        q7_scheme q;
        q.base.window = q7_window;
        q.base.requant = q7_requant;
        q.base.bias = bias;
        q.base.bias_words = 1;
        q.base.pad = 0;
        q.base.window_ok = p->out_shift >= 2 && p->out_shift <= 31;
        q.oc = p->out_c;
        q.s = p->out_shift;
        q.lo = p->act_min;
        q.hi = p->act_max;
        lanes_conv(p, in, weight, out, (int32_t *)(void *)scratch, &q.base);
    }
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    const int32_t k4 = nn_ceil4(nn_conv_taps(p));
    return 16 * (k4 < NN_CONV_LANE_TAPS ? k4 : NN_CONV_LANE_TAPS);   /* 4 int32 lanes per tap of a chunk */
}
