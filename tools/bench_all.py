#!/usr/bin/env python3
"""Every headline number in one JSON line: accuracy, and per model and target the instructions and
estimated cycles per inference, instructions per MAC of each conv layer, RAM, flash, NN flash
(the memory map's model + kernels groups), arena, linked kernel bytes and a bit-exactness check in
QEMU; then issue 13's goals, each with its value, limit and whether it holds.

    .venv/bin/python tools/bench_all.py [--targets m0,m4] [--skip-cifar] [--skip-accuracy] [--check N]

Models: the project's sample model (models.yaml, q7; manifests/sample_int8.yaml, int8) and, when
../shared is present, cifar10_m4 (manifests/cifar10.yaml, q7; manifests/cifar10_int8.yaml, int8).
"quant" is the golden model of the model's scheme. A model that does not fit a target's budget is
reported as {"fits": false, "error": ...} for that target, which is a result, not a failure; any
other error is reported the same way under "error" and makes the exit status 1.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "site_scons"))

from nnbuild import calibration, cli, firmware, golden, ir, pipeline  # noqa: E402
from nnbuild.errors import NnbuildError  # noqa: E402
from nnbuild.manifest import load_manifest  # noqa: E402

BUILD = ROOT / "build" / "bench"
SAMPLE_TEST = ROOT / "models" / "sample" / "test.npz"
CIFAR_TEST = ROOT.parent / "shared" / "datasets" / "cifar10" / "test.npz"
MODELS = [
    ("sample_digits", ROOT / "models.yaml", SAMPLE_TEST),
    ("sample_int8", ROOT / "manifests" / "sample_int8.yaml", SAMPLE_TEST),
    ("cifar10_m4", ROOT / "manifests" / "cifar10.yaml", CIFAR_TEST),
    ("cifar10_m4_int8", ROOT / "manifests" / "cifar10_int8.yaml", CIFAR_TEST),
]
BENCH_FIELDS = ("instructions", "macs", "instructions_per_mac", "cycles_estimate", "cycles_per_mac",
                "cycle_table", "clock_hz", "latency_ms", "ram_bytes", "flash_bytes", "arena_bytes",
                "weights_bytes", "kernel_bytes")

# Issue 13's "must show": (model, target, field, limit); every one must be <= its limit.
GOALS = [
    *((m, "m4", "instructions", 6_000_000) for m in ("cifar10_m4", "cifar10_m4_int8")),
    *((m, "m4", "max_conv_instructions_per_mac", 1.0) for m in ("cifar10_m4", "cifar10_m4_int8")),
    *((m, "m55", "instructions", 2_400_000) for m in ("cifar10_m4", "cifar10_m4_int8")),
    ("cifar10_m4", "m3", "instructions", 14_000_000),
    ("sample_digits", "m0", "instructions_per_mac", 4.0),
    ("cifar10_m4", "m4", "nn_flash_bytes", 42_000),
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


def conv_layers(layers):
    """Instructions (and cycles) per MAC of each conv layer: the per-layer goal of issue 13."""
    return {layer["name"]: {"instructions": layer["instructions"], "macs": layer["macs"],
                            "instructions_per_mac": round(layer["instructions"] / layer["macs"], 4)
                            if layer["instructions"] and layer["macs"] else None,
                            "cycles_estimate": layer.get("cycles_estimate")}
            for layer in layers if layer["op"].startswith("conv")}


def nn_flash(target, name):
    """Flash of the model's own group plus the kernels group in the memory map of its firmware."""
    groups = json.loads((BUILD / target / "memory_map.json").read_text())["groups"]
    return groups[f"model:{name}"]["flash"] + groups.get("kernels", {}).get("flash", 0)


def bit_exact(entry, target, count):
    """QEMU outputs of `count` calibration images against the golden model, byte for byte."""
    d = BUILD / "models" / entry.name
    qgraph = ir.load_graph(d / "quant.json", d / "quant.npz")
    images = firmware.sample_inputs(entry, qgraph, count)
    expected = golden.run(qgraph, images).reshape(len(images), -1)
    got, _ = firmware.run_batch(entry, target, images, elf=BUILD / target / "firmware.elf")
    return {"images": len(images), "identical": int(np.all(got == expected, axis=1).sum())}


def bench_target(entry, manifest, target, check):
    b = firmware.bench(entry, target, manifest, BUILD)
    convs = conv_layers(b["layers"])
    per_mac = [c["instructions_per_mac"] for c in convs.values() if c["instructions_per_mac"]]
    r = {"fits": True, **{k: b[k] for k in BENCH_FIELDS}, "nn_flash_bytes": nn_flash(target, entry.name),
         "conv_layers": convs, "max_conv_instructions_per_mac": max(per_mac) if per_mac else None}
    if check:
        r["bit_exact"] = bit_exact(entry, target, check)
    return r


def goals(result):
    out = []
    for model, target, field, limit in GOALS:
        value = result.get(model, {}).get("targets", {}).get(target, {}).get(field)
        out.append({"model": model, "target": target, "field": field, "value": value, "limit": limit,
                    "ok": None if value is None else value <= limit})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", default="m0,m3,m4,m7,m33,m55")
    ap.add_argument("--skip-cifar", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true", help="no float/quant evaluation on the host")
    ap.add_argument("--check", type=int, default=10, metavar="N",
                    help="images compared with the golden model in QEMU per target (0: none)")
    args = ap.parse_args(argv)
    result, failed = {}, False
    for name, manifest, data in MODELS:
        if name.startswith("cifar10") and (args.skip_cifar or not data.exists()):
            continue
        entry = load_manifest(manifest).model(name)
        r = {"targets": {}} if args.skip_accuracy else {"accuracy": accuracy(entry, data), "targets": {}}
        for t in args.targets.split(","):
            try:
                r["targets"][t] = bench_target(entry, manifest, t, args.check)
            except NnbuildError as e:
                over_budget = "does not fit its budget" in str(e)
                failed |= not over_budget
                r["targets"][t] = {**({"fits": False} if over_budget else {}),
                                   "error": str(e).splitlines()[-3:]}
        result[name] = r
    result["goals"] = goals(result)
    print(json.dumps(result, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
