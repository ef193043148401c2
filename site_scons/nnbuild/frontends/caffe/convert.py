"""Caffe -> IR: prototxt (structure) + trained blobs (.caffemodel.h5 or binary .caffemodel)
+ mean -> ir.Graph in the IR's conventions (HWC, weights reordered once here).

What happens to each Caffe layer type:
  * Data/Input/MemoryData/ImageData/HDF5Data (TEST phase) or `input:` -> the graph input;
    `input_stage` computes (pixel - mean) * scale.
  * Convolution, Pooling, ReLU, InnerProduct, Eltwise(SUM), Concat(channels), Sigmoid, TanH,
    Softmax, PReLU, LRN -> one IR op each; BatchNorm, Scale and Bias -> channel_affine. Rewrites (folding
    BatchNorm/Scale into the layer before, a trailing Softmax, ReLU fusion) are graph passes
    (nnbuild.passes) that the pipeline runs after every frontend.
  * Dropout, Split -> removed; Flatten/Reshape -> removed when only InnerProduct layers read them.
  * Accuracy, Silence and *Loss layers -> ignored (and so is the label blob).
Caffe blob names are reused as IR tensor names, except where a layer writes a blob that already
exists (in place): the IR is SSA, so such a top gets a fresh name (the layer's name).
"""
import os
from dataclasses import dataclass

import numpy as np

from ... import ir, ops
from ...errors import NnbuildError
from . import proto as caffe_proto
from .net import read_net
from .weights import MAX_VALUES, blob_array, blob_shape, load_weights

DATA_LAYERS = ("Data", "Input", "MemoryData", "ImageData", "HDF5Data")
IGNORED_LAYERS = ("Accuracy", "Silence")
SUPPORTED_LAYERS = DATA_LAYERS + IGNORED_LAYERS + (
    "Convolution", "Pooling", "ReLU", "InnerProduct", "Softmax", "Dropout", "Flatten", "Reshape",
    "BatchNorm", "Scale", "Bias", "PReLU", "LRN", "Eltwise", "Concat", "Sigmoid", "TanH", "Split", "*Loss")


def load_caffe(prototxt, weights, input_shape=None, mean=None, scale=None, channel_order="RGB",
               name=None):
    """Import a trained Caffe model as a float ir.Graph (validated, shapes inferred).

    input_shape: (H, W, C) from the manifest; needed when the prototxt only names a database.
    mean: None, a mean.binaryproto path, per-channel values, or an (H, W, C) array (load_mean).
    scale: None takes the data layer's transform_param.scale (default 1.0).
    """
    prototxt, weights = os.fspath(prototxt), os.fspath(weights)
    net, layers = read_net(prototxt)
    blobs = load_weights(weights)
    b = _Builder(prototxt, weights, blobs, layers)
    data = _find_input(net, layers, prototxt)
    shape = _input_shape(data, input_shape, prototxt)
    order = "GRAY" if shape[2] == 1 else (channel_order or "RGB")
    if order not in ("RGB", "BGR", "GRAY") or (order == "GRAY") != (shape[2] == 1):
        raise NnbuildError(f"channel order {order!r} does not fit {shape[2]} input channels",
                           where="input", expected="RGB or BGR for 3 channels, GRAY for 1")
    mean_hwc = _input_mean(data, mean, shape, prototxt)
    if scale is None:
        scale = float(data.transform.scale) if data.transform is not None else 1.0
    b.graph = ir.Graph(name=name or net.name or os.path.splitext(os.path.basename(prototxt))[0],
                       input="", outputs=[])
    b.add_input(data.blob, shape, mean_hwc, float(scale))
    for layer in layers:
        if layer.type in DATA_LAYERS or layer is data.layer:
            continue
        b.convert(layer)
    return b.finish(order)


# -- the network input --------------------------------------------------------------------------

@dataclass
class _Input:
    blob: str
    shape: tuple          # (H, W, C) declared by the prototxt, or None
    transform: object     # TransformationParameter or None
    where: str
    layer: object = None


def _find_input(net, layers, path):
    found = []
    for i, blob in enumerate(net.input):
        dims = None
        if i < len(net.input_shape):
            dims = list(net.input_shape[i].dim)
        elif len(net.input_dim) >= 4 * (i + 1):
            dims = list(net.input_dim[4 * i: 4 * i + 4])
        found.append(_Input(blob, _nchw_to_hwc(dims, path, f"input '{blob}'"), None, f"input '{blob}'"))
    for layer in layers:
        if layer.type not in DATA_LAYERS:
            continue
        if not layer.tops:
            raise NnbuildError("data layer has no top", file=path, where=layer.where)
        m = layer.msg
        dims = None
        if layer.type == "Input":
            if len(m.input_param.shape):
                dims = list(m.input_param.shape[0].dim)
        elif layer.type == "MemoryData":
            p = m.memory_data_param
            dims = [p.batch_size, p.channels, p.height, p.width]
        elif layer.type == "ImageData":
            p = m.image_data_param
            if p.new_height and p.new_width:
                dims = [p.batch_size, 3 if p.is_color else 1, p.new_height, p.new_width]
        transform = m.transform_param if m.HasField("transform_param") else None
        if dims is not None and transform is not None and transform.crop_size:
            dims = dims[:2] + [transform.crop_size, transform.crop_size]
        found.append(_Input(layer.tops[0], _nchw_to_hwc(dims, path, layer.where), transform,
                            layer.where, layer))
    if not found:
        raise NnbuildError("the net has no input (no TEST-phase data/Input layer and no 'input:')",
                           file=path, expected="one of " + ", ".join(DATA_LAYERS) + " or input: + input_shape")
    if len(found) > 1:
        raise NnbuildError("the net has several inputs: " + ", ".join(f.where for f in found),
                           file=path, expected="exactly one network input")
    return found[0]


def _nchw_to_hwc(dims, path, where):
    if dims is None:
        return None
    if len(dims) != 4 or any(int(d) <= 0 for d in dims[1:]):
        raise NnbuildError(f"input shape {list(dims)} is not usable", file=path, where=where,
                           expected="4 positive dims N, C, H, W")
    return _bounded((int(dims[2]), int(dims[3]), int(dims[1])), path, where)


def _bounded(hwc, path, where):
    """Refuse an input too large to allocate, before anything (mean, graph) is sized by it."""
    if hwc[0] * hwc[1] * hwc[2] > MAX_VALUES:
        raise NnbuildError(f"input shape {list(hwc)} (H, W, C) has {hwc[0] * hwc[1] * hwc[2]} values",
                           file=path, where=where, expected=f"at most {MAX_VALUES} values (2^24) per tensor")
    return hwc


def _input_shape(data, given, path):
    if given is not None:
        given = tuple(int(v) for v in given)
        if len(given) != 3 or min(given) <= 0:
            raise NnbuildError(f"input shape {list(given)} is not usable", where="input.shape",
                               expected="[H, W, C] positive integers")
        _bounded(given, None, "input.shape")
        if data.shape is not None and data.shape != given:
            raise NnbuildError(f"the prototxt declares input {list(data.shape)} (H, W, C) but the manifest "
                               f"says {list(given)}", file=path, where=data.where,
                               expected="the same shape in both, or leave one out")
        return given
    if data.shape is None:
        raise NnbuildError("the prototxt does not give the input shape (its data layer reads a database)",
                           file=path, where=data.where, expected="input.shape [H, W, C] in the manifest")
    return data.shape


def _input_mean(data, mean, shape, path):
    if mean is not None:
        return load_mean(mean, shape)
    t = data.transform
    if t is not None and len(t.mean_value):
        return load_mean(list(t.mean_value), shape)
    if t is not None and t.mean_file:
        raise NnbuildError(f"the data layer subtracts the mean file {t.mean_file!r}, but no mean was given",
                           file=path, where=data.where,
                           expected="input.mean_file (a mean.binaryproto) or input.mean in the manifest")
    return np.zeros(shape, np.float32)


def load_mean(source, shape):
    """The input mean as an (H, W, C) float32 array.

    source: a mean.binaryproto path (BlobProto, 1xCxHxW in CHW order, must match `shape`),
    one value or per-channel values (broadcast), or an array already (H, W, C)."""
    h, w, c = _bounded(tuple(int(v) for v in shape), None, "input.shape")
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise NnbuildError("mean file not found", file=path, expected="a Caffe mean.binaryproto")
        blob = caffe_proto.parse_binary(path, caffe_proto.BlobProto, "mean.binaryproto")
        dims = blob_shape(blob)
        squeezed = dims[1:] if len(dims) == 4 and dims[0] == 1 else dims
        if tuple(squeezed) != (c, h, w):
            raise NnbuildError(f"mean blob has shape {list(dims)}", file=path,
                               expected=f"1x{c}x{h}x{w} (N, C, H, W) to match the input {h}x{w}x{c}")
        arr = blob_array(blob, path, "mean blob")
        out = arr.reshape(c, h, w).transpose(1, 2, 0)
    else:
        values = np.asarray(source, dtype=np.float64)
        if values.shape == (h, w, c):
            out = values
        elif values.ndim <= 1 and values.size in (1, c):
            out = np.broadcast_to(values.reshape(-1), (h, w, c))
        else:
            raise NnbuildError(f"mean has {values.size} values", where="input.mean",
                               expected=f"1 or {c} values (one per channel)")
    out = np.ascontiguousarray(out, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise NnbuildError("mean contains NaN or Inf", where="input.mean", expected="finite values")
    return out


# -- the graph builder --------------------------------------------------------------------------

@dataclass
class _Ref:
    """What a Caffe blob name currently means in the IR."""
    tensor: str
    flat_by: str = None   # Flatten/Reshape layer that made this name (only InnerProduct may read it)


class _Builder:
    def __init__(self, prototxt, weights, blobs, layers):
        self.prototxt, self.weights, self.blobs = prototxt, weights, blobs
        self.graph = None
        self.refs = {}
        self.reserved = {n for l in layers for n in l.bottoms + l.tops}

    # names and lookup
    def new_tensor(self, blob, layer, shape):
        """An output tensor for Caffe blob `blob` written by `layer` (fresh name if it exists)."""
        if blob in self.graph.tensors or blob in self.refs:
            name = layer.name
            k = 1
            while name in self.graph.tensors or name in self.reserved:
                k += 1
                name = f"{layer.name}_{k}"
        else:
            name = blob
        self.graph.tensors[name] = ir.Tensor(name, tuple(int(s) for s in shape))
        self.refs[blob] = _Ref(name)
        return name

    def get(self, layer, blob, allow_flat=False):
        ref = self.refs.get(blob)
        if ref is None:
            raise NnbuildError(f"bottom '{blob}' is never produced by an earlier TEST-phase layer",
                               file=self.prototxt, where=layer.where,
                               expected="bottoms that are tops of layers above (or the data blob)")
        if ref.flat_by and not allow_flat:
            raise NnbuildError(f"bottom '{blob}' comes from Flatten/Reshape layer '{ref.flat_by}', which is "
                               f"only supported right before InnerProduct", file=self.prototxt,
                               where=layer.where, expected="Flatten/Reshape only feeding InnerProduct layers")
        return ref.tensor

    def shape(self, tensor):
        return self.graph.tensors[tensor].shape

    def add_op(self, layer, op_type, inputs, attrs=None, params=None, out_blob=None):
        """The IR op for `layer`; its output shape is the op registry's shape rule."""
        op = ir.Op(layer.name, op_type, list(inputs), [], dict(attrs or {}),
                   {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in (params or {}).items()})
        shape = ops.infer_shape(op, [self.shape(t) for t in inputs])
        op.outputs = [self.new_tensor(out_blob or layer.tops[0], layer, shape)]
        self.graph.ops.append(op)
        return op.outputs[0]

    def alias(self, layer, bottom_tensor, flat_by=None):
        for top in layer.tops:
            self.refs[top] = _Ref(bottom_tensor, flat_by)

    def error(self, layer, message, expected=None):
        return NnbuildError(message, file=self.prototxt, where=layer.where, expected=expected)

    def check_io(self, layer, n_bottoms=1, n_tops=1):
        if (n_bottoms is not None and len(layer.bottoms) != n_bottoms) or len(layer.tops) != n_tops:
            raise self.error(layer, f"has {len(layer.bottoms)} bottoms and {len(layer.tops)} tops",
                             expected=f"{n_bottoms if n_bottoms is not None else 'several'} bottom(s) "
                                      f"and {n_tops} top")

    # weights
    def layer_blobs(self, layer, expected_shapes):
        """The layer's blobs checked against the shapes the prototxt implies (leading 1s ignored,
        as in legacy 4-D blobs)."""
        if layer.name not in self.blobs or not self.blobs[layer.name]:
            raise NnbuildError(f"no trained blobs for layer '{layer.name}'", file=self.weights,
                               where=f"layer '{layer.name}' (prototxt {layer.where})",
                               expected=f"{len(expected_shapes)} blob(s) named after the prototxt's layer")
        arrays = self.blobs[layer.name]
        if len(arrays) < len(expected_shapes):
            raise NnbuildError(f"layer has {len(arrays)} blobs", file=self.weights,
                               where=f"layer '{layer.name}'", expected=f"{len(expected_shapes)} blobs")
        out = []
        for i, (arr, want) in enumerate(zip(arrays, expected_shapes)):
            if _strip_ones(arr.shape) != _strip_ones(want):
                raise NnbuildError(f"blob {i} has shape {list(arr.shape)} but the prototxt implies {list(want)}",
                                   file=self.weights, where=f"layer '{layer.name}'",
                                   expected="weights trained for this prototxt")
            if not np.all(np.isfinite(arr)):
                raise NnbuildError(f"blob {i} contains NaN or Inf", file=self.weights,
                                   where=f"layer '{layer.name}'", expected="finite weights")
            out.append(arr.reshape(want).astype(np.float32))
        return out

    # graph ends
    def add_input(self, blob, shape, mean, scale):
        pixels = "pixels"
        k = 1
        while pixels in self.reserved:
            k += 1
            pixels = f"pixels_{k}"
        self.graph.input = pixels
        self.graph.tensors[pixels] = ir.Tensor(pixels, tuple(shape), "uint8")
        self.graph.tensors[blob] = ir.Tensor(blob, tuple(shape))
        self.refs[blob] = _Ref(blob)
        self.graph.ops.append(ir.Op("input_stage", "input_stage", [pixels], [blob], {"scale": scale},
                                    {"mean": mean}))

    def finish(self, channel_order):
        g = self.graph
        consumed = {t for op in g.ops for t in op.inputs}
        g.outputs = [t for op in g.ops for t in op.outputs if t not in consumed]
        for ref in self.refs.values():
            if ref.flat_by and ref.tensor in g.outputs:
                raise NnbuildError(f"Flatten/Reshape '{ref.flat_by}' ends the net", file=self.prototxt,
                                   expected="Flatten/Reshape only feeding InnerProduct layers")
        g.meta["channel_order"] = channel_order
        if not g.outputs or g.outputs == [g.ops[0].outputs[0]]:
            raise NnbuildError("the net computes nothing from its input", file=self.prototxt,
                               expected="at least one layer after the data layer")
        return g.validate()

    # layers
    def convert(self, layer):
        t = layer.type
        if t in IGNORED_LAYERS or t.endswith("Loss"):
            return
        handler = _HANDLERS.get(t)
        if handler is None:
            raise self.error(layer, f"unsupported layer type '{t}'",
                             expected="one of " + ", ".join(SUPPORTED_LAYERS))
        handler(self, layer)


def _strip_ones(shape):
    shape = tuple(int(s) for s in shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def _pair(layer, b, values, h, w, default, what):
    """Caffe's repeated spatial field (one value for both, or h then w) with *_h/*_w overrides."""
    values = list(values)
    if h is not None or w is not None:
        if h is None or w is None:
            raise b.error(layer, f"{what}_h and {what}_w must be given together")
        if values:
            raise b.error(layer, f"both {what} and {what}_h/{what}_w are given", expected="one of them")
        return int(h), int(w)
    if not values:
        if default is None:
            raise b.error(layer, f"no {what} given", expected=f"{what} or {what}_h and {what}_w")
        return default, default
    if len(values) == 1:
        return int(values[0]), int(values[0])
    if len(values) == 2:
        return int(values[0]), int(values[1])
    raise b.error(layer, f"{what} has {len(values)} values", expected="1 or 2 (2-D convolution)")


def _param(layer, field):
    """A layer's *_param message; legacy V1 layers lack some (they then read as defaults)."""
    if field in layer.msg.DESCRIPTOR.fields_by_name:
        return getattr(layer.msg, field)
    return getattr(caffe_proto.LayerParameter(), field)


def _opt(msg, field):
    return getattr(msg, field) if msg.HasField(field) else None


def _convolution(b, layer):
    b.check_io(layer)
    p = _param(layer, "convolution_param")
    x = b.get(layer, layer.bottoms[0])
    in_h, in_w, in_c = b.shape(x)
    if p.axis != 1:
        raise b.error(layer, f"convolution_param.axis = {p.axis}", expected="1 (channels)")
    kernel = _pair(layer, b, p.kernel_size, _opt(p, "kernel_h"), _opt(p, "kernel_w"), None, "kernel")
    stride = _pair(layer, b, p.stride, _opt(p, "stride_h"), _opt(p, "stride_w"), 1, "stride")
    pad = _pair(layer, b, p.pad, _opt(p, "pad_h"), _opt(p, "pad_w"), 0, "pad")
    dilation = _pair(layer, b, p.dilation, None, None, 1, "dilation")
    group, out_c = int(p.group), int(p.num_output)
    if out_c <= 0 or group <= 0 or in_c % group or out_c % group or min(kernel + stride + dilation) <= 0:
        raise b.error(layer, f"num_output {out_c}, group {group}, kernel {kernel}, stride {stride} with "
                             f"{in_c} input channels",
                      expected="positive sizes, channels in and out divisible by group")
    out_h = ir.conv_output_size(in_h, kernel[0], stride[0], pad[0], dilation[0])
    out_w = ir.conv_output_size(in_w, kernel[1], stride[1], pad[1], dilation[1])
    if out_h <= 0 or out_w <= 0:
        raise b.error(layer, f"kernel {kernel} does not fit the {in_h}x{in_w} input",
                      expected="a kernel no larger than the padded input")
    shapes = [(out_c, in_c // group, kernel[0], kernel[1])] + ([(out_c,)] if p.bias_term else [])
    blobs = b.layer_blobs(layer, shapes)
    weight = blobs[0].transpose(0, 2, 3, 1)        # OIHW -> (O, KH, KW, I/g)
    bias = blobs[1] if p.bias_term else np.zeros(out_c, np.float32)
    b.add_op(layer, "conv2d", [x],
             {"kernel": kernel, "stride": stride, "pad": pad, "dilation": dilation, "group": group},
             {"weight": weight, "bias": bias})


def _pooling(b, layer):
    b.check_io(layer)
    p = _param(layer, "pooling_param")
    x = b.get(layer, layer.bottoms[0])
    in_h, in_w, c = b.shape(x)
    if p.pool not in (0, 1):
        raise b.error(layer, "STOCHASTIC pooling is not supported", expected="pool: MAX or AVE")
    if p.round_mode != 0:
        raise b.error(layer, "round_mode FLOOR is not supported", expected="round_mode: CEIL (Caffe's default)")
    if p.global_pooling:
        kernel, stride, pad = (in_h, in_w), (1, 1), (0, 0)
    else:
        ks = [p.kernel_size] if p.HasField("kernel_size") else []
        kernel = _pair(layer, b, ks, _opt(p, "kernel_h"), _opt(p, "kernel_w"), None, "kernel_size")
        ss = [p.stride] if p.HasField("stride") else []
        stride = _pair(layer, b, ss, _opt(p, "stride_h"), _opt(p, "stride_w"), 1, "stride")
        ps = [p.pad] if p.HasField("pad") else []
        pad = _pair(layer, b, ps, _opt(p, "pad_h"), _opt(p, "pad_w"), 0, "pad")
    if min(kernel + stride) <= 0 or pad[0] >= kernel[0] or pad[1] >= kernel[1]:
        raise b.error(layer, f"kernel {kernel}, stride {stride}, pad {pad}",
                      expected="positive kernel and stride, pad smaller than the kernel")
    out_h = ir.pool_output_size(in_h, kernel[0], stride[0], pad[0])
    out_w = ir.pool_output_size(in_w, kernel[1], stride[1], pad[1])
    if out_h <= 0 or out_w <= 0:
        raise b.error(layer, f"kernel {kernel} does not fit the {in_h}x{in_w} input")
    if any(ir.pool_has_empty_window(n, k, s, pd) for n, k, s, pd in zip((in_h, in_w), kernel, stride, pad)):
        raise b.error(layer, f"with kernel {kernel}, stride {stride}, pad {pad} on a {in_h}x{in_w} input the "
                      "last pooling window lies entirely outside the input (Caffe outputs -FLT_MAX there)",
                      expected="a stride no larger than kernel + pad, or an input size the windows cover")
    b.add_op(layer, "max_pool" if p.pool == 0 else "avg_pool", [x],
             {"kernel": kernel, "stride": stride, "pad": pad})


def _relu(b, layer):
    b.check_io(layer)
    x = b.get(layer, layer.bottoms[0])
    b.add_op(layer, "relu", [x], {"negative_slope": float(_param(layer, "relu_param").negative_slope)})


def _unary(op_type):
    def handler(b, layer):
        b.check_io(layer)
        x = b.get(layer, layer.bottoms[0])
        b.add_op(layer, op_type, [x])
    return handler


def _inner_product(b, layer):
    b.check_io(layer)
    p = _param(layer, "inner_product_param")
    x = b.get(layer, layer.bottoms[0], allow_flat=True)
    h, w, c = b.shape(x)
    if p.axis != 1:
        raise b.error(layer, f"inner_product_param.axis = {p.axis}", expected="1 (flatten C, H, W)")
    out_n, n = int(p.num_output), h * w * c
    if out_n <= 0:
        raise b.error(layer, "num_output is missing or 0", expected="a positive num_output")
    shapes = [(n, out_n) if p.transpose else (out_n, n)] + ([(out_n,)] if p.bias_term else [])
    blobs = b.layer_blobs(layer, shapes)
    weight = blobs[0].T if p.transpose else blobs[0]
    # Caffe flattens (C, H, W); the IR reads the input in HWC order: reorder the columns once here.
    weight = weight.reshape(out_n, c, h, w).transpose(0, 2, 3, 1).reshape(out_n, n)
    bias = blobs[1] if p.bias_term else np.zeros(out_n, np.float32)
    b.add_op(layer, "fully_connected", [x], {}, {"weight": weight, "bias": bias})


def _channel_axis_ok(axis, shapes):
    """Caffe's channel axis is 1; -3 in a 4-D blob, -1 in the 2-D blob an InnerProduct makes."""
    if axis == 1 or axis == -3:
        return True
    return axis == -1 and all(s[0] == 1 and s[1] == 1 for s in shapes)


def _softmax(b, layer):
    b.check_io(layer)
    x = b.get(layer, layer.bottoms[0])
    axis = _param(layer, "softmax_param").axis
    if not _channel_axis_ok(axis, [b.shape(x)]):
        raise b.error(layer, f"softmax over axis {axis}", expected="the channel axis (1)")
    b.add_op(layer, "softmax", [x])


def _passthrough(b, layer):
    """Dropout (identity at test time) and Split (one blob under several names)."""
    if len(layer.bottoms) != 1 or not layer.tops:
        raise b.error(layer, f"has {len(layer.bottoms)} bottoms", expected="1 bottom")
    ref = b.refs.get(layer.bottoms[0])
    x = b.get(layer, layer.bottoms[0], allow_flat=True)
    b.alias(layer, x, ref.flat_by)


def _flatten(b, layer):
    b.check_io(layer)
    x = b.get(layer, layer.bottoms[0], allow_flat=True)
    if layer.type == "Flatten" and (_param(layer, "flatten_param").axis, _param(layer, "flatten_param").end_axis) != (1, -1):
        raise b.error(layer, "Flatten of other axes than C, H, W", expected="axis: 1, end_axis: -1")
    if layer.type == "Reshape":
        dims = list(_param(layer, "reshape_param").shape.dim)
        size = b.graph.tensors[x].size
        if dims not in ([0, -1], [-1, size], [0, size], [1, size], [1, -1]):
            raise b.error(layer, f"Reshape to {dims}", expected="a flatten to (N, C*H*W), e.g. shape { dim: 0 dim: -1 }")
    b.alias(layer, x, flat_by=layer.name)


def _affine(b, layer, mul, add):
    """A per-channel affine op; the fold_affine pass folds it into a conv / fc before it."""
    b.check_io(layer)
    x = b.get(layer, layer.bottoms[0])
    b.add_op(layer, "channel_affine", [x], {}, {"mul": mul, "add": add})


def _batch_norm(b, layer):
    p = _param(layer, "batch_norm_param")
    if p.HasField("use_global_stats") and not p.use_global_stats:
        raise b.error(layer, "use_global_stats: false normalises with batch statistics at test time",
                      expected="use_global_stats true or unset")
    b.check_io(layer)
    c = b.shape(b.get(layer, layer.bottoms[0]))[2]
    mean, var, factor = (a.astype(np.float64) for a in b.layer_blobs(layer, [(c,), (c,), (1,)]))
    # Caffe stores running sums; blobs[2] is the factor they are divided by (0 means unset).
    f = 0.0 if factor[0] == 0 else 1.0 / factor[0]
    inv = 1.0 / np.sqrt(var * f + float(p.eps))
    _affine(b, layer, inv, -mean * f * inv)


def _learned_channels(b, layer, param, what):
    """The channel count of a Scale/Bias layer with learned per-channel blobs (its checks)."""
    p = _param(layer, param)
    if len(layer.bottoms) != 1:
        raise b.error(layer, f"{what} with a second bottom (a computed {what.lower()}) is not supported",
                      expected=f"a learned per-channel {what}")
    b.check_io(layer)
    if p.axis not in (1, -3) or p.num_axes != 1:
        raise b.error(layer, f"{what.lower()} over axis {p.axis} with num_axes {p.num_axes}",
                      expected="axis: 1, num_axes: 1 (per channel)")
    return p, b.shape(b.get(layer, layer.bottoms[0]))[2]


def _scale(b, layer):
    p, c = _learned_channels(b, layer, "scale_param", "Scale")
    blobs = b.layer_blobs(layer, [(c,), (c,)] if p.bias_term else [(c,)])
    gamma = blobs[0].astype(np.float64)
    beta = blobs[1].astype(np.float64) if p.bias_term else np.zeros(c)
    _affine(b, layer, gamma, beta)


def _bias(b, layer):
    _, c = _learned_channels(b, layer, "bias_param", "Bias")
    (beta,) = b.layer_blobs(layer, [(c,)])
    _affine(b, layer, np.ones(c), beta.astype(np.float64))


def _prelu(b, layer):
    b.check_io(layer)
    x = b.get(layer, layer.bottoms[0])
    c = b.shape(x)[2]
    shared = _param(layer, "prelu_param").channel_shared
    (slope,) = b.layer_blobs(layer, [(1,) if shared else (c,)])
    b.add_op(layer, "prelu", [x], {}, {"slope": np.broadcast_to(slope.reshape(-1), (c,))})


def _lrn(b, layer):
    b.check_io(layer)
    p = _param(layer, "lrn_param")
    x = b.get(layer, layer.bottoms[0])
    n = int(p.local_size)
    if n < 1 or n % 2 == 0 or n > 15:
        raise b.error(layer, f"local_size {n}", expected="an odd local_size from 1 to 15 (Caffe requires odd)")
    region = ("across", "within")[p.norm_region]
    if region == "across" and not p.k > 0:
        raise b.error(layer, f"k = {p.k}", expected="k > 0 (the normaliser must stay positive)")
    if not (p.alpha >= 0 and np.isfinite(p.alpha) and np.isfinite(p.beta)):
        raise b.error(layer, f"alpha {p.alpha}, beta {p.beta}", expected="finite values, alpha >= 0")
    b.add_op(layer, "lrn", [x], {"local_size": n, "alpha": float(p.alpha), "beta": float(p.beta),
                                 "k": float(p.k), "region": region})


def _eltwise(b, layer):
    b.check_io(layer, n_bottoms=None)
    p = _param(layer, "eltwise_param")
    if p.operation != 1:
        raise b.error(layer, f"Eltwise {['PROD', 'SUM', 'MAX'][p.operation]} is not supported",
                      expected="operation: SUM")
    if len(layer.bottoms) < 2:
        raise b.error(layer, "Eltwise needs at least 2 bottoms")
    if len(p.coeff) and any(v != 1.0 for v in p.coeff):
        raise b.error(layer, f"Eltwise SUM with coeff {list(p.coeff)}", expected="all coefficients 1")
    xs = [b.get(layer, n) for n in layer.bottoms]
    shapes = {b.shape(x) for x in xs}
    if len(shapes) != 1:
        raise b.error(layer, f"bottoms have different shapes {sorted(shapes)}", expected="equal shapes")
    b.add_op(layer, "add", xs)


def _concat(b, layer):
    b.check_io(layer, n_bottoms=None)
    p = _param(layer, "concat_param")
    xs = [b.get(layer, n) for n in layer.bottoms]
    shapes = [b.shape(x) for x in xs]
    axis = p.axis if p.HasField("axis") or not p.HasField("concat_dim") else p.concat_dim
    if not _channel_axis_ok(axis, shapes):
        raise b.error(layer, f"concat along axis {axis}", expected="the channel axis (1)")
    if len({s[:2] for s in shapes}) != 1:
        raise b.error(layer, f"bottoms have different spatial sizes {[list(s) for s in shapes]}",
                      expected="equal H and W")
    b.add_op(layer, "concat", xs)


_HANDLERS = {
    "Convolution": _convolution,
    "Pooling": _pooling,
    "ReLU": _relu,
    "InnerProduct": _inner_product,
    "Softmax": _softmax,
    "Dropout": _passthrough,
    "Split": _passthrough,
    "Flatten": _flatten,
    "Reshape": _flatten,
    "BatchNorm": _batch_norm,
    "Scale": _scale,
    "Bias": _bias,
    "PReLU": _prelu,
    "LRN": _lrn,
    "Eltwise": _eltwise,
    "Concat": _concat,
    "Sigmoid": _unary("sigmoid"),
    "TanH": _unary("tanh"),
}
