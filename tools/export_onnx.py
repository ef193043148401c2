#!/usr/bin/env python3
"""Write nnbuild's float IR of a model as an ONNX file (NCHW, opset 15) with onnx.helper: a real
network in the form PyTorch exports give, to test the ONNX frontend on (the round trip must give
the same top-1 as the model's own import).

    tools/export_onnx.py --manifest manifests/cifar10.yaml --model cifar10_m4 OUT.onnx

The ONNX model starts after the input stage: its input is (pixel - mean) * scale in NCHW, as a
PyTorch model's is after its normalisation; the mean and scale stay in the manifest. The graph is
the import before the passes, so BatchNorm-like affines and a trailing softmax stay ops of their own.
Pooling keeps Caffe's ceil-mode windows: ceil_mode where floor and ceil differ, and for an
average without padding or with exclude_pad count_include_pad = 0 (both divide by the samples
inside the input).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "site_scons"))

OPSET = 15


def export(graph):
    """A float ir.Graph (one input_stage first) -> onnx.ModelProto."""
    from onnx import TensorProto, helper, numpy_helper

    from nnbuild import ir
    from nnbuild.ops.pool import ceil_mode
    from nnbuild.errors import NnbuildError
    from nnbuild.windows import pair

    nodes, inits = [], []
    first = graph.ops[0]
    if first.type != "input_stage":
        raise NnbuildError("the graph does not start with its input stage", where=f"model '{graph.name}'")
    h, w, c = graph.tensors[first.outputs[0]].shape

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op_type, inputs, out, name, **attrs):
        nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        return out

    def pool_attrs(op, shape):
        (kh, kw), (sh, sw), (ph, pw) = (pair(op.attrs[k]) for k in ("kernel", "stride", "pad"))
        ceil = 0
        for n, k, s, p in zip(shape[:2], (kh, kw), (sh, sw), (ph, pw)):     # ceil_mode false: always 0
            if ir.pool_output_size(n, k, s, p, False) != ir.pool_output_size(n, k, s, p, ceil_mode(op)):
                ceil = 1
        attrs = {"kernel_shape": [kh, kw], "strides": [sh, sw], "pads": [ph, pw, ph, pw], "ceil_mode": ceil}
        if op.type == "avg_pool" and op.attrs.get("exclude_pad"):
            attrs["count_include_pad"] = 0      # both divide by the window's input cells
        elif op.type == "avg_pool":
            if ceil and (ph or pw):
                raise NnbuildError("an average pool with padding whose last window is clipped", where=f"op '{op.name}'",
                                   expected="no padding, or windows inside the padded input (ONNX's divisor differs)")
            attrs["count_include_pad"] = 1 if (ph or pw) else 0
        return attrs

    flat = set()             # IR tensors that are ONNX (1, K) vectors rather than NCHW images
    for op in graph.ops[1:]:
        x, y = (op.inputs[0] if op.inputs else None), op.outputs[0]
        shape = graph.tensors[x].shape
        t, n = op.type, op.name
        if t == "conv2d":
            kh, kw = pair(op.attrs["kernel"])
            (sh, sw), (ph, pw), (dh, dw) = (pair(op.attrs[k]) for k in ("stride", "pad", "dilation"))
            wt = const(f"{n}.weight", op.params["weight"].transpose(0, 3, 1, 2))
            out = y if op.attrs.get("activation", "none") == "none" else f"{y}.pre"
            node("Conv", [x, wt, const(f"{n}.bias", op.params["bias"])], out, n, kernel_shape=[kh, kw],
                 strides=[sh, sw], pads=[ph, pw, ph, pw], dilations=[dh, dw], group=int(op.attrs.get("group", 1)))
            if out != y:
                node("Relu", [out], y, f"{n}.relu")
        elif t == "fully_connected":
            wgt = np.asarray(op.params["weight"])
            hh, ww, cc = shape
            chw = wgt.reshape(-1, hh, ww, cc).transpose(0, 3, 1, 2).reshape(wgt.shape[0], -1)  # HWC -> CHW columns
            f = x if x in flat else node("Flatten", [x], f"{y}.flat", f"{n}.flatten", axis=1)
            out = y if op.attrs.get("activation", "none") == "none" else f"{y}.pre"
            node("Gemm", [f, const(f"{n}.weight", chw), const(f"{n}.bias", op.params["bias"])], out, n, transB=1)
            if out != y:
                node("Relu", [out], y, f"{n}.relu")
            flat.add(y)
        elif t in ("max_pool", "avg_pool"):
            node("MaxPool" if t == "max_pool" else "AveragePool", [x], y, n, **pool_attrs(op, shape))
        elif t == "relu":
            slope = float(op.attrs.get("negative_slope", 0.0))
            if slope:
                node("LeakyRelu", [x], y, n, alpha=slope)
            else:
                node("Relu", [x], y, n)
        elif t == "clip":
            bounds = [const(f"{n}.{k}", np.float32(op.attrs[k])) for k in ("min", "max")]
            node("Clip", [x] + bounds, y, n)
        elif t in ("sigmoid", "tanh"):
            node(t.capitalize(), [x], y, n)
        elif t == "softmax":
            node("Softmax", [x], y, n, axis=1)
        elif t == "channel_affine":
            k = (-1,) if x in flat else (-1, 1, 1)
            m = node("Mul", [x, const(f"{n}.mul", np.asarray(op.params["mul"], np.float32).reshape(k))], f"{y}.mul", f"{n}.mul")
            node("Add", [m, const(f"{n}.add", np.asarray(op.params["add"], np.float32).reshape(k))], y, n)
        elif t == "prelu":
            k = (-1,) if x in flat else (-1, 1, 1)
            node("PRelu", [x, const(f"{n}.slope", np.asarray(op.params["slope"], np.float32).reshape(k))], y, n)
        elif t == "add":
            acc = op.inputs[0]
            for i, other in enumerate(op.inputs[1:]):
                acc = node("Add", [acc, other], y if i == len(op.inputs) - 2 else f"{y}.{i}", f"{n}.{i}")
        elif t == "concat":
            node("Concat", list(op.inputs), y, n, axis=1)
        else:
            raise NnbuildError(f"op type '{t}' has no ONNX export", where=f"op '{n}'",
                               expected="conv2d, fully_connected, pools, relu, clip, sigmoid, tanh, softmax, "
                                        "channel_affine, prelu, add, concat")
        if t in ("relu", "clip", "sigmoid", "tanh", "softmax", "channel_affine", "prelu", "add", "concat") and x in flat:
            flat.add(y)
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in graph.outputs]
    g = helper.make_graph(nodes, graph.name, [helper.make_tensor_value_info(first.outputs[0], TensorProto.FLOAT,
                                                                            [1, c, h, w])], outs, inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="nnbuild")
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("out")
    args = ap.parse_args(argv)
    from nnbuild.errors import NnbuildError, atomic_write
    from nnbuild.frontends import load_model
    from nnbuild.manifest import load_manifest

    try:
        model = export(load_model(load_manifest(args.manifest).model(args.model)))
        with atomic_write(args.out) as f:
            f.write(model.SerializeToString())
    except NnbuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {len(model.graph.node)} nodes, opset {OPSET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
