"""Trained blobs of a Caffe model, by layer name, from either file format Caffe writes:

  * `.caffemodel.h5` (HDF5 snapshot): group `data/<layer>/<i>` holds blob i in Caffe's layout;
  * `.caffemodel` (binary NetParameter): `layer[].blobs` (or legacy `layers[].blobs`), each blob
    with `shape` or the legacy num/channels/height/width.

The format is recognised by content (HDF5 signature), not by file name.
"""
import numpy as np

from ..errors import NnbuildError
from . import caffe_proto

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def load_weights(path):
    """path -> {layer name: [np.float32 array in Caffe's shape, ...]}."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(HDF5_SIGNATURE))
    except FileNotFoundError:
        raise NnbuildError("weights file not found", file=path) from None
    except OSError as e:
        raise NnbuildError(f"cannot read weights file: {e.strerror}", file=path) from None
    if head == HDF5_SIGNATURE:
        return _load_h5(path)
    return _load_caffemodel(path)


def _load_h5(path):
    import h5py  # only needed for this format

    out = {}
    try:
        with h5py.File(path, "r") as f:
            if "data" not in f or not isinstance(f["data"], h5py.Group):
                raise NnbuildError("HDF5 file has no 'data' group", file=path,
                                   expected="a Caffe .caffemodel.h5 (groups data/<layer>/0, 1, ...)")
            for layer_name, group in f["data"].items():
                if not isinstance(group, h5py.Group):
                    continue
                keys = sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1)
                if any(not k.isdigit() for k in keys) or [int(k) for k in keys] != list(range(len(keys))):
                    raise NnbuildError(f"blobs named {keys}", file=path, where=f"data/{layer_name}",
                                       expected="datasets named 0, 1, ...")
                out[layer_name] = [np.asarray(group[k][()], dtype=np.float32) for k in keys]
    except NnbuildError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise NnbuildError(f"corrupt or truncated HDF5 weights file: {e}", file=path,
                           expected="a readable Caffe .caffemodel.h5") from None
    return out


def _load_caffemodel(path):
    net = caffe_proto.parse_binary(path, caffe_proto.NetParameter, "caffemodel")
    if not net.layer and not net.layers:
        raise NnbuildError("caffemodel holds no layers", file=path,
                           expected="a binary Caffe NetParameter with trained blobs")
    out = {}
    for layer in list(net.layer) + list(net.layers):
        blobs = [blob_array(b, path, f"layer '{layer.name}', blob {i}") for i, b in enumerate(layer.blobs)]
        # A net may repeat a name (e.g. TRAIN and TEST data layers); only one has blobs.
        if blobs or layer.name not in out:
            out[layer.name] = blobs
    return out


def blob_shape(blob):
    """A BlobProto's dims: `shape` when present, else the legacy 4-D num/channels/height/width."""
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim)
    return (int(blob.num), int(blob.channels), int(blob.height), int(blob.width))


def blob_array(blob, path, where):
    """BlobProto -> float32 ndarray of its declared shape; a count mismatch means corruption."""
    shape = blob_shape(blob)
    values = blob.data if len(blob.data) else blob.double_data
    count = int(np.prod(shape)) if shape else 1
    if len(values) != count:
        raise NnbuildError(f"blob has {len(values)} values but its shape {list(shape)} needs {count}",
                           file=path, where=where, expected="a complete (not truncated) blob")
    return np.asarray(values, dtype=np.float32).reshape(shape)
