"""relu (leaky: slope in Q15) keeps its input's format; sigmoid and tanh are 256-entry tables
with 7 output frac bits."""
import numpy as np

from .. import golden, params
from . import Rule, attr, register, same_bits


def _relu_params(graph, op, f_in, f_out, warnings):
    same_bits(graph, op, f_in, f_out, warnings)
    slope = float(op.attrs.get("negative_slope", 0.0))
    return {"slope_q15": int(np.clip(np.round(slope * 32768.0), -32768, 32767))}, {}


def _lut(func):
    def table(graph, op, f_in, f_out, warnings):
        return {}, {"table": params.lut_table(func, f_in[0], f_out)}
    return table


def _lut_golden(op, args):
    return golden.lut(args[0], op.params["table"])


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


register("relu", Rule(_relu_params, lambda op, args: golden.relu(args[0], attr(op, "slope_q15", 0)), same_bits=True))
register("sigmoid", Rule(_lut(_sigmoid), _lut_golden, fixed_bits=7))
register("tanh", Rule(_lut(np.tanh), _lut_golden, fixed_bits=7))
