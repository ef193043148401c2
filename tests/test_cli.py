"""`nnbuild` command line on the project's own sample model: results, JSON contract, errors."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, needs_arm, needs_qemu

SAMPLE_TEST = ROOT / "models" / "sample" / "test.npz"


def nnbuild(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "nnbuild.cli", *map(str, args)], cwd=ROOT,
                       capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT / "site_scons"), "PATH": __import__("os").environ["PATH"]})
    if check and r.returncode != 0:
        raise AssertionError(f"nnbuild {args} failed:\n{r.stdout}\n{r.stderr}")
    return r


def last_json(r):
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["float", "q7", "host"])
def test_eval_sample_model_all_modes(mode):
    res = last_json(nnbuild("eval", "--model", "sample_digits", "--data", SAMPLE_TEST, "--mode", mode))
    assert res["model"] == "sample_digits" and res["mode"] == mode
    assert res["n"] == 1000
    assert res["correct"] == 975  # measured: float and q7 agree on the held-out digits (97.5 %)
    assert res["top1"] == pytest.approx(0.975)


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
    out = nnbuild("quantize", "--model", "sample_digits", "-o", a).stdout
    nnbuild("quantize", "--model", "sample_digits", "-o", b)
    assert "conv1" in out
    for name in ("quant.json", "quant.npz", "graph.json", "graph.npz"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("args, pattern", [
    (["eval", "--model", "nope", "--data", SAMPLE_TEST], r"nope.*sample_digits"),
    (["eval", "--model", "sample_digits", "--data", "missing.npz"], r"missing\.npz"),
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
