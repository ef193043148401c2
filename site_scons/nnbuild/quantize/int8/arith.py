"""TensorFlow Lite's integer primitives, bit for bit (docs/int8_contract.md, "Primitives").

These are the operations every int8 op of TFLite's reference kernels (and so of TFLite Micro)
is built from: a real multiplier as a Q31 significand and a power-of-two exponent
(`quantize_multiplier`), the saturating rounding doubling high multiply, the rounding divide by a
power of two and their composition `mbqm` (MultiplyByQuantizedMultiplier, double rounding: the
TFLM default). All take and return int64 numpy arrays holding int32 values, broadcasting a
per-channel multiplier/shift over the last axis. Also the choice of an activation's (scale,
zero point) from its real range. Pure functions; the C side (kernels/common/nn_int8.h)
implements the same definitions.
"""
import math

import numpy as np

from ...errors import NnbuildError

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
QMIN, QMAX = -128, 127


class Int32Overflow(NnbuildError):
    """A value that the C kernel holds in an int32 would leave its range on this model/input."""


def check_int32(x, what):
    x = np.asarray(x)
    if x.size and (x.min() < INT32_MIN or x.max() > INT32_MAX):
        raise Int32Overflow(f"{what} leaves the int32 range ([{int(x.min())}, {int(x.max())}])",
                            expected="values that fit the kernel's int32 accumulator")
    return x


def f32(x):
    """A scale as TFLite stores it (float32), returned as the Python float of that value."""
    return float(np.float32(x))


def quantize_multiplier(m):
    """(significand, shift) with m ~= significand * 2^(shift - 31), significand in [2^30, 2^31)
    (TFLite's QuantizeMultiplier: frexp, round half away from zero, renormalise 2^31; tiny
    multipliers become 0; shift is capped at 30)."""
    m = float(m)
    if not math.isfinite(m) or m < 0:
        raise NnbuildError(f"requantization multiplier {m!r}", expected="a finite, non-negative multiplier")
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = int(math.floor(q * (1 << 31) + 0.5))          # std::round of a positive value
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return INT32_MAX, 30
    return q_fixed, shift


def srdhm(a, b):
    """SaturatingRoundingDoublingHighMul(a, b) for int32 values a, b (arrays broadcast)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    x = ab + nudge
    q = np.where(x >= 0, x >> 31, -((-x) >> 31))             # C division: truncate towards zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rounding_divide_by_pot(x, exponent):
    """RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero (exponent >= 0)."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def mbqm(x, multiplier, shift, what="requantization input"):
    """MultiplyByQuantizedMultiplier(x, multiplier, shift): x * multiplier * 2^(shift - 31),
    rounded as TFLite does (left shift first, then the high multiply, then the rounding shift)."""
    x = np.asarray(x, np.int64)
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = check_int32(x * (np.int64(1) << left), what)
    return rounding_divide_by_pot(srdhm(shifted, multiplier), right)


def qparams_from_range(lo, hi):
    """(scale, zero_point) for real range [lo, hi] on int8 (TFLite's ChooseQuantizationParams:
    the range is widened to contain 0 so that 0 is exact, the zero point nudged into [-128, 127]).
    A range of only zeros has no scale: it raises, and the caller picks a default."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise NnbuildError(f"range [{lo:g}, {hi:g}] is not finite", expected="finite activation ranges")
    if lo == hi:
        raise NnbuildError("the range is all zeros", expected="a tensor that is not constant zero")
    scale = (hi - lo) / (QMAX - QMIN)
    zp_from_min = QMIN - lo / scale
    zp_from_max = QMAX - hi / scale
    err_min = abs(QMIN) + abs(lo / scale)
    err_max = abs(QMAX) + abs(hi / scale)
    zp = zp_from_min if err_min < err_max else zp_from_max
    zp = QMIN if zp < QMIN else QMAX if zp > QMAX else int(math.floor(zp + 0.5))
    return f32(scale), int(zp)


def quantize_values(x, scale, zero_point):
    """round(x / scale) + zero_point, saturated to int8 (round half to even, like the converter)."""
    return np.clip(np.round(np.asarray(x, np.float64) / scale) + zero_point, QMIN, QMAX).astype(np.int8)
