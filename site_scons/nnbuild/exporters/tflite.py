"""The .tflite writer: an int8-scheme quantized graph -> the bytes of a TensorFlow Lite model
(one subgraph) that TensorFlow Lite Micro's reference kernels run to the same output bytes as
nnbuild's golden model (docs/int8_contract.md, "The .tflite export").

The model starts after nnbuild's input stage (its input is the int8 tensor the input stage
produces) and ends at the graph output (a final softmax was stripped by the pipeline). Every
integer parameter that TFLite derives from the written scales (requantization multipliers,
activation clamps, pool windows) is derived here the way TFLM does and compared with the
graph's own; a graph the file cannot reproduce exactly raises NnbuildError naming the layer,
instead of writing a model that computes something else. Written with flatbuffers.Builder and
the schema facts of tflite_schema; the bytes depend only on the graph.

export_float writes a float graph (the import step's, before quantization) with the same
operator mapping and padding decisions as FLOAT32 tensors: `nnbuild export --float`.
"""
import math

import flatbuffers
import numpy as np

from .. import ir
from ..errors import NnbuildError
from ..ops.pool import ceil_mode
from ..quantize.int8.arith import QMAX, QMIN, quantize_multiplier
from ..quantize.int8.ops.affine import mul_multiplier
from ..windows import pair
from . import tflite_schema as S

FORMAT = "tflite"
SUFFIX = ".tflite"
SCHEME = "int8"
BUFFER_ALIGN = 16          # constant data aligned as TFLite's converter does (int32 bias reads)

_ACTIVATIONS = (("NONE", S.ActivationFunctionType.NONE), ("RELU", S.ActivationFunctionType.RELU),
                ("RELU6", S.ActivationFunctionType.RELU6),
                ("RELU_N1_TO_1", S.ActivationFunctionType.RELU_N1_TO_1))
_FIXED_OUTPUT = {"sigmoid": (1.0 / 256, -128), "tanh": (1.0 / 128, 0), "softmax": (1.0 / 256, -128)}


def _where(op):
    return f"layer '{op.name}' ({op.type})"


def _fail(op, message, expected=None):
    raise NnbuildError(message, where=_where(op), expected=expected)


# -- TFLM's derivations from the written scales ----------------------------------------------

def _tfl_round(x):
    """TfLiteRound / std::round of a float32 value: half away from zero (exact in double)."""
    x = float(np.float32(x))
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def activation_range(act, scale, zp):
    """CalculateActivationRangeQuantized for int8: the clamp TFLM derives from a fused
    activation and the output's (scale, zero point) (f / scale in float32, rounded)."""
    def q(f):
        return zp + _tfl_round(np.float32(f) / np.float32(scale))

    if act == "RELU":
        return max(QMIN, q(0.0)), QMAX
    if act == "RELU6":
        return max(QMIN, q(0.0)), min(QMAX, q(6.0))
    if act == "RELU_N1_TO_1":
        return max(QMIN, q(-1.0)), min(QMAX, q(1.0))
    return QMIN, QMAX


def _fused_activation(op, scale, zp):
    """The fused activation whose clamp is the op's (act_min, act_max), or NnbuildError."""
    want = (int(_attr(op, "act_min")), int(_attr(op, "act_max")))
    for name, code in _ACTIVATIONS:
        if activation_range(name, scale, zp) == want:
            return code
    _fail(op, f"clamp [{want[0]}, {want[1]}] is no fused activation of TFLite for output scale {scale!r}, "
              f"zero point {zp}", expected=", ".join(f"{n}: {list(activation_range(n, scale, zp))}"
                                                     for n, _ in _ACTIVATIONS))


def conv_multipliers(s_in, w_scales, s_out, n):
    """(out_mult, out_shift) per output channel as TFLM derives them for CONV_2D,
    DEPTHWISE_CONV_2D and FULLY_CONNECTED: double(s_in) * double(s_w[o]) / double(s_out) from the
    float32 scales, a per-tensor scale broadcast. (TFLite's source reads as a float32 product for
    a per-tensor FULLY_CONNECTED; the tflite-micro build computes in double, which a test pins
    on an input where the two differ.)"""
    w = np.asarray(w_scales, np.float32)
    ws = w if len(w) > 1 else np.repeat(w, n)
    pairs = [quantize_multiplier(float(np.float32(s_in)) * float(x) / float(np.float32(s_out))) for x in ws]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _check_equal(op, what, have, want):
    have = [int(v) for v in np.ravel(have)]
    want = [int(v) for v in np.ravel(want)]
    if have != want:
        i = next((k for k, (a, b) in enumerate(zip(have, want)) if a != b), min(len(have), len(want)))
        _fail(op, f"{what} {have[i] if i < len(have) else 'missing'} (entry {i}) is not what TFLite "
                  f"derives from the tensors' scales ({want[i] if i < len(want) else 'none'}), so the "
                  ".tflite file would compute other values",
              expected="the integer parameters TFLite derives (docs/int8_contract.md, \"The .tflite export\")")


def _attr(op, key):
    if key not in op.attrs:
        _fail(op, f"quantized op lacks attribute '{key}'", expected="a graph produced by nnbuild.quantize (scheme int8)")
    return op.attrs[key]


def _param(op, key, dtype):
    """A param as `dtype`; integer values must fit it (no silent wrap-around)."""
    if key not in op.params:
        _fail(op, f"quantized op lacks param '{key}'", expected="a graph produced by nnbuild.quantize (scheme int8)")
    arr = np.asarray(op.params[key])
    dt = np.dtype(dtype)
    if dt.kind == "i":
        info = np.iinfo(dt)
        if arr.dtype.kind not in "iu" or (arr.size and (arr.min() < info.min or arr.max() > info.max)):
            _fail(op, f"param '{key}' ({arr.dtype}) does not fit {dt}", expected=f"{dt} values")
    return arr.astype(dt)


# -- padding and windows ---------------------------------------------------------------------

def _same(size, extent, stride):
    """TFLite SAME along one axis: (output size, padding before)."""
    out = -(-size // stride)
    return out, max((out - 1) * stride + extent - size, 0) // 2


def _tfl_pool_windows(size, k, s, padding):
    """The clipped input windows [start, end) of TFLite's pooling along one axis."""
    if padding == S.Padding.SAME:
        out, before = _same(size, k, s)
    else:
        out, before = (size - k) // s + 1, 0
    return [(max(o * s - before, 0), min(o * s - before + k, size)) for o in range(max(out, 0))]


def _pool_plan(op, h, w):
    """(explicit pad (top, bottom, left, right) or None, TFLite padding) whose windows and
    divisors are the IR's Caffe ones.

    Caffe's average divisor counts the padding cells (up to size + pad): those hold real 0, the
    zero point, so an explicit PAD with the zero point followed by pooling the padded tensor
    (windows starting at o * stride, divisor = the cells inside it) computes the same. A max pool
    that SAME/VALID miss is padded with -128, never above a real maximum: p before and enough
    after that exactly Caffe's number of VALID windows, starting at o * s - p, fit. An average
    with exclude_pad is SAME or VALID with the same windows, or refused (a PAD would count).
    A floor-mode pool (ceil_mode false) is the same with fewer windows (VALID when unpadded)."""
    (kh, kw), (sh, sw), (ph, pw) = (pair(op.attrs[k]) for k in ("kernel", "stride", "pad"))
    ceil = ceil_mode(op)
    caffe = [[ir.pool_window(o, k, s, p, size) for o in range(ir.pool_output_size(size, k, s, p, ceil))]
             for size, k, s, p in ((h, kh, sh, ph), (w, kw, sw, pw))]
    # exclude_pad divides by the window's input cells, as TFLite's AVERAGE_POOL_2D does: no PAD
    counted = op.type == "avg_pool" and not op.attrs.get("exclude_pad") \
        and any(c != e - b for axis in caffe for b, e, c in axis)
    if counted:     # in the padded tensor's coordinates: [o * s, o * s + count)
        want = [[(o * s, o * s + c) for o, (_, _, c) in enumerate(axis)] for axis, s in zip(caffe, (sh, sw))]
        sizes, pad = (h + 2 * ph, w + 2 * pw), (ph, ph, pw, pw)
    else:
        want = [[(b, e) for b, e, _ in axis] for axis in caffe]
        sizes, pad = (h, w), None
    for padding in (S.Padding.VALID, S.Padding.SAME):
        if all(_tfl_pool_windows(size, k, s, padding) == axis
               for size, k, s, axis in zip(sizes, (kh, kw), (sh, sw), want)):
            return pad, padding
    if op.type == "max_pool":
        after = [(len(axis) - 1) * s + k - size - p for axis, size, k, s, p in zip(caffe, (h, w), (kh, kw), (sh, sw), (ph, pw))]
        if min(after) >= 0:
            return (ph, after[0], pw, after[1]), S.Padding.VALID
    mode = "Caffe's" if ceil else "floor-mode"
    _fail(op, f"{mode} pooling windows (kernel {kh}x{kw}, stride {sh}x{sw}, pad {ph}x{pw} on {h}x{w}"
              f"{', divisor counting padding' if counted else ''}"
              f"{', divisor excluding padding' if op.attrs.get('exclude_pad') else ''}) are neither TFLite's SAME nor VALID windows",
          expected="a pooling that TFLite expresses")


# -- the model under construction ------------------------------------------------------------

class _Model:
    """Tensors, buffers, operator codes and operators in the order they are added."""

    def __init__(self, graph, is_float=False):
        self.g = graph
        self.is_float = is_float   # FLOAT32 activations without quantization (the import step's graph)
        self.tensors = []          # dicts: name, shape, type, buffer, quant
        self.index = {}            # IR tensor name (or derived name) -> tensor index
        self.buffers = [b""]       # buffer 0: the empty sentinel of the schema
        self.codes = {}            # builtin code -> operator code index
        self.ops = []              # (code index, inputs, outputs, options type, options)
        self.inputs, self.outputs = [], []     # subgraph input / output tensor indices

    def add_tensor(self, name, shape, ttype, quant=None, data=None):
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes())
            buf = len(self.buffers) - 1
        self.tensors.append({"name": name, "shape": [int(s) for s in shape], "type": ttype,
                             "buffer": buf, "quant": quant})
        self.index[name] = len(self.tensors) - 1
        return len(self.tensors) - 1

    def activation(self, name, shape):
        """The index of IR activation tensor `name`, created with `shape` on first use."""
        if name not in self.index and self.is_float:
            self.add_tensor(name, shape, S.TensorType.FLOAT32)
        elif name not in self.index:
            self.add_tensor(name, shape, S.TensorType.INT8, _per_tensor(*_quant(self.g, name)))
        return self.index[name]

    def shape(self, name):
        return self.tensors[self.index[name]]["shape"]

    def add_op(self, code, inputs, outputs, options_type=S.BuiltinOptions.NONE, options=None):
        ci = self.codes.setdefault(code, len(self.codes))
        self.ops.append((ci, list(inputs), list(outputs), options_type, options))

    def as_4d(self, name):
        """A [1, H, W, C] view of `name` (a fully connected output is [1, N]: RESHAPE it)."""
        if len(self.shape(name)) == 4:
            return self.index[name]
        view = f"{name}/4d"
        if view not in self.index:
            shp = [1] + [int(s) for s in self.g.tensors[name].shape]
            src = self.tensors[self.index[name]]
            self.add_tensor(view, shp, src["type"], src["quant"])
            new = self.add_tensor(f"{view}/shape", [4], S.TensorType.INT32, data=np.array(shp, np.int32))
            self.add_op(S.BuiltinOperator.RESHAPE, [self.index[name], new], [self.index[view]],
                        S.BuiltinOptions.ReshapeOptions, (S.ReshapeOptions, [(S.ReshapeOptions.NEW_SHAPE, "ivec", shp)]))
        return self.index[view]


def _per_tensor(scale, zp):
    return {"scale": np.array([scale], np.float32), "zero_point": np.array([zp], np.int64), "dim": 0}


def _quant(g, name):
    """(float32 scale, zero point) of an int8 activation tensor, checked."""
    q = g.tensors[name].quant or {}
    scale, zp = q.get("scale"), q.get("zero_point")
    if g.tensors[name].dtype != "int8" or scale is None or zp is None:
        raise NnbuildError(f"tensor '{name}' has no int8 quantization record", where=f"model '{g.name}'",
                           expected="dtype int8 with {'scale': s, 'zero_point': z}")
    scale = float(np.float32(scale))
    if not (math.isfinite(scale) and scale > 0) or not QMIN <= int(zp) <= QMAX:
        raise NnbuildError(f"tensor '{name}' has scale {scale!r}, zero point {zp}", where=f"model '{g.name}'",
                           expected=f"a finite positive float32 scale and a zero point in [{QMIN}, {QMAX}]")
    return scale, int(zp)


def _shape4(g, name):
    return [1] + [int(s) for s in g.tensors[name].shape]


def _same_params(m, op):
    if _quant(m.g, op.inputs[0]) != _quant(m.g, op.outputs[0]):
        _fail(op, f"output quantization {_quant(m.g, op.outputs[0])} differs from the input's "
                  f"{_quant(m.g, op.inputs[0])}", expected="the input's (scale, zero point), as TFLite requires")


# -- op lowering: one function per IR op type ------------------------------------------------

def _conv_layout(m, op, weight):
    """What CONV_2D / DEPTHWISE_CONV_2D need of an IR conv2d, shared by the int8 and float
    writers: (padded input index, TFLite padding, depthwise, filter in TFLite's layout, its
    quantized dimension)."""
    g, a = m.g, op.attrs
    x, y = op.inputs[0], op.outputs[0]
    h, w, in_c = (int(s) for s in g.tensors[x].shape)
    group = int(a.get("group", 1))
    if weight.ndim != 4 or weight.shape[3] * group != in_c or weight.shape[0] % group:
        _fail(op, f"weight {list(weight.shape)} with group {group} on {in_c} input channels",
              expected=f"(O, KH, KW, {in_c}/group) with O divisible by the group")
    _, kh, kw, _ = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = pair(a["stride"]), pair(a["pad"]), pair(a.get("dilation", 1))
    xi = m.as_4d(x)
    oh, ow = int(g.tensors[y].shape[0]), int(g.tensors[y].shape[1])
    if ph == pw == 0:
        padding = S.Padding.VALID
    elif all(_same(size, d * (k - 1) + 1, s) == (out, p) for size, k, s, p, d, out in
             ((h, kh, sh, ph, dh, oh), (w, kw, sw, pw, dw, ow))):
        padding = S.Padding.SAME
    else:   # explicit PAD (int8 PAD fills with the zero point: (x - in_zp) * w = 0; float with 0) + VALID
        xi, padding = _pad(m, op, xi, ph, ph, pw, pw), S.Padding.VALID
    depthwise = group > 1 and group == in_c
    if depthwise:   # (O, KH, KW, 1) -> (1, KH, KW, O), one scale per output channel (dimension 3)
        return xi, padding, True, weight.transpose(3, 1, 2, 0), 3
    return xi, padding, False, weight, 0     # grouped: TFLM's CONV_2D reads groups from in_c / filter depth


def _conv_op(m, op, depthwise, padding, ins, act):
    """The CONV_2D or DEPTHWISE_CONV_2D operator of IR conv2d `op` on tensor indices `ins`."""
    g, a = m.g, op.attrs
    (sh, sw), (dh, dw) = pair(a["stride"]), pair(a.get("dilation", 1))
    yi = m.activation(op.outputs[0], _shape4(g, op.outputs[0]))
    if depthwise:
        o, in_c = int(g.tensors[op.outputs[0]].shape[2]), int(g.tensors[op.inputs[0]].shape[2])
        m.add_op(S.BuiltinOperator.DEPTHWISE_CONV_2D, ins, [yi], S.BuiltinOptions.DepthwiseConv2DOptions,
                 (S.DepthwiseConv2DOptions, [
                     (S.DepthwiseConv2DOptions.PADDING, "i8", padding), (S.DepthwiseConv2DOptions.STRIDE_W, "i32", sw),
                     (S.DepthwiseConv2DOptions.STRIDE_H, "i32", sh),
                     (S.DepthwiseConv2DOptions.DEPTH_MULTIPLIER, "i32", o // in_c),
                     (S.DepthwiseConv2DOptions.FUSED_ACTIVATION_FUNCTION, "i8", act),
                     (S.DepthwiseConv2DOptions.DILATION_W_FACTOR, "i32", dw),
                     (S.DepthwiseConv2DOptions.DILATION_H_FACTOR, "i32", dh)]))
    else:
        m.add_op(S.BuiltinOperator.CONV_2D, ins, [yi], S.BuiltinOptions.Conv2DOptions,
                 (S.Conv2DOptions, [
                     (S.Conv2DOptions.PADDING, "i8", padding), (S.Conv2DOptions.STRIDE_W, "i32", sw),
                     (S.Conv2DOptions.STRIDE_H, "i32", sh), (S.Conv2DOptions.FUSED_ACTIVATION_FUNCTION, "i8", act),
                     (S.Conv2DOptions.DILATION_W_FACTOR, "i32", dw), (S.Conv2DOptions.DILATION_H_FACTOR, "i32", dh)]))


def _conv2d(m, op):
    g = m.g
    x, y = op.inputs[0], op.outputs[0]
    weight = _param(op, "weight", np.int8)
    xi, padding, depthwise, wt, qdim = _conv_layout(m, op, weight)
    o = weight.shape[0]
    s_in, z_in = _quant(g, x)
    s_out, z_out = _quant(g, y)
    _check_zero_points(op, z_in, z_out)
    w_scale = _param(op, "weight_scale", np.float32)
    mult, shift = conv_multipliers(s_in, w_scale, s_out, o)
    _check_equal(op, "out_mult", _param(op, "out_mult", np.int32), mult)
    _check_equal(op, "out_shift", _param(op, "out_shift", np.int32), shift)
    act = _fused_activation(op, s_out, z_out)
    w_q = {"scale": w_scale, "zero_point": np.zeros(len(w_scale), np.int64), "dim": qdim}
    wi = m.add_tensor(f"{op.name}/weight", wt.shape, S.TensorType.INT8, w_q, data=wt)
    bi = _bias_tensor(m, op, s_in, w_scale, o)
    _conv_op(m, op, depthwise, padding, [xi, wi, bi], act)


def _pad(m, op, xi, top, bottom, left, right, value=None):
    """A PAD op before `op` ([1, H, W, C] -> [1, H + top + bottom, W + left + right, C], same
    quantization): filled with the zero point (TFLM's int8 PAD; 0.0 in float), or PADV2 with `value`;
    returns the padded tensor."""
    _, h, w, c = m.tensors[xi]["shape"]
    quant = m.tensors[xi]["quant"]
    ttype = m.tensors[xi]["type"]
    padded = m.add_tensor(f"{op.name}/pad", [1, h + top + bottom, w + left + right, c], ttype, quant)
    pads = m.add_tensor(f"{op.name}/paddings", [4, 2], S.TensorType.INT32,
                        data=np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32))
    if value is None:
        m.add_op(S.BuiltinOperator.PAD, [xi, pads], [padded], S.BuiltinOptions.PadOptions, (S.PadOptions, []))
    else:   # TFLM wants the constant's (scale, zero point) equal to the output's
        dtype = np.float32 if ttype == S.TensorType.FLOAT32 else np.int8
        const = m.add_tensor(f"{op.name}/pad_value", [], ttype, quant, data=np.array([value], dtype))
        m.add_op(S.BuiltinOperator.PADV2, [xi, pads, const], [padded], S.BuiltinOptions.PadV2Options,
                 (S.PadV2Options, []))
    return padded


def _check_zero_points(op, z_in, z_out):
    for key, z in (("in_zp", z_in), ("out_zp", z_out)):
        if int(_attr(op, key)) != z:
            _fail(op, f"attribute {key} = {int(op.attrs[key])} but the tensor's zero point is {z}",
                  expected="the zero points of the op's tensors")


def _bias_tensor(m, op, s_in, w_scale, o):
    """int32 bias at scale s_in * s_w (per channel like the weights), zero point 0."""
    bias = _param(op, "bias", np.int32)
    if bias.shape != (o,):
        _fail(op, f"bias of shape {list(bias.shape)}", expected=f"[{o}]")
    scales = (np.float64(np.float32(s_in)) * np.asarray(w_scale, np.float64)).astype(np.float32)
    q = {"scale": scales, "zero_point": np.zeros(len(scales), np.int64), "dim": 0}
    return m.add_tensor(f"{op.name}/bias", [o], S.TensorType.INT32, q, data=bias)


def _fully_connected(m, op):
    g = m.g
    x, y = op.inputs[0], op.outputs[0]
    weight = _param(op, "weight", np.int8)
    if weight.ndim != 2 or weight.shape[1] != g.tensors[x].size:
        _fail(op, f"weight of shape {list(weight.shape)} for an input of {g.tensors[x].size} values",
              expected=f"(outputs, {g.tensors[x].size})")
    o, n = weight.shape
    s_in, z_in = _quant(g, x)
    s_out, z_out = _quant(g, y)
    _check_zero_points(op, z_in, z_out)
    w_scale = _param(op, "weight_scale", np.float32)
    mult, shift = conv_multipliers(s_in, w_scale, s_out, o)
    _check_equal(op, "out_mult", _param(op, "out_mult", np.int32), mult)
    _check_equal(op, "out_shift", _param(op, "out_shift", np.int32), shift)
    act = _fused_activation(op, s_out, z_out)
    w_q = {"scale": w_scale, "zero_point": np.zeros(len(w_scale), np.int64), "dim": 0}
    wi = m.add_tensor(f"{op.name}/weight", [o, n], S.TensorType.INT8, w_q, data=weight)
    bi = _bias_tensor(m, op, s_in, w_scale, o)
    _fc_op(m, op, wi, bi, act)


def _fc_op(m, op, wi, bi, act):
    """FULLY_CONNECTED of `op` (any input rank: TFLM reads it flat in HWC order, as the IR does)."""
    o = int(m.g.tensors[op.outputs[0]].shape[2])
    xi, yi = m.index[op.inputs[0]], m.activation(op.outputs[0], [1, o])
    m.add_op(S.BuiltinOperator.FULLY_CONNECTED, [xi, wi, bi], [yi], S.BuiltinOptions.FullyConnectedOptions,
             (S.FullyConnectedOptions, [(S.FullyConnectedOptions.FUSED_ACTIVATION_FUNCTION, "i8", act),
                                        (S.FullyConnectedOptions.WEIGHTS_FORMAT, "i8", 0),
                                        (S.FullyConnectedOptions.KEEP_NUM_DIMS, "bool", False)]))


def _pool(m, op):
    if op.attrs.get("tflite_mean"):
        return _mean(m, op)
    g = m.g
    x, y = op.inputs[0], op.outputs[0]
    _same_params(m, op)
    s_out, z_out = _quant(g, y)
    act = _fused_activation(op, s_out, z_out)
    h, w, _ = (int(s) for s in g.tensors[x].shape)
    if op.type == "avg_pool" and _pool_plan(op, h, w)[0] is not None:   # golden counts padding cells as in_zp: PAD writes the zero point
        _check_equal(op, "in_zp", [_attr(op, "in_zp")], [_quant(g, x)[1]])
    _pool_op(m, op, act, QMIN)


def _mean(m, op):
    """An imported int8 MEAN (avg_pool marked tflite_mean) back to MEAN over axes 1, 2 (keep_dims),
    its integers checked against the ones TFLM derives from the two quantizations."""
    from ..quantize.int8.ops.pool import mean_multiplier
    g = m.g
    x, y = op.inputs[0], op.outputs[0]
    (s_in, z_in), (s_out, z_out) = _quant(g, x), _quant(g, y)
    h, w, _ = (int(s) for s in g.tensors[x].shape)
    if (int(_attr(op, "act_min")), int(_attr(op, "act_max"))) != (QMIN, QMAX):
        _fail(op, f"clamp [{op.attrs['act_min']}, {op.attrs['act_max']}] on a MEAN", expected="none (TFLite's MEAN)")
    _check_equal(op, "in_zp, out_zp", [_attr(op, "in_zp"), _attr(op, "out_zp")], [z_in, z_out])
    _check_equal(op, "mean_mult, mean_shift", [_attr(op, "mean_mult"), _attr(op, "mean_shift")],
                 mean_multiplier(float(s_in) / float(s_out), h * w))
    axes = m.add_tensor(f"{op.name}/axes", [2], S.TensorType.INT32, data=np.array([1, 2], np.int32))
    m.add_op(S.BuiltinOperator.MEAN, [m.as_4d(x), axes], [m.activation(y, _shape4(g, y))],
             S.BuiltinOptions.ReducerOptions, (S.ReducerOptions, [(S.ReducerOptions.KEEP_DIMS, "bool", True)]))


def _pool_op(m, op, act, low):
    """MAX_POOL_2D / AVERAGE_POOL_2D with Caffe's windows: padded first where _pool_plan says (PAD's
    zero for an average, PADV2 with `low`, never above a real maximum, for a max pool)."""
    g = m.g
    x, y = op.inputs[0], op.outputs[0]
    h, w, _ = (int(s) for s in g.tensors[x].shape)
    pad, padding = _pool_plan(op, h, w)
    (kh, kw), (sh, sw) = pair(op.attrs["kernel"]), pair(op.attrs["stride"])
    code = S.BuiltinOperator.MAX_POOL_2D if op.type == "max_pool" else S.BuiltinOperator.AVERAGE_POOL_2D
    xi = m.as_4d(x)
    if pad is not None:
        xi = _pad(m, op, xi, *pad, value=None if op.type == "avg_pool" else low)
    m.add_op(code, [xi], [m.activation(y, _shape4(g, y))], S.BuiltinOptions.Pool2DOptions,
             (S.Pool2DOptions, [(S.Pool2DOptions.PADDING, "i8", padding), (S.Pool2DOptions.STRIDE_W, "i32", sw),
                                (S.Pool2DOptions.STRIDE_H, "i32", sh), (S.Pool2DOptions.FILTER_WIDTH, "i32", kw),
                                (S.Pool2DOptions.FILTER_HEIGHT, "i32", kh),
                                (S.Pool2DOptions.FUSED_ACTIVATION_FUNCTION, "i8", act)]))


def _relu(m, op):
    if float(op.attrs.get("negative_slope", 0.0)) != 0.0:
        _fail(op, f"negative_slope {op.attrs['negative_slope']}", expected="0 (TFLite's RELU)")
    _same_params(m, op)
    s, z = _quant(m.g, op.outputs[0])
    if (int(_attr(op, "act_min")), int(_attr(op, "act_max"))) != activation_range("RELU", s, z):
        _fail(op, f"clamp [{op.attrs['act_min']}, {op.attrs['act_max']}]",
              expected=f"{list(activation_range('RELU', s, z))}, TFLite's RELU")
    xi = m.index[op.inputs[0]]
    m.add_op(S.BuiltinOperator.RELU, [xi], [m.activation(op.outputs[0], m.tensors[xi]["shape"])])


# the options of the operators whose TFLM kernels clamp to their fused activation
_FUSING = (S.Conv2DOptions, S.DepthwiseConv2DOptions, S.FullyConnectedOptions, S.Pool2DOptions, S.AddOptions,
           S.MulOptions)


def _clip(m, op):
    """A clamp on the output of the operator just written (the frontend imports a fused RELU6 or
    RELU_N1_TO_1 as the op + clip): fused back into that operator's activation, which was NONE,
    when only this clip reads the tensor and the clamp is the activation's at the shared (scale,
    zero point); anything else is refused naming the layer."""
    _same_params(m, op)
    s, z = _quant(m.g, op.outputs[0])
    want = (int(_attr(op, "act_min")), int(_attr(op, "act_max")))
    act = next((code for name, code in _ACTIVATIONS if activation_range(name, s, z) == want), None)
    x = op.inputs[0]
    readers = [o.name for o in m.g.ops if x in o.inputs]
    last = m.ops[-1] if m.ops else None
    fields = last[4][1] if last and last[4] and last[4][0] in _FUSING and m.index[x] in last[2] else []
    fused = [k for k, (f, _, v) in enumerate(fields) if f == last[4][0].FUSED_ACTIVATION_FUNCTION
             and v == S.ActivationFunctionType.NONE]
    if act is None or readers != [op.name] or x in m.g.outputs or not fused:
        _fail(op, f"clamp [{want[0]}, {want[1]}] on '{x}'", expected="a clamp that is TFLite's RELU, RELU6 or "
              "RELU_N1_TO_1 at the output's (scale, zero point), on the output of the op just before it, "
              "read by nothing else and written without a fused activation (it becomes that op's)")
    f, t, _ = fields[fused[0]]
    fields[fused[0]] = (f, t, act)
    m.index[op.outputs[0]] = m.index[x]


def _fixed_output(code, options=None):
    def lower(m, op):
        want = _FIXED_OUTPUT[op.type]
        have = _quant(m.g, op.outputs[0])
        if have != (float(np.float32(want[0])), want[1]):
            _fail(op, f"output quantization {have}", expected=f"{want}, fixed by TFLite for this op")
        xi = m.index[op.inputs[0]]
        yi = m.activation(op.outputs[0], m.tensors[xi]["shape"])
        m.add_op(code, [xi], [yi], *(options or ()))
    return lower


def _same_rank(m, names):
    """Input indices with one rank: all as they are when equal, else all as [1, H, W, C]."""
    if len({len(m.shape(n)) for n in names}) == 1:
        return [m.index[n] for n in names]
    return [m.as_4d(n) for n in names]


def add_multipliers(s1, s2, s_out, left_shift=20):
    """TFLM's int8 ADD parameters from the three scales (twice the larger input scale, in double)."""
    twice_max = 2 * max(float(np.float32(s1)), float(np.float32(s2)))
    m1 = quantize_multiplier(float(np.float32(s1)) / twice_max)
    m2 = quantize_multiplier(float(np.float32(s2)) / twice_max)
    mo = quantize_multiplier(twice_max / ((1 << left_shift) * float(np.float32(s_out))))
    return m1, m2, mo


def _add(m, op):
    g = m.g
    if len(op.inputs) != 2:
        _fail(op, f"{len(op.inputs)} inputs", expected="2 (TFLite's ADD)")
    (s1, z1), (s2, z2) = _quant(g, op.inputs[0]), _quant(g, op.inputs[1])
    s_out, z_out = _quant(g, op.outputs[0])
    m1, m2, mo = add_multipliers(s1, s2, s_out, int(_attr(op, "left_shift")))
    _check_equal(op, "in_zp", _attr(op, "in_zp"), [z1, z2])
    _check_equal(op, "in_mult", _attr(op, "in_mult"), [m1[0], m2[0]])
    _check_equal(op, "in_shift", _attr(op, "in_shift"), [m1[1], m2[1]])
    _check_equal(op, "left_shift", [_attr(op, "left_shift")], [20])
    _check_equal(op, "out_mult", [_attr(op, "out_mult")], [mo[0]])
    _check_equal(op, "out_shift", [_attr(op, "out_shift")], [mo[1]])
    _check_equal(op, "out_zp", [_attr(op, "out_zp")], [z_out])
    act = _fused_activation(op, s_out, z_out)
    ins = _same_rank(m, op.inputs)
    yi = m.activation(op.outputs[0], m.tensors[ins[0]]["shape"])
    m.add_op(S.BuiltinOperator.ADD, ins, [yi], S.BuiltinOptions.AddOptions,
             (S.AddOptions, [(S.AddOptions.FUSED_ACTIVATION_FUNCTION, "i8", act)]))


def _channel_affine(m, op):
    """An int8 channel_affine is a MUL or an ADD by an int8 constant tensor of the shape it was
    imported with (one value, [C] or [1, 1, 1, C]), quantized per tensor."""
    g = m.g
    kind = _attr(op, "affine")
    if kind not in ("mul", "add"):
        _fail(op, f"affine '{kind}'", expected="mul or add (TFLite's MUL / ADD by a constant)")
    (s_in, z_in), (s_out, z_out) = _quant(g, op.inputs[0]), _quant(g, op.outputs[0])
    s_k, z_k = float(np.float32(_attr(op, "k_scale"))), int(_attr(op, "k_zp"))
    k = _param(op, "const", np.int8)
    shape = [int(d) for d in _attr(op, "const_shape")]
    c = int(g.tensors[op.inputs[0]].shape[2])
    if k.ndim != 1 or len(k) not in (1, c) or int(np.prod(shape, dtype=np.int64)) != len(k) \
            or (len(k) > 1 and shape[-1:] != [c]):
        _fail(op, f"constant of {k.size} values, shape {shape}", expected=f"one value or {c} on the last axis")
    _check_equal(op, "in_zp", [_attr(op, "in_zp")], [z_in])
    _check_equal(op, "out_zp", [_attr(op, "out_zp")], [z_out])
    if kind == "mul":
        _check_equal(op, "out_mult/out_shift", [_attr(op, "out_mult"), _attr(op, "out_shift")],
                     mul_multiplier(s_in, s_k, s_out))
    else:
        m1, m2, mo = add_multipliers(s_in, s_k, s_out, int(_attr(op, "left_shift")))
        _check_equal(op, "in_mult", _attr(op, "in_mult"), [m1[0], m2[0]])
        _check_equal(op, "in_shift", _attr(op, "in_shift"), [m1[1], m2[1]])
        _check_equal(op, "left_shift", [_attr(op, "left_shift")], [20])
        _check_equal(op, "out_mult/out_shift", [_attr(op, "out_mult"), _attr(op, "out_shift")], mo)
    act = _fused_activation(op, s_out, z_out)
    xi = m.index[op.inputs[0]]
    ki = m.add_tensor(f"{op.name}/const", shape, S.TensorType.INT8, _per_tensor(s_k, z_k), data=k.reshape(shape))
    yi = m.activation(op.outputs[0], m.tensors[xi]["shape"])
    code, opts = (S.BuiltinOperator.MUL, S.MulOptions) if kind == "mul" else (S.BuiltinOperator.ADD, S.AddOptions)
    m.add_op(code, [xi, ki], [yi], getattr(S.BuiltinOptions, opts.__name__),
             (opts, [(opts.FUSED_ACTIVATION_FUNCTION, "i8", act)]))


def _concat(m, op):
    """CONCATENATION on the last axis; TFLM's int8 concat does not requantize, so an input with
    another (scale, zp) than the output goes through an int8 -> int8 QUANTIZE first."""
    g = m.g
    s_out, z_out = _quant(g, op.outputs[0])
    requant = [bool(r) for r in _attr(op, "requant")]
    for key in ("requant", "in_zp", "in_mult", "in_shift"):
        if len(_attr(op, key)) != len(op.inputs):
            _fail(op, f"{len(op.attrs[key])} entries of '{key}' for {len(op.inputs)} inputs", expected="one per input")
    _check_equal(op, "out_zp", [_attr(op, "out_zp")], [z_out])
    ins = _same_rank(m, op.inputs)
    for k, (name, idx) in enumerate(zip(op.inputs, ins)):
        s, z = _quant(g, name)
        if not requant[k]:
            if (s, z) != (s_out, z_out):
                _fail(op, f"input {k} ('{name}') is copied without requantization but has quantization "
                          f"{(s, z)}", expected=f"the output's {(s_out, z_out)}")
            continue
        mult, shift = quantize_multiplier(float(np.float32(s)) / float(np.float32(s_out)))
        _check_equal(op, f"in_zp[{k}]", [_attr(op, "in_zp")[k]], [z])
        _check_equal(op, f"in_mult[{k}]", [_attr(op, "in_mult")[k]], [mult])
        _check_equal(op, f"in_shift[{k}]", [_attr(op, "in_shift")[k]], [shift])
        rq = f"{op.outputs[0]}/requant{k}"
        m.add_tensor(rq, m.tensors[idx]["shape"], S.TensorType.INT8, _per_tensor(s_out, z_out))
        m.add_op(S.BuiltinOperator.QUANTIZE, [idx], [m.index[rq]], S.BuiltinOptions.QuantizeOptions,
                 (S.QuantizeOptions, []))
        ins[k] = m.index[rq]
    shape = list(m.tensors[ins[0]]["shape"])
    shape[-1] = int(g.tensors[op.outputs[0]].shape[2])
    yi = m.activation(op.outputs[0], shape)
    m.add_op(S.BuiltinOperator.CONCATENATION, ins, [yi], S.BuiltinOptions.ConcatenationOptions,
             (S.ConcatenationOptions, [(S.ConcatenationOptions.AXIS, "i32", len(shape) - 1),
                                       (S.ConcatenationOptions.FUSED_ACTIVATION_FUNCTION, "i8", 0)]))


LOWER = {
    "conv2d": _conv2d,
    "fully_connected": _fully_connected,
    "max_pool": _pool,
    "avg_pool": _pool,
    "relu": _relu,
    "clip": _clip,
    "add": _add,
    "channel_affine": _channel_affine,
    "concat": _concat,
    "sigmoid": _fixed_output(S.BuiltinOperator.LOGISTIC),
    "tanh": _fixed_output(S.BuiltinOperator.TANH),
    "softmax": _fixed_output(S.BuiltinOperator.SOFTMAX, (S.BuiltinOptions.SoftmaxOptions,
                                                         (S.SoftmaxOptions, [(S.SoftmaxOptions.BETA, "f32", 1.0)]))),
}


# -- the float writer: the import step's float graph as a float32 model ----------------------

_FLOAT_ACT = {"none": S.ActivationFunctionType.NONE, "relu": S.ActivationFunctionType.RELU}
_CLIPS = {(0.0, 6.0): S.BuiltinOperator.RELU6}   # TFLite Micro has no RELU_N1_TO_1 kernel: not written


def _float_act(op):
    """The fused activation of a float op's `activation` attribute (set by the fuse_activation pass)."""
    act = op.attrs.get("activation", "none")
    if act not in _FLOAT_ACT:
        _fail(op, f"activation '{act}'", expected="none or relu (TFLite's fused activations)")
    return _FLOAT_ACT[act]


def _float_array(op, key, shape=None):
    arr = op.params.get(key)
    if arr is None or np.asarray(arr).dtype.kind != "f" or (shape is not None and np.shape(arr) != tuple(shape)) \
            or not np.isfinite(arr).all():      # TFLite readers (ours too) refuse NaN and infinity
        have = "missing" if arr is None else f"{np.asarray(arr).dtype} {list(np.shape(arr))}"
        _fail(op, f"param '{key}' is {have}", expected="finite float32" + (f" {list(shape)}" if shape else ""))
    return np.ascontiguousarray(arr, np.float32)


def _float_weights(m, op, weight, wt):
    """FLOAT32 filter (TFLite layout `wt`) and bias tensors of a conv2d / fully_connected."""
    o = weight.shape[0]
    bias = _float_array(op, "bias", (o,))
    wi = m.add_tensor(f"{op.name}/weight", wt.shape, S.TensorType.FLOAT32, data=wt)
    return wi, m.add_tensor(f"{op.name}/bias", [o], S.TensorType.FLOAT32, data=bias)


def _float_conv2d(m, op):
    weight = _float_array(op, "weight")
    xi, padding, depthwise, wt, _ = _conv_layout(m, op, weight)
    _conv_op(m, op, depthwise, padding, [xi, *_float_weights(m, op, weight, wt)], _float_act(op))


def _float_fully_connected(m, op):
    weight = _float_array(op, "weight")
    n = m.g.tensors[op.inputs[0]].size
    if weight.ndim != 2 or weight.shape[1] != n:
        _fail(op, f"weight of shape {list(weight.shape)} for an input of {n} values", expected=f"(outputs, {n})")
    _fc_op(m, op, *_float_weights(m, op, weight, weight), _float_act(op))


def _float_pool(m, op):
    _pool_op(m, op, _float_act(op), np.finfo(np.float32).min)    # the lowest float32: a max pool's padding never wins


def _float_relu(m, op):
    if float(op.attrs.get("negative_slope", 0.0)) != 0.0:
        _fail(op, f"negative_slope {op.attrs['negative_slope']}", expected="0 (TFLite's RELU)")
    _float_unary(S.BuiltinOperator.RELU)(m, op)


def _float_clip(m, op):
    bounds = (float(op.attrs.get("min")), float(op.attrs.get("max")))
    if bounds not in _CLIPS:
        _fail(op, f"clip to [{bounds[0]}, {bounds[1]}]", expected="[0, 6] (RELU6; TFLite Micro runs no other clip)")
    _float_unary(_CLIPS[bounds])(m, op)


def _float_unary(code, options=None):
    def lower(m, op):
        xi = m.index[op.inputs[0]]
        m.add_op(code, [xi], [m.activation(op.outputs[0], m.tensors[xi]["shape"])], *(options or ()))
    return lower


def _float_add(m, op):
    if len(op.inputs) != 2:
        _fail(op, f"{len(op.inputs)} inputs", expected="2 (TFLite's ADD)")
    ins = _same_rank(m, op.inputs)
    m.add_op(S.BuiltinOperator.ADD, ins, [m.activation(op.outputs[0], m.tensors[ins[0]]["shape"])],
             S.BuiltinOptions.AddOptions, (S.AddOptions, [(S.AddOptions.FUSED_ACTIVATION_FUNCTION, "i8", _float_act(op))]))


def _float_channel_affine(m, op):
    """MUL by the per-channel constant, ADD of it, or both (MUL then ADD: TFLite has no single op
    for it, so the file re-imports as two channel_affine ops computing the same values)."""
    c = int(m.g.tensors[op.inputs[0]].shape[2])
    mul, add = _float_array(op, "mul", (c,)), _float_array(op, "add", (c,))
    xi = m.index[op.inputs[0]]
    shape = m.tensors[xi]["shape"]
    steps = [(S.BuiltinOperator.MUL, S.MulOptions, "mul", mul)] if (mul != 1).any() or not add.any() else []
    steps += [(S.BuiltinOperator.ADD, S.AddOptions, "add", add)] if add.any() else []
    for k, (code, opts, role, values) in enumerate(steps):
        ki = m.add_tensor(f"{op.name}/{role}", [c], S.TensorType.FLOAT32, data=values)
        yi = m.activation(op.outputs[0], shape) if k == len(steps) - 1 else \
            m.add_tensor(f"{op.outputs[0]}/{role}", shape, S.TensorType.FLOAT32)
        m.add_op(code, [xi, ki], [yi], getattr(S.BuiltinOptions, opts.__name__),
                 (opts, [(opts.FUSED_ACTIVATION_FUNCTION, "i8", S.ActivationFunctionType.NONE)]))
        xi = yi


def _float_concat(m, op):
    ins = _same_rank(m, op.inputs)
    shape = list(m.tensors[ins[0]]["shape"])
    shape[-1] = int(m.g.tensors[op.outputs[0]].shape[2])
    m.add_op(S.BuiltinOperator.CONCATENATION, ins, [m.activation(op.outputs[0], shape)],
             S.BuiltinOptions.ConcatenationOptions,
             (S.ConcatenationOptions, [(S.ConcatenationOptions.AXIS, "i32", len(shape) - 1),
                                       (S.ConcatenationOptions.FUSED_ACTIVATION_FUNCTION, "i8", _float_act(op))]))


FLOAT_LOWER = {
    "conv2d": _float_conv2d,
    "fully_connected": _float_fully_connected,
    "max_pool": _float_pool,
    "avg_pool": _float_pool,
    "relu": _float_relu,
    "clip": _float_clip,
    "add": _float_add,
    "channel_affine": _float_channel_affine,
    "concat": _float_concat,
    "sigmoid": _float_unary(S.BuiltinOperator.LOGISTIC),
    "tanh": _float_unary(S.BuiltinOperator.TANH),
    "softmax": _float_unary(S.BuiltinOperator.SOFTMAX, (S.BuiltinOptions.SoftmaxOptions,
                                                        (S.SoftmaxOptions, [(S.SoftmaxOptions.BETA, "f32", 1.0)]))),
}


def description(g, is_float=False):
    if is_float:
        text = (f"nnbuild float export of model '{g.name}'. Input: the float32 tensor that nnbuild's input stage "
                "produces from uint8 pixels, (pixels - mean) * scale; the input stage itself is not part of this model.")
    else:
        text = (f"nnbuild int8 export of model '{g.name}'. Input: the int8 tensor that nnbuild's input stage "
                "produces from uint8 pixels (pixels - mean) * scale, quantized with the input tensor's scale and "
                "zero point; the input stage itself is not part of this model.")
    if g.meta.get("output_softmax"):
        text += " Output: the logits; the model's final softmax was removed by nnbuild's pipeline."
    return text


def build_model(qgraph):
    """The _Model of a quantized graph (checks the graph; no bytes yet)."""
    g = qgraph
    scheme = (g.meta.get("quantization") or {}).get("scheme")
    if scheme != SCHEME:
        raise NnbuildError(f"the model is quantized with scheme '{scheme}'" if scheme else "the model is not quantized",
                           where=f"model '{g.name}'", expected="a model quantized with scheme int8 "
                           "(manifest: quantization: {scheme: int8})")
    return _lower_all(_Model(g), LOWER)


def build_float_model(graph):
    """The _Model of a float graph (the import step's, before quantization)."""
    if "quantization" in graph.meta:
        raise NnbuildError("the model is quantized", where=f"model '{graph.name}'",
                           expected="a float graph (the import step's graph.json / graph.npz)")
    return _lower_all(_Model(graph, is_float=True), FLOAT_LOWER)


def _lower_all(m, table):
    """Every op after the input stage through `table` (op type -> lowering), in graph order."""
    g = m.g
    first = g.ops[0] if g.ops else None
    if first is None or first.type != "input_stage" or first.inputs != [g.input]:
        raise NnbuildError("the graph does not start with its input_stage", where=f"model '{g.name}'",
                           expected="one input_stage op reading the pixel input")
    m.activation(first.outputs[0], _shape4(g, first.outputs[0]))
    for op in g.ops[1:]:
        lower = table.get(op.type)
        if lower is None:
            _fail(op, f"op type '{op.type}' cannot be exported to {'a float' if m.is_float else 'an int8'} .tflite",
                  expected="one of " + ", ".join(("input_stage",) + tuple(sorted(table))))
        for name in op.inputs:
            if name not in m.index:
                _fail(op, f"input '{name}' is not produced before it is used", expected="ops in execution order")
        lower(m, op)
    for name in g.outputs:
        if name not in m.index:
            raise NnbuildError(f"graph output '{name}' is never produced", where=f"model '{g.name}'")
    m.inputs = [m.index[first.outputs[0]]]
    m.outputs = [m.index[name] for name in g.outputs]
    return m


# -- serialisation ---------------------------------------------------------------------------

def _vector(b, array, dtype, align=None):
    arr = np.ascontiguousarray(np.asarray(array, dtype).ravel()).astype(np.dtype(dtype).newbyteorder("<"))
    data = arr.tobytes()
    b.StartVector(arr.itemsize, len(arr), align or arr.itemsize)
    b.head = b.head - len(data)
    b.Bytes[b.head:b.head + len(data)] = data
    return b.EndVector()


def _offsets(b, offs):
    b.StartVector(4, len(offs), 4)
    for o in reversed(offs):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


_SLOT_WRITERS = {
    "i8": lambda b, s, v: b.PrependInt8Slot(s, int(v), 0),
    "i32": lambda b, s, v: b.PrependInt32Slot(s, int(v), 0),
    "bool": lambda b, s, v: b.PrependBoolSlot(s, bool(v), False),
    "f32": lambda b, s, v: b.PrependFloat32Slot(s, float(v), 0.0),
}


def _options(b, spec):
    table, fields = spec
    vecs = {slot: _vector(b, v, np.int32) for slot, kind, v in fields if kind == "ivec"}
    b.StartObject(table.SLOTS)
    for slot, kind, v in fields:
        if kind == "ivec":
            b.PrependUOffsetTRelativeSlot(slot, vecs[slot], 0)
        else:
            _SLOT_WRITERS[kind](b, slot, v)
    return b.EndObject()


def _quant_table(b, q):
    scale = _vector(b, q["scale"], np.float32)
    zp = _vector(b, q["zero_point"], np.int64)
    T = S.QuantizationParameters
    b.StartObject(T.SLOTS)
    b.PrependUOffsetTRelativeSlot(T.SCALE, scale, 0)
    b.PrependUOffsetTRelativeSlot(T.ZERO_POINT, zp, 0)
    b.PrependInt32Slot(T.QUANTIZED_DIMENSION, int(q["dim"]), 0)
    return b.EndObject()


def _tensor_table(b, t):
    name = b.CreateString(t["name"])
    shape = _vector(b, t["shape"], np.int32)
    quant = _quant_table(b, t["quant"]) if t["quant"] is not None else None
    T = S.Tensor
    b.StartObject(T.SLOTS)
    b.PrependUOffsetTRelativeSlot(T.SHAPE, shape, 0)
    b.PrependInt8Slot(T.TYPE, t["type"], 0)
    b.PrependUint32Slot(T.BUFFER, t["buffer"], 0)
    b.PrependUOffsetTRelativeSlot(T.NAME, name, 0)
    if quant is not None:
        b.PrependUOffsetTRelativeSlot(T.QUANTIZATION, quant, 0)
    return b.EndObject()


def _operator_table(b, op):
    ci, ins, outs, opt_type, opt = op
    opts = _options(b, opt) if opt is not None else None
    vin, vout = _vector(b, ins, np.int32), _vector(b, outs, np.int32)
    T = S.Operator
    b.StartObject(T.SLOTS)
    b.PrependUint32Slot(T.OPCODE_INDEX, ci, 0)
    b.PrependUOffsetTRelativeSlot(T.INPUTS, vin, 0)
    b.PrependUOffsetTRelativeSlot(T.OUTPUTS, vout, 0)
    if opts is not None:
        b.PrependUint8Slot(T.BUILTIN_OPTIONS_TYPE, opt_type, 0)
        b.PrependUOffsetTRelativeSlot(T.BUILTIN_OPTIONS, opts, 0)
    return b.EndObject()


def _opcode_table(b, code):
    T = S.OperatorCode
    b.StartObject(T.SLOTS)
    b.PrependInt8Slot(T.DEPRECATED_BUILTIN_CODE, min(code, S.PLACEHOLDER_FOR_GREATER_OP_CODES), 0)
    b.PrependInt32Slot(T.VERSION, 1, 0)
    b.PrependInt32Slot(T.BUILTIN_CODE, code, 0)
    return b.EndObject()


def _buffer_table(b, data):
    vec = _vector(b, np.frombuffer(data, np.uint8), np.uint8, BUFFER_ALIGN) if data else None
    b.StartObject(S.Buffer.SLOTS)
    if vec is not None:
        b.PrependUOffsetTRelativeSlot(S.Buffer.DATA, vec, 0)
    return b.EndObject()


def serialize(m):
    b = flatbuffers.Builder(1024)
    b.ForceDefaults(True)          # every written field explicit: no reliance on schema defaults
    buffers = _offsets(b, [_buffer_table(b, d) for d in m.buffers])
    tensors = _offsets(b, [_tensor_table(b, t) for t in m.tensors])
    operators = _offsets(b, [_operator_table(b, op) for op in m.ops])
    inputs, outputs = _vector(b, m.inputs, np.int32), _vector(b, m.outputs, np.int32)
    sg_name = b.CreateString(m.g.name)
    T = S.SubGraph
    b.StartObject(T.SLOTS)
    b.PrependUOffsetTRelativeSlot(T.TENSORS, tensors, 0)
    b.PrependUOffsetTRelativeSlot(T.INPUTS, inputs, 0)
    b.PrependUOffsetTRelativeSlot(T.OUTPUTS, outputs, 0)
    b.PrependUOffsetTRelativeSlot(T.OPERATORS, operators, 0)
    b.PrependUOffsetTRelativeSlot(T.NAME, sg_name, 0)
    subgraph = b.EndObject()
    subgraphs = _offsets(b, [subgraph])
    codes = _offsets(b, [_opcode_table(b, c) for c in sorted(m.codes, key=m.codes.get)])
    desc = b.CreateString(description(m.g, m.is_float))
    T = S.Model
    b.StartObject(T.SLOTS)
    b.PrependUint32Slot(T.VERSION, S.SCHEMA_VERSION, 0)
    b.PrependUOffsetTRelativeSlot(T.OPERATOR_CODES, codes, 0)
    b.PrependUOffsetTRelativeSlot(T.SUBGRAPHS, subgraphs, 0)
    b.PrependUOffsetTRelativeSlot(T.DESCRIPTION, desc, 0)
    b.PrependUOffsetTRelativeSlot(T.BUFFERS, buffers, 0)
    b.Finish(b.EndObject(), file_identifier=S.FILE_IDENTIFIER)
    return bytes(b.Output())


def export(qgraph):
    """The .tflite bytes of an int8-scheme quantized graph (deterministic)."""
    return serialize(build_model(qgraph))


def export_float(graph):
    """The float32 .tflite bytes of a float graph (deterministic): `nnbuild export --float`."""
    return serialize(build_float_model(graph))
