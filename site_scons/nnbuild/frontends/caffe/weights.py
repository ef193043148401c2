"""Trained blobs of a Caffe model, by layer name, from either file format Caffe writes:

  * `.caffemodel.h5` (HDF5 snapshot): group `data/<layer>/<i>` holds blob i in Caffe's layout;
  * `.caffemodel` (binary NetParameter): `layer[].blobs` (or legacy `layers[].blobs`), each blob
    with `shape` or the legacy num/channels/height/width.

The format is recognised by content (HDF5 signature), not by file name.

Weight files come from outside, so the work done on them is bounded: a blob's declared shape is
checked (non-negative dims, at most MAX_VALUES values) before anything is allocated for it, and
values are read only when the frontend uses the blob (`Blob`): an unused 10^10-element dataset
in an HDF5 file costs nothing, and a used one whose shape differs from what the prototxt implies
is refused from its header.
"""
import math

import numpy as np

from ...errors import NnbuildError
from . import proto as caffe_proto

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# Values per blob and per tensor (input, mean): 64 MiB as float32, far more than any model that
# fits a microcontroller; a larger declaration is corruption or a memory bomb.
MAX_VALUES = 1 << 24


class Blob:
    """One trained blob: `shape` is known from the file's header, the float32 values are read on
    first use (np.asarray(blob), or any ndarray attribute such as reshape/astype)."""

    def __init__(self, shape, read):
        self.shape = tuple(int(d) for d in shape)
        self._read = read
        self._array = None

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    def array(self):
        if self._array is None:
            arr = np.asarray(self._read(), dtype=np.float32)
            self._array = arr.reshape(self.shape)
            self._read = None
        return self._array

    def __array__(self, dtype=None, copy=None):
        arr = self.array()
        if dtype is not None:
            arr = arr.astype(dtype, copy=bool(copy))
        return arr.copy() if copy and dtype is None else arr

    def __len__(self):
        return len(self.array())

    def __getitem__(self, index):
        return self.array()[index]

    def __getattr__(self, name):  # only called for names Blob lacks: behave as the ndarray
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.array(), name)


def load_weights(path):
    """path -> {layer name: [Blob, ...]} (Blob: Caffe's shape now, float32 values on first use)."""
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


def check_shape(shape, path, where):
    """Declared dims -> their value count, or an error for negative dims or a count beyond
    MAX_VALUES (Python ints: an int64 product that wraps around cannot slip through)."""
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise NnbuildError(f"blob declares negative dimensions {dims}", file=path, where=where,
                           expected="dimensions >= 0 (the file is corrupt)")
    count = math.prod(dims)
    if count > MAX_VALUES or any(d > MAX_VALUES for d in dims):   # [0, 2^62] is empty, but no array
        raise NnbuildError(f"blob declares shape {dims} = {count} values", file=path, where=where,
                           expected=f"at most {MAX_VALUES} values (2^24) per blob and per dimension")
    return count


# -- HDF5 -----------------------------------------------------------------------------------------

_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError)


def _h5_error(path, e, where=None):
    return NnbuildError(f"corrupt or truncated HDF5 weights file: {e}", file=path,
                        where=where, expected="a readable Caffe .caffemodel.h5")


def _load_h5(path):
    """Walk data/<layer>/<i> reading only headers (shape, type); values are read per Blob."""
    import h5py  # only needed for this format

    out = {}
    try:
        with h5py.File(path, "r") as f:
            data = f.get("data", getlink=True)
            if not isinstance(data, h5py.HardLink) or not isinstance(f["data"], h5py.Group):
                raise NnbuildError("HDF5 file has no 'data' group", file=path,
                                   expected="a Caffe .caffemodel.h5 (groups data/<layer>/0, 1, ...)")
            _h5_layers(f["data"], "", path, out)
    except NnbuildError:
        raise
    except _H5_ERRORS as e:
        raise _h5_error(path, e) from None
    return out


MAX_H5_NESTING = 8   # layer names with this many '/' (Caffe's MobileNet uses one: conv2_1/dw)


def _h5_layers(group, prefix, path, out):
    """Fill `out` with the layers under `group`. Caffe writes layer 'a/b' as HDF5 group a, subgroup
    b, beside a's own blobs: datasets named 0, 1, ... are blobs, other groups are deeper names."""
    import h5py

    if prefix.count("/") >= MAX_H5_NESTING:
        raise NnbuildError(f"groups nested more than {MAX_H5_NESTING} deep", file=path, where=f"data/{prefix}",
                           expected="groups data/<layer>/0, 1, ...")
    for layer_name in group:
        layer = prefix + layer_name
        member = _h5_member(group, layer_name, path, f"data/{layer}")
        if not isinstance(member, h5py.Group):
            continue
        keys = []
        for k in member:
            if k.isdigit() or not isinstance(_h5_member(member, k, path, f"data/{layer}/{k}"), h5py.Group):
                keys.append(k)
        keys.sort(key=lambda k: int(k) if k.isdigit() else -1)
        if any(not k.isdigit() for k in keys) or [int(k) for k in keys] != list(range(len(keys))):
            raise NnbuildError(f"blobs named {keys}", file=path, where=f"data/{layer}",
                               expected="datasets named 0, 1, ...")
        out[layer] = [_h5_blob(member, k, path, f"data/{layer}/{k}") for k in keys]
        if len(keys) < len(member):
            _h5_layers(member, layer + "/", path, out)


def _h5_member(group, name, path, where):
    """group[name], refusing links that leave the file (external links would read other files)."""
    import h5py

    link = group.get(name, getlink=True)
    if not isinstance(link, (h5py.HardLink, h5py.SoftLink)):
        raise NnbuildError(f"'{where}' is a link to another file", file=path, where=where,
                           expected="blobs stored in the weights file itself")
    return group[name]


def _h5_blob(group, key, path, where):
    import h5py

    ds = _h5_member(group, key, path, where)
    if not isinstance(ds, h5py.Dataset):
        raise NnbuildError("blob is not a dataset", file=path, where=where, expected="a numeric dataset")
    if ds.dtype.kind not in "fiu":
        raise NnbuildError(f"blob has type {ds.dtype}", file=path, where=where,
                           expected="a float or integer dataset")
    if ds.external or ds.is_virtual:
        raise NnbuildError("blob's values are stored outside the file", file=path, where=where,
                           expected="blobs stored in the weights file itself")
    if ds.shape is None:
        raise NnbuildError("blob is an empty (null) dataset", file=path, where=where,
                           expected="a numeric dataset")
    shape = ds.shape
    filename, name = ds.file.filename, ds.name

    def read():
        check_shape(shape, path, where)
        try:
            with h5py.File(filename, "r") as f:
                return f[name][()]
        except _H5_ERRORS as e:
            raise _h5_error(path, e, where) from None

    return Blob(shape, read)


# -- binary .caffemodel ---------------------------------------------------------------------------

def _load_caffemodel(path):
    net = caffe_proto.parse_binary(path, caffe_proto.NetParameter, "caffemodel")
    if not net.layer and not net.layers:
        raise NnbuildError("caffemodel holds no layers", file=path,
                           expected="a binary Caffe NetParameter with trained blobs")
    out = {}
    for layer in list(net.layer) + list(net.layers):
        blobs = [_proto_blob(b, path, f"layer '{layer.name}', blob {i}") for i, b in enumerate(layer.blobs)]
        # A net may repeat a name (e.g. TRAIN and TEST data layers); only one has blobs.
        if blobs or layer.name not in out:
            out[layer.name] = blobs
    return out


def _proto_blob(blob, path, where):
    shape = _checked_shape(blob, path, where)   # corruption is refused even in unused layers
    return Blob(shape, lambda: blob.data if len(blob.data) else blob.double_data)


def blob_shape(blob):
    """A BlobProto's dims: `shape` when present, else the legacy 4-D num/channels/height/width."""
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim)
    return (int(blob.num), int(blob.channels), int(blob.height), int(blob.width))


def _checked_shape(blob, path, where):
    """The blob's shape, once its dims are sane and its values are all there."""
    shape = blob_shape(blob)
    count = check_shape(shape, path, where)
    values = len(blob.data) or len(blob.double_data)
    if values != count:
        raise NnbuildError(f"blob has {values} values but its shape {list(shape)} needs {count}",
                           file=path, where=where, expected="a complete (not truncated) blob")
    return shape


def blob_array(blob, path, where):
    """BlobProto -> float32 ndarray of its declared shape; a count mismatch means corruption."""
    shape = _checked_shape(blob, path, where)
    values = blob.data if len(blob.data) else blob.double_data
    return np.asarray(values, dtype=np.float32).reshape(shape)
