"""Quantized IR -> the sequence of kernel calls the generated C makes (one Step per layer).

Lowering is where everything the C kernels cannot do is rejected, so that a model that
generates also compiles and runs: unsupported ops, int16 overflow in kernel parameter structs,
kernels larger than their padded input, concat that is not along channels.

Two rewrites happen here (both exact under docs/q7_contract.md):
  * a plain ReLU whose input comes from conv2d/fully_connected and feeds nothing else is fused
    into that producer (act_min = 0): relu(requant(acc)) == requant(acc, lo=0);
  * element-wise ops (relu, leaky relu, lut, add) write over an input that dies at that step
    (Step.alias), which the planner turns into shared storage.
"""
from dataclasses import dataclass, field

import numpy as np

from . import ir
from .errors import NnbuildError
from .kernels import scratch_bytes

INT16 = (-32768, 32767)
INT32 = (-2**31, 2**31 - 1)


@dataclass
class Step:
    index: int
    name: str            # layer name: the op names joined by '+' (e.g. "conv2+relu2")
    ops: list            # IR op names covered by this step
    op: str              # layer op: IR op types joined by '+' (e.g. "conv2d+relu")
    kernel: str          # C kernel function
    inputs: list         # tensor names read (the first may be the graph's pixel input)
    output: str          # tensor written
    alias: str = None    # input tensor whose storage the output reuses (in place), or None
    params: dict = field(default_factory=dict)   # scalar kernel arguments / struct fields
    arrays: dict = field(default_factory=dict)   # role -> np.ndarray (weight, bias, off, table...)
    scratch: int = 0     # kernel scratch bytes (nnbuild.kernels.scratch_bytes)
    macs: int = 0


def lower(qgraph):
    """Return the list of Steps executing `qgraph` (a quantized ir.Graph) in order."""
    qgraph.validate()
    _check_quantized(qgraph)
    if len(qgraph.outputs) != 1:
        raise NnbuildError(f"graph has {len(qgraph.outputs)} outputs", where=f"graph {qgraph.name}",
                           expected="exactly one output tensor (the logits)")
    if not qgraph.ops or qgraph.ops[0].type != "input_stage":
        raise NnbuildError("the first op is not input_stage", where=f"graph {qgraph.name}",
                           expected="ops[0] to be the input_stage converting uint8 pixels")
    for op in qgraph.ops:
        if (op.type == "input_stage") != (qgraph.input in op.inputs):
            raise NnbuildError(f"op reads {op.inputs}", where=_where(op),
                               expected=f"only the input_stage to read the pixel input '{qgraph.input}'")
    fused_into = _relu_fusions(qgraph)
    fused = set(fused_into.values())
    steps = []
    for op in qgraph.ops:
        if op.name in fused:
            continue
        relu = qgraph.op(fused_into[op.name]) if op.name in fused_into else None
        step = _lower_op(qgraph, op, relu)
        step.index = len(steps)
        steps.append(step)
    return steps


def _check_quantized(g):
    for name, t in g.tensors.items():
        if name == g.input:
            continue
        if t.frac_bits is None:
            raise NnbuildError(f"tensor '{name}' has no frac_bits: the graph is not quantized",
                               where=f"graph {g.name}", expected="a graph from nnbuild.quantize")


def _relu_fusions(g):
    """producer op name -> relu op name for every ReLU that can fold into its producer."""
    out = {}
    for op in g.ops:
        if op.type != "relu" or float(op.attrs.get("negative_slope", 0)) != 0:
            continue
        src = op.inputs[0]
        prod = g.producer(src)
        if (prod is not None and prod.type in ("conv2d", "fully_connected")
                and len(g.consumers(src)) == 1 and src not in g.outputs):
            out[prod.name] = op.name
    return out


def _where(op):
    return f"op '{op.name}' ({op.type})"


def _attr(op, key, default=None):
    if key in op.attrs:
        return op.attrs[key]
    if default is None:
        raise NnbuildError(f"missing attribute '{key}'", where=_where(op),
                           expected="the attributes of a quantized op (docs/q7_contract.md)")
    return default


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (list, tuple)) else (int(v), int(v))


def _check_range(op, fields, lo_hi=INT16, what="int16"):
    for key, value in fields.items():
        if not lo_hi[0] <= int(value) <= lo_hi[1]:
            raise NnbuildError(f"{key} = {value} does not fit the kernel's {what} parameter",
                               where=_where(op), expected=f"{lo_hi[0]}..{lo_hi[1]}")


def _check_shift(op, key, s, lo=-31, hi=31):
    if not lo <= int(s) <= hi:
        raise NnbuildError(f"{key} = {s} is outside what the kernels can shift", where=_where(op),
                           expected=f"{lo}..{hi}")


def _array(op, key, dtype, shape=None):
    if key not in op.params:
        raise NnbuildError(f"missing param '{key}'", where=_where(op))
    a = np.asarray(op.params[key])
    if a.dtype != np.dtype(dtype):
        info = np.iinfo(dtype)
        if not np.issubdtype(a.dtype, np.integer) or (a.size and (a.min() < info.min or a.max() > info.max)):
            raise NnbuildError(f"param '{key}' has dtype {a.dtype}", where=_where(op),
                               expected=f"{np.dtype(dtype).name} values")
        a = a.astype(dtype)
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise NnbuildError(f"param '{key}' has shape {tuple(a.shape)}", where=_where(op),
                           expected=f"shape {tuple(shape)}")
    return a


def _lower_op(g, op, relu):
    t = g.tensors
    shape_in = [tuple(t[i].shape) for i in op.inputs]
    out_name = relu.outputs[0] if relu is not None else op.outputs[0]
    shape_out = tuple(t[op.outputs[0]].shape)
    names = [op.name] + ([relu.name] if relu is not None else [])
    types = [op.type] + (["relu"] if relu is not None else [])
    step = Step(index=-1, name="+".join(names), ops=names, op="+".join(types), kernel="",
                inputs=list(op.inputs), output=out_name)
    n_out = int(np.prod(shape_out))
    kind = op.type

    if kind == "input_stage":
        mul, shift = int(_attr(op, "mul")), int(_attr(op, "shift"))
        off = _array(op, "off", np.int32).reshape(-1)
        if not 1 <= shift <= 31:
            raise NnbuildError(f"shift = {shift}", where=_where(op), expected="1..31")
        if off.size not in (n_out, shape_out[2]):
            raise NnbuildError(f"param 'off' has {off.size} values", where=_where(op),
                               expected=f"{n_out} (per pixel) or {shape_out[2]} (per channel)")
        _check_range(op, {"mul": mul}, INT32, "int32")
        step.kernel = "nn_input_stage_q7"
        step.params = {"n": n_out, "mul": mul, "shift": shift, "off_len": int(off.size)}
        step.arrays = {"off": off}
        return step

    if kind == "conv2d":
        (h, w, c), (oh, ow, oc) = shape_in[0], shape_out
        kh, kw = _pair(op.attrs["kernel"])
        sh, sw = _pair(op.attrs["stride"])
        ph, pw = _pair(op.attrs["pad"])
        dh, dw = _pair(op.attrs["dilation"])
        groups = int(op.attrs["group"])
        if groups < 1 or c % groups or oc % groups:
            raise NnbuildError(f"group = {groups} does not divide {c} input / {oc} output channels",
                               where=_where(op))
        for axis, size, k, s, p, d, o in (("height", h, kh, sh, ph, dh, oh), ("width", w, kw, sw, pw, dw, ow)):
            if d * (k - 1) + 1 > size + 2 * p:
                raise NnbuildError(f"kernel {k} (dilation {d}) is larger than the padded input {axis} "
                                   f"{size}+2*{p}", where=_where(op), expected="a kernel that fits")
            if ir.conv_output_size(size, k, s, p, d) != o:
                raise NnbuildError(f"output {axis} {o} does not match the convolution arithmetic",
                                   where=_where(op), expected=str(ir.conv_output_size(size, k, s, p, d)))
        weight = _array(op, "weight", np.int8, (oc, kh, kw, c // groups))
        bias = _array(op, "bias", np.int32, (oc,))
        s = int(_attr(op, "out_shift"))
        lo, hi = _act_range(op, relu)
        fields = dict(in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=oc, k_h=kh, k_w=kw,
                      stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw, dil_h=dh, dil_w=dw, groups=groups,
                      out_shift=s, act_min=lo, act_max=hi)
        _check_range(op, fields)
        _check_shift(op, "out_shift", s)
        _check_acc(op, bias, kh * kw * (c // groups))
        step.kernel = "nn_conv2d_q7"
        step.params = fields
        step.arrays = {"weight": weight, "bias": bias}
        step.scratch = scratch_bytes(op, t)
        step.macs = oh * ow * oc * kh * kw * (c // groups)
        return step

    if kind == "fully_connected":
        n_in = int(np.prod(shape_in[0]))
        weight = _array(op, "weight", np.int8, (n_out, n_in))
        bias = _array(op, "bias", np.int32, (n_out,))
        s = int(_attr(op, "out_shift"))
        lo, hi = _act_range(op, relu)
        _check_range(op, {"out_shift": s, "act_min": lo, "act_max": hi})
        _check_shift(op, "out_shift", s)
        _check_acc(op, bias, n_in)
        step.kernel = "nn_fc_q7"
        step.params = dict(in_n=n_in, out_n=n_out, out_shift=s, act_min=lo, act_max=hi)
        step.arrays = {"weight": weight, "bias": bias}
        step.scratch = scratch_bytes(op, t)
        step.macs = n_in * n_out
        return step

    if kind in ("max_pool", "avg_pool"):
        (h, w, c), (oh, ow, oc) = shape_in[0], shape_out
        kh, kw = _pair(op.attrs["kernel"])
        sh, sw = _pair(op.attrs["stride"])
        ph, pw = _pair(op.attrs["pad"])
        for axis, size, k, s, p, o in (("height", h, kh, sh, ph, oh), ("width", w, kw, sw, pw, ow)):
            if k > size + 2 * p:
                raise NnbuildError(f"pooling window {k} is larger than the padded input {axis} "
                                   f"{size}+2*{p}", where=_where(op), expected="a window that fits")
            if ir.pool_has_empty_window(size, k, s, p):
                raise NnbuildError(f"the last pooling window along the {axis} lies outside the input",
                                   where=_where(op), expected="every window overlapping the input")
            if ir.pool_output_size(size, k, s, p) != o:
                raise NnbuildError(f"output {axis} {o} does not match Caffe's pooling arithmetic",
                                   where=_where(op), expected=str(ir.pool_output_size(size, k, s, p)))
        if oc != c:
            raise NnbuildError(f"pooling changes channels {c} -> {oc}", where=_where(op))
        if ph >= kh or pw >= kw:
            raise NnbuildError(f"pad ({ph}, {pw}) is not smaller than the window ({kh}, {kw})",
                               where=_where(op), expected="pad < kernel (every window must see the input)")
        fields = dict(in_h=h, in_w=w, c=c, out_h=oh, out_w=ow, k_h=kh, k_w=kw,
                      stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw)
        _check_range(op, fields)
        step.kernel = "nn_maxpool_q7" if kind == "max_pool" else "nn_avgpool_q7"
        step.params = fields
        return step

    if kind == "relu":
        slope = float(op.attrs.get("negative_slope", 0))
        if slope == 0:
            step.kernel = "nn_relu_q7"
            step.params = {"n": n_out}
        else:
            q15 = int(_attr(op, "slope_q15"))
            _check_range(op, {"slope_q15": q15})
            step.kernel = "nn_leaky_relu_q7"
            step.params = {"n": n_out, "slope_q15": q15}
        step.alias = _inplace_input(g, op, [0])
        return step

    if kind in ("sigmoid", "tanh"):
        step.kernel = "nn_lut_q7"
        step.params = {"n": n_out}
        step.arrays = {"table": _array(op, "table", np.int8, (256,))}
        step.alias = _inplace_input(g, op, [0])
        return step

    if kind == "add":
        if len(op.inputs) != 2:
            raise NnbuildError(f"add of {len(op.inputs)} inputs", where=_where(op),
                               expected="exactly 2 inputs (the kernel nn_add_q7 is binary)")
        if shape_in[0] != shape_in[1] or shape_in[0] != shape_out:
            raise NnbuildError(f"add of shapes {shape_in[0]} and {shape_in[1]} -> {shape_out}",
                               where=_where(op), expected="equal shapes (no broadcasting)")
        shifts = [int(v) for v in _attr(op, "in_shifts")]
        s = int(_attr(op, "out_shift"))
        if len(shifts) != 2 or min(shifts) < 0:
            raise NnbuildError(f"in_shifts = {shifts}", where=_where(op), expected="2 values >= 0")
        _check_range(op, {"in_shifts[0]": shifts[0], "in_shifts[1]": shifts[1], "out_shift": s})
        for k, v in (("in_shifts[0]", shifts[0]), ("in_shifts[1]", shifts[1])):
            _check_shift(op, k, v, 0, 23)   # int8 << 23 plus another still fits int32
        _check_shift(op, "out_shift", s)
        step.kernel = "nn_add_q7"
        step.params = {"n": n_out, "a_shift": shifts[0], "b_shift": shifts[1], "out_shift": s}
        step.alias = _inplace_input(g, op, [0, 1])
        return step

    if kind == "concat":
        h, w, oc = shape_out
        if any(s[:2] != (h, w) for s in shape_in) or sum(s[2] for s in shape_in) != oc:
            raise NnbuildError(f"concat of shapes {shape_in} -> {shape_out} is not along channels",
                               where=_where(op), expected="inputs with equal H, W and output C = sum of C")
        shifts = [int(v) for v in _attr(op, "shifts")]
        if len(shifts) != len(op.inputs):
            raise NnbuildError(f"{len(shifts)} shifts for {len(op.inputs)} inputs", where=_where(op))
        for i, v in enumerate(shifts):
            _check_shift(op, f"shifts[{i}]", v)
        _check_range(op, {"out_c": oc})
        step.kernel = "nn_concat_q7"
        step.params = {"pixels": h * w, "out_c": oc, "in_c": [s[2] for s in shape_in], "shifts": shifts}
        return step

    if kind == "softmax":
        if shape_out[0] * shape_out[1] != 1 or n_out >= 32768:
            raise NnbuildError(f"softmax over a {shape_out} tensor", where=_where(op),
                               expected="a (1, 1, N) vector (softmax over channels of a vector)")
        step.kernel = "nn_softmax_q7"
        step.params = {"n": n_out}
        step.arrays = {"exp_table": _array(op, "exp_table", np.int32, (256,))}
        return step

    raise NnbuildError(f"no C kernel for op type '{kind}'", where=_where(op),
                       expected="one of input_stage, conv2d, fully_connected, max_pool, avg_pool, "
                                "relu, add, concat, sigmoid, tanh, softmax")


def _check_acc(op, bias, n_terms):
    """The kernels' int32 accumulator bound (nn_kernels.h): |bias| + 2^14 * terms < 2^31."""
    worst = int(np.abs(bias.astype(np.int64)).max(initial=0)) + (1 << 14) * n_terms
    if worst >= 2**31:
        raise NnbuildError(f"bias up to {worst - (1 << 14) * n_terms} with {n_terms} products per output "
                           "can overflow the int32 accumulator", where=_where(op),
                           expected="|bias| + 16384 * terms < 2^31")


def _act_range(op, relu):
    lo, hi = int(op.attrs.get("act_min", -128)), int(op.attrs.get("act_max", 127))
    if relu is not None:
        lo = max(lo, 0)
    if not -128 <= lo <= hi <= 127:
        raise NnbuildError(f"activation range [{lo}, {hi}]", where=_where(op),
                           expected="-128 <= act_min <= act_max <= 127")
    return lo, hi


def _inplace_input(g, op, candidates):
    """The input (among `candidates` indices) the output may overwrite: one whose value is not
    needed after this op and that is not the graph's pixel input or output."""
    later = g.ops[g.ops.index(op) + 1:]
    for i in candidates:
        src = op.inputs[i]
        if src == g.input or src in g.outputs:
            continue
        if not any(src in o.inputs for o in later) and op.inputs.count(src) == 1:
            return src
    return None
