"""max_pool / avg_pool: TFLite's MAX_POOL_2D / AVERAGE_POOL_2D int8; the output keeps the
input's (scale, zero point) (TFLite requires it), so no requantization.

An imported int8 MEAN over H and W is an avg_pool marked `tflite_mean` (frontends/tflite): the
same float op, window and C parameters, so the core, planner and float path need nothing new;
only its integers are TFLM's MEAN (any output quantization, a multiplier with 1/n folded in)."""
from ....errors import NnbuildError
from ....ops.pool import ceil_mode, exclude_pad
from .. import golden
from ..arith import QMAX, QMIN, quantize_multiplier
from . import Rule, attr, register, where


def mean_multiplier(real, n):
    """TFLM's int8 MEAN (reference_integer_ops::Mean): QuantizeMultiplier(s_in / s_out), then 1/n
    folded into the significand as 2^k / n with k = floor(log2 n), capped so the shift stays >= -31."""
    mult, shift = quantize_multiplier(real)
    k = min(int(n).bit_length() - 1, 32, 31 + shift)
    return (mult << k) // int(n), shift - k


def _mean_params(graph, op, q_in, q_out):
    h, w, _ = graph.tensors[op.inputs[0]].shape
    n = int(h) * int(w)
    mult, shift = mean_multiplier(float(q_in[0][0]) / float(q_out[0]), n)
    if shift > 0 and (QMAX - QMIN) * n << shift >= 1 << 31:   # mbqm's left shift must fit int32 (TFLM's too)
        raise NnbuildError(f"int8 MEAN over {n} cells with input/output scale ratio {q_in[0][0] / q_out[0]:g}: "
                           "the sum shifted left by TFLM's multiplier can overflow int32", where=where(op),
                           expected="an output scale at least the input scale / 2^k with 255 * n * 2^k < 2^31")
    return {"in_zp": int(q_in[0][1]), "out_zp": int(q_out[1]), "mean_mult": mult, "mean_shift": shift,
            "act_min": QMIN, "act_max": QMAX}


def _params(graph, op, q_in, q_out, options, warnings):
    if op.attrs.get("tflite_mean"):
        return _mean_params(graph, op, q_in, q_out), {}
    if tuple(q_in[0]) != tuple(q_out):     # share_groups guarantees it: a violation is a bug
        raise AssertionError(f"layer '{op.name}': params {q_in[0]} -> {q_out} must be equal")
    attrs = {"act_min": -128, "act_max": 127}
    if op.type == "avg_pool":
        attrs["in_zp"] = int(q_in[0][1])    # the value of Caffe's counted padding cells (real 0)
    return attrs, {}


def _window(op):
    return op.attrs["kernel"], op.attrs["stride"], op.attrs["pad"]


def _max(op, args):
    return golden.max_pool(args[0], *_window(op), attr(op, "act_min"), attr(op, "act_max"), ceil_mode(op))


def _avg(op, args):
    if op.attrs.get("tflite_mean"):
        return golden.mean(args[0], attr(op, "in_zp"), attr(op, "mean_mult"), attr(op, "mean_shift"),
                           attr(op, "out_zp"), attr(op, "act_min"), attr(op, "act_max"))
    return golden.avg_pool(args[0], *_window(op), attr(op, "in_zp"), attr(op, "act_min"), attr(op, "act_max"),
                           exclude_pad(op), ceil_mode(op))


register("max_pool", Rule(_params, _max, same_params=True))
register("avg_pool", Rule(_params, _avg, same_params=True))
