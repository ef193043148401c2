"""nnbuild's own Caffe writer: a deploy .prototxt (text format) + a .caffemodel.h5.

Used to publish the project's sample model in the same format a user brings, so that the sample
goes through exactly the import path real models take. Output is deterministic (same layers,
same bytes) because the build hashes its inputs.

HDF5 layout (what Caffe's Net::ToHDF5 writes): group `data`, one subgroup per layer (also for
layers without parameters), datasets `0`, `1`, ... holding the layer's blobs as float32
(convolution weights OIHW, inner-product weights (O, C*H*W) in Caffe's CHW flatten order).
"""
import io
from dataclasses import dataclass, field

import numpy as np

from ..errors import NnbuildError, atomic_write


class Enum(str):
    """A protobuf enum value: written unquoted (e.g. `pool: MAX`)."""


@dataclass
class Layer:
    name: str
    type: str                 # Caffe layer type: Convolution, Pooling, ReLU, InnerProduct, Softmax...
    bottom: list
    top: list
    params: dict = field(default_factory=dict)   # e.g. {"convolution_param": {"num_output": 8}}
    blobs: list = field(default_factory=list)    # float arrays in Caffe's layout


def conv(name, bottom, top, weight, bias, pad=0, stride=1, group=1, dilation=1):
    """Convolution layer from O(I/group)HW weights (square kernel)."""
    weight = np.asarray(weight, np.float32)
    p = {"num_output": weight.shape[0], "kernel_size": weight.shape[2]}
    if pad:
        p["pad"] = pad
    if stride != 1:
        p["stride"] = stride
    if group != 1:
        p["group"] = group
    if dilation != 1:
        p["dilation"] = dilation
    return Layer(name, "Convolution", [bottom], [top], {"convolution_param": p},
                 [weight, np.asarray(bias, np.float32)])


def pool(name, bottom, top, kernel, stride, method="MAX", pad=0):
    p = {"pool": Enum(method), "kernel_size": kernel, "stride": stride}
    if pad:
        p["pad"] = pad
    return Layer(name, "Pooling", [bottom], [top], {"pooling_param": p})


def relu(name, blob):
    """In-place ReLU, as Caffe nets usually declare it."""
    return Layer(name, "ReLU", [blob], [blob])


def inner_product(name, bottom, top, weight, bias):
    weight = np.asarray(weight, np.float32)
    return Layer(name, "InnerProduct", [bottom], [top],
                 {"inner_product_param": {"num_output": weight.shape[0]}},
                 [weight, np.asarray(bias, np.float32)])


def softmax(name, bottom, top):
    return Layer(name, "Softmax", [bottom], [top])


def prototxt_text(net_name, input_name, input_shape, layers):
    """Deploy prototxt: an Input layer with `input_shape` (N, C, H, W), then `layers`."""
    out = [f"name: {_value(net_name)}"]
    shape = {"shape": {"dim": [int(d) for d in input_shape]}}
    all_layers = [Layer(input_name, "Input", [], [input_name], {"input_param": shape}), *layers]
    for layer in all_layers:
        out.append("layer {")
        out.append(f"  name: {_value(layer.name)}")
        out.append(f"  type: {_value(layer.type)}")
        out += [f"  bottom: {_value(b)}" for b in layer.bottom]
        out += [f"  top: {_value(t)}" for t in layer.top]
        for key, sub in layer.params.items():
            out += _message(key, sub, "  ")
        out.append("}")
    return "\n".join(out) + "\n"


def h5_bytes(layers):
    """The .caffemodel.h5 file content for `layers` (deterministic bytes)."""
    import h5py  # only needed when writing weights

    buf = io.BytesIO()
    with h5py.File(buf, "w", track_order=False) as f:
        data = f.create_group("data", track_order=False)
        for layer in layers:
            g = data.create_group(layer.name, track_order=False)
            for i, blob in enumerate(layer.blobs):
                g.create_dataset(str(i), data=np.ascontiguousarray(blob, np.float32), track_times=False)
    return buf.getvalue()


def write_caffe(net_name, input_name, input_shape, layers, prototxt_path, h5_path):
    """Write the deploy prototxt and the .caffemodel.h5 for `layers` atomically."""
    names = [layer.name for layer in layers]
    dup = {n for n in names if names.count(n) > 1}
    if dup or input_name in names:
        raise NnbuildError(f"duplicate layer names {sorted(dup | ({input_name} & set(names)))}",
                           where=f"net {net_name}", expected="unique layer names")
    with atomic_write(prototxt_path, "w") as f:
        f.write(prototxt_text(net_name, input_name, input_shape, layers))
    with atomic_write(h5_path, "wb") as f:
        f.write(h5_bytes(layers))


def _message(key, value, indent):
    """Lines for one text-format field; dicts are sub-messages, lists are repeated fields."""
    if isinstance(value, dict):
        lines = [f"{indent}{key} {{"]
        for k, v in value.items():
            lines += _message(k, v, indent + "  ")
        return lines + [f"{indent}}}"]
    if isinstance(value, (list, tuple)):
        return [line for v in value for line in _message(key, v, indent)]
    return [f"{indent}{key}: {_value(value)}"]


def _value(v):
    if isinstance(v, Enum):
        return str(v)
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'
