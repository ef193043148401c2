"""int8 parameters, per docs/int8_contract.md: weight quantization (per channel or per tensor),
bias, requantization multipliers in TFLite's order, the input stage, which tensors share
(scale, zero point), and `lower(graph, qparams, options)`, which applies each op's rule
(int8/ops/) to give the quantized graph. Pure functions of their inputs (deterministic).
"""
import copy

import numpy as np

from ... import ir
from ...errors import NnbuildError
from ..meangrid import mean_on_grid
from . import arith
from .ops import rule

OPTIONS = {"per_channel": True}     # the scheme's options and their defaults
WEIGHT_QMAX = 127                   # symmetric weights in [-127, 127] (TFLite)


def check_options(options):
    """The scheme options with defaults filled in; unknown keys or bad values are an error."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise NnbuildError(f"unknown int8 quantization option(s) {', '.join(map(repr, unknown))}",
                           where="quantization", expected="options among " + ", ".join(OPTIONS))
    if not isinstance(options.get("per_channel", True), bool):
        raise NnbuildError(f"per_channel is {options['per_channel']!r}", where="quantization.per_channel",
                           expected="true or false")
    return {**OPTIONS, **options}


# -- weights, bias, multipliers ----------------------------------------------------------------------

def weight_scales(w, per_channel, where):
    """float32 scales (O,) resp. (1,): max|w| / 127 per output channel resp. over the tensor.
    An all-zero channel gets scale 1 (its weights are 0 whatever the scale)."""
    w = np.asarray(w, np.float64)
    if not np.isfinite(w).all():
        raise NnbuildError("weights contain NaN or infinity", where=where, expected="finite weights")
    flat = w.reshape(w.shape[0], -1)
    m = np.abs(flat).max(axis=1) if per_channel else np.abs(flat).max(keepdims=True).reshape(1)
    s = (m / WEIGHT_QMAX).astype(np.float32)
    s[m == 0] = 1.0
    tiny = np.isfinite(s) & (s < np.finfo(np.float32).tiny)
    if tiny.any():      # a subnormal float32 scale: TFLite's multipliers would be meaningless
        raise NnbuildError(f"weights as small as {float(m[tiny].min()):g} in a channel", where=where,
                           expected=f"max |w| per channel 0 or >= {WEIGHT_QMAX * np.finfo(np.float32).tiny:g}")
    return s


def quantize_weights(w, scales):
    """round(w / s) in [-127, 127], s broadcast over the output-channel axis."""
    w = np.asarray(w, np.float64)
    s = np.asarray(scales, np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    return np.clip(np.round(w / s), -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)


def quantize_bias(b, s_in, w_scales, n_out, where, warnings):
    """int32 bias at scale s_in * s_w[o] (float32 products, as TFLite's converter)."""
    b = np.broadcast_to(np.asarray(b, np.float64), (n_out,))
    if not np.isfinite(b).all():
        raise NnbuildError("bias contains NaN or infinity", where=where, expected="finite biases")
    s = (np.float32(s_in) * np.broadcast_to(np.asarray(w_scales, np.float32), (n_out,))).astype(np.float64)
    q = np.round(b / s)
    over = np.abs(q) > arith.INT32_MAX
    if over.any():
        warnings.append(f"{where}: {int(over.sum())} bias value(s) exceed int32 at scale s_in * s_w and are clipped")
    return np.clip(q, -arith.INT32_MAX, arith.INT32_MAX).astype(np.int32)


MAX_MULTIPLIER = 2.0 ** 24      # beyond, mbqm's left shift overflows int32 for |acc| >= 128: absurd scales


def output_multipliers(s_in, w_scales, s_out, n_out, where):
    """(out_mult, out_shift) int32 (n_out,) from float32 scales, in TFLite's order of operations:
    double(s_in) * double(s_w[o]) / double(s_out), a per-tensor scale broadcast to every channel.
    TFLM's FULLY_CONNECTED with per-tensor weights computes the same (measured against the
    tflite-micro wheel, tests/test_int8_tflm.py; its source reads as a float32 product first,
    which would differ in the multiplier's last bits: the oracle decides)."""
    ws = np.broadcast_to(np.asarray(w_scales, np.float32), (n_out,))
    mult, shift = np.zeros(n_out, np.int32), np.zeros(n_out, np.int32)
    for o in range(n_out):
        real = float(np.float32(s_in)) * float(ws[o]) / float(np.float32(s_out))
        if real >= MAX_MULTIPLIER:
            raise NnbuildError(f"requantization multiplier {real:g} (s_in * s_w / s_out) of output channel {o}",
                               where=where, expected=f"below {MAX_MULTIPLIER:g}: weights far too large for the "
                                                     "output's range")
        mult[o], shift[o] = arith.quantize_multiplier(real)
    return mult, shift


def mac_record(op, q_in, q_out, wq, bq, ws, per_channel, where):
    """(attrs, params) of a conv2d / fully_connected from its int8 weights `wq`, int32 bias `bq`
    and float32 weight scales `ws` (quantized here, or imported from a quantized model): the
    accumulator check, the multipliers in TFLite's order, the zero points and the clamp (a fused
    ReLU clamps at the output zero point)."""
    (s_in, z_in), (s_out, z_out) = q_in, q_out
    check_accumulator(wq, bq, where)
    mult, shift = output_multipliers(s_in, ws, s_out, wq.shape[0], where)
    relu = op.attrs.get("activation", "none") == "relu"
    attrs = {"in_zp": int(z_in), "out_zp": int(z_out), "act_min": int(z_out) if relu else -128, "act_max": 127,
             "per_channel": bool(per_channel)}
    return attrs, {"weight": wq, "bias": bq, "weight_scale": ws, "out_mult": mult, "out_shift": shift}


def check_accumulator(wq, bq, where):
    """|bias| + 255 * sum|w| must fit int32 per channel, so no input overflows the accumulator."""
    worst = np.abs(bq.astype(np.int64)) + 255 * np.abs(wq.reshape(wq.shape[0], -1).astype(np.int64)).sum(axis=1)
    if worst.max(initial=0) > arith.INT32_MAX:
        raise NnbuildError(f"the int32 accumulator can overflow (worst case {int(worst.max())})", where=where,
                           expected="|bias| + 255 * sum |w| < 2^31 per output channel (fewer inputs per channel "
                                    "or a smaller bias relative to s_in * s_w)")


# -- input stage ------------------------------------------------------------------------------------

def input_stage_params(mean, scale, shape, s_out, z_out, where):
    """mul, shift, off with requant(p * mul - off, shift) ~= round((p - mean) * scale / s_out) + z_out:
    off = M * mm - z_out * 2^shift with the mean on its grid (M, g: quantize/meangrid.py),
    mul = round(scale * 2^shift / s_out), mm = round(scale * 2^(shift-g) / s_out) (the zero point
    folded in exactly). The largest shift (<= 31) that keeps every |p * mul - off| (p in 0..255)
    and the constants below 2^31 is the most precise."""
    m, g = mean_on_grid(mean, shape, where)
    for shift in range(31, 0, -1):
        k = 2.0 ** shift / float(s_out)
        mul, mm = int(np.round(scale * k)), int(np.round(scale * k / 2.0 ** g))
        off = m * mm - int(z_out) * (1 << shift)
        ends = np.abs(np.concatenate([off, 255 * mul - off]))
        if abs(mul) <= arith.INT32_MAX and ends.max() <= arith.INT32_MAX:
            return mul, shift, off.astype(np.int32)
    raise NnbuildError("the input scale/mean cannot be folded into int32", where=where,
                       expected="|mean * scale| and |255 * scale| below 2^31 at the input tensor's scale")


# -- lowering ---------------------------------------------------------------------------------------

def lower(graph, qparams, options, warnings, given=None):
    """The quantized graph for {tensor name: (scale, zero point)}; appends warnings. `given`:
    {op name: (attrs, params)} that replace the rule's (an imported model's weights, imported.py)."""
    given = given or {}
    q = ir.Graph(graph.name, graph.input, list(graph.outputs), meta=copy.deepcopy(graph.meta))
    q.meta["quantization"] = {"scheme": "int8", "per_channel": bool(options["per_channel"])}
    for name, t in graph.tensors.items():
        if name == graph.input:
            q.tensors[name] = ir.Tensor(name, tuple(t.shape), "uint8", None)
        else:
            s, z = qparams[name]
            q.tensors[name] = ir.Tensor(name, tuple(t.shape), "int8", {"scale": arith.f32(s), "zero_point": int(z)})
    for op in graph.ops:
        attrs, params = given[op.name] if op.name in given else \
            rule(op).params(graph, op, [qparams.get(t) for t in op.inputs], qparams[op.outputs[0]], options, warnings)
        q.ops.append(ir.Op(op.name, op.type, list(op.inputs), list(op.outputs), {**op.attrs, **attrs}, params))
    return q.validate()
