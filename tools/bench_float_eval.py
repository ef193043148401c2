#!/usr/bin/env python3
"""Benchmark: float reference top-1 of the sample CIFAR-10 model on the test set.

Prints one JSON line: {"bench": "float_eval", "seconds": ..., "n": ..., "correct": ..., "top1": ...}.
Data come from ../shared (or $NNBUILD_SHARED); nothing is copied.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "site_scons"))


def shared_dir():
    return Path(os.environ.get("NNBUILD_SHARED", ROOT.parent / "shared")).resolve()


def load_cifar_model():
    from nnbuild.frontends import caffe

    d = shared_dir() / "models" / "cifar10_m4"
    mean = caffe.load_mean(d / "mean.binaryproto", (32, 32, 3))
    return caffe.load_caffe(d / "cifar10_m4_train_test.prototxt", d / "cifar10_m4_iter_70000.caffemodel.h5",
                            input_shape=(32, 32, 3), mean=mean, scale=1.0, channel_order="RGB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="first N test images only")
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()

    import numpy as np
    from nnbuild import calibration, reference

    graph = load_cifar_model()
    data = shared_dir() / "datasets" / "cifar10" / "test.npz"
    images = calibration.load_images(data, (32, 32, 3), samples=args.limit)
    with np.load(data) as z:
        labels = z["labels"][: len(images)]
    t0 = time.perf_counter()
    scores = reference.run(graph, images, batch=args.batch)
    seconds = time.perf_counter() - t0
    correct = int((scores.reshape(len(images), -1).argmax(1) == labels).sum())
    print(json.dumps({"bench": "float_eval", "model": graph.name, "seconds": round(seconds, 3),
                      "n": len(images), "correct": correct, "top1": round(correct / len(images), 4)}))


if __name__ == "__main__":
    main()
