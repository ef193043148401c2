"""Golden q7 ops against an independent slow implementation (plain Python ints and loops)."""
import math

import numpy as np
import pytest

from nnbuild import golden as golden_model
from nnbuild import ir
from nnbuild.quantize.q7 import golden
from nnbuild.errors import NnbuildError


# -- slow reference: written straight from docs/q7_contract.md ------------------------------------

def s_round_shift(x, s):
    if s > 0:
        return (x + (1 << (s - 1))) >> s
    return x * (1 << -s)


def s_requant(x, s, lo=-128, hi=127):
    return min(hi, max(lo, s_round_shift(x, s)))


def s_conv(x, w, b, stride, pad, dil, group, s, lo, hi):
    n, h, wd, c = x.shape
    o, kh, kw, ig = w.shape
    oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    og = o // group
    out = np.zeros((n, oh, ow, o), np.int8)
    for bi in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for oc in range(o):
                    g = oc // og
                    acc = int(b[oc])
                    for ky in range(kh):
                        for kx in range(kw):
                            iy = oy * stride[0] - pad[0] + ky * dil[0]
                            ix = ox * stride[1] - pad[1] + kx * dil[1]
                            if 0 <= iy < h and 0 <= ix < wd:
                                for ic in range(ig):
                                    acc += int(x[bi, iy, ix, g * ig + ic]) * int(w[oc, ky, kx, ic])
                    out[bi, oy, ox, oc] = s_requant(acc, s, lo, hi)
    return out


def s_pool(x, k, st, pad, mode):
    n, h, w, c = x.shape
    def osize(size, k, s, p):
        o = int(math.ceil((size + 2 * p - k) / s)) + 1
        if p > 0 and (o - 1) * s >= size + p:
            o -= 1
        return o
    oh, ow = osize(h, k[0], st[0], pad[0]), osize(w, k[1], st[1], pad[1])
    out = np.zeros((n, oh, ow, c), np.int8)
    for bi in range(n):
        for oy in range(oh):
            for ox in range(ow):
                hs, ws = oy * st[0] - pad[0], ox * st[1] - pad[1]
                he, we = min(hs + k[0], h + pad[0]), min(ws + k[1], w + pad[1])
                count = (he - hs) * (we - ws)
                hs2, ws2, he2, we2 = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
                for ch in range(c):
                    vals = [int(x[bi, y, xx, ch]) for y in range(hs2, he2) for xx in range(ws2, we2)]
                    if mode == "max":
                        out[bi, oy, ox, ch] = max(vals)
                    else:
                        s = sum(vals)
                        q = (abs(s) + count // 2) // count
                        out[bi, oy, ox, ch] = max(-128, min(127, q if s >= 0 else -q))
    return out


def rand_i8(rng, shape):
    return rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)


# -- scalars --------------------------------------------------------------------------------------

def test_round_shift_contract_examples():
    got = golden.round_shift(np.array([-3, -5, -6, -7, 5, 6, 7, -1, 1]), 1)
    assert got.tolist() == [-1, -2, -3, -3, 3, 3, 4, 0, 1]
    assert golden.round_shift(np.array([-5, -6, -7, 6]), 2).tolist() == [-1, -1, -2, 2]
    assert golden.round_shift(np.array([-3, 3]), 0).tolist() == [-3, 3]
    assert golden.round_shift(np.array([-3, 3]), -2).tolist() == [-12, 12]


def test_round_shift_matches_slow_on_random():
    rng = np.random.default_rng(1)
    x = rng.integers(-(1 << 31), 1 << 31, size=2000)
    for s in (-3, -1, 0, 1, 2, 7, 15, 31):
        got = golden.round_shift(x, s)
        want = [s_round_shift(int(v), s) for v in x]
        assert got.tolist() == want


def test_requant_saturates_both_ends_and_respects_limits():
    x = np.array([-1000, -257, -256, -255, 0, 253, 254, 255, 1000])
    assert golden.requant(x, 1).tolist() == [-128, -128, -128, -127, 0, 127, 127, 127, 127]
    assert golden.requant(x, -1).tolist() == [-128, -128, -128, -128, 0, 127, 127, 127, 127]
    assert golden.requant(np.array([-5, 3, 99]), 0, 0, 50).tolist() == [0, 3, 50]
    assert golden.sat8(np.array([-129, -128, 127, 128])).tolist() == [-128, -128, 127, 127]


def test_input_stage_per_pixel_and_per_channel_offsets():
    rng = np.random.default_rng(2)
    p = rng.integers(0, 256, size=(3, 4, 5, 3), dtype=np.uint8)
    p[0, 0, 0] = [0, 255, 128]
    for off_len in (3, 60):
        off = rng.integers(-(1 << 20), 1 << 20, size=off_len)
        mul, shift = 3001, 13
        got = golden.input_stage(p, mul, off, shift)
        flat = p.reshape(3, -1)
        want = np.array([[s_requant(int(v) * mul - int(off[i % off_len]), shift) for i, v in enumerate(row)]
                         for row in flat]).reshape(p.shape)
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, want)


# -- convolution / fully connected ----------------------------------------------------------------

@pytest.mark.parametrize("case", [
    # h, w, c, o, k, stride, pad, dil, group, shift, lo
    (7, 6, 3, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, 9, -128),
    (8, 9, 4, 6, (3, 2), (2, 1), (2, 0), (1, 1), 2, 7, 0),
    (9, 9, 4, 4, (3, 3), (1, 2), (2, 2), (2, 2), 4, 6, -128),   # depthwise + dilation
    (5, 5, 2, 3, (5, 5), (1, 1), (2, 2), (1, 1), 1, -2, -128),   # left shift
    (6, 7, 6, 9, (1, 1), (1, 1), (0, 0), (1, 1), 3, 0, -128),
])
def test_conv2d_matches_slow(case):
    h, w, c, o, k, stride, pad, dil, group, shift, lo = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rand_i8(rng, (2, h, w, c))
    wt = rand_i8(rng, (o, k[0], k[1], c // group))
    if shift < 0:   # small weights and inputs so that the left shift does not only saturate
        wt //= 64
        x //= 16
    b = rng.integers(-5000, 5000, size=o).astype(np.int32) >> max(0, -shift * 4)
    got = golden.conv2d(x, wt, b, stride, pad, dil, group, shift, lo, 127)
    want = s_conv(x, wt, b, stride, pad, dil, group, shift, lo, 127)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, want)
    # the case must exercise saturation or rounding, not just zeros
    assert len(np.unique(got)) > 5


def test_fully_connected_matches_slow_hwc_flatten():
    rng = np.random.default_rng(3)
    x = rand_i8(rng, (4, 2, 3, 5))
    w = rand_i8(rng, (7, 30))
    b = rng.integers(-(1 << 16), 1 << 16, size=7).astype(np.int32)
    got = golden.fully_connected(x, w, b, 8)
    assert got.shape == (4, 1, 1, 7)
    for n in range(4):
        flat = [int(v) for v in x[n].reshape(-1)]  # HWC order
        for o in range(7):
            acc = int(b[o]) + sum(a * int(wv) for a, wv in zip(flat, w[o]))
            assert got[n, 0, 0, o] == s_requant(acc, 8)


def test_fully_connected_wide_layer_needs_float64_and_stays_exact():
    # 128 * 127 * 4000 > 2**24: float32 partial sums would round; the result must still be exact
    rng = np.random.default_rng(13)
    x = rand_i8(rng, (3, 1, 1, 4000))
    w = rand_i8(rng, (2, 4000))
    x[0] = 127
    w[0] = 127
    b = np.array([1, -1], np.int32)
    got = golden.fully_connected(x, w, b, 20)
    for n in range(3):
        for o in range(2):
            acc = int(b[o]) + sum(int(a) * int(c) for a, c in zip(x[n, 0, 0], w[o]))
            assert got[n, 0, 0, o] == s_requant(acc, 20)
    assert got[0, 0, 0, 0] == s_requant(127 * 127 * 4000 + 1, 20) == 62
    assert golden._exact_float(w) is np.float64 and golden._exact_float(w[:, :1000]) is np.float32


def test_accumulator_overflow_is_rejected():
    x = np.full((1, 1, 1, 4), -128, np.int8)
    w = np.full((1, 4), -128, np.int8)
    b = np.array([(1 << 31) - 10], dtype=np.int64)
    with pytest.raises(golden.AccumulatorOverflow):
        golden.fully_connected(x, w, b, 0)


# -- pooling --------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", [
    # h, w, k, stride, pad
    (32, 32, (3, 3), (2, 2), (0, 0)),   # cifar: ceil mode, clipped last window
    (7, 8, (3, 3), (2, 2), (1, 1)),     # padding counts in the divisor
    (6, 5, (2, 3), (2, 3), (1, 1)),     # last window would start in the pad -> dropped
    (5, 5, (3, 3), (3, 3), (2, 2)),
    (4, 4, (4, 4), (1, 1), (0, 0)),
])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_matches_slow(case, mode):
    h, w, k, st, pad = case
    rng = np.random.default_rng(h * 100 + w)
    x = rand_i8(rng, (2, h, w, 3))
    x[0, :, :, 0] = -128          # all-negative channel: padding must never win the max
    fn = golden.max_pool if mode == "max" else golden.avg_pool
    got = fn(x, k, st, pad)
    assert got.shape[1:3] == (ir.pool_output_size(h, k[0], st[0], pad[0]),
                              ir.pool_output_size(w, k[1], st[1], pad[1]))
    np.testing.assert_array_equal(got, s_pool(x, k, st, pad, mode))


def test_avg_pool_rounds_half_away_from_zero():
    x = np.array([1, 2, -1, -2], np.int8).reshape(1, 1, 4, 1)
    # windows of 2: sums 3, -3 -> 1.5 -> 2, -1.5 -> -2
    got = golden.avg_pool(x, (1, 2), (1, 2), (0, 0))
    assert got.reshape(-1).tolist() == [2, -2]


# -- element-wise ---------------------------------------------------------------------------------

def test_relu_and_leaky():
    x = np.arange(-128, 128, dtype=np.int64).astype(np.int8).reshape(1, 1, 16, 16)
    assert golden.relu(x).reshape(-1).tolist() == [max(0, v) for v in range(-128, 128)]
    slope = 3277   # ~0.1
    want = [v if v >= 0 else s_requant(v * slope, 15) for v in range(-128, 128)]
    assert golden.relu(x, slope).reshape(-1).tolist() == want
    assert golden.relu(x, -32768).reshape(-1)[0] == 127   # -128 * -1 saturates


def test_add_and_concat_match_slow():
    rng = np.random.default_rng(5)
    a, b = rand_i8(rng, (2, 3, 3, 4)), rand_i8(rng, (2, 3, 3, 4))
    got = golden.add([a, b], [0, 2], 1)
    want = np.vectorize(lambda p, q: s_requant((int(p) << 0) + (int(q) << 2), 1))(a, b)
    np.testing.assert_array_equal(got, want)
    c = rand_i8(rng, (2, 3, 3, 2))
    got = golden.concat([a, c], [0, -1])
    np.testing.assert_array_equal(got[..., :4], a)
    np.testing.assert_array_equal(got[..., 4:], np.vectorize(lambda v: s_requant(int(v), -1))(c))
    got = golden.concat([a, c], [2, 1])
    np.testing.assert_array_equal(got[..., 4:], np.vectorize(lambda v: s_requant(int(v), 1))(c))


def test_lut_and_softmax():
    x = np.arange(-128, 128, dtype=np.int64).astype(np.int8).reshape(1, 1, 1, 256)
    table = (np.arange(256)[::-1] - 128).astype(np.int8)
    assert golden.lut(x, table).reshape(-1).tolist() == list(range(127, -129, -1))
    rng = np.random.default_rng(6)
    logits = rand_i8(rng, (3, 1, 1, 10))
    f_in = 4
    exp_table = np.round(65536 * np.exp(-np.arange(256) * 2.0 ** -f_in)).astype(np.int32)
    got = golden.softmax(logits, exp_table)
    for n in range(3):
        q = [int(v) for v in logits[n, 0, 0]]
        e = [int(exp_table[max(q) - v]) for v in q]
        s = sum(e)
        assert got[n, 0, 0].tolist() == [min(127, (ei * 128 + s // 2) // s) for ei in e]
    # argmax preserved
    assert (got.reshape(3, 10).argmax(1) == logits.reshape(3, 10).argmax(1)).all()


def test_non_int8_activation_rejected():
    with pytest.raises(NnbuildError, match="int8"):
        golden.relu(np.zeros((1, 1, 1, 1), np.int16))


# -- graph executor -------------------------------------------------------------------------------

def test_run_executes_a_quantized_graph_like_the_slow_ops():
    rng = np.random.default_rng(11)
    g = ir.Graph("q", "px", ["sm"], meta={"quantization": {"scheme": "q7"}})
    shapes = {"px": (6, 6, 2), "x": (6, 6, 2), "c": (3, 3, 4), "m": (2, 2, 4), "l": (2, 2, 4),
              "r": (2, 2, 4), "k": (2, 2, 8), "a": (2, 2, 8), "f": (1, 1, 5), "sm": (1, 1, 5)}
    for n, s in shapes.items():
        g.tensors[n] = ir.Tensor(n, s, "uint8" if n == "px" else "int8", None if n == "px" else {"frac_bits": 3})
    w1, b1 = rand_i8(rng, (4, 3, 3, 1)), rng.integers(-300, 300, 4).astype(np.int32)
    wf, bf = rand_i8(rng, (5, 32)), rng.integers(-3000, 3000, 5).astype(np.int32)
    off = rng.integers(-4000, 4000, 2).astype(np.int32)
    exp_table = np.round(65536 * np.exp(-np.arange(256) / 8)).astype(np.int32)
    g.ops = [
        ir.Op("in", "input_stage", ["px"], ["x"], {"scale": 1.0, "mul": 37, "shift": 6}, {"off": off}),
        ir.Op("c", "conv2d", ["x"], ["c"], dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), dilation=(1, 1), group=2,
                                                 out_shift=7, act_min=-128, act_max=127), dict(weight=w1, bias=b1)),
        ir.Op("m", "max_pool", ["c"], ["m"], dict(kernel=(2, 2), stride=(2, 2), pad=(0, 0))),
        ir.Op("l", "relu", ["m"], ["l"], dict(negative_slope=0.5, slope_q15=16384)),
        ir.Op("r", "relu", ["m"], ["r"], dict(negative_slope=0.0, slope_q15=0)),
        ir.Op("k", "concat", ["l", "r"], ["k"], dict(shifts=[1, 0])),
        ir.Op("a", "add", ["k", "k"], ["a"], dict(in_shifts=[0, 1], out_shift=2)),
        ir.Op("f", "fully_connected", ["a"], ["f"], dict(out_shift=5, act_min=-128, act_max=127),
              dict(weight=wf, bias=bf)),
        ir.Op("sm", "softmax", ["f"], ["sm"], {}, dict(exp_table=exp_table)),
    ]
    g.validate()
    px = rng.integers(0, 256, size=(3, 6, 6, 2), dtype=np.uint8)
    got = golden_model.run(g, px, outputs=["c", "k", "a", "f", "sm"], batch=2)

    vec = np.vectorize
    x = np.array([[s_requant(int(p) * 37 - int(off[i % 2]), 6) for i, p in enumerate(img.reshape(-1))]
                  for img in px]).reshape(px.shape).astype(np.int8)
    c = s_conv(x, w1, b1, (2, 2), (1, 1), (1, 1), 2, 7, -128, 127)
    m = s_pool(c, (2, 2), (2, 2), (0, 0), "max")
    l = vec(lambda v: v if v >= 0 else s_requant(int(v) * 16384, 15))(m).astype(np.int8)
    r = np.maximum(m, 0)
    k = np.concatenate([vec(lambda v: s_requant(int(v), 1))(l), r], axis=-1).astype(np.int8)
    a = vec(lambda v: s_requant(int(v) + (int(v) << 1), 2))(k).astype(np.int8)
    f = np.array([[s_requant(int(bf[o]) + sum(int(p) * int(q) for p, q in zip(img.reshape(-1), wf[o])), 5)
                   for o in range(5)] for img in a]).reshape(3, 1, 1, 5)
    for name, want in (("c", c), ("k", k), ("a", a), ("f", f)):
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    np.testing.assert_array_equal(got["sm"], golden.softmax(f.astype(np.int8), exp_table))
    np.testing.assert_array_equal(golden_model.run(g, px), got["sm"])


def test_run_names_the_op_on_overflow():
    g = ir.Graph("q", "px", ["f"], meta={"quantization": {"scheme": "q7"}})
    g.tensors["px"] = ir.Tensor("px", (1, 1, 4), "uint8")
    g.tensors["x"] = ir.Tensor("x", (1, 1, 4), "int8", {"frac_bits": 0})
    g.tensors["f"] = ir.Tensor("f", (1, 1, 1), "int8", {"frac_bits": 0})
    g.ops = [ir.Op("in", "input_stage", ["px"], ["x"], {"scale": 1.0, "mul": 1, "shift": 1},
                   {"off": np.array([256], np.int32)}),
             ir.Op("fc9", "fully_connected", ["x"], ["f"], dict(out_shift=0),
                   dict(weight=np.full((1, 4), -128, np.int8), bias=np.array([2 ** 31 - 1], np.int64)))]
    with pytest.raises(golden.AccumulatorOverflow, match=r"op 'fc9' \(fully_connected\): fully_connected accumulator"):
        golden_model.run(g, np.zeros((1, 1, 1, 4), np.uint8))
