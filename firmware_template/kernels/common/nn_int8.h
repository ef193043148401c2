/* Internal, int8 (*_s8) kernels: TensorFlow Lite's integer primitives in C, bit for bit as
 * docs/int8_contract.md ("Primitives") and site_scons/nnbuild/quantize/int8/arith.py define them,
 * and the per-channel requantisation every s8 kernel ends with. */
#ifndef NN_INT8_H
#define NN_INT8_H

#include "nn_internal.h"

/* SaturatingRoundingDoublingHighMul(a, b) for a multiplier b >= 0 (the quantizer's are in
 * [0, 2^31)): TFLite adds 2^30 or 1 - 2^30 by the product's sign and truncates the division by
 * 2^31; that equals floor((a*b + 2^30) / 2^31) for every product, one SMLAL-style sequence. The
 * only saturating case, a = b = INT32_MIN, cannot occur with b >= 0. */
static inline int32_t nn_srdhm(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
}

/* RoundingDivideByPOT(x, e), 0 <= e <= 31: to nearest, ties away from zero. */
static inline int32_t nn_rdbpot(int32_t x, int32_t e)
{
    const int32_t mask = (int32_t)((1u << e) - 1u);
    const int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> e) + ((x & mask) > threshold);
}

/* MultiplyByQuantizedMultiplier(x, mult, shift), TFLite's shift convention (positive = left).
 * x * 2^shift must fit int32 (the golden model refuses inputs where it does not); the left
 * shift is done unsigned so that even then nothing is undefined. */
static inline int32_t nn_mbqm(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    return nn_rdbpot(nn_srdhm((int32_t)((uint32_t)x << left), mult), right);
}

/* (a * b + 2^31) >> 32: SMMULR, one instruction where the DSP extension has it. */
#if defined(NN_USE_DSP) && !defined(NN_EMULATE_DSP)
static inline int32_t nn_mul_hi_round(int32_t a, int32_t b)
{
    int32_t r;
    __asm("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#else
static inline int32_t nn_mul_hi_round(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
}
#endif

/* The s8 epilogue: clamp(mbqm(acc, mult, shift) + zp, lo, hi), for |acc| < 2^30 (the registry
 * checks that bound for conv and fc; add and concat stay far below it). With a right shift
 * (shift < 0, every multiplier below 1/2) that bound makes the primitives cheap and exact:
 * srdhm(acc, mult) = floor((2*acc*mult + 2^31) / 2^32), one SMMULR, and since the product
 * |r| < 2^30, rdbpot(r, e) = (r + 2^(e-1) - (r < 0)) >> e without overflow. */
static inline int8_t nn_requant_s8(int32_t acc, int32_t mult, int32_t shift, int32_t zp,
                                   int32_t lo, int32_t hi)
{
    int32_t r;
    if (shift < 0) {
        const int32_t e = -shift;
        r = nn_mul_hi_round(acc * 2, mult);
        r = ((r + ((int32_t)1 << (e - 1))) + (r >> 31)) >> e;
        r += zp;
    } else {
        r = nn_mbqm(acc, mult, shift);
        r = r < -256 ? -256 : (r > 255 ? 255 : r);   /* saturates anyway; no overflow with zp */
        r += zp;
    }
    return (int8_t)(r < lo ? lo : (r > hi ? hi : r));
}

#endif
