"""QDQ ONNX (QuantizeLinear / DequantizeLinear pairs) -> the int8 scheme's graph.

A QuantizeLinear -> DequantizeLinear pair on an activation is an identity of the float graph
that records the tensor's (scale, zero point); a DequantizeLinear of an int8 / int32 initializer
is a constant whose float value the float handlers use as they would any weight, and whose
integers the int8 graph keeps. After the float structure is built, the conv2d / fully_connected
weights are read back as those integers (exactly: float32(q * s) / s rounds back to q for
|q| <= 127), biases are taken as the int32 initializers, and the graph is recorded as arriving
quantized (frontends/quantized.py); the quantize step derives the rest, as for an int8 .tflite. A Mul / Add
by a DequantizeLinear'd int8 constant keeps the constant's integers and scale (TFLite's MUL / ADD
by a constant). What the int8 scheme does not fit (uint8 or per-axis
activations, asymmetric or -128 weights, a bias not at s_in * s_w, an activation without a
QuantizeLinear) is refused naming the node or tensor.
"""
import numpy as np

from ...errors import NnbuildError


def _scalar_const(b, node, i, what, dtype):
    arr = np.asarray(b.const(node, i, what, dtype=dtype))
    if arr.size != 1:
        raise b.error(node, f"{what} of shape {list(arr.shape)}", expected="one value (per-tensor activations)")
    return arr.reshape(-1)[0]


def quantize_linear(b, node):
    x = b.data(node, kinds=("image", "vector", "flat"))
    if len(node.input) < 3 or not node.input[2]:
        raise b.error(node, "no zero point (uint8 by default)", expected="an int8 zero point")
    scale = float(_scalar_const(b, node, 1, "scale", np.float32))
    zp = b.value(node, node.input[2])
    if zp.kind != "const" or zp.array.dtype != np.int8 or zp.array.size != 1:
        raise b.error(node, f"zero point of type {getattr(zp.array, 'dtype', zp.kind)}",
                      expected="one int8 zero point (int8 activations)")
    q = (scale, int(zp.array.reshape(-1)[0]))
    if b.act_q.get(x.tensor, q) != q:
        raise b.error(node, f"tensor '{x.tensor}' quantized twice: {b.act_q[x.tensor]} and {q}",
                      expected="one (scale, zero point) per tensor")
    b.act_q[x.tensor] = q
    b.vals[node.output[0]] = type(x)("quant", x.tensor, q=x.kind)


def dequantize_linear(b, node):
    v = b.value(node, node.input[0])
    if v.kind == "quant":
        b.vals[node.output[0]] = type(v)(v.q, v.tensor)
        return
    if v.kind != "const" or v.array.dtype not in (np.int8, np.int32):
        raise b.error(node, f"DequantizeLinear of {v.kind if v.kind != 'const' else v.array.dtype}",
                      expected="a QuantizeLinear output, or an int8 / int32 initializer")
    q = v.array
    scale = np.asarray(b.const(node, 1, "scale"), np.float32).reshape(-1)
    zp = b.value(node, node.input[2]).array if len(node.input) > 2 and node.input[2] else np.zeros(1, q.dtype)
    zp = np.asarray(zp).reshape(-1)
    axis = int(b.attr(node, "axis", 1))
    n = q.shape[axis] if -q.ndim <= axis < q.ndim else 1     # per-tensor: the axis does not matter
    if len(scale) not in (1, n) or zp.size not in (1, len(scale)) or np.any(zp != 0):
        raise b.error(node, f"{len(scale)} scale(s), zero points {sorted(set(zp.tolist()))} on axis {axis}",
                      expected="symmetric weights (zero point 0), one scale or one per channel of the axis")
    shape = [1] * q.ndim
    if len(scale) > 1:
        shape[axis] = n
    real = (q.astype(np.float32) * scale.reshape(shape)).astype(np.float32)
    b.vals[node.output[0]] = type(v)("const", array=real, q=(q, scale, axis))


def int8_graph(b, graph):
    """The record (frontends/quantized.py) of a QDQ model whose float structure `graph` the builder made."""
    from ...passes import fuse_activation

    graph = fuse_activation.apply(graph)      # Conv -> Relu -> QuantizeLinear: one quantized op
    qparams = {}
    for name in graph.tensors:
        if name == graph.input:
            continue
        if name not in b.act_q:
            raise NnbuildError(f"tensor '{name}' has no QuantizeLinear", file=b.path,
                               expected="a QuantizeLinear / DequantizeLinear pair on every activation")
        qparams[name] = b.act_q[name]
    weights = {}
    for op in graph.ops:
        if op.type == "channel_affine":
            _affine_integers(b, op)
        if op.type not in ("conv2d", "fully_connected"):
            continue
        base = op.name.split("+")[0]                  # fuse_activation renames to "<conv>+<relu>"
        q = b.op_q.get(base, {})
        if 1 not in q:
            raise NnbuildError("float weights in a QDQ model", file=b.path, where=f"layer '{op.name}'",
                               expected="int8 weights through DequantizeLinear")
        weights[op.name] = _mac_integers(b, op, q, qparams[op.inputs[0]][0])
    from ..quantized import record

    return record(graph, qparams, weights, "onnx-qdq").validate()


def _mac_integers(b, op, q, s_in):
    """(int8 weight in the IR layout, int32 bias, float32 weight scales) of a conv2d / fc."""
    w = np.asarray(op.params["weight"], np.float64)
    n_out = w.shape[0]
    scale = q[1][1]
    s = np.broadcast_to(scale.astype(np.float64), (n_out,)) if len(scale) in (1, n_out) else None
    if s is None or (len(scale) > 1 and q[1][0].shape[q[1][2]] != n_out):
        raise NnbuildError(f"{len(scale)} weight scales on axis {q[1][2]}", file=b.path, where=f"layer '{op.name}'",
                           expected=f"one per output channel ({n_out}) or one")
    ratio = w / s.reshape((-1,) + (1,) * (w.ndim - 1))
    wq = np.round(ratio)
    if np.abs(ratio - wq).max(initial=0) > 1e-3 or np.abs(wq).max(initial=0) > 127:
        raise NnbuildError("weights that are not int8 multiples of their scale", file=b.path,
                           where=f"layer '{op.name}'", expected="int8 weights in [-127, 127] (no scaling by alpha)")
    ws = scale.astype(np.float32)
    if 2 in q:
        bias, b_scale, _ = q[2]
        want = (np.float32(s_in) * np.broadcast_to(ws, (n_out,))).astype(np.float32)
        if bias.dtype != np.int32 or bias.shape != (n_out,) or not np.array_equal(np.broadcast_to(b_scale, (n_out,)), want):
            raise NnbuildError("bias not int32 at the scale s_in * s_w", file=b.path, where=f"layer '{op.name}'",
                               expected="an int32 bias whose DequantizeLinear scale is float32(s_in * s_w[o])")
    elif np.any(np.asarray(op.params.get("bias", 0.0)) != 0):
        raise NnbuildError("a float bias in a QDQ model", file=b.path, where=f"layer '{op.name}'",
                           expected="an int32 bias through DequantizeLinear")
    else:
        bias = np.zeros(n_out, np.int32)
    return wq.astype(np.int8), bias.astype(np.int32), ws


def _affine_integers(b, op):
    """A Mul / Add by a DequantizeLinear'd int8 constant keeps the constant's integers and scale:
    TFLite's MUL / ADD by a constant (quantize/int8/ops/affine.py)."""
    node_type, q = b.op_q.get(op.name, {}).get("affine", (None, None))
    if q is None:
        raise NnbuildError("a Mul / Add by a float constant in a QDQ model", file=b.path, where=f"layer '{op.name}'",
                           expected="an int8 constant through DequantizeLinear")
    k, scale, _ = q
    if len(scale) != 1:
        raise NnbuildError(f"a Mul / Add constant with {len(scale)} scales", file=b.path, where=f"layer '{op.name}'",
                           expected="one scale for the constant (per-tensor, as TFLite's MUL / ADD)")
    k = np.ascontiguousarray(np.asarray(k, np.int8).reshape(-1))
    op.attrs.update(affine="mul" if node_type == "Mul" else "add", k_scale=float(scale[0]), k_zp=0,
                    const_shape=[len(k)])
    op.params = {"const": k}
