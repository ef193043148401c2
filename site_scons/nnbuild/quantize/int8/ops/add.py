"""add: TFLite Micro's int8 ADD of two tensors of one shape.

Both inputs, offset by their zero points and shifted left by 20, are scaled to the common scale
2·max(s1, s2) (multipliers s_i / (2·max) < 1), summed, and the sum scaled to the output
(2·max / (2^20·s_out)), offset and clamped: the multipliers are the ones TFLM's Prepare computes
from the float32 scales (QuantizeMultiplierSmallerThanOneExp, which refuses a multiplier >= 1).
"""
import numpy as np

from ....errors import NnbuildError
from ..arith import QMAX, QMIN, f32, mbqm, quantize_multiplier
from . import Rule, attr, register, where
from .lut import scale_zp

LEFT_SHIFT = 20                         # TFLM: left_shift of int8 ADD


def smaller_than_one(m, op, what):
    """QuantizeMultiplierSmallerThanOneExp: (multiplier, shift <= 0) of 0 < m < 1."""
    multiplier, shift = quantize_multiplier(m)
    if not 0.0 < m < 1.0 or shift > 0:
        raise NnbuildError(f"{what} {m:g} of an int8 add", where=where(op),
                           expected="a multiplier in (0, 1), i.e. an output scale above "
                                    "max(input scales) / 2^19 (TFLite Micro's ADD refuses others)")
    return multiplier, shift


def activation_range(op, out_zp):
    """(act_min, act_max): int8's range, or from the zero point up for a fused relu."""
    act = op.attrs.get("activation", "none")
    if act not in ("none", "relu"):
        raise NnbuildError(f"fused activation '{act}'", where=where(op), expected="none or relu")
    return (max(QMIN, out_zp) if act == "relu" else QMIN), QMAX


def _params(graph, op, q_in, q_out, options, warnings):
    if len(q_in) != 2:
        raise NnbuildError(f"add of {len(q_in)} inputs", where=where(op),
                           expected="two inputs (TFLite's ADD is binary)")
    (s1, z1), (s2, z2) = (scale_zp(q, op) for q in q_in)
    s_out, z_out = scale_zp(q_out, op)
    s1, s2, s_out = f32(s1), f32(s2), f32(s_out)
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = smaller_than_one(s1 / twice_max, op, "input 1 multiplier")
    m2, sh2 = smaller_than_one(s2 / twice_max, op, "input 2 multiplier")
    mo, sho = smaller_than_one(twice_max / ((1 << LEFT_SHIFT) * s_out), op, "output multiplier")
    act_min, act_max = activation_range(op, z_out)
    return {"in_zp": [z1, z2], "in_mult": [m1, m2], "in_shift": [sh1, sh2], "left_shift": LEFT_SHIFT,
            "out_mult": mo, "out_shift": sho, "out_zp": z_out, "act_min": act_min, "act_max": act_max}, {}


def _golden(op, args):
    if len(args) != 2 or args[0].shape != args[1].shape:
        raise NnbuildError(f"int8 add of shapes {[a.shape for a in args]}", where=where(op),
                           expected="two inputs of one shape")
    zp, mult, shift = attr(op, "in_zp"), attr(op, "in_mult"), attr(op, "in_shift")
    left = attr(op, "left_shift")
    scaled = [mbqm((a.astype(np.int64) - z) << left, m, s) for a, z, m, s in zip(args, zp, mult, shift)]
    y = mbqm(scaled[0] + scaled[1], attr(op, "out_mult"), attr(op, "out_shift")) + attr(op, "out_zp")
    return np.clip(y, attr(op, "act_min"), attr(op, "act_max")).astype(np.int8)


register("add", Rule(_params, _golden))
