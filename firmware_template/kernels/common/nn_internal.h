/* Internal helpers shared by every kernel variant (ref/, dsp/): the contract's requantisation
 * and the scratch sizes. The DSP variants' column layout is in nn_dsp.h. */
#ifndef NN_INTERNAL_H
#define NN_INTERNAL_H

#include <stdint.h>
#include "nn_kernels.h"
#include "nn_simd.h"

/* requant(acc, s, lo, hi) of docs/q7_contract.md, without int32 overflow:
 * (acc + 2^(s-1)) >> s == (acc >> s) + bit s-1 of acc. Needs arithmetic >> on signed values. */
static inline int32_t nn_requant(int32_t acc, int32_t s, int32_t lo, int32_t hi)
{
    int32_t r;
    if (s > 0) {
        r = s > 31 ? 0 : (acc >> s) + ((acc >> (s - 1)) & 1);
    } else if (s == 0) {
        r = acc;
    } else {
        /* the result saturates to 8 bits anyway: clamp first so the left shift cannot overflow */
        int32_t x = acc < -256 ? -256 : (acc > 255 ? 255 : acc);
        r = x * ((int32_t)1 << (s < -9 ? 9 : -s));
    }
    return r < lo ? lo : (r > hi ? hi : r);
}

/* sat8(x): one SSAT where the core has it (GCC does not always find it in the clamp) */
static inline int32_t nn_sat8(int32_t x)
{
#if defined(__ARM_FEATURE_SAT)
    return __builtin_arm_ssat(x, 8);
#else
    return x < -128 ? -128 : (x > 127 ? 127 : x);
#endif
}

/* round_shift(acc, s) for 2 <= s <= 31, given sm1 = s - 1: ((acc >> (s-1)) + 1) >> 1 rounds the
 * same way (the floor of (x + 1) / 2 only depends on the floor of x) and cannot overflow since
 * |acc >> (s-1)| <= 2^30. Three instructions: for the per-output epilogue of the MAC loops. */
static inline int32_t nn_round_shift2(int32_t acc, int32_t sm1)
{
    return ((acc >> sm1) + 1) >> 1;
}

/* Kernel scratch is per ISA variant, as CMSIS-NN's *_get_buffer_size: each variant's
 * nn_*_scratch_bytes returns what its own loops use (docs/q7_contract.md), so the DSP conv's
 * four im2col columns cost no RAM on other cores; a model is planned for the variant it links.
 * Mirrored by site_scons/nnbuild/kernels/q7_conv2d.py and q7_fully_connected.py (SCRATCH,
 * tests/test_scratch.py). The contract's accumulator bounds (K, in_n < 2^17) keep the sizes far
 * from int32 overflow. */
#define NN_CONV_LANE_TAPS 128  /* thumb1: taps per chunk of its 4-pixel int32 im2col */
static inline int32_t nn_conv_taps(const nn_conv_params *p)   /* K: the taps of one output */
{
    return (int32_t)p->k_h * p->k_w * (p->in_c / p->groups);
}

static inline int32_t nn_ceil4(int32_t k)
{
    return (k + 3) & ~3;
}

/* halfword lane 0 or 1 of v, sign-extended */
static inline int32_t nn_sext16_lane(uint32_t v, int lane)
{
    const uint32_t x = lane ? v >> 16 : v & 0xffffu;
    return (int32_t)x - (int32_t)((x & 0x8000u) << 1);
}

#endif
