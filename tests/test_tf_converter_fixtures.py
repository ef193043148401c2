"""Models made by the real TensorFlow converter (tests/data/tfconv/, written once by
tools/make_tf_fixtures.py; their operators are listed in tests/data/tfconv/README.md) through
`format: tflite`: the int8 files' golden equals TFLite Micro on every output byte, the host build
and QEMU equal golden (what the converter emits and nnbuild's own writer does not: SAME stride-2
convolutions on even sizes, MEAN without keep_dims, Dense on a 4-D tensor, REDUCE_MAX, QUANTIZE
before a CONCATENATION, SAME average pools that pad); the float file agrees with TFLM's float kernels and goes through q7 and
int8. TensorFlow itself is not needed: only the committed files and tflite-micro."""
import numpy as np
import pytest

from conftest import ROOT, needs_arm, needs_qemu
from tflm_oracle import _interpreter, run_tflm

from nnbuild import golden, pipeline, reference
from nnbuild.frontends.tflite import load_tflite, reader
from nnbuild.manifest import load_manifest
from nnbuild import tflite_schema as S

DATA = ROOT / "tests" / "data" / "tfconv"
SCALE = 1 / 255                  # the representative images were uniform in [0, 1): pixels / 255
INT8 = ["convnet_int8", "convnet_int8_pertensor", "branches_int8", "mixed_int8", "avgpools_int8"]
FLOAT = ["convnet_float", "branches_float", "mixed_float", "avgpools_float"]


def _pixels(n, seed):
    """Images like the fixtures' training data: a colour per image plus per-pixel noise."""
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 256, (n, 1, 1, 3))
    return np.clip(colour + rng.integers(-38, 39, (n, 16, 16, 3)), 0, 255).astype(np.uint8)


def _entry(tmp_path, model, extra=""):
    (tmp_path / "models.yaml").write_text(
        "version: 1\nbudgets:\n  m4: {ram: 128KiB, flash: 512KiB}\nmodels:\n  - name: tfconv\n    format: tflite\n"
        f"    tflite: {{model: {DATA / (model + '.tflite')}}}\n    input: {{mean: 0, scale: {SCALE!r}}}\n{extra}")
    return load_manifest(tmp_path / "models.yaml").model("tfconv")


def _quantized(tmp_path, model):
    entry = _entry(tmp_path, model)
    graph = pipeline.import_model(entry)
    assert graph.meta["quantization"]["record"]          # imported as int8: no calibration
    q, _ = pipeline.quantize_graph(entry, graph)
    return entry, q


def _golden(q, px):
    """(int8 input after the input stage, int8 output) of golden."""
    first = q.ops[0].outputs[0]
    r = golden.run(q, px, outputs=[first, q.outputs[0]])
    return r[first], r[q.outputs[0]].reshape(len(px), -1)


def _codes(name):
    m = reader.read_model(DATA / f"{name}.tflite")
    return [S.OPERATOR_NAMES[op.code] for op in m.operators]


def test_fixtures_are_the_converters_output_with_the_operators_of_the_readme():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    readme = (DATA / "README.md").read_text()
    for name in INT8 + ["convnet_int8_floatio"] + FLOAT:
        data = (DATA / f"{name}.tflite").read_bytes()
        assert fb.Model.GetRootAsModel(data, 0).Description() == b"MLIR Converted."
        assert f"`{name}.tflite` ({len(data):,} bytes): {', '.join(_codes(name))}" in readme
        assert len(data) < 32 << 10                  # small fixtures (16x16x3 inputs)
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED",
            "SOFTMAX"} <= set(_codes("convnet_int8"))
    assert {"ADD", "CONCATENATION", "MEAN", "RESHAPE"} <= set(_codes("branches_int8"))
    assert {"LOGISTIC", "TANH", "QUANTIZE", "REDUCE_MAX"} <= set(_codes("mixed_int8"))
    for name in ("avgpools_int8", "avgpools_float"):     # Keras' AveragePooling2D(padding="same") that pads
        m = reader.read_model(DATA / f"{name}.tflite")
        pools = [op for op in m.operators if S.OPERATOR_NAMES[op.code] == "AVERAGE_POOL_2D"]
        assert len(pools) == 3 and all(op.options["padding"] == S.Padding.SAME for op in pools), name
    io = _codes("convnet_int8_floatio")
    assert io[0] == "QUANTIZE" and io[-1] == "DEQUANTIZE"
    for name, per_channel in (("convnet_int8", True), ("convnet_int8_pertensor", False)):
        m = reader.read_model(DATA / f"{name}.tflite")
        filters = [m.tensors[op.inputs[1]] for op in m.operators if S.OPERATOR_NAMES[op.code].endswith("CONV_2D")]
        assert all((len(t.quant.scale) > 1) == per_channel for t in filters), name


@pytest.mark.parametrize("model", INT8)
def test_int8_fixture_golden_equals_tflm_on_every_byte(tmp_path, model):
    _, q = _quantized(tmp_path, model)
    x, want = _golden(q, _pixels(64, 1))
    got = run_tflm((DATA / f"{model}.tflite").read_bytes(), x).reshape(want.shape)
    assert np.array_equal(got, want)
    assert len(np.unique(want)) > 10 and len(np.unique(want.argmax(1))) > 1


def test_int8_fixture_with_float_io_equals_tflm(tmp_path):
    """QUANTIZE at the input and DEQUANTIZE at the output are the model's boundaries: TFLM's float
    output is golden's int8 output dequantized, bit for bit."""
    _, q = _quantized(tmp_path, "convnet_int8_floatio")
    x, want = _golden(q, _pixels(48, 2))
    interp = _interpreter((DATA / "convnet_int8_floatio.tflite").read_bytes())
    (s_in, z_in), (s_out, z_out) = _boundary("convnet_int8_floatio", 0), _boundary("convnet_int8_floatio", -1)
    got = []
    for img in x:           # a float input that TFLM's QUANTIZE maps to golden's int8 input exactly
        interp.set_input(((img.astype(np.float32) - z_in) * s_in)[None], 0)
        interp.invoke()
        got.append(np.array(interp.get_output(0), copy=True).reshape(-1))
    got = np.stack(got)
    assert got.dtype == np.float32
    assert np.array_equal(got, (want.astype(np.float32) - z_out) * s_out)
    _, same = _golden(_quantized(tmp_path, "convnet_int8")[1], _pixels(48, 2))
    assert np.mean(same == want) > 0.9          # the same net and calibration data as convnet_int8


def _boundary(name, k):
    """(scale, zero point) of the int8 side of the QUANTIZE (k = 0) or DEQUANTIZE (k = -1)."""
    m = reader.read_model(DATA / f"{name}.tflite")
    op = m.operators[k]
    t = m.tensors[op.outputs[0] if k == 0 else op.inputs[0]]
    return np.float32(t.quant.scale[0]), int(t.quant.zero_point[0])


@pytest.mark.parametrize("model", INT8)       # convnet_int8_floatio: convnet_int8's kernels
def test_int8_fixture_host_build_equals_golden(tmp_path, model):
    from nnbuild.hostrun import generate_and_build

    _, q = _quantized(tmp_path, model)
    px = _pixels(48, 3)
    _, want = _golden(q, px)
    for dsp in (False, True):
        got = generate_and_build(q, tmp_path / f"host{dsp}", "tfconv", dsp=dsp).run(px)
        assert np.array_equal(got, want), f"dsp={dsp}"


@needs_arm
@needs_qemu
@pytest.mark.parametrize("model", ["convnet_int8", "branches_int8", "mixed_int8", "avgpools_int8"])
def test_int8_fixture_qemu_m4_equals_golden(tmp_path, model):
    from nnbuild import firmware

    entry, q = _quantized(tmp_path, model)
    px = _pixels(8, 4)
    elf = firmware.scons_build(tmp_path / "models.yaml", "m4", build_dir=tmp_path / "build")
    got, info = firmware.run_batch(entry, "m4", px, elf=elf)
    assert info["inferences"] == 8
    assert np.array_equal(got, _golden(q, px)[1])


@pytest.mark.parametrize("model", FLOAT)
def test_float_fixture_matches_tflm_float_kernels(model):
    data = (DATA / f"{model}.tflite").read_bytes()
    g, quantized = load_tflite(DATA / f"{model}.tflite", mean=(0.0,), scale=SCALE)   # before the passes
    assert not quantized
    px = _pixels(32, 5)
    ours = reference.run(g, px).reshape(len(px), -1)
    interp = _interpreter(data)
    theirs = []
    for img in px.astype(np.float32) * np.float32(SCALE):
        interp.set_input(img[None], 0)
        interp.invoke()
        theirs.append(np.array(interp.get_output(0), copy=True).reshape(-1))
    theirs = np.stack(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    assert np.array_equal(ours.argmax(1), theirs.argmax(1)) and len(np.unique(ours.argmax(1))) > 3


@pytest.mark.parametrize("scheme", ["q7", "int8"])
@pytest.mark.parametrize("model", FLOAT)
def test_float_fixture_through_our_quantizers_host_equals_golden(tmp_path, model, scheme):
    from nnbuild.hostrun import generate_and_build

    np.savez(tmp_path / "calib.npz", images=_pixels(64, 6))
    entry = _entry(tmp_path, model, f"    quantization: {{scheme: {scheme}, calibration: calib.npz}}\n")
    q, _ = pipeline.quantize_graph(entry, pipeline.import_model(entry))
    assert q.meta["quantization"]["scheme"] == scheme and "imported" not in q.meta["quantization"]
    px = _pixels(32, 7)
    want = golden.run(q, px).reshape(len(px), -1)
    assert np.array_equal(generate_and_build(q, tmp_path / "host", "tfconv").run(px), want)
    assert len(np.unique(want)) > 5


# -- what the converter emits and nnbuild's own writer does not --------------------------------------

def _mean_without_keep_dims(side, q_in, q_out):
    """A one-op int8 MEAN over axes 1, 2 with keep_dims false (output [1, C]), as the converter
    writes Keras' GlobalAveragePooling2D."""
    from test_tflite_frontend import B, T, Tfl

    m = Tfl()

    def quant(s, z):
        return {"scale": np.array([s], np.float32), "zero_point": np.array([z], np.int64), "dim": 0}
    x = m.tensor([1, side, side, 1], T.INT8, quant=quant(*q_in))
    m.inputs = [x]
    out = m.op(B.MEAN, [x, m.const(np.array([1, 2], np.int32))], [1, 1],
               (S.BuiltinOptions.ReducerOptions, (S.ReducerOptions, [(0, "bool", False)])), out_type=T.INT8)
    m.tensors[out]["quant"] = quant(*q_out)
    m.outputs = [out]
    return m.bytes()


@pytest.mark.parametrize("side,q_in,q_out", [(7, (0.0025, -128), (0.0013, -128)), (3, (0.07, -3), (0.07, -3)),
                                             (4, (0.3, -128), (0.9, 100)), (5, (0.05, 7), (0.02, -20))])
def test_int8_mean_without_keep_dims_is_tflms_on_every_sum(tmp_path, side, q_in, q_out):
    """keep_dims false imports as the same `tflite_mean` pool: golden == TFLM on every possible sum
    of the window (the one channel of each image holds one sum)."""
    n = side * side
    rest = np.arange(-128 * n, 127 * n + 1) + 128 * n
    xs = np.full((len(rest), n), -128, np.int64)
    for c in range(n):                   # fill cells from -128 upwards to reach each sum
        xs[:, c] += np.minimum(rest, 255)
        rest = rest - np.minimum(rest, 255)
    x = xs.astype(np.int8).reshape(-1, side, side, 1)
    data = _mean_without_keep_dims(side, q_in, q_out)
    path = tmp_path / "mean.tflite"
    path.write_bytes(data)
    from nnbuild.quantize.int8.imported import from_record

    g, quantized = load_tflite(path)
    q = from_record(g)
    assert quantized and [op.attrs.get("tflite_mean") for op in q.ops if op.type == "avg_pool"] == [True]
    want = _golden_from_int8(q, x)
    got = run_tflm(data, x).reshape(-1)
    assert np.array_equal(got, want) and len(np.unique(want)) > 3


def _golden_from_int8(q, x):
    """golden's output for int8 inputs x, skipping the input stage (its ops after the first)."""
    from nnbuild.quantize.int8 import golden as g8

    op = q.ops[1]
    a = op.attrs
    return g8.mean(x, a["in_zp"], a["mean_mult"], a["mean_shift"], a["out_zp"], a["act_min"],
                   a["act_max"]).reshape(-1)


@pytest.mark.parametrize("model", ["convnet_int8", "avgpools_int8"])
def test_int8_fixture_reexported_by_our_writer_equals_golden_in_tflm(tmp_path, model):
    """Imported and written back by nnbuild's int8 writer (a fused RELU6 imported as conv + clip
    is fused again; SAME average pools stay SAME): TFLM on the rewritten file == golden."""
    from nnbuild.exporters import tflite

    _, q = _quantized(tmp_path, model)
    x, want = _golden(q, _pixels(32, 8))
    assert np.array_equal(run_tflm(tflite.export(q), x).reshape(want.shape), want)


@pytest.mark.parametrize("model", ["avgpools_int8", "avgpools_float"])
def test_same_average_pools_import_as_exclude_pad(model):
    """The converter's SAME average pools that pad divide by the window's input cells: the IR's
    exclude_pad, with TFLite's leading pad (5x5/2 on 8: one cell before, two after)."""
    g, _ = load_tflite(DATA / f"{model}.tflite", mean=(0.0,), scale=SCALE)
    pools = [(op.attrs["kernel"], op.attrs["pad"], op.attrs.get("exclude_pad", False))
             for op in g.ops if op.type == "avg_pool"]
    assert [(tuple(np.broadcast_to(k, 2)), tuple(np.broadcast_to(p, 2)), e) for k, p, e in pools] == \
        [((3, 3), (1, 1), True), ((5, 5), (1, 1), True), ((2, 2), (0, 0), False)]


def test_same_padding_the_ir_cannot_express_is_still_refused(tmp_path):
    """A zero tap in front covers one more pad cell at the end; a dilated SAME conv whose widened
    window would give more outputs than TFLite's is refused naming the operator."""
    from nnbuild.errors import NnbuildError
    from test_tflite_frontend import B, Tfl, _conv_opts

    m = Tfl()
    x = m.tensor([1, 6, 6, 2], name="image")
    m.inputs = [x]
    w = m.const(np.ones((2, 2, 2, 2), np.float32))
    m.outputs = [m.op(B.CONV_2D, [x, w, m.const(np.zeros(2, np.float32))], [1, 6, 6, 2],
                      _conv_opts(S.Padding.SAME, 1, 0, dilation=3))]
    path = tmp_path / "bad.tflite"
    path.write_bytes(m.bytes())
    with pytest.raises(NnbuildError, match=r"operator 0 \(CONV_2D\).*not symmetric"):
        load_tflite(path)
