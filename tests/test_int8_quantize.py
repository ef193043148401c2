"""The int8 scheme's quantization flow: options, refusals, shared params, the report, the
Caffe-counted padding of avg_pool, and cifar10_m4's top-1 (with ../shared)."""
import numpy as np
import pytest

from conftest import CIFAR_CALIB, CIFAR_TEST, needs_shared
from nnbuild import calibration, golden, ir, reference
from nnbuild.errors import NnbuildError
from nnbuild.quantize import evaluate, format_report, quantize
from nnbuild.quantize.int8 import GOLDEN, arith
from nnbuild.quantize.int8.ops import RULES
from test_quantize import conv_graph, pixels, sqnr_db


def test_conv_graph_close_to_float_both_weight_granularities():
    g = conv_graph()
    px = pixels(60, (8, 8, 3))
    f = reference.run(g, px)
    for per_channel in (True, False):
        q = quantize(g, px, "int8", "minmax", options={"per_channel": per_channel})
        assert q.meta["quantization"]["scheme"] == "int8"
        assert q.meta["quantization"]["per_channel"] is per_channel
        y = golden.run(q, px)
        assert y.dtype == np.int8
        assert sqnr_db(f, golden.dequantize(q, "fc", y)) > 30
        c2 = q.op("c2")
        assert c2.params["weight"].dtype == np.int8 and np.abs(c2.params["weight"]).max() == 127
        assert c2.params["weight_scale"].shape == ((4,) if per_channel else (1,))
        assert c2.params["out_mult"].shape == c2.params["out_shift"].shape == (4,)
        assert c2.params["bias"].dtype == np.int32


def test_shared_params_and_fused_relu_clamp():
    q = quantize(conv_graph(), pixels(40, (8, 8, 3)), "int8", "mse")
    quant = {n: (t.quant["scale"], t.quant["zero_point"]) for n, t in q.tensors.items() if t.quant}
    assert quant["c1"] == quant["p1"] == quant["r1"] and quant["c2"] == quant["r2"] == quant["p2"]
    assert all(isinstance(s, float) and s == float(np.float32(s)) for s, _ in quant.values())
    assert q.op("r2").attrs["act_min"] == quant["r2"][1] and q.op("r2").attrs["act_max"] == 127
    assert q.tensors["px"].quant is None and q.tensors["px"].dtype == "uint8"


def test_options_are_checked():
    g, px = conv_graph(), pixels(20, (8, 8, 3))
    with pytest.raises(NnbuildError, match="unknown option.*'bits'") as e:
        quantize(g, px, "int8", options={"bits": 4})
    assert "per_channel" in e.value.expected
    with pytest.raises(NnbuildError, match="per_channel is 'yes'"):
        quantize(g, px, "int8", options={"per_channel": "yes"})
    with pytest.raises(NnbuildError, match="scheme q7") as e:          # q7 has no options
        quantize(g, px, "q7", options={"per_channel": False})
    assert "no options" in e.value.expected


def test_ops_without_int8_rule_are_refused_by_name():
    from nnbuild.quantize.int8.ops import rule

    with pytest.raises(NnbuildError, match="int8 scheme cannot quantize op type 'lrn'") as e:
        rule(ir.Op("n", "lrn", ["x"], ["y"], {}))
    assert e.value.where == "layer 'n' (lrn)" and "conv2d" in e.value.expected
    leaky = ir.Op("l", "relu", ["x"], ["y"], {"negative_slope": 0.1})
    with pytest.raises(NnbuildError, match="leaky ReLU") as e:
        RULES["relu"].params(None, leaky, [(0.1, 0)], (0.1, 0), {"per_channel": True}, [])
    assert e.value.where == "layer 'l' (relu)"


def test_report_describes_scales_and_zero_points():
    g = conv_graph()
    px = pixels(40, (8, 8, 3))
    rep = {}
    q = quantize(g, px, "int8", "minmax", report=rep)
    evaluate(g, q, px, np.zeros(40, int), rep)
    text = format_report(rep)
    assert text.startswith("int8 quantization of 'small': strategy minmax, 40 calibration images")
    t = {t["name"]: t for t in rep["tensors"]}
    assert t["fc"]["scale"] == q.tensors["fc"].quant["scale"] and f"z={q.tensors['fc'].quant['zero_point']}" in text
    assert t["fc"]["saturated"] == 0.0 and t["fc"]["sqnr_db"] > 30        # minmax: nothing saturates
    assert [l["name"] for l in rep["layers"]] == ["c1", "c2", "fc"] and "per channel" in text
    assert rep["eval"]["scheme"] == "int8" and "int8 " in text.splitlines()[-1]


def test_padded_avg_pool_counts_padding_as_real_zero():
    """Caffe's divisor counts padding cells: they hold real 0, the zero point, so the golden
    average dequantizes to the float average (to rounding) whatever the zero point."""
    op = ir.Op("p", "avg_pool", ["x"], ["y"], dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1)))
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(2, 7, 7, 3), dtype=np.int8)
    for zp in (-100, 0, 37):
        s = np.float32(0.05)
        attrs, _ = RULES["avg_pool"].params(None, op, [(s, zp)], (s, zp), {"per_channel": True}, [])
        qop = ir.Op("p", "avg_pool", ["x"], ["y"], {**op.attrs, **attrs})
        y = GOLDEN["avg_pool"](qop, [x])
        f = reference.run_op(op, [((x.astype(np.float64) - zp) * s).astype(np.float32)])
        assert np.abs((y.astype(np.float64) - zp) * s - f).max() <= s / 2 + 1e-6


def test_accumulator_and_multiplier_overflow_are_errors():
    op = ir.Op("f", "fully_connected", ["x"], ["y"], {},
               dict(weight=np.ones((1, 4), np.float32), bias=np.array([1e6], np.float32)))
    with pytest.raises(NnbuildError, match="accumulator can overflow"):
        RULES["fully_connected"].params(None, op, [(1e-6, 0)], (1.0, 0), {"per_channel": True}, [])
    huge = ir.Op("f", "fully_connected", ["x"], ["y"], {},
                 dict(weight=np.full((1, 4), 1e30, np.float32), bias=np.zeros(1, np.float32)))
    with pytest.raises(NnbuildError, match="requantization multiplier") as e:
        RULES["fully_connected"].params(None, huge, [(0.1, 0)], (0.01, 0), {"per_channel": True}, [])
    assert e.value.where == "layer 'f' (fully_connected)"
    with pytest.raises(arith.Int32Overflow):     # a multiplier >= 1 shifts left: x * 2^shift leaves int32
        arith.mbqm(np.array([1 << 30]), 1 << 30, 2)


def test_all_zero_tensor_falls_back_with_warning():
    g = conv_graph()
    g.op("c2").params["weight"][:] = 0
    g.op("c2").params["bias"][:] = 0
    rep = {}
    q = quantize(g, pixels(20, (8, 8, 3)), "int8", report=rep)
    assert q.tensors["r2"].quant == {"scale": 2.0 ** -7, "zero_point": 0}
    assert any("all zeros" in w for w in rep["warnings"])


@needs_shared
@pytest.mark.parametrize("strategy", ["minmax", "mse"])
def test_cifar_int8_top1(cifar_graph, strategy):
    calib = calibration.load_images(CIFAR_CALIB, (32, 32, 3), samples=500)
    z = np.load(CIFAR_TEST)
    rep = {}
    q = quantize(cifar_graph, calib, "int8", strategy, report=rep)
    float_scores = reference.run(cifar_graph, z["images"])
    res = evaluate(cifar_graph, q, z["images"], z["labels"], rep, float_scores=float_scores)
    assert (res["float_correct"], res["n"]) == (743, 932)
    # measured: minmax 743/932 (79.72 %), mse 742/932 (79.61 %); the goal is 746
    assert res["int8_correct"] >= 738
    # fidelity: the same top-1 as the float model on 918 (minmax) / 919 (mse) images; q7 mse: 911
    same = np.argmax(golden.run(q, z["images"]).reshape(932, -1), 1) == np.argmax(float_scores.reshape(932, -1), 1)
    assert int(same.sum()) >= 915
    assert min(t["sqnr_db"] for t in rep["tensors"]) > 25 and rep["warnings"] == []


def test_input_stage_folds_the_zero_point():
    g = conv_graph()
    px = pixels(30, (8, 8, 3))
    q = quantize(g, px, "int8", "minmax")
    s, z = q.tensors["x"].quant["scale"], q.tensors["x"].quant["zero_point"]
    real = reference.run(g, px, outputs=["x"])["x"].astype(np.float64)
    want = np.clip(np.round(real / s) + z, -128, 127)
    got = golden.run(q, px, outputs=["x"])["x"].astype(np.float64)
    assert np.abs(got - want).max() <= 1 and np.mean(got == want) > 0.99


def test_quantize_is_deterministic_and_leaves_the_float_graph_alone():
    g = conv_graph()
    px = pixels(30, (8, 8, 3))
    before = {k: v.copy() for k, v in g.params_dict().items()}
    a, b = (quantize(g, px, "int8", "mse") for _ in range(2))
    assert all(np.array_equal(v, g.params_dict()[k]) for k, v in before.items())
    assert a.to_json_dict() == b.to_json_dict()
    pa, pb = a.params_dict(), b.params_dict()
    assert pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)
