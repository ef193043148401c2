"""The real third-party CIFAR-10 network from ../shared, end to end (skipped without ../shared)."""
import json
import subprocess

import numpy as np
import pytest

from conftest import CIFAR_TEST, ROOT, needs_arm, needs_qemu, needs_shared

pytestmark = [needs_shared]


@pytest.fixture(scope="module")
def manifest():
    return ROOT / "manifests" / "cifar10.yaml"   # the committed manifest, referencing ../shared


@pytest.fixture(scope="module")
def models(manifest):
    from nnbuild import golden, pipeline
    from nnbuild.calibration import load_eval_data
    from nnbuild.manifest import load_manifest

    entry = load_manifest(manifest).model("cifar10_m4")
    graph = pipeline.import_model(entry)
    qgraph, report = pipeline.quantize_graph(entry, graph)
    images, labels = load_eval_data(CIFAR_TEST, graph)
    expected = golden.run(qgraph, images).reshape(len(images), -1)
    return entry, graph, qgraph, images, labels, expected


@pytest.fixture(scope="module")
def fw_build(tmp_path_factory):
    """One build dir for the m4 and m55 firmware: the model is imported and quantized once (those
    steps are the targets' common ones), each target's code generated and compiled in it."""
    return tmp_path_factory.mktemp("fw")


def test_q7_accuracy_on_the_test_set(models):
    *_, labels, expected = models
    correct = int((expected.argmax(1) == labels).sum())
    assert correct >= 740, correct  # ARM's original quantized network with its input bug fixed: 740/932


def test_host_build_equals_golden_on_all_test_images(models, tmp_path):
    from nnbuild.hostrun import generate_and_build

    entry, _, qgraph, images, _, expected = models
    for dsp in (False, True):
        host = generate_and_build(qgraph, tmp_path / f"dsp{dsp}", entry.name, dsp=dsp)
        got = host.run(images)
        assert got.shape == expected.shape == (932, 10)
        assert np.array_equal(got, expected), f"dsp={dsp}: {int((got != expected).any(1).sum())} images differ"


@needs_arm
@needs_qemu
def test_qemu_m4_equals_golden_and_eval_agrees(manifest, models, fw_build):
    from nnbuild import firmware

    entry, *_ , images, labels, expected = models
    build = fw_build
    elf = firmware.scons_build(manifest, "m4", build_dir=build)
    got, info = firmware.run_batch(entry, "m4", images[:50], elf=elf)
    assert info["inferences"] == 50 and info["instructions"] > 0
    assert np.array_equal(got, expected[:50])
    assert int((got.argmax(1) == labels[:50]).sum()) == int((expected[:50].argmax(1) == labels[:50]).sum())
    mem = json.loads((build / "m4" / "memory_map.json").read_text())
    # layer by layer, the convs' weights widened to int16 in their scratch (within the 48 KiB budget)
    assert mem["models"]["cifar10_m4"]["arena"] == 45056


@needs_arm
@needs_qemu
def test_qemu_m55_helium_equals_golden(manifest, models, fw_build):
    """The m55 image runs the mve (Helium) kernels: the same bytes as the golden model."""
    from nnbuild import csources, firmware, targets

    assert csources.isa_for(targets.get_target("m55")) == "mve"
    entry, *_, images, _, expected = models
    elf = firmware.scons_build(manifest, "m55", build_dir=fw_build)
    got, info = firmware.run_batch(entry, "m55", images[:50], elf=elf)
    assert info["inferences"] == 50
    assert np.array_equal(got, expected[:50]), f"{int((got != expected[:50]).any(1).sum())} images differ"


@needs_arm
def test_cifar_does_not_fit_m0_layer_by_layer(manifest, tmp_path):
    """With memory: fast the gate refuses it; memory: auto streams it (tests/test_schedule.py)."""
    fast = tmp_path / "cifar10_fast.yaml"
    fast.write_text(manifest.read_text().replace("../../shared", str(ROOT.parent / "shared"))
                    .replace("    budget: {ram: 48KiB}", "    budget: {ram: 48KiB}\n    memory: fast"))
    r = subprocess.run([str(ROOT / ".venv/bin/scons"), "-Q", "-C", str(ROOT), "target=m0", f"manifest={fast}",
                        f"build_dir={tmp_path / 'build'}"], capture_output=True, text=True)
    assert r.returncode != 0
    assert "m0" in r.stderr and "cifar10_m4" in r.stderr, r.stderr
    assert not (tmp_path / "build" / "m0" / "firmware.elf").exists()
