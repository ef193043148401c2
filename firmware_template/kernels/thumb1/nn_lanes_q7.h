/* Internal, thumb1/ q7 conv only: a whole window (one chunk, 4 valid lanes) through every output
 * channel of a group in one call, the requantisation in the same loop. Per channel: the
 * accumulators start at the bias in 4 high registers, nn_conv_lanes.h's LDM + LDRSB + 4x(MULS +
 * ADD) tap runs over exactly n taps (the first pass of the 4-tap loop is entered part-way, so no
 * tap is padded), then each lane is rounded, shifted, clamped and stored from the registers:
 * no accumulator goes through memory and no per-channel call is made. Only the fast shifts
 * (2 <= s <= 31: nn_round_shift2). Plain C twin for the host. */
#ifndef NN_LANES_Q7_H
#define NN_LANES_Q7_H

#include "nn_conv_lanes.h"

/* The asm reads the fields by offset: keep the order (all 4-byte words). */
typedef struct {
    const int32_t *col;    /*  0: 4 words per tap (im2col_whole / im2col_words) */
    const int8_t *wend;    /*  4: first channel's weights + n; advanced by n per channel */
    int32_t n;             /*  8: taps per channel (K: one chunk, weights back to back) */
    const int32_t *bias;   /* 12: advanced by one per channel */
    int8_t *y;             /* 16: lane 0's output of the channel; advanced by one */
    int32_t oc;            /* 20: bytes between the lanes' outputs */
    int32_t sm1, lo, hi;   /* 24, 28, 32: shift - 1 and the clamp */
    int32_t count;         /* 36: channels (>= 1) */
} lanes_q7_job;

#if defined(__ARM_ARCH_6M__)
/* Registers: r0-r3 the tap's 4 words, r4 col, r5 weights end, r6 tap index (-n .. 0), r7 the
 * weight (the job in the epilogue), r8-r11 the accumulators, r12 the job, lr the loop's entry. */
#define NN_LQ_TAP                                            \
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
/* one lane: ((acc >> sm1) + 1) >> 1 clamped to [lo, hi] (r2, r3), stored at r4, r4 += oc */
#define NN_LQ_LANE(acc)                                      \
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

__attribute__((naked, noinline)) static void lanes_q7(lanes_q7_job *job)
{
    (void)job;
    __asm volatile(
        ".syntax unified\n\t"
        "push   {r4, r5, r6, r7, lr}\n\t"
        "mov    r1, r8\n\t"
        "mov    r2, r9\n\t"
        "mov    r3, r10\n\t"
        "mov    r4, r11\n\t"
        "push   {r1, r2, r3, r4}\n\t"
        "mov    r12, r0\n\t"
        "ldr    r1, [r0, #8]\n\t"
        "negs   r2, r1\n\t"          /* entry: skip (-n) & 3 taps (22 bytes each) of the first pass */
        "movs   r3, #3\n\t"
        "ands   r2, r3\n\t"
        "movs   r3, #22\n\t"
        "muls   r2, r3, r2\n\t"
        "adr    r3, 1f\n\t"
        "adds   r2, r2, r3\n\t"
        "mov    lr, r2\n"
        "2:\n\t"                     /* per channel */
        "mov    r7, r12\n\t"
        "ldr    r0, [r7, #12]\n\t"
        "ldmia  r0!, {r1}\n\t"
        "str    r0, [r7, #12]\n\t"
        "mov    r8, r1\n\t"
        "mov    r9, r1\n\t"
        "mov    r10, r1\n\t"
        "mov    r11, r1\n\t"
        "ldr    r4, [r7, #0]\n\t"
        "ldr    r5, [r7, #4]\n\t"
        "ldr    r6, [r7, #8]\n\t"
        "negs   r6, r6\n\t"
        "mov    pc, lr\n\t"
        ".p2align 2\n"
        "1:\n\t"
        NN_LQ_TAP NN_LQ_TAP NN_LQ_TAP NN_LQ_TAP
        "bne    1b\n\t"
        "mov    r7, r12\n\t"
        "ldr    r0, [r7, #8]\n\t"
        "adds   r5, r5, r0\n\t"
        "str    r5, [r7, #4]\n\t"
        "ldr    r4, [r7, #16]\n\t"
        "adds   r0, r4, #1\n\t"
        "str    r0, [r7, #16]\n\t"
        "ldr    r1, [r7, #20]\n\t"
        "ldr    r6, [r7, #24]\n\t"
        "ldr    r2, [r7, #28]\n\t"
        "ldr    r3, [r7, #32]\n\t"
        NN_LQ_LANE("r8") NN_LQ_LANE("r9") NN_LQ_LANE("r10") NN_LQ_LANE("r11")
        "ldr    r0, [r7, #36]\n\t"
        "subs   r0, #1\n\t"
        "str    r0, [r7, #36]\n\t"
        "bne    2b\n\t"
        "pop    {r0, r1, r2, r3}\n\t"
        "mov    r8, r0\n\t"
        "mov    r9, r1\n\t"
        "mov    r10, r2\n\t"
        "mov    r11, r3\n\t"
        "pop    {r4, r5, r6, r7, pc}\n\t"
        ".syntax divided");
}
#undef NN_LQ_TAP
#undef NN_LQ_LANE
#else
static void lanes_q7(lanes_q7_job *job)
{
    const int8_t *w = job->wend - job->n;
    int32_t o, k, lane;
    for (o = 0; o < job->count; o++, w += job->n) {
        for (lane = 0; lane < NN_LANES; lane++) {
            int32_t acc = job->bias[o], r;
            for (k = 0; k < job->n; k++)
                acc += job->col[NN_LANES * k + lane] * w[k];
            r = nn_round_shift2(acc, job->sm1);
            job->y[lane * job->oc + o] = (int8_t)(r < job->lo ? job->lo : (r > job->hi ? job->hi : r));
        }
    }
}
#endif

#endif
