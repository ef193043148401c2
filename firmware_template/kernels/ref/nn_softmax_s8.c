/* Softmax over channels, int8 (docs/int8_contract.md: softmax): TFLite Micro's int8 SOFTMAX
 * given the generator's exp table (exp_table[max - q], Q0; 0 where TFLM skips the channel):
 * the Q12 sum of the exps, gemmlowp's reciprocal of it (GetReciprocal: three Newton-Raphson
 * steps in Q2), then per channel a high multiply, a rounding shift and the -128 offset. The
 * fixed-point helpers follow site_scons/nnbuild/quantize/int8/fixedpoint.py; additions wrap
 * to 32 bits as in gemmlowp. depth <= 511 (the generator refuses more, as TFLM aborts). */
#include "nn_kernels.h"
#include "nn_int8.h"

static int32_t add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* SaturatingRoundingMultiplyByPOT<e>, 1 <= e <= 2 here */
static int32_t sat_shl(int32_t x, int32_t e)
{
    const int32_t threshold = ((int32_t)1 << (31 - e)) - 1;
    return x > threshold ? INT32_MAX : (x < -threshold ? INT32_MIN : (int32_t)((uint32_t)x << e));
}

/* gemmlowp's one_over_one_plus_x_for_x_in_0_1: 1 / (1 + a) in Q0 for a in [0, 1) Q0 */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = add_wrap(1515870810, nn_srdhm(half_denominator, -1010580540)), i;
    for (i = 0; i < 3; i++) {
        const int32_t one_minus = add_wrap(1 << 29, -nn_srdhm(half_denominator, x));
        x = add_wrap(x, sat_shl(nn_srdhm(x, one_minus), 2));
    }
    return sat_shl(x, 1);
}

static int32_t clz32(uint32_t x)
{
    int32_t n = 0;
    if (x == 0)
        return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

void nn_softmax_s8(const int8_t *in, int32_t pixels, int16_t depth, const int32_t *exp_table,
                   int8_t *out)
{
    int32_t px, c;
    for (px = 0; px < pixels; px++, in += depth, out += depth) {
        int32_t max = in[0], sum = 0, headroom, reciprocal, exponent;
        for (c = 1; c < depth; c++)
            max = in[c] > max ? in[c] : max;
        for (c = 0; c < depth; c++)
            sum += nn_rdbpot(exp_table[max - in[c]], 12);   /* Q12 */
        headroom = clz32((uint32_t)sum);                    /* sum >= 2^19: exp(0) counts */
        reciprocal = one_over_one_plus_x(
            (int32_t)(((uint32_t)sum << headroom) - 0x80000000u));
        exponent = 12 - headroom + 31 - 8;
        for (c = 0; c < depth; c++) {
            const int32_t e = exp_table[max - in[c]];
            const int32_t y = nn_rdbpot(nn_srdhm(reciprocal, e), exponent) - 128;
            out[c] = (int8_t)(y > 127 ? 127 : y);           /* y >= -128: both factors >= 0 */
        }
    }
}
