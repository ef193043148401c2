"""Models made by the real TensorFlow converter (tests/data/tfconv/, written once by
tools/make_tf_fixtures.py; their operators are listed in tests/data/tfconv/README.md) through
`format: tflite`: the int8 files' golden equals TFLite Micro on every output byte, the host build
and QEMU equal golden; the float file agrees with TFLM's float kernels and goes through q7 and
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
INT8 = ["convnet_int8", "branches_int8"]
FLOAT = ["convnet_float", "branches_float"]


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
    io = _codes("convnet_int8_floatio")
    assert io[0] == "QUANTIZE" and io[-1] == "DEQUANTIZE"


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


@pytest.mark.parametrize("model", INT8 + ["convnet_int8_floatio"])
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
def test_int8_fixture_qemu_m4_equals_golden(tmp_path):
    from nnbuild import firmware

    entry, q = _quantized(tmp_path, "branches_int8")
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
