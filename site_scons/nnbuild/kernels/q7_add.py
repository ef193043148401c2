"""nn_add_q7: binary element-wise add with per-input left shifts, in place over a dying input."""
import numpy as np

from ..errors import NnbuildError
from . import Kernel, Lowered, Rows, register
from ._checks import attr, check_range, check_shift, shapes, where


def lower(g, op):
    shape_in, shape_out = shapes(g, op)
    if len(op.inputs) != 2:
        raise NnbuildError(f"add of {len(op.inputs)} inputs", where=where(op),
                           expected="exactly 2 inputs (the kernel nn_add_q7 is binary)")
    if shape_in[0] != shape_in[1] or shape_in[0] != shape_out:
        raise NnbuildError(f"add of shapes {shape_in[0]} and {shape_in[1]} -> {shape_out}",
                           where=where(op), expected="equal shapes (no broadcasting)")
    shifts = [int(v) for v in attr(op, "in_shifts")]
    s = int(attr(op, "out_shift"))
    if len(shifts) != 2 or min(shifts) < 0:
        raise NnbuildError(f"in_shifts = {shifts}", where=where(op), expected="2 values >= 0")
    check_range(op, {"in_shifts[0]": shifts[0], "in_shifts[1]": shifts[1], "out_shift": s})
    for k, v in (("in_shifts[0]", shifts[0]), ("in_shifts[1]", shifts[1])):
        check_shift(op, k, v, 0, 23)   # int8 << 23 plus another still fits int32
    check_shift(op, "out_shift", s)
    return Lowered({"n": int(np.prod(shape_out)), "a_shift": shifts[0], "b_shift": shifts[1], "out_shift": s})


def emit(s, ctx):
    p = s.params
    return [f"nn_add_q7({ctx.ptr(s.inputs[0])}, {p['a_shift']}, {ctx.ptr(s.inputs[1])}, {p['b_shift']}, "
            f"{p['out_shift']}, {ctx.ptr(s.output)}, {p['n']});"]


def emit_rows(s, ctx, b):
    p, (x, y) = s.params, b["ins"]
    return [f"nn_add_q7({x}, {p['a_shift']}, {y}, {p['b_shift']}, {p['out_shift']}, {b['out']}, {b['n']});"]


register(Kernel("add", "q7", "nn_add_q7", lower, emit, inplace=(0, 1), rows=Rows("point", emit_rows)))
