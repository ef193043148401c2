#!/usr/bin/env python3
"""Benchmark: quantization and evaluation time of a ResNet-20-size network (random weights).

Writes a CIFAR-size Caffe ResNet-20 (3 stages x 3 residual blocks, 16/32/64 channels, BatchNorm +
Scale after every convolution, Eltwise SUM shortcuts, 1x1 projection shortcuts when the shape
changes, global average pooling, 10 classes) with seeded random weights, 500 random calibration
images and 932 random evaluation images, then times the command line as a user runs it:

    nnbuild quantize -o <build>/models/resnet20      (what the build's quantize step does)
    nnbuild eval --mode q7 / host                    (reusing that quantized model)
    nnbuild eval --mode q7 with an empty build dir   (has to quantize itself; --cold)

Prints one JSON line with the seconds of each. The weights are random, so accuracy is meaningless.

    .venv/bin/python tools/bench_resnet20.py [--dir build/bench_resnet20] [--cold]
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "site_scons"))

from nnbuild.frontends.caffe.writer import Layer, conv, inner_product, pool, relu, write_caffe  # noqa: E402

NAME = "resnet20"


def _conv_bn(rng, layers, name, bottom, c_in, c_out, k, stride):
    """Convolution (no bias, as in ResNets) + in-place BatchNorm + Scale; returns the top name."""
    w = rng.normal(0, math.sqrt(2 / (c_in * k * k)), (c_out, c_in, k, k))
    layers.append(conv(name, bottom, name, w, np.zeros(c_out), pad=k // 2, stride=stride))
    mean, var = rng.normal(0, 0.2, c_out), rng.uniform(0.5, 2.0, c_out)
    layers.append(Layer(f"{name}_bn", "BatchNorm", [name], [name], {}, [mean, var, np.ones(1)]))
    gamma, beta = rng.uniform(0.3, 1.0, c_out), rng.normal(0, 0.1, c_out)
    layers.append(Layer(f"{name}_scale", "Scale", [name], [name], {"scale_param": {"bias_term": True}},
                        [gamma, beta]))
    return name


def resnet20_layers(seed=20, blocks=3, size=32):
    """Caffe layers of the network: input (1, 3, size, size) -> 10 scores; `blocks` residual
    blocks per stage (3: ResNet-20, 1: ResNet-8, the tests' small variant)."""
    rng = np.random.default_rng(seed)
    layers = []
    blob = _conv_bn(rng, layers, "conv1", "data", 3, 16, 3, 1)
    layers.append(relu("relu1", blob))
    c = 16
    for stage, width in enumerate((16, 32, 64), start=1):
        for block in range(1, blocks + 1):
            p = f"s{stage}b{block}"
            stride = 2 if stage > 1 and block == 1 else 1
            a = _conv_bn(rng, layers, f"{p}_conv1", blob, c, width, 3, stride)
            layers.append(relu(f"{p}_relu1", a))
            b = _conv_bn(rng, layers, f"{p}_conv2", a, width, width, 3, 1)
            short = blob if (stride == 1 and c == width) else \
                _conv_bn(rng, layers, f"{p}_proj", blob, c, width, 1, stride)
            layers.append(Layer(f"{p}_sum", "Eltwise", [b, short], [f"{p}_sum"]))
            layers.append(relu(f"{p}_relu2", f"{p}_sum"))
            blob, c = f"{p}_sum", width
    layers.append(pool("gap", blob, "gap", size // 4, 1, "AVE"))
    layers.append(inner_product("fc", "gap", "fc", rng.normal(0, math.sqrt(1 / c), (10, c)), rng.normal(0, 0.1, 10)))
    return layers


def write_model(d, calib=500, n_eval=932, seed=20, blocks=3, size=32, scheme="q7", name=NAME, extra=None):
    """Caffe files, calibration/evaluation .npz and a manifest in `d`; returns the manifest path.
    `extra`: more keys of the manifest entry (e.g. memory: small)."""
    d.mkdir(parents=True, exist_ok=True)
    proto, h5 = d / f"{name}.prototxt", d / f"{name}.caffemodel.h5"
    write_caffe(name, "data", (1, 3, size, size), resnet20_layers(seed, blocks, size), proto, h5)
    rng = np.random.default_rng(seed + 1)
    np.savez(d / "calib.npz", images=rng.integers(0, 256, (calib, size, size, 3), dtype=np.uint8))
    np.savez(d / "test.npz", images=rng.integers(0, 256, (n_eval, size, size, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, n_eval))
    manifest = {"version": 1, "models": [{
        "name": name, "format": "caffe", "prototxt": str(proto), "weights": str(h5),
        "input": {"shape": [size, size, 3], "channel_order": "RGB", "mean": [125.0, 123.0, 114.0], "scale": 1 / 64},
        "quantization": {"scheme": scheme, "calibration": str(d / "calib.npz"), "samples": calib}, **(extra or {})}]}
    path = d / f"{name}.yaml"
    path.write_text(json.dumps(manifest, indent=1))     # JSON is YAML
    return path


def nnbuild(*args):
    """Run the command line; returns ({"seconds", "cpu_seconds"}, stdout, stderr). CPU seconds
    (all threads) are the fairer figure on a shared machine."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "site_scons"))
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([sys.executable, "-m", "nnbuild.cli", *map(str, args)], capture_output=True, text=True,
                       env=env)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    times = {"seconds": round(time.perf_counter() - t0, 2),
             "cpu_seconds": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 2)}
    if r.returncode != 0:
        sys.exit(f"nnbuild {' '.join(map(str, args))} failed:\n{r.stderr}")
    return times, r.stdout, r.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=str(ROOT / "build" / "bench_resnet20"), help="work directory")
    ap.add_argument("--cold", action="store_true", help="also time eval --mode q7 without a build to reuse")
    args = ap.parse_args()
    d = Path(args.dir).resolve()
    manifest = write_model(d)
    build = d / "build"
    model = ("--manifest", manifest, "--model", NAME)
    result = {"bench": "resnet20", "calibration_images": 500, "eval_images": 932, "cores": os.cpu_count(),
              "load_average": round(os.getloadavg()[0], 2)}
    result["quantize"], _, _ = nnbuild("quantize", *model, "-o", build / "models" / NAME)
    for mode in ("q7", "host"):
        times, _, err = nnbuild("eval", *model, "--data", d / "test.npz", "--mode", mode, "--build-dir", build)
        result[f"eval_{mode}"] = dict(times, reused_build="using the quantized model of the build" in err)
    if args.cold:
        result["eval_q7_cold"], _, _ = nnbuild("eval", *model, "--data", d / "test.npz", "--mode", "q7",
                                               "--build-dir", d / "no_build")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
