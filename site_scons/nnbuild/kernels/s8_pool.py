"""nn_maxpool_s8 / nn_avgpool_s8: q7's Caffe pooling windows with int8's activation clamp; the
average counts Caffe's padding cells as the input zero point (real 0). The zero point is the
input tensor's own record, so nothing else has to restate it."""
from ..errors import NnbuildError
from . import Kernel, Lowered, register
from ._checks import act_range, where
from .q7_pool import emit, lower as q7_lower
from .s8_conv2d import SCHEME


def lower(g, op):
    fields = q7_lower(g, op).params
    quant = g.tensors[op.inputs[0]].quant or {}
    if "zero_point" not in quant:
        raise NnbuildError("the pooling input has no int8 quantization record", where=where(op),
                           expected="a graph quantized with scheme int8")
    lo, hi = act_range(op)
    return Lowered(dict(fields, in_zp=int(quant["zero_point"]), act_min=lo, act_max=hi))


register(Kernel("max_pool", SCHEME, "nn_maxpool_s8", lower, emit, struct="nn_pool_s8_params"))
register(Kernel("avg_pool", SCHEME, "nn_avgpool_s8", lower, emit, struct="nn_pool_s8_params"))
