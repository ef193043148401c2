"""Graph IR shared by every stage: frontends produce it, the quantizer annotates it, the golden
model, planner and code generator consume it.

Conventions (one layout everywhere, so no stage ever transposes at run time):
  * Activations are per-sample HWC: a tensor's shape is (H, W, C). A fully connected output is
    (1, 1, N). Flattening is implicit: fully_connected reads its input in HWC order.
  * conv2d weights are (O, KH, KW, I/group); fully_connected weights are (O, H*W*C) in the HWC
    flatten order of its input. Frontends reorder from their framework's layout at import time.
  * The graph starts with one `input_stage` op: uint8 pixels (H, W, C, already in the model's
    channel order) -> (pixels - mean) * scale. The mean is a (H, W, C) param.
  * ops are stored in a valid execution (topological) order.

A quantized graph is the same structure: each tensor carries its scheme's quantization record
(`Tensor.quant`, e.g. {"frac_bits": 3} for q7), params become integer arrays and ops get the
scheme's integer attributes; `meta["quantization"]["scheme"]` names the scheme
(nnbuild.quantize). Which op types exist, and their attributes, is the op registry (nnbuild.ops).

Serialisation is JSON (structure) + .npz (params) and is byte-for-byte deterministic, because
the build skips downstream steps whose inputs did not change.
"""
import io
import json
import zipfile
from dataclasses import dataclass, field

import numpy as np

from . import ops
from .errors import NnbuildError, atomic_write

IR_FORMAT = "nnbuild-ir"
IR_VERSION = 2

@dataclass
class Tensor:
    name: str
    shape: tuple            # (H, W, C)
    dtype: str = "float32"  # uint8 (raw pixels), float32 (float graph), int8 (quantized)
    quant: dict = None      # quantized graphs only: the scheme's record (q7: {"frac_bits": f})

    @property
    def size(self):
        return int(np.prod(self.shape))


@dataclass
class Op:
    name: str
    type: str
    inputs: list
    outputs: list
    attrs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)  # name -> np.ndarray


@dataclass
class Graph:
    name: str
    input: str                  # name of the uint8 pixel tensor
    outputs: list               # tensor names
    tensors: dict = field(default_factory=dict)   # name -> Tensor (insertion order kept)
    ops: list = field(default_factory=list)       # execution order
    meta: dict = field(default_factory=dict)      # e.g. channel_order, labels, output_softmax

    # -- queries -------------------------------------------------------------------------
    def op(self, name):
        for o in self.ops:
            if o.name == name:
                return o
        raise KeyError(name)

    def producer(self, tensor_name):
        for o in self.ops:
            if tensor_name in o.outputs:
                return o
        return None

    def consumers(self, tensor_name):
        return [o for o in self.ops if tensor_name in o.inputs]

    def validate(self):
        """Check structural invariants; raises NnbuildError naming the op at fault."""
        known = {self.input}
        if self.input not in self.tensors:
            raise NnbuildError(f"graph input '{self.input}' has no tensor", where=f"graph {self.name}")
        for o in self.ops:
            where = f"op '{o.name}' ({o.type})"
            for t in o.inputs:
                if t not in known:
                    raise NnbuildError(f"input '{t}' is used before it is produced", where=where)
            if len(o.outputs) != 1 or o.outputs[0] not in self.tensors:
                raise NnbuildError(f"outputs {o.outputs}", where=where,
                                   expected="exactly one output with a tensor entry")
            want = ops.check(o, [self.tensors[t].shape for t in o.inputs],
                             float_params="quantization" not in self.meta)
            if tuple(self.tensors[o.outputs[0]].shape) != want:
                raise NnbuildError(f"output shape {list(self.tensors[o.outputs[0]].shape)}", where=where,
                                   expected=f"{list(want)} (the op's shape rule)")
            known.add(o.outputs[0])
        for t in self.outputs:
            if t not in known:
                raise NnbuildError(f"graph output '{t}' is never produced", where=f"graph {self.name}")
        return self

    # -- serialisation -------------------------------------------------------------------
    def to_json_dict(self):
        def tensor_dict(t):
            d = {"name": t.name, "shape": [int(s) for s in t.shape], "dtype": t.dtype}
            if t.quant is not None:
                d["quant"] = _jsonable(t.quant)
            return d

        return {
            "format": IR_FORMAT,
            "version": IR_VERSION,
            "name": self.name,
            "input": self.input,
            "outputs": list(self.outputs),
            "meta": _jsonable(self.meta),
            "tensors": [tensor_dict(t) for t in self.tensors.values()],
            "ops": [
                {"name": o.name, "type": o.type, "inputs": list(o.inputs), "outputs": list(o.outputs),
                 "attrs": _jsonable(o.attrs), "params": sorted(o.params)}
                for o in self.ops
            ],
        }

    def params_dict(self):
        return {f"{o.name}/{k}": np.asarray(v) for o in self.ops for k, v in o.params.items()}

    def save(self, json_path, npz_path):
        """Write <json_path> and <npz_path> atomically and deterministically."""
        text = json.dumps(self.to_json_dict(), indent=1, sort_keys=True) + "\n"
        with atomic_write(json_path, "w") as f:
            f.write(text)
        with atomic_write(npz_path, "wb") as f:
            f.write(npz_bytes(self.params_dict()))


def load_graph(json_path, npz_path):
    try:
        with open(json_path) as f:
            d = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise NnbuildError(f"cannot read IR graph: {e}", file=json_path) from None
    if d.get("format") != IR_FORMAT or d.get("version") != IR_VERSION:
        raise NnbuildError("not an nnbuild IR file of this version", file=json_path,
                           expected=f"format {IR_FORMAT} version {IR_VERSION}")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            params = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise NnbuildError(f"cannot read IR params: {e}", file=npz_path) from None
    g = Graph(name=d["name"], input=d["input"], outputs=list(d["outputs"]), meta=d.get("meta", {}))
    for t in d["tensors"]:
        g.tensors[t["name"]] = Tensor(t["name"], tuple(t["shape"]), t["dtype"], t.get("quant"))
    for o in d["ops"]:
        op_params = {k: params[f"{o['name']}/{k}"] for k in o["params"]}
        g.ops.append(Op(o["name"], o["type"], list(o["inputs"]), list(o["outputs"]),
                        _detuple(o["attrs"]), op_params))
    return g


def npz_bytes(arrays):
    """An .npz (zip of .npy) with fixed timestamps and sorted names: same arrays, same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            arr = np.ascontiguousarray(arrays[name])
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def _jsonable(value):
    """Attrs/meta to plain JSON types (tuples -> lists, numpy scalars -> Python)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _detuple(attrs):
    """JSON gives lists; pairs such as kernel/stride/pad read back as tuples."""
    return {k: tuple(v) if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v) else v
            for k, v in attrs.items()}


# -- shape rules shared by the frontend, reference, golden model and code generator --------------

def conv_output_size(size, kernel, stride, pad, dilation):
    """Caffe/standard convolution output length along one axis (floor mode)."""
    extent = dilation * (kernel - 1) + 1
    return (size + 2 * pad - extent) // stride + 1


def pool_output_size(size, kernel, stride, pad, ceil=True):
    """Pooling output length. ceil (Caffe's, the IR's default): ceil mode, and the last window
    must start inside the input or its leading padding (Caffe drops a window that would start in
    the trailing pad). ceil False (a pool's ceil_mode false: ONNX/PyTorch ceil_mode 0, TFLite
    VALID): floor mode, every window lies in the padded input, so pool_window is unchanged."""
    if not ceil:
        return (size + 2 * pad - kernel) // stride + 1
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if pad > 0 and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pool_has_empty_window(size, kernel, stride, pad, ceil=True):
    """True when Caffe's ceil-mode arithmetic puts the last window wholly outside the input
    (e.g. kernel 1, stride 3, no pad on 11 cells): Caffe outputs -FLT_MAX there, which no q7
    value represents, so such layers are rejected."""
    out = pool_output_size(size, kernel, stride, pad, ceil)
    start, end, _ = pool_window(out - 1, kernel, stride, pad, size)
    return end <= start


def pool_window(o, kernel, stride, pad, size):
    """Caffe's window for output index o along one axis.

    Returns (start, end, count): [start, end) is the window clipped to the input, count is
    Caffe's average-pool divisor extent (clipped to size + pad only, so padding counts)."""
    start = o * stride - pad
    end_padded = min(start + kernel, size + pad)
    count = end_padded - start
    return max(start, 0), min(end_padded, size), count
