"""conv2d (grouped, depthwise, dilated) and fully_connected: TFLite's CONV_2D /
DEPTHWISE_CONV_2D / FULLY_CONNECTED int8 arithmetic. Symmetric int8 weights per output channel
(or per tensor), int32 bias at s_in * s_w[o], one (out_mult, out_shift) per output channel; a
fused ReLU clamps at the output zero point."""
import numpy as np

from .. import golden, params
from . import Rule, attr, register, where


def _params(graph, op, q_in, q_out, options, warnings):
    w = np.asarray(op.params["weight"], np.float64)
    per_channel = bool(options["per_channel"])
    ws = params.weight_scales(w, per_channel, where(op))
    wq = params.quantize_weights(w, ws)
    bq = params.quantize_bias(op.params.get("bias", 0.0), q_in[0][0], ws, w.shape[0], where(op), warnings)
    return params.mac_record(op, q_in[0], q_out, wq, bq, ws, per_channel, where(op))


def _requant_args(op):
    p = op.params
    return (p["bias"], attr(op, "in_zp"), p["out_mult"], p["out_shift"], attr(op, "out_zp"),
            attr(op, "act_min"), attr(op, "act_max"))


def _conv2d(op, args):
    a = op.attrs
    return golden.conv2d(args[0], op.params["weight"], *_requant_args(op), a["stride"], a["pad"],
                         a.get("dilation", 1), a.get("group", 1))


def _fully_connected(op, args):
    return golden.fully_connected(args[0], op.params["weight"], *_requant_args(op))


register("conv2d", Rule(_params, _conv2d))
register("fully_connected", Rule(_params, _fully_connected))
