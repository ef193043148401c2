"""`nnbuild` command line on the project's own sample model: results, JSON contract, errors."""
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, needs_arm, needs_qemu

SAMPLE_TEST = ROOT / "models" / "sample" / "test.npz"
pytestmark = pytest.mark.repo_build     # eval/bench use the checkout's build/ (the command's default)


def nnbuild(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "nnbuild.cli", *map(str, args)], cwd=ROOT,
                       capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT / "site_scons"), "PATH": __import__("os").environ["PATH"]})
    if check and r.returncode != 0:
        raise AssertionError(f"nnbuild {args} failed:\n{r.stdout}\n{r.stderr}")
    return r


def last_json(r):
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["float", "quant", "q7", "host"])
def test_eval_sample_model_all_modes(mode):
    res = last_json(nnbuild("eval", "--model", "sample_digits", "--data", SAMPLE_TEST, "--mode", mode))
    assert res["model"] == "sample_digits" and res["mode"] == mode
    assert res["n"] == 1000
    assert res["correct"] == 975  # measured: float and q7 agree on the held-out digits (97.5 %)
    assert res["top1"] == pytest.approx(0.975)


def test_eval_outputs_are_the_golden_bytes(tmp_path):
    """--outputs writes the raw output bytes of every image; host and golden agree on each byte."""
    from nnbuild import golden, pipeline
    from nnbuild.manifest import load_manifest

    files = {}
    for mode in ("quant", "host"):
        files[mode] = tmp_path / f"{mode}.npz"
        nnbuild("eval", "--model", "sample_digits", "--data", SAMPLE_TEST, "--mode", mode, "--limit", 30,
                "--outputs", files[mode])
    out = {m: np.load(f)["outputs"] for m, f in files.items()}
    assert out["quant"].dtype == np.int8 and out["quant"].shape == (30, 10)
    np.testing.assert_array_equal(out["quant"], out["host"])
    entry = load_manifest(ROOT / "models.yaml").model("sample_digits")
    qgraph, _ = pipeline.quantize_graph(entry, pipeline.import_model(entry))
    images = np.load(SAMPLE_TEST)["images"][:30]
    np.testing.assert_array_equal(golden.run(qgraph, images).reshape(30, -1), out["quant"])


def test_eval_outputs_refuses_float_and_leaves_nothing(tmp_path):
    target = tmp_path / "f.npz"
    r = nnbuild("eval", "--model", "sample_digits", "--data", SAMPLE_TEST, "--mode", "float", "--limit", 5,
                "--outputs", target, check=False)
    assert r.returncode == 1 and "--outputs writes the integer output bytes" in r.stderr
    assert not target.exists()


@needs_arm
@needs_qemu
def test_eval_qemu_agrees_with_q7():
    q7 = last_json(nnbuild("eval", "--model", "sample_digits", "--data", SAMPLE_TEST, "--mode", "q7", "--limit", 40))
    qemu = last_json(nnbuild("eval", "--model", "sample_digits", "--data", SAMPLE_TEST, "--mode", "qemu",
                             "--limit", 40, "--target", "m4"))
    assert qemu["n"] == 40 and qemu["correct"] == q7["correct"]


@needs_arm
@needs_qemu
def test_bench_reports_instructions_and_memory():
    res = last_json(nnbuild("bench", "--model", "sample_digits", "--target", "m4"))
    for key in ("instructions", "macs", "ram_bytes", "arena_bytes", "flash_bytes", "layers"):
        assert res[key], key
    assert res["arena_bytes"] == 7840
    assert sum(layer["macs"] for layer in res["layers"]) == res["macs"]
    # per-layer counts add up to the total within the timer resolution (tens of instructions per mark)
    assert abs(sum(layer["instructions"] for layer in res["layers"]) - res["instructions"]) < 0.02 * res["instructions"]
    assert 0.3 < res["instructions"] / res["macs"] < 5


def test_quantize_writes_report_and_deterministic_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    r = nnbuild("quantize", "--model", "sample_digits", "-o", a)
    nnbuild("quantize", "--model", "sample_digits", "-o", b)
    assert "conv1" in r.stdout
    assert "warning" not in r.stderr.lower() and "WARNING" not in r.stdout     # nothing to warn about
    for name in ("quant.json", "quant.npz", "graph.json", "graph.npz"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("args, pattern", [
    (["eval", "--model", "nope", "--data", SAMPLE_TEST], r"nope.*sample_digits"),
    (["eval", "--model", "sample_digits", "--data", "missing.npz"], r"missing\.npz.*evaluation data not found"),
    (["eval", "--manifest", "nowhere.yaml", "--model", "x", "--data", SAMPLE_TEST], r"nowhere\.yaml"),
])
def test_bad_input_is_one_clear_message(args, pattern):
    import re

    r = nnbuild(*args, check=False)
    assert r.returncode == 1
    assert re.search(pattern, r.stderr, re.S), r.stderr
    assert "Traceback" not in r.stderr


def test_failed_import_leaves_no_output(tmp_path):
    proto = tmp_path / "bad.prototxt"
    proto.write_text('name: "x"\nlayer { name: "a" type: "Convolution" bottom: "data" top: "a" \n')
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"""version: 1
models:
  - name: bad
    format: caffe
    prototxt: {proto}
    weights: {ROOT / 'models/sample/sample.caffemodel.h5'}
    input: {{shape: [28, 28, 1], mean: [0]}}
""")
    out = tmp_path / "out"
    r = nnbuild("import", "--manifest", manifest, "--model", "bad", "-o", out, check=False)
    assert r.returncode == 1 and "bad.prototxt" in r.stderr and "line" in r.stderr, r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_quantize_report_with_an_eval_set(tmp_path):
    out = nnbuild("quantize", "--model", "sample_digits", "-o", tmp_path, "--data", SAMPLE_TEST).stdout
    assert "top-1 on 1000 images: float 975 (97.50 %), q7 975 (97.50 %)" in out
    assert out == (tmp_path / "quant_report.txt").read_text()


def test_eval_refuses_labels_that_do_not_match_the_images(tmp_path):
    """20 images and 1 label gave {"n": 1, "correct": 2, "top1": 2.0}."""
    data = tmp_path / "mismatch.npz"
    with np.load(SAMPLE_TEST) as z:
        np.savez(data, images=z["images"][:20], labels=z["labels"][:1])
    r = nnbuild("eval", "--model", "sample_digits", "--data", data, check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert f"{data}, labels: 1 labels for 20 images" in r.stderr and "Traceback" not in r.stderr


def edge_model(d):
    """A 1x1 conv net whose calibration data make mse saturate 2.3 % of the input tensor's values
    (x = p * 1.02/255 on uniform pixels: frac bits 7 clips everything above 0.996)."""
    from nnbuild.frontends.caffe.writer import conv, write_caffe

    write_caffe("edge", "data", (1, 1, 8, 8), [conv("c", "data", "c", np.ones((1, 1, 1, 1)), np.zeros(1))],
                d / "edge.prototxt", d / "edge.caffemodel.h5")
    np.savez(d / "calib.npz", images=np.random.default_rng(0).integers(0, 256, (50, 8, 8), dtype=np.uint8))
    manifest = {"version": 1, "models": [{
        "name": "edge", "format": "caffe", "prototxt": str(d / "edge.prototxt"),
        "weights": str(d / "edge.caffemodel.h5"), "input": {"shape": [8, 8, 1], "mean": [0], "scale": 1.02 / 255},
        "quantization": {"calibration": str(d / "calib.npz")}}]}
    (d / "edge.yaml").write_text(json.dumps(manifest))
    return d / "edge.yaml"


def test_quantize_prints_warnings_on_stderr_and_still_succeeds(tmp_path):
    manifest = edge_model(tmp_path)
    r = nnbuild("quantize", "--manifest", manifest, "--model", "edge", "-o", tmp_path / "out")
    warnings = [line for line in r.stderr.splitlines() if line.startswith("nnbuild: warning: model 'edge': ")]
    assert len(warnings) == 2 and "tensor 'data' (frac bits 7" in warnings[0], r.stderr
    assert "2.3 % of its values saturate" in warnings[0] and "tensor 'c'" in warnings[1]
    assert r.stdout.startswith("q7 quantization of 'edge'") and "WARNING: tensor 'data'" in r.stdout
    assert (tmp_path / "out" / "quant.json").exists()


def test_eval_reuses_the_builds_quantized_model_only_when_up_to_date(tmp_path):
    build = tmp_path / "build"
    model_dir = build / "models" / "sample_digits"
    nnbuild("quantize", "--model", "sample_digits", "-o", model_dir)

    def evaluate(mode="q7", manifest=ROOT / "models.yaml"):
        r = nnbuild("eval", "--manifest", manifest, "--model", "sample_digits", "--data", SAMPLE_TEST,
                    "--mode", mode, "--build-dir", build)
        assert last_json(r)["n"] == 1000 and (manifest != ROOT / "models.yaml" or last_json(r)["correct"] == 975)
        return r.stderr

    for mode in ("q7", "host"):
        assert "using the quantized model of the build" in evaluate(mode)
    # the files no longer match their record: never trusted
    npz = model_dir / "quant.npz"
    good = npz.read_bytes()
    npz.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    assert "quantizing 'sample_digits' (quant.json/.npz differ from what quant.record.json records)" in evaluate()
    npz.write_bytes(good)
    assert "using the quantized model of the build" in evaluate()
    # other settings than the build's: the record's fingerprint no longer matches
    text = (ROOT / "models.yaml").read_text()
    assert "samples: 300" in text
    other = tmp_path / "models.yaml"
    other.write_text(text.replace("samples: 300", "samples: 299").replace("models/sample/", f"{ROOT}/models/sample/"))
    assert "quantizing 'sample_digits' (the model, calibration data, settings or quantizer changed" in \
        evaluate(manifest=other)
    (model_dir / "quant.record.json").unlink()
    assert "quantizing 'sample_digits' (no quantized model with a record" in evaluate()
