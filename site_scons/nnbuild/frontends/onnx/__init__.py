"""The ONNX frontend: a float .onnx model (PyTorch / TensorFlow exports) -> ir.Graph; a QDQ
model (QuantizeLinear / DequantizeLinear pairs) -> the int8 scheme's graph.

    convert.py   load_onnx: ONNX nodes (NCHW) -> IR ops (HWC, weights reordered once)
    qdq.py       QDQ pairs: activation (scale, zero point), int8 weights, the int8 graph

This file is the frontend's declaration only, so that finding the frontends (and loading a
manifest) does not import the onnx package or numpy.
"""
from .. import Frontend, Imported

__all__ = ["FRONTEND", "load_onnx"]


def _files(entry):
    return [f for f in (entry.source["model"], entry.input.mean_file) if f is not None]


def _load(entry):
    from .convert import load_onnx

    inp = entry.input
    graph = load_onnx(entry.source["model"], input_shape=inp.shape,
                      mean=inp.mean_file if inp.mean_file is not None else inp.mean,
                      scale=inp.scale, channel_order=inp.channel_order, name=entry.name)
    return Imported(graph, quantized="quantization" in graph.meta)      # a QDQ model arrives as int8


FRONTEND = Frontend("onnx", _files, _load, source_files=("model",), required=("model",))


def __getattr__(name):      # load_onnx without importing onnx up front
    if name == "load_onnx":
        from .convert import load_onnx

        return load_onnx
    raise AttributeError(name)
