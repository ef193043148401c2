"""The TFLite frontend (format: tflite): fully int8 models written by nnbuild's own .tflite writer
re-import as the same int8 graph (golden == TFLite Micro on every output byte, host C and QEMU ==
golden); float models agree with TFLM's float kernels and go through nnbuild's quantizers; the
real cifar10_m4 goes Caffe -> int8 -> .tflite -> import on all 932 images; every bad file gives
one clear error and leaves no output."""
import flatbuffers
import numpy as np
import pytest

from conftest import (CIFAR_MEAN, CIFAR_TEST, ROOT, assert_cli_import_refuses, needs_arm, needs_qemu,
                      needs_shared)
from test_export_tflite import Net, hand_made_conv, net_convs, net_elementwise, net_floor_pools, net_ranks, net_same_avg
from tflm_oracle import run_tflm

from nnbuild import golden, reference
from nnbuild.errors import NnbuildError
from nnbuild.exporters import tflite
from nnbuild.exporters import tflite_schema as S
from nnbuild.frontends.tflite import load_tflite
from nnbuild.quantize.int8.imported import from_record


def load_int8(path, **kw):
    """The int8 graph of a fully int8 .tflite, as the quantize step makes it from the import's record."""
    g, quantized = load_tflite(path, **kw)
    assert quantized and g.meta["quantization"]["record"]
    return from_record(g)

B, T = S.BuiltinOperator, S.TensorType
MEAN, SCALE = 120.0, 1 / 64          # the test nets' input stage (test_export_tflite.Net)


def _pixels(shape, n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n,) + tuple(shape), dtype=np.uint8)


def _write(tmp_path, data, name="m.tflite"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def reimport(tmp_path, q):
    return load_int8(_write(tmp_path, tflite.export(q)), mean=(MEAN,), scale=SCALE, name=q.name)


def assert_same_graph(a, b, source="tflite"):
    """Equal int8 graphs up to names: the same ops (types, attrs, params) on the same tensors
    (shapes, dtypes, quantization records), in the same order."""
    rename = {a.input: b.input}
    assert len(a.ops) == len(b.ops)
    for x, y in zip(a.ops, b.ops):
        rename[x.outputs[0]] = y.outputs[0]
        assert (x.type, [rename[t] for t in x.inputs]) == (y.type, y.inputs)
        assert _attrs(x) == _attrs(y), (x.name, x.attrs, y.attrs)
        assert sorted(x.params) == sorted(y.params), x.name
        for k in x.params:
            px, py = np.asarray(x.params[k]), np.asarray(y.params[k])
            assert px.dtype == py.dtype and np.array_equal(px, py), (x.name, k)
    for name, t in a.tensors.items():
        u = b.tensors[rename[name]]
        assert (tuple(t.shape), t.dtype, t.quant) == (tuple(u.shape), u.dtype, u.quant), name
    assert [rename[t] for t in a.outputs] == b.outputs
    qa, qb = a.meta["quantization"], b.meta["quantization"]
    assert (qa["scheme"], qa["per_channel"]) == (qb["scheme"], qb["per_channel"]) and qb["imported"] == source


def _attrs(op):
    """Attributes as the kernels read them: window pairs as pairs; the float `activation` left out,
    since act_min/act_max say what is computed (a ReLU at zero point -128 is the NONE clamp, and
    the writer writes NONE for it)."""
    from nnbuild.windows import pair

    return {k: pair(v) if k in ("kernel", "stride", "pad", "dilation") else v for k, v in op.attrs.items()
            if k != "activation"}


# -- (a) int8 models written by nnbuild's own writer ---------------------------------------------

NETS = [(net_convs, 0), (net_convs, 1), (net_convs, 2), (net_elementwise, 0), (net_elementwise, 1),
        (net_elementwise, 2), (net_ranks, 0), (lambda s: net_convs(s, per_channel=False), 3), (net_same_avg, 0),
        (net_same_avg, 3)]


@pytest.mark.parametrize("make,seed", NETS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_int8_round_trip_is_the_same_graph_and_runs_like_tflm(tmp_path, make, seed):
    q = make(seed)
    g = reimport(tmp_path, q)
    assert_same_graph(q, g)
    px = _pixels(q.tensors[q.input].shape, 24, seed)
    first = g.ops[0].outputs[0]
    r = golden.run(g, px, outputs=[first, g.outputs[0]])
    want = r[g.outputs[0]]
    assert np.array_equal(want, golden.run(q, px))
    got = run_tflm(tflite.export(q), r[first])
    assert np.array_equal(got.reshape(want.shape), want) and len(np.unique(want)) > 3


def _tflm_equals_imported(tmp_path, data, n=16, seed=0):
    """Import .tflite bytes, run golden from the input stage's output, compare with TFLM."""
    g = load_int8(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)
    px = _pixels(g.tensors[g.input].shape, n, seed)
    first = g.ops[0].outputs[0]
    r = golden.run(g, px, outputs=[first, g.outputs[0]])
    want = r[g.outputs[0]]
    assert np.array_equal(run_tflm(data, r[first]).reshape(want.shape), want)
    return g, want


def _relu6_conv(lo, hi):
    q = hand_made_conv(act_min=lo)
    q.ops[1].attrs["act_max"] = hi
    return tflite.export(q)


@pytest.mark.parametrize("act", ["RELU6", "RELU_N1_TO_1"])
def test_int8_fused_relu6_is_a_clip_after_the_conv(tmp_path, act):
    lo, hi = tflite.activation_range(act, np.float32(0.1), -5)
    g, _ = _tflm_equals_imported(tmp_path, _relu6_conv(lo, hi))
    assert [op.type for op in g.ops] == ["input_stage", "conv2d", "clip"]
    assert (g.ops[2].attrs["act_min"], g.ops[2].attrs["act_max"]) == (lo, hi)
    # written back: the clip is the conv's fused activation again, and TFLM runs it like golden
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    data = tflite.export(g)
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(data, 0))
    assert [o.builtinOptions.fusedActivationFunction for o in model.subgraphs[0].operators] == \
        [getattr(S.ActivationFunctionType, act)]
    _tflm_equals_imported(tmp_path, data)


def test_int8_clip_that_is_no_fused_activation_is_refused_by_name(tmp_path):
    lo, hi = tflite.activation_range("RELU6", np.float32(0.1), -5)
    g, _ = _tflm_equals_imported(tmp_path, _relu6_conv(lo, hi))
    g.ops[2].attrs["act_max"] = hi - 1               # not RELU6's clamp at this scale
    with pytest.raises(NnbuildError, match=r"layer '.*' \(clip\): clamp \[-5, 54\]"):
        tflite.export(g)


def test_int8_reimport_host_build_equals_golden(tmp_path):
    from nnbuild.hostrun import generate_and_build

    for make in (net_convs, net_elementwise):
        g = reimport(tmp_path, make(1))
        px = _pixels(g.tensors[g.input].shape, 32, 5)
        want = golden.run(g, px).reshape(len(px), -1)
        for dsp in (False, True):
            got = generate_and_build(g, tmp_path / f"{make.__name__}{dsp}", "rt", dsp=dsp).run(px)
            assert np.array_equal(got, want), f"{make.__name__} dsp={dsp}"


def test_export_of_the_reimport_is_byte_identical(tmp_path):
    q = net_elementwise(2)
    assert tflite.export(reimport(tmp_path, q)) == tflite.export(q)


def _manifest(tmp_path, model="m.tflite", extra=""):
    (tmp_path / "models.yaml").write_text(
        "version: 1\nbudgets:\n  m4: {ram: 128KiB, flash: 512KiB}\nmodels:\n  - name: imported\n    format: tflite\n"
        f"    tflite: {{model: {model}}}\n    input: {{mean: {MEAN}, scale: {SCALE}}}\n{extra}")
    return tmp_path / "models.yaml"


def test_manifest_without_quantization_section_imports_the_int8_model(tmp_path):
    from nnbuild import pipeline
    from nnbuild.manifest import load_manifest
    from nnbuild.quantize import format_report

    q = net_convs(0)
    _write(tmp_path, tflite.export(q))
    entry = load_manifest(_manifest(tmp_path)).model("imported")
    assert entry.import_files() == [str(tmp_path / "m.tflite")]
    graph = pipeline.import_model(entry)
    qgraph, report = pipeline.quantize_graph(entry, graph)
    assert graph.meta["quantization"]["record"] and "record" not in qgraph.meta["quantization"]
    assert report["warnings"] == [] and "as imported from tflite" in format_report(report)
    assert_same_graph(q, qgraph)
    entry = load_manifest(_manifest(tmp_path, extra="    quantization: {scheme: q7}\n")).model("imported")
    with pytest.raises(NnbuildError, match="arrives quantized with scheme int8, and the manifest asks for q7"):
        pipeline.quantize_graph(entry, pipeline.import_model(entry))


def assert_qemu_m4_equals_golden(tmp_path, g, n=8):
    """`g` exported to `tmp_path` (`_manifest`'s entry "imported"), built for m4 and run in QEMU
    on `n` images: every output byte equals the golden model of `g`."""
    from nnbuild import firmware
    from nnbuild.manifest import load_manifest

    _write(tmp_path, tflite.export(g))
    manifest = _manifest(tmp_path)
    entry = load_manifest(manifest).model("imported")
    px = _pixels(g.tensors[g.input].shape, n, 3)
    elf = firmware.scons_build(manifest, "m4", build_dir=tmp_path / "build")
    got, info = firmware.run_batch(entry, "m4", px, elf=elf)
    assert info["inferences"] == n
    assert np.array_equal(got, golden.run(g, px).reshape(len(px), -1))


@needs_arm
@needs_qemu
def test_int8_reimport_qemu_m4_equals_golden(tmp_path):
    assert_qemu_m4_equals_golden(tmp_path, net_elementwise(0))


# -- (b) the real cifar10_m4: Caffe -> int8 -> .tflite -> import ----------------------------------

@needs_shared
def test_cifar_int8_tflite_import_equals_tflm_on_all_test_images(tmp_path):
    from nnbuild import pipeline
    from nnbuild.calibration import load_eval_data
    from nnbuild.hostrun import generate_and_build
    from nnbuild.manifest import load_manifest

    entry = load_manifest(ROOT / "manifests" / "cifar10_int8.yaml").model("cifar10_m4_int8")
    q, _ = pipeline.quantize_graph(entry, pipeline.import_model(entry))
    _write(tmp_path, tflite.export(q), "cifar.tflite")
    (tmp_path / "models.yaml").write_text(
        "version: 1\nmodels:\n  - name: cifar_tflite\n    format: tflite\n    model: cifar.tflite\n"
        f"    input: {{channel_order: RGB, mean_file: {CIFAR_MEAN}, scale: 1.0}}\n")
    imported = load_manifest(tmp_path / "models.yaml").model("cifar_tflite")
    g, _ = pipeline.quantize_graph(imported, pipeline.import_model(imported))   # no calibration: the file's numbers
    assert_same_graph(q, g)
    images, labels = load_eval_data(CIFAR_TEST, g)
    first = g.ops[0].outputs[0]
    r = golden.run(g, images, outputs=[first, g.outputs[0]])
    want = r[g.outputs[0]].reshape(len(images), -1)
    assert len(images) == 932
    assert np.array_equal(run_tflm(tflite.export(q), r[first]).reshape(want.shape), want)
    top1 = int((want.argmax(1) == labels).sum())
    print(f"cifar10_m4 int8 .tflite imported: top-1 {top1}/932")
    assert np.array_equal(want, golden.run(q, images).reshape(want.shape)) and top1 == 742   # the Caffe path's
    assert np.array_equal(generate_and_build(g, tmp_path / "host", "cifar_tflite").run(images), want)


# -- float models: a small .tflite writer for tests (any types, shape signatures) ------------------

class Tfl:
    """A .tflite model written tensor by tensor (flatbuffers.Builder, the writer's tables)."""

    def __init__(self):
        self.tensors, self.buffers, self.ops, self.codes = [], [b""], [], {}
        self.inputs, self.outputs = [], []

    def tensor(self, shape, ttype=T.FLOAT32, data=None, quant=None, name=None, signature=None):
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data).tobytes())
            buf = len(self.buffers) - 1
        self.tensors.append(dict(name=name or f"t{len(self.tensors)}", shape=list(shape), type=ttype, buffer=buf,
                                 quant=quant, signature=signature))
        return len(self.tensors) - 1

    def const(self, arr):
        arr = np.asarray(arr)
        ttype = {np.float32: T.FLOAT32, np.int32: T.INT32, np.int8: T.INT8, np.float16: T.FLOAT16}[arr.dtype.type]
        return self.tensor(arr.shape, ttype, data=arr)

    def op(self, code, inputs, out_shape, options=None, out_type=T.FLOAT32):
        out = self.tensor(out_shape, out_type)
        ci = self.codes.setdefault(code, len(self.codes))
        self.ops.append((ci, list(inputs), [out], *(options or (S.BuiltinOptions.NONE, None))))
        return out

    def bytes(self):
        m = tflite._Model(type("G", (), {"name": "t", "meta": {}})())
        m.tensors = [dict(t, quant=t["quant"]) for t in self.tensors]
        m.buffers, m.ops, m.codes, m.inputs, m.outputs = self.buffers, self.ops, self.codes, self.inputs, self.outputs
        sigs = {i: t["signature"] for i, t in enumerate(self.tensors) if t["signature"] is not None}
        if not sigs:
            return tflite.serialize(m)
        original = tflite._tensor_table

        def with_signature(b, t):       # the writer's table plus shape_signature (slot 7)
            i = self.tensors.index(next(x for x in self.tensors if x["name"] == t["name"]))
            if i not in sigs:
                return original(b, t)
            sig = tflite._vector(b, sigs[i], np.int32)
            name, shape = b.CreateString(t["name"]), tflite._vector(b, t["shape"], np.int32)
            b.StartObject(S.Tensor.SLOTS)
            b.PrependUOffsetTRelativeSlot(S.Tensor.SHAPE, shape, 0)
            b.PrependInt8Slot(S.Tensor.TYPE, t["type"], 0)
            b.PrependUint32Slot(S.Tensor.BUFFER, t["buffer"], 0)
            b.PrependUOffsetTRelativeSlot(S.Tensor.NAME, name, 0)
            b.PrependUOffsetTRelativeSlot(S.Tensor.SHAPE_SIGNATURE, sig, 0)
            return b.EndObject()
        tflite._tensor_table = with_signature
        try:
            return tflite.serialize(m)
        finally:
            tflite._tensor_table = original


def _conv_opts(padding, stride, act, dilation=1, depth_multiplier=None):
    if depth_multiplier is None:
        O = S.Conv2DOptions
        return S.BuiltinOptions.Conv2DOptions, (O, [(O.PADDING, "i8", padding), (O.STRIDE_W, "i32", stride),
                                                    (O.STRIDE_H, "i32", stride), (O.FUSED_ACTIVATION_FUNCTION, "i8", act),
                                                    (O.DILATION_W_FACTOR, "i32", dilation),
                                                    (O.DILATION_H_FACTOR, "i32", dilation)])
    O = S.DepthwiseConv2DOptions
    return S.BuiltinOptions.DepthwiseConv2DOptions, (O, [
        (O.PADDING, "i8", padding), (O.STRIDE_W, "i32", stride), (O.STRIDE_H, "i32", stride),
        (O.DEPTH_MULTIPLIER, "i32", depth_multiplier), (O.FUSED_ACTIVATION_FUNCTION, "i8", act),
        (O.DILATION_W_FACTOR, "i32", dilation), (O.DILATION_H_FACTOR, "i32", dilation)])


def _pool_opts(k, s, padding, act=0):
    O = S.Pool2DOptions
    return S.BuiltinOptions.Pool2DOptions, (O, [(O.PADDING, "i8", padding), (O.STRIDE_W, "i32", s),
                                                (O.STRIDE_H, "i32", s), (O.FILTER_WIDTH, "i32", k),
                                                (O.FILTER_HEIGHT, "i32", k), (O.FUSED_ACTIVATION_FUNCTION, "i8", act)])


def float_model(seed=0):
    """Every float operator: CONV_2D (SAME + RELU6, VALID + stride 2 after PAD, dilated),
    DEPTHWISE_CONV_2D, MAX/AVERAGE_POOL_2D, MUL and ADD by constants, ADD, CONCATENATION,
    LOGISTIC, TANH, RELU, MEAN, RESHAPE, FULLY_CONNECTED (+RELU), SOFTMAX."""
    rng = np.random.default_rng(seed)
    m = Tfl()

    def w(*shape):
        return rng.normal(0, 0.4, shape).astype(np.float32)
    x = m.tensor([1, 9, 9, 3], name="image")
    m.inputs = [x]
    P, A = S.Padding, S.ActivationFunctionType
    c1 = m.op(B.CONV_2D, [x, m.const(w(6, 3, 3, 3)), m.const(w(6))], [1, 9, 9, 6], _conv_opts(P.SAME, 1, A.RELU6))
    pad = m.op(B.PAD, [c1, m.const(np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))], [1, 11, 11, 6],
               (S.BuiltinOptions.PadOptions, (S.PadOptions, [])))
    c2 = m.op(B.CONV_2D, [pad, m.const(w(8, 3, 3, 6)), m.const(w(8))], [1, 5, 5, 8], _conv_opts(P.VALID, 2, A.RELU))
    dw = m.op(B.DEPTHWISE_CONV_2D, [c2, m.const(w(1, 3, 3, 16)), m.const(w(16))], [1, 5, 5, 16],
              _conv_opts(P.SAME, 1, A.NONE, depth_multiplier=2))
    mul = m.op(B.MUL, [dw, m.const(w(16))], [1, 5, 5, 16], (S.BuiltinOptions.MulOptions, (S.MulOptions, [(0, "i8", 0)])))
    add = m.op(B.ADD, [mul, m.const(w(16))], [1, 5, 5, 16], (S.BuiltinOptions.AddOptions, (S.AddOptions, [(0, "i8", 0)])))
    dl = m.op(B.CONV_2D, [add, m.const(w(16, 3, 3, 16)), m.const(w(16))], [1, 5, 5, 16],
              _conv_opts(P.SAME, 1, A.NONE, dilation=2))
    s = m.op(B.ADD, [add, dl], [1, 5, 5, 16], (S.BuiltinOptions.AddOptions, (S.AddOptions, [(0, "i8", 1)])))
    mp = m.op(B.MAX_POOL_2D, [s], [1, 3, 3, 16], _pool_opts(3, 2, P.SAME))
    ap = m.op(B.AVERAGE_POOL_2D, [s], [1, 2, 2, 16], _pool_opts(3, 2, P.VALID))
    sg = m.op(B.LOGISTIC, [mp], [1, 3, 3, 16])
    th = m.op(B.TANH, [mp], [1, 3, 3, 16])
    cc = m.op(B.CONCATENATION, [sg, th], [1, 3, 3, 32], (S.BuiltinOptions.ConcatenationOptions,
                                                         (S.ConcatenationOptions, [(0, "i32", 3), (1, "i8", 0)])))
    mean = m.op(B.MEAN, [m.op(B.RELU, [cc], [1, 3, 3, 32]), m.const(np.array([1, 2], np.int32))], [1, 1, 1, 32],
                (S.BuiltinOptions.ReducerOptions, (S.ReducerOptions, [(0, "bool", True)])))
    flat = m.op(B.RESHAPE, [ap, m.const(np.array([1, 64], np.int32))], [1, 64])
    FO = S.FullyConnectedOptions
    f1 = m.op(B.FULLY_CONNECTED, [flat, m.const(w(32, 64)), m.const(w(32))], [1, 32],
              (S.BuiltinOptions.FullyConnectedOptions, (FO, [(0, "i8", A.RELU), (1, "i8", 0), (2, "bool", False)])))
    v = m.op(B.RESHAPE, [mean, m.const(np.array([1, 32], np.int32))], [1, 32])
    s2 = m.op(B.ADD, [f1, v], [1, 32], (S.BuiltinOptions.AddOptions, (S.AddOptions, [(0, "i8", 0)])))
    f2 = m.op(B.FULLY_CONNECTED, [s2, m.const(w(10, 32)), m.const(w(10))], [1, 10],
              (S.BuiltinOptions.FullyConnectedOptions, (FO, [(0, "i8", 0), (1, "i8", 0), (2, "bool", False)])))
    m.outputs = [m.op(B.SOFTMAX, [f2], [1, 10], (S.BuiltinOptions.SoftmaxOptions,
                                                 (S.SoftmaxOptions, [(0, "f32", 1.0)])))]
    return m


def _tflm_float(data, x):
    from tflm_oracle import _interpreter

    interp = _interpreter(data)
    outs = []
    for img in x.astype(np.float32):
        interp.set_input(img[None], 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0), copy=True).reshape(-1))
    return np.stack(outs)


def test_float_model_matches_tflm_float_kernels(tmp_path):
    data = float_model().bytes()
    g, quantized = load_tflite(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)
    assert not quantized
    types = {op.type for op in g.ops}
    assert {"conv2d", "clip", "channel_affine", "add", "max_pool", "avg_pool", "concat", "sigmoid", "tanh", "relu",
            "fully_connected", "softmax"} <= types
    px = _pixels((9, 9, 3), 16, 1)
    ours = reference.run(g, px).reshape(16, -1)
    theirs = _tflm_float(data, (px.astype(np.float32) - MEAN) * np.float32(SCALE))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    assert np.array_equal(ours.argmax(1), theirs.argmax(1))


@pytest.mark.parametrize("scheme", ["q7", "int8"])
def test_float_model_through_our_quantizers_host_equals_golden(tmp_path, scheme):
    from nnbuild import pipeline
    from nnbuild.hostrun import generate_and_build
    from nnbuild.manifest import load_manifest

    _write(tmp_path, float_model(1).bytes())
    np.savez(tmp_path / "calib.npz", images=_pixels((9, 9, 3), 64, 9))
    entry = load_manifest(_manifest(tmp_path, extra=f"    quantization: {{scheme: {scheme}, calibration: calib.npz}}\n"
                                    )).model("imported")
    graph = pipeline.import_model(entry)
    qgraph, _ = pipeline.quantize_graph(entry, graph)
    assert qgraph.meta["quantization"]["scheme"] == scheme and "imported" not in qgraph.meta["quantization"]
    px = _pixels((9, 9, 3), 24, 2)
    want = golden.run(qgraph, px).reshape(len(px), -1)
    assert np.array_equal(generate_and_build(qgraph, tmp_path / "host", "imported").run(px), want)


# -- (c) bad input: one clear error each, nothing written ------------------------------------------

def _refused(tmp_path, data, *words):
    p = _write(tmp_path, data, "bad.tflite")
    with pytest.raises(NnbuildError) as e:
        load_tflite(p)
    text = str(e.value)
    assert "\n" not in text and str(p) in text, text
    for word in words:
        assert word in text, text
    return text


def _one_conv(in_type=T.FLOAT32, w_type=T.FLOAT32, signature=None, extra_input=False, in_shape=(1, 5, 5, 3)):
    m = Tfl()
    x = m.tensor(in_shape, in_type, signature=signature)
    m.inputs = [x] + ([m.tensor([1, 5, 5, 3])] if extra_input else [])
    wt = m.const(np.zeros((2, 1, 1, 3), {T.FLOAT32: np.float32, T.FLOAT16: np.float16}[w_type]))
    m.outputs = [m.op(B.CONV_2D, [x, wt, m.const(np.zeros(2, np.float32))], [1, 5, 5, 2],
                      _conv_opts(S.Padding.VALID, 1, 0), out_type=in_type)]
    return m


def test_truncated_and_garbage_files(tmp_path):
    data = tflite.export(net_convs(0))
    for cut in (len(data) // 2, len(data) - 100, 64, 12):
        _refused(tmp_path, data[:cut], "outside the file" if cut > 12 else "")
    _refused(tmp_path, b"\x00" * 64, "does not start as a TFLite flatbuffer")
    _refused(tmp_path, b"", "TFL3")


def test_hostile_offsets_and_lengths_give_one_error(tmp_path):
    data = bytearray(tflite.export(net_ranks(0)))
    rng = np.random.default_rng(0)
    seen = 0
    for _ in range(300):        # random 4-byte overwrites: an error or a model, never a crash
        bad = bytearray(data)
        pos = int(rng.integers(8, len(bad) - 4))
        bad[pos:pos + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        p = _write(tmp_path, bytes(bad), "fuzz.tflite")
        try:
            load_tflite(p, mean=(MEAN,), scale=SCALE)
        except NnbuildError as e:
            assert "\n" not in str(e)
            seen += 1
    assert seen > 50
    huge = bytearray(data)
    huge[0:4] = (len(data) - 8).to_bytes(4, "little")     # the root offset near the end
    _refused(tmp_path, bytes(huge))


def test_unknown_operator_is_refused_by_name_with_the_list(tmp_path):
    m = _one_conv()
    m.outputs = [m.op(S.OPERATOR_NAMES.index("HARD_SWISH"), [m.outputs[0]], [1, 5, 5, 2]),
                 m.op(B.MUL, [m.outputs[0], m.outputs[0]], [1, 5, 5, 2])]
    text = _refused(tmp_path, m.bytes(), "unsupported TFLite operator(s) HARD_SWISH", "CONV_2D", "MEAN", "PAD")
    assert text.index("HARD_SWISH") < text.index("expected")


@pytest.mark.parametrize("case,words", [
    ("two_inputs", ["2 inputs", "exactly one image input"]),
    ("non_image", ["input of shape [1, 75]", "image [1, H, W, C]"]),
    ("dynamic", ["dynamic shape (shape_signature [-1, -1, 5, 3])"]),
    ("int16", ["int16 tensor", "int8 activations"]),
    ("float16", ["float16 tensor (float16 weights)"]),
    ("gray_order_on_rgb", ["channel order 'GRAY' does not fit 3 input channels"]),
])
def test_bad_models(tmp_path, case, words):
    if case == "two_inputs":
        m = _one_conv(extra_input=True)
    elif case == "non_image":
        m = _one_conv(in_shape=(1, 75))
    elif case == "dynamic":
        m = _one_conv(signature=[-1, -1, 5, 3])
    elif case == "int16":
        m = _one_conv(in_type=T.INT16)
    elif case == "float16":
        m = _one_conv(w_type=T.FLOAT16)
    else:
        p = _write(tmp_path, _one_conv().bytes(), "bad.tflite")
        with pytest.raises(NnbuildError, match=words[0]):
            load_tflite(p, channel_order="GRAY")
        return
    _refused(tmp_path, m.bytes(), *words)


def test_batch_signature_minus_one_is_accepted(tmp_path):
    g, quantized = load_tflite(_write(tmp_path, _one_conv(signature=[-1, 5, 5, 3]).bytes()))
    assert not quantized and g.tensors[g.input].shape == (5, 5, 3)


def test_int8_same_average_pool_divides_by_the_input_cells_and_refusals_name_the_operator(tmp_path):
    n = Net((8, 8, 2), 0)                   # Caffe's divisor counts padding: the writer makes PAD + AVERAGE_POOL_2D
    g = n.quantized(n.pool("avg_pool", n.conv(n.x, 3, 1, act="none"), 3, 1, p=1))
    data = bytearray(tflite.export(g))
    assert_same_graph(g, reimport(tmp_path, g))      # folded back into the IR's padded avg_pool
    same = _strip_pad(data)                          # SAME without the PAD: TFLite's divisor excludes padding
    imported, _ = _tflm_equals_imported(tmp_path, same)
    assert imported.ops[-1].attrs["exclude_pad"] is True and imported.ops[-1].attrs["pad"] == (1, 1)
    bad = _strip_pad(data, filter_hw=2)              # 2x2/1 SAME: all its padding at the end, Caffe has none such
    _refused(tmp_path, bad, "AVERAGE_POOL_2D", "not the IR's (Caffe's) windows")


@needs_arm
@needs_qemu
def test_int8_same_average_pool_qemu_m4_equals_golden(tmp_path):
    """An imported AVERAGE_POOL_2D SAME (exclude_pad) built for m4: QEMU == golden."""
    assert_qemu_m4_equals_golden(tmp_path, net_same_avg(1))


@needs_arm
@needs_qemu
def test_int8_floor_pools_round_trip_and_qemu_m4_equals_golden(tmp_path):
    """Floor-mode MAX_POOL_2D (after a PADV2) and VALID AVERAGE_POOL_2D written by our writer import
    back as the same graph (ceil_mode false), and built for m4: QEMU == golden."""
    q = net_floor_pools(1)
    assert_same_graph(q, reimport(tmp_path, q))
    assert_qemu_m4_equals_golden(tmp_path, q)


def _strip_pad(data, filter_hw=None):
    """The model with its PAD op's input wired straight into the pooling (SAME padding), with
    another filter size if given."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(bytes(data), 0))
    sg = model.subgraphs[0]
    codes = [c.builtinCode for c in model.operatorCodes]
    pad = next(o for o in sg.operators if codes[o.opcodeIndex] == B.PAD)
    pool = next(o for o in sg.operators if codes[o.opcodeIndex] == B.AVERAGE_POOL_2D)
    pool.inputs = [pad.inputs[0]]
    pool.builtinOptions.padding = S.Padding.SAME
    if filter_hw:
        pool.builtinOptions.filterHeight = pool.builtinOptions.filterWidth = filter_hw
    sg.operators.remove(pad)
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=S.FILE_IDENTIFIER)
    return bytes(b.Output())


def test_schema_constants_of_the_reader_match_tflite_schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb
    import inspect
    import re

    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    assert S.OPERATOR_NAMES == tuple(names[i] for i in range(len(names)))
    for table in ("Tensor", "QuantizationParameters", "Operator", "Buffer", "MulOptions", "ReducerOptions"):
        ours = getattr(S, table)
        assert f"StartObject({ours.SLOTS})" in inspect.getsource(getattr(fb, f"{table}Start")), table
        for f in (k for k in vars(ours) if k.isupper() and k != "SLOTS"):
            camel = "".join(p.capitalize() for p in f.lower().split("_"))
            assert re.search(rf"Slot\({getattr(ours, f)},", inspect.getsource(getattr(fb, f"{table}Add{camel}"))), f


@pytest.mark.parametrize("bad", ["truncated", "unknown_op"])
def test_cli_import_refuses_with_one_paragraph_and_writes_nothing(tmp_path, bad):
    data = tflite.export(net_convs(0))
    if bad == "unknown_op":
        m = _one_conv()
        m.outputs = [m.op(S.OPERATOR_NAMES.index("HARD_SWISH"), [m.outputs[0]], [1, 5, 5, 2])]
        data = m.bytes()
    _write(tmp_path, data[:len(data) - 40] if bad == "truncated" else data)
    assert_cli_import_refuses(tmp_path, "tflite", "m.tflite")
