"""nn_maxpool_s8 / nn_avgpool_s8: q7's Caffe pooling windows with int8's activation clamp; the
average counts each padding cell Caffe counts as `in_zp` (the input's zero point: real 0)."""
from . import Kernel, Lowered, register
from ._checks import act_range
from .q7_pool import MAX_ROWS, ROWS, emit, lower as q7_lower
from .s8_conv2d import SCHEME, zero_point


def lower(g, op):
    fields = q7_lower(g, op).params
    lo, hi = act_range(op)
    in_zp = zero_point(op, "in_zp") if op.type == "avg_pool" else 0   # max: no padding value
    return Lowered(dict(fields, in_zp=in_zp, act_min=lo, act_max=hi))


register(Kernel("max_pool", SCHEME, "nn_maxpool_s8", lower, emit, struct="nn_pool_s8_params", rows=MAX_ROWS))
register(Kernel("avg_pool", SCHEME, "nn_avgpool_s8", lower, emit, struct="nn_pool_s8_params", rows=ROWS))
