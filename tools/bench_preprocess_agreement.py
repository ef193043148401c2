#!/usr/bin/env python3
"""How much does the camera path cost in accuracy? Each test image is enlarged to a 160x120
RGB565 "camera frame" and brought back to the model's input through the C nn_preprocess
(host build, via ctypes), with nearest and with bilinear resizing; the model classifies the
original and both round trips.

`agreement()` takes any callable `classify(images uint8 N x H x W x C) -> predicted class
indices`; from the command line the model is a manifest entry run in one of `nnbuild eval`'s
modes (float, q7, host, qemu).

The last line of stdout is one JSON object: n, and per input variant (original, nearest,
bilinear) top1 and agreement (fraction of predictions equal to those on the original), plus the
mean absolute pixel difference of each round trip.

    python tools/bench_preprocess_agreement.py --manifest cifar.yaml --model cifar10_m4 \
        --data ../shared/datasets/cifar10/test.npz [--mode q7] [--limit 932]
"""
import argparse
import ctypes
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "site_scons"))

from nnbuild import hostcc  # noqa: E402
from nnbuild.errors import NnbuildError  # noqa: E402
from nnbuild.preprocess import FIT, FORMATS, RESIZE, preprocess, to_rgb565  # noqa: E402

FRAME_W, FRAME_H = 160, 120
APP = ROOT / "firmware_template" / "app"


class _Opts(ctypes.Structure):  # nn_preprocess_opts (host ABI: enums are int)
    _fields_ = [("format", ctypes.c_int), ("resize", ctypes.c_int), ("fit", ctypes.c_int),
                ("flip_h", ctypes.c_uint8), ("flip_v", ctypes.c_uint8), ("pad_value", ctypes.c_uint8)]


def load_app_lib(build_dir=None):
    """The host build of preprocess.c + postprocess.c (cached by content)."""
    build_dir = build_dir or Path(tempfile.gettempdir()) / "nnbuild-app-lib"
    return hostcc.load(hostcc.build_shared([APP / "preprocess.c", APP / "postprocess.c"], build_dir,
                                           include_dirs=[APP]))


def camera_frame(img):
    """A 32x32 (any size) RGB/gray image enlarged (bilinear, stretch) to a 160x120 RGB565 LE frame."""
    rgb = img if img.ndim == 3 and img.shape[2] == 3 else np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, 2)
    big = preprocess(rgb, "RGB888", FRAME_H, FRAME_W, 3, "RGB", resize="bilinear")
    return to_rgb565(big, "le")


def c_preprocess(lib, frame565, out_h, out_w, out_c, order, resize):
    opts = _Opts(FORMATS["RGB565_LE"], RESIZE[resize], FIT["stretch"], 0, 0, 0)
    out = np.zeros((out_h, out_w, out_c), np.uint8)
    raw = np.ascontiguousarray(frame565)
    rc = lib.nn_preprocess(raw.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), FRAME_W, FRAME_H,
                           ctypes.byref(opts), out_h, out_w, out_c, order.encode(),
                           out.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
    if rc != 0:
        raise NnbuildError(f"nn_preprocess returned {rc}", where="bench_preprocess_agreement")
    return out


def roundtrips(images, lib, modes=("nearest", "bilinear")):
    """{mode: images after frame -> nn_preprocess}, same shape as `images`."""
    n, h, w = images.shape[:3]
    c = images.shape[3] if images.ndim == 4 else 1
    order = "RGB" if c == 3 else "GRAY"
    out = {m: np.zeros((n, h, w, c), np.uint8) for m in modes}
    for i, img in enumerate(images):
        frame = camera_frame(img)
        for m in modes:
            out[m][i] = c_preprocess(lib, frame, h, w, c, order, m)
    return {m: v.reshape(images.shape) for m, v in out.items()}


def agreement(images, labels, classify, lib=None, modes=("nearest", "bilinear")):
    """Top-1 and agreement with the original predictions for each round-trip mode."""
    lib = lib or load_app_lib()
    base = np.asarray(classify(images))
    result = {"n": int(len(images)), "original": {"top1": float((base == labels).mean())}}
    for mode, imgs in roundtrips(images, lib, modes).items():
        pred = np.asarray(classify(imgs))
        result[mode] = {"top1": float((pred == labels).mean()), "agreement": float((pred == base).mean()),
                        "mean_abs_pixel_diff": float(np.abs(imgs.astype(np.int16) - images).mean())}
    return result


def main(argv=None, classify=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help=".npz with images N x H x W x C uint8 and labels")
    ap.add_argument("--manifest", default=str(ROOT / "models.yaml"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--mode", default="q7", choices=("float", "q7", "host", "qemu"))
    ap.add_argument("--target", default="m4", help="for --mode qemu")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    try:
        if classify is None:
            from nnbuild import cli, pipeline
            from nnbuild.manifest import load_manifest

            entry = load_manifest(args.manifest).model(args.model)
            graph = pipeline.import_model(entry)
            scores = cli.make_predictor(entry, graph, args.mode, args.target)
            classify = lambda images: scores(images).argmax(1)  # noqa: E731
        with np.load(args.data) as z:
            images, labels = z["images"][:args.limit], z["labels"][:args.limit]
        result = agreement(images, labels, classify)
        result.update(model=args.model, mode=args.mode)
    except (NnbuildError, OSError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
