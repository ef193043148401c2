"""nn_input_stage_q7: uint8 pixels -> q7 with an integer mul/offset/shift (per pixel or channel)."""
import numpy as np

from ..errors import NnbuildError
from . import Kernel, Lowered, Rows, register
from ._checks import INT32, array, attr, check_range, shapes, where


def lower(g, op):
    shape_out = shapes(g, op)[1]
    n_out = int(np.prod(shape_out))
    mul, shift = int(attr(op, "mul")), int(attr(op, "shift"))
    off = array(op, "off", np.int32).reshape(-1)
    if not 1 <= shift <= 31:
        raise NnbuildError(f"shift = {shift}", where=where(op), expected="1..31")
    if off.size not in (n_out, shape_out[2]):
        raise NnbuildError(f"param 'off' has {off.size} values", where=where(op),
                           expected=f"{n_out} (per pixel) or {shape_out[2]} (per channel)")
    check_range(op, {"mul": mul}, INT32, "int32")
    return Lowered({"n": n_out, "mul": mul, "shift": shift, "off_len": int(off.size)}, {"off": off})


def emit(s, ctx):
    p = s.params
    return [f"nn_input_stage_q7({ctx.ptr(s.inputs[0])}, {p['n']}, {ctx.int(p['mul'])}, {ctx.sym(s, 'off')}, "
            f"{p['off_len']}, {p['shift']}, {ctx.ptr(s.output)});"]


def emit_rows(s, ctx, b):
    p = s.params
    return [f"nn_input_stage_q7_rows({b['inp']}, {b['row_bytes']}, {b['y0']}, {b['y1']}, {ctx.int(p['mul'])}, "
            f"{ctx.sym(s, 'off')}, {p['off_len']}, {p['shift']}, {b['out']});"]


ROWS = Rows("pixels", emit_rows)
register(Kernel("input_stage", "q7", "nn_input_stage_q7", lower, emit, rows=ROWS))
