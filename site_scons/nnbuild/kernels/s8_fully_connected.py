"""nn_fc_s8: the int8 scheme's fully connected layer over the HWC-flattened input
(kernels/*/nn_fc_s8.c), the input zero point folded into the bias as for conv (s8_conv2d)."""
import numpy as np

from . import Kernel, Lowered, register
from ._checks import act_range, array, shapes
from .q7_fully_connected import scratch
from .s8_conv2d import SCHEME, channel_records, fold_bias, requant_arrays, zero_point


def lower(g, op):
    (shape_in,), shape_out = shapes(g, op)
    n_in, n_out = int(np.prod(shape_in)), int(np.prod(shape_out))
    weight = array(op, "weight", np.int8, (n_out, n_in))
    in_zp, out_zp = zero_point(op, "in_zp"), zero_point(op, "out_zp")
    bias = fold_bias(op, array(op, "bias", np.int32, (n_out,)), weight, in_zp)
    mult, shift = requant_arrays(op, n_out)
    lo, hi = act_range(op)
    return Lowered(dict(in_n=n_in, out_n=n_out, out_zp=out_zp, act_min=lo, act_max=hi),
                   {"weight": weight, "chan": channel_records(bias, mult, shift, out_zp, weight)}, n_in * n_out)


def emit(s, ctx):
    return [f"nn_fc_s8(&{ctx.sym(s, 'params')}, {ctx.ptr(s.inputs[0])}, {ctx.sym(s, 'weight')}, "
            f"{ctx.sym(s, 'chan')}, {ctx.ptr(s.output)}, {ctx.scratch(s)});"]


register(Kernel("fully_connected", SCHEME, "nn_fc_s8", lower, emit, struct="nn_fc_s8_params", scratch=scratch))
