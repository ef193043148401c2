"""Random Caffe networks through the whole product: writer -> SCons build -> QEMU -> golden bytes.

Seeded random nets (strides, paddings, dilation, depthwise groups, max/avg pooling with Caffe's
ceil mode, a branch with Eltwise SUM and Concat, LRN in both regions, PReLU and a Scale that
cannot fold, RGB/BGR/GRAY inputs) are written as Caffe files, quantized with q7 and (the nets
without the q7-only layers) with int8,
built into one firmware per target and run in QEMU on the DSP (m4, m55) and plain ARMv6-M (m0)
kernel paths; every output byte must equal the golden model. The same firmware then checks the C
preprocessing against its numpy twin inside QEMU.
"""
import json
import math
import re
import subprocess

import numpy as np
import pytest

from conftest import ROOT, needs_arm, needs_qemu
from nnbuild import ir
from nnbuild.frontends.caffe.writer import Enum, Layer, conv, inner_product, pool, relu, write_caffe

pytestmark = [needs_arm, needs_qemu]
SCONS = str(ROOT / ".venv" / "bin" / "scons")
SEEDS = (11, 12, 13, 14)


def _conv_block(rng, layers, blob, c, h, w, i):
    k = int(rng.choice([1, 3, 5]))
    dil = int(rng.choice([1, 2])) if k > 1 else 1
    ext = dil * (k - 1) + 1
    pad = int(rng.integers(0, ext // 2 + 1))
    stride = int(rng.choice([1, 1, 2]))
    if min(h, w) + 2 * pad < ext:
        k, dil, ext, pad = 1, 1, 1, 0
    group, out = (c, c) if c > 1 and rng.random() < 0.3 else (1, int(rng.choice([4, 6, 8])))
    fan_in = c // group * k * k
    weight = rng.normal(0, math.sqrt(2 / fan_in), (out, c // group, k, k))
    name = f"conv{i}"
    layers.append(conv(name, blob, name, weight, rng.normal(0, 0.2, out), pad=pad, stride=stride,
                       group=group, dilation=dil))
    h, w = (ir.conv_output_size(s, k, stride, pad, dil) for s in (h, w))
    if rng.random() < 0.7:
        layers.append(relu(f"relu{i}", name))
    if rng.random() < 0.6 and min(h, w) >= 3:
        pk, ps = int(rng.choice([2, 3])), int(rng.choice([1, 2]))
        pp = int(rng.integers(0, 2)) if pk == 3 else 0
        pname = f"pool{i}"
        layers.append(pool(pname, name, pname, pk, ps, str(rng.choice(["MAX", "AVE"])), pp))
        name = pname
        h, w = (ir.pool_output_size(s, pk, ps, pp) for s in (h, w))
    return name, out, h, w


def random_net(seed, d, scheme="q7"):
    """Write a random Caffe net + calibration images; returns its manifest entry (dict)."""
    rng = np.random.default_rng(seed)
    c0 = int(rng.choice([1, 3]))
    h0, w0 = int(rng.integers(8, 17)), int(rng.integers(8, 17))
    layers, blob, c, h, w = [], "data", c0, h0, w0
    for i in range(int(rng.integers(1, 4))):
        blob, c, h, w = _conv_block(rng, layers, blob, c, h, w, i)
    if seed == SEEDS[0]:  # a branching graph: two 1x1 convs summed, then concatenated with the trunk
        for b in ("a", "b"):
            layers.append(conv(f"br_{b}", blob, f"br_{b}", rng.normal(0, 0.5, (4, c, 1, 1)), rng.normal(0, 0.1, 4)))
        layers.append(Layer("sum", "Eltwise", ["br_a", "br_b"], ["sum"]))
        layers.append(Layer("cat", "Concat", [blob, "sum"], ["cat"]))
        blob, c = "cat", c + 4
    if seed == SEEDS[1]:  # the layers that have no conv to fold into: LRN (both regions), PReLU, Scale
        layers.append(Layer("lrn_w", "LRN", [blob], ["lrn_w"], {"lrn_param": {
            "local_size": 3, "alpha": 2.0, "beta": 0.75, "norm_region": Enum("WITHIN_CHANNEL")}}))
        layers.append(Layer("prelu", "PReLU", ["lrn_w"], ["lrn_w"], blobs=[rng.uniform(-0.5, 1.5, c)]))
        layers.append(Layer("scale", "Scale", ["lrn_w"], ["scale"], {"scale_param": {"bias_term": True}},
                            [rng.uniform(-2, 2, c), rng.normal(0, 0.3, c)]))
        layers.append(Layer("lrn_a", "LRN", ["scale"], ["lrn_a"], {"lrn_param": {
            "local_size": 5, "alpha": 1.0, "beta": 0.75, "k": 2.0}}))
        blob = "lrn_a"
    n = int(rng.integers(3, 11))
    layers.append(inner_product("ip", blob, "ip", rng.normal(0, math.sqrt(1 / (c * h * w)), (n, c * h * w)),
                                rng.normal(0, 0.1, n)))
    proto, h5 = d / f"rand{seed}.prototxt", d / f"rand{seed}.caffemodel.h5"
    write_caffe(f"rand{seed}", "data", (1, c0, h0, w0), layers, proto, h5)
    calib = d / f"rand{seed}_calib.npz"
    images = rng.integers(0, 256, (40, h0, w0, c0), dtype=np.uint8)
    np.savez(calib, images=images if c0 == 3 else images[..., 0])
    order = "GRAY" if c0 == 1 else str(rng.choice(["RGB", "BGR"]))
    return {"name": f"rand{seed}", "format": "caffe", "prototxt": str(proto), "weights": str(h5),
            "input": {"shape": [h0, w0, c0], "channel_order": order, "mean": [120.0] * c0, "scale": 1 / 64},
            "quantization": {"scheme": scheme, "calibration": str(calib), "samples": 40}}


@pytest.fixture(scope="module")
def random_manifest(tmp_path_factory):
    d = tmp_path_factory.mktemp("random_nets")
    manifest = {"version": 1, "defaults": {"target": "m4"}, "models": [random_net(s, d) for s in SEEDS]}
    path = d / "random.yaml"
    path.write_text(json.dumps(manifest, indent=1))  # JSON is YAML
    return path


# int8: the nets whose layers the int8 scheme has (LRN, PReLU and an unfoldable Scale are q7's only)
INT8_SEEDS = tuple(s for s in SEEDS if s != SEEDS[1])


@pytest.fixture(scope="module")
def random_manifest_int8(tmp_path_factory):
    d = tmp_path_factory.mktemp("random_nets_int8")
    manifest = {"version": 1, "defaults": {"target": "m4"},
                "models": [random_net(s, d, scheme="int8") for s in INT8_SEEDS]}
    path = d / "random_int8.yaml"
    path.write_text(json.dumps(manifest, indent=1))
    return path


def scons(*args):
    r = subprocess.run([SCONS, "-Q", "-C", str(ROOT), *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"scons {args} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.mark.parametrize("target", ["m4", "m0", "m55"])
def test_random_nets_in_qemu_equal_golden(random_manifest, target):
    out = scons(f"target={target}", f"manifest={random_manifest}", f"build_dir={random_manifest.parent / 'build'}",
                "check", "samples=12")
    for seed in SEEDS:
        assert re.search(rf"\[check\] {target} rand{seed}: 12/12 outputs identical", out), out


@pytest.mark.parametrize("target", ["m4", "m0", "m55"])
def test_random_int8_nets_in_qemu_equal_golden(random_manifest_int8, target):
    out = scons(f"target={target}", f"manifest={random_manifest_int8}",
                f"build_dir={random_manifest_int8.parent / 'build'}", "check", "samples=12")
    for seed in INT8_SEEDS:
        assert re.search(rf"\[check\] {target} rand{seed}: 12/12 outputs identical", out), out


def test_random_int8_nets_on_the_host_equal_golden(random_manifest_int8, tmp_path):
    """The same nets' generated C on the host (portable and emulated-DSP kernels) on 40 images."""
    from nnbuild import golden, pipeline
    from nnbuild.hostrun import generate_and_build
    from nnbuild.manifest import load_manifest

    for entry in load_manifest(random_manifest_int8).models:
        graph = pipeline.import_model(entry)
        qgraph, _ = pipeline.quantize_graph(entry, graph)
        assert qgraph.meta["quantization"]["scheme"] == "int8"
        images = pipeline.load_calibration(entry, graph)
        expected = golden.run(qgraph, images).reshape(len(images), -1)
        for dsp in (False, True):
            got = generate_and_build(qgraph, tmp_path / f"{entry.name}_{dsp}", entry.name, dsp=dsp).run(images)
            assert np.array_equal(got, expected), (entry.name, dsp)


def test_preprocessing_in_qemu_equals_numpy(random_manifest, tmp_path):
    """C nn_preprocess on the Cortex-M4 == nnbuild.preprocess, on random frames and options."""
    from nnbuild import firmware, preprocess
    from nnbuild.targets import get_target

    build = random_manifest.parent / "build"
    scons("target=m4", f"manifest={random_manifest}", f"build_dir={build}", "frame_bytes=12000")
    elf, target = build / "m4" / "firmware.elf", get_target("m4")
    models = json.loads(random_manifest.read_text())["models"]
    rng = np.random.default_rng(5)
    formats = ["rgb888", "bgr888", "rgb565le", "rgb565be", "gray8"]
    for case in range(16):
        m = models[case % len(models)]
        h_in, w_in, c_in = m["input"]["shape"]
        fmt, resize = formats[case % 5], ["nearest", "bilinear"][case % 2]
        fit = ["stretch", "crop", "letterbox"][case % 3]
        fh, fv = int(rng.integers(0, 2)), int(rng.integers(0, 2))
        w, h = int(rng.integers(1, 70)), int(rng.integers(1, 50))
        if fmt.startswith("rgb565"):
            frame = rng.integers(0, 65536, (h, w), dtype=np.uint16)
        elif fmt == "gray8":
            frame = rng.integers(0, 256, (h, w), dtype=np.uint8)
        else:
            frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        raw, out = tmp_path / f"f{case}.raw", tmp_path / f"o{case}.bin"
        raw.write_bytes(preprocess.frame_bytes(frame, fmt))
        firmware.execute(elf, target, ["preprocess", m["name"], raw, w, h, fmt, resize, fit, fh, fv, out])
        expected = preprocess.preprocess(frame, fmt, h_in, w_in, c_in, m["input"]["channel_order"],
                                         resize=resize, fit=fit, flip_h=bool(fh), flip_v=bool(fv))
        got = np.frombuffer(out.read_bytes(), np.uint8)
        assert np.array_equal(got, np.asarray(expected).reshape(-1)), (case, fmt, resize, fit, w, h)


@pytest.mark.repo_build
def test_the_readme_run_command_prints_the_right_label():
    """The README's `scons target=m4 run image=...` names a shipped held-out digit (84x84, resized
    by the C preprocessing) and prints its label first, on the M4 in QEMU."""
    readme = (ROOT / "README.md").read_text()
    cmd = re.search(r"^scons (target=m4 run image=(\S+))", readme, re.M)
    assert cmd, "the README shows no scons run command"
    image = ROOT / cmd.group(2)
    assert image.is_file(), image
    digit = re.fullmatch(r"digit_(\d)\.png", image.name).group(1)
    out = scons(*cmd.group(1).split(), f"build_dir={ROOT / 'build'}")
    first = re.search(r"^1\. (\S+) \(class (\d+)\)", out, re.M)
    assert first and first.group(1) == digit, out
