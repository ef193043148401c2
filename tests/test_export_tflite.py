"""The .tflite export (nnbuild.exporters.tflite): TensorFlow Lite Micro's reference interpreter
runs the exported file to exactly the golden model's bytes on seeded random nets (every op and
padding/window case the writer maps), the real cifar10_m4 on all 932 test images, and every
graph the file cannot reproduce is refused with one clear error."""
import copy
import subprocess
import sys

import numpy as np
import pytest

from conftest import CIFAR_CALIB, CIFAR_TEST, ROOT, needs_shared
from tflm_oracle import details, run_tflm

from nnbuild import golden, ir, ops
from nnbuild.errors import NnbuildError
from nnbuild.exporters import EXPORTERS, FORMATS, exporter
from nnbuild.exporters import tflite
from nnbuild.exporters import tflite_schema as S
from nnbuild.quantize import quantize
from nnbuild.quantize.int8 import golden as golden_int8
from nnbuild.quantize.int8.arith import mbqm, quantize_multiplier
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb   # pinned test oracle

B = S.BuiltinOperator


class Net:
    """A float IR graph built op by op, seeded random weights (shapes from the op registry)."""

    def __init__(self, shape, seed):
        self.rng = np.random.default_rng(seed)
        self.g = ir.Graph("net", "px", [], meta={"channel_order": "RGB"})
        self.g.tensors["px"] = ir.Tensor("px", tuple(shape), "uint8")
        self.x = self.add("input_stage", ["px"], {"scale": 1 / 64}, {"mean": np.full(shape[2], 120, np.float32)})

    def add(self, op_type, inputs, attrs, params=None):
        name = f"{op_type}{len(self.g.ops)}"
        op = ir.Op(name, op_type, list(inputs), [name], attrs, params or {})
        self.g.tensors[name] = ir.Tensor(name, ops.infer_shape(op, [self.g.tensors[t].shape for t in inputs]))
        self.g.ops.append(op)
        return name

    def conv(self, x, o, k, s=1, p=0, d=1, group=1, act="relu"):
        c = self.g.tensors[x].shape[2]
        w = self.rng.normal(0, 1.5 / np.sqrt(k * k * c / group), (o, k, k, c // group)).astype(np.float32)
        return self.add("conv2d", [x], dict(kernel=k, stride=s, pad=p, dilation=d, group=group, activation=act),
                        dict(weight=w, bias=self.rng.normal(0, 0.2, o).astype(np.float32)))

    def fc(self, x, o, act="none"):
        n = self.g.tensors[x].size
        w = self.rng.normal(0, 1.5 / np.sqrt(n), (o, n)).astype(np.float32)
        return self.add("fully_connected", [x], dict(activation=act),
                        dict(weight=w, bias=self.rng.normal(0, 0.2, o).astype(np.float32)))

    def pool(self, op_type, x, k, s, p=0):
        return self.add(op_type, [x], dict(kernel=k, stride=s, pad=p))

    def quantized(self, out, per_channel=True, samples=40, more_outputs=()):
        self.g.outputs = [out, *more_outputs]
        pixels = self.rng.integers(0, 256, (samples,) + self.g.tensors["px"].shape, dtype=np.uint8)
        return quantize(self.g.validate(), pixels, "int8", options={"per_channel": per_channel})


def net_convs(seed, per_channel=True):
    """Convolutions of every mapping (SAME, VALID, explicit PAD, stride, dilation, depthwise with
    multiplier 2, grouped), a ceil-mode max pool with clipped windows, two fully connected."""
    n = Net((13, 13, 3), seed)
    c1 = n.conv(n.x, 8, 3, p=1)                   # SAME
    c2 = n.conv(c1, 8, 3, s=2, p=2)               # 13 -> 8: neither SAME nor VALID: PAD + VALID
    dw = n.conv(c2, 16, 3, p=1, group=8)          # DEPTHWISE_CONV_2D, depth multiplier 2
    gc = n.conv(dw, 8, 1, group=4, act="none")    # grouped CONV_2D, VALID
    dl = n.conv(gc, 8, 3, p=2, d=2)               # dilation 2, SAME
    mp = n.pool("max_pool", dl, 3, 2)             # Caffe ceil mode: last window clipped (SAME)
    f1 = n.fc(mp, 10, act="relu")
    return n.quantized(n.fc(f1, 5), per_channel)


def net_elementwise(seed):
    """add, relu, concat requantizing an input, sigmoid, tanh, concat of their fixed scales,
    average pools (VALID and clipped SAME windows), a softmax output."""
    n = Net((8, 8, 4), seed)
    a = n.conv(n.x, 6, 1, act="none")
    b = n.conv(n.x, 6, 3, p=1, act="none")
    r = n.add("relu", [n.add("add", [a, b], {})], {"negative_slope": 0.0})
    k = n.add("concat", [a, r], {})               # `a` also feeds the add: its own scale
    k2 = n.add("concat", [n.add("sigmoid", [k], {}), n.add("tanh", [b], {})], {})
    ap = n.pool("avg_pool", n.pool("avg_pool", k2, 2, 2), 3, 2)
    return n.quantized(n.add("softmax", [n.fc(ap, 7)], {}))


def same_avg_geometry(rng):
    """(h, w, kernel, stride, pad) of a random AVERAGE_POOL_2D SAME that pads (TFLite's leading
    pad total // 2, the extra cell at the end) and whose windows are Caffe's ceil-mode ones."""
    while True:
        h, w = (int(v) for v in rng.integers(3, 12, 2))
        k = tuple(int(v) for v in rng.integers(1, 5, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        pad, ok = [], True
        for n, kk, ss in zip((h, w), k, s):
            out = -(-n // ss)
            lead = max((out - 1) * ss + kk - n, 0) // 2
            ok &= ir.pool_output_size(n, kk, ss, lead) == out and not ir.pool_has_empty_window(n, kk, ss, lead)
            pad.append(lead)
        if ok and max(pad) > 0:
            return h, w, k, s, tuple(pad)


def net_same_avg(seed):
    """conv -> an average pool with exclude_pad (TFLite's SAME divisor: the window's input cells)
    -> a second, 3x3/1 pad 1 one (the commonest Keras AveragePooling2D(3, 1, "same"))."""
    h, w, k, s, pad = same_avg_geometry(np.random.default_rng(seed))
    n = Net((h, w, 3), seed)
    ap = n.add("avg_pool", [n.conv(n.x, 5, 1, act="none")], dict(kernel=k, stride=s, pad=pad, exclude_pad=True))
    return n.quantized(n.add("avg_pool", [ap], dict(kernel=3, stride=1, pad=1, exclude_pad=True)))


def net_floor_pools(seed):
    """PyTorch's commonest pools in floor mode (ceil_mode false), where Caffe's ceil mode has one
    window more: ResNet's MaxPool2d(3, 2, 1) on 16 (PADV2 + VALID) and AvgPool2d(3, 2) on 8 (VALID)."""
    n = Net((16, 16, 3), seed)
    mp = n.add("max_pool", [n.conv(n.x, 6, 3, p=1)], dict(kernel=3, stride=2, pad=1, ceil_mode=False))    # 8x8
    ap = n.add("avg_pool", [n.conv(mp, 6, 1, act="none")], dict(kernel=3, stride=2, pad=0, ceil_mode=False))  # 3x3
    return n.quantized(n.fc(ap, 5))


def net_ranks(seed):
    """A fully connected output ([1, N] in TFLite) added to a conv output and fed to a conv:
    the writer reshapes it to [1, 1, 1, N]."""
    n = Net((6, 6, 2), seed)
    f = n.fc(n.x, 5)
    c = n.conv(n.x, 5, 6, act="none")             # 6x6 kernel: (1, 1, 5)
    s = n.add("add", [f, c], {})
    return n.quantized(n.conv(s, 4, 1, act="none"))


def tflm_equals_golden(qgraph, n=24, seed=0):
    """Export, run n random images through golden and TFLM, compare every output byte."""
    data = tflite.export(qgraph)
    pixels = np.random.default_rng(seed).integers(0, 256, (n,) + qgraph.tensors[qgraph.input].shape, dtype=np.uint8)
    first = qgraph.ops[0].outputs[0]
    r = golden.run(qgraph, pixels, outputs=[first, qgraph.outputs[0]])
    want = r[qgraph.outputs[0]]
    got = run_tflm(data, r[first])
    assert got.size == want.size
    assert np.array_equal(got.reshape(want.shape), want), f"{int((got.reshape(want.shape) != want).sum())} bytes differ"
    assert len(np.unique(want)) > 3          # a constant output would prove little
    return data


def op_codes(qgraph):
    m = tflite.build_model(qgraph)
    codes = {i: c for c, i in m.codes.items()}
    return [codes[op[0]] for op in m.ops]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conv_family_equals_golden_in_tflm(seed):
    q = net_convs(seed)
    tflm_equals_golden(q, seed=seed)
    assert op_codes(q) == [B.CONV_2D, B.PAD, B.CONV_2D, B.DEPTHWISE_CONV_2D, B.CONV_2D, B.CONV_2D,
                           B.MAX_POOL_2D, B.FULLY_CONNECTED, B.FULLY_CONNECTED]


def test_per_tensor_weights_equal_golden_in_tflm():
    tflm_equals_golden(net_convs(3, per_channel=False))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_elementwise_ops_equal_golden_in_tflm(seed):
    q = net_elementwise(seed)
    tflm_equals_golden(q, seed=seed)
    codes = op_codes(q)
    assert codes.count(B.QUANTIZE) >= 2 and codes.count(B.CONCATENATION) == 2
    for code in (B.ADD, B.RELU, B.LOGISTIC, B.TANH, B.AVERAGE_POOL_2D, B.SOFTMAX):
        assert code in codes


def test_fully_connected_output_reshaped_for_4d_consumers():
    q = net_ranks(0)
    tflm_equals_golden(q)
    assert op_codes(q) == [B.FULLY_CONNECTED, B.CONV_2D, B.RESHAPE, B.ADD, B.CONV_2D]


def test_single_output_fully_connected_per_channel_exports():
    n = Net((4, 4, 2), 0)
    tflm_equals_golden(n.quantized(n.fc(n.conv(n.x, 3, 1), 1)))


def test_per_tensor_fully_connected_multiplier_is_tflms_double_product():
    """Scales whose float32 product rounds the multiplier differently from the double product,
    and an input whose output differs between the two: TFLM gives the double product's."""
    si, sw, so, n = 0.05350122228264809, 0.008442406542599201, 3.0434701442718506, 64
    mult, shift = tflite.conv_multipliers(si, [sw], so, 1)
    assert (mult, shift) == ([1305421417], [-12])
    assert quantize_multiplier(float(np.float32(si) * np.float32(sw)) / float(np.float32(so))) == (1305421447, -12)
    g = ir.Graph("fc", "px", ["y"], meta={"quantization": {"scheme": "int8"}})
    g.tensors["px"] = ir.Tensor("px", (1, 1, n), "uint8")
    g.tensors["x"] = ir.Tensor("x", (1, 1, n), "int8", {"scale": si, "zero_point": 0})
    g.tensors["y"] = ir.Tensor("y", (1, 1, 1), "int8", {"scale": so, "zero_point": 0})
    g.ops = [ir.Op("in", "input_stage", ["px"], ["x"], {"scale": 1.0, "mul": 1, "shift": 1}, {"off": np.zeros(1, np.int32)}),
             ir.Op("f", "fully_connected", ["x"], ["y"], dict(in_zp=0, out_zp=0, act_min=-128, act_max=127, per_channel=False),
                   dict(weight=np.full((1, n), 127, np.int8), bias=np.zeros(1, np.int32),
                        weight_scale=np.array([sw], np.float32), out_mult=np.array(mult, np.int32),
                        out_shift=np.array(shift, np.int32)))]
    x = np.full((1, 1, 1, n), -52, np.int8)
    x[..., :12] = -51                                            # sum -3316: acc 127 * sum
    assert int(mbqm(127 * -3316, 1305421447, -12)) == -63       # the float32 product's answer
    assert run_tflm(tflite.export(g.validate()), x).ravel().tolist() == [-62]
    f = g.ops[1].params
    assert golden_int8.fully_connected(x, f["weight"], f["bias"], 0, mult, shift, 0, -128, 127).ravel().tolist() == [-62]


def test_every_graph_output_is_a_subgraph_output_in_order():
    n = Net((6, 6, 2), 5)
    c = n.conv(n.x, 4, 3, p=1)
    q = n.quantized(n.fc(c, 3), more_outputs=[c])
    data = tflite.export(q)
    pixels = np.random.default_rng(1).integers(0, 256, (5, 6, 6, 2), dtype=np.uint8)
    first = q.ops[0].outputs[0]
    r = golden.run(q, pixels, outputs=[first, *q.outputs])
    for i, name in enumerate(q.outputs):
        got = run_tflm(data, r[first], output_index=i)
        assert np.array_equal(got.reshape(r[name].shape), r[name])


def hand_made_conv(act_min=-128):
    """An int8 graph written by hand (no quantizer): input stage + one SAME conv."""
    rng = np.random.default_rng(7)
    g = ir.Graph("hand", "px", ["y"], meta={"quantization": {"scheme": "int8"}})
    g.tensors["px"] = ir.Tensor("px", (6, 6, 2), "uint8")
    g.tensors["x"] = ir.Tensor("x", (6, 6, 2), "int8", {"scale": 0.05, "zero_point": 3})
    g.tensors["y"] = ir.Tensor("y", (6, 6, 4), "int8", {"scale": 0.1, "zero_point": -5})
    ws = rng.uniform(0.005, 0.02, 4).astype(np.float32)
    mult, shift = tflite.conv_multipliers(0.05, ws, 0.1, 4)
    g.ops = [ir.Op("in", "input_stage", ["px"], ["x"], {"scale": 1.0, "mul": 1, "shift": 1},
                   {"off": np.array([250, 256], np.int32)}),
             ir.Op("c", "conv2d", ["x"], ["y"],
                   dict(kernel=3, stride=1, pad=1, dilation=1, group=1, in_zp=3, out_zp=-5, act_min=act_min,
                        act_max=127, per_channel=True),
                   dict(weight=rng.integers(-127, 128, (4, 3, 3, 2)).astype(np.int8),
                        bias=rng.integers(-900, 900, 4).astype(np.int32), weight_scale=ws,
                        out_mult=np.array(mult, np.int32), out_shift=np.array(shift, np.int32)))]
    return g.validate()


def test_hand_made_graph_runs_in_tflm_like_golden():
    tflm_equals_golden(hand_made_conv())


def test_file_layout_quantization_and_determinism():
    q = net_convs(0)
    data = tflite.export(q)
    assert data == tflite.export(copy.deepcopy(q))            # same graph, same bytes
    assert fb.Model.ModelBufferHasIdentifier(data, 0) and data[4:8] == S.FILE_IDENTIFIER
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(data, 0))
    assert model.version == 3 and len(model.subgraphs) == 1
    assert model.buffers[0].data is None                        # the empty sentinel
    assert b"input stage" in model.description and b"not part of this model" in model.description
    sg = model.subgraphs[0]
    x = sg.tensors[sg.inputs[0]]
    xq = q.tensors[q.ops[0].outputs[0]].quant
    assert x.type == S.TensorType.INT8 and list(x.shape) == [1, 13, 13, 3]
    assert list(x.quantization.scale) == [np.float32(xq["scale"])] and list(x.quantization.zeroPoint) == [xq["zero_point"]]
    by_name = {t.name.decode(): t for t in sg.tensors}
    dw = by_name["conv2d3/weight"]
    assert list(dw.shape) == [1, 3, 3, 16] and dw.quantization.quantizedDimension == 3
    assert len(dw.quantization.scale) == 16
    bias = by_name["conv2d3/bias"]
    assert bias.type == S.TensorType.INT32 and len(bias.quantization.scale) == 16
    raw = fb.Model.GetRootAsModel(data, 0)
    for i in range(1, raw.BuffersLength()):                     # constant data 16-byte aligned
        buf = raw.Buffers(i)
        assert buf.DataLength() > 0 and buf._tab.Vector(buf._tab.Offset(4)) % 16 == 0
    assert all((t.buffer == 0) == (model.buffers[t.buffer].data is None) for t in sg.tensors)
    inp, out = details(data)
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8 and list(out["shape"]) == [1, 5]


def test_softmax_stripped_by_the_pipeline_is_documented_in_the_description():
    g = hand_made_conv()
    g.meta["output_softmax"] = True
    assert "final softmax was removed" in tflite.description(g)


def test_schema_constants_match_tflite_schema():
    for cls in ("BuiltinOperator", "BuiltinOptions", "TensorType", "Padding", "ActivationFunctionType"):
        ours, theirs = getattr(S, cls), getattr(fb, cls)
        for name in (k for k in vars(ours) if not k.startswith("_")):
            assert getattr(ours, name) == getattr(theirs, name), f"{cls}.{name}"
    # field slots: the schema module's Add<Field> functions name the slot they write
    import inspect
    import re
    for table in ("Model", "OperatorCode", "SubGraph", "Tensor", "QuantizationParameters", "Operator", "Buffer",
                  "Conv2DOptions", "DepthwiseConv2DOptions", "Pool2DOptions", "FullyConnectedOptions",
                  "SoftmaxOptions", "ConcatenationOptions", "AddOptions", "ReshapeOptions"):
        ours = getattr(S, table)
        start = inspect.getsource(getattr(fb, f"{table}Start"))
        assert f"StartObject({ours.SLOTS})" in start, table
        for field in (k for k in vars(ours) if k.isupper() and k != "SLOTS"):
            camel = "".join(p.capitalize() for p in field.lower().split("_"))
            src = inspect.getsource(getattr(fb, f"{table}Add{camel}"))
            assert re.search(rf"Slot\({getattr(ours, field)},", src), f"{table}.{field}"


# -- refusals: one clear error, naming the layer --------------------------------------------

def test_refuses_a_graph_of_another_scheme():
    g = hand_made_conv()
    g.meta["quantization"] = {"scheme": "q7"}
    with pytest.raises(NnbuildError, match="scheme 'q7'.*expected a model quantized with scheme int8"):
        tflite.export(g)
    g.meta = {}
    with pytest.raises(NnbuildError, match="not quantized"):
        tflite.export(g)


def test_unknown_op_type_lists_the_exportable_ones():
    g = hand_made_conv()
    g.ops[1].type = "lrn"
    with pytest.raises(NnbuildError, match=r"layer 'c' \(lrn\).*one of .*avg_pool.*conv2d.*tanh"):
        tflite.export(g)


def test_requantization_the_file_cannot_reproduce_is_refused():
    g = hand_made_conv()
    g.ops[1].params["out_mult"] = g.ops[1].params["out_mult"] + 1
    with pytest.raises(NnbuildError, match=r"layer 'c' \(conv2d\): out_mult .* not what TFLite derives"):
        tflite.export(g)


def test_clamp_that_is_no_fused_activation_is_refused():
    with pytest.raises(NnbuildError, match=r"layer 'c'.*clamp \[-4, 127\] is no fused activation"):
        tflite.export(hand_made_conv(act_min=-4))
    tflm_equals_golden(hand_made_conv(act_min=-5))              # RELU: the clamp at the zero point


def test_weight_depth_that_is_not_in_c_over_group_is_refused():
    g = hand_made_conv()
    g.ops[1].params["weight"] = g.ops[1].params["weight"][..., :1]      # TFLM would read it as 2 groups
    with pytest.raises(NnbuildError, match=r"layer 'c'.*weight \[4, 3, 3, 1\] with group 1 on 2 input channels"):
        tflite.export(g)


def test_two_convs_padding_one_input_get_their_own_pad():
    n = Net((7, 7, 2), 4)
    a, b = n.conv(n.x, 3, 3, p=2), n.conv(n.x, 3, 5, p=3, act="none")     # 9x9: neither is SAME
    q = n.quantized(n.add("concat", [n.pool("max_pool", a, 3, 3), n.pool("max_pool", b, 3, 3)], {}))
    tflm_equals_golden(q)
    assert op_codes(q).count(B.PAD) == 2


@pytest.mark.parametrize("name, code", [("RELU", S.ActivationFunctionType.RELU),
                                        ("RELU6", S.ActivationFunctionType.RELU6),
                                        ("RELU_N1_TO_1", S.ActivationFunctionType.RELU_N1_TO_1)])
def test_clamps_map_to_the_fused_activation_tflm_derives(name, code):
    lo, hi = tflite.activation_range(name, np.float32(0.1), -5)
    assert (name, lo, hi) in {("RELU", -5, 127), ("RELU6", -5, 55), ("RELU_N1_TO_1", -15, 5)}
    g = hand_made_conv(act_min=lo)
    g.ops[1].attrs["act_max"] = hi
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(tflite.export(g), 0))
    assert model.subgraphs[0].operators[0].builtinOptions.fusedActivationFunction == code
    tflm_equals_golden(g)


@pytest.mark.parametrize("k, s, p, size", [(3, 1, 1, 6), (3, 2, 1, 7), (2, 2, 1, 6), (3, 2, 1, 8)])
def test_avg_pool_counting_padding_is_pad_then_pool(k, s, p, size):
    """Caffe's divisor counts padding cells: PAD (zero point = real 0) + pooling the padded tensor."""
    n = Net((size, size, 2), k + s)
    q = n.quantized(n.pool("avg_pool", n.conv(n.x, 3, 1, act="none"), k, s, p=p))
    tflm_equals_golden(q)
    assert op_codes(q) == [B.CONV_2D, B.PAD, B.AVERAGE_POOL_2D]


def test_avg_pool_counting_padding_with_a_clipped_last_window_is_refused():
    n = Net((9, 9, 2), 0)     # padded 13: Caffe's windows [0,5) [3,8) [6,11) [9,13): VALID has 3, SAME 5
    q = n.quantized(n.pool("avg_pool", n.conv(n.x, 3, 1), 5, 3, p=2))
    with pytest.raises(NnbuildError, match=r"layer 'avg_pool2' \(avg_pool\).*divisor counting padding"):
        tflite.export(q)


@pytest.mark.parametrize("seed", range(8))
def test_avg_pool_exclude_pad_is_same_pool_and_equals_golden_in_tflm(seed):
    """exclude_pad is AVERAGE_POOL_2D SAME without a PAD (TFLM: filter_count = the input cells,
    TFLM's rounding): every output byte equal to the golden model on random geometries."""
    q = net_same_avg(seed)
    data = tflm_equals_golden(q, seed=seed)
    assert op_codes(q) == [B.CONV_2D, B.AVERAGE_POOL_2D, B.AVERAGE_POOL_2D]
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(data, 0))
    assert [o.builtinOptions.padding for o in model.subgraphs[0].operators[1:]] == [S.Padding.SAME] * 2


def test_exclude_pad_survives_the_graph_files_and_is_validated(tmp_path):
    """graph.json keeps exclude_pad (the golden of the reloaded graph is the same); anything but
    a bool is refused naming the op."""
    q = net_same_avg(5)
    q.save(tmp_path / "g.json", tmp_path / "g.npz")
    back = ir.load_graph(tmp_path / "g.json", tmp_path / "g.npz")
    assert [op.attrs.get("exclude_pad") for op in back.ops if op.type == "avg_pool"] == [True, True]
    px = np.random.default_rng(5).integers(0, 256, (6,) + q.tensors[q.input].shape, dtype=np.uint8)
    assert np.array_equal(golden.run(back, px), golden.run(q, px))
    n = Net((6, 6, 2), 0)
    n.add("avg_pool", [n.x], dict(kernel=3, stride=1, pad=1, exclude_pad=True))
    n.g.ops[-1].attrs["exclude_pad"] = "yes"
    n.g.outputs = [n.g.ops[-1].outputs[0]]
    with pytest.raises(NnbuildError, match=r"op 'avg_pool1' \(avg_pool\): exclude_pad 'yes'.*true or false"):
        n.g.validate()


def test_avg_pool_exclude_pad_that_same_cannot_express_is_refused():
    n = Net((6, 6, 2), 0)     # k2 s1 pad 1: Caffe 7 windows, SAME 6 (its padding is all at the end)
    q = n.quantized(n.add("avg_pool", [n.conv(n.x, 3, 1)], dict(kernel=2, stride=1, pad=1, exclude_pad=True)))
    with pytest.raises(NnbuildError, match=r"layer 'avg_pool2' \(avg_pool\).*divisor excluding padding.*neither"):
        tflite.export(q)


@pytest.mark.parametrize("k, s, p, size", [(3, 2, 1, 8), (2, 2, 1, 4), (3, 3, 0, 7)])
def test_max_pool_windows_neither_same_nor_valid_are_padv2_min_then_valid(k, s, p, size):
    """Caffe's ceil-mode windows that SAME/VALID miss (ResNet's 3x3/2 pad 1 on even sizes): PADV2
    with -128 (never above a real maximum) before and after, then VALID windows at o * s - p."""
    n = Net((size, size, 2), k * s + p)
    q = n.quantized(n.pool("max_pool", n.conv(n.x, 3, 1, act="none"), k, s, p=p))
    tflm_equals_golden(q)
    assert op_codes(q) == [B.CONV_2D, B.PADV2, B.MAX_POOL_2D]


@pytest.mark.parametrize("seed", range(4))
def test_floor_pools_are_valid_and_equal_golden_in_tflm(seed, tmp_path):
    """Floor-mode (ceil_mode false) 3x3/2 max and average pools without padding on random even
    sizes, where Caffe's ceil mode has one window more: written as plain VALID pools, TFLM ==
    golden, and imported back they are floor pools again."""
    from nnbuild.frontends.tflite import load_tflite

    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in 2 * rng.integers(4, 10, 2))
    n = Net((h, w, 3), seed)
    c = n.conv(n.x, 4, 1, act="none")
    mp = n.add("max_pool", [c], dict(kernel=3, stride=2, pad=0, ceil_mode=False))
    assert n.g.tensors[mp].shape[:2] == ((h - 3) // 2 + 1, (w - 3) // 2 + 1) != \
        (ir.pool_output_size(h, 3, 2, 0), ir.pool_output_size(w, 3, 2, 0))
    out = n.add("avg_pool", [n.conv(mp, 4, 1, act="none")], dict(kernel=3, stride=2, pad=0, ceil_mode=False))
    q = n.quantized(out)
    data = tflm_equals_golden(q)
    assert op_codes(q) == [B.CONV_2D, B.MAX_POOL_2D, B.CONV_2D, B.AVERAGE_POOL_2D]
    (tmp_path / "m.tflite").write_bytes(data)
    back, _ = load_tflite(tmp_path / "m.tflite", mean=(120,), scale=1 / 64)
    pools = [op for op in back.ops if op.type in ("max_pool", "avg_pool")]
    floor = [any(ir.pool_output_size(m, 3, 2, 0) != ir.pool_output_size(m, 3, 2, 0, False)
                 for m in back.tensors[op.inputs[0]].shape[:2]) for op in pools]
    assert floor[0] and [op.attrs.get("ceil_mode") for op in pools] == [False if f else None for f in floor]


def test_ceil_mode_survives_graph_json_and_bad_values_are_refused(tmp_path):
    """ceil_mode false survives graph.json/npz (same golden); a non-bool ceil_mode, and a floor
    pool whose window does not fit the padded input (no output), are refused naming the op."""
    n = Net((8, 8, 2), 0)
    q = n.quantized(n.add("max_pool", [n.conv(n.x, 3, 1)], dict(kernel=3, stride=2, pad=1, ceil_mode=False)))
    assert q.tensors[q.outputs[0]].shape[:2] == (4, 4)           # Caffe's ceil mode: 5x5
    q.save(tmp_path / "g.json", tmp_path / "g.npz")
    back = ir.load_graph(tmp_path / "g.json", tmp_path / "g.npz")
    assert back.ops[-1].attrs["ceil_mode"] is False
    px = np.random.default_rng(5).integers(0, 256, (6, 8, 8, 2), dtype=np.uint8)
    assert np.array_equal(golden.run(back, px), golden.run(q, px))
    n = Net((6, 6, 2), 0)
    with pytest.raises(NnbuildError, match=r"op 'max_pool1' \(max_pool\): ceil_mode 0.*true or false"):
        n.add("max_pool", [n.x], dict(kernel=3, stride=1, pad=1, ceil_mode=0))
    with pytest.raises(NnbuildError, match=r"op 'avg_pool1' \(avg_pool\): floor-mode pooling window 7x3 on a 6x6"):
        n.add("avg_pool", [n.x], dict(kernel=(7, 3), stride=1, pad=0, ceil_mode=False))


def test_floor_pool_net_equals_golden_in_tflm():
    q = net_floor_pools(0)
    assert [q.tensors[op.outputs[0]].shape[:2] for op in q.ops if "pool" in op.type] == [(8, 8), (3, 3)]
    tflm_equals_golden(q)
    assert op_codes(q) == [B.CONV_2D, B.PADV2, B.MAX_POOL_2D, B.CONV_2D, B.AVERAGE_POOL_2D, B.FULLY_CONNECTED]


def test_floor_pool_windows_tflite_cannot_express_are_refused():
    n = Net((8, 8, 2), 0)     # k2 s3 pad 1 floor: windows at -1, 2, 5; VALID after a PAD would need -1 cells after
    q = n.quantized(n.add("max_pool", [n.conv(n.x, 3, 1)], dict(kernel=2, stride=3, pad=1, ceil_mode=False)))
    with pytest.raises(NnbuildError, match=r"layer 'max_pool2' \(max_pool\): floor-mode pooling windows.*neither"):
        tflite.export(q)


def test_avg_pool_ceil_windows_tflite_cannot_express_are_refused():
    n = Net((7, 7, 2), 0)     # Caffe [0,3) [3,6) [6,7): VALID has 2 windows, SAME starts at -1
    q = n.quantized(n.pool("avg_pool", n.conv(n.x, 3, 1), 3, 3))
    with pytest.raises(NnbuildError, match=r"layer 'avg_pool2' \(avg_pool\): Caffe's pooling windows.*neither"):
        tflite.export(q)


def test_registry_finds_tflite_and_names_known_formats():
    assert FORMATS == ("cmake", "tflite") and EXPORTERS["tflite"] is tflite
    with pytest.raises(NnbuildError, match="unknown export format 'onnx'.*expected one of cmake, tflite"):
        exporter("onnx")


# -- the command line -----------------------------------------------------------------------

def nnbuild(*args):
    return subprocess.run([sys.executable, "-m", "nnbuild.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT / "site_scons"), "PATH": __import__("os").environ["PATH"]})


def int8_sample_manifest(tmp_path):
    text = (ROOT / "models.yaml").read_text().replace("scheme: q7", "scheme: int8")
    text = text.replace("models/sample/", str(ROOT / "models" / "sample") + "/")
    path = tmp_path / "int8.yaml"
    path.write_text(text)
    return path


def test_cli_export_writes_a_model_tflm_runs_like_golden(tmp_path):
    out = tmp_path / "sample.tflite"
    r = nnbuild("export", "--manifest", int8_sample_manifest(tmp_path), "--model", "sample_digits", "--format",
                "tflite", "-o", out, "--build-dir", tmp_path / "build")
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout and out.stat().st_size > 8000
    inp, outd = details(out.read_bytes())
    assert list(inp["shape"]) == [1, 28, 28, 1] and list(outd["shape"]) == [1, 10]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8.yaml", "sample.tflite"]   # no temp left


def test_cli_export_refuses_a_q7_manifest_and_leaves_the_old_file(tmp_path):
    out = tmp_path / "old.tflite"
    out.write_bytes(b"previous")
    r = nnbuild("export", "--model", "sample_digits", "--format", "tflite", "-o", out)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "quantization scheme 'q7'" in r.stderr and "expected scheme: int8" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"previous" and len(list(tmp_path.iterdir())) == 1
    r = nnbuild("export", "--model", "sample_digits", "--format", "onnx", "-o", out)
    assert r.returncode == 1 and "unknown export format 'onnx'" in r.stderr


def test_cli_export_to_a_directory_is_one_error_and_leaves_no_temp(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    r = nnbuild("export", "--manifest", int8_sample_manifest(tmp_path), "--model", "sample_digits", "--format",
                "tflite", "-o", target, "--build-dir", tmp_path / "build")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "cannot write the exported model" in r.stderr and str(target) in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "int8.yaml"] and not list(target.iterdir())


# -- the real model -------------------------------------------------------------------------

@needs_shared
def test_cifar10_m4_all_test_images_tflm_equals_golden(cifar_graph):
    from nnbuild.calibration import load_eval_data, load_images

    calib = load_images(CIFAR_CALIB, (32, 32, 3), samples=500, channel_order="RGB")
    q = quantize(cifar_graph, calib, "int8")
    data = tflite.export(q)
    images, _ = load_eval_data(CIFAR_TEST, cifar_graph)
    assert len(images) == 932
    first = q.ops[0].outputs[0]
    r = golden.run(q, images, outputs=[first, q.outputs[0]])
    got = run_tflm(data, r[first]).reshape(len(images), -1)
    assert np.array_equal(got, r[q.outputs[0]].reshape(len(images), -1))
