"""relu: TFLite's RELU int8 with the output's (scale, zero point) equal to the input's, i.e. a
clamp to [zero point, 127]. Leaky ReLU (Caffe's negative_slope) is not part of the scheme."""
from ....errors import NnbuildError
from .. import golden
from . import Rule, attr, register, where


def _params(graph, op, q_in, q_out, options, warnings):
    slope = float(op.attrs.get("negative_slope", 0.0))
    if slope != 0.0:
        raise NnbuildError(f"leaky ReLU (negative_slope {slope:g}) has no int8 rule", where=where(op),
                           expected="negative_slope 0 (or the q7 scheme)")
    if tuple(q_in[0]) != tuple(q_out):
        raise AssertionError(f"layer '{op.name}': params {q_in[0]} -> {q_out} must be equal")
    return {"act_min": int(q_out[1]), "act_max": 127}, {}


register("relu", Rule(_params, lambda op, args: golden.clamp(args[0], attr(op, "act_min"), attr(op, "act_max")),
                      same_params=True))
