"""The float .tflite writer (exporters/tflite.py export_float, `nnbuild export --float`): random
float IR nets run in TFLite Micro's float kernels like our float executor and re-import as the
same float graph; the real cifar10_m4 goes Caffe -> float .tflite -> import (format: tflite) and
gives the Caffe path's float top-1 and, through our q7 and int8 quantizers, the Caffe paths'
golden outputs on all 932 test images."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import CIFAR_CALIB, CIFAR_MEAN, CIFAR_TEST, ROOT, needs_shared
from test_export_tflite import Net, net_convs, net_elementwise, net_floor_pools, net_ranks, net_same_avg
from test_tflite_frontend import MEAN, SCALE, _pixels, _tflm_float, _write

from nnbuild import golden, reference
from nnbuild.errors import NnbuildError
from nnbuild.exporters import tflite
from nnbuild.frontends.tflite import load_tflite
from nnbuild.windows import pair


@pytest.fixture
def float_nets(monkeypatch):
    """test_export_tflite's nets as their float graphs (the quantize call left out)."""
    def as_float(self, out, per_channel=True, samples=40, more_outputs=()):
        self.g.outputs = [out, *more_outputs]
        return self.g.validate()
    monkeypatch.setattr(Net, "quantized", as_float)


def net_clips(seed):
    """RELU6 clips, a max pool TFLite pads with PADV2 (-inf), an average pool
    counting Caffe's padding (PAD 0 + VALID), a 1x1 average."""
    n = Net((8, 8, 3), seed)
    c = n.add("clip", [n.conv(n.x, 6, 3, p=1, act="none")], {"min": 0.0, "max": 6.0})
    mp = n.pool("max_pool", c, 3, 2, p=1)         # Caffe: 5x5, SAME: 4x4
    ap = n.pool("avg_pool", n.conv(mp, 4, 1), 3, 1, p=1)
    return n.quantized(n.add("clip", [n.fc(ap, 6)], {"min": 0.0, "max": 6.0}))


FLOAT_NETS = [(net_convs, 0), (net_convs, 1), (net_elementwise, 0), (net_elementwise, 1), (net_ranks, 0),
              (net_clips, 0), (net_clips, 1), (net_same_avg, 0), (net_same_avg, 2),
              (net_floor_pools, 0)]


def _attrs(op):
    """Window pairs as pairs; a conv / fully connected without `activation` has none (the IR's default)."""
    attrs = {"activation": "none"} if op.type in ("conv2d", "fully_connected") else {}
    attrs.update(op.attrs)
    return {k: pair(v) if k in ("kernel", "stride", "pad", "dilation") else v for k, v in attrs.items()}


def assert_same_float_graph(a, b):
    """Equal float graphs up to names: the same ops (types, attrs incl. activation, float32 params
    bit for bit) on tensors of the same shapes, in the same order, the same outputs."""
    rename = {a.input: b.input}
    assert [op.type for op in a.ops] == [op.type for op in b.ops]
    for x, y in zip(a.ops, b.ops):
        rename[x.outputs[0]] = y.outputs[0]
        assert [rename[t] for t in x.inputs] == y.inputs
        if x.type == "input_stage":
            continue        # the mean and scale come from the manifest, not the file
        assert _attrs(x) == _attrs(y), (x.name, x.attrs, y.attrs)
        assert sorted(x.params) == sorted(y.params), x.name
        for k in x.params:
            px, py = np.asarray(x.params[k]), np.asarray(y.params[k])
            assert py.dtype == np.float32 and np.array_equal(px.astype(np.float32), py), (x.name, k)
    for name, t in a.tensors.items():
        assert tuple(t.shape) == tuple(b.tensors[rename[name]].shape), name
    assert [rename[t] for t in a.outputs] == b.outputs
    assert "quantization" not in b.meta


@pytest.mark.parametrize("make,seed", FLOAT_NETS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_float_export_runs_in_tflm_like_our_executor_and_reimports_as_the_same_graph(tmp_path, float_nets,
                                                                                     make, seed):
    g = make(seed)
    data = tflite.export_float(g)
    assert data == tflite.export_float(g)           # deterministic
    back, quantized = load_tflite(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)
    assert not quantized
    assert_same_float_graph(g, back)
    px = _pixels(g.tensors[g.input].shape, 16, seed)
    first = g.ops[0].outputs[0]
    r = reference.run(g, px, outputs=[first, g.outputs[0]])
    ours = r[g.outputs[0]].reshape(len(px), -1)
    theirs = _tflm_float(data, r[first])
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-5)
    assert np.array_equal(theirs.argmax(1), ours.argmax(1)) and np.ptp(ours) > 0.1
    assert np.array_equal(reference.run(back, px).reshape(ours.shape), ours)


def test_float_export_pads_max_pool_with_minus_infinity(float_nets):
    """All-negative inputs: a max pool padded with 0 (PAD) instead of -inf would output 0."""
    n = Net((4, 4, 1), 0)
    c = n.conv(n.x, 2, 1, act="none")
    n.g.ops[-1].params["weight"][:] = 1.0
    n.g.ops[-1].params["bias"][:] = -100.0
    g = n.quantized(n.pool("max_pool", c, 3, 2, p=1))
    px = _pixels((4, 4, 1), 4)
    first = g.ops[0].outputs[0]
    r = reference.run(g, px, outputs=[first, g.outputs[0]])
    ours = r[g.outputs[0]].reshape(len(px), -1)
    assert ours.max() < -90
    np.testing.assert_allclose(_tflm_float(tflite.export_float(g), r[first]), ours, rtol=1e-6)


def test_float_export_refuses_what_tflite_cannot_say(float_nets):
    n = Net((4, 4, 2), 0)
    g = n.quantized(n.add("clip", [n.conv(n.x, 2, 1, act="none")], {"min": 0.0, "max": 4.0}))
    with pytest.raises(NnbuildError, match=r"clip.*\[0.0, 4.0\].*RELU6"):
        tflite.export_float(g)
    n = Net((4, 4, 2), 0)
    g = n.quantized(n.add("clip", [n.x], {"min": -1.0, "max": 1.0}))
    with pytest.raises(NnbuildError, match=r"clip to \[-1.0, 1.0\]"):     # RELU_N1_TO_1: no TFLM kernel
        tflite.export_float(g)
    n = Net((4, 4, 2), 0)
    g = n.quantized(n.add("lrn", [n.x], {"local_size": 3, "alpha": 1e-4, "beta": 0.75, "k": 1.0, "region": "across"}))
    with pytest.raises(NnbuildError, match=r"'lrn' cannot be exported to a float \.tflite.*one of .*clip.*conv2d"):
        tflite.export_float(g)
    n = Net((4, 4, 2), 0)
    g = n.quantized(n.add("relu", [n.x], {"negative_slope": 0.1}))
    with pytest.raises(NnbuildError, match="negative_slope"):
        tflite.export_float(g)
    n = Net((4, 4, 2), 0)
    g = n.quantized(n.conv(n.x, 2, 1))
    g.ops[-1].params["bias"][0] = np.nan
    with pytest.raises(NnbuildError, match=r"layer 'conv2d1' \(conv2d\).*param 'bias'.*finite float32 \[2\]"):
        tflite.export_float(g)
    from test_export_tflite import hand_made_conv

    with pytest.raises(NnbuildError, match="the model is quantized"):
        tflite.export_float(hand_made_conv())


def test_int8_export_refuses_a_float_graph(float_nets):
    with pytest.raises(NnbuildError, match="not quantized"):
        tflite.export(net_convs(0))


def _nnbuild(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nnbuild.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_cli_float_export_of_an_imported_int8_model_is_one_paragraph_and_writes_nothing(tmp_path):
    from test_export_tflite import hand_made_conv

    _write(tmp_path, tflite.export(hand_made_conv()))
    (tmp_path / "models.yaml").write_text(
        "version: 1\nmodels:\n  - name: imported\n    format: tflite\n"
        f"    tflite: {{model: m.tflite}}\n    input: {{mean: {MEAN}, scale: {SCALE}}}\n")
    p = _nnbuild("export", "--manifest", "models.yaml", "--model", "imported", "--format", "tflite", "--float",
                 "-o", "out.tflite", cwd=tmp_path)
    assert p.returncode != 0 and "no float graph" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "out.tflite").exists()
    p = _nnbuild("export", "--manifest", "models.yaml", "--format", "cmake", "--float", "-o", "out", cwd=tmp_path)
    assert p.returncode != 0 and "--format cmake has no float export" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "out").exists()


# -- the real cifar10_m4: Caffe -> float .tflite -> import, float / q7 / int8 ------------------------

@needs_shared
def test_cifar_float_tflite_gives_the_caffe_paths_results(tmp_path):
    from nnbuild import pipeline
    from nnbuild.calibration import load_eval_data
    from nnbuild.manifest import load_manifest

    caffe = {s: load_manifest(ROOT / "manifests" / f).model(n) for s, f, n in
             (("q7", "cifar10.yaml", "cifar10_m4"), ("int8", "cifar10_int8.yaml", "cifar10_m4_int8"))}
    fgraph = pipeline.import_model(caffe["q7"])
    p = _nnbuild("export", "--manifest", str(ROOT / "manifests" / "cifar10.yaml"), "--model", "cifar10_m4",
                 "--format", "tflite", "--float", "-o", str(tmp_path / "cifar.tflite"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "cifar.tflite").read_bytes() == tflite.export_float(fgraph)
    (tmp_path / "models.yaml").write_text("version: 1\nmodels:\n" + "".join(
        f"  - name: cifar_{s}\n    format: tflite\n    model: cifar.tflite\n"
        f"    input: {{channel_order: RGB, mean_file: {CIFAR_MEAN}, scale: 1.0}}\n"
        f"    quantization: {{scheme: {s}, calibration: {CIFAR_CALIB}, samples: 500, strategy: mse"
        f"{', weights: per_channel' if s == 'int8' else ''}}}\n" for s in ("q7", "int8")))
    manifest = load_manifest(tmp_path / "models.yaml")
    graph = pipeline.import_model(manifest.model("cifar_q7"))
    assert_same_float_graph(fgraph, graph)
    images, labels = load_eval_data(CIFAR_TEST, graph)
    assert len(images) == 932
    top1 = {"float": int((reference.run(graph, images).reshape(932, -1).argmax(1) == labels).sum())}
    assert top1["float"] == int((reference.run(fgraph, images).reshape(932, -1).argmax(1) == labels).sum())
    for scheme, entry in caffe.items():
        mine = manifest.model(f"cifar_{scheme}")
        q, _ = pipeline.quantize_graph(mine, pipeline.import_model(mine))
        want, _ = pipeline.quantize_graph(entry, pipeline.import_model(entry))
        out = golden.run(q, images).reshape(932, -1)
        assert np.array_equal(out, golden.run(want, images).reshape(932, -1)), scheme
        top1[scheme] = int((out.argmax(1) == labels).sum())
    print(f"cifar10_m4 through the float .tflite: top-1 {top1} of 932")
    assert top1 == {"float": 743, "q7": 746, "int8": 742}
