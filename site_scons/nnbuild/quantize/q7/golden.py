"""q7 golden arithmetic: the bit-exact integer semantics of the q7 kernels, the single source of
truth for tests. Each op's rule (q7/ops/) calls these; nnbuild.golden runs a quantized graph with
the scheme's GOLDEN table.

Every function implements one row of docs/q7_contract.md on batched int8 activations
(N, H, W, C) and returns int8. Arithmetic is done in int64, the multiply-accumulate in float32
or float64 matmuls (fast BLAS) chosen per layer so that they are exact: every partial sum is an
integer below 2**24 resp. 2**53. The results are those of the C kernels' int32 arithmetic: an
accumulator outside int32 raises AccumulatorOverflow instead of silently differing from the device.
"""
import numpy as np

from ... import windows
from ...errors import NnbuildError

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


class AccumulatorOverflow(NnbuildError):
    """An int32 accumulator of a kernel would overflow on this model/input."""


def _check_int32(acc, what):
    if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
        raise AccumulatorOverflow(f"{what} accumulator leaves the int32 range "
                                  f"([{int(acc.min())}, {int(acc.max())}])",
                                  expected="|acc| < 2^31; use smaller weight/bias scales")
    return acc


def round_shift(x, s):
    """Contract round_shift: s > 0 rounds half towards +inf, s == 0 is x, s < 0 is x * 2**-s."""
    x = np.asarray(x, dtype=np.int64)
    s = int(s)
    if s > 0:
        return (x + (1 << (s - 1))) >> s
    if s == 0:
        return x
    if -s > 32:
        raise NnbuildError(f"left shift by {-s} bits", expected="shifts >= -32")
    return x << (-s)


def sat8(x):
    return np.clip(np.asarray(x, dtype=np.int64), -128, 127).astype(np.int8)


def requant(x, s, lo=-128, hi=127):
    return np.clip(round_shift(x, s), lo, hi).astype(np.int8)


def _requant_acc(acc, s, lo=-128, hi=127):
    """requant() of a private int64 accumulator, computed in place (the hot path of conv/fc/add)."""
    s = int(s)
    if s < 0:
        return requant(acc, s, lo, hi)
    if s > 0:
        acc += 1 << (s - 1)
        acc >>= s
    return np.clip(acc, lo, hi, out=acc).astype(np.int8)


def input_stage(pixels_u8, mul, off, shift):
    """q[i] = requant(p[i] * mul - off[i mod len(off)], shift) over each sample's HWC order."""
    p = np.asarray(pixels_u8)
    if p.dtype != np.uint8:
        raise NnbuildError(f"input_stage pixels are {p.dtype}", expected="uint8")
    n = p.shape[0]
    flat = p.reshape(n, -1).astype(np.int64)
    off = np.asarray(off, dtype=np.int64).reshape(-1)
    if flat.shape[1] % off.size:
        raise NnbuildError(f"input_stage offset has {off.size} entries for {flat.shape[1]} values per image",
                           expected="H*W*C or C entries")
    acc = flat * int(mul) - np.tile(off, flat.shape[1] // off.size)
    _check_int32(acc, "input_stage")
    return requant(acc, shift).reshape(p.shape)


def _as_i8(x):
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise NnbuildError(f"activation dtype is {x.dtype}", expected="int8")
    return x


def _exact_float(w):
    """The narrowest float type whose matmul is exact for int8 inputs times these weights: every
    partial sum is an integer bounded by 128 * max_o sum|w[o]|, exact in float32 below 2**24."""
    bound = 128 * int(np.abs(w.reshape(w.shape[0], -1).astype(np.int64)).sum(axis=1).max(initial=0))
    return np.float32 if bound < (1 << 24) else np.float64


def conv2d(x, weight_i8, bias_i32, stride, pad, dilation, group, out_shift, act_min=-128, act_max=127):
    """acc = bias + sum x*w over each window (padding contributes 0); out = requant(acc, s, lo, hi).
    weight (O, KH, KW, I/group) int8, bias (O,) int32, x (N, H, W, C) int8."""
    x = _as_i8(x)
    w = np.asarray(weight_i8)
    acc = windows.grouped_conv(x, w, stride, pad, dilation, group, _exact_float(w)).astype(np.int64)
    acc += np.asarray(bias_i32, dtype=np.int64)
    _check_int32(acc, "conv2d")
    return _requant_acc(acc, out_shift, act_min, act_max)


def fully_connected(x, weight_i8, bias_i32, out_shift, act_min=-128, act_max=127):
    """As conv2d over the HWC-flattened input; weight (O, H*W*C). Returns (N, 1, 1, O)."""
    x = _as_i8(x)
    n = x.shape[0]
    w = np.asarray(weight_i8)
    dt = _exact_float(w)
    acc = (x.reshape(n, -1).astype(dt) @ w.astype(dt).T).astype(np.int64)
    acc += np.asarray(bias_i32, dtype=np.int64)
    _check_int32(acc, "fully_connected")
    return _requant_acc(acc, out_shift, act_min, act_max).reshape(n, 1, 1, -1)


def max_pool(x, kernel, stride, pad, ceil=True):
    """Max over the window clipped to the input (padding cells are never candidates); ceil False:
    floor mode (the pool's ceil_mode)."""
    x = _as_i8(x).astype(np.int16)
    views, _ = windows.pool_offsets(x, kernel, stride, pad, ceil, pad_value=-32768)
    return np.maximum.reduce(views).astype(np.int8)


def avg_pool(x, kernel, stride, pad, exclude_pad=False, ceil=True):
    """sum over the clipped window / n, rounded half away from zero; n = Caffe's divisor, or the
    window's input cells with exclude_pad; ceil False: floor mode (the pool's ceil_mode)."""
    x = _as_i8(x).astype(np.int64)
    views, counts = windows.pool_offsets(x, kernel, stride, pad, ceil, pad_value=0, exclude_pad=exclude_pad)
    s = np.add.reduce(views)
    n = counts[None, :, :, None]
    q = (np.abs(s) + n // 2) // n
    return sat8(np.sign(s) * q)


def relu(x, slope_q15=0):
    """slope 0: max(q, 0); else q >= 0 ? q : requant(q * slope_q15, 15)."""
    x = _as_i8(x)
    if int(slope_q15) == 0:
        return np.maximum(x, 0).astype(np.int8)
    neg = requant(x.astype(np.int64) * int(slope_q15), 15)
    return np.where(x >= 0, x, neg).astype(np.int8)


def add(inputs, in_shifts, out_shift):
    """acc = sum(q_i << in_shifts[i]); out = requant(acc, out_shift)."""
    if len(inputs) != len(in_shifts):
        raise NnbuildError(f"add has {len(inputs)} inputs and {len(in_shifts)} shifts", expected="one shift per input")
    acc = None
    for q, s in zip(inputs, in_shifts):
        term = np.left_shift(_as_i8(q), int(s), dtype=np.int64)
        acc = term if acc is None else np.add(acc, term, out=acc)
    _check_int32(acc, "add")
    return _requant_acc(acc, out_shift)


def concat(inputs, shifts):
    """Channel concatenation; each input is requant(q_i, shifts[i]) (0 = plain copy)."""
    if len(inputs) != len(shifts):
        raise NnbuildError(f"concat has {len(inputs)} inputs and {len(shifts)} shifts", expected="one shift per input")
    return np.concatenate([requant(_as_i8(q), s) for q, s in zip(inputs, shifts)], axis=-1)


def lut(x, table_i8):
    """out = table[q + 128] (sigmoid, tanh)."""
    table = np.asarray(table_i8, dtype=np.int8).reshape(-1)
    if table.size != 256:
        raise NnbuildError(f"lookup table has {table.size} entries", expected="256")
    return table[_as_i8(x).astype(np.int16) + 128]


def softmax(x, exp_table_i32):
    """Over the channel axis: e_i = T[max - q_i]; out_i = min(127, (e_i*128 + S/2) / S)."""
    x = _as_i8(x).astype(np.int64)
    table = np.asarray(exp_table_i32, dtype=np.int64).reshape(-1)
    if table.size != 256:
        raise NnbuildError(f"softmax exp table has {table.size} entries", expected="256")
    e = table[x.max(axis=-1, keepdims=True) - x]
    s = e.sum(axis=-1, keepdims=True)
    _check_int32(e * 128 + s // 2, "softmax")
    return np.minimum(127, (e * 128 + s // 2) // s).astype(np.int8)
