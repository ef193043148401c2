"""The int8 scheme's element-wise kernels: the input stage and the table activations (sigmoid,
tanh) are q7's kernels (docs/int8_contract.md); relu and clip are a clamp to [act_min, act_max] in
place (nn_clamp_s8)."""
import numpy as np

from . import Kernel, Lowered, Rows, register
from ._checks import act_range, shapes
from .q7_activation import LUT_ROWS, emit_lut, lower_lut
from .q7_input_stage import ROWS as INPUT_ROWS, emit as emit_input, lower as lower_input
from .s8_conv2d import SCHEME


def lower_clamp(g, op):
    lo, hi = act_range(op)
    return Lowered({"n": int(np.prod(shapes(g, op)[1])), "act_min": lo, "act_max": hi})


def emit_clamp(s, ctx):
    p = s.params
    copy = [] if s.alias else [f"memcpy({ctx.ptr(s.output)}, {ctx.ptr(s.inputs[0])}, {p['n']});  /* input still needed later */"]
    return copy + [f"nn_clamp_s8({ctx.ptr(s.output)}, {p['n']}, {p['act_min']}, {p['act_max']});"]


def emit_clamp_rows(s, ctx, b):
    """One row, out of place (a fused step's output has its own row buffer)."""
    p = s.params
    return [f"memcpy({b['out']}, {b['ins'][0]}, {b['n']});",
            f"nn_clamp_s8({b['out']}, {b['n']}, {p['act_min']}, {p['act_max']});"]


CLAMP_ROWS = Rows("point", emit_clamp_rows)
register(Kernel("input_stage", SCHEME, "nn_input_stage_q7", lower_input, emit_input, rows=INPUT_ROWS))
register(Kernel("relu", SCHEME, "nn_clamp_s8", lower_clamp, emit_clamp, inplace=(0,), rows=CLAMP_ROWS))
register(Kernel("clip", SCHEME, "nn_clamp_s8", lower_clamp, emit_clamp, inplace=(0,), rows=CLAMP_ROWS))
register(Kernel("sigmoid", SCHEME, "nn_lut_q7", lower_lut, emit_lut, inplace=(0,), rows=LUT_ROWS))
register(Kernel("tanh", SCHEME, "nn_lut_q7", lower_lut, emit_lut, inplace=(0,), rows=LUT_ROWS))
