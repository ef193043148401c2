"""nn_channel_affine_q7: per-channel int16 scale + int32 bias, one shift; out may be the input."""
import numpy as np

from . import Kernel, Lowered, register
from ._checks import array, attr, check_range, check_shift, shapes


def lower(g, op):
    h, w, c = shapes(g, op)[1]
    shift = int(attr(op, "shift"))
    check_shift(op, "shift", shift)
    check_range(op, {"channels": c})
    return Lowered({"pixels": h * w, "channels": c, "shift": shift},
                   {"mul": array(op, "mul", np.int16, (c,)), "bias": array(op, "bias", np.int32, (c,))},
                   macs=h * w * c)


def emit(s, ctx):
    p = s.params
    return [f"nn_channel_affine_q7({ctx.ptr(s.inputs[0])}, {p['pixels']}, {p['channels']}, {ctx.sym(s, 'mul')}, "
            f"{ctx.sym(s, 'bias')}, {p['shift']}, {ctx.ptr(s.output)});"]


register(Kernel("channel_affine", "q7", "nn_channel_affine_q7", lower, emit, inplace=(0,)))
