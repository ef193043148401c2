"""The int8 golden ops against slow loops written from docs/int8_contract.md, on the cases TFLM
cannot check because TFLite has no single op for them: Caffe paddings that are neither SAME nor
VALID, and average pools whose Caffe divisor counts padding cells."""
import numpy as np
import pytest

from nnbuild import ir
from nnbuild.quantize.int8 import arith, golden


def slow_conv(x, w, bias, in_zp, mult, shift, out_zp, lo, hi, stride, pad, dil, group):
    n, h, wd, c = x.shape
    o_ch, kh, kw, ig = w.shape
    oh, ow = ir.conv_output_size(h, kh, stride, pad, dil), ir.conv_output_size(wd, kw, stride, pad, dil)
    og = o_ch // group
    y = np.zeros((n, oh, ow, o_ch), np.int8)
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for o in range(o_ch):
                    acc = int(bias[o])
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = oy * stride - pad + ky * dil, ox * stride - pad + kx * dil
                            if 0 <= iy < h and 0 <= ix < wd:
                                for i in range(ig):
                                    acc += (int(x[b, iy, ix, (o // og) * ig + i]) - in_zp) * int(w[o, ky, kx, i])
                    v = int(arith.mbqm(acc, int(mult[o]), int(shift[o]))) + out_zp
                    y[b, oy, ox, o] = min(max(v, lo), hi)
    return y


@pytest.mark.parametrize("seed", range(6))
def test_conv2d_with_caffe_padding_matches_the_contract(seed):
    rng = np.random.default_rng([seed, 50])
    group = int(rng.choice([1, 2]))
    k, s, d = int(rng.choice([3, 5])), int(rng.choice([1, 2, 3])), int(rng.choice([1, 2]))
    pad = int(rng.integers(1, k))           # e.g. pad 2 with kernel 3: no TFLite padding mode
    h = int(rng.integers((k - 1) * d + 1, (k - 1) * d + 5))
    c, o = 2 * group, 3 * group
    x = rng.integers(-128, 128, (2, h, h + 1, c), dtype=np.int8)
    w = rng.integers(-127, 128, (o, k, k, c // group), dtype=np.int8)
    bias = rng.integers(-5000, 5000, o)
    mult = rng.integers(1 << 30, 1 << 31, o)
    shift = rng.integers(-12, -6, o)
    in_zp, out_zp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    args = (bias, in_zp, mult, shift, out_zp, -100, 120)
    got = golden.conv2d(x, w, *args, (s, s), (pad, pad), (d, d), group)
    assert np.array_equal(got, slow_conv(x, w, *args, s, pad, d, group))


def slow_avg_pool(x, k, s, p, zp):
    n, h, w, c = x.shape
    oh, ow = ir.pool_output_size(h, k, s, p), ir.pool_output_size(w, k, s, p)
    y = np.zeros((n, oh, ow, c), np.int8)
    for oy in range(oh):
        y0, y1, cy = ir.pool_window(oy, k, s, p, h)
        for ox in range(ow):
            x0, x1, cx = ir.pool_window(ox, k, s, p, w)
            cnt = cy * cx
            valid = (y1 - y0) * (x1 - x0)
            for b in range(n):
                for ch in range(c):
                    acc = int(x[b, y0:y1, x0:x1, ch].astype(np.int64).sum()) + (cnt - valid) * zp
                    q = (abs(acc) + cnt // 2) // cnt      # C: (acc +- cnt/2) / cnt, truncated
                    y[b, oy, ox, ch] = min(max(q if acc >= 0 else -q, -128), 127)
    return y


@pytest.mark.parametrize("seed", range(6))
def test_avg_pool_with_counted_padding_matches_the_contract(seed):
    rng = np.random.default_rng([seed, 60])
    k, s = int(rng.integers(2, 5)), int(rng.integers(1, 3))
    p = int(rng.integers(1, k))
    h, w = (int(v) for v in rng.integers(k, 10, 2))
    x = rng.integers(-128, 128, (2, h, w, 3), dtype=np.int8)
    zp = int(rng.integers(-128, 128))
    got = golden.avg_pool(x, (k, k), (s, s), (p, p), zp, -128, 127)
    assert np.array_equal(got, slow_avg_pool(x, k, s, p, zp))


def test_accumulator_overflow_names_int32():
    x = np.full((1, 1, 1, 4), 127, np.int8)
    w = np.full((1, 4), 127, np.int8)
    with pytest.raises(arith.Int32Overflow, match="fully_connected accumulator"):
        golden.fully_connected(x, w, [(1 << 31) - 10000], -128, [1 << 30], [-1], 0, -128, 127)
