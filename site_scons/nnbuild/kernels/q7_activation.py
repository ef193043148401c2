"""Element-wise q7 activations, in place when the input dies here: nn_relu_q7 / nn_leaky_relu_q7
(one wrapper entry picks by slope) and nn_lut_q7 (sigmoid, tanh)."""
import numpy as np

from . import Kernel, Lowered, Rows, register
from ._checks import array, attr, check_range, shapes


def lower_relu(g, op):
    n = int(np.prod(shapes(g, op)[1]))
    if float(op.attrs.get("negative_slope", 0)) == 0:
        return Lowered({"n": n}, symbol="nn_relu_q7")
    q15 = int(attr(op, "slope_q15"))
    check_range(op, {"slope_q15": q15})
    return Lowered({"n": n, "slope_q15": q15}, symbol="nn_leaky_relu_q7")


def emit_relu(s, ctx):
    n = s.params["n"]
    copy = [] if s.alias else [f"memcpy({ctx.ptr(s.output)}, {ctx.ptr(s.inputs[0])}, {n});  /* input still needed later */"]
    slope = f", {s.params['slope_q15']}" if "slope_q15" in s.params else ""
    return copy + [f"{s.kernel}({ctx.ptr(s.output)}, {n}{slope});"]


def emit_relu_rows(s, ctx, b):
    """One row, out of place (a fused step's output has its own row buffer)."""
    slope = f", {s.params['slope_q15']}" if "slope_q15" in s.params else ""
    return [f"memcpy({b['out']}, {b['ins'][0]}, {b['n']});", f"{s.kernel}({b['out']}, {b['n']}{slope});"]


def lower_lut(g, op):
    return Lowered({"n": int(np.prod(shapes(g, op)[1]))}, {"table": array(op, "table", np.int8, (256,))})


def emit_lut(s, ctx):
    return [f"nn_lut_q7({ctx.ptr(s.inputs[0])}, {ctx.sym(s, 'table')}, {ctx.ptr(s.output)}, {s.params['n']});"]


def emit_lut_rows(s, ctx, b):
    return [f"nn_lut_q7({b['ins'][0]}, {ctx.sym(s, 'table')}, {b['out']}, {b['n']});"]


LUT_ROWS = Rows("point", emit_lut_rows)
register(Kernel("relu", "q7", "nn_relu_q7", lower_relu, emit_relu, inplace=(0,), rows=Rows("point", emit_relu_rows)))
register(Kernel("sigmoid", "q7", "nn_lut_q7", lower_lut, emit_lut, inplace=(0,), rows=LUT_ROWS))
register(Kernel("tanh", "q7", "nn_lut_q7", lower_lut, emit_lut, inplace=(0,), rows=LUT_ROWS))
