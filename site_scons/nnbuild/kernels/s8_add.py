"""nn_add_s8: TFLite Micro's int8 ADD (docs/int8_contract.md: add), in place over a dying input."""
import numpy as np

from ..errors import NnbuildError
from . import Kernel, Lowered, Rows, register
from ._checks import INT32, act_range, attr, check_range, check_shift, shapes, where
from .s8_conv2d import SCHEME


def _two(op, key):
    v = [int(x) for x in attr(op, key)]
    if len(v) != 2:
        raise NnbuildError(f"{key} = {v}", where=where(op), expected="one value per input (2)")
    return v


def lower(g, op):
    shape_in, shape_out = shapes(g, op)
    if len(op.inputs) != 2 or shape_in[0] != shape_in[1] or shape_in[0] != shape_out:
        raise NnbuildError(f"add of shapes {shape_in} -> {shape_out}", where=where(op),
                           expected="2 inputs of the output's shape (no broadcasting)")
    (az, bz), (am, bm), (ash, bsh) = (_two(op, k) for k in ("in_zp", "in_mult", "in_shift"))
    fields = dict(n=int(np.prod(shape_out)), a_zp=az, b_zp=bz, left_shift=int(attr(op, "left_shift")),
                  out_zp=int(attr(op, "out_zp")), act_min=act_range(op)[0], act_max=act_range(op)[1],
                  a_mult=am, a_shift=ash, b_mult=bm, b_shift=bsh,
                  out_mult=int(attr(op, "out_mult")), out_shift=int(attr(op, "out_shift")))
    check_range(op, {k: fields[k] for k in ("a_zp", "b_zp", "out_zp")}, (-128, 127), "int8")
    check_shift(op, "left_shift", fields["left_shift"], 0, 22)   # 255 * 2^22 still fits int32
    check_range(op, {k: fields[k] for k in ("a_mult", "b_mult", "out_mult")}, (0, INT32[1]), "int32 >= 0")
    for k in ("a_shift", "b_shift", "out_shift"):
        check_shift(op, k, fields[k], -31, 30)
    check_range(op, {"n": fields["n"]}, INT32, "int32")
    return Lowered(fields)


def emit(s, ctx):
    return [f"nn_add_s8(&{ctx.sym(s, 'params')}, {ctx.ptr(s.inputs[0])}, {ctx.ptr(s.inputs[1])}, "
            f"{ctx.ptr(s.output)});"]


def emit_rows(s, ctx, b):
    x, y = b["ins"]
    return [f"nn_add_s8_rows(&{ctx.sym(s, 'params')}, {b['n']}, {x}, {y}, {b['out']});"]


register(Kernel("add", SCHEME, "nn_add_s8", lower, emit, struct="nn_add_s8_params", inplace=(0, 1),
                rows=Rows("point", emit_rows)))
