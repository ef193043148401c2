"""nn_fc_q7: fully connected over the HWC-flattened input (kernels/*/nn_fc_q7.c)."""
import numpy as np

from . import Kernel, Lowered, register
from ._checks import act_range, array, attr, check_acc, check_range, check_shift, shapes


def lower(g, op):
    (shape_in,), shape_out = shapes(g, op)
    n_in, n_out = int(np.prod(shape_in)), int(np.prod(shape_out))
    weight = array(op, "weight", np.int8, (n_out, n_in))
    bias = array(op, "bias", np.int32, (n_out,))
    s = int(attr(op, "out_shift"))
    lo, hi = act_range(op)
    check_range(op, {"out_shift": s, "act_min": lo, "act_max": hi})
    check_shift(op, "out_shift", s)
    check_acc(op, bias, n_in)
    return Lowered(dict(in_n=n_in, out_n=n_out, out_shift=s, act_min=lo, act_max=hi),
                   {"weight": weight, "bias": bias}, n_in * n_out)


# nn_fc_q7_scratch_bytes() per ISA variant: only dsp widens the input to int16 (mla and thumb1
# link ref's fc, mve multiplies int8 directly)
SCRATCH = {"ref": 0, "dsp": 2, "mla": 0, "thumb1": 0, "mve": 0}   # bytes per input value


def scratch(p, isa):
    return SCRATCH[isa] * p["in_n"]


def emit(s, ctx):
    return [f"nn_fc_q7(&{ctx.sym(s, 'params')}, {ctx.ptr(s.inputs[0])}, {ctx.sym(s, 'weight')}, "
            f"{ctx.sym(s, 'bias')}, {ctx.ptr(s.output)}, {ctx.scratch(s)});"]


register(Kernel("fully_connected", "q7", "nn_fc_q7", lower, emit, struct="nn_fc_params", scratch=scratch))
