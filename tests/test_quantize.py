"""q7 quantizer: contract parameters, exact rewrites, strategies, report, determinism, errors,
calibration loading; and the real CIFAR-10 model's accuracy."""
import io
import struct
import zipfile
import zlib

import numpy as np
import pytest

from conftest import CIFAR_CALIB, CIFAR_TEST, needs_shared
from nnbuild import calibration, golden, ir, reference
from nnbuild.errors import NnbuildError
from nnbuild.passes import relu_before_max_pool
from nnbuild.quantize import evaluate, format_report, quantize, report, stats
from nnbuild.quantize.q7 import choose_frac_bits
from nnbuild.quantize.q7 import golden as q7_golden
from nnbuild.quantize.q7 import params as q7


# -- small graphs ---------------------------------------------------------------------------------

def conv_graph(seed=0, scale=0.02):
    """input (8,8,3) -> conv 3x3 -> max_pool -> relu -> grouped conv -> relu -> avg_pool(pad) -> fc"""
    rng = np.random.default_rng(seed)
    g = ir.Graph("small", "px", ["fc"])
    shapes = {"px": (8, 8, 3), "x": (8, 8, 3), "c1": (8, 8, 8), "p1": (4, 4, 8), "r1": (4, 4, 8),
              "c2": (4, 4, 4), "r2": (4, 4, 4), "p2": (3, 3, 4), "fc": (1, 1, 5)}
    for n, s in shapes.items():
        g.tensors[n] = ir.Tensor(n, s, "uint8" if n == "px" else "float32")
    conv = dict(kernel=(3, 3), stride=(1, 1), pad=(1, 1), dilation=(1, 1))
    g.ops = [
        ir.Op("in", "input_stage", ["px"], ["x"], {"scale": scale},
              {"mean": rng.uniform(60, 200, size=(8, 8, 3)).astype(np.float32)}),
        ir.Op("c1", "conv2d", ["x"], ["c1"], dict(conv, group=1),
              dict(weight=rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
                   bias=rng.normal(0, 0.1, 8).astype(np.float32))),
        ir.Op("p1", "max_pool", ["c1"], ["p1"], dict(kernel=(2, 2), stride=(2, 2), pad=(0, 0))),
        ir.Op("r1", "relu", ["p1"], ["r1"], {"negative_slope": 0.0}),
        ir.Op("c2", "conv2d", ["r1"], ["c2"], dict(conv, group=2),
              dict(weight=rng.normal(0, 0.2, (4, 3, 3, 4)).astype(np.float32),
                   bias=rng.normal(0, 0.1, 4).astype(np.float32))),
        ir.Op("r2", "relu", ["c2"], ["r2"], {"negative_slope": 0.0}),
        ir.Op("p2", "avg_pool", ["r2"], ["p2"], dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1))),
        ir.Op("fc", "fully_connected", ["p2"], ["fc"], {},
              dict(weight=rng.normal(0, 0.3, (5, 36)).astype(np.float32),
                   bias=rng.normal(0, 0.1, 5).astype(np.float32))),
    ]
    return g.validate()


def misc_graph(seed=1):
    """input (4,4,2) -> conv 1x1 -> leaky relu -> {sigmoid, tanh} -> add, concat -> fc -> softmax"""
    rng = np.random.default_rng(seed)
    g = ir.Graph("misc", "px", ["sm"])
    shapes = {"px": (4, 4, 2), "x": (4, 4, 2), "c": (4, 4, 3), "l": (4, 4, 3), "s": (4, 4, 3),
              "t": (4, 4, 3), "a": (4, 4, 3), "k": (4, 4, 6), "f": (1, 1, 4), "sm": (1, 1, 4)}
    for n, s in shapes.items():
        g.tensors[n] = ir.Tensor(n, s, "uint8" if n == "px" else "float32")
    g.ops = [
        ir.Op("in", "input_stage", ["px"], ["x"], {"scale": 1 / 64}, {"mean": np.array([128.0, 100.0], np.float32)}),
        ir.Op("c", "conv2d", ["x"], ["c"], dict(kernel=(1, 1), stride=(1, 1), pad=(0, 0), dilation=(1, 1), group=1),
              dict(weight=rng.normal(0, 0.7, (3, 1, 1, 2)).astype(np.float32), bias=np.zeros(3, np.float32))),
        ir.Op("l", "relu", ["c"], ["l"], {"negative_slope": 0.1}),
        ir.Op("s", "sigmoid", ["l"], ["s"]),
        ir.Op("t", "tanh", ["l"], ["t"]),
        ir.Op("a", "add", ["s", "l"], ["a"]),
        ir.Op("k", "concat", ["a", "t"], ["k"]),
        ir.Op("f", "fully_connected", ["k"], ["f"], {},
              dict(weight=rng.normal(0, 0.2, (4, 96)).astype(np.float32), bias=np.zeros(4, np.float32))),
        ir.Op("sm", "softmax", ["f"], ["sm"]),
    ]
    return g.validate()


def pixels(n, shape, seed=3):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def sqnr_db(ref, q):
    return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - q) ** 2))


# -- rewrite --------------------------------------------------------------------------------------

def test_relu_moved_before_max_pool_is_exact():
    g = conv_graph()
    r = relu_before_max_pool.apply(g)
    assert [o.type for o in r.ops[:4]] == ["input_stage", "conv2d", "relu", "max_pool"]
    assert r.op("p1").outputs == ["r1"] and "p1" not in r.tensors
    assert r.tensors[r.op("r1").outputs[0]].shape == (8, 8, 8)
    px = pixels(20, (8, 8, 3))
    np.testing.assert_array_equal(reference.run(r, px), reference.run(g, px))
    assert [o.type for o in g.ops[:4]] == ["input_stage", "conv2d", "max_pool", "relu"]   # input untouched


# -- contract parameters --------------------------------------------------------------------------

@pytest.mark.parametrize("wmax,f", [(0.5, 7), (1.0, 6), (0.996, 7), (200.0, -1), (1e6, -13), (3e-4, 18)])
def test_weight_frac_bits_rule(wmax, f):
    w = np.array([wmax, -wmax / 3])
    assert q7.weight_bits(w, "l")[0] == f
    assert int(q7.quantize_weights(w, f)[0]) <= 127


def test_quantized_params_follow_the_contract():
    g = conv_graph()
    px = pixels(40, (8, 8, 3))
    q = quantize(g, px, strategy="minmax")
    f = {n: t.quant["frac_bits"] for n, t in q.tensors.items() if t.quant}
    assert q.tensors["px"].dtype == "uint8" and all(t.dtype == "int8" for n, t in q.tensors.items() if n != "px")
    # relu/pool outputs share their input's frac bits
    assert f["c1"] == f["p1"] == f["r1"] and f["c2"] == f["r2"] == f["p2"]
    for name in ("c1", "c2", "fc"):
        qop, fop = q.op(name), g.op(name)
        fw, fin, fout = qop.attrs["weight_frac_bits"], f[qop.inputs[0]], f[qop.outputs[0]]
        assert qop.attrs["out_shift"] == fin + fw - fout
        assert np.abs(fop.params["weight"]).max() * 2.0 ** fw <= 127.5 < np.abs(fop.params["weight"]).max() * 2.0 ** (fw + 1)
        np.testing.assert_array_equal(qop.params["weight"],
                                      np.clip(np.round(fop.params["weight"].astype(np.float64) * 2.0 ** fw), -128, 127))
        assert qop.params["bias"].dtype == np.int32 and qop.params["weight"].dtype == np.int8
        np.testing.assert_array_equal(qop.params["bias"], np.round(fop.params["bias"].astype(np.float64) * 2.0 ** (fin + fw)))
    # input stage: requant(p*mul - off, shift) ~ round((p - mean) * scale * 2^f)
    st = q.op("in")
    assert 1 <= st.attrs["shift"] <= 31 and st.params["off"].dtype == np.int32 and st.params["off"].size == 192
    got = q7_golden.input_stage(px, st.attrs["mul"], st.params["off"], st.attrs["shift"]).astype(np.int64)
    want = np.clip(np.round((px - g.op("in").params["mean"].astype(np.float64)) * 0.02 * 2.0 ** f["x"]), -128, 127)
    assert np.abs(got - want).max() <= 1 and np.mean(got == want) > 0.99


def test_uniform_mean_gives_per_channel_offsets():
    g = conv_graph()
    g.op("in").params["mean"][:] = np.array([120.0, 110.5, 100.25], np.float32)
    q = quantize(g, pixels(20, (8, 8, 3)))
    st = q.op("in")
    assert st.params["off"].shape == (3,)
    k = 2.0 ** (q.tensors["x"].quant["frac_bits"] + st.attrs["shift"])
    assert st.attrs["mul"] == round(0.02 * k)
    # the mean on its grid of 2^-2 (meangrid): M * round(scale * k / 4), within M/2 units of the exact offsets
    m = np.array([480, 442, 401])
    np.testing.assert_array_equal(st.params["off"], m * round(0.02 * k / 4))
    assert np.abs(st.params["off"] - np.array([120.0, 110.5, 100.25]) * 0.02 * k).max() <= m.max() / 2


def test_misc_ops_params_and_golden_close_to_float():
    g = misc_graph()
    px = pixels(60, (4, 4, 2))
    q = quantize(g, px, strategy="mse")
    f = {n: t.quant["frac_bits"] for n, t in q.tensors.items() if t.quant}
    assert f["s"] == f["t"] == f["sm"] == 7
    assert q.op("l").attrs["slope_q15"] == 3277
    fm = max(f["s"], f["l"])
    assert q.op("a").attrs["in_shifts"] == [fm - f["s"], fm - f["l"]] and q.op("a").attrs["out_shift"] == fm - f["a"]
    assert q.op("k").attrs["shifts"] == [f["a"] - f["k"], f["t"] - f["k"]]
    table = q.op("t").params["table"]
    assert table.dtype == np.int8 and table[128] == 0 and table[255] == min(127, round(np.tanh(127 * 2.0 ** -f["l"]) * 128))
    exp_table = q.op("sm").params["exp_table"]
    assert exp_table.dtype == np.int32 and exp_table[0] == 65536
    assert exp_table[3] == round(65536 * np.exp(-3 * 2.0 ** -f["f"]))
    fl = reference.run(g, px, outputs=["a", "k", "sm"])
    gq = golden.run(q, px, outputs=["a", "k", "sm"])
    for n in ("a", "k"):
        assert sqnr_db(fl[n], gq[n] * 2.0 ** -f[n]) > 25
    assert np.abs(gq["sm"] * 2.0 ** -7 - fl["sm"]).max() < 0.05


def test_small_conv_graph_q7_matches_float():
    g = conv_graph()
    calib, test = pixels(50, (8, 8, 3), seed=4), pixels(50, (8, 8, 3), seed=5)
    for strategy in ("minmax", "mse"):
        q = quantize(g, calib, strategy=strategy)
        out = golden.dequantize(q, "fc", golden.run(q, test))
        assert sqnr_db(reference.run(g, test), out) > 20


def test_strategies_minmax_never_saturates_and_mse_uses_more_bits():
    g = conv_graph()
    px = pixels(50, (8, 8, 3))
    rep_mm, rep_mse = {}, {}
    q_mm = quantize(g, px, strategy="minmax", report=rep_mm)
    q_mse = quantize(g, px, strategy="mse", report=rep_mse)
    assert rep_mm["strategy"] == "minmax" and rep_mm["samples"] == 50
    only_relu = {"c1", "c2"}    # negative values feeding a ReLU may saturate by design
    for t in rep_mm["tensors"]:
        if t["name"] not in only_relu:
            assert t["saturated"] == 0.0, t
    for n, t in q_mm.tensors.items():
        if n != "px":
            assert q_mse.tensors[n].quant["frac_bits"] >= t.quant["frac_bits"]
    names = [t["name"] for t in rep_mse["tensors"]]
    assert names == ["x", "c1", "p1", "r1", "c2", "r2", "p2", "fc"]
    assert all(t["sqnr_db"] > 15 for t in rep_mse["tensors"])
    text = format_report(rep_mse)
    assert "strategy mse, 50 calibration images" in text and "p1" in text
    assert [l["name"] for l in rep_mse["layers"]] == ["c1", "c2", "fc"]


def test_quantize_is_deterministic(tmp_path):
    g = conv_graph()
    px = pixels(30, (8, 8, 3))
    before = {k: v.copy() for k, v in g.params_dict().items()}
    files = []
    for i in range(2):
        q = quantize(g, px)
        q.save(tmp_path / f"q{i}.json", tmp_path / f"q{i}.npz")
        files.append(((tmp_path / f"q{i}.json").read_bytes(), (tmp_path / f"q{i}.npz").read_bytes()))
    assert files[0] == files[1]
    for k, v in g.params_dict().items():
        np.testing.assert_array_equal(v, before[k])       # the float graph is not modified
    back = ir.load_graph(tmp_path / "q0.json", tmp_path / "q0.npz")
    np.testing.assert_array_equal(golden.run(back, px), golden.run(q, px))


# -- bad input ------------------------------------------------------------------------------------

def test_bad_calibration_pixels():
    g = conv_graph()
    with pytest.raises(NnbuildError, match="only 9 calibration images.*at least 10"):
        quantize(g, pixels(9, (8, 8, 3)))
    with pytest.raises(NnbuildError, match="float32"):
        quantize(g, pixels(20, (8, 8, 3)).astype(np.float32))
    with pytest.raises(NnbuildError, match=r"expected uint8 \(N, 8, 8, 3\)"):
        quantize(g, pixels(20, (8, 8, 1)))
    with pytest.raises(NnbuildError, match="unknown quantization strategy 'kl2'"):
        quantize(g, pixels(20, (8, 8, 3)), strategy="kl2")
    q = quantize(g, pixels(20, (8, 8, 3)))
    with pytest.raises(NnbuildError, match="already quantized"):
        quantize(q, pixels(20, (8, 8, 3)))


def test_nan_weights_and_activations_name_the_layer():
    g = conv_graph()
    g.op("c2").params["weight"][0, 0, 0, 0] = np.nan
    with pytest.raises(NnbuildError, match=r"layer 'c2' \(conv2d\): weights contain NaN"):
        quantize(g, pixels(20, (8, 8, 3)))
    g = conv_graph()
    g.op("in").params["mean"][2, 3, 1] = np.nan
    with pytest.raises(NnbuildError, match=r"layer 'in': non-finite values \(NaN/inf\) in tensor 'x'"):
        quantize(g, pixels(20, (8, 8, 3)))


def test_huge_weights_rejected():
    g = conv_graph()
    g.op("fc").params["weight"][0, 0] = 1e9
    with pytest.raises(NnbuildError, match=r"layer 'fc'.*do not fit any 8-bit format"):
        quantize(g, pixels(20, (8, 8, 3)))


def test_all_zero_tensor_falls_back_with_warning():
    g = conv_graph()
    g.op("c2").params["weight"][:] = 0
    g.op("c2").params["bias"][:] = -1      # relu output all zero
    rep = {}
    q = quantize(g, pixels(20, (8, 8, 3)), report=rep)
    assert q.tensors["r2"].quant["frac_bits"] == 7 and q.tensors["p2"].quant["frac_bits"] == 7
    assert any("all zeros" in w and "r2" in w for w in rep["warnings"])
    assert any("c2" in w and "weights are zero" in w for w in rep["warnings"])
    assert "WARNING: tensor" in format_report(rep)


def test_accumulator_bound_lowers_weight_bits():
    g = conv_graph()
    # 36 inputs of up to 127 * 128 with a large bias: fw must drop so the worst case fits int32
    g.op("fc").params["bias"][0] = 3.0e4
    q = quantize(g, pixels(20, (8, 8, 3)))
    op = q.op("fc")
    worst = np.abs(op.params["bias"].astype(np.int64)) + 128 * np.abs(op.params["weight"].astype(np.int64)).sum(1)
    assert worst.max() <= 2 ** 31 - 1


# -- calibration sample and report warnings --------------------------------------------------------

def wide_graph(channel_gain, seed=0):
    """input (8,8,3) -> 1x1 conv whose output channel c is gain[c] times a mix of the input."""
    c = len(channel_gain)
    rng = np.random.default_rng(seed)
    g = ir.Graph("wide", "px", ["y"])
    for n, s in {"px": (8, 8, 3), "x": (8, 8, 3), "y": (8, 8, c)}.items():
        g.tensors[n] = ir.Tensor(n, s, "uint8" if n == "px" else "float32")
    w = rng.uniform(0.5, 1.0, (c, 1, 1, 3)) * np.asarray(channel_gain, np.float64)[:, None, None, None] / 3
    g.ops = [ir.Op("in", "input_stage", ["px"], ["x"], {"scale": 1 / 128}, {"mean": np.float32(128.0)}),
             ir.Op("y", "conv2d", ["x"], ["y"], dict(kernel=(1, 1), stride=(1, 1), pad=(0, 0), dilation=(1, 1),
                                                    group=1),
                   dict(weight=w.astype(np.float32), bias=np.zeros(c, np.float32)))]
    return g.validate()


@pytest.mark.parametrize("channels, stride", [(32, 8), (16, 4), (24, 6), (10, 5), (12, 16), (3, 3), (64, 2)])
def test_calibration_sample_holds_every_channel(monkeypatch, channels, stride):
    """A cap that made the old flat stride alias with the channel count (it kept channels
    0, gcd, 2*gcd, ...): whole pixels are sampled now, so every channel is there, equally often."""
    g = wide_graph(np.ones(channels))
    g.op("y").params["weight"][:] = 0
    g.op("y").params["bias"][:] = np.arange(1, channels + 1)        # channel c holds the value c + 1
    n = 20
    monkeypatch.setattr(stats, "SAMPLE_CAP", n * 64 * channels // stride)
    st = stats.collect(g, pixels(n, (8, 8, 3)), batch=7)["y"]
    assert st.pixels.shape == (n * 64 // stride, channels)
    np.testing.assert_array_equal(st.pixels, np.tile(np.arange(1, channels + 1, dtype=np.float32),
                                                     (len(st.pixels), 1)))
    assert st.sample.size <= stats.SAMPLE_CAP
    again = stats.collect(g, pixels(n, (8, 8, 3)), batch=7)["y"]
    np.testing.assert_array_equal(again.pixels, st.pixels)          # seeded: the same every run


def test_channels_of_wildly_different_range_get_the_frac_bits_of_all_values(monkeypatch):
    """Channels 0, 8, 16, 24 small, the other 28 large (MobileNet conv2_1/dw): the frac bits must be
    those that the full data gives, not those of the 4 small channels."""
    gain = np.where(np.arange(32) % 8 == 0, 0.02, 6.0)
    g, n = wide_graph(gain), 40
    px = pixels(n, (8, 8, 3))
    monkeypatch.setattr(stats, "SAMPLE_CAP", n * 64 * 32 // 8)     # the old stride would have been 8
    rep = {}
    q = quantize(g, px, strategy="mse", report=rep)
    full = reference.run(g, px).astype(np.float32).reshape(-1)
    want, _ = stats.choose_bits(full, float(full.min()), float(full.max()), "mse")
    assert q.tensors["y"].quant["frac_bits"] == want == 4
    y = next(t for t in rep["tensors"] if t["name"] == "y")
    assert y["saturated"] < 0.001 and y["sqnr_db"] > 30 and rep["warnings"] == []


def _measure_with_bits(g, px, shift=None):
    """The report of `g` quantized with its chosen frac bits, optionally shifted for some tensors."""
    fg = relu_before_max_pool.apply(g)
    warnings = []
    bits = choose_frac_bits(fg, px, "mse", warnings)
    for name, d in (shift or {}).items():
        bits[name] += d
    return report.measure(fg, q7.lower(fg, bits, warnings), px, "mse", warnings)


def test_report_warns_when_a_tensor_saturates_or_loses_its_signal():
    g, px = conv_graph(), pixels(30, (8, 8, 3))
    quiet = _measure_with_bits(g, px)
    assert quiet["warnings"] == [] and all(t["warning"] is None for t in quiet["tensors"])
    assert "WARNING" not in format_report(quiet)
    # 3 bits too many for the r2 group (c2 -> r2 -> p2): most of its values saturate
    loud = _measure_with_bits(g, px, {"c2": 3, "r2": 3, "p2": 3})
    (w,) = [w for w in loud["warnings"] if "'r2'" in w]
    assert "% of its values saturate" in w and "frac bits" in w and "'p2'" in w      # one message per group
    flagged = {t["name"]: t["warning"] for t in loud["tensors"] if t["warning"]}
    assert {"r2", "p2"} <= set(flagged) and "c2" not in flagged      # c2 only feeds a ReLU: not judged
    text = format_report(loud)
    assert text.index("WARNING: tensor 'r2'") < text.index("tensor ")  # before the tables
    assert "<-- " in text.splitlines()[[l.split()[0] if l else "" for l in text.splitlines()].index("r2")]
    # 6 bits too few for fc: values round to a few steps, the SQNR collapses without saturating
    low = _measure_with_bits(g, px, {"fc": -6})
    fc = next(t for t in low["tensors"] if t["name"] == "fc")
    assert fc["saturated"] == 0 and fc["sqnr_db"] < report.SQNR_WARN_DB
    assert any("'fc'" in w and "SQNR" in w for w in low["warnings"])


def test_saturation_at_a_half_step_is_not_counted():
    """x = p / 256 reaches 255/256 = 127.5 steps at frac bits 7: rounding, not saturation."""
    g = wide_graph(np.ones(2))
    g.op("in").params["mean"] = np.float32(0.0)
    g.op("in").attrs["scale"] = 1 / 256
    px = np.full((12, 8, 8, 3), 255, np.uint8)
    px[:6] = 0
    rep = {}
    q = quantize(g, px, strategy="minmax", report=rep)
    x = next(t for t in rep["tensors"] if t["name"] == "x")
    assert q.tensors["x"].quant["frac_bits"] == 7 and x["saturated"] == 0.0


# -- calibration loading --------------------------------------------------------------------------

def png_bytes(img, filters):
    """A minimal PNG encoder for tests: 8-bit RGB or gray, one filter type per row."""
    h, w, c = img.shape
    raw = bytearray()
    prev = np.zeros(w * c, np.int32)
    for y in range(h):
        line = img[y].reshape(-1).astype(np.int32)
        ft = filters[y % len(filters)]
        out = np.zeros_like(line)
        for i in range(len(line)):
            a = line[i - c] if i >= c else 0
            b = prev[i]
            cc = prev[i - c] if i >= c else 0
            pred = [0, a, b, (a + b) >> 1, None][ft]
            if ft == 4:
                p = a + b - cc
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else cc)
            out[i] = (line[i] - pred) & 255
        raw += bytes([ft]) + bytes(out.astype(np.uint8))
        prev = line

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    color = 2 if c == 3 else 0
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


def test_load_npz_orders_and_samples(tmp_path):
    imgs = pixels(12, (4, 5, 3))
    np.savez(tmp_path / "d.npz", images=imgs, labels=np.arange(12))
    rgb = calibration.load_images(tmp_path / "d.npz", (4, 5, 3), samples=10)
    np.testing.assert_array_equal(rgb, imgs[:10])
    bgr = calibration.load_images(tmp_path / "d.npz", (4, 5, 3), channel_order="BGR")
    np.testing.assert_array_equal(bgr, imgs[..., ::-1])
    gray = calibration.load_images(tmp_path / "d.npz", (4, 5, 1), channel_order="GRAY")
    r, g_, b = (imgs[..., i].astype(np.int64) for i in range(3))
    np.testing.assert_array_equal(gray[..., 0], (77 * r + 150 * g_ + 29 * b + 128) >> 8)
    assert calibration.rgb_to_gray(np.array([[255, 255, 255]], np.uint8)).tolist() == [255]
    np.savez(tmp_path / "g.npz", images=imgs[..., 0])
    g3 = calibration.load_images(tmp_path / "g.npz", (4, 5, 3))
    np.testing.assert_array_equal(g3, np.repeat(imgs[..., :1], 3, axis=3))


def test_load_folder_png_and_ppm(tmp_path):
    imgs = pixels(3, (5, 6, 3), seed=9)
    (tmp_path / "a.png").write_bytes(png_bytes(imgs[0], [0, 1, 2, 3, 4]))
    (tmp_path / "b.png").write_bytes(png_bytes(imgs[1], [4, 3, 2, 1, 0]))
    (tmp_path / "c.ppm").write_bytes(b"P6\n# comment\n6 5\n255\n" + imgs[2].tobytes())
    (tmp_path / "notes.txt").write_text("ignored")
    got = calibration.load_images(tmp_path, (5, 6, 3))
    np.testing.assert_array_equal(got, imgs)
    gray = imgs[0, :, :, :1]
    d = tmp_path / "gray"
    d.mkdir()
    (d / "g.png").write_bytes(png_bytes(gray, [4]))
    (d / "h.pgm").write_bytes(b"P5 6 5 255\n" + gray.tobytes())
    got = calibration.load_images(d, (5, 6, 1), channel_order="GRAY")
    np.testing.assert_array_equal(got, np.stack([gray, gray]))


def test_calibration_errors(tmp_path):
    imgs = pixels(12, (4, 5, 3))
    np.savez(tmp_path / "d.npz", images=imgs)
    np.savez(tmp_path / "f.npz", images=imgs.astype(np.float32))
    np.savez(tmp_path / "k.npz", pictures=imgs)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    cases = [
        (tmp_path / "missing.npz", {}, "not found"),
        (tmp_path / "k.npz", {}, "no 'images' array.*pictures"),
        (tmp_path / "f.npz", {}, "dtype float32.*uint8"),
        (tmp_path / "bad.npz", {}, "cannot read"),
        (tmp_path / "d.npz", {"samples": 13}, "only 12 images, 13 requested"),
        (tmp_path / "d.npz", {"channel_order": "YUV"}, "unknown channel order"),
    ]
    for path, kw, msg in cases:
        with pytest.raises(NnbuildError, match=msg) as e:
            calibration.load_images(path, (4, 5, 3), **kw)
        assert str(path) in str(e.value)
    with pytest.raises(NnbuildError, match="images are 4x5 pixels.*32x32"):
        calibration.load_images(tmp_path / "d.npz", (32, 32, 3))
    d = tmp_path / "jpegs"
    d.mkdir()
    (d / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    with pytest.raises(NnbuildError, match=r"a\.jpg: JPEG file has an unreadable header"):   # JPEGs are read now
        calibration.load_images(d, (4, 5, 3))


def test_eval_data_labels_must_match_the_images(tmp_path):
    g = conv_graph()                                  # 8x8x3 input, 5 classes
    imgs = pixels(20, (8, 8, 3))
    good = tmp_path / "good.npz"
    np.savez(good, images=imgs, labels=np.arange(20, dtype=np.uint8) % 5)
    got, labels = calibration.load_eval_data(good, g, limit=7)
    np.testing.assert_array_equal(got, imgs[:7])
    assert labels.dtype == np.int64 and labels.tolist() == [0, 1, 2, 3, 4, 0, 1]
    cases = {
        "one.npz": (dict(labels=np.array([3])), r"npz, labels: 1 labels for 20 images"),
        "two_d.npz": (dict(labels=np.zeros((20, 1), np.int64)), r"'labels' has shape \(20, 1\).*1-D"),
        "float.npz": (dict(labels=np.zeros(20, np.float32)), r"'labels' has dtype float32.*integer"),
        "text.npz": (dict(labels=np.array(["cat"] * 20)), r"'labels' has dtype <U3.*integer"),
        "object.npz": (dict(labels=np.array([1, "a"] * 10, dtype=object)), r"cannot read 'labels'.*object"),
        "range.npz": (dict(labels=np.full(20, 5)), r"label 5 of image 0 is not a class index.*0\.\.4"),
        "negative.npz": (dict(labels=np.r_[np.zeros(19, int), -1]), r"label -1 of image 19"),
        "none.npz": ({}, r"no 'labels' array \(found: images\)"),
    }
    for name, (extra, msg) in cases.items():
        np.savez(tmp_path / name, images=imgs, **extra)
        with pytest.raises(NnbuildError, match=msg) as e:
            calibration.load_eval_data(tmp_path / name, g)
        assert str(tmp_path / name) in str(e.value)
    header = io.BytesIO()       # 'labels' declaring 2^40 int64 values in a few bytes
    np.lib.format.write_array_header_1_0(header, {"descr": "<i8", "fortran_order": False, "shape": (1 << 40,)})
    member = io.BytesIO()
    np.lib.format.write_array(member, imgs)
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as zf:
        zf.writestr("images.npy", member.getvalue())
        zf.writestr("labels.npy", header.getvalue() + bytes(16))
    # numpy refuses the allocation (MemoryError) or, with memory overcommit, finds the data missing
    with pytest.raises(NnbuildError, match=r"huge\.npz, labels: ('labels' declares more data than fits|"
                                           r"cannot read 'labels': EOF)"):
        calibration.load_eval_data(tmp_path / "huge.npz", g)
    for path, limit, msg in [(tmp_path / "missing.npz", None, "evaluation data not found"),
                             (tmp_path, None, "evaluation data is a folder"),
                             (good, 0, "limit = 0"), (good, 21, "only 20 images, 21 requested")]:
        with pytest.raises(NnbuildError, match=msg) as e:
            calibration.load_eval_data(path, g, limit)
        assert "calibration" not in str(e.value)


# -- the real model -------------------------------------------------------------------------------

@needs_shared
def test_cifar_q7_top1(cifar_graph):
    calib = calibration.load_images(CIFAR_CALIB, (32, 32, 3), samples=500)
    z = np.load(CIFAR_TEST)
    float_scores = reference.run(cifar_graph, z["images"])
    rep = {}
    q = quantize(cifar_graph, calib, report=rep)           # default strategy
    assert rep["strategy"] == "mse"
    res = evaluate(cifar_graph, q, z["images"], z["labels"], rep, float_scores=float_scores)
    assert (res["float_correct"], res["n"]) == (743, 932)
    assert res["q7_correct"] >= 740                          # measured: 746/932 (80.04 %)
    assert f"q7 {res['q7_correct']} ({100 * res['q7_top1']:.2f} %)" in format_report(rep)
    # the max_pool/relu swap gave conv1 a non-negative range, and its ReLU fused into it
    assert [o.type for o in q.ops[1:3]] == ["conv2d", "max_pool"]
    assert q.ops[1].name == "conv1+relu1" and q.ops[1].attrs["act_min"] == 0
    assert min(t["sqnr_db"] for t in rep["tensors"]) > 18
    assert rep["warnings"] == [] and "WARNING" not in format_report(rep)
    q_mm = quantize(cifar_graph, calib, strategy="minmax")
    res_mm = evaluate(cifar_graph, q_mm, z["images"], z["labels"], float_scores=float_scores)
    assert res_mm["q7_correct"] >= 735                       # measured: 741/932 (79.51 %)


def test_mean_on_grid_is_exact_when_it_can_be():
    from nnbuild.quantize.meangrid import mean_on_grid
    img = np.random.default_rng(2).integers(0, 256, (4, 4, 3)).astype(np.float32)
    m, g = mean_on_grid(img, (4, 4, 3), "w")
    assert g == 0 and m.dtype == np.int64 and np.array_equal(m, img.reshape(-1))
    m, g = mean_on_grid(img + 0.25, (4, 4, 3), "w")
    assert g == 2 and np.array_equal(m, img.reshape(-1) * 4 + 1)
    m, g = mean_on_grid([104.0, 116.7, 0.5 / 256], (2, 2, 3), "w")     # off the grid: 8 bits, half up
    assert g == 8 and m.tolist() == [104 * 256, 29875, 1]
    m, g = mean_on_grid(np.tile([1.5, 2.0], 9), (3, 3, 2), "w")           # one mean per channel
    assert g == 1 and m.tolist() == [3, 4]
    for bad in ([1.0, 2.0], [np.inf] * 3, [2.0 ** 23] * 3):
        with pytest.raises(NnbuildError, match="mean"):
            mean_on_grid(bad, (2, 2, 3), "input stage")


@pytest.mark.parametrize("scheme", ["q7", "int8"])
def test_integer_mean_image_gives_offsets_on_one_grid(scheme):
    """(p - M) * mul, exactly, before the rounding shift (and int8's zero point): the generator
    can then store the offsets as one byte per value."""
    from nnbuild.quantize.int8 import params as i8
    img = np.random.default_rng(4).integers(60, 200, (4, 4, 3)).astype(np.float64)
    if scheme == "q7":
        mul, shift, off = q7.input_stage_params(img, 1 / 255, (4, 4, 3), 7, "w")
        np.testing.assert_array_equal(off, img.reshape(-1).astype(np.int64) * mul)
    else:
        mul, shift, off = i8.input_stage_params(img, 1.0, (4, 4, 3), 0.8123, -7, "w")
        np.testing.assert_array_equal(off, img.reshape(-1).astype(np.int64) * mul + (7 << shift))
    assert 20 <= shift <= 31
