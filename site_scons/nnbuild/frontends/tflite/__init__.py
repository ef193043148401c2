"""The TFLite frontend: a .tflite model -> ir.Graph; a fully int8 model arrives quantized.

    reader.py    the bounded flatbuffer reader (flatbuffers' Table, nnbuild/tflite_schema slots)
    convert.py   load_tflite: TFLite operators (NHWC) -> IR ops; a fully int8 model as a record
                 of its numbers (frontends/quantized.py)
    windows.py   TFLite's SAME / VALID (+ a folded PAD) as the IR's symmetric padding

This file is the frontend's declaration only, so that finding the frontends (and loading a
manifest) imports neither flatbuffers nor numpy.
"""
from .. import Frontend, Imported

__all__ = ["FRONTEND", "load_tflite"]


def _files(entry):
    return [f for f in (entry.source["model"], entry.input.mean_file) if f is not None]


def _load(entry):
    from .convert import load_tflite

    inp = entry.input
    graph, quantized = load_tflite(entry.source["model"], input_shape=inp.shape,
                                   mean=inp.mean_file if inp.mean_file is not None else inp.mean,
                                   scale=inp.scale, channel_order=inp.channel_order, name=entry.name)
    return Imported(graph, quantized=quantized)


FRONTEND = Frontend("tflite", _files, _load, source_files=("model",), required=("model",))


def __getattr__(name):      # load_tflite without importing numpy up front
    if name == "load_tflite":
        from .convert import load_tflite

        return load_tflite
    raise AttributeError(name)
