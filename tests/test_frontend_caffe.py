"""Caffe frontend: prototxt + trained blobs -> IR, checked against explicit Caffe math."""
import textwrap

import h5py
import numpy as np
import pytest
from conftest import CIFAR_H5, CIFAR_MEAN, CIFAR_PROTOTXT, CIFAR_QUANT_CAFFEMODEL, CIFAR_TEST, needs_shared

from nnbuild import passes
from nnbuild.errors import NnbuildError
from nnbuild.frontends import load_model
from nnbuild.frontends.caffe import proto as caffe_proto
from nnbuild.frontends.caffe import load_caffe, load_mean
from nnbuild.manifest import load_manifest

RNG = np.random.default_rng(1234)


# -- helpers: write what Caffe writes --------------------------------------------------------------

def write_h5(path, blobs):
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        for layer, arrays in blobs.items():
            g = data.create_group(layer)
            for i, a in enumerate(arrays):
                g.create_dataset(str(i), data=np.asarray(a, np.float32))


def fill_blob(blob, arr, legacy=False):
    arr = np.asarray(arr, np.float32)
    if legacy:
        dims = (1,) * (4 - arr.ndim) + arr.shape
        blob.num, blob.channels, blob.height, blob.width = dims
    else:
        blob.shape.dim.extend(arr.shape)
    blob.data.extend(arr.ravel().tolist())


def write_caffemodel(path, blobs, legacy=False):
    net = caffe_proto.NetParameter(name="t")
    for layer, arrays in blobs.items():
        lp = net.layers.add(name=layer) if legacy else net.layer.add(name=layer)
        for a in arrays:
            fill_blob(lp.blobs.add(), a, legacy)
    with open(path, "wb") as f:
        f.write(net.SerializeToString())


def model(tmp_path, prototxt, blobs, fmt="h5", **kw):
    proto = tmp_path / "net.prototxt"
    proto.write_text(textwrap.dedent(prototxt))
    weights = tmp_path / ("w.caffemodel.h5" if fmt == "h5" else "w.caffemodel")
    if fmt == "h5":
        write_h5(weights, blobs)
    else:
        write_caffemodel(weights, blobs, legacy=(fmt == "legacy"))
    return passes.run(load_caffe(proto, weights, **kw)), proto, weights   # as the pipeline imports


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


INPUT_8x8x3 = """
name: "t"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
"""


def conv(name, bottom, top, extra):
    return f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top}" ' \
           f'convolution_param {{ {extra} }} }}\n'


def shapes(g):
    return {name: t.shape for name, t in g.tensors.items()}


def caffe_conv_nchw(x_chw, w_oihw, b, pad, stride, dilation=(1, 1), group=1):
    """Direct Caffe convolution of one CHW sample (the definition, not the IR)."""
    c, h, w = x_chw.shape
    o, ig, kh, kw = w_oihw.shape
    xp = np.pad(x_chw, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh = (h + 2 * pad[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * pad[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((o, oh, ow))
    og = o // group
    for oc in range(o):
        g0 = (oc // og) * ig
        for y in range(oh):
            for x in range(ow):
                ys, xs = y * stride[0], x * stride[1]
                patch = xp[g0:g0 + ig, ys:ys + dilation[0] * (kh - 1) + 1:dilation[0],
                           xs:xs + dilation[1] * (kw - 1) + 1:dilation[1]]
                out[oc, y, x] = np.sum(patch * w_oihw[oc]) + b[oc]
    return out


def ir_conv_hwc(x_hwc, op):
    """Convolution using the IR's layouts (HWC activations, (O,KH,KW,I/g) weights)."""
    x = x_hwc.transpose(2, 0, 1)
    w = op.params["weight"].transpose(0, 3, 1, 2)
    return caffe_conv_nchw(x, w, op.params["bias"], op.attrs["pad"], op.attrs["stride"],
                           op.attrs["dilation"], op.attrs["group"]).transpose(1, 2, 0)


# -- the real CIFAR-10 model -------------------------------------------------------------------------

def load_cifar(weights=CIFAR_H5):
    return load_caffe(CIFAR_PROTOTXT, weights, input_shape=(32, 32, 3), mean=CIFAR_MEAN)


@needs_shared
def test_cifar_graph_shapes():
    g = load_cifar()
    sh = shapes(g)
    assert g.input == "pixels" and sh["pixels"] == (32, 32, 3) and g.tensors["pixels"].dtype == "uint8"
    assert sh["conv1"] == (32, 32, 32)
    assert sh["pool1"] == (16, 16, 32)
    assert sh["conv2"] == (16, 16, 16)
    assert sh["pool2"] == (8, 8, 16)
    assert sh["conv3"] == (8, 8, 32)
    assert sh["pool3"] == (4, 4, 32)
    assert sh["ip1"] == (1, 1, 10)
    assert [o.type for o in g.ops] == ["input_stage", "conv2d", "max_pool", "relu", "conv2d", "relu",
                                       "avg_pool", "conv2d", "relu", "avg_pool", "fully_connected"]
    assert g.outputs == ["ip1"]
    assert g.meta == {"channel_order": "RGB"}
    # the mean is RGB CHW 1x3x32x32 on disk: per-channel averages of the CIFAR-10 training set
    mean = g.op("input_stage").params["mean"]
    assert mean.shape == (32, 32, 3)
    np.testing.assert_allclose(mean.mean(axis=(0, 1)), [125.307, 122.938, 113.865], atol=1e-2)
    # conv1 weights: OIHW on disk -> (O, KH, KW, I)
    with h5py.File(CIFAR_H5) as f:
        w = f["data/conv1/0"][()]
    np.testing.assert_array_equal(g.op("conv1").params["weight"], w.transpose(0, 2, 3, 1))


@needs_shared
def test_cifar_float_accuracy():
    reference = pytest.importorskip("nnbuild.reference", reason="nnbuild.reference (float executor) not written yet")
    g = load_cifar()
    d = np.load(CIFAR_TEST)
    out = reference.run(g, d["images"])
    pred = out.reshape(len(out), -1).argmax(axis=1)
    correct = int((pred == d["labels"]).sum())
    assert (correct, len(pred)) == (743, 932)  # 79.72 %


@needs_shared
def test_quantized_caffemodel_weights_lie_on_power_of_two_grids():
    g = load_cifar(CIFAR_QUANT_CAFFEMODEL)
    checked = 0
    for op in g.ops:
        for name, w in op.params.items():
            if op.type == "input_stage":
                continue
            w = w.astype(np.float64)
            amax = np.abs(w).max()
            # the finest grid on which the largest weight still fits in 8 bits
            f = int(np.floor(np.log2(128 / amax)))
            q = w * 2.0 ** f
            assert np.all(q == np.round(q)), f"{op.name}/{name} not on the 2^-{f} grid"
            assert np.abs(q).max() <= 128
            checked += 1
    assert checked == 8


@needs_shared
def test_cifar_loading_is_deterministic(tmp_path):
    load_cifar().save(tmp_path / "a.json", tmp_path / "a.npz")
    load_cifar().save(tmp_path / "b.json", tmp_path / "b.npz")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


@needs_shared
def test_load_model_from_manifest(tmp_path):
    (tmp_path / "labels.txt").write_text("\n".join("abcdefghij") + "\n")
    man = tmp_path / "models.yaml"
    man.write_text(textwrap.dedent(f"""\
        version: 1
        models:
          - name: cifar
            prototxt: {CIFAR_PROTOTXT}
            weights: {CIFAR_H5}
            input: {{shape: [32, 32, 3], mean_file: {CIFAR_MEAN}}}
            labels: labels.txt
        """))
    g = load_model(load_manifest(man).model("cifar"))
    assert g.name == "cifar" and g.meta["labels"] == list("abcdefghij")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    with pytest.raises(NnbuildError, match=r"labels\.txt, line 7, models\[0\]\.labels: 2 labels for a model with 10"):
        load_model(load_manifest(man).model("cifar"))


# -- layer by layer on small synthetic nets ------------------------------------------------------------

def test_convolution_layout_and_shape_attributes(tmp_path):
    proto = INPUT_8x8x3 + conv("c", "data", "c",
                               "num_output: 4 kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0")
    w, b = rand(4, 3, 3, 2), rand(4)
    g, _, _ = model(tmp_path, proto, {"c": [w, b]})
    op = g.op("c")
    assert op.attrs == {"kernel": (3, 2), "stride": (2, 1), "pad": (1, 0), "dilation": (1, 1), "group": 1}
    assert g.tensors["c"].shape == (4, 7, 4)
    np.testing.assert_array_equal(op.params["weight"], w.transpose(0, 2, 3, 1))
    x = rand(3, 8, 8)
    np.testing.assert_allclose(ir_conv_hwc(x.transpose(1, 2, 0), op),
                               caffe_conv_nchw(x, w, b, (1, 0), (2, 1)).transpose(1, 2, 0), rtol=1e-6, atol=1e-5)


def test_depthwise_group_and_dilation(tmp_path):
    proto = INPUT_8x8x3 + conv("dw", "data", "dw", "num_output: 6 kernel_size: 3 group: 3 dilation: 2 pad: 2") + \
        conv("nb", "dw", "nb", "num_output: 2 kernel_size: 1 kernel_size: 3 bias_term: false")
    w, b, w2 = rand(6, 1, 3, 3), rand(6), rand(2, 6, 1, 3)
    g, _, _ = model(tmp_path, proto, {"dw": [w, b], "nb": [w2]})
    op = g.op("dw")
    assert op.attrs["group"] == 3 and op.attrs["dilation"] == (2, 2) and op.attrs["pad"] == (2, 2)
    assert op.params["weight"].shape == (6, 3, 3, 1)
    assert g.tensors["dw"].shape == (8, 8, 6)
    x = rand(3, 8, 8)
    np.testing.assert_allclose(ir_conv_hwc(x.transpose(1, 2, 0), op),
                               caffe_conv_nchw(x, w, b, (2, 2), (1, 1), (2, 2), 3).transpose(1, 2, 0),
                               rtol=1e-6, atol=1e-5)
    nb = g.op("nb")
    assert nb.attrs["kernel"] == (1, 3) and g.tensors["nb"].shape == (8, 6, 2)
    np.testing.assert_array_equal(nb.params["bias"], np.zeros(2, np.float32))


def test_inner_product_after_conv_reorders_columns_to_hwc(tmp_path):
    proto = INPUT_8x8x3 + conv("c", "data", "c", "num_output: 4 kernel_size: 3 stride: 2") + """
    layer { name: "ip" type: "InnerProduct" bottom: "c" top: "ip" inner_product_param { num_output: 5 } }
    layer { name: "ip2" type: "InnerProduct" bottom: "ip" top: "ip2"
            inner_product_param { num_output: 3 transpose: true } }
    """
    wc, bc = rand(4, 3, 3, 3), rand(4)
    w, b = rand(5, 4 * 3 * 3), rand(5)
    w2, b2 = rand(5, 3), rand(3)
    g, _, _ = model(tmp_path, proto, {"c": [wc, bc], "ip": [w, b], "ip2": [w2, b2]})
    assert g.tensors["c"].shape == (3, 3, 4) and g.tensors["ip"].shape == (1, 1, 5)
    x_chw = rand(4, 3, 3)
    caffe = w @ x_chw.ravel() + b                       # Caffe flattens C, H, W
    ir_out = g.op("ip").params["weight"] @ x_chw.transpose(1, 2, 0).ravel() + g.op("ip").params["bias"]
    np.testing.assert_allclose(ir_out, caffe, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(g.op("ip2").params["weight"], w2.T)


def test_batchnorm_and_scale_fold_into_the_layer_before(tmp_path):
    proto = INPUT_8x8x3 + conv("c", "data", "c", "num_output: 4 kernel_size: 3 stride: 2") + """
    layer { name: "bn" type: "BatchNorm" bottom: "c" top: "c" batch_norm_param { eps: 0.001 } }
    layer { name: "sc" type: "Scale" bottom: "c" top: "c" scale_param { bias_term: true } }
    layer { name: "r" type: "ReLU" bottom: "c" top: "c" }
    layer { name: "ip" type: "InnerProduct" bottom: "c" top: "ip" inner_product_param { num_output: 3 } }
    layer { name: "bn2" type: "BatchNorm" bottom: "ip" top: "bn2" }
    """
    wc, bc = rand(4, 3, 3, 3), rand(4)
    mean, var, factor = rand(4) * 10, np.abs(rand(4)) * 10 + 1, np.float32(5.0)
    gamma, beta = rand(4), rand(4)
    wi, bi = rand(3, 36), rand(3)
    m2, v2 = rand(3), np.abs(rand(3)) + 0.5
    g, _, _ = model(tmp_path, proto, {"c": [wc, bc], "bn": [mean, var, [factor]], "sc": [gamma, beta],
                                      "ip": [wi, bi], "bn2": [m2, v2, [1.0]]})
    assert [(o.name, o.type) for o in g.ops] == [("input_stage", "input_stage"), ("c+r", "conv2d"),
                                                 ("ip", "fully_connected")]
    g.op("c+r").attrs["activation"] = "none"   # compare the folded conv before its fused ReLU
    x = rand(3, 8, 8)
    # unfolded Caffe math: conv, then BatchNorm (stats divided by the factor), then Scale
    y = caffe_conv_nchw(x, wc, bc, (0, 0), (2, 2)).transpose(1, 2, 0)
    y = (y - mean / factor) / np.sqrt(var / factor + 0.001) * gamma + beta
    np.testing.assert_allclose(ir_conv_hwc(x.transpose(1, 2, 0), g.op("c+r")), y, rtol=1e-4, atol=1e-4)
    xi = rand(36)
    yi = (wi @ xi + bi - m2) / np.sqrt(v2 + 1e-5)   # eps defaults to 1e-5
    op = g.op("ip")
    perm = np.arange(36).reshape(4, 3, 3).transpose(1, 2, 0).ravel()  # HWC position -> CHW index
    np.testing.assert_allclose(op.params["weight"] @ xi[perm] + op.params["bias"], yi, rtol=1e-4, atol=1e-4)
    assert g.outputs == ["bn2"]     # the folded layer writes what the last layer wrote


def test_in_place_layers_get_unique_tensor_names(tmp_path):
    proto = INPUT_8x8x3 + conv("c", "data", "x", "num_output: 2 kernel_size: 1") + """
    layer { name: "r1" type: "ReLU" bottom: "x" top: "x" relu_param { negative_slope: 0.125 } }
    layer { name: "d" type: "Dropout" bottom: "x" top: "x" }
    layer { name: "s" type: "Sigmoid" bottom: "x" top: "x" }
    layer { name: "t" type: "TanH" bottom: "x" top: "x" }
    """
    g, _, _ = model(tmp_path, proto, {"c": [rand(2, 3, 1, 1), rand(2)]})
    chain = [(o.name, o.type, o.inputs, o.outputs) for o in g.ops[1:]]
    assert chain == [("c", "conv2d", ["data"], ["x"]), ("r1", "relu", ["x"], ["r1"]),
                     ("s", "sigmoid", ["r1"], ["s"]), ("t", "tanh", ["s"], ["t"])]
    assert g.op("r1").attrs == {"negative_slope": 0.125}
    assert g.outputs == ["t"]


def test_branching_graph_with_eltwise_and_concat(tmp_path):
    proto = INPUT_8x8x3 + conv("a", "data", "a", "num_output: 4 kernel_size: 1") + \
        conv("b", "data", "b", "num_output: 4 kernel_size: 3 pad: 1") + """
    layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "sum" eltwise_param { operation: SUM coeff: 1 coeff: 1 } }
    layer { name: "cat" type: "Concat" bottom: "a" bottom: "sum" bottom: "data" top: "cat" }
    layer { name: "gp" type: "Pooling" bottom: "cat" top: "gp" pooling_param { pool: AVE global_pooling: true } }
    layer { name: "prob" type: "Softmax" bottom: "gp" top: "prob" }
    """
    g, _, _ = model(tmp_path, proto, {"a": [rand(4, 3, 1, 1), rand(4)], "b": [rand(4, 3, 3, 3), rand(4)]})
    assert g.op("sum").type == "add" and g.op("sum").inputs == ["a", "b"]
    assert g.op("cat").type == "concat" and g.op("cat").inputs == ["a", "sum", "data"]
    assert g.tensors["cat"].shape == (8, 8, 11)
    assert g.op("gp").attrs == {"kernel": (8, 8), "stride": (1, 1), "pad": (0, 0)}
    assert g.tensors["gp"].shape == (1, 1, 11)
    # the trailing softmax is not executed by the model: the output is the logits
    assert g.outputs == ["gp"] and g.meta["output_softmax"] is True and "prob" not in g.tensors
    g.validate()


def test_softmax_inside_the_net_stays_an_op(tmp_path):
    proto = INPUT_8x8x3 + """
    layer { name: "sm" type: "Softmax" bottom: "data" top: "sm" }
    layer { name: "p" type: "Pooling" bottom: "sm" top: "p" pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
    """
    g, _, _ = model(tmp_path, proto, {})
    assert [o.type for o in g.ops] == ["input_stage", "softmax", "max_pool"]
    assert g.meta["output_softmax"] is False
    assert g.tensors["p"].shape == (5, 5, 3)   # Caffe ceil mode: ceil((8 + 2 - 3) / 2) + 1


def test_legacy_layers_form_with_legacy_blob_dims(tmp_path):
    proto = """
    name: "old"
    input: "data"
    input_dim: 1 input_dim: 1 input_dim: 6 input_dim: 6
    layers { name: "c" type: CONVOLUTION bottom: "data" top: "c" blobs_lr: 1 convolution_param { num_output: 2 kernel_size: 3 } }
    layers { name: "p" type: POOLING bottom: "c" top: "p" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
    layers { name: "f" type: FLATTEN bottom: "p" top: "f" }
    layers { name: "ip" type: INNER_PRODUCT bottom: "f" top: "ip" inner_product_param { num_output: 3 } }
    layers { name: "loss" type: SOFTMAX_LOSS bottom: "ip" bottom: "label" top: "loss" }
    """
    wc, bc, wi, bi = rand(2, 1, 3, 3), rand(2), rand(3, 8), rand(3)
    g, _, _ = model(tmp_path, proto, {"c": [wc, bc], "ip": [wi, bi]}, fmt="legacy")
    assert g.name == "old" and g.meta["channel_order"] == "GRAY"
    assert [(o.name, o.type) for o in g.ops] == [("input_stage", "input_stage"), ("c", "conv2d"),
                                                ("p", "max_pool"), ("ip", "fully_connected")]
    assert g.op("ip").inputs == ["p"] and g.tensors["p"].shape == (2, 2, 2)
    np.testing.assert_array_equal(g.op("c").params["weight"], wc.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(g.op("ip").params["weight"],
                                  wi.reshape(3, 2, 2, 2).transpose(0, 2, 3, 1).reshape(3, 8))


def test_binary_caffemodel_and_h5_give_the_same_graph(tmp_path):
    proto = INPUT_8x8x3 + conv("c", "data", "c", "num_output: 2 kernel_size: 3")
    blobs = {"c": [rand(2, 3, 3, 3), rand(2)], "unused": [rand(3)]}
    (tmp_path / "h5").mkdir(), (tmp_path / "pb").mkdir()
    g1, _, _ = model(tmp_path / "h5", proto, blobs, fmt="h5")
    g2, _, _ = model(tmp_path / "pb", proto, blobs, fmt="binary")
    g1.save(tmp_path / "1.json", tmp_path / "1.npz")
    g2.save(tmp_path / "2.json", tmp_path / "2.npz")
    assert (tmp_path / "1.npz").read_bytes() == (tmp_path / "2.npz").read_bytes()
    assert (tmp_path / "1.json").read_bytes() == (tmp_path / "2.json").read_bytes()


def test_phase_rules_data_layer_and_unknown_fields(tmp_path):
    proto = """
    layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TRAIN }
            data_param { source: "train_lmdb" backend: LMDB } }
    layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TEST }
            transform_param { scale: 0.00390625 mean_value: 10 mean_value: 20 mean_value: 30 }
            data_param { source: "test_lmdb" batch_size: 100 } }
    layer { name: "c" type: "Convolution" bottom: "data" top: "c"
            param { lr_mult: 1 } some_fork_param { x: 1 y { z: "w" } }
            convolution_param { num_output: 2 kernel_size: 1 engine: CUDNN weight_filler { type: "xavier" } } }
    layer { name: "c_train" type: "ReLU" bottom: "c" top: "c" exclude { phase: TEST } }
    layer { name: "acc" type: "Accuracy" bottom: "c" bottom: "label" top: "acc" }
    """
    g, _, _ = model(tmp_path, proto, {"c": [rand(2, 3, 1, 1), rand(2)]}, input_shape=(4, 5, 3), channel_order="BGR")
    assert [o.name for o in g.ops] == ["input_stage", "c"]
    st = g.op("input_stage")
    assert st.attrs == {"scale": 0.00390625} and g.tensors["data"].shape == (4, 5, 3)
    np.testing.assert_array_equal(st.params["mean"][3, 4], [10, 20, 30])
    assert g.meta["channel_order"] == "BGR"


@pytest.mark.parametrize("prototxt_input", [
    'input: "data" input_shape { dim: 1 dim: 3 dim: 6 dim: 4 }',
    'layer { name: "m" type: "MemoryData" top: "data" top: "l" '
    'memory_data_param { batch_size: 1 channels: 3 height: 6 width: 4 } }',
])
def test_input_declarations_and_manifest_shape_check(tmp_path, prototxt_input):
    proto = prototxt_input + "\n" + conv("c", "data", "c", "num_output: 1 kernel_size: 1")
    g, p, w = model(tmp_path, proto, {"c": [rand(1, 3, 1, 1), rand(1)]})
    assert g.tensors["pixels"].shape == (6, 4, 3)
    assert load_caffe(p, w, input_shape=(6, 4, 3)).tensors["c"].shape == (6, 4, 1)
    with pytest.raises(NnbuildError, match=r"net\.prototxt, .*declares input \[6, 4, 3\].* manifest says \[4, 6, 3\]"):
        load_caffe(p, w, input_shape=(4, 6, 3))


def test_load_mean_binaryproto_and_values(tmp_path):
    mean_chw = rand(3, 2, 4)
    blob = caffe_proto.BlobProto()
    fill_blob(blob, mean_chw[None], legacy=True)
    (tmp_path / "mean.binaryproto").write_bytes(blob.SerializeToString())
    m = load_mean(tmp_path / "mean.binaryproto", (2, 4, 3))
    np.testing.assert_array_equal(m, mean_chw.transpose(1, 2, 0))
    np.testing.assert_array_equal(load_mean([1, 2, 3], (2, 2, 3))[1, 1], [1, 2, 3])
    np.testing.assert_array_equal(load_mean(7.5, (1, 2, 1)), [[[7.5], [7.5]]])
    with pytest.raises(NnbuildError, match=r"mean\.binaryproto: mean blob has shape \[1, 3, 2, 4\] \(expected 1x3x4x4"):
        load_mean(tmp_path / "mean.binaryproto", (4, 4, 3))
    with pytest.raises(NnbuildError, match=r"missing\.binaryproto: mean file not found"):
        load_mean(tmp_path / "missing.binaryproto", (4, 4, 3))
    with pytest.raises(NnbuildError, match=r"mean has 2 values \(expected 1 or 3"):
        load_mean([1, 2], (4, 4, 3))


# -- bad input: one clear error naming the file and the place -----------------------------------------

CONV_NET = INPUT_8x8x3 + conv("c", "data", "c", "num_output: 2 kernel_size: 3")
CONV_BLOBS = {"c": [np.ones((2, 3, 3, 3), np.float32), np.zeros(2, np.float32)]}


@pytest.mark.parametrize("text, pattern", [
    (INPUT_8x8x3 + 'layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n'
                   '  convolution_param { num_output: two } }',
     r"net\.prototxt, line 5, column \d+: malformed prototxt: .*num_output"),
    (INPUT_8x8x3 + 'layer { name: "n" type: "Deconvolution" bottom: "data" top: "n" }',
     r"net\.prototxt, line 4, layer 'n' \(Deconvolution\): unsupported layer type 'Deconvolution' \(expected one of .*Convolution.*LRN"),
    (INPUT_8x8x3 + 'layer { name: "r" type: "ReLU" bottom: "nothing" top: "r" }',
     r"line 4, layer 'r' \(ReLU\): bottom 'nothing' is never produced"),
    (INPUT_8x8x3 + 'layer { name: "e" type: "Eltwise" bottom: "data" bottom: "data" top: "e" '
                   'eltwise_param { operation: PROD } }',
     r"layer 'e' \(Eltwise\): Eltwise PROD is not supported \(expected operation: SUM\)"),
    (INPUT_8x8x3 + 'layer { name: "e" type: "Eltwise" bottom: "data" bottom: "data" top: "e" '
                   'eltwise_param { coeff: 1 coeff: -1 } }',
     r"layer 'e' \(Eltwise\): Eltwise SUM with coeff \[1\.0, -1\.0\]"),
    (INPUT_8x8x3 + 'layer { name: "k" type: "Concat" bottom: "data" bottom: "data" top: "k" '
                   'concat_param { axis: 2 } }',
     r"layer 'k' \(Concat\): concat along axis 2 \(expected the channel axis"),
    (INPUT_8x8x3 + 'layer { name: "f" type: "Flatten" bottom: "data" top: "f" }\n'
                   'layer { name: "r" type: "ReLU" bottom: "f" top: "r" }',
     r"line 5, layer 'r' \(ReLU\): bottom 'f' comes from Flatten/Reshape layer 'f'"),
    (INPUT_8x8x3 + 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
                   'pooling_param { pool: MAX kernel_size: 1 stride: 3 } }',
     r"layer 'p' \(Pooling\): with kernel \(1, 1\), stride \(3, 3\).*last pooling window lies entirely outside"),
    ('layer { name: "d" type: "Data" top: "data" data_param { source: "x" } }\n'
     + conv("c", "data", "c", "num_output: 2 kernel_size: 3"),
     r"net\.prototxt, line 1, layer 'd' \(Data\): the prototxt does not give the input shape .*"
     r"expected input\.shape \[H, W, C\] in the manifest"),
    ('layer { name: "d" type: "Data" top: "data" transform_param { mean_file: "/home/x/mean.binaryproto" } }\n'
     + conv("c", "data", "c", "num_output: 2 kernel_size: 3"),
     r"layer 'd' \(Data\): the data layer subtracts the mean file '/home/x/mean\.binaryproto', but no mean"),
])
def test_bad_prototxt(tmp_path, text, pattern):
    kw = {"input_shape": (8, 8, 3)} if "Data" in text else {}
    if "does not give" in pattern:
        kw = {}
    with pytest.raises(NnbuildError, match=pattern):
        model(tmp_path, text, CONV_BLOBS, **kw)


def test_bad_weights(tmp_path):
    with pytest.raises(NnbuildError, match=r"w\.caffemodel\.h5, layer 'c' \(prototxt line 4, layer 'c' "
                                           r"\(Convolution\)\): no trained blobs for layer 'c'"):
        model(tmp_path, CONV_NET, {"other": [np.ones(2)]})
    with pytest.raises(NnbuildError, match=r"w\.caffemodel\.h5, layer 'c': blob 0 has shape \[2, 3, 5, 5\] "
                                           r"but the prototxt implies \[2, 3, 3, 3\]"):
        model(tmp_path, CONV_NET, {"c": [np.ones((2, 3, 5, 5)), np.zeros(2)]})
    bad = np.ones((2, 3, 3, 3), np.float32)
    bad[1, 2, 0, 0] = np.nan
    with pytest.raises(NnbuildError, match=r"w\.caffemodel, layer 'c': blob 0 contains NaN or Inf"):
        model(tmp_path, CONV_NET, {"c": [bad, np.zeros(2)]}, fmt="binary")
    with pytest.raises(NnbuildError, match=r"layer 'c': blob 1 has shape \[1, 1, 1, 3\] but the prototxt implies \[2\]"):
        model(tmp_path, CONV_NET, {"c": [np.ones((2, 3, 3, 3)), np.zeros(3)]}, fmt="legacy")


def test_corrupt_and_missing_files(tmp_path):
    g, proto, h5 = model(tmp_path, CONV_NET, CONV_BLOBS)
    data = h5.read_bytes()
    cut = tmp_path / "cut.caffemodel.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(NnbuildError, match=r"cut\.caffemodel\.h5: corrupt or truncated HDF5 weights file"):
        load_caffe(proto, cut)
    write_caffemodel(tmp_path / "w.caffemodel", CONV_BLOBS)
    pb = (tmp_path / "w.caffemodel").read_bytes()
    (tmp_path / "cut.caffemodel").write_bytes(pb[:-7])
    with pytest.raises(NnbuildError, match=r"cut\.caffemodel.*(corrupt or truncated caffemodel|blob has \d+ values)"):
        load_caffe(proto, tmp_path / "cut.caffemodel")
    (tmp_path / "junk.caffemodel").write_bytes(b"\xff" * 64)
    with pytest.raises(NnbuildError, match=r"junk\.caffemodel: corrupt or truncated caffemodel"):
        load_caffe(proto, tmp_path / "junk.caffemodel")
    with pytest.raises(NnbuildError, match=r"nope\.caffemodel: weights file not found"):
        load_caffe(proto, tmp_path / "nope.caffemodel")
    with pytest.raises(NnbuildError, match=r"nope\.prototxt: Caffe prototxt not found"):
        load_caffe(tmp_path / "nope.prototxt", h5)
    with pytest.raises(NnbuildError, match=r"nope\.binaryproto: mean file not found"):
        load_caffe(proto, h5, mean=tmp_path / "nope.binaryproto")
