"""Float reference executor: each op against a slow loop implementation of Caffe's semantics."""
import math

import numpy as np
import pytest

from conftest import CIFAR_TEST, needs_shared
from nnbuild import ir, reference
from nnbuild.errors import NnbuildError


def graph_of(in_shape, ops, tensors):
    """A small graph: uint8 input 'px' -> input_stage 'x' -> ops (tensors: name -> shape)."""
    g = ir.Graph("t", "px", [ops[-1].outputs[0]])
    g.tensors["px"] = ir.Tensor("px", in_shape, "uint8")
    g.tensors["x"] = ir.Tensor("x", in_shape)
    for name, shape in tensors.items():
        g.tensors[name] = ir.Tensor(name, shape)
    g.ops.append(ir.Op("in", "input_stage", ["px"], ["x"], {"scale": 1.0},
                       {"mean": np.zeros(in_shape, np.float32)}))
    g.ops.extend(ops)
    return g.validate()


def slow_conv(x, w, b, stride, pad, dil, group):
    n, h, wd, c = x.shape
    o, kh, kw, ig = w.shape
    oh = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    og = o // group
    out = np.zeros((n, oh, ow, o))
    for bi in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for oc in range(o):
                    g = oc // og
                    acc = float(b[oc])
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = oy * stride - pad + ky * dil, ox * stride - pad + kx * dil
                            if 0 <= iy < h and 0 <= ix < wd:
                                acc += float(np.dot(x[bi, iy, ix, g * ig:(g + 1) * ig], w[oc, ky, kx]))
                    out[bi, oy, ox, oc] = acc
    return out


def slow_pool(x, k, s, p, mode):
    n, h, w, c = x.shape
    oh = int(math.ceil((h + 2 * p - k) / s)) + 1
    ow = int(math.ceil((w + 2 * p - k) / s)) + 1
    if p and (oh - 1) * s >= h + p:
        oh -= 1
    if p and (ow - 1) * s >= w + p:
        ow -= 1
    out = np.zeros((n, oh, ow, c))
    for oy in range(oh):
        for ox in range(ow):
            hs, ws = oy * s - p, ox * s - p
            he, we = min(hs + k, h + p), min(ws + k, w + p)
            size = (he - hs) * (we - ws)
            win = x[:, max(hs, 0):min(he, h), max(ws, 0):min(we, w), :]
            out[:, oy, ox, :] = win.max(axis=(1, 2)) if mode == "max" else win.sum(axis=(1, 2)) / size
    return out


@pytest.mark.parametrize("stride,pad,dil,group", [(1, 2, 1, 1), (2, 1, 1, 2), (1, 2, 2, 4), (2, 0, 1, 1)])
def test_conv2d_matches_slow(stride, pad, dil, group):
    rng = np.random.default_rng(stride * 10 + pad + dil * 3 + group)
    px = rng.integers(0, 256, size=(2, 9, 8, 4), dtype=np.uint8)
    w = rng.normal(size=(8, 3, 3, 4 // group)).astype(np.float32)
    b = rng.normal(size=8).astype(np.float32)
    oh, ow = ir.conv_output_size(9, 3, stride, pad, dil), ir.conv_output_size(8, 3, stride, pad, dil)
    op = ir.Op("c", "conv2d", ["x"], ["y"], dict(kernel=(3, 3), stride=(stride, stride), pad=(pad, pad),
                                                 dilation=(dil, dil), group=group), dict(weight=w, bias=b))
    g = graph_of((9, 8, 4), [op], {"y": (oh, ow, 8)})
    got = reference.run(g, px)
    want = slow_conv(px.astype(np.float64), w, b, stride, pad, dil, group)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("k,s,p", [(3, 2, 0), (3, 2, 1), (2, 2, 1), (3, 3, 2)])
def test_pool_caffe_ceil_mode(mode, k, s, p):
    rng = np.random.default_rng(k * 100 + s * 10 + p)
    px = rng.integers(0, 256, size=(2, 7, 10, 3), dtype=np.uint8)
    oh, ow = ir.pool_output_size(7, k, s, p), ir.pool_output_size(10, k, s, p)
    op = ir.Op("p", f"{mode}_pool", ["x"], ["y"], dict(kernel=(k, k), stride=(s, s), pad=(p, p)))
    g = graph_of((7, 10, 3), [op], {"y": (oh, ow, 3)})
    got = reference.run(g, px)
    want = slow_pool(px.astype(np.float64), k, s, p, mode)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_cifar_pool_shape_is_ceil_mode():
    # Caffe: 32 -> ceil((32 - 3) / 2) + 1 = 16 (floor mode would give 15)
    op = ir.Op("p", "max_pool", ["x"], ["y"], dict(kernel=(3, 3), stride=(2, 2), pad=(0, 0)))
    g = graph_of((32, 32, 1), [op], {"y": (16, 16, 1)})
    px = np.arange(1024, dtype=np.int64).reshape(1, 32, 32, 1).astype(np.uint8)
    y = reference.run(g, px)
    assert y.shape == (1, 16, 16, 1)
    # the last window is clipped to input rows/cols 30..31
    assert y[0, 15, 15, 0] == px[0, 30:, 30:, 0].max()


def test_fc_elementwise_and_activations():
    rng = np.random.default_rng(7)
    px = rng.integers(0, 256, size=(3, 2, 2, 3), dtype=np.uint8)
    w = rng.normal(size=(5, 12)).astype(np.float32)
    b = rng.normal(size=5).astype(np.float32)
    ops = [
        ir.Op("fc", "fully_connected", ["x"], ["f"], {}, dict(weight=w, bias=b)),
        ir.Op("lr", "relu", ["f"], ["r"], {"negative_slope": 0.25}),
        ir.Op("sg", "sigmoid", ["r"], ["s"]),
        ir.Op("th", "tanh", ["r"], ["t"]),
        ir.Op("ad", "add", ["s", "t"], ["a"]),
        ir.Op("cc", "concat", ["a", "r"], ["c"]),
        ir.Op("sm", "softmax", ["c"], ["o"]),
    ]
    shapes = {"f": (1, 1, 5), "r": (1, 1, 5), "s": (1, 1, 5), "t": (1, 1, 5), "a": (1, 1, 5),
              "c": (1, 1, 10), "o": (1, 1, 10)}
    g = graph_of((2, 2, 3), ops, shapes)
    out = reference.run(g, px, outputs=["f", "r", "c", "o"])
    f = px.reshape(3, -1).astype(np.float64) @ w.T.astype(np.float64) + b      # HWC flatten
    np.testing.assert_allclose(out["f"].reshape(3, 5), f, rtol=1e-5, atol=1e-3)
    r = np.where(f > 0, f, 0.25 * f)
    np.testing.assert_allclose(out["r"].reshape(3, 5), r, rtol=1e-5, atol=1e-3)
    a = 1 / (1 + np.exp(-r)) + np.tanh(r)
    c = np.concatenate([a, r], axis=1)
    np.testing.assert_allclose(out["c"].reshape(3, 10), c, rtol=1e-5, atol=1e-3)
    e = np.exp(c - c.max(1, keepdims=True))
    np.testing.assert_allclose(out["o"].reshape(3, 10), e / e.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_input_stage_mean_scale_and_batching():
    rng = np.random.default_rng(8)
    px = rng.integers(0, 256, size=(7, 3, 3, 2), dtype=np.uint8)
    mean = rng.uniform(0, 255, size=(3, 3, 2)).astype(np.float32)
    g = graph_of((3, 3, 2), [ir.Op("r", "relu", ["x"], ["y"], {"negative_slope": 0.0})], {"y": (3, 3, 2)})
    g.ops[0].params["mean"] = mean
    g.ops[0].attrs["scale"] = 0.5
    x = reference.run(g, px, outputs=["x"])["x"]
    np.testing.assert_allclose(x, (px - mean.astype(np.float64)) * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(reference.run(g, px, batch=2), reference.run(g, px, batch=256))
    everything = reference.run_all(g, px)
    assert set(everything) == {"px", "x", "y"}


def test_bad_pixels_are_rejected():
    g = graph_of((3, 3, 2), [ir.Op("r", "relu", ["x"], ["y"], {"negative_slope": 0.0})], {"y": (3, 3, 2)})
    with pytest.raises(NnbuildError, match=r"uint8 \(N, 3, 3, 2\)"):
        reference.run(g, np.zeros((1, 3, 3, 2), np.float32))
    with pytest.raises(NnbuildError, match="expected uint8"):
        reference.run(g, np.zeros((1, 3, 4, 2), np.uint8))
    with pytest.raises(NnbuildError, match="unknown tensor 'nope'"):
        reference.run(g, np.zeros((1, 3, 3, 2), np.uint8), outputs=["nope"])


@needs_shared
def test_cifar_float_top1(cifar_graph):
    z = np.load(CIFAR_TEST)
    scores = reference.run(cifar_graph, z["images"])
    correct = int((scores.reshape(len(scores), -1).argmax(1) == z["labels"]).sum())
    assert (correct, len(scores)) == (743, 932)
