"""The Caffe frontend: prototxt (structure) + trained blobs (.caffemodel.h5 or binary
.caffemodel) + mean -> ir.Graph.

    convert.py   load_caffe / load_mean: Caffe layers -> IR ops (HWC, weights reordered once)
    net.py       the TEST-phase layers of a prototxt (both `layer` and legacy `layers` forms)
    proto.py     the caffe.proto subset, built in Python (no protoc); text and binary parsing
    weights.py   blobs from .caffemodel.h5 / .caffemodel, sizes checked before reading
    writer.py    nnbuild's own Caffe writer (the sample models, random test nets)

This file is the frontend's declaration only, so that finding the frontends (and loading a
manifest) imports none of protobuf, h5py or numpy.
"""
from .. import Frontend, Imported

__all__ = ["FRONTEND", "load_caffe", "load_mean"]


def _files(entry):
    return [f for f in (entry.source["prototxt"], entry.source["weights"], entry.input.mean_file) if f is not None]


def _load(entry):
    from .convert import load_caffe

    inp = entry.input
    return Imported(load_caffe(entry.source["prototxt"], entry.source["weights"], input_shape=inp.shape,
                               mean=inp.mean_file if inp.mean_file is not None else inp.mean,
                               scale=inp.scale, channel_order=inp.channel_order, name=entry.name))


FRONTEND = Frontend("caffe", _files, _load, source_files=("prototxt", "weights"), required=("prototxt", "weights"))


def __getattr__(name):      # load_caffe / load_mean without importing the converter up front
    if name in ("load_caffe", "load_mean"):
        from . import convert

        return getattr(convert, name)
    raise AttributeError(name)
