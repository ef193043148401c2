/* 2-D convolution, int8, variant for ARMv6-M (Cortex-M0/M0+); docs/int8_contract.md: conv2d,
 * the same bytes as ref/.
 *
 * Depthwise: direct (common/nn_conv_s8_common.h). General: thumb1/nn_lanes_run.h's lanes_conv
 * on q7's geometry struct, the padding taps holding in_zp (which the folded bias expects), with
 * int8's epilogue: per output channel MultiplyByQuantizedMultiplier + out_zp + clamp, two
 * pixels at a time (the channel's constants computed once for both); a window's accumulators
 * come from lanes_acc's asm, 16 channels at a time.
 */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"
#include "nn_lanes_run.h"

typedef struct {
    lanes_scheme base;
    int32_t oc, zp, lo, hi;
} s8_scheme;

static void s8_requant(const lanes_scheme *sc, const int32_t *acc, int32_t o0, int32_t nb,
                       int32_t n, int8_t *y)
{
    const s8_scheme *q = (const s8_scheme *)(const void *)sc;
    const int32_t OC = q->oc, zp = q->zp, lo = q->lo, hi = q->hi;
    int32_t i, lane;
    int8_t unused;
    for (i = 0; i < nb; i++, acc += NN_LANES, y++) {
        const int32_t *c = sc->bias + NN_S8_CHAN * (o0 + i);
        for (lane = 0; lane < n; lane += 2)   /* one call site: GCC inlines it */
            nn_requant2_s8(acc[lane], acc[lane + 1], c[1], c[2], zp, lo, hi, &y[lane * OC],
                           lane + 1 < n ? &y[(lane + 1) * OC] : &unused);
    }
}

static void s8_window(const lanes_scheme *sc, const int32_t *col, const int8_t *w, int32_t n,
                      int32_t o0, int32_t nb, int8_t *y)
{
    int32_t acc[NN_LANES * NN_LANE_BLOCK];
    lanes_job job;
    int32_t o, b;
    job.col = col;
    job.wend = w + n;
    job.n = n;
    job.bias = sc->bias + NN_S8_CHAN * o0;
    job.bias_step = NN_S8_CHAN * sizeof(int32_t);
    for (o = 0; o < nb; o += b) {   /* lanes_acc advances wend and bias */
        b = nb - o < NN_LANE_BLOCK ? nb - o : NN_LANE_BLOCK;
        job.out = acc;
        job.count = b;
        lanes_acc(&job);
        s8_requant(sc, acc, o0 + o, b, NN_LANES, y + o);
    }
}

void nn_conv2d_s8(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *chan, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p)) {
        conv_depthwise_s8(p, in, weight, chan, out);
    } else {   /* the scratch (16 * min(ceil4(K), 128) bytes) holds a chunk's 4 lanes */
        const nn_conv_params geo = nn_conv_geometry(p);
        s8_scheme q;
        q.base.window = s8_window;
        q.base.requant = s8_requant;
        q.base.bias = chan;
        q.base.bias_words = NN_S8_CHAN;
        q.base.pad = p->in_zp;
        q.base.window_ok = 1;
        q.oc = p->out_c;
        q.zp = p->out_zp;
        q.lo = p->act_min;
        q.hi = p->act_max;
        lanes_conv(&geo, in, weight, out, (int32_t *)(void *)scratch, &q.base);
    }
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    const nn_conv_params g = nn_conv_geometry(p);
    const int32_t k4 = nn_ceil4(nn_conv_taps(&g));
    return 16 * (k4 < NN_CONV_LANE_TAPS ? k4 : NN_CONV_LANE_TAPS);   /* 4 int32 lanes per tap of a chunk */
}
