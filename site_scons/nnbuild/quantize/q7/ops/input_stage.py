"""input_stage: uint8 pixels -> q7 with an integer mul/offset/shift."""
from .. import golden, params
from . import Rule, attr, register, where


def _params(graph, op, f_in, f_out, warnings):
    shape = graph.tensors[op.outputs[0]].shape
    mul, shift, off = params.input_stage_params(op.params.get("mean", 0.0), float(op.attrs["scale"]), shape,
                                                f_out, where(op))
    return {"mul": mul, "shift": shift}, {"off": off}


def _golden(op, args):
    return golden.input_stage(args[0], attr(op, "mul"), op.params["off"], attr(op, "shift"))


register("input_stage", Rule(_params, _golden))
