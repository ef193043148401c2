"""input_stage: uint8 pixels -> the input tensor's int8 (scale, zero point), with q7's integer
mul/offset/shift kernel (the zero point folded into the offsets)."""
from .. import golden, params
from . import Rule, attr, register, where


def _params(graph, op, q_in, q_out, options, warnings):
    shape = graph.tensors[op.outputs[0]].shape
    mul, shift, off = params.input_stage_params(op.params.get("mean", 0.0), float(op.attrs["scale"]), shape,
                                                q_out[0], q_out[1], where(op))
    return {"mul": mul, "shift": shift}, {"off": off}


def _golden(op, args):
    return golden.input_stage(args[0], attr(op, "mul"), op.params["off"], attr(op, "shift"))


register("input_stage", Rule(_params, _golden))
