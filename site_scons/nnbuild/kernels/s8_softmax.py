"""nn_softmax_s8: TFLite Micro's int8 softmax over the channels of each pixel, from the rule's
exp table (docs/int8_contract.md: softmax)."""
import numpy as np

from ..errors import NnbuildError
from . import Kernel, Lowered, register
from ._checks import array, shapes, where
from .s8_conv2d import SCHEME

MAX_DEPTH = 511   # the contract's limit (TFLM aborts beyond): the Q12 sum's shift stays <= 31


def lower(g, op):
    h, w, c = shapes(g, op)[1]
    if c > MAX_DEPTH:
        raise NnbuildError(f"int8 softmax over {c} channels", where=where(op), expected=f"at most {MAX_DEPTH}")
    table = array(op, "exp_table", np.int32, (256,))
    if table.min() < 0:
        raise NnbuildError("exp_table holds negative values", where=where(op),
                           expected="the Q0 exps of the int8 softmax rule (>= 0)")
    return Lowered({"pixels": h * w, "depth": c}, {"exp_table": table})


def emit(s, ctx):
    p = s.params
    return [f"nn_softmax_s8({ctx.ptr(s.inputs[0])}, {p['pixels']}, {p['depth']}, {ctx.sym(s, 'exp_table')}, "
            f"{ctx.ptr(s.output)});"]


register(Kernel("softmax", SCHEME, "nn_softmax_s8", lower, emit))
