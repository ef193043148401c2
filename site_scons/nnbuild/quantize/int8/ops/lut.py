"""sigmoid (TFLite LOGISTIC) and tanh: a 256-entry int8 table per op, indexed by q + 128.

TFLite Micro computes both with gemmlowp's fixed-point logistic / tanh on the input rescaled to
Q4.27; with an int8 input that is a function of q alone, so the table holds TFLM's integer
result for each of the 256 inputs (emulated in fixedpoint.py, not approximated in float). The
outputs' (scale, zero point) are the ones TFLM's kernels assume: logistic (1/256, -128),
tanh (1/128, 0).
"""
import numpy as np

from ....errors import NnbuildError
from .. import fixedpoint
from ..arith import mbqm, rounding_divide_by_pot
from . import Rule, register, where

INPUT_INTEGER_BITS = 4                  # TFLM: kInputIntegerBits of LOGISTIC and TANH (int8)
ALL_Q = np.arange(-128, 128, dtype=np.int64)


def scale_zp(q, op):
    """(scale, zero_point) of an int8 tensor as the scheme passes it to a rule (a pair); the
    uint8 pixel input (None), a scale that is not positive or a zero point outside int8 are refused."""
    if q is None:
        raise NnbuildError("reads the uint8 pixel input", where=where(op),
                           expected="an int8 tensor (the model's input_stage output)")
    scale, zp = float(q[0]), int(q[1])
    if not (np.isfinite(scale) and scale > 0 and -128 <= zp <= 127):
        raise NnbuildError(f"quantization (scale {scale!r}, zero point {zp})", where=where(op),
                           expected="a positive finite scale and a zero point in [-128, 127]")
    return scale, zp


def _prepare(scale, op):
    """(multiplier, shift, radius) as the kernels' Prepare computes them from the float32 scale."""
    real = float(np.float32(scale)) * (1 << (31 - INPUT_INTEGER_BITS))
    multiplier, shift = fixedpoint.frexp_multiplier(real)
    if not 0 <= shift <= 62:    # TFLM shifts 1LL by it: undefined outside [0, 63)
        raise NnbuildError(f"input scale {scale:g} of a {op.type}", where=where(op),
                           expected="an input scale in [2^-28, 2^35)")
    return multiplier, shift, fixedpoint.input_radius(INPUT_INTEGER_BITS, shift)


def _table(function, out_shift, out_zp, op, q_in):
    """TFLM's int8 result for each q in [-128, 127]: saturated outside the input radius, else
    function(input in Q4.27) in Q0, rounded to out_shift fractional bits, offset and clamped."""
    scale, zp = scale_zp(q_in[0], op)
    multiplier, shift, radius = _prepare(scale, op)
    x = ALL_Q - zp
    inside = (x > -radius) & (x < radius)
    x_q4 = mbqm(np.where(inside, x, 0), multiplier, shift)   # |x| < radius: no int32 overflow
    y = rounding_divide_by_pot(function(x_q4, INPUT_INTEGER_BITS), 31 - out_shift) + out_zp
    y = np.where(x <= -radius, -128, np.where(x >= radius, 127, np.clip(y, -128, 127)))
    return y.astype(np.int8)


def _sigmoid_params(graph, op, q_in, q_out, options, warnings):
    return {}, {"table": _table(fixedpoint.logistic, 8, -128, op, q_in)}


def _tanh_params(graph, op, q_in, q_out, options, warnings):
    return {}, {"table": _table(fixedpoint.tanh, 7, 0, op, q_in)}


def lut_golden(op, args):
    table = op.params.get("table")
    if table is None or np.shape(table) != (256,):
        raise NnbuildError(f"table of shape {np.shape(table)}", where=where(op),
                           expected="256 int8 entries (a graph made by nnbuild.quantize, scheme int8)")
    return np.asarray(table, np.int8)[args[0].astype(np.int16) + 128]


register("sigmoid", Rule(_sigmoid_params, lut_golden, fixed_params=(1.0 / 256, -128)))
register("tanh", Rule(_tanh_params, lut_golden, fixed_params=(1.0 / 128, 0)))
