"""The ONNX frontend: seeded random float models built with onnx.helper, one or more per supported
operator; nnbuild's float executor (after the import and after the passes) against
onnx.reference.ReferenceEvaluator, top-1 included; q7 and int8 builds of some of them bit-exact
on the host and in QEMU; bad input refused with one error and nothing written."""
import numpy as np
import pytest

from conftest import ROOT, assert_cli_import_refuses, needs_arm, needs_qemu

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from nnbuild import ir, passes, reference  # noqa: E402
from nnbuild.errors import NnbuildError  # noqa: E402
from nnbuild.frontends.onnx import load_onnx  # noqa: E402

SCALE = 1 / 64
# 15, not 13: onnx.reference's BatchNormalization of opsets 9-13 fills in the default `momentum` and
# then normalises with the batch's own statistics (training mode); opset 14+ has training_mode = 0.
OPSET = 15


class Net:
    """A tiny ONNX graph writer: nodes chained on `self.x`, seeded random weights."""

    def __init__(self, seed, shape=(3, 8, 8)):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.shape, self.x, self.k = [], [], shape, "x", 0

    def w(self, *shape, lo=-0.5, hi=0.5):
        self.k += 1
        name = f"w{self.k}"
        self.inits.append(numpy_helper.from_array(self.rng.uniform(lo, hi, shape).astype(np.float32), name))
        return name

    def const(self, arr):
        self.k += 1
        name = f"c{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type, extra=(), inputs=None, **attrs):
        self.k += 1
        out = f"{op_type.lower()}{self.k}"
        self.nodes.append(helper.make_node(op_type, list(inputs or [self.x]) + list(extra), [out],
                                           name=f"n{self.k}", **attrs))
        self.x = out
        return out

    def conv(self, o, k=3, group=1, c=None, **attrs):
        c = c if c is not None else self.cur_c
        self.cur_c = o
        return self.op("Conv", [self.w(o, c // group, k, k), self.w(o)], group=group, **attrs)

    def model(self, opset=OPSET):
        c, h, w = self.shape
        g = helper.make_graph(self.nodes, "rand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
                              [helper.make_tensor_value_info(self.x, TensorProto.FLOAT, None)], self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])

    def save(self, path, opset=OPSET):
        m = self.model(opset)
        onnx.save(m, str(path))
        return m


def _net(seed, shape=(3, 8, 8)):
    n = Net(seed, shape)
    n.cur_c = shape[0]
    return n


# -- the random models: together they cover every supported operator ------------------------------

def m_conv_relu_pool_gemm(n):        # Conv (pads, strides) Relu MaxPool Flatten Gemm Softmax
    n.conv(8, pads=[1, 1, 1, 1]); n.op("Relu"); n.op("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    n.op("Flatten", axis=1); n.op("Gemm", [n.w(10, 8 * 4 * 4), n.w(10)], transB=1); n.op("Softmax", axis=1)


def m_depthwise_dilated(n):          # depthwise + dilation + stride, Clip [0, inf), AveragePool (pads, count 1)
    n.conv(6, k=1); n.conv(6, group=6, dilations=[2, 2], pads=[2, 2, 2, 2])
    n.op("Clip", [n.const(np.float32(0))]); n.conv(4, strides=[2, 2], pads=[1, 1, 1, 1])
    n.op("AveragePool", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1)
    n.op("GlobalAveragePool"); n.op("Flatten")


def m_batchnorm_leaky_prelu(n):      # BatchNormalization (folded), LeakyRelu, PRelu, Mul/Add by constant
    n.conv(5, pads=[1, 1, 1, 1])
    n.op("BatchNormalization", [n.w(5, lo=0.5, hi=1.5), n.w(5), n.w(5), n.w(5, lo=0.2, hi=1.0)], epsilon=1e-3)
    n.op("LeakyRelu", alpha=0.2); n.op("PRelu", [n.w(5, 1, 1, lo=0, hi=0.3)])
    n.op("Mul", [n.const(n.rng.uniform(0.5, 1.5, (1, 5, 1, 1)).astype(np.float32))])
    n.op("Add", [n.const(np.float32(0.25))]); n.op("AveragePool", kernel_shape=[2, 2], strides=[2, 2])
    n.op("Reshape", [n.const(np.array([1, -1], np.int64))])
    n.op("MatMul", [n.w(80, 7)]); n.op("Add", [n.w(7)])


def m_sigmoid_tanh_concat_add(n):    # Sigmoid, Tanh, Concat, Add of two tensors, Identity, Dropout, Gemm alpha/beta
    a = n.conv(4, pads=[1, 1, 1, 1]); s = n.op("Sigmoid", inputs=[a])
    n.x = "x"; b = n.conv(4, c=3, pads=[1, 1, 1, 1]); t = n.op("Tanh", inputs=[b])
    c = n.op("Concat", inputs=[s, t], axis=1); n.op("Identity"); n.op("Dropout")
    n.cur_c = 8; n.conv(8, k=1); d = n.x
    n.op("Add", inputs=[d, c]); n.op("Relu"); n.op("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    n.op("Flatten"); n.op("Gemm", [n.w(8 * 4 * 4, 6), n.w(1, 6)], alpha=0.7, beta=1.5)


def m_ceil_pool_global_max(n):       # Max/AveragePool ceil_mode where Caffe's windows coincide, GlobalMaxPool
    n.conv(4, k=1)      # 8x8: k3 s2 gives 3 windows in floor mode, 4 in ceil mode (as Caffe)
    n.op("MaxPool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1); n.op("Relu")     # 4x4
    n.op("AveragePool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, count_include_pad=0)  # 2x2, last window clipped
    n.op("GlobalMaxPool"); n.op("Flatten"); n.op("Gemm", [n.w(4, 3)]); n.op("Softmax")


def m_avg_exclude_pad(n):            # AveragePool count_include_pad = 0 with pads: the IR's exclude_pad
    n.conv(4, k=1)
    n.op("AveragePool", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)   # 8x8
    n.op("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=0)
    n.op("Flatten"); n.op("Gemm", [n.w(5, 4 * 5 * 5)], transB=1)


def m_floor_pools(n):                # ceil_mode 0 (PyTorch's default) where Caffe's ceil mode has one window more
    n.conv(4, k=1)
    n.op("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)   # 4x4 (Caffe 5)
    n.op("Relu")
    n.op("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])                            # 2x2 (Caffe 3)
    n.op("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0)   # 1x1 (Caffe 2)
    n.op("Flatten"); n.op("Gemm", [n.w(5, 4)], transB=1)


def m_relu6_clip(n):                 # Clip to finite bounds: ReLU6 and an asymmetric clamp (the IR's clip op)
    n.conv(6, pads=[1, 1, 1, 1]); n.op("Clip", [n.const(np.float32(0)), n.const(np.float32(6))])
    n.conv(4, pads=[1, 1, 1, 1]); n.op("Clip", [n.const(np.float32(-1)), n.const(np.float32(1.5))])
    n.op("MaxPool", kernel_shape=[2, 2], strides=[2, 2]); n.op("Flatten"); n.op("Gemm", [n.w(10, 64)], transB=1)


MODELS = [m_relu6_clip, m_conv_relu_pool_gemm, m_depthwise_dilated, m_batchnorm_leaky_prelu, m_sigmoid_tanh_concat_add,
          m_ceil_pool_global_max, m_avg_exclude_pad, m_floor_pools]
COVERED = {"Conv", "Gemm", "MatMul", "Add", "Mul", "Relu", "Clip", "LeakyRelu", "PRelu", "Sigmoid", "Tanh",
           "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Concat", "Flatten", "Reshape",
           "BatchNormalization", "Softmax", "Identity", "Dropout"}


def _pixels(seed, shape, n=16):
    c, h, w = shape
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


def _onnx_outputs(model, pixels):
    sess = ReferenceEvaluator(model)
    x = pixels.astype(np.float32).transpose(0, 3, 1, 2) * np.float32(SCALE)
    return np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0].reshape(1, -1) for i in range(len(x))])


def _nnbuild_outputs(graph, pixels):
    y = reference.run(graph, pixels)
    return y.transpose(0, 3, 1, 2).reshape(len(pixels), -1)     # HWC -> ONNX's NCHW / (N, C) order


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("build", MODELS, ids=lambda f: f.__name__)
def test_float_matches_onnx_reference(tmp_path, build, seed):
    n = _net(seed)
    build(n)
    model = n.save(tmp_path / "m.onnx")
    g = load_onnx(tmp_path / "m.onnx", scale=SCALE)
    px = _pixels(seed, n.shape)
    want = _onnx_outputs(model, px)
    for graph in (g, passes.run(g)):
        got = _nnbuild_outputs(graph, px)
        if graph is not g and g.ops[-1].type == "softmax":      # the passes strip a trailing softmax
            want_cmp = np.log(np.maximum(want, 1e-30))
            got = got - got.max(1, keepdims=True) + want_cmp.max(1, keepdims=True)
            np.testing.assert_allclose(np.exp(got), want, rtol=1e-4, atol=1e-5)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        assert np.array_equal(got.argmax(1), want.argmax(1))


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("h,w,kernel,strides,pads,ceil", [
    (8, 8, [3, 3], [1, 1], [1, 1, 1, 1], 0), (7, 7, [3, 3], [2, 2], [1, 1, 1, 1], 0),
    (8, 7, [2, 2], [2, 2], [1, 1, 1, 1], 0), (8, 8, [5, 5], [2, 2], [2, 2, 2, 2], 1),
    (7, 8, [5, 3], [2, 1], [2, 1, 2, 1], 1), (9, 6, [3, 2], [2, 1], [1, 0, 1, 0], 0)])
def test_average_pool_with_pads_matches_onnx_reference(tmp_path, h, w, kernel, strides, pads, ceil, count_include_pad):
    """AveragePool with pads, both divisors (count_include_pad 1: Caffe's; 0: exclude_pad),
    strides, odd and even sizes, floor and ceil mode where Caffe's windows coincide."""
    n = _net(4, (3, h, w))
    n.op("AveragePool", kernel_shape=kernel, strides=strides, pads=pads, ceil_mode=ceil,
         count_include_pad=count_include_pad)
    model = n.save(tmp_path / "m.onnx")
    spans = (h + pads[0] + pads[2] - kernel[0], w + pads[1] + pads[3] - kernel[1])
    if count_include_pad and any(-(-sp // st) * st > sp for sp, st in zip(spans, strides)) and ceil:
        # a ceil-mode window past the padding: ONNX's divisor stops at the pad, Caffe's does not
        with pytest.raises(NnbuildError, match="pooling windows differ"):
            load_onnx(tmp_path / "m.onnx", scale=SCALE)
        return
    g = load_onnx(tmp_path / "m.onnx", scale=SCALE)
    assert bool(g.ops[-1].attrs.get("exclude_pad")) == (count_include_pad == 0)
    px = _pixels(4, n.shape)
    np.testing.assert_allclose(_nnbuild_outputs(g, px), _onnx_outputs(model, px), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [16, 15])
@pytest.mark.parametrize("op_type,pads,count_include_pad", [
    ("MaxPool", [1, 1, 1, 1], None), ("MaxPool", [0, 0, 0, 0], None), ("AveragePool", [1, 1, 1, 1], 0),
    ("AveragePool", [1, 1, 1, 1], 1), ("AveragePool", [0, 0, 0, 0], 0)])
def test_floor_pools_match_onnx_reference(tmp_path, size, op_type, pads, count_include_pad):
    """ceil_mode 0 3x3/2 pools (ResNet's MaxPool2d(3, 2, 1): 16 -> 8, Caffe 9): the IR's ceil_mode
    false exactly where Caffe's ceil mode differs, and the float outputs are onnx.reference's."""
    n = _net(3, (3, size, size))
    extra = {} if count_include_pad is None else {"count_include_pad": count_include_pad}
    n.op(op_type, kernel_shape=[3, 3], strides=[2, 2], pads=pads, **extra)
    model = n.save(tmp_path / "m.onnx")
    g = load_onnx(tmp_path / "m.onnx", scale=SCALE)
    p = pads[0]
    out = (size + 2 * p - 3) // 2 + 1
    assert g.tensors[g.ops[-1].outputs[0]].shape[:2] == (out, out)
    assert g.ops[-1].attrs.get("ceil_mode", True) == (out == ir.pool_output_size(size, 3, 2, p))
    px = _pixels(4, n.shape)
    np.testing.assert_allclose(_nnbuild_outputs(g, px), _onnx_outputs(model, px), rtol=1e-5, atol=1e-6)


def test_export_onnx_writes_floor_pools_as_ceil_mode_0(tmp_path):
    """tools/export_onnx.py writes ceil_mode false pools as ceil_mode 0: imported back, the same
    floor pools and the same float outputs."""
    import importlib.util

    n = _net(9)
    m_floor_pools(n)
    n.save(tmp_path / "m.onnx")
    g = load_onnx(tmp_path / "m.onnx", scale=SCALE)
    assert [op.attrs.get("ceil_mode") for op in g.ops if "pool" in op.type] == [False] * 3
    spec = importlib.util.spec_from_file_location("export_onnx", ROOT / "tools" / "export_onnx.py")
    export_onnx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export_onnx)
    onnx.save(export_onnx.export(g), str(tmp_path / "back.onnx"))
    back = load_onnx(tmp_path / "back.onnx", scale=SCALE)
    assert [op.attrs.get("ceil_mode") for op in back.ops if "pool" in op.type] == [False] * 3
    px = _pixels(9, n.shape)
    np.testing.assert_allclose(reference.run(back, px), reference.run(g, px), rtol=1e-5, atol=1e-6)


def test_export_onnx_writes_exclude_pad_as_count_include_pad_0(tmp_path):
    """tools/export_onnx.py writes an exclude_pad average as count_include_pad = 0, ceil mode
    included: imported back, the same pools and the same float outputs."""
    import importlib.util

    n = _net(9)
    m_avg_exclude_pad(n)
    n.save(tmp_path / "m.onnx")
    g = load_onnx(tmp_path / "m.onnx", scale=SCALE)
    spec = importlib.util.spec_from_file_location("export_onnx", ROOT / "tools" / "export_onnx.py")
    export_onnx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export_onnx)
    model = export_onnx.export(g)
    assert [(a.name, a.i) for node in model.graph.node if node.op_type == "AveragePool"
            for a in node.attribute if a.name in ("count_include_pad", "ceil_mode")] == \
        [("ceil_mode", 0), ("count_include_pad", 0), ("ceil_mode", 1), ("count_include_pad", 0)]
    onnx.save(model, str(tmp_path / "back.onnx"))
    back = load_onnx(tmp_path / "back.onnx", scale=SCALE)
    assert [op.attrs.get("exclude_pad") for op in back.ops if op.type == "avg_pool"] == [True, True]
    px = _pixels(9, n.shape)
    np.testing.assert_allclose(reference.run(back, px), reference.run(g, px), rtol=1e-5, atol=1e-6)


def test_the_models_cover_every_supported_operator(tmp_path):
    from nnbuild.frontends.onnx.convert import _HANDLERS

    used = set()
    for i, build in enumerate(MODELS):
        n = _net(i)
        build(n)
        used |= {node.op_type for node in n.nodes}
    assert used == COVERED == set(_HANDLERS) - {"Constant", "QuantizeLinear", "DequantizeLinear"}  # QDQ: test_onnx_qdq.py


def test_layouts_and_folding(tmp_path):
    n = _net(3)
    m_batchnorm_leaky_prelu(n)
    n.save(tmp_path / "m.onnx")
    g = load_onnx(tmp_path / "m.onnx", scale=SCALE)
    assert g.tensors[g.input].shape == (8, 8, 3)
    assert [op.type for op in passes.run(g).ops].count("channel_affine") < [op.type for op in g.ops].count("channel_affine")
    fc = [op for op in g.ops if op.type == "fully_connected"][0]
    assert fc.params["weight"].shape == (7, 80)


def test_constant_node_and_opset_11_clip(tmp_path):
    n = _net(4)
    n.conv(4)
    zero = "zero"
    n.nodes.append(helper.make_node("Constant", [], [zero], value=numpy_helper.from_array(np.float32(0), "z")))
    n.op("Clip", [zero])
    n.op("GlobalAveragePool"); n.op("Flatten")
    model = n.save(tmp_path / "m.onnx", opset=11)
    g = load_onnx(tmp_path / "m.onnx", scale=SCALE)
    px = _pixels(4, n.shape)
    np.testing.assert_allclose(_nnbuild_outputs(g, px), _onnx_outputs(model, px), rtol=1e-4, atol=1e-5)


# -- bad input: one clear error naming the problem ------------------------------------------------

def _refused(tmp_path, model_or_bytes, *words):
    p = tmp_path / "bad.onnx"
    p.write_bytes(model_or_bytes if isinstance(model_or_bytes, bytes) else model_or_bytes.SerializeToString())
    with pytest.raises(NnbuildError) as e:
        load_onnx(p)
    text = str(e.value)
    assert "\n" not in text and str(p) in text
    for w in words:
        assert w in text, text
    return text


def _save(tmp_path, model):
    onnx.save(model, str(tmp_path / "m.onnx"))
    return tmp_path / "m.onnx"


def _simple(**conv_attrs):
    n = _net(5)
    n.conv(4, **conv_attrs); n.op("Relu")
    return n


def test_truncated_and_garbage_files(tmp_path):
    data = _simple().model().SerializeToString()
    _refused(tmp_path, data[:len(data) // 2], "ONNX")
    _refused(tmp_path, b"\xff\xfe not a protobuf at all" * 3, "ONNX")
    _refused(tmp_path, b"", "no ONNX graph")


def test_unknown_operator_is_refused_by_name_with_the_list(tmp_path):
    n = _simple()
    n.op("LpNormalization"); n.op("HardSwish")
    text = _refused(tmp_path, n.model(), "HardSwish", "LpNormalization", "Conv", "BatchNormalization")
    assert text.index("HardSwish") < text.index("expected")


@pytest.mark.parametrize("case,words", [
    ("two_inputs", ["2 inputs"]), ("vector_input", ["rank 2"]), ("int_input", ["not a float"]),
    ("dynamic", ["dynamic", "H"]), ("float16_weights", ["FLOAT16"]), ("int64_weights", ["int64"]),
    ("asym_pads", ["asymmetric pads", "node 'n3' (Conv)"]), ("clip_inf", ["Clip to [-1.0, inf]"]),
    ("avg_include_pad_ceil", ["pooling windows differ"]), ("ceil_differs", ["pooling windows differ"]),
    ("mul_tensors", ["Mul of two computed"]), ("external", ["external"]),
    ("flat_conv", ["flattened image"]), ("softmax_spatial", ["Softmax over axis 2"]),
    ("no_opset", ["no ai.onnx opset"]), ("mul_by_c_on_image", ["multiplier of shape [4]", "[4, 1, 1]"]),
    ("add_const_first", None),
])
def test_bad_models(tmp_path, case, words):
    n = _simple(pads=[1, 1, 1, 1])
    vi = helper.make_tensor_value_info
    m = None
    if case == "two_inputs":
        m = n.model()
        m.graph.input.append(vi("y", TensorProto.FLOAT, [1, 3, 8, 8]))
    elif case == "vector_input":
        m = n.model()
        m.graph.input[0].CopyFrom(vi("x", TensorProto.FLOAT, [1, 3]))
    elif case == "int_input":
        m = n.model()
        m.graph.input[0].CopyFrom(vi("x", TensorProto.UINT8, [1, 3, 8, 8]))
    elif case == "dynamic":
        m = n.model()
        m.graph.input[0].CopyFrom(vi("x", TensorProto.FLOAT, ["N", 3, "H", "W"]))
    elif case == "float16_weights":
        m = n.model()
        m.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float16), "w1"))
    elif case == "int64_weights":
        m = n.model()
        m.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.int64), "w1"))
    elif case == "asym_pads":
        n = _net(5)
        n.conv(4, pads=[1, 1, 0, 0])
    elif case == "clip_inf":
        n.op("Clip", [n.const(np.float32(-1))])
    elif case == "avg_include_pad_ceil":   # 8x8, k3 s2 pads 1 ceil: the 5th window's divisor stops at the pad
        n.op("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1)
    elif case == "ceil_differs":      # 8x8, k2 s3 pads 1 ceil: ONNX's 4th window lies in the pad, Caffe drops it
        n.op("MaxPool", kernel_shape=[2, 2], strides=[3, 3], pads=[1, 1, 1, 1], ceil_mode=1)
    elif case == "mul_tensors":
        n.op("Mul", inputs=[n.x, n.x])
    elif case == "external":
        m = n.model()
        t = m.graph.initializer[0]
        t.data_location = TensorProto.EXTERNAL
        t.external_data.add(key="location", value="w.bin")
        t.ClearField("raw_data")
    elif case == "flat_conv":
        n.op("Flatten"); n.op("Relu")
    elif case == "softmax_spatial":
        n.op("Softmax", axis=2)
    elif case == "mul_by_c_on_image":     # ONNX broadcasts (C,) along W, not C
        n.op("Mul", [n.const(np.ones(4, np.float32))])
    elif case == "add_const_first":        # not bad: Add(constant, x) is x + constant (and stays an image)
        n.op("Add", inputs=[n.const(np.ones((1, 4, 1, 1), np.float32)), n.x]); n.op("MaxPool", kernel_shape=[2, 2])
        g = load_onnx(_save(tmp_path, n.model()))
        assert [op.type for op in g.ops][-2:] == ["channel_affine", "max_pool"]
        return
    elif case == "no_opset":
        m = n.model()
        m.ClearField("opset_import")
    _refused(tmp_path, m if m is not None else n.model(), *words)


def test_symbolic_batch_dim_and_the_manifest_shape(tmp_path):
    """PyTorch exports with a dynamic batch axis: N may be symbolic; C, H, W come from the file."""
    m = _simple(pads=[1, 1, 1, 1]).model()
    m.graph.input[0].CopyFrom(helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8]))
    p = _save(tmp_path, m)
    assert load_onnx(p).tensors["pixels"].shape == (8, 8, 3)
    assert load_onnx(p, input_shape=(8, 8, 3)).tensors["pixels"].shape == (8, 8, 3)
    with pytest.raises(NnbuildError, match=r"manifest says \[8, 8, 1\]"):
        load_onnx(p, input_shape=(8, 8, 1))


def test_manifest_format_onnx(tmp_path):
    from nnbuild import pipeline
    from nnbuild.manifest import load_manifest

    n = _simple(pads=[1, 1, 1, 1])
    n.op("GlobalAveragePool"); n.op("Flatten")
    n.save(tmp_path / "m.onnx")
    (tmp_path / "models.yaml").write_text(
        "version: 1\nmodels:\n  - name: tiny\n    format: onnx\n    onnx: {model: m.onnx}\n"
        "    input: {mean: [128], scale: 0.0078125}\n")
    entry = load_manifest(tmp_path / "models.yaml").model("tiny")
    assert entry.import_files()[0] == str(tmp_path / "m.onnx") or str(tmp_path / "m.onnx") in map(str, entry.import_files())
    g = pipeline.import_model(entry)
    assert g.name == "tiny" and g.meta["channel_order"] == "RGB"
    assert float(g.ops[0].params["mean"].mean()) == 128.0


# -- quantized: golden == host C == QEMU -----------------------------------------------------------

QUANT_MODELS = {"q7": [m_relu6_clip, m_conv_relu_pool_gemm, m_batchnorm_leaky_prelu, m_sigmoid_tanh_concat_add],
                "int8": [m_relu6_clip, m_conv_relu_pool_gemm, m_sigmoid_tanh_concat_add, m_ceil_pool_global_max]}
QUANT_MODELS["q7"] += [m_avg_exclude_pad, m_floor_pools]
QUANT_MODELS["int8"] += [m_avg_exclude_pad, m_floor_pools]


def _manifest(tmp_path, build, scheme, seed=7):
    n = _net(seed)
    build(n)
    n.save(tmp_path / "m.onnx")
    np.savez(tmp_path / "calib.npz", images=_pixels(seed + 100, n.shape, 64))
    (tmp_path / "models.yaml").write_text(
        "version: 1\nbudgets:\n  m4: {ram: 128KiB, flash: 512KiB}\nmodels:\n  - name: rnd\n    format: onnx\n"
        f"    model: m.onnx\n    input: {{scale: {SCALE}}}\n"
        f"    quantization: {{scheme: {scheme}, calibration: calib.npz}}\n")
    return tmp_path / "models.yaml", n


def _quantize(manifest):
    from nnbuild import golden, pipeline
    from nnbuild.manifest import load_manifest

    entry = load_manifest(manifest).model("rnd")
    qgraph, _ = pipeline.quantize_graph(entry, pipeline.import_model(entry))
    return entry, qgraph, golden


@pytest.mark.parametrize("scheme,build", [(s, b) for s, bs in QUANT_MODELS.items() for b in bs],
                         ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_quantized_host_equals_golden(tmp_path, scheme, build):
    from nnbuild.hostrun import generate_and_build

    manifest, n = _manifest(tmp_path, build, scheme)
    entry, qgraph, golden = _quantize(manifest)
    px = _pixels(11, n.shape, 40)
    want = golden.run(qgraph, px).reshape(len(px), -1)
    for dsp in (False, True):
        got = generate_and_build(qgraph, tmp_path / f"dsp{dsp}", entry.name, dsp=dsp).run(px)
        assert np.array_equal(got, want), f"dsp={dsp}"


@needs_arm
@needs_qemu
@pytest.mark.parametrize("scheme", ["q7", "int8"])
def test_quantized_qemu_equals_golden(tmp_path, scheme):
    from nnbuild import firmware

    manifest, n = _manifest(tmp_path, m_relu6_clip, scheme)
    entry, qgraph, golden = _quantize(manifest)
    assert "clip" in [op.type for op in qgraph.ops]
    px = _pixels(12, n.shape, 20)
    elf = firmware.scons_build(manifest, "m4", build_dir=tmp_path / "build")
    got, info = firmware.run_batch(entry, "m4", px, elf=elf)
    assert info["inferences"] == 20
    assert np.array_equal(got, golden.run(qgraph, px).reshape(len(px), -1))


# -- a real network: cifar10_m4 exported by tools/export_onnx.py and imported back ----------------

CIFAR_QUANT = {"q7": "{scheme: q7, calibration: CALIB, samples: 500, strategy: mse}",
               "int8": "{scheme: int8, calibration: CALIB, samples: 500, strategy: mse, weights: per_channel}"}


@pytest.fixture(scope="module")
def cifar_onnx(tmp_path_factory):
    """cifar10_m4 as ONNX (made at test time from ../shared, never committed) and a manifest with
    one model per scheme, the Caffe manifests' settings otherwise."""
    from conftest import CIFAR_CALIB, CIFAR_H5, CIFAR_MEAN

    if not CIFAR_H5.exists():
        pytest.skip("../shared (real CIFAR-10 model) not present")
    import importlib.util

    from nnbuild.frontends import load_model

    spec = importlib.util.spec_from_file_location("export_onnx", ROOT / "tools" / "export_onnx.py")
    export_onnx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export_onnx)
    from nnbuild.manifest import load_manifest

    d = tmp_path_factory.mktemp("cifar_onnx")
    model = export_onnx.export(load_model(load_manifest(ROOT / "manifests" / "cifar10.yaml").model("cifar10_m4")))
    onnx.save(model, str(d / "cifar10_m4.onnx"))
    entries = "".join(
        f"  - name: cifar_onnx_{s}\n    format: onnx\n    onnx: {{model: cifar10_m4.onnx}}\n"
        f"    input: {{channel_order: RGB, mean_file: {CIFAR_MEAN}, scale: 1.0}}\n"
        f"    labels: [airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck]\n"
        f"    quantization: {q.replace('CALIB', str(CIFAR_CALIB))}\n    budget: {{ram: 48KiB}}\n"
        for s, q in CIFAR_QUANT.items())
    (d / "models.yaml").write_text("version: 1\ndefaults: {target: m4}\nbudgets:\n  m4: {ram: 128KiB, flash: 512KiB}\n"
                                   "models:\n" + entries)
    return d / "models.yaml"


def _cifar_path(manifest, name):
    from conftest import CIFAR_TEST
    from nnbuild import golden, pipeline
    from nnbuild.calibration import load_eval_data
    from nnbuild.manifest import load_manifest

    entry = load_manifest(manifest).model(name)
    graph = pipeline.import_model(entry)
    qgraph, _ = pipeline.quantize_graph(entry, graph)
    images, labels = load_eval_data(CIFAR_TEST, graph)
    return entry, graph, qgraph, images, labels, golden.run(qgraph, images).reshape(len(images), -1)


@pytest.mark.parametrize("scheme,caffe_manifest,caffe_name,want", [
    ("q7", "cifar10.yaml", "cifar10_m4", (743, 746)), ("int8", "cifar10_int8.yaml", "cifar10_m4_int8", (743, 742))])
def test_cifar_onnx_round_trip_equals_the_caffe_path(cifar_onnx, tmp_path, scheme, caffe_manifest, caffe_name, want):
    from nnbuild import reference
    from nnbuild.hostrun import generate_and_build

    entry, graph, qgraph, images, labels, got = _cifar_path(cifar_onnx, f"cifar_onnx_{scheme}")
    *_, caffe_q = _cifar_path(ROOT / "manifests" / caffe_manifest, caffe_name)
    assert len(images) == 932
    float_top1 = int((reference.run(graph, images).reshape(932, -1).argmax(1) == labels).sum())
    assert (float_top1, int((got.argmax(1) == labels).sum())) == want
    assert np.array_equal(got, caffe_q)          # the same quantized model, bit for bit, as through Caffe
    host = generate_and_build(qgraph, tmp_path / "host", entry.name).run(images)
    assert np.array_equal(host, got)


@needs_arm
@needs_qemu
def test_cifar_onnx_qemu_bench_m4(cifar_onnx, tmp_path):
    from nnbuild import firmware
    from nnbuild.manifest import load_manifest

    for scheme in CIFAR_QUANT:
        entry = load_manifest(cifar_onnx).model(f"cifar_onnx_{scheme}")
        result = firmware.bench(entry, "m4", cifar_onnx, build_dir=tmp_path / "build")
        print(f"cifar10_m4 via ONNX, {scheme}, m4: {result['instructions']} instructions per inference, "
              f"arena {result['arena_bytes']} B")
        # layer by layer; on m4 the convs' weights widened to int16 in their scratch (45,056 B)
        assert result["instructions"] > 0 and result["arena_bytes"] <= 45056


@pytest.mark.parametrize("bad", ["truncated", "unknown_op"])
def test_cli_import_refuses_with_one_paragraph_and_writes_nothing(tmp_path, bad):
    n = _simple(pads=[1, 1, 1, 1])
    if bad == "unknown_op":
        n.op("HardSwish")
    data = n.model().SerializeToString()
    (tmp_path / "m.onnx").write_bytes(data[:len(data) - 7] if bad == "truncated" else data)
    assert_cli_import_refuses(tmp_path, "onnx", "m.onnx")


def test_clip_bounds_of_both_schemes():
    """q7: bounds in the input's format; int8: TFLite's zp + round(f / scale), half away from zero."""
    from nnbuild import ir
    from nnbuild.quantize.int8.ops import RULES as INT8
    from nnbuild.quantize.q7.ops import RULES as Q7
    from nnbuild.quantize.q7.ops.clip import clamp_bounds

    op = ir.Op("c", "clip", ["x"], ["y"], {"min": 0.0, "max": 6.0}, {})
    assert Q7["clip"].params(None, op, [4], 4, [])[0] == {"act_min": 0, "act_max": 96}
    assert Q7["clip"].params(None, op, [5], 5, [])[0] == {"act_min": 0, "act_max": 127}      # 6 saturates
    assert INT8["clip"].params(None, op, [(0.05, -100)], (0.05, -100), {}, [])[0] == {"act_min": -100, "act_max": 20}
    assert clamp_bounds(-0.5, 2.5, 3) == (2, 6)        # rounded before the zero point is added
    assert clamp_bounds(-300.0, -200.0) == (-128, -128)
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 1, -1)
    q = ir.Op("c", "clip", ["x"], ["y"], {"min": -1.0, "max": 1.5, "act_min": -16, "act_max": 24}, {})
    assert np.array_equal(Q7["clip"].golden(q, [x]), np.clip(x, -16, 24))
    assert np.array_equal(INT8["clip"].golden(q, [x]), np.clip(x, -16, 24))
