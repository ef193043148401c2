"""The record of a model that arrives quantized (a fully int8 .tflite, a QDQ ONNX model): the
graph's float structure annotated with the file's numbers, exactly as the file holds them:

  * meta["quantization"] = {"scheme": "int8", "imported": source, "record": True}
  * every tensor but the pixel input: quant {"scale": float32 scale, "zero_point": z}
  * every conv2d / fully_connected: params weight (int8, the IR layout), bias (int32), weight_scale
    (float32, one per output channel or one)

The quantize step turns it into the int8 scheme's graph (quantize/int8/imported.py derives the
multipliers, clamps, tables and the input stage), so the import step needs none of the
quantizer's code and editing the quantizer does not re-import.
"""
import numpy as np


def record(graph, qparams, weights, source):
    """Annotate `graph` (float structure) in place with the imported numbers; returns it."""
    graph.meta["quantization"] = {"scheme": "int8", "imported": source, "record": True}
    for name, t in graph.tensors.items():
        if name != graph.input:
            s, z = qparams[name]
            t.dtype, t.quant = "int8", {"scale": float(np.float32(s)), "zero_point": int(z)}
    for op in graph.ops:
        if op.name in weights:
            w, b, ws = weights[op.name]
            op.params = {"weight": np.asarray(w), "bias": np.asarray(b), "weight_scale": np.asarray(ws)}
    return graph
