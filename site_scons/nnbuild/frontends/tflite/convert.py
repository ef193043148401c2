"""TFLite -> IR: one .tflite file -> a float ir.Graph, or, for a fully int8 model, the record of
its scales, zero points, weights and biases exactly as the file holds them (frontends/quantized.py;
the quantize step derives the rest as TFLite Micro does, quantize/int8/imported.py).

NHWC is the IR's HWC. Every TFLite value is tracked as one of:
  * an image: TFLite [1, H, W, C], the IR tensor (H, W, C);
  * a vector: TFLite [1, N], the IR tensor (1, 1, N) (what FULLY_CONNECTED makes);
  * a flattened image: a RESHAPE of an image to [1, N]; only FULLY_CONNECTED reads it (it reads
    its input flat in NHWC order, which is the IR's HWC order);
  * a padded image: a PAD's output, folded into the convolution or pooling reading it where the
    result is exactly the IR's symmetric padding (else refused);
  * a requantized image: an int8 -> int8 QUANTIZE that only a CONCATENATION reads (the IR's
    concat requantizes its inputs exactly as TFLM's QUANTIZE does).
QUANTIZE at the input and DEQUANTIZE at the outputs are the model's boundaries: the IR's input
stage produces the int8 input, and the application reads the int8 output with its scale and zero
point. Fused RELU is the conv / fully connected's activation (a RELU op after the others); RELU6
and RELU_N1_TO_1 are a clip. An unsupported operator or type is refused by name before anything
is written.
"""
import os
from dataclasses import dataclass

import numpy as np

from ... import ir, ops
from ... import tflite_schema as S
from ...errors import NnbuildError
from ..caffe.convert import load_mean
from . import reader
from .windows import conv_pad, pool_pad

B, T, A = S.BuiltinOperator, S.TensorType, S.ActivationFunctionType
MAX_VALUES = 1 << 24                  # per tensor, checked from its shape before any data is read
TYPE_NAMES = {v: k for k, v in vars(T).items() if not k.startswith("_")}


def op_name(code):
    return S.OPERATOR_NAMES[code] if 0 <= code < len(S.OPERATOR_NAMES) else f"builtin operator {code}"


@dataclass
class _Val:
    kind: str                         # "image" | "vector" | "flat" | "padded" | "requant"
    tensor: str                       # the IR tensor
    pads: tuple = (0, 0, 0, 0)        # padded: (top, bottom, left, right)
    pad_value: float = 0.0            # padded: the value of the padding cells (int8 or float)
    qout: tuple = None                # requant: the QUANTIZE's output (scale, zero point)


def load_tflite(path, input_shape=None, mean=None, scale=None, channel_order="RGB", name=None):
    """(graph, quantized): a validated float graph, or the record of a fully int8 model (its float
    structure with the file's scales, zero points and integers; frontends/quantized.py), which the
    quantize step turns into the int8 graph (quantize/int8/imported.py: from_record)."""
    from ..quantized import record

    path = os.fspath(path)
    m = reader.read_model(path)
    b = _Builder(m)
    try:
        b.check_types()
        b.refuse_unknown_operators()
        shape = b.add_input(input_shape, channel_order)
        b.graph.ops[0].params["mean"] = load_mean(mean, shape) if mean is not None else np.zeros(shape, np.float32)
        b.graph.ops[0].attrs["scale"] = float(1.0 if scale is None else scale)
        for op in m.operators:
            b.convert(op)
        g = b.finish()
        g.name = name or g.name
        g.meta["channel_order"] = "GRAY" if shape[2] == 1 else (channel_order or "RGB")
        if not b.quantized:
            return g.validate(), False
        return record(g, b.qparams, b.weights, "tflite").validate(), True
    except NnbuildError as e:
        if e.file is None:      # errors of the IR's shape rules name the op, not the file
            raise NnbuildError(e.message, file=path, where=e.where, expected=e.expected) from None
        raise


class _Builder:
    def __init__(self, model):
        self.m, self.path = model, model.path
        self.vals, self.used = {}, set()
        self.qparams, self.weights = {}, {}
        self.graph = ir.Graph(os.path.splitext(os.path.basename(model.path))[0], "", [])
        self.quantized = False
        self.consumers = {}
        for op in model.operators:
            for t in op.inputs:
                self.consumers.setdefault(t, []).append(op)
        self.producer = {t: op for op in model.operators for t in op.outputs}

    # -- errors and checks ---------------------------------------------------------------------
    def error(self, op, message, expected=None):
        where = f"operator {op.index} ({op_name(op.code) if op.code >= 0 else 'custom ' + op.custom})" \
            if op is not None else "model"
        return NnbuildError(message, file=self.path, where=where, expected=expected)

    def tname(self, i):
        t = self.m.tensors[i]
        return f"tensor {i} '{t.name}'"

    def check_types(self):
        """Refuse types and tensor features the IR has no exact form for, naming the tensor."""
        for t in self.m.tensors:
            where = f"tensor {t.index} '{t.name}'"
            if t.sparse or t.variable or t.external:
                raise NnbuildError("a sparse, variable or external tensor", file=self.path, where=where,
                                   expected="dense constant or activation tensors")
            if int(np.prod(t.shape, dtype=np.int64) if t.shape else 1) > MAX_VALUES or min(t.shape, default=1) < 0:
                raise NnbuildError(f"shape {list(t.shape)}", file=self.path, where=where,
                                   expected=f"at most {MAX_VALUES} values (2^24), no negative dimension")
            if t.signature is not None and any(s < 0 for s in t.signature[1:]):
                raise NnbuildError(f"dynamic shape (shape_signature {list(t.signature)})", file=self.path,
                                   where=where, expected="fixed dimensions (only the batch may be -1)")
            if t.type == T.FLOAT16:
                raise NnbuildError("float16 tensor (float16 weights)", file=self.path, where=where,
                                   expected="float32 or int8 weights (convert without float16 quantization)")
            if t.type == T.INT16:
                raise NnbuildError("int16 tensor (16-bit activations)", file=self.path, where=where,
                                   expected="int8 activations (TFLite's int8 scheme) or float32")
            if t.type not in (T.FLOAT32, T.INT8, T.INT32):
                raise NnbuildError(f"{TYPE_NAMES.get(t.type, t.type)} tensor", file=self.path, where=where,
                                   expected="FLOAT32 or INT8 tensors (INT32 for biases and shapes)")

    def refuse_unknown_operators(self):
        names = sorted({op_name(op.code) if op.code >= 0 else f"custom '{op.custom}'"
                        for op in self.m.operators if op.code not in _HANDLERS})
        if names:
            raise NnbuildError("unsupported TFLite operator(s) " + ", ".join(names), file=self.path,
                               expected="only " + ", ".join(sorted(op_name(c) for c in _HANDLERS)))

    def quant(self, i, op=None):
        """(scale, zero point) of int8 activation tensor i (one of each)."""
        t = self.m.tensors[i]
        q = t.quant
        if t.type != T.INT8 or q is None or len(q.scale) != 1 or len(q.zero_point) != 1:
            raise self.error(op, f"{self.tname(i)} ({TYPE_NAMES.get(t.type, t.type)}) has "
                                 f"{0 if q is None else len(q.scale)} scale(s)",
                             expected="an int8 activation with one scale and one zero point")
        return float(q.scale[0]), int(q.zero_point[0])

    def const(self, op, k, dtype, what, optional=False):
        """The constant input k of op (numpy array of its TFLite shape), or None."""
        i = op.inputs[k] if k < len(op.inputs) else -1
        if i == -1:
            if optional:
                return None
            raise self.error(op, f"no {what} input", expected=f"input {k}: {what}")
        t = self.m.tensors[i]
        if i in self.vals or i in self.producer or t.buffer == 0:
            raise self.error(op, f"{what} {self.tname(i)} is computed by the graph", expected=f"a constant {what}")
        want = {np.float32: T.FLOAT32, np.int8: T.INT8, np.int32: T.INT32}[dtype]
        if t.type != want:
            raise self.error(op, f"{what} {self.tname(i)} is {TYPE_NAMES.get(t.type, t.type)}",
                             expected=TYPE_NAMES[want] + (" (int8 activations need int8 weights)" if self.quantized
                                                          else " (float activations need float32 weights)"))
        arr = self.m.tensor_data(t, dtype, f"{self.tname(i)}")
        if dtype is np.float32 and not np.isfinite(arr).all():
            raise self.error(op, f"{what} {self.tname(i)} contains NaN or infinity", expected="finite values")
        return arr

    def data(self, op, k=0, kinds=("image", "vector")):
        i = op.inputs[k] if k < len(op.inputs) else -1
        v = self.vals.get(i)
        if v is None:
            raise self.error(op, f"input {k} ({self.tname(i) if i >= 0 else 'none'}) is not computed from the model's "
                                 "input" if i >= 0 else f"no input {k}",
                             expected="operators in execution order, reading the input or earlier outputs")
        if v.kind not in kinds:
            what = {"flat": "a flattened image (only FULLY_CONNECTED may read one)",
                    "padded": "a PAD output (foldable only into the convolution or pooling reading it)",
                    "requant": "an int8 QUANTIZE output (accepted only before a CONCATENATION)"}.get(v.kind, v.kind)
            raise self.error(op, f"input {k} ({self.tname(i)}) is {what}", expected=" or ".join(kinds))
        return v

    def shape(self, tensor):
        return self.graph.tensors[tensor].shape

    def fresh(self, base):
        base = base or "t"
        name, k = base, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    # -- building ------------------------------------------------------------------------------
    def add_op(self, op, op_type, inputs, attrs=None, params=None, out=None, kind=None, out_name=None):
        """Append an IR op computing TFLite tensor `out` (default: op's output 0); returns its IR name."""
        out = op.outputs[0] if out is None else out
        t = self.m.tensors[out]
        name = self.fresh(out_name or t.name or f"{op_name(op.code).lower()}_{op.index}")
        iop = ir.Op(name, op_type, list(inputs), [name], dict(attrs or {}), dict(params or {}))
        try:
            shape = ops.infer_shape(iop, [self.shape(x) for x in inputs])
        except NnbuildError as e:
            raise self.error(op, e.message, expected=e.expected) from None
        kind = kind or ("vector" if op_type == "fully_connected" else "image")
        want = (1, 1, shape[2]) if kind == "vector" else shape
        tfl = tuple(t.shape[1:]) if len(t.shape) == 4 else (1, 1) + tuple(t.shape[1:]) if len(t.shape) == 2 else None
        if out_name is None and (t.shape[:1] != (1,) or tfl != want):
            raise self.error(op, f"output {self.tname(out)} has shape {list(t.shape)}",
                             expected=f"{[1, *want] if kind == 'image' else [1, want[2]]} (what the IR computes)")
        self.graph.tensors[name] = ir.Tensor(name, shape)
        self.graph.ops.append(iop)
        if self.quantized:
            self.qparams[name] = self.quant(out, op)
        if out_name is None:
            self.vals[out] = _Val(kind, name)
        return name

    def add_input(self, given, channel_order):
        m = self.m
        if len(m.inputs) != 1:
            raise NnbuildError(f"the model has {len(m.inputs)} inputs", file=self.path, where="subgraph inputs",
                               expected="exactly one image input")
        i = m.inputs[0]
        t = m.tensors[i]
        where = f"input {self.tname(i)}"
        if len(t.shape) != 4 or t.shape[0] != 1 or t.type not in (T.FLOAT32, T.INT8):
            raise NnbuildError(f"input of shape {list(t.shape)} and type {TYPE_NAMES.get(t.type, t.type)}",
                               file=self.path, where=where, expected="an image [1, H, W, C] of FLOAT32 or INT8")
        shape = tuple(int(s) for s in t.shape[1:])
        if min(shape) <= 0:
            raise NnbuildError(f"input of shape {list(t.shape)}", file=self.path, where=where,
                               expected="positive H, W, C")
        if given is not None and tuple(int(s) for s in given) != shape:
            raise NnbuildError(f"the model's input is {list(shape)} (H, W, C) but the manifest says {list(given)}",
                               file=self.path, where=where, expected="the same shape in both, or leave input.shape out")
        order = "GRAY" if shape[2] == 1 else (channel_order or "RGB")
        if order not in ("RGB", "BGR", "GRAY") or (order == "GRAY") != (shape[2] == 1):
            raise NnbuildError(f"channel order {order!r} does not fit {shape[2]} input channels", file=self.path,
                               where=where, expected="an image input: RGB or BGR for 3 channels, GRAY for 1")
        start = i
        readers = self.consumers.get(i, [])
        if t.type == T.FLOAT32 and len(readers) == 1 and readers[0].code == B.QUANTIZE:
            start = readers[0].outputs[0]           # a float boundary: the QUANTIZE's int8 output
            self.boundary = readers[0]
        else:
            self.boundary = None
        self.quantized = m.tensors[start].type == T.INT8
        pixels = self.fresh("pixels")
        x = self.fresh(m.tensors[start].name or "input")
        self.graph.input = pixels
        self.graph.tensors[pixels] = ir.Tensor(pixels, shape, "uint8")
        self.graph.tensors[x] = ir.Tensor(x, shape)
        self.graph.ops.append(ir.Op(self.fresh("input_stage"), "input_stage", [pixels], [x], {"scale": 1.0}, {}))
        if self.quantized:
            self.qparams[x] = self.quant(start)
        self.vals[start] = _Val("image", x)
        return shape

    def convert(self, op):
        if op is self.boundary:
            return
        if not op.outputs or op.outputs[0] == -1:
            raise self.error(op, "operator without an output")
        for k in op.outputs:
            if self.m.tensors[k].type != (T.INT8 if self.quantized else T.FLOAT32) and op.code != B.DEQUANTIZE:
                raise self.error(op, f"output {self.tname(k)} is {TYPE_NAMES.get(self.m.tensors[k].type)}",
                                 expected="INT8 activations throughout (a fully int8 model)" if self.quantized
                                 else "FLOAT32 activations throughout (a float model)")
        _HANDLERS[op.code](self, op)

    def finish(self):
        outs = []
        for i in self.m.outputs:
            v = self.vals.get(i)
            if v is None:
                raise NnbuildError(f"graph output {self.tname(i)} is not computed from the input", file=self.path,
                                   expected="outputs computed by the model's operators")
            if v.kind not in ("image", "vector") and not (v.kind == "flat" and self.shape(v.tensor)[:2] == (1, 1)):
                raise NnbuildError(f"graph output {self.tname(i)} is a {v.kind} value", file=self.path,
                                   expected="an image or vector output")
            outs.append(v.tensor)
        if not outs or outs == [self.graph.ops[0].outputs[0]]:
            raise NnbuildError("the model computes nothing from its input", file=self.path,
                               expected="at least one operator after the input")
        self.graph.outputs = outs
        return self.graph

    def activation(self, op, act, before_name, kind):
        """A fused activation after an op computed into IR tensor `before_name`."""
        if act == A.RELU:
            self.add_op(op, "relu", [before_name], {"negative_slope": 0.0}, kind=kind)
        elif act in (A.RELU6, A.RELU_N1_TO_1):
            lo, hi = (0.0, 6.0) if act == A.RELU6 else (-1.0, 1.0)
            self.add_op(op, "clip", [before_name], {"min": lo, "max": hi}, kind=kind)
        else:
            raise self.error(op, f"fused activation {act}", expected="NONE, RELU, RELU6 or RELU_N1_TO_1")

    def with_activation(self, op, op_type, inputs, attrs, params=None, kind=None, act=None, relu_attr=False):
        """op_type computing op's output, then its fused activation (RELU as the `activation`
        attribute where the op has one); returns the op's IR name."""
        act = op.options.get("fused_activation_function", A.NONE) if act is None else act
        if act == A.NONE or (act == A.RELU and relu_attr):
            if relu_attr:
                attrs = {**attrs, "activation": "relu" if act == A.RELU else "none"}
            return self.add_op(op, op_type, inputs, attrs, params, kind=kind)
        if relu_attr:
            attrs = {**attrs, "activation": "none"}
        name = self.add_op(op, op_type, inputs, attrs, params, kind=kind,
                           out_name=f"{self.m.tensors[op.outputs[0]].name or op_type}/pre_act")
        self.activation(op, act, name, kind or ("vector" if op_type == "fully_connected" else "image"))
        return name


def _pair(op, a, b_):
    """(h, w) of two options, e.g. strides."""
    return int(op.options.get(a, 0)), int(op.options.get(b_, 0))


# -- operators ---------------------------------------------------------------------------------

def _conv_common(b, op, depthwise):
    x = b.data(op, kinds=("image", "padded"))
    h, w, c = b.shape(x.tensor)
    wt = b.const(op, 1, np.int8 if b.quantized else np.float32, "filter")
    if wt.ndim != 4:
        raise b.error(op, f"filter of shape {list(wt.shape)}", expected="a 4-D filter")
    if depthwise:
        if wt.shape[0] != 1 or wt.shape[3] % c:
            raise b.error(op, f"depthwise filter {list(wt.shape)} on {c} channels",
                          expected=f"[1, KH, KW, {c} x depth multiplier]")
        weight, group = wt.transpose(3, 1, 2, 0), c          # (1, KH, KW, O) -> (O, KH, KW, 1)
        qdim = 3
    else:
        if wt.shape[3] == 0 or c % wt.shape[3] or wt.shape[0] % (c // wt.shape[3]):
            raise b.error(op, f"filter {list(wt.shape)} on {c} channels",
                          expected="[O, KH, KW, C / groups] with O divisible by the groups")
        weight, group, qdim = wt, c // wt.shape[3], 0
    o, kh, kw = weight.shape[0], weight.shape[1], weight.shape[2]
    stride = _pair(op, "stride_h", "stride_w")
    dilation = _pair(op, "dilation_h", "dilation_w")
    if min(stride + dilation) < 1:
        raise b.error(op, f"strides {list(stride)}, dilations {list(dilation)}", expected="positive values")
    if x.kind == "padded" and x.pad_value != (b.qparams[x.tensor][1] if b.quantized else 0.0):
        raise b.error(op, f"the input is padded with {x.pad_value}", expected="the zero point (real 0)")
    pad, (eh, ew) = conv_pad(b, op, x, (kh, kw), stride, dilation)
    if eh or ew:                                             # zero taps in front (windows.conv_pad)
        weight = np.pad(weight, ((0, 0), (eh, 0), (ew, 0), (0, 0)))
        kh, kw = kh + eh, kw + ew
    attrs = {"kernel": (kh, kw), "stride": stride, "pad": pad, "dilation": dilation, "group": group}
    bias = b.const(op, 2, np.int32 if b.quantized else np.float32, "bias", optional=True)
    if bias is not None and bias.shape != (o,):
        raise b.error(op, f"bias of shape {list(bias.shape)}", expected=f"[{o}]")
    return _mac(b, op, "conv2d", x.tensor, attrs, weight, bias, o, qdim)


def _mac(b, op, op_type, x, attrs, weight, bias, o, qdim):
    if not b.quantized:
        params = {"weight": np.ascontiguousarray(weight, np.float32),
                  "bias": np.zeros(o, np.float32) if bias is None else bias.astype(np.float32)}
        return b.with_activation(op, op_type, [x], attrs, params, relu_attr=True)
    wt = b.m.tensors[op.inputs[1]]
    q = wt.quant
    if q is None or len(q.scale) not in (1, o) or (len(q.scale) > 1 and q.dim != qdim) \
            or np.any(q.zero_point != 0) or len(q.zero_point) not in (0, 1, len(q.scale)):
        raise b.error(op, f"filter {b.tname(op.inputs[1])} quantization: {0 if q is None else len(q.scale)} scale(s), "
                          f"dimension {None if q is None else q.dim}, zero points "
                          f"{[] if q is None else sorted(set(int(z) for z in q.zero_point))}",
                      expected=f"symmetric int8 weights (zero point 0), one scale per output channel "
                               f"(quantized dimension {qdim}) or one per tensor")
    weight = np.ascontiguousarray(weight)      # the IR's shape rule reads it; imported.build keeps it
    name = b.with_activation(op, op_type, [x], attrs, {"weight": weight}, relu_attr=True)
    b.weights[name] = (weight, np.zeros(o, np.int32) if bias is None else bias, q.scale)
    return name


def _conv(b, op):
    _conv_common(b, op, depthwise=False)


def _depthwise(b, op):
    _conv_common(b, op, depthwise=True)


def _fully_connected(b, op):
    x = b.data(op, kinds=("image", "vector", "flat"))
    wt = b.const(op, 1, np.int8 if b.quantized else np.float32, "weights")
    n = b.graph.tensors[x.tensor].size
    if x.kind == "image" and wt.ndim == 2 and wt.shape[1] == b.shape(x.tensor)[2] != n \
            and op.options.get("keep_num_dims") and len(b.m.tensors[op.outputs[0]].shape) == 4:
        return _pointwise(b, op, x, wt)
    if wt.ndim != 2 or wt.shape[1] != n:
        raise b.error(op, f"weights of shape {list(wt.shape)} for an input of {n} values", expected=f"[O, {n}]")
    o = wt.shape[0]
    bias = _fc_bias(b, op, o)
    out = b.m.tensors[op.outputs[0]]
    if int(np.prod(out.shape)) != o or out.shape[:1] != (1,):
        raise b.error(op, f"output of shape {list(out.shape)}", expected=f"[1, {o}] (one image)")
    kind = "image" if len(out.shape) == 4 else "vector"
    if kind == "image" and out.shape[1:3] != (1, 1):
        raise b.error(op, f"output of shape {list(out.shape)}", expected=f"[1, {o}] or [1, 1, 1, {o}]")
    op_kind = _mac(b, op, "fully_connected", x.tensor, {}, wt, bias, o, 0)
    v = b.vals[op.outputs[0]]
    v.kind = kind
    return op_kind


def _fc_bias(b, op, o):
    """A FULLY_CONNECTED's bias (input 2, optional; [o]), after checking its weights are in the
    DEFAULT format: both ways of reading the operator (a matrix or a 1x1 convolution) need them."""
    if op.options.get("weights_format", 0) != 0:
        raise b.error(op, f"weights_format {op.options['weights_format']}", expected="DEFAULT (0)")
    bias = b.const(op, 2, np.int32 if b.quantized else np.float32, "bias", optional=True)
    if bias is not None and bias.shape != (o,):
        raise b.error(op, f"bias of shape {list(bias.shape)}", expected=f"[{o}]")
    return bias


def _pointwise(b, op, x, wt):
    """FULLY_CONNECTED with keep_num_dims on an image (Keras' Dense on a 4-D tensor) multiplies
    every pixel's channels by the weights: a 1x1 convolution, with the same integers in TFLM (one
    multiplier per tensor or per output channel, as for CONV_2D)."""
    o = wt.shape[0]
    bias = _fc_bias(b, op, o)
    attrs = {"kernel": (1, 1), "stride": (1, 1), "pad": (0, 0), "dilation": (1, 1), "group": 1}
    return _mac(b, op, "conv2d", x.tensor, attrs, wt.reshape(o, 1, 1, -1), bias, o, 0)


def _pool(b, op):
    x = b.data(op, kinds=("image", "padded"))
    k = _pair(op, "filter_h", "filter_w")
    s = _pair(op, "stride_h", "stride_w")
    if min(k + s) < 1:
        raise b.error(op, f"filter {list(k)}, strides {list(s)}", expected="positive values")
    avg = op.code == B.AVERAGE_POOL_2D
    if b.quantized:
        zero = b.qparams[x.tensor][1]
        low = -128
    else:
        zero, low = 0.0, float(np.finfo(np.float32).min)   # files hold no infinities: the lowest float32
    pad, exclude_pad, ceil = pool_pad(b, op, x, k, s, avg, zero if avg else low)
    attrs = {"kernel": k, "stride": s, "pad": pad}
    if not ceil:
        attrs["ceil_mode"] = False      # floor mode only where Caffe's ceil mode differs
    if exclude_pad:
        attrs["exclude_pad"] = True     # SAME's divisor: the input cells of each window
    b.with_activation(op, "avg_pool" if avg else "max_pool", [x.tensor], attrs)


def _relu(b, op):
    x = b.data(op)
    act = {B.RELU: A.RELU, B.RELU6: A.RELU6, B.RELU_N1_TO_1: A.RELU_N1_TO_1}[op.code]
    b.activation(op, act, x.tensor, x.kind)


def _unary(op_type):
    def handler(b, op):
        x = b.data(op)
        b.add_op(op, op_type, [x.tensor], kind=x.kind)
    return handler


def _softmax(b, op):
    x = b.data(op)
    beta = float(op.options.get("beta", 0.0))
    if beta != 1.0:
        raise b.error(op, f"softmax beta {beta}", expected="beta 1.0")
    b.add_op(op, "softmax", [x.tensor], kind=x.kind)


def _channel_const(b, op, k, c):
    """A float constant that broadcasts per channel (one value, [C] or [1, 1, 1, C]) -> (C,)."""
    arr = b.const(op, k, np.float32, "constant")
    if arr.size not in (1, c) or (arr.size > 1 and arr.shape[-1:] != (c,)):
        raise b.error(op, f"constant of shape {list(arr.shape)}", expected=f"one value or one per channel ({c})")
    return np.ascontiguousarray(np.broadcast_to(arr.reshape(-1), (c,)), np.float32)


def _binary(b, op):
    """ADD of two computed tensors of one shape -> add; ADD/MUL by a constant -> channel_affine
    (float: mul and add per channel; int8: the constant as the file holds it)."""
    if len(op.inputs) != 2:
        raise b.error(op, f"{len(op.inputs)} inputs", expected="2")
    computed = [i in b.vals for i in op.inputs]
    if computed == [True, True] and op.code == B.ADD:
        xs = [b.data(op, k) for k in range(2)]
        if b.shape(xs[0].tensor) != b.shape(xs[1].tensor) or xs[0].kind != xs[1].kind:
            raise b.error(op, f"ADD of shapes {[list(b.m.tensors[i].shape) for i in op.inputs]}",
                          expected="two tensors of one shape (no broadcasting)")
        b.with_activation(op, "add", [v.tensor for v in xs], {}, kind=xs[0].kind)
        return
    if computed.count(True) != 1:
        raise b.error(op, f"{op_name(op.code)} of two computed tensors" if all(computed) else
                      f"{op_name(op.code)} of two constants", expected="MUL by a constant; ADD of two tensors or of "
                                                                       "a tensor and a constant")
    k = computed.index(True)
    x = b.data(op, k)
    c = b.shape(x.tensor)[2]
    if b.quantized:
        _int8_constant(b, op, x, 1 - k, c)
        return
    v = _channel_const(b, op, 1 - k, c)
    mul, add = (v, np.zeros(c, np.float32)) if op.code == B.MUL else (np.ones(c, np.float32), v)
    b.with_activation(op, "channel_affine", [x.tensor], {}, {"mul": mul, "add": add}, kind=x.kind)


def _int8_constant(b, op, x, k, c):
    """int8 MUL / ADD by a constant -> channel_affine holding the constant's int8 values, scale
    and zero point as the file has them (quantize/int8/ops/affine.py derives TFLM's integers)."""
    arr = b.const(op, k, np.int8, "constant")
    if arr.size not in (1, c) or (arr.size > 1 and arr.shape[-1:] != (c,)):
        raise b.error(op, f"constant of shape {list(arr.shape)}", expected=f"one value or one per channel ({c})")
    s, z = b.quant(op.inputs[k], op)
    attrs = {"affine": "mul" if op.code == B.MUL else "add", "k_scale": float(np.float32(s)), "k_zp": z,
             "const_shape": [int(d) for d in arr.shape]}
    b.with_activation(op, "channel_affine", [x.tensor], attrs, {"const": np.ascontiguousarray(arr.reshape(-1))},
                      kind=x.kind)


def _concat(b, op):
    xs = [b.data(op, k, kinds=("image", "vector", "requant")) for k in range(len(op.inputs))]
    rank = len(b.m.tensors[op.outputs[0]].shape)
    axis = int(op.options.get("axis", 0))
    if axis not in (rank - 1, -1):
        raise b.error(op, f"CONCATENATION along axis {axis} of rank {rank}", expected="the channel (last) axis")
    kinds = {"vector" if b.m.tensors[i].shape and len(b.m.tensors[i].shape) == 2 else "image" for i in op.inputs}
    if len(kinds) != 1:
        raise b.error(op, "inputs of different ranks", expected="inputs of one rank")
    if b.quantized:
        q_out = b.quant(op.outputs[0], op)
        for x in xs:
            if x.kind == "requant" and x.qout != q_out:
                raise b.error(op, f"an input QUANTIZEd to {x.qout}", expected=f"the output's {q_out}")
    b.with_activation(op, "concat", [x.tensor for x in xs], {}, kind=kinds.pop())


def _reshape(b, op):
    x = b.data(op, kinds=("image", "vector", "flat"))
    h, w, c = b.shape(x.tensor)
    out = tuple(b.m.tensors[op.outputs[0]].shape)
    n = h * w * c
    if out in ((1, n), (1, 1, 1, n)) and (h, w) == (1, 1):
        kind = "vector" if len(out) == 2 else "image"
    elif out == (1, n):
        kind = "flat"
    elif out == (1, h, w, c) and x.kind == "image":
        kind = "image"
    else:
        raise b.error(op, f"RESHAPE of {list(b.m.tensors[op.inputs[0]].shape)} to {list(out)}",
                      expected="a flatten to [1, N] (read by FULLY_CONNECTED) or a [1, N] <-> [1, 1, 1, N] view")
    if b.quantized and b.quant(op.outputs[0], op) != b.quant(op.inputs[0], op):
        raise b.error(op, "RESHAPE changes the quantization", expected="the input's scale and zero point")
    b.vals[op.outputs[0]] = _Val(kind, x.tensor)


def _pad(b, op):
    x = b.data(op, kinds=("image",))
    pads = b.const(op, 1, np.int32, "paddings")
    if pads.shape != (4, 2) or pads[0].any() or pads[3].any() or pads.min() < 0:
        raise b.error(op, f"paddings {pads.tolist()}", expected="[[0, 0], [top, bottom], [left, right], [0, 0]], >= 0")
    if b.quantized:
        q_in, q_out = b.quant(op.inputs[0], op), b.quant(op.outputs[0], op)
        if q_in != q_out:
            raise b.error(op, f"PAD changes the quantization {q_in} -> {q_out}", expected="equal")
        value = q_in[1]
    else:
        value = 0.0
    if op.code == B.PADV2:
        v = b.const(op, 2, np.int8 if b.quantized else np.float32, "constant value")
        if v.size != 1:
            raise b.error(op, f"pad value of shape {list(v.shape)}", expected="one value")
        value = v.reshape(-1)[0].item()
    b.vals[op.outputs[0]] = _Val("padded", x.tensor, (int(pads[1][0]), int(pads[1][1]), int(pads[2][0]),
                                                      int(pads[2][1])), value)


def _over_hw(b, op):
    """The image a reduction (MEAN, REDUCE_MAX) reads, which must be over H and W."""
    x = b.data(op, kinds=("image",))
    axes = sorted(int(a) % 4 for a in b.const(op, 1, np.int32, "axis").reshape(-1))
    if axes != [1, 2]:
        raise b.error(op, f"{op_name(op.code)} over axes {axes}", expected="[1, 2] (a global pool over H and W)")
    return x


def _mean(b, op):
    """MEAN over H and W -> a global average pool (float; int8 marked `tflite_mean`: the int8 rule
    computes TFLM's integer MEAN, any output quantization, quantize/int8/ops/pool.py). keep_dims
    only shapes the output ([1, C] for Keras' GlobalAveragePooling2D): TFLM's int8 MEAN gives the
    same bytes either way (tests/test_tf_converter_fixtures.py pins it)."""
    x = _over_hw(b, op)
    h, w, c = b.shape(x.tensor)
    attrs = {"kernel": (h, w), "stride": (1, 1), "pad": (0, 0)}
    if b.quantized:             # TFLM's integer MEAN rounds differently from the average pool
        attrs["tflite_mean"] = True
    b.add_op(op, "avg_pool", [x.tensor], attrs,
             kind="image" if len(b.m.tensors[op.outputs[0]].shape) == 4 else "vector")


def _reduce_max(b, op):
    """REDUCE_MAX over H and W (Keras' GlobalMaxPooling2D) -> a global max pool; int8 keeps the
    input's quantization (TFLM requires it)."""
    x = _over_hw(b, op)
    h, w, _ = b.shape(x.tensor)
    if b.quantized and b.quant(op.outputs[0], op) != b.quant(op.inputs[0], op):
        raise b.error(op, "REDUCE_MAX changes the quantization", expected="the input's scale and zero point")
    b.add_op(op, "max_pool", [x.tensor], {"kernel": (h, w), "stride": (1, 1), "pad": (0, 0)},
             kind="image" if len(b.m.tensors[op.outputs[0]].shape) == 4 else "vector")


def _quantize(b, op):
    """int8 -> int8 QUANTIZE: accepted where only CONCATENATION reads it (which requantizes)."""
    x = b.data(op, kinds=("image", "vector"))
    readers = b.consumers.get(op.outputs[0], [])
    if not b.quantized or not readers or any(r.code != B.CONCATENATION for r in readers) \
            or op.outputs[0] in b.m.outputs:
        raise b.error(op, "QUANTIZE inside the model", expected="QUANTIZE only at the float input, or int8 -> int8 "
                                                              "before a CONCATENATION")
    b.vals[op.outputs[0]] = _Val("requant", x.tensor, qout=b.quant(op.outputs[0], op))


def _dequantize(b, op):
    """DEQUANTIZE of an int8 output: the model's output is the int8 tensor."""
    i = op.inputs[0] if op.inputs else -1
    if not b.quantized or i not in b.vals or op.outputs[0] not in b.m.outputs \
            or len(b.consumers.get(op.outputs[0], [])) > 0:
        raise b.error(op, "DEQUANTIZE inside the model", expected="DEQUANTIZE only of an int8 model's outputs")
    b.vals[op.outputs[0]] = b.data(op, kinds=("image", "vector", "flat"))


_HANDLERS = {
    B.CONV_2D: _conv, B.DEPTHWISE_CONV_2D: _depthwise, B.FULLY_CONNECTED: _fully_connected,
    B.AVERAGE_POOL_2D: _pool, B.MAX_POOL_2D: _pool, B.ADD: _binary, B.MUL: _binary,
    B.CONCATENATION: _concat, B.RESHAPE: _reshape, B.SOFTMAX: _softmax, B.LOGISTIC: _unary("sigmoid"),
    B.TANH: _unary("tanh"), B.PAD: _pad, B.PADV2: _pad, B.MEAN: _mean, B.QUANTIZE: _quantize,
    B.DEQUANTIZE: _dequantize, B.RELU: _relu, B.RELU6: _relu, B.RELU_N1_TO_1: _relu,
    S.OPERATOR_NAMES.index("REDUCE_MAX"): _reduce_max,
}
