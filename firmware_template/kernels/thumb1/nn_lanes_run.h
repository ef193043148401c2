/* Internal, thumb1/ conv only: a whole window (one chunk, 4 valid lanes, nn_conv_lanes.h's
 * int32 im2col) through a run of output channels in one call. Per channel: the accumulators
 * start at the bias in 4 high registers, the LDM + LDRSB + 4x(MULS + ADD) tap loop runs over
 * exactly n taps (its first 4-tap pass is entered part-way, so no tap is padded), then
 *   - lanes_q7: each lane is rounded, shifted, clamped and stored from the registers (q7's
 *     fast shifts, 2 <= s <= 31: nn_round_shift2), no accumulator through memory;
 *   - lanes_acc: the 4 accumulators are stored (STM) for a C epilogue (int8's).
 * No per-channel call. Plain C twins for the host. */
#ifndef NN_LANES_RUN_H
#define NN_LANES_RUN_H

#include "nn_conv_lanes.h"

/* The asm reads the fields by offset: keep the order (all 4-byte words). */
typedef struct {
    const int32_t *col;    /*  0: 4 words per tap */
    const int8_t *wend;    /*  4: first channel's weights + n; advanced by n per channel */
    int32_t n;             /*  8: taps per channel (K: one chunk, weights back to back) */
    const int32_t *bias;   /* 12: advanced by bias_step bytes per channel */
    void *out;             /* 16: lanes_q7: lane 0's int8 output, advanced by one byte;
                                  lanes_acc: int32 acc[4 * count], advanced by 16 bytes */
    int32_t oc;            /* 20: bytes between the lanes' outputs (lanes_q7) */
    int32_t sm1, lo, hi;   /* 24, 28, 32: shift - 1 and the clamp (lanes_q7) */
    int32_t count;         /* 36: channels (>= 1) */
    int32_t bias_step;     /* 40: 4, or the int8 records' 4 * NN_S8_CHAN */
} lanes_job;

#if defined(__ARM_ARCH_6M__)
/* Registers: r0-r3 the tap's 4 words, r4 col, r5 weights end, r6 tap index (-n .. 0), r7 the
 * weight (the job between channels), r8-r11 the accumulators, r12 the job, lr the loop's entry.
 * NN_LR_LOOP ends with the channel's MACs done, r5 still its weights end. */
#define NN_LR_TAP                                            \
    "ldmia  r4!, {r0, r1, r2, r3}\n\t"                       \
    "ldrsb  r7, [r5, r6]\n\t"                                \
    "muls   r0, r7, r0\n\t"                                  \
    "add    r8, r0\n\t"                                      \
    "muls   r1, r7, r1\n\t"                                  \
    "add    r9, r1\n\t"                                      \
    "muls   r2, r7, r2\n\t"                                  \
    "add    r10, r2\n\t"                                     \
    "muls   r3, r7, r3\n\t"                                  \
    "add    r11, r3\n\t"                                     \
    "adds   r6, #1\n\t"
#define NN_LR_LOOP                                                                             \
    ".syntax unified\n\t"                                                                      \
    "push   {r4, r5, r6, r7, lr}\n\t"                                                          \
    "mov    r1, r8\n\t"                                                                        \
    "mov    r2, r9\n\t"                                                                        \
    "mov    r3, r10\n\t"                                                                       \
    "mov    r4, r11\n\t"                                                                       \
    "push   {r1, r2, r3, r4}\n\t"                                                              \
    "mov    r12, r0\n\t"                                                                       \
    "ldr    r1, [r0, #8]\n\t"                                                                  \
    "negs   r2, r1\n\t"   /* entry: skip (-n) & 3 taps (22 bytes each) of the first pass */    \
    "movs   r3, #3\n\t"                                                                        \
    "ands   r2, r3\n\t"                                                                        \
    "movs   r3, #22\n\t"                                                                       \
    "muls   r2, r3, r2\n\t"                                                                    \
    "adr    r3, 1f\n\t"                                                                        \
    "adds   r2, r2, r3\n\t"                                                                    \
    "mov    lr, r2\n"                                                                          \
    "2:\n\t"              /* per channel */                                                    \
    "mov    r7, r12\n\t"                                                                       \
    "ldr    r0, [r7, #12]\n\t"                                                                 \
    "ldr    r1, [r0]\n\t"                                                                      \
    "ldr    r2, [r7, #40]\n\t"                                                                 \
    "adds   r0, r0, r2\n\t"                                                                    \
    "str    r0, [r7, #12]\n\t"                                                                 \
    "mov    r8, r1\n\t"                                                                        \
    "mov    r9, r1\n\t"                                                                        \
    "mov    r10, r1\n\t"                                                                       \
    "mov    r11, r1\n\t"                                                                       \
    "ldr    r4, [r7, #0]\n\t"                                                                  \
    "ldr    r5, [r7, #4]\n\t"                                                                  \
    "ldr    r6, [r7, #8]\n\t"                                                                  \
    "negs   r6, r6\n\t"                                                                        \
    "mov    pc, lr\n\t"                                                                        \
    ".p2align 2\n"                                                                             \
    "1:\n\t"                                                                                   \
    NN_LR_TAP NN_LR_TAP NN_LR_TAP NN_LR_TAP                                                    \
    "bne    1b\n\t"                                                                            \
    "mov    r7, r12\n\t"                                                                       \
    "ldr    r0, [r7, #8]\n\t"                                                                  \
    "adds   r5, r5, r0\n\t"                                                                    \
    "str    r5, [r7, #4]\n\t"
/* the next channel or the return */
#define NN_LR_NEXT                                                                             \
    "ldr    r0, [r7, #36]\n\t"                                                                 \
    "subs   r0, #1\n\t"                                                                        \
    "str    r0, [r7, #36]\n\t"                                                                 \
    "bne    2b\n\t"                                                                            \
    "pop    {r0, r1, r2, r3}\n\t"                                                              \
    "mov    r8, r0\n\t"                                                                        \
    "mov    r9, r1\n\t"                                                                        \
    "mov    r10, r2\n\t"                                                                       \
    "mov    r11, r3\n\t"                                                                       \
    "pop    {r4, r5, r6, r7, pc}\n\t"                                                          \
    ".syntax divided"
/* one lane: ((acc >> sm1) + 1) >> 1 clamped to [lo, hi] (r2, r3), stored at r4, r4 += oc */
#define NN_LR_LANE(acc)                                      \
    "mov    r0, " acc "\n\t"                                 \
    "asrs   r0, r6\n\t"                                      \
    "adds   r0, #1\n\t"                                      \
    "asrs   r0, #1\n\t"                                      \
    "cmp    r0, r2\n\t"                                      \
    "bge    3f\n\t"                                          \
    "mov    r0, r2\n"                                        \
    "3:\n\t"                                                 \
    "cmp    r0, r3\n\t"                                      \
    "ble    4f\n\t"                                          \
    "mov    r0, r3\n"                                        \
    "4:\n\t"                                                 \
    "strb   r0, [r4]\n\t"                                    \
    "adds   r4, r4, r1\n\t"

__attribute__((naked, noinline)) static NN_MAYBE_UNUSED void lanes_q7(lanes_job *job)
{
    (void)job;
    __asm volatile(
        NN_LR_LOOP
        "ldr    r4, [r7, #16]\n\t"
        "adds   r0, r4, #1\n\t"
        "str    r0, [r7, #16]\n\t"
        "ldr    r1, [r7, #20]\n\t"
        "ldr    r6, [r7, #24]\n\t"
        "ldr    r2, [r7, #28]\n\t"
        "ldr    r3, [r7, #32]\n\t"
        NN_LR_LANE("r8") NN_LR_LANE("r9") NN_LR_LANE("r10") NN_LR_LANE("r11")
        NN_LR_NEXT);
}

__attribute__((naked, noinline)) static NN_MAYBE_UNUSED void lanes_acc(lanes_job *job)
{
    (void)job;
    __asm volatile(
        NN_LR_LOOP
        "ldr    r4, [r7, #16]\n\t"
        "mov    r0, r8\n\t"
        "mov    r1, r9\n\t"
        "mov    r2, r10\n\t"
        "mov    r3, r11\n\t"
        "stmia  r4!, {r0, r1, r2, r3}\n\t"
        "str    r4, [r7, #16]\n\t"
        NN_LR_NEXT);
}
#undef NN_LR_TAP
#undef NN_LR_LOOP
#undef NN_LR_NEXT
#undef NN_LR_LANE
#else
/* acc of channel o, lane p */
static int32_t lanes_dot(const lanes_job *job, int32_t o, int32_t lane)
{
    const int8_t *w = job->wend - job->n + o * job->n;
    int32_t acc = *(const int32_t *)(const void *)((const char *)job->bias + o * job->bias_step);
    int32_t k;
    for (k = 0; k < job->n; k++)
        acc += job->col[NN_LANES * k + lane] * w[k];
    return acc;
}

/* the job as the asm leaves it: weights, biases and outputs past its channels */
static void lanes_done(lanes_job *job, int32_t out_bytes)
{
    job->wend += job->count * job->n;
    job->bias = (const int32_t *)(const void *)((const char *)job->bias + job->count * job->bias_step);
    job->out = (char *)job->out + job->count * out_bytes;
    job->count = 0;
}

static NN_MAYBE_UNUSED void lanes_q7(lanes_job *job)
{
    int8_t *y = (int8_t *)job->out;
    int32_t o, lane;
    for (o = 0; o < job->count; o++) {
        for (lane = 0; lane < NN_LANES; lane++) {
            const int32_t r = nn_round_shift2(lanes_dot(job, o, lane), job->sm1);
            y[lane * job->oc + o] = (int8_t)(r < job->lo ? job->lo : (r > job->hi ? job->hi : r));
        }
    }
    lanes_done(job, 1);
}

static NN_MAYBE_UNUSED void lanes_acc(lanes_job *job)
{
    int32_t *acc = (int32_t *)job->out;
    int32_t o, lane;
    for (o = 0; o < job->count; o++)
        for (lane = 0; lane < NN_LANES; lane++)
            acc[NN_LANES * o + lane] = lanes_dot(job, o, lane);
    lanes_done(job, NN_LANES * sizeof(int32_t));
}
#endif

/* A scheme (q7, int8) for lanes_conv: how a window's channels become bytes. Schemes embed it
 * first in their own struct (their constants after it). */
typedef struct lanes_scheme lanes_scheme;
struct lanes_scheme {
    /* channels o0 .. o0 + nb - 1 (weights w, n taps each) of the 4 lanes' window in col (one
     * chunk), results at y[p * OC + i]; used only when window_ok */
    void (*window)(const lanes_scheme *sc, const int32_t *col, const int8_t *w, int32_t n,
                   int32_t o0, int32_t nb, int8_t *y);
    /* the block path's results: acc[4i + p] of channel o0 + i, lanes p < n, at y[p * OC + i] */
    void (*requant)(const lanes_scheme *sc, const int32_t *acc, int32_t o0, int32_t nb,
                    int32_t n, int8_t *y);
    const int32_t *bias;   /* channel o starts at bias[o * bias_words] */
    int32_t bias_words;
    int32_t pad;           /* the padding taps' value: 0 (q7), in_zp (int8, its folded bias) */
    int window_ok;
};

/* The general convolution of both schemes. Per group, run of 4 output pixels of one row and
 * output row: a one-chunk window of 4 valid lanes is im2col'd once (slid from the previous
 * output row's when the rows overlap) and goes to sc->window for the group's channels; other
 * windows go per block of up to 16 channels through lanes_block (chunk by chunk, accumulators
 * on the stack) and sc->requant. */
static inline void lanes_conv(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                              int8_t *out, int32_t *col, const lanes_scheme *sc)
{
    const int32_t G = p->groups, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t cin_g = p->in_c / G, K = p->k_h * p->k_w * cin_g, kc = lane_chunk(K);
    const int32_t run = p->k_w * cin_g, pad = sc->pad;   /* taps per kernel row */
    const int one = kc == K && sc->window_ok;
    const int slide = p->stride_h == 1 && p->dil_h == 1 && p->k_h > 1;   /* oy, oy+1 share rows */
    int32_t acc[NN_LANES * NN_LANE_BLOCK];
    int32_t o0, nb, g, oy, ox, i;
    for (g = 0; g < G; g++) {
        const int32_t gend = (g + 1) * cout_g;
        for (ox = 0; ox < p->out_w; ox += NN_LANES) {   /* columns outside: h once per run */
            const int32_t n = p->out_w - ox < NN_LANES ? p->out_w - ox : NN_LANES;
            const int whole = lanes_whole(p, n, cin_g, K, kc);
            lanes_cols h;
            if (whole)
                lanes_cols_of(p, ox, &h);
            for (oy = 0; oy < p->out_h; oy++) {
                int8_t *y = out + (oy * p->out_w + ox) * OC + g * cout_g;
                if (one && n == NN_LANES) {
                    if (whole && slide && oy > 0) {   /* the last window moved up one row */
                        words_move4(col, col + NN_LANES * run, (p->k_h - 1) * run);
                        im2col_whole(p, in, oy, ox, pad, &h, p->k_h - 1, col);
                    } else if (whole) {
                        im2col_whole(p, in, oy, ox, pad, &h, 0, col);
                    } else {
                        im2col_words(p, in, oy, ox, n, g, cin_g, pad, 0, K, col);
                    }
                    sc->window(sc, col, weight + g * cout_g * K, K, g * cout_g, cout_g, y);
                    continue;
                }
                for (o0 = g * cout_g; o0 < gend; o0 += nb, y += nb) {
                    nb = gend - o0 < NN_LANE_BLOCK ? gend - o0 : NN_LANE_BLOCK;
                    for (i = 0; i < nb; i++)
                        acc[4 * i] = acc[4 * i + 1] = acc[4 * i + 2] = acc[4 * i + 3] =
                            sc->bias[(o0 + i) * sc->bias_words];
                    lanes_block(p, in, weight, o0, nb, oy, ox, n, g, cin_g, K, kc, pad,
                                whole ? &h : 0, col, acc);
                    sc->requant(sc, acc, o0, nb, n, y);
                }
            }
        }
    }
}

#endif
