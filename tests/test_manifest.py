"""models.yaml loading: values, path resolution, fingerprints, and errors naming file/line/key."""
import os
import textwrap

import pytest

from nnbuild.errors import NnbuildError
from nnbuild.manifest import QUANT_STRATEGIES, load_manifest, parse_size

GOOD = """\
version: 1
defaults:
  target: m4
budgets:
  m4: {ram: 128KiB, flash: 1.5MiB}
  m0: {ram: "48 KB"}
models:
  - name: cifar10_m4
    format: caffe
    prototxt: nets/cifar.prototxt
    weights: ../w/cifar.caffemodel.h5
    input:
      shape: [32, 32, 3]
      channel_order: BGR
      mean_file: nets/mean.binaryproto
      scale: 0.5
    labels: [airplane, "no", yes, 7]
    quantization:
      scheme: q7
      calibration: data/calib.npz
      samples: 500
      strategy: minmax
    budget: {ram: 65536}
    targets: [m4, m0]
  - name: digits
    prototxt: d.prototxt
    weights: d.caffemodel
    input: {shape: [28, 28, 1], mean: 33.3}
    labels: labels.txt
"""


def write(tmp_path, text, name="models.yaml"):
    path = tmp_path / "proj" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def good(tmp_path):
    path = write(tmp_path, GOOD)
    (path.parent / "labels.txt").write_text("zero\none\n\ntwo\n")
    return path


def d_builds_everywhere(entry):
    return entry.targets is None and all(entry.builds_for(t) for t in ("m0", "m4", "m55"))


def test_values_defaults_and_paths(good):
    m = load_manifest(good)
    base = os.path.dirname(str(good))
    assert m.version == 1 and m.default_target == "m4"
    assert m.budget("m4") == {"ram": 131072, "flash": 1572864}
    assert m.budget("m0") == {"ram": 49152}
    assert m.budget("m7") == {}
    a = m.model("cifar10_m4")
    assert a.source == {"prototxt": os.path.join(base, "nets", "cifar.prototxt"),
                        "weights": os.path.normpath(os.path.join(base, "..", "w", "cifar.caffemodel.h5"))}
    assert (a.input.shape, a.input.channel_order, a.input.scale) == ((32, 32, 3), "BGR", 0.5)
    assert a.input.mean_file == os.path.join(base, "nets", "mean.binaryproto") and a.input.mean is None
    assert a.labels == ("airplane", "no", "yes", "7")   # raw YAML text, not booleans/ints
    q = a.quantization
    assert (q.scheme, q.samples, q.strategy) == ("q7", 500, "minmax")
    assert q.calibration == os.path.join(base, "data", "calib.npz")
    assert a.budget == {"ram": 65536} and a.targets == ("m4", "m0") and a.index == 0
    assert a.builds_for("m0") and not a.builds_for("m7") and d_builds_everywhere(m.model("digits"))
    d = m.model("digits")
    assert d.format == "caffe" and d.input.channel_order == "GRAY" and d.input.mean == (33.3,)
    assert d.input.scale is None and d.labels == ("zero", "one", "two")
    assert d.quantization.strategy == "mse" and d.quantization.calibration is None and d.targets is None
    assert d.source_files() == [os.path.join(base, "d.prototxt"), os.path.join(base, "d.caffemodel"),
                                os.path.join(base, "labels.txt")]
    files = [a.source["prototxt"], a.source["weights"], a.input.mean_file]
    assert a.source_files() == files + [q.calibration] and a.import_files() == files
    assert a.manifest_path == str(good) and d.index == 1
    assert "mse" in QUANT_STRATEGIES and "minmax" in QUANT_STRATEGIES


def test_fingerprint_changes_only_for_the_edited_model(good, tmp_path):
    before = load_manifest(good)
    assert before.model("digits").fingerprint() == load_manifest(good).model("digits").fingerprint()
    edited = GOOD.replace("samples: 500", "samples: 400").replace("ram: 128KiB", "ram: 256KiB")
    # moving a model down by adding lines above it must not change anything either
    edited = edited.replace("models:\n", "models:\n\n\n")
    good.write_text(edited)
    after = load_manifest(good)
    assert after.model("digits").fingerprint() == before.model("digits").fingerprint()
    a0, a1 = before.model("cifar10_m4"), after.model("cifar10_m4")
    assert a1.fingerprint() != a0.fingerprint()
    assert a1.fingerprint("input", "source") == a0.fingerprint("input", "source")
    assert '"samples":400' in a1.fingerprint("quantization")


@pytest.mark.parametrize("text, expected", [
    (65536, 65536), ("65536", 65536), ("128KiB", 131072), ("1.5MiB", 1572864), ("48 KB", 49152),
    ("2k", 2048), ("1 GiB", 1 << 30), ("512 B", 512), ("0.5KiB", 512),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["12 parsecs", "KiB", "-1", "1.3B", "", True, -5, "1e3"])
def test_parse_size_rejects_garbage(text):
    with pytest.raises(NnbuildError):
        parse_size(text)


@pytest.mark.parametrize("change, pattern", [
    (("    format: caffe\n", "    fromat: caffe\n"),
     r"line 9, models\[0\]\.fromat: unknown key 'fromat' \(did you mean 'format'\?\)"),
    (("      channel_order: BGR\n", "      chanel_order: BGR\n"),
     r"line 14, models\[0\]\.input\.chanel_order: unknown key .*did you mean 'channel_order'"),
    (("      strategy: minmax", "      strategy: kl"),
     r"line 22, models\[0\]\.quantization\.strategy: 'kl' is not allowed \(expected one of minmax, mse\)"),
    (("      strategy: minmax", "      strategy: minmax\n      weights: per_channel"),
     r"line 23, models\[0\]\.quantization\.weights: q7 has one power-of-two weight format per layer.*"
     r"expected scheme: int8"),
    (("      strategy: minmax", "      strategy: minmax\n      weights: per_layer"),
     r"line 23, .*weights: 'per_layer' is not allowed .*\(expected one of per_channel, per_tensor\)"),
    (("shape: [32, 32, 3]", "shape: [32, 32]"), r"line 13, models\[0\]\.input\.shape: 2 dimensions \(expected \[H, W, C\]\)"),
    (("shape: [32, 32, 3]", "shape: [32, x, 3]"), r"line 13, models\[0\]\.input\.shape\[1\]: 'x' is not an integer"),
    (("channel_order: BGR", "channel_order: GRAY"), r"line 14, models\[0\]\.input\.channel_order: GRAY does not fit 3"),
    (("channel_order: BGR", "channel_order: RBG"), r"line 14, .*'RBG' is not allowed \(did you mean 'RGB'\?\)"),
    (("  - name: digits", "  - name: 2digits"), r"line 25, models\[1\]\.name: '2digits' is not a C identifier"),
    (("  - name: digits", "  - name: cifar10_m4"), r"line 25, models\[1\]\.name: duplicate model name 'cifar10_m4'"),
    (("      scale: 0.5\n", "      scale: 0.5\n      mean: [1, 2, 3]\n"),
     r"line 17, models\[0\]\.input\.mean: both mean and mean_file are given"),
    (("ram: 65536", "ram: 12 parsecs"), r"line 23, models\[0\]\.budget\.ram: '12 parsecs' is not a size"),
    (("  m0: {ram: \"48 KB\"}", "  m0: {rom: 1}"), r"line 6, budgets\.m0\.rom: unknown key 'rom'"),
    (("version: 1", "version: 2"), r"line 1, version: unsupported manifest version 2"),
    (("    targets: [m4, m0]", "    targets: [m4, m0]\n    memory: tiny"),
     r"line 25, models\[0\]\.memory: 'tiny' is not allowed \(expected one of auto, fast, small\)"),
    (("    weights: d.caffemodel\n", ""), r"line 25, models\[1\]: missing key 'weights'"),
    (("    weights: d.caffemodel\n", "    caffe: {weights: d.caffemodel}\n"),
     r"line 27, models\[1\]\.caffe: the model's files are given twice"),
    (("    prototxt: d.prototxt\n    weights: d.caffemodel\n", "    caffe: {prototxt: d.prototxt, wieghts: x}\n"),
     r"line 26, models\[1\]\.caffe\.wieghts: unknown key 'wieghts' \(did you mean 'weights'\?\)"),
    (("samples: 500", "samples: 0"), r"line 21, models\[0\]\.quantization\.samples: 0 is too small"),
    (("scheme: q7", "scheme: int4"), r"line 19, models\[0\]\.quantization\.scheme: 'int4' is not allowed"),
    (("    labels: labels.txt", "    labels: nolabels.txt"), r"line 29, models\[1\]\.labels: labels file not found"),
    (("    format: caffe", "    format: darknet"), r"line 9, models\[0\]\.format: 'darknet' is not allowed \(expected one of caffe, onnx, tflite\)"),
    (("    weights: d.caffemodel\n", "    weights: d.caffemodel\n    weights: e.caffemodel\n"),
     r"line 28, models\[1\]\.weights: duplicate key 'weights'"),
])
def test_errors_name_file_line_and_key(good, change, pattern):
    assert change[0] in GOOD
    good.write_text(GOOD.replace(*change))
    with pytest.raises(NnbuildError, match=r"models\.yaml, " + pattern):
        load_manifest(good)


def test_malformed_yaml_and_missing_file(tmp_path):
    path = write(tmp_path, "version: 1\nmodels:\n  - name: [a\n    weights: x\n")
    with pytest.raises(NnbuildError, match=r"models\.yaml, line \d+, column \d+: malformed YAML"):
        load_manifest(path)
    with pytest.raises(NnbuildError, match=r"absent\.yaml: manifest not found"):
        load_manifest(tmp_path / "absent.yaml")
    with pytest.raises(NnbuildError, match=r"empty\.yaml: manifest is empty"):
        load_manifest(write(tmp_path, "", "empty.yaml"))


def test_unknown_model_and_known_targets(good):
    m = load_manifest(good)
    with pytest.raises(NnbuildError, match=r"no model named 'digit' \(did you mean 'digits'\?\) "
                                           r"\(expected one of cifar10_m4, digits\)"):
        m.model("digit")
    load_manifest(good, targets=("m0", "m4", "m7"))
    with pytest.raises(NnbuildError, match=r"line 3, defaults\.target: unknown target 'm4' \(did you mean 'm44'\?\)"):
        load_manifest(good, targets=("m0", "m44"))


def test_check_files_names_the_manifest_line(good):
    entry = load_manifest(good).model("cifar10_m4")
    with pytest.raises(NnbuildError, match=r"models\.yaml, line 10, models\[0\]\.prototxt: file not found: .*cifar\.prototxt"):
        entry.check_files()
    nets = good.parent / "nets"
    nets.mkdir()
    (nets / "cifar.prototxt").write_text("")
    with pytest.raises(NnbuildError, match=r"line 11, models\[0\]\.weights: file not found"):
        entry.check_files()


# -- hostile manifests: one clear error each, no traceback ---------------------------------------

@pytest.mark.parametrize("change, pattern", [
    (("version: 1", "version: !!int abc"), r"line 1, version: YAML tag '!!int' is not allowed"),
    (("  target: m4", "  target: !!timestamp abc"), r"line 3, defaults\.target: YAML tag '!!timestamp' is not allowed"),
    (("    samples: 500", "    samples: !!python/name:os.system"),
     r"line 21, models\[0\]\.quantization\.samples: YAML tag '!!python/name:os.system' is not allowed"),
    (("    weights: d.caffemodel", "    weights: !!binary xyz"), r"line 27, models\[1\]\.weights: YAML tag '!!binary'"),
    (("  m0: {ram: \"48 KB\"}", "  m0: !!set {ram: 1}"), r"line 6, budgets\.m0: YAML tag '!!set' is not allowed"),
    (("models:\n", "models: !!omap\n"), r"line 7, models: YAML tag '!!omap' is not allowed"),
    (("    samples: 500", "    samples: 2001-02-30"), r"line 21, models\[0\]\.quantization\.samples: '2001-02-30' is "
                                                       r"not a valid value \(day is out of range"),
    (("  target: m4", "  target: m9"), r"line 3, defaults\.target: unknown target 'm9' \(expected one of m0, m3, m4, "
                                       r"m7, m33, m55\)"),
    (("  target: m4", "  target: host"), r"line 3, defaults\.target: unknown target 'host'"),
    (("  m4: {ram", "  m44: {ram"), r"line 5, budgets\.m44: unknown target 'm44' \(did you mean 'm4'\?\)"),
    (("targets: [m4, m0]", "targets: [m4, m5]"), r"line \d+, models\[0\]\.targets\[1\]: unknown target 'm5'"),
])
def test_hostile_values_are_refused_with_file_line_and_key(good, change, pattern):
    assert change[0] in GOOD
    good.write_text(GOOD.replace(*change, 1))
    with pytest.raises(NnbuildError, match=r"models\.yaml, " + pattern):
        load_manifest(good)


def test_nul_byte_deep_nesting_and_size(tmp_path):
    nul = write(tmp_path, GOOD.replace("  - name: digits", "  - name: dig\0its"), "nul.yaml")
    with pytest.raises(NnbuildError, match=r"nul\.yaml, line 25, column 14: malformed YAML: character U\+0000 "
                                           r"is not allowed"):
        load_manifest(nul)
    for deep in ("version: 1\nmodels: " + "[" * 5000 + "]" * 5000 + "\n",
                 "version: 1\nmodels: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
                 "version: 1\nx:\n" + "".join(" " * i + "- \n" for i in range(0, 400, 2))):
        path = write(tmp_path, deep, "deep.yaml")
        with pytest.raises(NnbuildError, match=r"deep\.yaml, line \d+: values nested more than 32 deep"):
            load_manifest(path)
    big = write(tmp_path, "version: 1\n" + "#" * (1 << 20) + "\n", "big.yaml")
    with pytest.raises(NnbuildError, match=r"big\.yaml: manifest is larger than 1048576 bytes"):
        load_manifest(big)


def test_binary_junk_names_the_line(tmp_path):
    path = write(tmp_path, "", "bin.yaml")
    path.write_bytes(b"version: 1\nmodels:\n  - name: \xff\xfe\n")
    with pytest.raises(NnbuildError, match=r"bin\.yaml, line 3: manifest is not UTF-8 text \(byte 0xff\)"):
        load_manifest(path)


def test_devices_and_endless_files_are_refused_unread(good):
    good.write_text(GOOD.replace("labels: labels.txt", "labels: /dev/zero"))
    with pytest.raises(NnbuildError, match=r"line 29, models\[1\]\.labels: labels file is not a regular file: /dev/zero"):
        load_manifest(good)
    with pytest.raises(NnbuildError, match=r"^/dev/zero: manifest is not a regular file"):
        load_manifest("/dev/zero")
