"""gemmlowp's fixed-point functions as TFLite Micro's int8 kernels use them, bit for bit.

A fixed-point value is an int32 raw value with `ib` integer bits (Q ib.(31-ib)); these functions
take and return int64 numpy arrays holding int32 raw values, and wrap additions to 32 bits as
the C code does. Written from gemmlowp's fixedpoint.h and TFLite's common.h /
quantization_util.cc (docs/int8_contract.md): logistic and tanh (the int8 LOGISTIC and TANH
kernels), exp_on_negative_values and GetReciprocal (the int8 SOFTMAX kernel), and the Prepare
arithmetic those kernels share (input multiplier, input radius).
"""
import math

import numpy as np

from .arith import INT32_MAX, INT32_MIN, rounding_divide_by_pot, srdhm

ONE_Q0 = INT32_MAX                  # FixedPoint<int32, 0>::One(): the largest raw value


def wrap32(x):
    """Two's-complement int32 wrap-around of an int64 array (the C additions)."""
    x = np.asarray(x, np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def add(a, b):
    return wrap32(np.asarray(a, np.int64) + b)


def sub(a, b):
    return wrap32(np.asarray(a, np.int64) - b)


def mul_pot(x, exponent):
    """SaturatingRoundingMultiplyByPOT<exponent>: saturating left shift, or rounding right shift."""
    x = np.asarray(x, np.int64)
    if exponent <= 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def rescale(x, ib_src, ib_dst):
    """Rescale<ib_dst> of a value with ib_src integer bits."""
    return mul_pot(x, ib_src - ib_dst)


def rounding_half_sum(a, b):
    s = np.asarray(a, np.int64) + b
    t = s + np.where(s >= 0, 1, -1)
    return np.where(t >= 0, t // 2, -((-t) // 2))            # C division: truncate towards zero


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """exp(a) for a in [-1/4, 0) in Q0, by the Taylor series around -1/8 (gemmlowp)."""
    constant_term = 1895147668                                # exp(-1/8)
    constant_1_over_3 = 715827883
    x = add(a, 1 << 28)                                       # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = mul_pot(x4, -2)
    poly = mul_pot(add(srdhm(add(x4_over_4, x3), constant_1_over_3), x2), -1)
    return add(constant_term, srdhm(constant_term, add(x, poly)))


# (exponent e, Q0 raw of exp(-2^e)): the barrel shifter over the integer bits of -a
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a, ib):
    """exp(a) in Q0 for a <= 0 with ib integer bits (gemmlowp exp_on_negative_values)."""
    a = np.asarray(a, np.int64)
    frac = 31 - ib
    one_quarter = 1 << (frac - 2)
    a_mod_quarter_minus_one_quarter = sub(a & (one_quarter - 1), one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, ib, 0))
    remainder = sub(a_mod_quarter_minus_one_quarter, a)
    for exponent, multiplier in _EXP_BARREL:
        if ib > exponent:
            bit = (remainder >> (frac + exponent)) & 1
            result = np.where(bit != 0, srdhm(result, multiplier), result)
    if ib > 5:                                                # below -32: exactly 0
        result = np.where(a < -(1 << (36 - ib)), 0, result)
    return np.where(a == 0, ONE_Q0, result)


def _newton_reciprocal_q2(a):
    """x ~= 1 / half_denominator in Q2 where half_denominator = (1 + a) / 2, a in [0, 1) Q0:
    three Newton-Raphson steps from 48/17 - 32/17 d (gemmlowp's shared loop)."""
    half_denominator = rounding_half_sum(a, ONE_Q0)
    one_q2 = 1 << 29
    x = add(1515870810, srdhm(half_denominator, -1010580540))
    for _ in range(3):
        one_minus_half_denominator_times_x = sub(one_q2, srdhm(half_denominator, x))
        x = add(x, rescale(srdhm(x, one_minus_half_denominator_times_x), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a):
    """1 / (1 + a) in Q0 for a in [0, 1) Q0."""
    return rescale(_newton_reciprocal_q2(a), 1, 0)            # ExactMulByPot<-1>: Q2 -> Q1 raw


def one_minus_x_over_one_plus_x_for_x_in_0_1(a):
    """(1 - a) / (1 + a) in Q0 for a in [0, 1) Q0."""
    return rescale(sub(_newton_reciprocal_q2(a), 1 << 29), 2, 0)


def logistic(a, ib):
    """1 / (1 + exp(-a)) in Q0 for a with ib integer bits (gemmlowp logistic)."""
    a = np.asarray(a, np.int64)
    positive = a > 0
    abs_a = np.where(positive, a, wrap32(-a))
    if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-abs_a), ib))
    if_negative = sub(ONE_Q0, if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative))


def tanh(a, ib):
    """tanh(a) in Q0 for a with ib integer bits (gemmlowp tanh)."""
    a = np.asarray(a, np.int64)
    negative = a < 0
    n = np.where(negative, a, wrap32(-a))                     # -|a|
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, ib + 1))  # exp(2n)
    return np.where(a == 0, 0, np.where(negative, wrap32(-t), t))


def count_leading_zeros32(x):
    """Leading zero bits of the uint32 view of int32 values (32 for 0)."""
    u = np.asarray(x, np.int64) & 0xFFFFFFFF
    n = np.full(u.shape, 32, np.int64)
    for bit in range(31, -1, -1):                             # the highest set bit wins
        n = np.where((n == 32) & (((u >> bit) & 1) == 1), 31 - bit, n)
    return n


def get_reciprocal(x, x_integer_digits):
    """TFLite's GetReciprocal for x > 0 with x_integer_digits integer bits:
    (1 / x as a Q0 raw value scaled into [1/2, 1), num_bits_over_unit)."""
    x = np.asarray(x, np.int64)
    headroom_plus_one = count_leading_zeros32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted = ((x & 0xFFFFFFFF) << headroom_plus_one) & 0xFFFFFFFF
    shifted_sum_minus_one = wrap32(shifted - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def frexp_multiplier(real):
    """(multiplier, shift) with real = multiplier * 2^(shift - 31), as the LOGISTIC / TANH
    Prepare computes it: frexp and std::round, without QuantizeMultiplier's renormalisation
    (a float32 scale times a power of two never rounds up to 2^31)."""
    q, shift = math.frexp(real)
    return int(math.floor(q * (1 << 31) + 0.5)), shift


def input_radius(integer_bits, left_shift, total_signed_bits=31):
    """CalculateInputRadius: the largest |input| whose rescaled value stays below the range
    (floor of (2^ib - 1) * 2^(total - ib) / 2^left_shift, computed in double)."""
    return int(math.floor(1.0 * ((1 << integer_bits) - 1) * (1 << (total_signed_bits - integer_bits))
                          / (1 << left_shift)))
