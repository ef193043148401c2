#!/usr/bin/env python3
"""Benchmark: q7 quantization of the sample CIFAR-10 model and the golden model's top-1.

Calibrates on the first --samples images of calib.npz, evaluates float and q7 (golden) on
test.npz. Prints one JSON line per strategy:
{"bench": "quantize", "strategy": ..., "seconds": ..., "eval_seconds": ..., "float_correct": ...,
 "correct": ..., "n": ..., "top1": ...}
"""
import argparse
import json
import time

from bench_float_eval import load_cifar_model, shared_dir


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--strategy", action="append", help="minmax or mse (repeatable; default: both)")
    ap.add_argument("--report", action="store_true", help="print the quantization report to stderr")
    args = ap.parse_args()

    import sys

    import numpy as np
    from nnbuild import calibration
    from nnbuild.quantize import evaluate, format_report, quantize

    graph = load_cifar_model()
    data = shared_dir() / "datasets" / "cifar10"
    calib = calibration.load_images(data / "calib.npz", (32, 32, 3), samples=args.samples)
    test = calibration.load_images(data / "test.npz", (32, 32, 3))
    with np.load(data / "test.npz") as z:
        labels = z["labels"]
    for strategy in args.strategy or ["mse", "minmax"]:
        report = {} if args.report else None
        t0 = time.perf_counter()
        qgraph = quantize(graph, calib, strategy=strategy, report=report)
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        ev = evaluate(graph, qgraph, test, labels, report)
        eval_seconds = time.perf_counter() - t1
        if report is not None:
            sys.stderr.write(format_report(report))
        print(json.dumps({"bench": "quantize", "model": graph.name, "strategy": strategy, "samples": len(calib),
                          "seconds": round(seconds, 3), "eval_seconds": round(eval_seconds, 3),
                          "float_correct": ev["float_correct"], "correct": ev["q7_correct"], "n": ev["n"],
                          "top1": round(ev["q7_top1"], 4)}), flush=True)


if __name__ == "__main__":
    main()
