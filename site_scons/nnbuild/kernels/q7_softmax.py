"""nn_softmax_q7: softmax of a (1, 1, N) vector with a 256-entry exp table."""
import numpy as np

from ..errors import NnbuildError
from . import Kernel, Lowered, register
from ._checks import array, shapes, where


def lower(g, op):
    shape_out = shapes(g, op)[1]
    n = int(np.prod(shape_out))
    if shape_out[0] * shape_out[1] != 1 or n >= 32768:
        raise NnbuildError(f"softmax over a {shape_out} tensor", where=where(op),
                           expected="a (1, 1, N) vector (softmax over channels of a vector)")
    return Lowered({"n": n}, {"exp_table": array(op, "exp_table", np.int32, (256,))})


def emit(s, ctx):
    return [f"nn_softmax_q7({ctx.ptr(s.inputs[0])}, {s.params['n']}, {ctx.sym(s, 'exp_table')}, {ctx.ptr(s.output)});"]


register(Kernel("softmax", "q7", "nn_softmax_q7", lower, emit))
