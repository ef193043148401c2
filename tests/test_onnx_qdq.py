"""QDQ ONNX (QuantizeLinear / DequantizeLinear pairs) imported as the int8 scheme's graph: models
written by this test from int8 graphs that nnbuild's quantizer made (onnx.helper) import back as
the same graph, so their golden output is the original's byte for byte; what the scheme does not
fit is refused naming the node."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from test_export_tflite import Net, net_convs  # noqa: E402
from test_tflite_frontend import MEAN, SCALE, assert_same_graph  # noqa: E402

from nnbuild import golden  # noqa: E402
from nnbuild.errors import NnbuildError  # noqa: E402
from nnbuild.frontends.onnx import load_onnx  # noqa: E402
from nnbuild.quantize.int8.imported import from_record  # noqa: E402
from nnbuild.windows import pair  # noqa: E402


class QDQ:
    """An ONNX QDQ model of an int8 graph: every IR tensor T is DequantizeLinear(QuantizeLinear(T_f))."""

    def __init__(self, q):
        self.q, self.nodes, self.inits = q, [], []

    def init(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def qdq(self, f, t):
        """QuantizeLinear + DequantizeLinear of float value f as IR tensor t's record -> name t."""
        rec = self.q.tensors[t].quant
        s = self.init(f"{t}/s", np.array(rec["scale"], np.float32))
        z = self.init(f"{t}/z", np.array(rec["zero_point"], np.int8))
        self.nodes += [helper.make_node("QuantizeLinear", [f, s, z], [f"{t}/q"], name=f"{t}/Q"),
                       helper.make_node("DequantizeLinear", [f"{t}/q", s, z], [t], name=f"{t}/DQ")]

    def weights(self, op, w_onnx, axis=0):
        p = op.params
        ws = np.asarray(p["weight_scale"], np.float32)
        s_in = np.float32(self.q.tensors[op.inputs[0]].quant["scale"])
        w = self.init(f"{op.name}/w", w_onnx.astype(np.int8))
        ws_n = self.init(f"{op.name}/ws", ws)
        wz = self.init(f"{op.name}/wz", np.zeros(len(ws), np.int8))
        bias_s = (s_in * np.broadcast_to(ws, p["bias"].shape)).astype(np.float32)
        bias = self.init(f"{op.name}/b", p["bias"].astype(np.int32))
        bs = self.init(f"{op.name}/bs", bias_s)
        bz = self.init(f"{op.name}/bz", np.zeros(len(bias_s), np.int32))
        self.nodes += [helper.make_node("DequantizeLinear", [w, ws_n, wz], [f"{op.name}/W"], axis=axis),
                       helper.make_node("DequantizeLinear", [bias, bs, bz], [f"{op.name}/B"], axis=0)]
        return f"{op.name}/W", f"{op.name}/B"

    def model(self):
        q = self.q
        h, w, c = q.tensors[q.input].shape
        first = q.ops[0].outputs[0]
        self.qdq("x", first)
        kinds = {first: "image"}
        for op in q.ops[1:]:
            y, f = op.outputs[0], f"{op.outputs[0]}/f"
            a = op.attrs
            if op.type == "conv2d":
                wt, bs = self.weights(op, op.params["weight"].transpose(0, 3, 1, 2))
                (ph, pw), (sh, sw), (dh, dw) = (pair(a[k]) for k in ("pad", "stride", "dilation"))
                conv_out = f if a.get("activation", "none") == "none" else f"{y}/conv"
                self.nodes.append(helper.make_node("Conv", [op.inputs[0], wt, bs], [conv_out], pads=[ph, pw, ph, pw],
                                                   strides=[sh, sw], dilations=[dh, dw], group=int(a.get("group", 1))))
                if conv_out != f:
                    self.nodes.append(helper.make_node("Relu", [conv_out], [f]))
            elif op.type == "fully_connected":
                x = op.inputs[0]
                hh, ww, cc = q.tensors[x].shape
                src = x
                if kinds[x] == "image" and (hh, ww) != (1, 1):
                    src = f"{y}/flat"
                    self.nodes.append(helper.make_node("Flatten", [x], [src], axis=1))
                order = np.arange(hh * ww * cc).reshape(cc, hh, ww).transpose(1, 2, 0).reshape(-1)
                w_chw = np.zeros_like(op.params["weight"])
                w_chw[:, order] = op.params["weight"]
                wt, bs = self.weights(op, w_chw)
                gemm_out = f if a.get("activation", "none") == "none" else f"{y}/gemm"
                self.nodes.append(helper.make_node("Gemm", [src, wt, bs], [gemm_out], transB=1))
                if gemm_out != f:
                    self.nodes.append(helper.make_node("Relu", [gemm_out], [f]))
            elif op.type in ("max_pool", "avg_pool"):
                (kh, kw), (sh, sw), (ph, pw) = (pair(a[k]) for k in ("kernel", "stride", "pad"))
                self.nodes.append(helper.make_node("MaxPool" if op.type == "max_pool" else "AveragePool",
                                                   op.inputs, [f], kernel_shape=[kh, kw], strides=[sh, sw],
                                                   pads=[ph, pw, ph, pw], ceil_mode=1,
                                                   **({"count_include_pad": 1} if op.type == "avg_pool" else {})))
            elif op.type == "channel_affine":       # Mul / Add by a DequantizeLinear'd int8 constant (zp 0)
                k = op.params["const"]
                shape = (len(k),) if len(k) == 1 or kinds[op.inputs[0]] == "vector" else (len(k), 1, 1)
                kn = self.init(f"{op.name}/k", k.reshape(shape))
                ks = self.init(f"{op.name}/ks", np.array(a["k_scale"], np.float32))
                kz = self.init(f"{op.name}/kz", np.array(a["k_zp"], np.int8))
                self.nodes += [helper.make_node("DequantizeLinear", [kn, ks, kz], [f"{op.name}/K"]),
                               helper.make_node("Mul" if a["affine"] == "mul" else "Add",
                                                [op.inputs[0], f"{op.name}/K"], [f])]
            else:
                onnx_type = {"relu": "Relu", "add": "Add", "concat": "Concat", "sigmoid": "Sigmoid", "tanh": "Tanh",
                             "softmax": "Softmax"}[op.type]
                extra = {"axis": 1} if op.type in ("concat", "softmax") else {}
                self.nodes.append(helper.make_node(onnx_type, op.inputs, [f], **extra))
            self.qdq(f, y)
            kinds[y] = "vector" if op.type == "fully_connected" or kinds[op.inputs[0]] == "vector" else "image"
        out = q.outputs[0]
        oshape = [1, q.tensors[out].shape[2]] if kinds[out] == "vector" else [1, *(int(d) for d in np.roll(q.tensors[out].shape, 1))]
        graph = helper.make_graph(self.nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
                                  [helper.make_tensor_value_info(out, TensorProto.FLOAT, oshape)], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def net_qdq(seed):
    """conv (SAME-like pads, stride, depthwise, grouped), relu fused, max pool, add, concat,
    sigmoid, two fully connected, softmax: every op the QDQ maker writes."""
    n = Net((8, 8, 3), seed)
    c1 = n.conv(n.x, 8, 3, p=1)
    dw = n.conv(c1, 16, 3, p=1, group=8, act="none")
    c2 = n.conv(dw, 8, 1, group=2)
    s = n.add("add", [c1, c2], {})
    mp = n.pool("max_pool", s, 2, 2)
    k = n.add("concat", [mp, n.add("sigmoid", [mp], {})], {})
    ap = n.pool("avg_pool", k, 2, 2)
    return n.quantized(n.add("softmax", [n.fc(n.fc(ap, 12, act="relu"), 6)], {}))


def _load(tmp_path, model):
    p = tmp_path / "qdq.onnx"
    onnx.save(model, str(p))
    g = load_onnx(p, mean=(MEAN,), scale=SCALE, name="net")
    return from_record(g)       # what the quantize step does with the import's record


@pytest.mark.parametrize("make,seed", [(net_qdq, 0), (net_qdq, 1), (net_convs, 0), (net_convs, 2)],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_qdq_model_of_an_int8_graph_imports_as_that_graph(tmp_path, make, seed):
    q = make(seed)
    model = QDQ(q).model()
    onnx.checker.check_model(model)
    g = _load(tmp_path, model)
    assert_same_graph(q, g, source="onnx-qdq")
    px = np.random.default_rng(seed).integers(0, 256, (32,) + q.tensors[q.input].shape, dtype=np.uint8)
    want = golden.run(q, px)
    assert np.array_equal(golden.run(g, px), want) and len(np.unique(want)) > 3


def test_qdq_host_build_equals_golden(tmp_path):
    from nnbuild.hostrun import generate_and_build

    g = _load(tmp_path, QDQ(net_qdq(2)).model())
    px = np.random.default_rng(4).integers(0, 256, (24, 8, 8, 3), dtype=np.uint8)
    assert np.array_equal(generate_and_build(g, tmp_path / "host", "qdq").run(px), golden.run(g, px).reshape(24, -1))


def _mutated(fn):
    m = QDQ(net_qdq(0)).model()
    fn(m)
    return m


def _init(m, name):
    return next(t for t in m.graph.initializer if t.name == name)


@pytest.mark.parametrize("case,words", [
    ("uint8_activation", ["initializer 'input_stage0/z': tensor of data type UINT8"]),
    ("weight_zero_point", ["zero points [0, 1]", "symmetric weights"]),
    ("bias_scale", ["bias not int32 at the scale s_in * s_w"]),
    ("missing_q", ["has no QuantizeLinear"]),
])
def test_qdq_refusals(tmp_path, case, words):
    def mutate(m):
        if case == "uint8_activation":
            t = _init(m, m.graph.node[0].input[2])
            t.CopyFrom(numpy_helper.from_array(np.array(0, np.uint8), t.name))
        elif case == "weight_zero_point":
            wz = next(t for t in m.graph.initializer if t.name.endswith("/wz"))
            arr = numpy_helper.to_array(wz).copy()
            arr[0] = 1
            wz.CopyFrom(numpy_helper.from_array(arr, wz.name))
        elif case == "bias_scale":
            bs = next(t for t in m.graph.initializer if t.name.endswith("/bs"))
            bs.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bs) * np.float32(2), bs.name))
        else:       # the Q/DQ pair after the sigmoid removed: its output is a plain float tensor
            nodes = [n for n in m.graph.node if "sigmoid" not in n.name]
            for n in nodes:
                n.input[:] = [i.replace("/f", "") if i.startswith("sigmoid") else i for i in n.input]
            qn = [n for n in m.graph.node if n.op_type == "Sigmoid"][0]
            qn.output[0] = qn.output[0].replace("/f", "")
            del m.graph.node[:]
            m.graph.node.extend(_reorder(nodes, qn))
    with pytest.raises(NnbuildError) as e:
        _load(tmp_path, _mutated(mutate))
    text = str(e.value)
    assert "\n" not in text and "qdq.onnx" in text
    for w in words:
        assert w in text, text


def _reorder(nodes, sig):
    """nodes with the Sigmoid node put back where it was (before the first reader of its output)."""
    out = []
    for n in nodes:
        if sig.output[0] in n.input and sig not in out:
            out.append(sig)
        out.append(n)
    return out
