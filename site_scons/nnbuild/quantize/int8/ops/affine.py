"""channel_affine (y = mul[c] * x + add[c]): TFLite Micro's int8 MUL or ADD by a constant.

An int8 channel_affine is one of the two, as a TFLite model holds it (attr `affine`):
  mul  y = clamp(mbqm((x - in_zp) * (k - k_zp), out_mult, out_shift) + out_zp)
       with (out_mult, out_shift) = QM(s_in * s_k / s_out) in double (TFLM's MUL Prepare);
  add  TFLM's ADD (ops/add.py) with the constant as the second input.
The constant `k` (params, int8, one value or one per channel, broadcast over the channels) has its
own (k_scale, k_zp): an imported model's are the file's; a calibrated model's come from
[min(0, lo), max(0, hi)] of the float values, per tensor. A channel_affine that both scales and
shifts (a Caffe Scale with bias, a BatchNorm that could not be folded) is refused for int8:
TFLite holds it as MUL then ADD, with a quantized tensor between them the float graph lacks.
"""
import numpy as np

from ....errors import NnbuildError
from ..arith import INT32_MAX, QMAX, QMIN, f32, mbqm, qparams_from_range, quantize_multiplier, quantize_values
from . import Rule, attr, register, where
from .add import LEFT_SHIFT, smaller_than_one
from .lut import scale_zp

KINDS = ("mul", "add")


def _float_constant(op):
    """(kind, float values) of a float channel_affine that is a MUL or an ADD by a constant."""
    mul = np.asarray(op.params["mul"], np.float64).reshape(-1)
    add = np.asarray(op.params["add"], np.float64).reshape(-1)
    if not (np.isfinite(mul).all() and np.isfinite(add).all()):
        raise NnbuildError("a multiplier or addend is NaN or infinite", where=where(op), expected="finite values")
    if not add.any():
        return "mul", mul
    if (mul == 1.0).all():
        return "add", add
    raise NnbuildError("a per-channel affine that both scales and adds (a Scale with bias, or a BatchNorm not "
                       "folded into a layer before it) has no int8 rule", where=where(op),
                       expected="a multiply or an add by a constant (TFLite's MUL or ADD); TFLite holds both as "
                                "MUL then ADD with a quantized tensor between them: fold it into the layer "
                                "before it, or use the q7 scheme")


def quantize_constant(values):
    """(int8 values, float32 scale, zero point) of a calibrated constant, per tensor, from
    [min(0, lo), max(0, hi)]; an all-zero constant gets scale 1 (its values are 0 whatever the scale)."""
    lo, hi = float(values.min()), float(values.max())
    s, z = (f32(1.0), 0) if lo == hi == 0.0 else qparams_from_range(lo, hi)
    return quantize_values(values, s, z), s, z


def _constant(op, c):
    """(kind, int8 k (1,) or (c,), k_scale, k_zp, shape in the file) of an imported or calibrated op."""
    if "const" not in op.params:
        kind, values = _float_constant(op)
        k, s, z = quantize_constant(values)
        return kind, k, s, z, [int(len(k))]
    k = np.asarray(op.params["const"])
    kind, s, z = op.attrs.get("affine"), f32(attr(op, "k_scale")), int(attr(op, "k_zp"))
    if kind not in KINDS or k.dtype != np.int8 or k.ndim != 1 or len(k) not in (1, c):
        raise NnbuildError(f"{kind} by an {k.dtype} constant of shape {list(k.shape)}", where=where(op),
                           expected=f"MUL or ADD by an int8 constant of one value or {c} (one per channel)")
    if not (np.isfinite(s) and s >= np.finfo(np.float32).tiny) or not QMIN <= z <= QMAX:
        raise NnbuildError(f"the constant's scale {s!r}, zero point {z}", where=where(op),
                           expected=f"a positive normal float32 scale and a zero point in [{QMIN}, {QMAX}]")
    return kind, k, s, z, [int(v) for v in attr(op, "const_shape")]


def mul_multiplier(s_in, s_k, s_out):
    """TFLM's MUL: QuantizeMultiplier(double(s_in) * double(s_k) / double(s_out)), float32 scales."""
    return quantize_multiplier(float(f32(s_in)) * float(f32(s_k)) / float(f32(s_out)))


def _params(graph, op, q_in, q_out, options, warnings):
    (s_in, z_in), (s_out, z_out) = scale_zp(q_in[0], op), scale_zp(q_out, op)
    s_in, s_out = f32(s_in), f32(s_out)        # TFLite's scales are float32; multipliers from them in double
    c = int(graph.tensors[op.inputs[0]].shape[2])
    kind, k, s_k, z_k, shape = _constant(op, c)
    attrs = {"affine": kind, "in_zp": int(z_in), "k_zp": z_k, "k_scale": float(s_k), "const_shape": shape,
             "out_zp": int(z_out), "act_min": QMIN, "act_max": QMAX}
    if kind == "mul":
        mult, shift = mul_multiplier(s_in, s_k, s_out)
        worst = max(abs(QMIN - z_in), abs(QMAX - z_in)) * int(np.abs(k.astype(np.int64) - z_k).max())
        if shift > 0 and worst << shift > INT32_MAX:     # TFLM's left shift would overflow int32
            raise NnbuildError(f"int8 MUL multiplier {s_in * s_k / s_out:g} (s_in * s_k / s_out): the product "
                               f"{worst} shifted left by {shift} leaves int32", where=where(op),
                               expected="an output scale large enough for the product's range")
        attrs.update(out_mult=mult, out_shift=shift)
    else:
        twice_max = 2.0 * max(float(s_in), float(s_k))
        m1, sh1 = smaller_than_one(float(s_in) / twice_max, op, "input multiplier")
        m2, sh2 = smaller_than_one(float(s_k) / twice_max, op, "constant multiplier")
        mo, sho = smaller_than_one(twice_max / ((1 << LEFT_SHIFT) * float(s_out)), op, "output multiplier")
        attrs.update(in_mult=[m1, m2], in_shift=[sh1, sh2], left_shift=LEFT_SHIFT, out_mult=mo, out_shift=sho)
    return attrs, {"const": k}


def mul_const(x, k, in_zp, k_zp, out_mult, out_shift, out_zp, act_min, act_max):
    """TFLM's int8 MUL of x (..., C) by k broadcast over the last axis."""
    prod = (x.astype(np.int64) - int(in_zp)) * (np.asarray(k, np.int64) - int(k_zp))
    y = mbqm(prod, int(out_mult), int(out_shift), "MUL product") + int(out_zp)
    return np.clip(y, int(act_min), int(act_max)).astype(np.int8)


def add_const(x, k, in_zp, k_zp, in_mult, in_shift, left_shift, out_mult, out_shift, out_zp, act_min, act_max):
    """TFLM's int8 ADD of x (..., C) and k broadcast over the last axis."""
    vx = mbqm((x.astype(np.int64) - int(in_zp)) << int(left_shift), int(in_mult[0]), int(in_shift[0]))
    vk = mbqm((np.asarray(k, np.int64) - int(k_zp)) << int(left_shift), int(in_mult[1]), int(in_shift[1]))
    y = mbqm(vx + vk, int(out_mult), int(out_shift)) + int(out_zp)
    return np.clip(y, int(act_min), int(act_max)).astype(np.int8)


def _golden(op, args):
    x, k = args[0], np.asarray(op.params["const"], np.int8)
    common = (attr(op, "in_zp"), attr(op, "k_zp"))
    tail = (attr(op, "out_mult"), attr(op, "out_shift"), attr(op, "out_zp"), attr(op, "act_min"), attr(op, "act_max"))
    if attr(op, "affine") == "mul":
        return mul_const(x, k, *common, *tail)
    return add_const(x, k, *common, attr(op, "in_mult"), attr(op, "in_shift"), attr(op, "left_shift"), *tail)


def _check(op):
    if "const" not in op.params:
        _float_constant(op)


register("channel_affine", Rule(_params, _golden, check=_check))
