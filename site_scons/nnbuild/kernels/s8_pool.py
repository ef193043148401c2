"""nn_maxpool_s8 / nn_avgpool_s8: q7's Caffe pooling windows with int8's activation clamp; the
average counts each padding cell Caffe counts as `in_zp` (the input's zero point: real 0); with
exclude_pad it counts none (TFLite's AVERAGE_POOL_2D).
An avg_pool marked `tflite_mean` (an imported int8 MEAN) runs nn_mean_s8, on whole layers."""
from . import Kernel, Lowered, register
from ..errors import NnbuildError
from ._checks import act_range, where
from .q7_pool import MAX_ROWS, ROWS, emit, lower as q7_lower
from .s8_conv2d import SCHEME, zero_point


def lower(g, op):
    if op.attrs.get("tflite_mean"):
        return _lower_mean(g, op)
    fields = dict(q7_lower(g, op).params)
    flag = {"exclude_pad": fields.pop("exclude_pad")} if "exclude_pad" in fields else {}
    lo, hi = act_range(op)
    in_zp = zero_point(op, "in_zp") if op.type == "avg_pool" else 0   # max: no padding value
    return Lowered(dict(fields, in_zp=in_zp, act_min=lo, act_max=hi, **flag))   # nn_kernels.h's order


def _lower_mean(g, op):
    h, w, c = g.tensors[op.inputs[0]].shape
    if tuple(g.tensors[op.outputs[0]].shape[:2]) != (1, 1):
        raise AssertionError(f"layer '{op.name}': a MEAN's output must be 1x1")    # the frontend makes it so
    lo, hi = act_range(op)
    a = op.attrs
    mult, shift = int(a["mean_mult"]), int(a["mean_shift"])
    if not (0 <= mult < 2 ** 31 and -31 <= shift <= 30) or (shift > 0 and (255 * int(h) * int(w)) << shift >= 2 ** 31):
        raise NnbuildError(f"MEAN multiplier {mult}, shift {shift} over {int(h) * int(w)} cells", where=where(op),
                           expected="a Q31 multiplier and a shift in [-31, 30] whose left shift keeps the sum in int32")
    fields = {"in_h": int(h), "in_w": int(w), "c": int(c), "in_zp": zero_point(op, "in_zp"),
              "out_zp": zero_point(op, "out_zp"), "act_min": lo, "act_max": hi,
              "mult": mult, "shift": shift}
    return Lowered(fields, symbol="nn_mean_s8", struct="nn_mean_s8_params", whole=True)


register(Kernel("max_pool", SCHEME, "nn_maxpool_s8", lower, emit, struct="nn_pool_s8_params", rows=MAX_ROWS))
register(Kernel("avg_pool", SCHEME, "nn_avgpool_s8", lower, emit, struct="nn_pool_s8_params", rows=ROWS))
