"""int8 golden arithmetic: TensorFlow Lite Micro's reference integer kernels, bit for bit
(docs/int8_contract.md). Batched NHWC int8 in, int8 out; each op's rule (int8/ops/) calls these.

Sums are exact: the multiply-accumulate runs as float64 matmuls of integers (every partial sum is
far below 2**53) and is checked against the int32 range the C kernels and TFLM accumulate in
(arith.Int32Overflow instead of a silently different result).
"""
import numpy as np

from ... import windows
from ...errors import NnbuildError
from ..q7 import golden as q7_golden
from . import arith

input_stage = q7_golden.input_stage     # the model's input stage is q7's kernel (contract)


def _as_i8(x):
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise NnbuildError(f"activation dtype is {x.dtype}", expected="int8")
    return x


def requantize(acc, bias, out_mult, out_shift, out_zp, act_min, act_max, what):
    """TFLM's epilogue of conv / fully_connected: clamp(mbqm(acc + bias) + out_zp), per channel
    (last axis)."""
    acc = arith.check_int32(acc + np.asarray(bias, np.int64), f"{what} accumulator")
    y = arith.mbqm(acc, np.asarray(out_mult, np.int64), np.asarray(out_shift, np.int64), f"{what} accumulator")
    y += int(out_zp)
    return np.clip(y, int(act_min), int(act_max)).astype(np.int8)


def conv2d(x, weight, bias, in_zp, out_mult, out_shift, out_zp, act_min, act_max,
           stride, pad, dilation, group):
    """acc[o] = bias[o] + sum over the window of (x - in_zp) * w (padding contributes 0, as TFLM
    skips taps outside the image). weight (O, KH, KW, I/group) int8."""
    xs = _as_i8(x).astype(np.float64) - int(in_zp)
    w = np.asarray(weight, np.int8)
    acc = windows.grouped_conv(xs, w, stride, pad, dilation, group, np.float64).astype(np.int64)
    return requantize(acc, bias, out_mult, out_shift, out_zp, act_min, act_max, "conv2d")


def fully_connected(x, weight, bias, in_zp, out_mult, out_shift, out_zp, act_min, act_max):
    """As conv2d over the HWC-flattened input; weight (O, H*W*C). Returns (N, 1, 1, O)."""
    x = _as_i8(x)
    n = x.shape[0]
    xs = x.reshape(n, -1).astype(np.float64) - int(in_zp)
    acc = (xs @ np.asarray(weight, np.int8).astype(np.float64).T).astype(np.int64)
    return requantize(acc, bias, out_mult, out_shift, out_zp, act_min, act_max,
                      "fully_connected").reshape(n, 1, 1, -1)


def max_pool(x, kernel, stride, pad, act_min, act_max, ceil=True):
    """Max over the window clipped to the input, then TFLM's activation clamp."""
    y = q7_golden.max_pool(_as_i8(x), kernel, stride, pad, ceil)
    return np.clip(y, int(act_min), int(act_max)).astype(np.int8)


def avg_pool(x, kernel, stride, pad, in_zp, act_min, act_max, exclude_pad=False, ceil=True):
    """(sum + sign * n/2) / n truncated (TFLM's rounding), n = the IR's (Caffe's) divisor.

    The n - valid padding cells that Caffe counts hold real 0, i.e. the zero point: they add
    (n - valid) * in_zp. Where the window holds no padding (n == valid, always so when pad is 0
    or with exclude_pad, whose n is the valid cells) this is TFLM's AVERAGE_POOL_2D exactly
    (reference_integer_ops::AveragePool: filter_count = the cells inside the input)."""
    x = _as_i8(x).astype(np.int64)
    views, counts = windows.pool_offsets(x, kernel, stride, pad, ceil, pad_value=0, exclude_pad=exclude_pad)
    s = np.add.reduce(views)
    if int(in_zp) and not exclude_pad:
        ones = np.ones((1,) + x.shape[1:3] + (1,), np.int64)
        valid = np.add.reduce(windows.pool_offsets(ones, kernel, stride, pad, ceil, pad_value=0)[0])
        s += (counts[None, :, :, None] - valid) * int(in_zp)
    n = counts[None, :, :, None]
    q = np.sign(s) * ((np.abs(s) + n // 2) // n)
    return np.clip(q, int(act_min), int(act_max)).astype(np.int8)


def mean(x, in_zp, mult, shift, out_zp, act_min, act_max):
    """TFLM's int8 MEAN over H and W (keep_dims): mbqm(sum(x - in_zp), mult, shift) + out_zp,
    clamped; mult and shift already hold 1/n (ops/pool.mean_multiplier)."""
    x = _as_i8(x).astype(np.int64)
    s = (x - int(in_zp)).sum(axis=(1, 2), keepdims=True)
    q = arith.mbqm(s, int(mult), int(shift), "MEAN sum") + int(out_zp)
    return np.clip(q, int(act_min), int(act_max)).astype(np.int8)


def clamp(x, act_min, act_max):
    """relu with the output's (scale, zero point) equal to the input's: TFLM's RELU multiplier is
    exactly 1 (QuantizeMultiplier(1.0) = (2^30, 1) and mbqm(x, 2^30, 1) == x), so it is a clamp."""
    return np.clip(_as_i8(x), int(act_min), int(act_max)).astype(np.int8)
