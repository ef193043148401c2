"""concat along channels: each input copied, or requantized to the output's (scale, zero point).

TFLite Micro's CONCATENATION requires every input to have the output's scale and zero point;
an input whose own differ goes through an int8->int8 QUANTIZE first (the .tflite export inserts
it), which TFLM computes as Requantize: MultiplyByQuantizedMultiplier(q - z_in, M, shift) + z_out,
saturated, with (M, shift) = QuantizeMultiplier(s_in / s_out) from the float32 scales. The rule
gives each input that arithmetic, or a plain copy (`requant` False) when (scale, zp) are equal.
"""
import numpy as np

from ....errors import NnbuildError
from ..arith import INT32_MAX, QMAX, QMIN, f32, mbqm, quantize_multiplier
from . import Rule, attr, register, where
from .lut import scale_zp


def requant_params(q_in, q_out, op):
    """(requant, in_zp, in_mult, in_shift) of one input (TFLM's QUANTIZE Prepare, int8->int8)."""
    (s_in, z_in), (s_out, z_out) = scale_zp(q_in, op), scale_zp(q_out, op)
    s_in, s_out = f32(s_in), f32(s_out)
    if (s_in, z_in) == (s_out, z_out):
        return False, z_in, 1 << 30, 1           # QuantizeMultiplier(1.0): the identity
    multiplier, shift = quantize_multiplier(s_in / s_out)
    if max(QMAX - z_in, z_in - QMIN) << max(shift, 0) > INT32_MAX:
        raise NnbuildError(f"input scale {s_in:g} is {s_in / s_out:g} times the output's {s_out:g}",
                           where=where(op), expected="a ratio for which (q - zero point) * 2^shift fits "
                                                     "int32 in TFLite's requantization (about 2^23 at most)")
    return True, z_in, multiplier, shift


def _params(graph, op, q_in, q_out, options, warnings):
    rows = [requant_params(q, q_out, op) for q in q_in]
    requant, zp, mult, shift = (list(c) for c in zip(*rows))
    return {"in_zp": zp, "in_mult": mult, "in_shift": shift, "requant": requant,
            "out_zp": scale_zp(q_out, op)[1]}, {}


def _golden(op, args):
    zp, mult, shift = attr(op, "in_zp"), attr(op, "in_mult"), attr(op, "in_shift")
    requant, out_zp = attr(op, "requant"), attr(op, "out_zp")
    if not len(args) == len(zp) == len(mult) == len(shift) == len(requant):
        raise NnbuildError(f"{len(args)} inputs and {len(zp)} requantizations", where=where(op),
                           expected="one requantization per input")
    parts = [np.clip(mbqm(a.astype(np.int64) - z, m, s) + out_zp, QMIN, QMAX).astype(np.int8) if r else a
             for a, z, m, s, r in zip(args, zp, mult, shift, requant)]
    return np.concatenate(parts, axis=-1)


register("concat", Rule(_params, _golden))
