"""max_pool / avg_pool: TFLite's MAX_POOL_2D / AVERAGE_POOL_2D int8; the output keeps the
input's (scale, zero point) (TFLite requires it), so no requantization."""
from .. import golden
from . import Rule, attr, register


def _params(graph, op, q_in, q_out, options, warnings):
    if tuple(q_in[0]) != tuple(q_out):     # share_groups guarantees it: a violation is a bug
        raise AssertionError(f"layer '{op.name}': params {q_in[0]} -> {q_out} must be equal")
    attrs = {"act_min": -128, "act_max": 127}
    if op.type == "avg_pool":
        attrs["in_zp"] = int(q_in[0][1])    # the value of Caffe's counted padding cells (real 0)
    return attrs, {}


def _window(op):
    return op.attrs["kernel"], op.attrs["stride"], op.attrs["pad"]


def _max(op, args):
    return golden.max_pool(args[0], *_window(op), attr(op, "act_min"), attr(op, "act_max"))


def _avg(op, args):
    return golden.avg_pool(args[0], *_window(op), attr(op, "in_zp"), attr(op, "act_min"), attr(op, "act_max"))


register("max_pool", Rule(_params, _max, same_params=True))
register("avg_pool", Rule(_params, _avg, same_params=True))
