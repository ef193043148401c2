"""The int8 golden ops against TensorFlow Lite Micro's reference kernels, byte for byte: each case
is one seeded random op (shapes, strides, dilations, groups, scales, zero points), quantized by
the int8 scheme's rule, run by the golden model and by TFLM as a one-operator .tflite."""
import numpy as np
import pytest

pytest.importorskip("tflite_micro")

import _tflm_single_op as tflm  # noqa: E402
from nnbuild import ir, reference  # noqa: E402
from nnbuild.quantize.int8 import GOLDEN, arith  # noqa: E402
from nnbuild.quantize.int8.ops import RULES  # noqa: E402


def qparams(rng, lo=-4.0, hi=4.0):
    """A random (float32 scale, zero point) whose range holds [lo, hi] shifted at random."""
    a, b = sorted(rng.uniform(lo, hi, 2))
    return arith.qparams_from_range(min(a, -0.05), max(b, 0.05))


def random_int8(rng, shape):
    return rng.integers(-128, 128, size=shape, dtype=np.int8)


def quantized(op, q_in, q_out, per_channel=True):
    warnings = []
    attrs, params = RULES[op.type].params(None, op, [q_in], q_out, {"per_channel": per_channel}, warnings)
    return ir.Op(op.name, op.type, list(op.inputs), list(op.outputs), {**op.attrs, **attrs}, params)


def output_qparams(op, x, q_in, rng):
    """(scale, zp) from the float op's output range on the dequantized input, cut a little at
    random so that some values saturate (the clamp is tested too)."""
    real = ((x.astype(np.float64) - q_in[1]) * q_in[0]).astype(np.float32)
    y = reference.run_op(op, [real])
    lo, hi = np.percentile(y, [rng.uniform(0, 3), rng.uniform(97, 100)])
    return arith.qparams_from_range(min(lo, -1e-3), max(hi, 1e-3))


def check(qop, x, q_in, q_out):
    want = GOLDEN[qop.type](qop, [x])
    got = tflm.run(qop, x, q_in, q_out, want.shape)
    assert got.dtype == np.int8 and got.shape == want.shape
    assert np.array_equal(got, want), (qop.name, int(np.count_nonzero(got != want)), want.size)
    return want


def conv_case(rng, depthwise=False, group=1):
    while True:
        h, w = rng.integers(4, 12, 2)
        k = int(rng.choice([1, 2, 3, 5]))
        s, d = int(rng.choice([1, 2, 3])), int(rng.choice([1, 1, 2]))
        pad = int(rng.choice([0, (k - 1) * d // 2, 1]))
        if (k - 1) * d + 1 > min(h, w) + 2 * pad:
            continue
        pads = [tflm.tflite_padding(int(n), k, s, pad, d) for n in (h, w)]
        if None not in pads and pads[0] == pads[1]:
            break
    c = int(rng.integers(1, 5)) * (group if not depthwise else 1)
    if depthwise:
        group, o = c, c * int(rng.choice([1, 2]))
    else:
        o = int(rng.integers(1, 5)) * group
    n = 3
    scales = 10.0 ** rng.uniform(-2, 0, o)        # channels of very different magnitudes
    wt = (rng.normal(0, 1, (o, k, k, c // group)) * scales[:, None, None, None]).astype(np.float32)
    op = ir.Op("c", "conv2d", ["x"], ["y"],
               dict(kernel=(k, k), stride=(s, s), pad=(pad, pad), dilation=(d, d), group=group,
                    activation=str(rng.choice(["none", "relu"]))),
               dict(weight=wt, bias=rng.normal(0, 0.5, o).astype(np.float32)))
    return op, (n, int(h), int(w), c)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("kind", ["conv", "depthwise", "grouped"])
def test_conv2d_matches_tflm(kind, seed):
    rng = np.random.default_rng([seed, ["conv", "depthwise", "grouped"].index(kind)])
    op, shape = conv_case(rng, depthwise=kind == "depthwise", group=2 if kind == "grouped" else 1)
    x = random_int8(rng, shape)
    q_in = qparams(rng)
    q_out = output_qparams(op, x, q_in, rng)
    check(quantized(op, q_in, q_out, per_channel=bool(seed % 3)), x, q_in, q_out)


@pytest.mark.parametrize("seed", range(8))
def test_fully_connected_matches_tflm(seed):
    rng = np.random.default_rng([seed, 10])
    h, w, c, o = (int(v) for v in rng.integers(1, 6, 4))
    scales = 10.0 ** rng.uniform(-2, 0, o)
    op = ir.Op("f", "fully_connected", ["x"], ["y"], {"activation": str(rng.choice(["none", "relu"]))},
               dict(weight=(rng.normal(0, 1, (o, h * w * c)) * scales[:, None]).astype(np.float32),
                    bias=rng.normal(0, 0.5, o).astype(np.float32)))
    x = random_int8(rng, (4, h, w, c))
    q_in = qparams(rng)
    q_out = output_qparams(op, x, q_in, rng)
    # per-tensor weights use TFLite's float32 product of the scales: both paths against TFLM
    check(quantized(op, q_in, q_out, per_channel=bool(seed % 2)), x, q_in, q_out)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("kind", ["max_pool", "avg_pool"])
def test_pools_match_tflm(kind, seed):
    rng = np.random.default_rng([seed, 20])
    while True:
        h, w = (int(v) for v in rng.integers(3, 12, 2))
        k, s = int(rng.integers(2, 4)), int(rng.integers(1, 3))
        # avg: Caffe counts padding cells, TFLM does not: exact in TFLite only without padding
        pad = 0 if kind == "avg_pool" else int(rng.integers(0, k // 2 + 1))
        if k > min(h, w) + 2 * pad:
            continue
        pads = [tflm.tflite_padding(n, k, s, pad, pool=True) for n in (h, w)]
        if None not in pads and pads[0] == pads[1]:
            break
    op = ir.Op("p", kind, ["x"], ["y"], dict(kernel=(k, k), stride=(s, s), pad=(pad, pad)))
    x = random_int8(rng, (3, h, w, int(rng.integers(1, 5))))
    q = qparams(rng)
    check(quantized(op, q, q), x, q, q)


def test_clipped_pool_windows_are_covered():
    """The ceil-mode last window of an 8-wide input, kernel 3, stride 2 is clipped (2 cells):
    Caffe's divisor and TFLM's agree without padding, and both round half away from zero."""
    op = ir.Op("p", "avg_pool", ["x"], ["y"], dict(kernel=(3, 3), stride=(2, 2), pad=(0, 0)))
    x = np.full((1, 8, 8, 1), -3, np.int8)
    x[0, :, 7, 0] = 0       # last column: window {6, 7} sums -3 + 0 per row -> -1.5 per cell
    q = (np.float32(0.1), 5)
    y = check(quantized(op, q, q), x, q, q)
    assert y.shape == (1, 4, 4, 1) and y[0, 0, 3, 0] == -2 and y[0, 0, 0, 0] == -3


@pytest.mark.parametrize("seed", range(4))
def test_relu_matches_tflm(seed):
    rng = np.random.default_rng([seed, 30])
    op = ir.Op("r", "relu", ["x"], ["y"], {"negative_slope": 0.0})
    x = random_int8(rng, (2, 5, 4, 3))
    q = qparams(rng)
    check(quantized(op, q, q), x, q, q)


def _boundary_acc(m_a, m_b):
    """An accumulator value that mbqm rounds differently with the two (multiplier, shift)s."""
    (ma, sa), (mb, sb) = m_a, m_b
    real = ma * 2.0 ** (sa - 31)
    for k in range(-120, 120):
        centre = int(round((k + 0.5) / real))
        accs = np.arange(centre - 64, centre + 65, dtype=np.int64)
        diff = arith.mbqm(accs, ma, sa) != arith.mbqm(accs, mb, sb)
        if diff.any():
            return int(accs[np.argmax(diff)])
    return None


@pytest.mark.parametrize("kind", ["conv2d", "fully_connected"])
def test_multiplier_order_of_operations_matches_tflm(kind):
    """double(s_in) * double(s_w) / double(s_out) for conv and for per-tensor fc alike (TFLM's fc
    source reads as double(float32(s_in * s_w)) / double(s_out); the wheel computes the former).
    The two differ in the last bits of the Q31 multiplier: pick scales where they do and a bias
    that puts the accumulator on a rounding boundary that tells them apart."""
    rng = np.random.default_rng(40)
    for _ in range(200):
        s_in, s_out = arith.f32(10 ** rng.uniform(-3, -1)), arith.f32(10 ** rng.uniform(-2, 0))
        w = np.float32(10 ** rng.uniform(-3, -1))
        if kind == "conv2d":
            op = ir.Op("c", "conv2d", ["x"], ["y"], dict(kernel=(1, 1), stride=(1, 1), pad=(0, 0), dilation=(1, 1),
                                                         group=1), dict(weight=np.full((1, 1, 1, 1), w), bias=[0.0]))
        else:
            op = ir.Op("f", "fully_connected", ["x"], ["y"], {}, dict(weight=np.full((1, 1), w), bias=[0.0]))
        qop = quantized(op, (s_in, 0), (s_out, 0), per_channel=kind == "conv2d")    # fc: per tensor
        ws = float(qop.params["weight_scale"][0])
        double = arith.quantize_multiplier(float(s_in) * ws / float(s_out))
        single = arith.quantize_multiplier(float(np.float32(s_in) * np.float32(ws)) / float(s_out))
        ours = (int(qop.params["out_mult"][0]), int(qop.params["out_shift"][0]))
        assert ours == double
        acc = _boundary_acc(double, single) if double != single else None
        if acc is not None and abs(acc) < 1 << 24:
            break
    else:
        pytest.fail("no scales found whose two multiplier orders differ")
    wq = int(qop.params["weight"].reshape(-1)[0])
    qop.params["bias"] = np.array([acc - wq], np.int32)      # x = 1 gives acc exactly
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16, 1)
    if kind == "fully_connected":
        x = x.reshape(256, 1, 1, 1)
    y = check(qop, x, (s_in, 0), (s_out, 0))
    other = arith.mbqm(acc, *single)
    assert int(y.reshape(-1)[129]) != int(np.clip(other, -128, 127))     # x[129] == 1: the order matters
