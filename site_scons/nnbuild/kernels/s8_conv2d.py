"""nn_conv2d_s8: the int8 scheme's convolution (kernels/*/nn_conv2d_s8.c, docs/int8_contract.md),
any kernel, stride, pad, dilation, group/depthwise; q7's geometry, loops and scratch.

The kernels read one int32 record per output channel (channel_records). The input zero point is
folded into the bias here: bias'[o] = bias[o] - in_zp * sum(w[o]), so the
kernels' MAC loop is q7's x * w (padding taps hold in_zp, real 0). Exact in int32: one bound on
the true accumulator (< 2^30, fold_bias) covers the folded partial sums and the epilogue.
"""
import numpy as np

from ..errors import NnbuildError
from . import Kernel, Lowered, Rows, register
from ._checks import act_range, array, attr, check_range, where
from .q7_conv2d import chunk_arg, chunkings, geometry, is_depthwise, pack, relu_symbol, scratch

SCHEME = "int8"


def zero_point(op, key):
    z = int(attr(op, key))
    check_range(op, {key: z}, (-128, 127), "int8")
    return z


def requant_arrays(op, n):
    """out_mult (Q31 significands, >= 0) and out_shift (TFLite's, positive = left): one per channel."""
    mult = array(op, "out_mult", np.int32, (n,))
    shift = array(op, "out_shift", np.int32, (n,))
    if mult.size and mult.min() < 0:
        raise NnbuildError(f"out_mult holds {int(mult.min())}", where=where(op),
                           expected="multipliers in [0, 2^31) (TFLite's QuantizeMultiplier)")
    if shift.size and (shift.min() < -31 or shift.max() > 30):
        raise NnbuildError(f"out_shift holds values in [{int(shift.min())}, {int(shift.max())}]",
                           where=where(op), expected="shifts in -31..30 (TFLite's QuantizeMultiplier)")
    return mult, shift


def fold_bias(op, bias, weight, in_zp):
    """bias - in_zp * sum(w[o]) as int32, after checking the true accumulator's bound
    |bias| + max|x - in_zp| * sum|w[o]| < 2^30 (what the epilogue needs, kernels/common/nn_int8.h).
    It also keeps the kernels' int32 sums exact: |bias'| <= |bias| + 128 * sum|w| < 2^30, and
    every partial sum (padding taps at in_zp included) adds at most another 128 * sum|w|."""
    w = weight.reshape(weight.shape[0], -1).astype(np.int64)
    worst = np.abs(bias.astype(np.int64)) + max(127 - in_zp, in_zp + 128) * np.abs(w).sum(axis=1)
    if worst.size and worst.max() >= 2**30:
        raise NnbuildError(f"the accumulator can reach {int(worst.max())} (|bias| + |x - in_zp| * sum |w|)",
                           where=where(op), expected="less than 2^30, the int8 kernels' requantization bound")
    return (bias.astype(np.int64) - in_zp * w.sum(axis=1)).astype(np.int32)


def channel_records(bias, mult, shift, out_zp, weight):
    """The kernels' per-channel int32 records (kernels/common/nn_int8.h, NN_S8_CHAN): folded
    bias, multiplier, shift, the DSP epilogue's rounding addend 2^(e-1) + out_zp * 2^e for
    shift = -e in -22..-1 (0 elsewhere: the kernel then takes its general form), and the sum of
    the channel's weights (the direct loops' clipped windows restore the contract's bias)."""
    e = -shift.astype(np.int64)
    fast = (e >= 1) & (e <= 22)
    addend = np.where(fast, (np.int64(1) << np.where(fast, e - 1, 0)) + out_zp * (np.int64(1) << np.where(fast, e, 0)), 0)
    wsum = weight.reshape(weight.shape[0], -1).astype(np.int64).sum(axis=1)
    return np.stack([bias, mult, shift, addend, wsum], axis=1).astype(np.int32)


def lower(g, op):
    geo = geometry(g, op)
    oc, kh, kw, cin_g = geo["out_c"], geo["k_h"], geo["k_w"], geo["in_c"] // geo["groups"]
    k = kh * kw * cin_g
    weight = array(op, "weight", np.int8, (oc, kh, kw, cin_g))
    in_zp, out_zp = zero_point(op, "in_zp"), zero_point(op, "out_zp")
    bias = fold_bias(op, array(op, "bias", np.int32, (oc,)), weight, in_zp)
    mult, shift = requant_arrays(op, oc)
    lo, hi = act_range(op)
    fields = dict(geo, in_zp=in_zp, out_zp=out_zp, act_min=lo, act_max=hi)
    check_range(op, fields)
    arrays = {"weight": weight, "chan": channel_records(bias, mult, shift, out_zp, weight)}
    # the DSP epilogue's mode 5 (nn_conv_mat_mult.h: nn_conv_s8_mode) known here: its own entry
    relu = (not is_depthwise(geo) and (lo, hi) == (out_zp, 127)
            and bool(((shift >= -22) & (shift <= -1)).all()))
    return Lowered(fields, arrays, geo["out_h"] * geo["out_w"] * oc * k,
                   symbol=relu_symbol("nn_conv2d_s8", geo) if relu else "nn_conv2d_s8")


def emit(s, ctx):   # the entry lower() picked (nn_conv2d_s8_relu[_quad] or nn_conv2d_s8)
    return [f"{s.kernel}(&{ctx.sym(s, 'params')}, {ctx.ptr(s.inputs[0])}, {ctx.sym(s, 'weight')}, "
            f"{ctx.sym(s, 'chan')}, {ctx.ptr(s.output)}, {ctx.scratch(s)}{chunk_arg(s)});"]


def emit_rows(s, ctx, b):
    return [f"{s.kernel}_rows(&{ctx.sym(s, 'params')}, {b['y0']}, {b['y1']}, {b['in_first']}, {b['in_rows']}, "
            f"{b['inp']}, {ctx.sym(s, 'weight')}, {ctx.sym(s, 'chan')}, {b['out']}, {b['scratch']}{chunk_arg(s)});"]


register(Kernel("conv2d", SCHEME, "nn_conv2d_s8", lower, emit, struct="nn_conv_s8_params", scratch=scratch,
                rows=Rows("conv", emit_rows), pack=pack, chunks=chunkings))
