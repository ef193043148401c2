/* Internal, int8 (*_s8) kernels: TensorFlow Lite's integer primitives in C, bit for bit as
 * docs/int8_contract.md ("Primitives") and site_scons/nnbuild/quantize/int8/arith.py define them,
 * and the per-channel requantisation every s8 kernel ends with. */
#ifndef NN_INT8_H
#define NN_INT8_H

#include "nn_internal.h"

/* The s8 conv / fc kernels' per-output-channel record (int32 words, written by the code
 * generator, site_scons/nnbuild/kernels/s8_conv2d.py): the bias with -in_zp * sum(w) folded in,
 * the MultiplyByQuantizedMultiplier multiplier and TFLite shift, the rounding addend of the
 * DSP epilogue's fast form (2^(e-1) + out_zp * 2^e for shift = -e in -22..-1, else 0), and
 * sum(w) (the direct loops restore the contract's bias for windows clipped by the padding).
 * One record per channel: one pointer walks everything the MAC loop's epilogue reads. */
#define NN_S8_CHAN 5

/* SaturatingRoundingDoublingHighMul(a, b): TFLite adds 2^30 or 1 - 2^30 by the product's sign
 * and truncates the division by 2^31; that equals floor((a*b + 2^30) / 2^31) for every product.
 * The one saturating case is a = b = INT32_MIN. */
static inline int32_t nn_srdhm(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN)
        return INT32_MAX;
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

/* (c * 2^32 + a * b + 2^31) >> 32: SMMLAR, one instruction where the DSP extension has it. */
#if defined(NN_USE_DSP) && !defined(NN_EMULATE_DSP)
static inline int32_t nn_mla_hi_round(int32_t a, int32_t b, int32_t c)
{
    int32_t r;
    __asm("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}
#elif defined(__ARM_ARCH_6M__) || defined(NN_SPLIT_MUL)
/* ARMv6-M has no 32x32->64 multiply (the int64 form is a libgcc call): the same value, exactly,
 * from four 16x16 MULS. With a = ah*2^16 + al, b = bh*2^16 + bl (al, bl unsigned halves):
 * a*b = ah*bh*2^32 + (ah*bl + al*bh)*2^16 + al*bl, the middle terms carried so no int32 overflows. */
static inline int32_t nn_mla_hi_round(int32_t a, int32_t b, int32_t c)
{
    const uint32_t al = (uint32_t)a & 0xffffu, bl = (uint32_t)b & 0xffffu;
    const int32_t ah = a >> 16, bh = b >> 16;
    const uint32_t p0 = al * bl;
    const int32_t mid = ah * (int32_t)bl + (int32_t)(p0 >> 16);
    const int32_t mid2 = (int32_t)al * bh + (int32_t)((uint32_t)mid & 0xffffu);
    const uint32_t lo = ((uint32_t)mid2 << 16) | (p0 & 0xffffu);
    const int32_t hi = ah * bh + (mid >> 16) + (mid2 >> 16);
    return (int32_t)((uint32_t)c + (uint32_t)hi + (lo >> 31));   /* + 2^31 carries iff lo >= 2^31 */
}
#else
static inline int32_t nn_mla_hi_round(int32_t a, int32_t b, int32_t c)
{
    return (int32_t)((((int64_t)c << 32) + (int64_t)a * b + ((int64_t)1 << 31)) >> 32);
}
#endif

/* mbqm(acc, mult, -e) for e >= 1, |acc| < 2^30, nudge = 2^(e-1) (see nn_requant2_s8). */
static inline int32_t nn_mbqm_right(int32_t acc, int32_t mult, int32_t e, int32_t nudge)
{
    return nn_mla_hi_round(acc * 2, mult, nudge + (acc >> 31)) >> e;
}

/* The s8 epilogue of two accumulators of one output channel: clamp(mbqm(acc, mult, shift) + zp,
 * lo, hi) into *ya, *yb, for |acc| < 2^30 (the registry checks that bound for conv and fc; add
 * and concat stay far below it). With a right shift e = -shift >= 1 (every multiplier below
 * 1/2) the bound makes TFLite's double rounding one SMMLAR and a shift, exactly:
 *   srdhm(acc, mult) = r = floor((2*acc*mult + 2^31) / 2^32)   (no saturation: mult >= 0),
 *   rdbpot(r, e) = (r + 2^(e-1) - (r < 0)) >> e               (|r| < 2^30: no overflow),
 * r < 0 may be replaced by acc < 0 (r = 0 gives 0 either way), and the addend goes into
 * SMMLAR's accumulator: (SMMLAR(2*acc, mult, 2^(e-1) + (acc >> 31))) >> e. The channel's
 * values are computed once for both accumulators (the conv loops' two pixels). */
static inline void nn_requant2_s8(int32_t a, int32_t b, int32_t mult, int32_t shift, int32_t zp,
                                  int32_t lo, int32_t hi, int8_t *ya, int8_t *yb)
{
    int32_t ra, rb;
    if (shift < 0) {
        const int32_t e = -shift, nudge = (int32_t)1 << (e - 1);
        ra = nn_mbqm_right(a, mult, e, nudge);
        rb = nn_mbqm_right(b, mult, e, nudge);
    } else {   /* multipliers >= 1/2: the general form, saturated (no overflow with zp) */
        ra = nn_mbqm(a, mult, shift);
        rb = nn_mbqm(b, mult, shift);
        ra = ra < -256 ? -256 : (ra > 255 ? 255 : ra);
        rb = rb < -256 ? -256 : (rb > 255 ? 255 : rb);
    }
    ra += zp;
    rb += zp;
    *ya = (int8_t)(ra < lo ? lo : (ra > hi ? hi : ra));
    *yb = (int8_t)(rb < lo ? lo : (rb > hi ? hi : rb));
}

static inline int8_t nn_requant_s8(int32_t acc, int32_t mult, int32_t shift, int32_t zp,
                                   int32_t lo, int32_t hi)
{
    int8_t y, unused;
    nn_requant2_s8(acc, 0, mult, shift, zp, lo, hi, &y, &unused);
    return y;
}

#endif
