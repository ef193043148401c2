"""nn_mul_const_s8 / nn_add_const_s8: an int8 channel_affine, i.e. TFLite Micro's int8 MUL or ADD
by a constant of one value or one per channel (docs/int8_contract.md: channel_affine), in place."""
import numpy as np

from ..errors import NnbuildError
from . import Kernel, Lowered, register
from ._checks import INT32, act_range, array, attr, check_range, check_shift, shapes, where
from .s8_conv2d import SCHEME, zero_point


def _multiplier(op, key_mult, key_shift, mult, shift, lo=-31, hi=30):
    check_range(op, {key_mult: mult}, (0, INT32[1]), "int32 >= 0")
    check_shift(op, key_shift, shift, lo, hi)


def lower(g, op):
    (shape_in,), shape_out = shapes(g, op)
    if shape_in != shape_out:
        raise NnbuildError(f"channel_affine of shape {shape_in} -> {shape_out}", where=where(op),
                           expected="the input's shape")
    h, w, c = shape_out
    k = array(op, "const", np.int8)
    if k.ndim != 1 or len(k) not in (1, c):
        raise NnbuildError(f"constant of shape {list(k.shape)}", where=where(op), expected=f"one value or {c}")
    lo, hi = act_range(op)
    fields = dict(pixels=h * w, channels=c, k_len=len(k), in_zp=zero_point(op, "in_zp"),
                  k_zp=zero_point(op, "k_zp"), out_zp=zero_point(op, "out_zp"), act_min=lo, act_max=hi)
    check_range(op, {"values": h * w * c}, INT32, "int32")     # the kernels index up to pixels * channels
    check_range(op, {"channels": c})
    mult, shift = int(attr(op, "out_mult")), int(attr(op, "out_shift"))
    if attr(op, "affine") == "mul":
        _multiplier(op, "out_mult", "out_shift", mult, shift)
        worst = 255 * int(np.abs(k.astype(np.int64) - fields["k_zp"]).max())
        if shift > 0 and worst << shift > INT32[1]:        # the golden rule refuses these first
            raise NnbuildError(f"a product shifted left by {shift} can leave int32", where=where(op),
                               expected="a multiplier whose left shift keeps 255 * max|k - k_zp| in int32")
        return Lowered(dict(fields, out_mult=mult, out_shift=shift), {"const": k}, macs=h * w * c)
    m = [int(v) for v in attr(op, "in_mult")]
    s = [int(v) for v in attr(op, "in_shift")]
    left = int(attr(op, "left_shift"))
    check_shift(op, "left_shift", left, 0, 22)             # 255 * 2^22 still fits int32
    for key, mm, ss in (("in", m[0], s[0]), ("k", m[1], s[1]), ("out", mult, shift)):
        _multiplier(op, f"{key}_mult", f"{key}_shift", mm, ss, -31, 0)   # TFLM's ADD: multipliers < 1
    fields = dict(fields, left_shift=left, in_mult=m[0], in_shift=s[0], k_mult=m[1], k_shift=s[1],
                  out_mult=mult, out_shift=shift)
    return Lowered(fields, {"const": k}, macs=h * w * c, symbol="nn_add_const_s8", struct="nn_add_const_s8_params")


def emit(s, ctx):
    return [f"{s.kernel}(&{ctx.sym(s, 'params')}, {ctx.ptr(s.inputs[0])}, {ctx.sym(s, 'const')}, "
            f"{ctx.ptr(s.output)});"]


register(Kernel("channel_affine", SCHEME, "nn_mul_const_s8", lower, emit, struct="nn_mul_const_s8_params",
                inplace=(0,)))
