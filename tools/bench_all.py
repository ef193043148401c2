#!/usr/bin/env python3
"""Every headline number in one JSON line: accuracy, quantization/eval time, and per target the
instructions per inference, RAM, flash, arena and linked kernel bytes of each model's firmware (QEMU).

    .venv/bin/python tools/bench_all.py [--targets m0,m4] [--skip-cifar]

Models: the project's sample model (models.yaml, q7; manifests/sample_int8.yaml, int8) and, when
../shared is present, cifar10_m4 (manifests/cifar10.yaml, q7; manifests/cifar10_int8.yaml, int8).
"quant" is the golden model of the model's scheme. A model that does not fit a target's budget is reported
as {"fits": false, "error": ...} for that target, which is a result, not a failure.
"""
import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "site_scons"))

from nnbuild import calibration, cli, firmware, pipeline  # noqa: E402
from nnbuild.errors import NnbuildError  # noqa: E402
from nnbuild.manifest import load_manifest  # noqa: E402

SAMPLE_TEST = ROOT / "models" / "sample" / "test.npz"
CIFAR_TEST = ROOT.parent / "shared" / "datasets" / "cifar10" / "test.npz"
MODELS = [
    ("sample_digits", ROOT / "models.yaml", SAMPLE_TEST),
    ("sample_int8", ROOT / "manifests" / "sample_int8.yaml", SAMPLE_TEST),
    ("cifar10_m4", ROOT / "manifests" / "cifar10.yaml", CIFAR_TEST),
    ("cifar10_m4_int8", ROOT / "manifests" / "cifar10_int8.yaml", CIFAR_TEST),
]


def accuracy(entry, data):
    graph = pipeline.import_model(entry)
    images, labels = calibration.load_eval_data(data, graph)
    out = {"n": int(len(labels))}
    for mode in ("float", "quant"):
        t0 = time.perf_counter()
        predict = cli.make_predictor(entry, graph, mode)
        t1 = time.perf_counter()
        correct = int((predict(images).argmax(1) == labels).sum())
        out[mode] = {"correct": correct, "top1": round(correct / len(labels), 4),
                     "seconds": round(time.perf_counter() - t1, 2)}
        if mode == "quant":
            out[mode]["scheme"] = entry.quantization.scheme
            out[mode]["quantize_seconds"] = round(t1 - t0, 2)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", default="m0,m3,m4,m7,m33,m55")
    ap.add_argument("--skip-cifar", action="store_true")
    args = ap.parse_args(argv)
    result = {}
    for name, manifest, data in MODELS:
        if name.startswith("cifar10") and (args.skip_cifar or not data.exists()):
            continue
        entry = load_manifest(manifest).model(name)
        r = {"accuracy": accuracy(entry, data), "targets": {}}
        for t in args.targets.split(","):
            try:
                b = firmware.bench(entry, t, manifest, ROOT / "build" / "bench")
                r["targets"][t] = {"fits": True, **{k: b[k] for k in (
                    "instructions", "macs", "instructions_per_mac", "ram_bytes", "flash_bytes",
                    "arena_bytes", "weights_bytes", "kernel_bytes")}}
            except NnbuildError as e:
                r["targets"][t] = {"fits": False, "error": str(e).splitlines()[-3:]}
        result[name] = r
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
