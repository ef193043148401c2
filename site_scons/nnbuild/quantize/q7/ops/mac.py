"""conv2d and fully_connected: int8 weights at their own frac bits, int32 bias at the
accumulator's, one output shift; a fused ReLU clamps at 0 (act_min)."""
from .. import golden, params
from . import Rule, attr, register, where


def _params(graph, op, f_in, f_out, warnings):
    wq, bq, fw, s = params.mac_params(op, f_in[0], f_out, where(op), warnings)
    lo = 0 if op.attrs.get("activation", "none") == "relu" else -128
    return {"weight_frac_bits": fw, "out_shift": s, "act_min": lo, "act_max": 127}, {"weight": wq, "bias": bq}


def _conv2d(op, args):
    a, p = op.attrs, op.params
    return golden.conv2d(args[0], p["weight"], p["bias"], a["stride"], a["pad"], a.get("dilation", 1),
                         a.get("group", 1), attr(op, "out_shift"), a.get("act_min", -128), a.get("act_max", 127))


def _fully_connected(op, args):
    a, p = op.attrs, op.params
    return golden.fully_connected(args[0], p["weight"], p["bias"], attr(op, "out_shift"),
                                  a.get("act_min", -128), a.get("act_max", 127))


register("conv2d", Rule(_params, _conv2d))
register("fully_connected", Rule(_params, _fully_connected))
