"""nn_prelu_q7: per-channel slopes, in place when the input dies here (kernels/ref/nn_prelu_q7.c)."""
import numpy as np

from . import Kernel, Lowered, register
from ._checks import array, attr, check_range, check_shift, shapes


def lower(g, op):
    h, w, c = shapes(g, op)[1]
    shift = int(attr(op, "slope_shift"))
    check_shift(op, "slope_shift", shift, 0, 15)
    check_range(op, {"channels": c})
    return Lowered({"pixels": h * w, "channels": c, "shift": shift}, {"slope": array(op, "slope", np.int16, (c,))})


def emit(s, ctx):
    p = s.params
    n = p["pixels"] * p["channels"]
    copy = [] if s.alias else [f"memcpy({ctx.ptr(s.output)}, {ctx.ptr(s.inputs[0])}, {n});  /* input still needed later */"]
    return copy + [f"nn_prelu_q7({ctx.ptr(s.output)}, {p['pixels']}, {p['channels']}, {ctx.sym(s, 'slope')}, "
                   f"{p['shift']});"]


register(Kernel("prelu", "q7", "nn_prelu_q7", lower, emit, inplace=(0,)))
