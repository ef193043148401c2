"""ONNX -> IR: one float .onnx file -> ir.Graph in the IR's conventions (HWC, weights reordered once).

Every ONNX value is tracked as one of:
  * an image: an IR tensor (H, W, C) that ONNX sees as (1, C, H, W);
  * a vector: an IR tensor (1, 1, C) that ONNX sees as (1, C) (what Gemm/MatMul make);
  * a flattened image: the IR tensor (H, W, C) of a Flatten/Reshape, which ONNX sees as (1, C*H*W)
    in CHW order; only Gemm/MatMul may read it (their weight columns are permuted to HWC once);
  * a constant: an initializer or Constant node (numpy array), read by the ops that take weights.
What each ONNX operator becomes is the _HANDLERS table. Rewrites (BatchNorm folding, ReLU fusion,
a trailing Softmax) are the passes' job, as for every frontend. Anything the IR cannot express
exactly (asymmetric pads, a ceil_mode or count_include_pad the IR's pooling windows differ from,
Clip with an infinite bound other than [0, inf)) is refused naming the node, before anything is
written.
"""
import os
from dataclasses import dataclass

import numpy as np

from ... import ir, ops
from ...errors import NnbuildError, read_user_file
from ..caffe.convert import load_mean

MAX_BYTES = 256 << 20           # the .onnx file (weights inline; external data is refused)
MAX_VALUES = 1 << 24            # per tensor, checked from its dims before it is decoded
_FLOAT, _INT8, _INT32, _INT64, _BOOL = 1, 3, 6, 7, 9  # onnx.TensorProto.FLOAT / INT8 / INT32 / INT64 / BOOL


@dataclass
class _Val:
    kind: str                   # "image" | "vector" | "flat" | "const" | "quant" (a QuantizeLinear output)
    tensor: str = None          # the IR tensor (not for constants)
    array: object = None        # the constant's value
    q: object = None            # const: (int array, scale, zero point, axis) of a DequantizeLinear; quant: base kind


def load_onnx(path, input_shape=None, mean=None, scale=None, channel_order="RGB", name=None):
    """Import a float ONNX model as a validated float ir.Graph."""
    path = os.fspath(path)
    model = _parse(path)
    b = _Builder(path, model)
    shape = b.add_input(input_shape, channel_order)
    mean_hwc = load_mean(mean, shape) if mean is not None else np.zeros(shape, np.float32)
    b.graph.ops[0].params["mean"] = mean_hwc
    b.graph.ops[0].attrs["scale"] = float(1.0 if scale is None else scale)
    unknown = sorted({(f"{n.domain}." if n.domain not in ("", "ai.onnx") else "") + n.op_type
                      for n in model.graph.node if n.op_type not in _HANDLERS or n.domain not in ("", "ai.onnx")})
    if unknown:
        raise NnbuildError("unsupported ONNX operator(s) " + ", ".join(unknown), file=path,
                           expected="only " + ", ".join(sorted(_HANDLERS)))
    for i, node in enumerate(model.graph.node):
        b.convert(node, i)
    g = b.finish()
    g.name = name or g.name
    g.meta["channel_order"] = "GRAY" if shape[2] == 1 else (channel_order or "RGB")
    if b.act_q:         # a QDQ model: the int8 graph of its scales, zero points and int8 weights
        from .qdq import int8_graph

        return int8_graph(b, g.validate())
    return g.validate()


def _parse(path):
    try:
        import onnx
    except ImportError:
        raise NnbuildError("reading ONNX models needs the onnx package, which is not installed", file=path,
                           expected="`pip install onnx` (./dev installs the version pinned in requirements.txt)") from None
    from google.protobuf.message import DecodeError

    data = read_user_file(path, MAX_BYTES, "ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise NnbuildError(f"not a readable ONNX model (protobuf: {e})", file=path,
                           expected="a complete .onnx file (ModelProto)") from None
    if not model.HasField("graph") or not model.graph.node:
        raise NnbuildError("the file holds no ONNX graph (truncated or not an ONNX model)", file=path,
                           expected="a ModelProto with a graph of nodes")
    _check_names(model, path)
    return model


def _check_names(model, path):
    """Every name and op type is printable text: errors quote them in one line (a name that is
    not UTF-8 reaches Python as bytes, one with a newline would split the message)."""
    g = model.graph
    texts = [g.name] + [v.name for v in list(g.input) + list(g.output)] + [t.name for t in g.initializer]
    for n in g.node:
        texts += [n.name, n.op_type, n.domain, *n.input, *n.output, *(a.name for a in n.attribute)]
    for t in texts:
        if not isinstance(t, str) or not t.isprintable():
            raise NnbuildError(f"the model has a name or op type that is not printable text ({t!r:.60})", file=path,
                               expected="UTF-8 names without control characters")


def _opset(model, path):
    """The default domain's opset: operator semantics (Clip's bounds, Softmax's axis) depend on it,
    so a model without one (an old writer, or a file cut after its graph) is refused, not guessed."""
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    raise NnbuildError("the model declares no ai.onnx opset (opset_import)", file=path,
                       expected="a complete .onnx file with its opset_import")


class _Builder:
    def __init__(self, path, model):
        self.path, self.model, self.opset = path, model, _opset(model, path)
        self.vals = {}
        self.used_names = set()
        self.act_q, self.used_q, self.op_q = {}, {}, {}    # QDQ: tensor (scale, zp); consts read per node / op
        self.graph = ir.Graph(name=model.graph.name or os.path.splitext(os.path.basename(path))[0],
                              input="", outputs=[])
        for t in model.graph.initializer:
            self.vals[t.name] = _Val("const", array=self.tensor_array(t, f"initializer '{t.name}'"))

    # -- errors, constants --------------------------------------------------------------------
    def error(self, node, message, expected=None):
        return NnbuildError(message, file=self.path, where=f"node '{node.name or '?'}' ({node.op_type})",
                            expected=expected)

    def tensor_array(self, t, where):
        from onnx import numpy_helper

        if t.data_location == 1 or t.external_data:
            raise NnbuildError("tensor data is stored in an external file", file=self.path, where=where,
                               expected="weights inside the .onnx file")
        n = int(np.prod([int(d) for d in t.dims], dtype=np.int64)) if t.dims else 1
        if any(int(d) < 0 for d in t.dims) or n > MAX_VALUES:
            raise NnbuildError(f"tensor of dims {list(t.dims)}", file=self.path, where=where,
                               expected=f"at most {MAX_VALUES} values (2^24)")
        if t.data_type not in (_FLOAT, _INT64, _BOOL, _INT8, _INT32):
            import onnx

            raise NnbuildError(f"tensor of data type {onnx.TensorProto.DataType.Name(t.data_type)}", file=self.path,
                               where=where, expected="FLOAT (float32) weights, INT64 shapes, BOOL flags (INT8 / INT32 "
                                                     "for DequantizeLinear)")
        try:
            arr = numpy_helper.to_array(t)
        except Exception as e:      # a malformed tensor: its raw data does not match its dims
            raise NnbuildError(f"unreadable tensor ({e})", file=self.path, where=where,
                               expected="data matching the tensor's dims") from None
        if arr.dtype == np.float32 and not np.all(np.isfinite(arr)):
            raise NnbuildError("tensor contains NaN or Inf", file=self.path, where=where, expected="finite weights")
        return arr

    def const(self, node, i, what, dtype=np.float32, optional=False):
        if i >= len(node.input) or node.input[i] == "":
            if optional:
                return None
            raise self.error(node, f"no {what} input", expected=f"input {i}: {what}")
        v = self.value(node, node.input[i])
        if v.kind != "const":
            raise self.error(node, f"{what} '{node.input[i]}' is computed by the graph",
                             expected=f"a constant {what} (initializer)")
        if v.array.dtype != dtype:
            raise self.error(node, f"{what} '{node.input[i]}' is {v.array.dtype}", expected=f"{np.dtype(dtype).name}")
        if v.q is not None:     # a DequantizeLinear'd constant: the int8 path needs its integers
            self.used_q.setdefault(self.index, {})[i] = v.q
        return v.array

    def value(self, node, name):
        v = self.vals.get(name)
        if v is None:
            raise self.error(node, f"input '{name}' is produced by no earlier node",
                             expected="nodes in topological order, inputs from the graph input, initializers or earlier nodes")
        return v

    def data(self, node, i=0, kinds=("image", "vector")):
        v = self.value(node, node.input[i] if i < len(node.input) else "")
        if v.kind not in kinds:
            what = {"flat": "a flattened image (only Gemm/MatMul may read one)", "const": "a constant",
                    "quant": "a QuantizeLinear output (only DequantizeLinear may read one)"}[v.kind] \
                if v.kind in ("flat", "const", "quant") else v.kind
            raise self.error(node, f"input '{node.input[i]}' is {what}", expected="an image or vector tensor")
        return v

    def attr(self, node, name, default=None):
        from onnx import helper

        for a in node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def shape(self, tensor):
        return self.graph.tensors[tensor].shape

    def channels(self, node, arr, c, what, kind="vector"):
        """A constant that broadcasts per channel -> (C,) float32. ONNX broadcasts from the last
        axis, so an image (N, C, H, W) takes (C, 1, 1) or (1, C, 1, 1), a vector (N, C) takes (C,)
        or (1, C); one value fits both."""
        a = np.asarray(arr, np.float32)
        shapes = [(c, 1, 1), (1, c, 1, 1)] if kind == "image" else [(c,), (1, c)]
        if a.size != 1 and a.shape not in shapes:
            raise self.error(node, f"{what} of shape {list(a.shape)}",
                             expected="one value or one per channel: " + " or ".join(str(list(s)) for s in shapes))
        return np.ascontiguousarray(np.broadcast_to(a.reshape(-1), (c,)), np.float32)

    # -- building ------------------------------------------------------------------------------
    def fresh(self, base):
        name, k = base or "t", 1
        while name in self.used_names:
            k += 1
            name = f"{base}_{k}"
        self.used_names.add(name)
        return name

    def add_op(self, node, op_type, inputs, attrs=None, params=None, kind=None):
        op = ir.Op(self.fresh(node.name or f"{node.op_type.lower()}_{self.index}"), op_type, list(inputs), [],
                   dict(attrs or {}), {k: np.ascontiguousarray(v, np.float32) for k, v in (params or {}).items()})
        try:
            shape = ops.infer_shape(op, [self.shape(t) for t in inputs])
        except NnbuildError as e:
            raise self.error(node, e.message, expected=e.expected) from None
        out = self.fresh(node.output[0])
        self.graph.tensors[out] = ir.Tensor(out, shape)
        op.outputs = [out]
        self.graph.ops.append(op)
        if self.index in self.used_q:
            self.op_q[op.name] = self.used_q[self.index]
        if kind is None:        # an op keeps its data input's layout; fully_connected makes a vector
            kind = "vector" if op_type == "fully_connected" else \
                next(v.kind for v in (self.value(node, n) for n in node.input) if v.kind != "const")
        self.vals[node.output[0]] = _Val(kind, out)
        return out

    def add_input(self, given, channel_order):
        inits = {t.name for t in self.model.graph.initializer}
        inputs = [v for v in self.model.graph.input if v.name not in inits]
        where = "graph input"
        if len(inputs) != 1:
            raise NnbuildError(f"the model has {len(inputs)} inputs ({', '.join(v.name for v in inputs)})",
                               file=self.path, where=where, expected="exactly one image input")
        v = inputs[0]
        tt = v.type.tensor_type
        if not v.type.HasField("tensor_type") or tt.elem_type != _FLOAT:
            raise NnbuildError(f"input '{v.name}' is not a float tensor", file=self.path, where=where,
                               expected="a FLOAT image input (N, C, H, W)")
        dims = list(tt.shape.dim)
        if len(dims) != 4:
            raise NnbuildError(f"input '{v.name}' has rank {len(dims)}", file=self.path, where=where,
                               expected="an image input of rank 4 (N, C, H, W)")
        fixed = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if fixed[0] not in (1, None) or any(f is None or f <= 0 for f in fixed[1:]):
            shown = [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in dims]
            raise NnbuildError(f"input '{v.name}' has dynamic or unusable dims {shown}", file=self.path, where=where,
                               expected="fixed C, H, W (the batch dim may be 1 or symbolic)")
        shape = (fixed[2], fixed[3], fixed[1])
        if shape[0] * shape[1] * shape[2] > MAX_VALUES:
            raise NnbuildError(f"input shape {list(shape)} (H, W, C) is too large", file=self.path, where=where,
                               expected=f"at most {MAX_VALUES} values")
        if given is not None and tuple(int(s) for s in given) != shape:
            raise NnbuildError(f"the model's input is {list(shape)} (H, W, C) but the manifest says {list(given)}",
                               file=self.path, where=where, expected="the same shape in both, or leave input.shape out")
        order = "GRAY" if shape[2] == 1 else (channel_order or "RGB")
        if order not in ("RGB", "BGR", "GRAY") or (order == "GRAY") != (shape[2] == 1):
            raise NnbuildError(f"channel order {order!r} does not fit {shape[2]} input channels", where="input",
                               expected="RGB or BGR for 3 channels, GRAY for 1")
        reserved = {n for node in self.model.graph.node for n in list(node.input) + list(node.output)} | inits
        self.used_names |= reserved
        pixels = self.fresh("pixels")
        x = self.fresh(v.name)
        self.graph.input = pixels
        self.graph.tensors[pixels] = ir.Tensor(pixels, shape, "uint8")
        self.graph.tensors[x] = ir.Tensor(x, shape)
        self.graph.ops.append(ir.Op(self.fresh("input_stage"), "input_stage", [pixels], [x], {"scale": 1.0}, {}))
        self.vals[v.name] = _Val("image", x)
        return shape

    def convert(self, node, index):
        self.index = index
        if not node.output or not node.output[0]:
            raise self.error(node, "node has no output")
        _HANDLERS[node.op_type](self, node)

    def finish(self):
        g = self.graph
        outs = []
        for o in self.model.graph.output:
            v = self.vals.get(o.name)
            if v is None or v.kind == "const":
                raise NnbuildError(f"graph output '{o.name}' is not computed from the input", file=self.path,
                                   expected="outputs computed by the graph's nodes")
            if v.kind == "flat" and self.shape(v.tensor)[:2] != (1, 1):
                raise NnbuildError(f"graph output '{o.name}' is a flattened image", file=self.path,
                                   expected="a Flatten/Reshape only feeding Gemm/MatMul")
            outs.append(v.tensor)
        if not outs or outs == [g.ops[0].outputs[0]]:
            raise NnbuildError("the model computes nothing from its input", file=self.path,
                               expected="at least one node after the input")
        g.outputs = outs
        return g


# -- operators ---------------------------------------------------------------------------------

def _hw_pads(b, node, in_hw, kernel, stride, dilation):
    """(pad_h, pad_w) of a symmetric padding; auto_pad resolved; asymmetric pads refused."""
    auto = b.attr(node, "auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for n, k, s, d in zip(in_hw, kernel, stride, dilation):
            total = max(0, (-(-n // s) - 1) * s + d * (k - 1) + 1 - n)
            pads.append(total)
        if any(p % 2 for p in pads):
            raise b.error(node, f"auto_pad {auto} pads {pads} unevenly", expected="symmetric padding (even totals)")
        return pads[0] // 2, pads[1] // 2
    if auto == "VALID":
        return 0, 0
    if auto != "NOTSET":
        raise b.error(node, f"auto_pad {auto}", expected="NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    pads = list(b.attr(node, "pads", [0, 0, 0, 0]))
    if len(pads) != 4 or min(pads) < 0:
        raise b.error(node, f"pads {pads}", expected="4 non-negative values (2-D)")
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise b.error(node, f"asymmetric pads {pads} (top, left, bottom, right)",
                      expected="equal top/bottom and left/right padding (the IR pads symmetrically)")
    return pads[0], pads[1]


def _two(b, node, name, default):
    v = list(b.attr(node, name, default))
    if len(v) != 2 or min(v) <= 0:
        raise b.error(node, f"{name} {v}", expected="2 positive values (2-D)")
    return int(v[0]), int(v[1])


def _conv(b, node):
    x = b.data(node, kinds=("image",))
    h, w, c = b.shape(x.tensor)
    weight = b.const(node, 1, "weight")
    if weight.ndim != 4:
        raise b.error(node, f"weight of shape {list(weight.shape)}", expected="(O, I/group, KH, KW): a 2-D convolution")
    o, ig, kh, kw = weight.shape
    group = int(b.attr(node, "group", 1))
    ks = b.attr(node, "kernel_shape")
    if ks is not None and tuple(ks) != (kh, kw):
        raise b.error(node, f"kernel_shape {list(ks)} but weight {list(weight.shape)}", expected="the weight's KH, KW")
    if group <= 0 or ig * group != c or o % group:
        raise b.error(node, f"group {group}, weight {list(weight.shape)} on {c} channels",
                      expected="input channels = I/group x group, outputs divisible by group")
    stride = _two(b, node, "strides", [1, 1])
    dilation = _two(b, node, "dilations", [1, 1])
    pad = _hw_pads(b, node, (h, w), (kh, kw), stride, dilation)
    bias = b.const(node, 2, "bias", optional=True)
    bias = np.zeros(o, np.float32) if bias is None else bias
    if bias.shape != (o,):
        raise b.error(node, f"bias of shape {list(bias.shape)}", expected=f"({o},)")
    if min(ir.conv_output_size(n, k, s, p, d) for n, k, s, p, d in zip((h, w), (kh, kw), stride, pad, dilation)) <= 0:
        raise b.error(node, f"kernel {kh}x{kw} does not fit the {h}x{w} input")
    b.add_op(node, "conv2d", [x.tensor], {"kernel": (kh, kw), "stride": stride, "pad": pad, "dilation": dilation,
                                          "group": group}, {"weight": weight.transpose(0, 2, 3, 1), "bias": bias})


def _fc_input(b, node, k):
    """The IR tensor a Gemm/MatMul reads and the permutation of its K weight columns (CHW -> HWC)."""
    x = b.data(node, kinds=("vector", "flat"))
    h, w, c = b.shape(x.tensor)
    if h * w * c != k:
        raise b.error(node, f"input of {h * w * c} values but weight of {k} rows", expected="matching sizes")
    order = np.arange(k).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)   # HWC position -> CHW column
    return x.tensor, order


def _fc(b, node, weight_ko, bias):
    """weight_ko (K, O) as ONNX multiplies (x @ W) -> fully_connected (O, K) in HWC column order."""
    x, order = _fc_input(b, node, weight_ko.shape[0])
    b.add_op(node, "fully_connected", [x], {}, {"weight": weight_ko.T[:, order], "bias": bias})


def _gemm(b, node):
    if b.attr(node, "transA", 0):
        raise b.error(node, "transA = 1 (the input transposed)", expected="transA = 0")
    wt = b.const(node, 1, "B (weight)")
    if wt.ndim != 2:
        raise b.error(node, f"B of shape {list(wt.shape)}", expected="a 2-D weight")
    wt = (wt.T if b.attr(node, "transB", 0) else wt).astype(np.float64) * float(b.attr(node, "alpha", 1.0))
    o = wt.shape[1]
    cst = b.const(node, 2, "C (bias)", optional=True)
    bias = np.zeros(o) if cst is None else b.channels(node, cst, o, "C (bias)") * float(b.attr(node, "beta", 1.0))
    _fc(b, node, wt.astype(np.float32), bias)


def _matmul(b, node):
    wt = b.const(node, 1, "weight")
    if wt.ndim != 2:
        raise b.error(node, f"weight of shape {list(wt.shape)}", expected="a 2-D constant (K, O)")
    _fc(b, node, wt, np.zeros(wt.shape[1], np.float32))


def _affine(b, node, x, mul, add):
    c = b.shape(x.tensor)[2]
    b.add_op(node, "channel_affine", [x.tensor], {}, {"mul": b.channels(node, mul, c, "multiplier", x.kind),
                                                      "add": b.channels(node, add, c, "addend", x.kind)})


def _binary(b, node):
    """Add of two tensors of one shape -> add; Add/Mul with a constant -> channel_affine."""
    if len(node.input) != 2:
        raise b.error(node, f"{len(node.input)} inputs", expected="2")
    vs = [b.value(node, n) for n in node.input]
    consts = [v for v in vs if v.kind == "const"]
    if len(consts) == 1:
        x = b.data(node, 0 if vs[1].kind == "const" else 1)
        k = consts[0].array
        if k.dtype != np.float32:
            raise b.error(node, f"constant of type {k.dtype}", expected="float32")
        if consts[0].q is not None:     # QDQ: the constant's integers, for the int8 graph (qdq.py)
            b.used_q.setdefault(b.index, {})["affine"] = (node.op_type, consts[0].q)
        if node.op_type == "Add":
            _affine(b, node, x, 1.0, k)
        else:
            _affine(b, node, x, k, 0.0)
        return
    if node.op_type == "Mul" or consts:
        raise b.error(node, "Mul of two computed tensors" if node.op_type == "Mul" else "Add of two constants",
                      expected="Mul by a constant (one value or one per channel)" if node.op_type == "Mul"
                      else "at least one computed input")
    xs = [b.data(node, i) for i in range(2)]
    if len({b.shape(v.tensor) for v in xs}) != 1:
        raise b.error(node, f"Add of shapes {[list(b.shape(v.tensor)) for v in xs]}", expected="equal shapes (no broadcasting)")
    b.add_op(node, "add", [v.tensor for v in xs])


def _relu(b, node):
    b.add_op(node, "relu", [b.data(node).tensor], {"negative_slope": 0.0})


def _leaky(b, node):
    b.add_op(node, "relu", [b.data(node).tensor], {"negative_slope": float(b.attr(node, "alpha", 0.01))})


def _prelu(b, node):
    x = b.data(node)
    slope = b.channels(node, b.const(node, 1, "slope"), b.shape(x.tensor)[2], "slope", x.kind)
    b.add_op(node, "prelu", [x.tensor], {}, {"slope": slope})


def _clip(b, node):
    x = b.data(node)
    if b.opset < 11:
        if len(node.input) > 1:
            raise b.error(node, f"Clip with min/max inputs in opset {b.opset}", expected="attributes before opset 11")
        lo, hi = b.attr(node, "min", -np.inf), b.attr(node, "max", np.inf)
    else:
        lo, hi = (b.const(node, i, n, optional=True) for i, n in ((1, "min"), (2, "max")))
        lo = -np.inf if lo is None else float(np.asarray(lo).reshape(-1)[0])
        hi = np.inf if hi is None else float(np.asarray(hi).reshape(-1)[0])
    if lo == 0.0 and hi == np.inf:
        b.add_op(node, "relu", [x.tensor], {"negative_slope": 0.0})
        return
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise b.error(node, f"Clip to [{lo}, {hi}]", expected="min 0 and no max (a ReLU), or finite min < max")
    b.add_op(node, "clip", [x.tensor], {"min": lo, "max": hi})


def _unary(op_type):
    def handler(b, node):
        b.add_op(node, op_type, [b.data(node).tensor])
    return handler


def _pool(b, node):
    x = b.data(node, kinds=("image",))
    h, w, c = b.shape(x.tensor)
    kernel = _two(b, node, "kernel_shape", [])
    stride = _two(b, node, "strides", [1, 1])
    if tuple(b.attr(node, "dilations", [1, 1])) != (1, 1) or b.attr(node, "storage_order", 0):
        raise b.error(node, "dilated pooling or storage_order 1", expected="dilations 1, storage_order 0")
    pad = _hw_pads(b, node, (h, w), kernel, stride, (1, 1))
    avg = node.op_type == "AveragePool"
    ceil = bool(b.attr(node, "ceil_mode", 0))
    # count_include_pad = 0 divides by the input cells: the IR's exclude_pad (set only with pads;
    # without, Caffe's divisor is the input cells too and the graph stays as it was)
    exclude_pad = avg and not b.attr(node, "count_include_pad", 0)
    if any(p >= k for p, k in zip(pad, kernel)):
        raise b.error(node, f"pads {list(pad)} not smaller than the kernel {list(kernel)}")
    axes = list(zip((h, w), kernel, stride, pad))
    spans = [n + 2 * p - k for n, k, s, p in axes]
    outs = [(-(-sp // s) if ceil else sp // s) + 1 for sp, (n, k, s, p) in zip(spans, axes)]
    # The IR pools like Caffe (ceil mode, windows clipped to the padded input) unless ceil_mode is
    # false (floor mode: every window in the padded input, so any divisor is ONNX's). Caffe's: the
    # same only when the output sizes agree and, for an average, the divisors do: every window lies
    # in the padded input, or count_include_pad = 0 (exclude_pad: both divide by the samples inside).
    caffe = all(o == ir.pool_output_size(n, k, s, p) and not ir.pool_has_empty_window(n, k, s, p)
                and not (avg and (o - 1) * s > sp and not exclude_pad) for o, sp, (n, k, s, p) in zip(outs, spans, axes))
    floor = all(o == ir.pool_output_size(n, k, s, p, ceil=False) for o, (n, k, s, p) in zip(outs, axes))
    if min(spans) < 0 or not (caffe or floor):
        raise b.error(node, f"kernel {list(kernel)}, strides {list(stride)}, pads {list(pad)}, ceil_mode {int(ceil)} "
                            f"on a {h}x{w} input: the IR's pooling windows differ from ONNX's here "
                            "(neither Caffe's ceil-mode nor floor-mode windows)",
                      expected="a window arrangement where ONNX's windows are Caffe's ceil-mode or floor-mode ones")
    attrs = {"kernel": kernel, "stride": stride, "pad": pad}
    if not caffe:
        attrs["ceil_mode"] = False      # only where Caffe's differ: other graphs stay as they were
    if exclude_pad and max(pad) > 0:
        attrs["exclude_pad"] = True
    b.add_op(node, "avg_pool" if avg else "max_pool", [x.tensor], attrs)


def _global_pool(b, node):
    x = b.data(node, kinds=("image",))
    h, w, _ = b.shape(x.tensor)
    b.add_op(node, "avg_pool" if node.op_type == "GlobalAveragePool" else "max_pool", [x.tensor],
             {"kernel": (h, w), "stride": (1, 1), "pad": (0, 0)})


def _concat(b, node):
    xs = [b.data(node, i) for i in range(len(node.input))]
    kinds = {v.kind for v in xs}
    axis = int(b.attr(node, "axis", 1))
    ok = (kinds == {"image"} and axis in (1, -3)) or (kinds == {"vector"} and axis in (1, -1))
    if not ok:
        raise b.error(node, f"Concat along axis {axis} of {sorted(kinds)}", expected="the channel axis (1)")
    b.add_op(node, "concat", [v.tensor for v in xs])


def _flatten(b, node):
    v = b.data(node, kinds=("image", "vector", "flat"))
    size = b.graph.tensors[v.tensor].size
    if node.op_type == "Flatten":
        if int(b.attr(node, "axis", 1)) != 1:
            raise b.error(node, f"Flatten at axis {b.attr(node, 'axis')}", expected="axis 1 (keep the batch)")
    else:
        dims = [int(d) for d in b.const(node, 1, "shape", dtype=np.int64)]
        if dims not in ([0, -1], [1, -1], [-1, size], [1, size], [0, size]):
            raise b.error(node, f"Reshape to {dims}", expected="a flatten to (1, C*H*W), e.g. [1, -1]")
    b.vals[node.output[0]] = _Val("vector" if v.kind == "vector" else "flat", v.tensor)


def _batch_norm(b, node):
    if b.attr(node, "training_mode", 0) or len([o for o in node.output if o]) > 1:
        raise b.error(node, "training-mode BatchNormalization", expected="inference mode (one output)")
    x = b.data(node)
    c = b.shape(x.tensor)[2]
    scale, bias, mean, var = (b.channels(node, b.const(node, i, n), c, n).astype(np.float64)
                              for i, n in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
    if np.any(var < 0):
        raise b.error(node, "negative variance", expected="var >= 0")
    mul = scale / np.sqrt(var + float(b.attr(node, "epsilon", 1e-5)))
    b.add_op(node, "channel_affine", [x.tensor], {}, {"mul": mul, "add": bias - mean * mul})


def _softmax(b, node):
    x = b.data(node)
    h, w, _ = b.shape(x.tensor)
    axis = int(b.attr(node, "axis", -1 if b.opset >= 13 else 1))
    # over channels: a vector's last axis; an image's axis 1 (opset 13+, or any opset when H = W = 1)
    ok = axis in (1, -1) if x.kind == "vector" else (axis in (1, -3) and (b.opset >= 13 or h == w == 1))
    if not ok:
        raise b.error(node, f"Softmax over axis {axis} (opset {b.opset})", expected="softmax over the channel axis")
    b.add_op(node, "softmax", [x.tensor])


def _identity(b, node):
    if node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]:
        mode = b.const(node, 2, "training_mode", dtype=np.bool_)
        if bool(np.asarray(mode).reshape(-1)[0]):
            raise b.error(node, "Dropout in training mode", expected="training_mode false")
    b.vals[node.output[0]] = b.value(node, node.input[0])


def _constant(b, node):
    t = b.attr(node, "value")
    if t is None:
        raise b.error(node, "Constant without a 'value' tensor", expected="value: a TensorProto")
    b.vals[node.output[0]] = _Val("const", array=b.tensor_array(t, f"node '{node.name}' (Constant)"))


_HANDLERS = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _matmul, "Add": _binary, "Mul": _binary,
    "Relu": _relu, "LeakyRelu": _leaky, "PRelu": _prelu, "Clip": _clip,
    "Sigmoid": _unary("sigmoid"), "Tanh": _unary("tanh"),
    "MaxPool": _pool, "AveragePool": _pool, "GlobalAveragePool": _global_pool, "GlobalMaxPool": _global_pool,
    "Concat": _concat, "Flatten": _flatten, "Reshape": _flatten, "BatchNormalization": _batch_norm,
    "Softmax": _softmax, "Identity": _identity, "Dropout": _identity, "Constant": _constant,
}


def _qdq(b, node):
    from .qdq import dequantize_linear, quantize_linear

    (quantize_linear if node.op_type == "QuantizeLinear" else dequantize_linear)(b, node)


_HANDLERS.update({"QuantizeLinear": _qdq, "DequantizeLinear": _qdq})
