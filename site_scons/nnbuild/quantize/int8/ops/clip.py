"""clip keeps its input's (scale, zero point) and is a clamp, as TFLite's RELU6 / RELU_N1_TO_1:
act_min = max(-128, zp + round(min / scale)), act_max = min(127, zp + round(max / scale)) with
round half away from zero of f / scale in float32 (TFLite's CalculateActivationRangeQuantized)."""
import numpy as np

from .. import golden
from ...q7.ops.clip import clamp_bounds
from . import Rule, attr, register


def _params(graph, op, q_in, q_out, options, warnings):
    if tuple(q_in[0]) != tuple(q_out):
        raise AssertionError(f"layer '{op.name}': params {q_in[0]} -> {q_out} must be equal")
    scale, zp = np.float32(q_out[0]), int(q_out[1])
    lo, hi = (float(np.float32(op.attrs[k]) / scale) for k in ("min", "max"))   # f / scale in float32, as TFLite
    lo, hi = clamp_bounds(lo, hi, zp)
    return {"act_min": lo, "act_max": hi}, {}


register("clip", Rule(_params, lambda op, args: golden.clamp(args[0], attr(op, "act_min"), attr(op, "act_max")),
                      same_params=True))
