"""A bounded reader of .tflite flatbuffers: the file -> plain Python records (Model, Tensor,
Operator), with the `flatbuffers` package's Table and the field slots of nnbuild/tflite_schema.py.

Every offset, vtable and vector length is checked against the file's size before it is read, so
a truncated or hostile file gives one NnbuildError naming what lies outside it, never an
IndexError, a struct.error or an allocation larger than the file. Counts of tables are capped
(MAX_ITEMS); tensor data is decoded only for the tensors the converter asks for.
"""
import os
from dataclasses import dataclass, field

import numpy as np
from flatbuffers import number_types as N
from flatbuffers.table import Table

from ...errors import NnbuildError, read_user_file
from ... import tflite_schema as S

MAX_BYTES = 256 << 20          # the whole .tflite (weights inline)
MAX_ITEMS = 1 << 16            # tensors, operators, buffers, operator codes, subgraphs
EXPECTED = "a complete TensorFlow Lite flatbuffer (.tflite)"


@dataclass
class Quant:
    scale: np.ndarray              # float32 (n,)
    zero_point: np.ndarray         # int64 (n,)
    dim: int = 0                   # quantized_dimension (per-axis)


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple
    signature: tuple               # shape_signature (-1: dynamic) or None
    type: int                      # TensorType
    buffer: int
    quant: Quant = None
    sparse: bool = False
    variable: bool = False
    external: bool = False


@dataclass
class Operator:
    index: int
    code: int                      # BuiltinOperator (or -1 for a custom op)
    custom: str                    # the custom op's name, or ""
    inputs: tuple
    outputs: tuple
    options: dict = field(default_factory=dict)   # decoded builtin options (OPTION_FIELDS)
    options_type: int = 0


@dataclass
class Model:
    path: str
    version: int
    tensors: list                  # of the one subgraph
    operators: list
    inputs: tuple
    outputs: tuple
    buffers: list                  # (start, length) of each buffer's data in the file
    data: bytes = field(repr=False, default=b"")

    def tensor_data(self, t, dtype, where):
        """The constant data of tensor `t` as a numpy array of its shape (a copy)."""
        if not 0 < t.buffer < len(self.buffers) or self.buffers[t.buffer][1] == 0:
            raise NnbuildError(f"tensor '{t.name}' has no constant data", file=self.path, where=where,
                               expected="a constant (weights) tensor with its data in the file")
        start, length = self.buffers[t.buffer]
        n = int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
        if n * np.dtype(dtype).itemsize != length:
            raise NnbuildError(f"tensor '{t.name}' of shape {list(t.shape)} has {length} bytes of data",
                               file=self.path, where=where,
                               expected=f"{n * np.dtype(dtype).itemsize} bytes ({np.dtype(dtype).name})")
        return np.frombuffer(self.data, np.dtype(dtype).newbyteorder("<"), n, start).reshape(t.shape).astype(dtype)


# Builtin options: {options type: {key: (slot, number type, default)}}; booleans are uint8.
_PAD, _ACT = ("padding", "fused_activation_function")
OPTION_FIELDS = {
    S.BuiltinOptions.Conv2DOptions: {
        _PAD: (S.Conv2DOptions.PADDING, N.Int8Flags, 0), "stride_w": (S.Conv2DOptions.STRIDE_W, N.Int32Flags, 0),
        "stride_h": (S.Conv2DOptions.STRIDE_H, N.Int32Flags, 0),
        _ACT: (S.Conv2DOptions.FUSED_ACTIVATION_FUNCTION, N.Int8Flags, 0),
        "dilation_w": (S.Conv2DOptions.DILATION_W_FACTOR, N.Int32Flags, 1),
        "dilation_h": (S.Conv2DOptions.DILATION_H_FACTOR, N.Int32Flags, 1)},
    S.BuiltinOptions.DepthwiseConv2DOptions: {
        _PAD: (S.DepthwiseConv2DOptions.PADDING, N.Int8Flags, 0),
        "stride_w": (S.DepthwiseConv2DOptions.STRIDE_W, N.Int32Flags, 0),
        "stride_h": (S.DepthwiseConv2DOptions.STRIDE_H, N.Int32Flags, 0),
        "depth_multiplier": (S.DepthwiseConv2DOptions.DEPTH_MULTIPLIER, N.Int32Flags, 0),
        _ACT: (S.DepthwiseConv2DOptions.FUSED_ACTIVATION_FUNCTION, N.Int8Flags, 0),
        "dilation_w": (S.DepthwiseConv2DOptions.DILATION_W_FACTOR, N.Int32Flags, 1),
        "dilation_h": (S.DepthwiseConv2DOptions.DILATION_H_FACTOR, N.Int32Flags, 1)},
    S.BuiltinOptions.Pool2DOptions: {
        _PAD: (S.Pool2DOptions.PADDING, N.Int8Flags, 0), "stride_w": (S.Pool2DOptions.STRIDE_W, N.Int32Flags, 0),
        "stride_h": (S.Pool2DOptions.STRIDE_H, N.Int32Flags, 0),
        "filter_w": (S.Pool2DOptions.FILTER_WIDTH, N.Int32Flags, 0),
        "filter_h": (S.Pool2DOptions.FILTER_HEIGHT, N.Int32Flags, 0),
        _ACT: (S.Pool2DOptions.FUSED_ACTIVATION_FUNCTION, N.Int8Flags, 0)},
    S.BuiltinOptions.FullyConnectedOptions: {
        _ACT: (S.FullyConnectedOptions.FUSED_ACTIVATION_FUNCTION, N.Int8Flags, 0),
        "weights_format": (S.FullyConnectedOptions.WEIGHTS_FORMAT, N.Int8Flags, 0),
        "keep_num_dims": (S.FullyConnectedOptions.KEEP_NUM_DIMS, N.Uint8Flags, 0)},
    S.BuiltinOptions.SoftmaxOptions: {"beta": (S.SoftmaxOptions.BETA, N.Float32Flags, 0.0)},
    S.BuiltinOptions.ConcatenationOptions: {
        "axis": (S.ConcatenationOptions.AXIS, N.Int32Flags, 0),
        _ACT: (S.ConcatenationOptions.FUSED_ACTIVATION_FUNCTION, N.Int8Flags, 0)},
    S.BuiltinOptions.AddOptions: {_ACT: (S.AddOptions.FUSED_ACTIVATION_FUNCTION, N.Int8Flags, 0)},
    S.BuiltinOptions.MulOptions: {_ACT: (S.MulOptions.FUSED_ACTIVATION_FUNCTION, N.Int8Flags, 0)},
    S.BuiltinOptions.ReducerOptions: {"keep_dims": (S.ReducerOptions.KEEP_DIMS, N.Uint8Flags, 0)},
    S.BuiltinOptions.ReshapeOptions: {},     # new_shape is read from the shape tensor / output
    S.BuiltinOptions.PadOptions: {},
    S.BuiltinOptions.PadV2Options: {},
    S.BuiltinOptions.QuantizeOptions: {},
    S.BuiltinOptions.DequantizeOptions: {},
}


class _Buf:
    """The file's bytes and the range checks every read goes through."""

    def __init__(self, data, path):
        self.data, self.n, self.path = data, len(data), path

    def fail(self, message, where=None):
        raise NnbuildError(message, file=self.path, where=where, expected=EXPECTED)

    def need(self, pos, size, what):
        if pos < 0 or size < 0 or pos + size > self.n:
            self.fail(f"{what} lies outside the file (offset {pos}, {size} bytes; the file has {self.n})")

    def get(self, flags, pos, what):
        self.need(pos, flags.bytewidth, what)
        return Table(self.data, 0).Get(flags, pos)


class _Tab:
    """One flatbuffer table whose vtable lies inside the file."""

    def __init__(self, buf, pos, what):
        self.buf, self.what = buf, what
        vtable = pos - buf.get(N.SOffsetTFlags, pos, what)
        vlen = buf.get(N.VOffsetTFlags, vtable, f"{what} (vtable)")
        if vlen < 4 or vlen % 2:
            buf.fail(f"{what} has a malformed vtable (size {vlen})")
        buf.need(vtable, vlen, f"{what} (vtable)")
        self.t, self.vlen = Table(buf.data, pos), vlen

    def _off(self, slot):
        voff = 4 + 2 * slot
        return self.t.Offset(voff) if voff < self.vlen else 0   # inside the checked vtable

    def scalar(self, slot, flags, default):
        o = self._off(slot)
        return default if o == 0 else self.buf.get(flags, self.t.Pos + o, f"{self.what} field {slot}")

    def _vector(self, slot, width, what):
        """(start of the elements, count) of a vector field, or None when absent."""
        o = self._off(slot)
        if o == 0:
            return None
        self.buf.get(N.UOffsetTFlags, self.t.Pos + o, what)
        start = self.t.Vector(o)
        n = self.buf.get(N.UOffsetTFlags, start - 4, what)
        self.buf.need(start, n * width, what)
        return start, n

    def array(self, slot, dtype, what):
        """A vector of scalars as a numpy array (a copy), or None when absent."""
        dt = np.dtype(dtype).newbyteorder("<")
        v = self._vector(slot, dt.itemsize, f"{self.what} {what}")
        return None if v is None else np.frombuffer(self.buf.data, dt, v[1], v[0]).astype(dtype)

    def string(self, slot):
        v = self._vector(slot, 1, f"{self.what} string")
        text = "" if v is None else bytes(self.buf.data[v[0]:v[0] + v[1]]).decode("utf-8", "replace")
        return "".join(c if c.isprintable() else "?" for c in text)   # names go into one-line errors

    def blob(self, slot, what):
        v = self._vector(slot, 1, f"{self.what} {what}")
        return (0, 0) if v is None else v

    def table(self, slot, what):
        o = self._off(slot)
        if o == 0:
            return None
        pos = self.t.Pos + o
        return _Tab(self.buf, pos + self.buf.get(N.UOffsetTFlags, pos, what), what)

    def tables(self, slot, what):
        v = self._vector(slot, 4, f"{self.what} {what}")
        if v is None:
            return []
        start, n = v
        if n > MAX_ITEMS:
            self.buf.fail(f"{n} {what}", where=self.what)
        out = []
        for i in range(n):
            pos = start + 4 * i
            out.append(_Tab(self.buf, pos + self.buf.get(N.UOffsetTFlags, pos, what), f"{what}[{i}]"))
        return out


def read_model(path):
    """The one subgraph of the .tflite file at `path`, as plain records (bounded reads)."""
    path = os.fspath(path)
    data = read_user_file(path, MAX_BYTES, "TFLite model")
    buf = _Buf(data, path)
    if len(data) < 8 or data[4:8] != S.FILE_IDENTIFIER:
        buf.fail(f"the file does not start as a TFLite flatbuffer (identifier {bytes(data[4:8])!r}, not b'TFL3')")
    root = _Tab(buf, buf.get(N.UOffsetTFlags, 0, "root table"), "model")
    version = root.scalar(S.Model.VERSION, N.Uint32Flags, 0)
    if version != S.SCHEMA_VERSION:
        buf.fail(f"schema version {version}", where="model")
    codes = [_opcode(t) for t in root.tables(S.Model.OPERATOR_CODES, "operator_codes")]
    subgraphs = root.tables(S.Model.SUBGRAPHS, "subgraphs")
    if len(subgraphs) != 1:
        raise NnbuildError(f"the model has {len(subgraphs)} subgraphs", file=path,
                           expected="exactly one subgraph (no control flow)")
    buffers = [_buffer(t, buf) for t in root.tables(S.Model.BUFFERS, "buffers")]
    sg = subgraphs[0]
    tensors = [_tensor(t, i, buf) for i, t in enumerate(sg.tables(S.SubGraph.TENSORS, "tensors"))]
    operators = [_operator(t, i, codes, buf) for i, t in enumerate(sg.tables(S.SubGraph.OPERATORS, "operators"))]
    ins, outs = (_indices(sg, slot, what, len(tensors), buf)
                 for slot, what in ((S.SubGraph.INPUTS, "inputs"), (S.SubGraph.OUTPUTS, "outputs")))
    for op in operators:
        for t in op.inputs + op.outputs:
            if t != -1 and not 0 <= t < len(tensors):
                buf.fail(f"operator {op.index} names tensor {t} of {len(tensors)}", where=f"operator {op.index}")
    return Model(path, version, tensors, operators, ins, outs, buffers, data)


def _indices(tab, slot, what, n, buf):
    v = tab.array(slot, np.int32, what)
    v = () if v is None else tuple(int(i) for i in v)
    if any(not 0 <= i < n for i in v):
        buf.fail(f"subgraph {what} {list(v)} name tensors outside 0..{n - 1}")
    return v


def _opcode(t):
    deprecated = t.scalar(S.OperatorCode.DEPRECATED_BUILTIN_CODE, N.Int8Flags, 0)
    code = max(t.scalar(S.OperatorCode.BUILTIN_CODE, N.Int32Flags, 0), deprecated)   # schema's rule
    return code, t.string(S.OperatorCode.CUSTOM_CODE)


def _buffer(t, buf):
    if t.scalar(S.Buffer.OFFSET, N.Uint64Flags, 0) or t.scalar(S.Buffer.SIZE, N.Uint64Flags, 0):
        buf.fail("a buffer's data lies outside the flatbuffer (offset/size: a model over 2 GB)", where=t.what)
    return t.blob(S.Buffer.DATA, "data")


def _tensor(t, i, buf):
    shape = t.array(S.Tensor.SHAPE, np.int32, "shape")
    sig = t.array(S.Tensor.SHAPE_SIGNATURE, np.int32, "shape_signature")
    qt = t.table(S.Tensor.QUANTIZATION, f"{t.what} quantization")
    quant = None
    if qt is not None:
        scale = qt.array(S.QuantizationParameters.SCALE, np.float32, "scale")
        zp = qt.array(S.QuantizationParameters.ZERO_POINT, np.int64, "zero_point")
        if qt.scalar(S.QuantizationParameters.DETAILS_TYPE, N.Uint8Flags, 0):
            buf.fail("custom quantization details", where=t.what)
        if scale is not None and len(scale):
            quant = Quant(scale, zp if zp is not None else np.zeros(0, np.int64),
                          qt.scalar(S.QuantizationParameters.QUANTIZED_DIMENSION, N.Int32Flags, 0))
    return Tensor(i, t.string(S.Tensor.NAME), tuple(int(s) for s in (shape if shape is not None else ())),
                  None if sig is None else tuple(int(s) for s in sig), t.scalar(S.Tensor.TYPE, N.Int8Flags, 0),
                  t.scalar(S.Tensor.BUFFER, N.Uint32Flags, 0), quant,
                  sparse=t.table(S.Tensor.SPARSITY, "sparsity") is not None,
                  variable=bool(t.scalar(S.Tensor.IS_VARIABLE, N.Uint8Flags, 0)),
                  external=bool(t.scalar(S.Tensor.EXTERNAL_BUFFER, N.Uint32Flags, 0)))


def _operator(t, i, codes, buf):
    ci = t.scalar(S.Operator.OPCODE_INDEX, N.Uint32Flags, 0)
    if ci >= len(codes):
        buf.fail(f"operator code index {ci} of {len(codes)} codes", where=t.what)
    code, custom = codes[ci]
    ins, outs = (t.array(slot, np.int32, what) for slot, what in ((S.Operator.INPUTS, "inputs"),
                                                                   (S.Operator.OUTPUTS, "outputs")))
    opt_type = t.scalar(S.Operator.BUILTIN_OPTIONS_TYPE, N.Uint8Flags, 0)
    options = {}
    fields = OPTION_FIELDS.get(opt_type)
    ot = t.table(S.Operator.BUILTIN_OPTIONS, f"{t.what} options") if opt_type else None
    if ot is not None and fields is not None:
        options = {k: ot.scalar(slot, flags, d) for k, (slot, flags, d) in fields.items()}
    return Operator(i, code if not custom else -1, custom,
                    tuple(int(x) for x in (ins if ins is not None else ())),
                    tuple(int(x) for x in (outs if outs is not None else ())), options, opt_type)
