"""q7 (power-of-two) parameters, per docs/q7_contract.md: the rules shared by several ops
(weight formats, accumulator-safe MAC parameters, the input stage, lookup tables, which tensors
share frac bits) and `lower(graph, bits)`, which applies each op's rule (q7/ops/) to give the
quantized graph. Everything here is a pure function of its inputs (deterministic).
"""
import copy

import numpy as np

from ... import ir
from ...errors import NnbuildError
from ..meangrid import mean_on_grid
from .ops import rule

FW_MIN, FW_MAX = -16, 31       # weight frac bits: below -16 the weights are absurd for q7
INT32_MAX = (1 << 31) - 1
MAX_OUT_SHIFT = 31             # C: (acc + (1 << (s - 1))) >> s on int32


# -- weights --------------------------------------------------------------------------------------

def weight_bits(w, where):
    """Largest f with max|w| * 2^f <= 127.5 (so round(w * 2^f) saturates at most to 127)."""
    m = float(np.max(np.abs(w))) if w.size else 0.0
    if not np.isfinite(m):
        raise NnbuildError("weights contain NaN or infinity", where=where, expected="finite weights")
    if m == 0.0:
        return 7, "all weights are zero: weight frac bits 7 by default"
    f = FW_MAX
    while f >= FW_MIN and m * 2.0 ** f > 127.5:
        f -= 1
    if f < FW_MIN:
        raise NnbuildError(f"weights up to {m:g} do not fit any 8-bit format", where=where,
                           expected=f"|w| <= 127 * 2^{-FW_MIN} (weight frac bits >= {FW_MIN})")
    return f, None


def check_weights(graph):
    """Every conv/fc weight array has a q7 format (raises NnbuildError naming the layer)."""
    for op in graph.ops:
        if op.type in ("conv2d", "fully_connected"):
            where = f"layer '{op.name}' ({op.type})"
            weight_bits(np.asarray(op.params["weight"], np.float64), where)
            b = np.asarray(op.params.get("bias", 0.0), np.float64)
            if not np.isfinite(b).all():
                raise NnbuildError("bias contains NaN or infinity", where=where, expected="finite biases")


def quantize_weights(w, f):
    return np.clip(np.round(np.asarray(w, np.float64) * 2.0 ** f), -128, 127).astype(np.int8)


def mac_params(op, f_in, f_out, where, warnings):
    """int8 weight, int32 bias, fw and out_shift for conv2d / fully_connected.

    fw starts at the weight_bits rule and is lowered while the kernel would be unsafe: the shift
    must stay <= 31, the bias must fit int32 and the worst-case accumulator
    |bias| + 128 * sum|w| must fit int32 (so no input can overflow it on the device)."""
    w = np.asarray(op.params["weight"], np.float64)
    b = np.asarray(op.params.get("bias", np.zeros(w.shape[0])), np.float64)
    fw, warn = weight_bits(w, where)
    if warn:
        warnings.append(f"{where}: {warn}")
    fw = min(fw, MAX_OUT_SHIFT - f_in + f_out)
    while True:
        if fw < FW_MIN:
            raise NnbuildError("no weight format keeps the int32 accumulator and bias in range",
                               where=where, expected=f"weight frac bits >= {FW_MIN}")
        wq = quantize_weights(w, fw)
        bq = np.round(b * 2.0 ** (f_in + fw))
        worst = np.abs(bq) + 128 * np.abs(wq.reshape(wq.shape[0], -1).astype(np.int64)).sum(axis=1)
        if np.all(worst <= INT32_MAX):
            break
        fw -= 1
    return wq, bq.astype(np.int32), fw, f_in + fw - f_out


# -- input stage ----------------------------------------------------------------------------------

def input_stage_params(mean, scale, shape, f, where):
    """mul, shift, off so that requant(p * mul - off, shift) ~= round((p - mean) * scale * 2^f):
    off = M * mm with the mean on its grid (M, g: quantize/meangrid.py) and
    mm = round(scale * 2^(f+shift-g)). The largest shift (<= 31) with |p * mul - off| < 2^31 for
    every p in 0..255 is the most precise choice."""
    m, g = mean_on_grid(mean, shape, where)
    for shift in range(31, 0, -1):
        k = 2.0 ** (f + shift)
        mul, mm = int(np.round(scale * k)), int(np.round(scale * k / 2.0 ** g))
        off = m * mm
        ends = np.abs(np.concatenate([off, 255 * mul - off]))
        if abs(mul) <= INT32_MAX and ends.max() <= INT32_MAX:
            return mul, shift, off.astype(np.int32)
    raise NnbuildError("the input scale/mean cannot be folded into int32", where=where,
                       expected="|mean * scale| and |255 * scale| below 2^31 at the input's frac bits")


# -- tables ---------------------------------------------------------------------------------------

def lut_table(func, f_in, f_out=7):
    q = np.arange(-128, 128, dtype=np.float64)
    return np.clip(np.round(func(q * 2.0 ** -f_in) * 2.0 ** f_out), -128, 127).astype(np.int8)


# -- lowering -------------------------------------------------------------------------------------

def lower(graph, bits, warnings):
    """The quantized graph for frac bits `bits` ({tensor name: f}); appends warnings."""
    q = ir.Graph(graph.name, graph.input, list(graph.outputs), meta=copy.deepcopy(graph.meta))
    q.meta["quantization"] = {"scheme": "q7"}
    for name, t in graph.tensors.items():
        if name == graph.input:
            q.tensors[name] = ir.Tensor(name, tuple(t.shape), "uint8", None)
        else:
            q.tensors[name] = ir.Tensor(name, tuple(t.shape), "int8", {"frac_bits": int(bits[name])})
    for op in graph.ops:
        attrs, params = rule(op).params(graph, op, [bits.get(t) for t in op.inputs], bits[op.outputs[0]],
                                        warnings)
        q.ops.append(ir.Op(op.name, op.type, list(op.inputs), list(op.outputs), {**op.attrs, **attrs}, params))
    return q.validate()
