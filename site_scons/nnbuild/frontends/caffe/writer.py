"""nnbuild's own Caffe writer: a deploy .prototxt (text format) + a .caffemodel.h5.

Used to publish the project's sample model in the same format a user brings, so that the sample
goes through exactly the import path real models take. Output is deterministic (same layers,
same bytes) because the build hashes its inputs.

HDF5 layout (what Caffe's Net::ToHDF5 writes): group `data`, one subgroup per layer (also for
layers without parameters), datasets `0`, `1`, ... holding the layer's blobs as float32
(convolution weights OIHW, inner-product weights (O, C*H*W) in Caffe's CHW flatten order,
PReLU slopes (C,), Scale gamma (C,) then beta (C,)).
"""
import io
from dataclasses import dataclass, field

import numpy as np

from ...errors import NnbuildError, atomic_write


class Enum(str):
    """A protobuf enum value: written unquoted (e.g. `pool: MAX`)."""


@dataclass
class Layer:
    name: str
    type: str                 # Caffe layer type: Convolution, Pooling, ReLU, InnerProduct, LRN, ...
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


LRN_REGIONS = ("ACROSS_CHANNELS", "WITHIN_CHANNEL")


def lrn(name, bottom, top, local_size, alpha, beta, k=1.0, region="ACROSS_CHANNELS"):
    """LRN layer (Caffe's lrn_param). k is written for both regions; WITHIN_CHANNEL ignores it."""
    if region not in LRN_REGIONS:
        raise NnbuildError(f"unknown LRN region {region!r}", where=f"layer {name}",
                           expected=" or ".join(LRN_REGIONS))
    if int(local_size) != local_size or local_size < 1 or local_size % 2 == 0:
        raise NnbuildError(f"LRN local_size {local_size} is not a positive odd integer",
                           where=f"layer {name}", expected="1, 3, 5, ... (Caffe refuses even sizes)")
    p = {"local_size": int(local_size), "alpha": float(alpha), "beta": float(beta),
         "norm_region": Enum(region), "k": float(k)}
    return Layer(name, "LRN", [bottom], [top], {"lrn_param": p})


def prelu(name, blob, slope):
    """In-place PReLU: slope (C,) per channel, or a scalar for Caffe's channel_shared (0-d blob)."""
    slope = np.asarray(slope, np.float32)
    if slope.ndim > 1:
        raise NnbuildError(f"PReLU slope has shape {slope.shape}", where=f"layer {name}",
                           expected="(C,) per channel or a scalar (channel_shared)")
    return Layer(name, "PReLU", [blob], [blob], {"prelu_param": {"channel_shared": slope.ndim == 0}},
                 [slope])


def scale(name, bottom, top, gamma, beta=None):
    """Per-channel affine y = x * gamma_c (+ beta_c): Caffe's Scale layer on axis 1, one bottom."""
    gamma = np.asarray(gamma, np.float32)
    blobs = [gamma]
    if beta is not None:
        blobs.append(np.asarray(beta, np.float32))
    if gamma.ndim != 1 or any(b.shape != gamma.shape for b in blobs):
        raise NnbuildError(f"Scale blobs have shapes {[b.shape for b in blobs]}", where=f"layer {name}",
                           expected="gamma (C,) and beta (C,)")
    return Layer(name, "Scale", [bottom], [top], {"scale_param": {"bias_term": beta is not None}}, blobs)


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
