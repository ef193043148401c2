"""The int8 graph of a model that arrives quantized (a fully int8 .tflite, a QDQ ONNX model).

The frontend gives the graph's structure as a float import would (op types and attributes, the
input_stage with the manifest's mean and scale), each activation tensor's (scale, zero point)
and each conv2d / fully_connected's int8 weights, int32 bias and float32 weight scales exactly
as the file holds them. Everything else — requantization multipliers, clamps, tables, the input
stage's integer constants — is derived here by the int8 scheme's own rules (params.lower), so
the result is the graph nnbuild's quantizer would have made with those numbers, and runs as
TFLite Micro runs the file. What the scheme cannot express exactly is refused naming the layer.
"""
import numpy as np

from ...errors import NnbuildError
from . import params
from .arith import QMAX, QMIN, f32
from .ops import rule, where

WEIGHT_QMIN = -params.WEIGHT_QMAX       # TFLite's int8 spec: weights in [-127, 127], zero point 0


def build(graph, qparams, weights, source, warnings=None):
    """The int8-scheme quantized graph.

    graph    float-structured ir.Graph (conv2d / fully_connected without float params)
    qparams  {tensor name: (scale, zero point)} of every tensor but the uint8 pixel input
    weights  {op name: (int8 weight in the IR layout, int32 bias (O,), float32 scales (O,) or (1,))}
    source   what the numbers came from, for meta.quantization.imported (e.g. "tflite")
    Errors name the layer; the frontend's file is not known here (the quantize step runs this)."""
    warnings = [] if warnings is None else warnings
    qparams = {k: _checked(k, s, z) for k, (s, z) in qparams.items()}
    given, per_channel = {}, []
    for op in graph.ops:
        q_in = [qparams.get(t) for t in op.inputs]
        q_out = qparams[op.outputs[0]]
        r = rule(op)
        if r.same_params and tuple(q_in[0]) != tuple(q_out) and not op.attrs.get("tflite_mean"):
            raise NnbuildError(f"output quantization {q_out} differs from the input's {q_in[0]}", where=where(op),
                               expected="equal (scale, zero point): the int8 scheme (and TFLite) compute this op "
                                        "without requantization")
        if r.fixed_params is not None and q_out != _checked(op.outputs[0], *r.fixed_params):
            raise NnbuildError(f"output quantization {q_out}", where=where(op),
                               expected=f"{r.fixed_params}, which TFLite's int8 kernel assumes")
        if op.name in weights:
            wq, bq, ws = _mac_arrays(op, *weights[op.name])
            pc = len(ws) == wq.shape[0]
            per_channel.append(pc)
            given[op.name] = params.mac_record(op, q_in[0], q_out, wq, bq, ws, pc, where(op))
    options = {"per_channel": all(per_channel)}
    q = params.lower(graph, qparams, options, warnings, given)
    q.meta["quantization"]["imported"] = source
    return q


def from_record(graph):
    """The int8 graph of a frontend's record (frontends/quantized.py): its tensors' (scale, zero
    point) and its conv / fully connected integers, everything else derived by build()."""
    qparams = {n: (t.quant["scale"], t.quant["zero_point"]) for n, t in graph.tensors.items() if n != graph.input}
    weights = {op.name: (op.params["weight"], op.params["bias"], op.params["weight_scale"]) for op in graph.ops
               if op.type in ("conv2d", "fully_connected")}
    return build(graph, qparams, weights, graph.meta["quantization"]["imported"])


def _checked(name, scale, zp):
    s = f32(scale)
    if not (np.isfinite(s) and s >= np.finfo(np.float32).tiny) or not QMIN <= int(zp) <= QMAX:
        raise NnbuildError(f"tensor '{name}' has scale {scale!r}, zero point {zp}",
                           expected=f"a positive normal float32 scale and a zero point in [{QMIN}, {QMAX}]")
    return s, int(zp)


def _mac_arrays(op, w, b, ws):
    """The weights, bias and scales of `op` checked against the int8 scheme's conventions."""
    w, b, ws = np.asarray(w), np.asarray(b), np.asarray(ws)
    n_out = w.shape[0] if w.ndim else 0
    if w.dtype != np.int8 or b.dtype != np.int32 or b.shape != (n_out,):
        raise NnbuildError(f"weight {w.dtype} {list(w.shape)}, bias {b.dtype} {list(b.shape)}", where=where(op),
                           expected=f"int8 weights and an int32 bias of {n_out} values")
    if w.size and int(w.min()) < WEIGHT_QMIN:
        raise NnbuildError(f"a weight of {int(w.min())}", where=where(op),
                           expected=f"int8 weights in [{WEIGHT_QMIN}, {params.WEIGHT_QMAX}] (TFLite's symmetric "
                                    "int8 weights)")
    ws = ws.astype(np.float32).reshape(-1)
    if len(ws) not in (1, n_out) or not (np.isfinite(ws).all() and (ws >= np.finfo(np.float32).tiny).all()):
        raise NnbuildError(f"{len(ws)} weight scale(s) for {n_out} output channels", where=where(op),
                           expected="one positive scale per output channel, or one for the tensor")
    return w, b, ws
