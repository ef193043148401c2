"""Test utility: one quantized int8 op of nnbuild's IR as a one-operator `.tflite` model, run in
TensorFlow Lite Micro's reference interpreter (PyPI tflite-micro), the oracle of the int8 scheme.

    y = run(qop, x, q_in, q_out)     # x int8 (N, H, W, C); q_in, q_out (scale, zero point)

The model is built with the TFLite schema's object API shipped in tflite_micro and packed with
flatbuffers. Only IR ops that TFLite expresses exactly are accepted: Caffe's symmetric padding must
be TFLite's SAME or VALID padding for the shape (`tflite_padding`). (The real exporter of whole
graphs is `nnbuild export --format tflite`; this is a single-op test helper.)
"""
import math

import flatbuffers
import numpy as np
from tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

from nnbuild import ir
from nnbuild.windows import pair


def tflite_padding(size, kernel, stride, pad, dilation=1, pool=False):
    """Padding.SAME or VALID when TFLite's output size and leading padding along one axis equal
    the IR's (Caffe: floor-mode conv, ceil-mode pooling), else None."""
    eff = (kernel - 1) * dilation + 1
    out = ir.pool_output_size(size, kernel, stride, pad) if pool else ir.conv_output_size(size, kernel, stride, pad,
                                                                                           dilation)
    if pad == 0 and out == (size - eff) // stride + 1:
        return tfl.Padding.VALID
    same_out = math.ceil(size / stride)
    if out == same_out and max((same_out - 1) * stride + eff - size, 0) // 2 == pad:
        return tfl.Padding.SAME
    return None


def _padding(qop, shape, pool=False):
    a = qop.attrs
    (kh, kw), (sh, sw), (ph, pw) = (pair(a[k]) for k in ("kernel", "stride", "pad"))
    dh, dw = pair(a.get("dilation", 1))
    p = {tflite_padding(shape[1], kh, sh, ph, dh, pool), tflite_padding(shape[2], kw, sw, pw, dw, pool)}
    if None in p or len(p) != 1:
        raise ValueError(f"{qop.name}: padding {a['pad']} on {shape} is neither SAME nor VALID in TFLite")
    return p.pop(), (kh, kw), (sh, sw), (dh, dw)


class _Model:
    def __init__(self):
        self.tensors, self.buffers = [], [tfl.BufferT()]     # buffer 0: the empty buffer

    def tensor(self, shape, ttype, scale, zero_point, data=None, qdim=0):
        t = tfl.TensorT()
        t.shape = np.asarray(shape, np.int32)
        t.type = ttype
        t.name = f"t{len(self.tensors)}".encode()
        q = tfl.QuantizationParametersT()
        q.scale = np.asarray(scale, np.float32).reshape(-1)
        q.zeroPoint = np.broadcast_to(np.asarray(zero_point, np.int64), q.scale.shape).copy()
        q.quantizedDimension = qdim
        t.quantization = q
        t.buffer = 0
        if data is not None:
            b = tfl.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def pack(self, code, inputs, output, options_type, options):
        oc = tfl.OperatorCodeT()
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = min(code, 127)
        oc.version = 1
        op = tfl.OperatorT()
        op.opcodeIndex = 0
        op.inputs = np.asarray(inputs, np.int32)
        op.outputs = np.asarray([output], np.int32)
        op.builtinOptionsType = options_type
        op.builtinOptions = options
        sg = tfl.SubGraphT()
        sg.tensors = self.tensors
        sg.inputs = np.asarray([inputs[0]], np.int32)
        sg.outputs = np.asarray([output], np.int32)
        sg.operators = [op]
        m = tfl.ModelT()
        m.version = 3
        m.operatorCodes = [oc]
        m.subgraphs = [sg]
        m.buffers = self.buffers
        m.description = b"nnbuild single-op test"
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _act(qop):
    return tfl.ActivationFunctionType.RELU if qop.attrs.get("activation", "none") == "relu" \
        else tfl.ActivationFunctionType.NONE


def model_bytes(qop, x_shape, q_in, q_out, out_shape):
    """The one-op `.tflite` (bytes) for quantized IR op `qop` on input shape (N, H, W, C)."""
    m = _Model()
    t = qop.type
    flat = (x_shape[0], int(np.prod(x_shape[1:])))      # TFLite's FULLY_CONNECTED input: (N, D)
    x = m.tensor(flat if t == "fully_connected" else x_shape, tfl.TensorType.INT8, *q_in)
    if t in ("conv2d", "fully_connected"):
        w, ws = qop.params["weight"], np.asarray(qop.params["weight_scale"], np.float32)
        bias_scale = (np.float32(q_in[0]) * ws).astype(np.float32)
        n_out = w.shape[0]
        if t == "fully_connected":
            wi = m.tensor(w.shape, tfl.TensorType.INT8, ws, 0, w)
            bi = m.tensor((n_out,), tfl.TensorType.INT32, bias_scale, 0, qop.params["bias"].astype(np.int32))
            y = m.tensor((x_shape[0], n_out), tfl.TensorType.INT8, *q_out)
            o = tfl.FullyConnectedOptionsT()
            o.fusedActivationFunction = _act(qop)
            return m.pack(tfl.BuiltinOperator.FULLY_CONNECTED, [x, wi, bi], y,
                          tfl.BuiltinOptions.FullyConnectedOptions, o)
        padding, _, (sh, sw), (dh, dw) = _padding(qop, x_shape)
        group, c_in = int(qop.attrs.get("group", 1)), x_shape[3]
        if group == c_in and group > 1 and w.shape[3] == 1:
            # depthwise: filter (1, KH, KW, O), output channel o reads input channel o // multiplier
            wi = m.tensor((1,) + w.shape[1:3] + (n_out,), tfl.TensorType.INT8, ws, 0,
                          np.ascontiguousarray(w[..., 0].transpose(1, 2, 0)), qdim=3)
            bi = m.tensor((n_out,), tfl.TensorType.INT32, bias_scale, 0, qop.params["bias"].astype(np.int32))
            y = m.tensor(out_shape, tfl.TensorType.INT8, *q_out)
            o = tfl.DepthwiseConv2DOptionsT()
            o.padding, o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor = padding, sh, sw, dh, dw
            o.depthMultiplier = n_out // c_in
            o.fusedActivationFunction = _act(qop)
            return m.pack(tfl.BuiltinOperator.DEPTHWISE_CONV_2D, [x, wi, bi], y,
                          tfl.BuiltinOptions.DepthwiseConv2DOptions, o)
        wi = m.tensor(w.shape, tfl.TensorType.INT8, ws, 0, w)
        bi = m.tensor((n_out,), tfl.TensorType.INT32, bias_scale, 0, qop.params["bias"].astype(np.int32))
        y = m.tensor(out_shape, tfl.TensorType.INT8, *q_out)
        o = tfl.Conv2DOptionsT()
        o.padding, o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor = padding, sh, sw, dh, dw
        o.fusedActivationFunction = _act(qop)
        return m.pack(tfl.BuiltinOperator.CONV_2D, [x, wi, bi], y, tfl.BuiltinOptions.Conv2DOptions, o)
    if t in ("max_pool", "avg_pool"):
        padding, (kh, kw), (sh, sw), _ = _padding(qop, x_shape, pool=True)
        y = m.tensor(out_shape, tfl.TensorType.INT8, *q_out)
        o = tfl.Pool2DOptionsT()
        o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth = padding, sh, sw, kh, kw
        o.fusedActivationFunction = tfl.ActivationFunctionType.NONE
        code = tfl.BuiltinOperator.MAX_POOL_2D if t == "max_pool" else tfl.BuiltinOperator.AVERAGE_POOL_2D
        return m.pack(code, [x], y, tfl.BuiltinOptions.Pool2DOptions, o)
    if t == "relu":
        y = m.tensor(out_shape, tfl.TensorType.INT8, *q_out)
        return m.pack(tfl.BuiltinOperator.RELU, [x], y, tfl.BuiltinOptions.NONE, None)
    raise ValueError(f"no single-op TFLite model for op type {t!r}")


def run(qop, x, q_in, q_out, out_shape):
    """TFLM's output (int8, `out_shape` = (N, H, W, C)) of `qop` on int8 input x (N, H, W, C)."""
    x = np.ascontiguousarray(x, np.int8)
    data = model_bytes(qop, x.shape, q_in, q_out, out_shape)
    it = runtime.Interpreter.from_bytes(data, arena_size=max(1 << 16, 8 * (x.size + int(np.prod(out_shape)))
                                                                + 4 * len(data)))
    it.set_input(x.reshape(it.get_input_details(0)["shape"]), 0)
    it.invoke()
    return np.asarray(it.get_output(0)).reshape(out_shape)
