"""int8 MUL and ADD by a constant (an int8 channel_affine, docs/int8_contract.md): golden ==
TensorFlow Lite Micro on every (input, constant) pair and on seeded random imported models (one
value or one per channel, fused NONE / RELU / RELU6, zero points across int8); the writer gives the
file back byte for byte; a calibrated float model quantizes its constants per tensor; host C and
QEMU == golden; what TFLM would compute differently or overflow is refused by name."""
import ctypes

import numpy as np
import pytest

from conftest import ROOT, needs_arm, needs_qemu
from test_export_tflite import Net
from test_tflite_frontend import MEAN, SCALE, B, S, T, Tfl, _manifest, _pixels, _write, assert_same_graph, \
    assert_qemu_m4_equals_golden, load_int8, reimport
from tflm_oracle import run_tflm

from nnbuild import csources, golden, hostcc, ir, kernels
from nnbuild.errors import NnbuildError
from nnbuild.exporters import tflite
from nnbuild.quantize.int8.ops import rule

A = S.ActivationFunctionType


def _quant(s, z):
    return {"scale": np.array([s], np.float32), "zero_point": np.array([z], np.int64), "dim": 0}


def _options(code, act):
    if code == B.MUL:
        return S.BuiltinOptions.MulOptions, (S.MulOptions, [(S.MulOptions.FUSED_ACTIVATION_FUNCTION, "i8", act)])
    return S.BuiltinOptions.AddOptions, (S.AddOptions, [(S.AddOptions.FUSED_ACTIVATION_FUNCTION, "i8", act)])


def by_constant(m, code, x, shape, k, q_k, q_out, act=A.NONE, const_first=False):
    """MUL / ADD of image tensor x by the int8 constant k (stored with `k`'s shape), in model m."""
    ki = m.tensor(k.shape, T.INT8, data=k, quant=_quant(*q_k))
    y = m.op(code, [ki, x] if const_first else [x, ki], shape, _options(code, act), out_type=T.INT8)
    m.tensors[y]["quant"] = _quant(*q_out)
    return y


def one_op_model(code, shape, k, q_in, q_k, q_out, act=A.NONE, const_first=False):
    m = Tfl()
    x = m.tensor([1, *shape], T.INT8, quant=_quant(*q_in))
    m.inputs = [x]
    m.outputs = [by_constant(m, code, x, [1, *shape], k, q_k, q_out, act, const_first)]
    return m.bytes()


def _run_after_input_stage(g, x):
    vals = {g.ops[0].outputs[0]: x}
    for op in g.ops[1:]:
        vals[op.outputs[0]] = rule(op).golden(op, [vals[t] for t in op.inputs])
    return vals[g.outputs[0]]


# -- every (input, constant) pair ------------------------------------------------------------------

ALL = np.arange(-128, 128)


@pytest.mark.parametrize("q_in,q_k,q_out", [
    ((0.05, 0), (0.02, 0), (0.04, 0)),          # multiplier 0.025: right shifts
    ((0.1, -7), (0.3, 100), (0.003, 5)),        # 10: a left shift of 4
    ((0.02, 127), (0.5, -128), (0.2, 127)),     # zero points at both ends: products <= 0
    ((0.07, 3), (0.011, -40), (0.07, 3)),
    ((1.0, 0), (1.0, 0), (1.0 / 65025, 0)),     # the largest left shift the product allows
])
def test_mul_every_input_times_every_constant_against_tflm(tmp_path, q_in, q_k, q_out):
    """One row per input value, one channel per constant value: all 65,536 products."""
    data = one_op_model(B.MUL, [256, 1, 256], ALL.astype(np.int8), q_in, q_k, q_out)
    g = load_int8(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)
    x = np.broadcast_to(ALL[:, None, None], (256, 1, 256)).astype(np.int8)[None]
    want = _run_after_input_stage(g, x)
    assert np.array_equal(run_tflm(data, x).reshape(want.shape), want) and len(np.unique(want)) > 2


@pytest.mark.parametrize("q_in,q_k,q_out", [
    ((0.05, 0), (0.02, 0), (0.04, 0)),
    ((0.1, -7), (0.3, 100), (0.25, 5)),
    ((0.02, 127), (0.5, -128), (0.6, -128)),
    ((0.07, 3), (0.07, 3), (0.07, 3)),          # equal scales: the 1/2 multipliers
    ((0.3, -50), (0.001, 20), (0.0012, 60)),    # the constant barely registers
])
def test_add_every_input_plus_every_constant_against_tflm(tmp_path, q_in, q_k, q_out):
    data = one_op_model(B.ADD, [256, 1, 256], ALL.astype(np.int8), q_in, q_k, q_out)
    g = load_int8(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)
    x = np.broadcast_to(ALL[:, None, None], (256, 1, 256)).astype(np.int8)[None]
    want = _run_after_input_stage(g, x)
    assert np.array_equal(run_tflm(data, x).reshape(want.shape), want) and len(np.unique(want)) > 2


# -- seeded random imported models -------------------------------------------------------------------

def _rand_q(rng, lo=0.005, hi=0.2):
    return float(rng.uniform(lo, hi)), int(rng.choice([0, -128, 127, int(rng.integers(-128, 128))]))


def random_model(seed, acts=(A.NONE, A.RELU, A.RELU6), symmetric=False):
    """A chain of 4 MUL / ADD by constants on [1, H, W, C]: one value ([] or [1]) or one per
    channel ([C] or [1, 1, 1, C]), random fused activations, zero points anywhere in int8 for the
    input and the constants; sometimes the constant is the first operand. Output scales follow the
    values' range, so the chain neither dies nor saturates."""
    rng = np.random.default_rng(seed)
    h, w, c = (int(v) for v in rng.integers(1, 7, 3))
    m = Tfl()
    q = (float(rng.uniform(0.02, 0.06)), int(rng.integers(-60, 61)))   # about +-8: RELU6 keeps some
    x = m.tensor([1, h, w, c], T.INT8, quant=_quant(*q))
    m.inputs = [x]
    for i in range(4):
        code = B.MUL if (i + seed) % 2 == 0 else B.ADD
        shape = [[], [1], [c], [1, 1, 1, c]][(i + seed // 2) % 4]
        act = acts[int(rng.integers(len(acts)))]
        z_k = 0 if symmetric else int(rng.choice([0, -128, 127, int(rng.integers(-128, 128))]))
        k = rng.integers(-128, 128, shape).astype(np.int8).reshape(shape)
        if code == B.MUL and act != A.NONE:     # negative factors before a relu would leave only zeros
            z_k = min(z_k, 100)
            k = rng.integers(z_k + 1, 128, shape).astype(np.int8).reshape(shape)
        k[k == z_k] = np.int8(z_k + 1 if z_k < 127 else z_k - 1)      # no constant that is real 0
        if code == B.MUL:   # factors up to 0.5..2 in magnitude
            s_k = float(rng.uniform(0.5, 2)) / float(np.abs(k.astype(np.int64) - z_k).max())
            s_out = q[0] * float(rng.uniform(0.7, 1.5))
        else:               # a shift smaller than the values' range, so a relu after it keeps some
            s_k = q[0] * float(rng.uniform(0.05, 0.4))
            s_out = max(q[0], s_k) * float(rng.uniform(1.0, 2.0))
        q_out = (s_out, int(rng.integers(-60, 61)))
        x = by_constant(m, code, x, [1, h, w, c], k, (s_k, z_k), q_out, act, const_first=bool(rng.integers(4) == 0))
        q = q_out
    m.outputs = [x]
    return m.bytes()


@pytest.mark.parametrize("seed", range(8))
def test_random_imported_models_equal_tflm(tmp_path, seed):
    data = random_model(seed)
    g = load_int8(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)
    assert sum(op.type == "channel_affine" for op in g.ops) == 4
    kinds = {(op.attrs["affine"], len(op.params["const"]) > 1) for op in g.ops if op.type == "channel_affine"}
    assert {k for k, _ in kinds} == {"mul", "add"}
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (32,) + g.tensors[g.ops[0].outputs[0]].shape).astype(np.int8)
    want = _run_after_input_stage(g, x)
    assert np.array_equal(run_tflm(data, x).reshape(want.shape), want) and len(np.unique(want)) > 3


@pytest.mark.parametrize("seed", range(4))
def test_rewritten_model_is_byte_identical(tmp_path, seed):
    """Our writer's file of an imported model re-imports as the same graph and writes the same
    bytes (RELU6 becomes a clip, which the int8 writer does not map yet: NONE and RELU here)."""
    g = load_int8(_write(tmp_path, random_model(100 + seed, acts=(A.NONE, A.RELU))), mean=(MEAN,), scale=SCALE)
    data = tflite.export(g)
    (tmp_path / "re").mkdir()
    again = load_int8(_write(tmp_path / "re", data), mean=(MEAN,), scale=SCALE)
    assert_same_graph(g, again)
    assert tflite.export(again) == data
    x = np.random.default_rng(seed).integers(-128, 128, (16,) + g.tensors[g.ops[0].outputs[0]].shape).astype(np.int8)
    want = _run_after_input_stage(g, x)
    assert np.array_equal(run_tflm(data, x).reshape(want.shape), want)


def test_host_build_equals_golden(tmp_path):
    from nnbuild.hostrun import generate_and_build

    for seed, dsp in ((0, False), (1, True)):    # the kernels are ref's on every ISA (test below: each one)
        g = load_int8(_write(tmp_path, random_model(200 + seed)), mean=(MEAN,), scale=SCALE)
        px = _pixels(g.tensors[g.input].shape, 24, seed)
        want = golden.run(g, px).reshape(len(px), -1)
        host = generate_and_build(g, tmp_path / f"m{seed}", "aff", dsp=dsp)
        assert np.array_equal(host.run(px).reshape(want.shape), want), (seed, dsp)


@needs_arm
@needs_qemu
def test_qemu_m4_equals_golden(tmp_path):
    _write(tmp_path, random_model(7))
    assert_qemu_m4_equals_golden(tmp_path, load_int8(tmp_path / "m.tflite", mean=(MEAN,), scale=SCALE))


@pytest.mark.parametrize("seed", range(3))
def test_qdq_onnx_mul_add_by_int8_constants_import_as_that_graph(tmp_path, seed):
    """A QDQ ONNX model of an imported int8 graph (Mul / Add by DequantizeLinear'd int8 constants)
    imports as that graph, the constants' integers and scales kept: golden outputs identical."""
    onnx = pytest.importorskip("onnx")
    from test_onnx_qdq import QDQ

    from nnbuild.frontends.onnx import load_onnx
    from nnbuild.quantize.int8.imported import from_record

    g = load_int8(_write(tmp_path, random_model(300 + seed, acts=(A.NONE, A.RELU), symmetric=True)),
                  mean=(MEAN,), scale=SCALE)
    onnx.save(QDQ(g).model(), str(tmp_path / "qdq.onnx"))
    g2 = from_record(load_onnx(tmp_path / "qdq.onnx", mean=(MEAN,), scale=SCALE, name="net"))
    a1, a2 = ([op for op in x.ops if op.type == "channel_affine"] for x in (g, g2))
    assert len(a1) == len(a2) == 4
    for x, y in zip(a1, a2):
        assert {k: v for k, v in x.attrs.items() if k != "const_shape"} == \
            {k: v for k, v in y.attrs.items() if k != "const_shape"}
        assert np.array_equal(x.params["const"], y.params["const"])
    px = _pixels(g.tensors[g.input].shape, 16, seed)
    assert np.array_equal(golden.run(g, px), golden.run(g2, px))


def test_qdq_onnx_mul_by_a_float_constant_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from nnbuild.frontends.onnx import load_onnx

    x = "x"
    nodes, inits = [], [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
                        numpy_helper.from_array(np.array(0, np.int8), "z"),
                        numpy_helper.from_array(np.full((2, 1, 1), 1.5, np.float32), "k")]
    nodes += [helper.make_node("QuantizeLinear", [x, "s", "z"], ["xq"]), helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
              helper.make_node("Mul", ["xd", "k"], ["y"]), helper.make_node("QuantizeLinear", ["y", "s", "z"], ["yq"]),
              helper.make_node("DequantizeLinear", ["yq", "s", "z"], ["out"])]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 2, 3, 3])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 2, 3, 3])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "q.onnx"))
    with pytest.raises(NnbuildError, match="Mul / Add by a float constant in a QDQ model"):
        load_onnx(tmp_path / "q.onnx", mean=(MEAN,), scale=SCALE)


# -- a calibrated float model ---------------------------------------------------------------------

def affine_net(seed):
    """Convolutions with MUL by constants (per channel, one value repeated) and ADD of constants
    (per channel, all negative), each followed by a relu or nothing."""
    n = Net((9, 9, 3), seed)
    rng = n.rng
    c1 = n.conv(n.x, 6, 3, p=1, act="none")
    m1 = n.add("channel_affine", [c1], {}, {"mul": rng.uniform(-2, 2, 6).astype(np.float32),
                                            "add": np.zeros(6, np.float32)})
    a1 = n.add("channel_affine", [n.add("relu", [m1], {"negative_slope": 0.0})], {},
               {"mul": np.ones(6, np.float32), "add": -rng.uniform(0.1, 1, 6).astype(np.float32)})
    c2 = n.conv(a1, 8, 3, s=2, act="none")
    m2 = n.add("channel_affine", [c2], {}, {"mul": np.full(8, 0.7, np.float32), "add": np.zeros(8, np.float32)})
    a2 = n.add("channel_affine", [m2], {}, {"mul": np.ones(8, np.float32),
                                            "add": rng.normal(0, 1, 8).astype(np.float32)})
    return n.quantized(n.fc(n.add("relu", [a2], {"negative_slope": 0.0}), 5))


@pytest.mark.parametrize("seed", range(3))
def test_calibrated_model_equals_tflm_host_and_reimport(tmp_path, seed):
    from nnbuild.hostrun import generate_and_build

    q = affine_net(seed)
    affine = [op for op in q.ops if op.type == "channel_affine"]
    assert [op.attrs["affine"] for op in affine] == ["mul", "add", "mul", "add"]
    k = affine[1].params["const"]
    assert affine[1].attrs["k_zp"] == 127 and k.max() < 127      # [min(0, lo), 0]: 0 is the top
    px = _pixels(q.tensors[q.input].shape, 32, seed)
    first = q.ops[0].outputs[0]
    r = golden.run(q, px, outputs=[first, q.outputs[0]])
    want = r[q.outputs[0]]
    data = tflite.export(q)
    assert np.array_equal(run_tflm(data, r[first]).reshape(want.shape), want) and len(np.unique(want)) > 3
    g = reimport(tmp_path, q)
    assert_same_graph(q, g)
    assert tflite.export(g) == data
    if seed == 0:
        host = generate_and_build(q, tmp_path / "host", "affnet")
        assert np.array_equal(host.run(px).reshape(len(px), -1), want.reshape(len(px), -1))


def test_constant_quantized_per_tensor_from_the_range_with_zero():
    from nnbuild.quantize.int8.ops.affine import quantize_constant

    k, s, z = quantize_constant(np.array([0.5, 1.0, 2.0]))       # [0, 2]: zero at the bottom
    assert (z, k.min(), k.max()) == (-128, -64, 127) and s == np.float32(2.0 / 255)
    k, s, z = quantize_constant(np.array([-3.0, 1.0]))
    assert k.dtype == np.int8 and (k.min(), k.max()) == (-128, 127) and s == np.float32(4.0 / 255)
    k, s, z = quantize_constant(np.zeros(4))
    assert (s, z) == (1.0, 0) and not k.any()


# -- refusals -----------------------------------------------------------------------------------------

def test_scale_with_bias_is_refused_for_int8_by_name_before_calibration(monkeypatch):
    import nnbuild.quantize.int8 as int8

    def no_calibration(*args):
        raise AssertionError("calibrated before refusing")
    monkeypatch.setattr(int8, "choose_qparams", no_calibration)
    n = Net((5, 5, 2), 0)
    c = n.conv(n.x, 3, 1, act="none")
    y = n.add("channel_affine", [c], {}, {"mul": np.full(3, 2.0, np.float32), "add": np.ones(3, np.float32)})
    with pytest.raises(NnbuildError, match="both scales and adds .* no int8 rule") as e:
        n.quantized(y)
    assert "channel_affine" in str(e.value) and "MUL then ADD" in str(e.value)


def test_mul_left_shift_that_overflows_int32_is_refused(tmp_path):
    k = np.array([127], np.int8)
    data = one_op_model(B.MUL, [2, 2, 3], k, (1.0, 0), (1.0, 0), (1e-6, 0))
    with pytest.raises(NnbuildError, match="MUL multiplier .* leaves int32"):
        load_int8(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)


def test_add_output_scale_below_tflms_bound_is_refused(tmp_path):
    data = one_op_model(B.ADD, [2, 2, 3], np.array([5], np.int8), (1.0, 0), (1.0, 0), (1e-7, 0))
    with pytest.raises(NnbuildError, match="output multiplier .* int8 add"):
        load_int8(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)


@pytest.mark.parametrize("shape,words", [([2], "constant of shape [2]"), ([3, 1], "constant of shape [3, 1]")])
def test_constant_that_is_not_per_channel_is_refused(tmp_path, shape, words):
    k = np.zeros(shape, np.int8)
    data = one_op_model(B.MUL, [2, 2, 3], k, (0.1, 0), (0.1, 0), (0.1, 0))
    with pytest.raises(NnbuildError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_int8(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)


# -- the C kernels directly: extremes, in place --------------------------------------------------------

MulS8 = type("MulS8", (ctypes.Structure,), {"_fields_": [
    ("pixels", ctypes.c_int32), *((n, ctypes.c_int16) for n in ("channels", "k_len", "in_zp", "k_zp", "out_zp",
                                                                 "act_min", "act_max")),
    ("out_mult", ctypes.c_int32), ("out_shift", ctypes.c_int32)]})
AddS8 = type("AddConstS8", (ctypes.Structure,), {"_fields_": [
    ("pixels", ctypes.c_int32), *((n, ctypes.c_int16) for n in ("channels", "k_len", "in_zp", "k_zp", "out_zp",
                                                                 "act_min", "act_max", "left_shift")),
    *((n, ctypes.c_int32) for n in ("in_mult", "in_shift", "k_mult", "k_shift", "out_mult", "out_shift"))]})


@pytest.fixture(scope="module", params=csources.host_isas())
def lib(request):
    defines = [] if request.param == "ref" else ["NN_EMULATE_DSP"]
    path = hostcc.build_shared(csources.kernel_sources(request.param), ROOT / "build" / "test_int8_affine",
                               include_dirs=csources.kernel_include_dirs(), defines=defines)
    return hostcc.load(path)


def _ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


@pytest.mark.parametrize("kind", ["mul", "add"])
def test_c_kernels_equal_golden_on_extremes_and_in_place(lib, kind):
    rng = np.random.default_rng(3 if kind == "mul" else 4)
    for i in range(40):
        h, w, c = (int(v) for v in rng.integers(1, 6, 3))
        k = rng.integers(-128, 128, int(rng.choice([1, c]))).astype(np.int8)
        x = rng.choice(np.array([-128, 127, 0, int(rng.integers(-128, 128))], np.int8), (h, w, c))
        q_in, q_k = _rand_q(rng), _rand_q(rng, 0.002, 0.3)
        q_out = (q_in[0] * q_k[0] * float(rng.uniform(5, 300)) if kind == "mul" else
                 max(q_in[0], q_k[0]) * float(rng.uniform(0.5, 3)), int(rng.integers(-128, 128)))
        g = ir.Graph("t", "px", ["y"], meta={"quantization": {"scheme": "int8"}})
        g.tensors["px"] = ir.Tensor("px", (h, w, c), "uint8")
        g.tensors["x"] = ir.Tensor("x", (h, w, c), "int8", {"scale": q_in[0], "zero_point": q_in[1]})
        g.tensors["y"] = ir.Tensor("y", (h, w, c), "int8", {"scale": q_out[0], "zero_point": q_out[1]})
        op = ir.Op("a", "channel_affine", ["x"], ["y"], {"affine": kind, "k_scale": q_k[0], "k_zp": q_k[1],
                                                          "const_shape": [len(k)]}, {"const": k})
        attrs, params = rule(op).params(g, op, [q_in], q_out, {}, [])
        qop = ir.Op("a", "channel_affine", ["x"], ["y"], {**op.attrs, **attrs}, params)
        if rng.integers(3) == 0:            # a fused activation's clamp
            qop.attrs["act_min"], qop.attrs["act_max"] = q_out[1], 127
        low = kernels.find(qop, "int8").lower(g, qop)
        cls = MulS8 if kind == "mul" else AddS8
        assert [f for f, _ in cls._fields_] == list(low.params)
        p = cls(*(int(low.params[f]) for f, _ in cls._fields_))
        fn = getattr(lib, low.symbol or "nn_mul_const_s8")
        want = rule(qop).golden(qop, [x[None]])[0]
        out = np.full(x.size + 4, 0x55, np.int8)
        fn(ctypes.byref(p), _ptr(np.ascontiguousarray(x)), _ptr(k), _ptr(out))
        assert np.array_equal(out[:x.size].reshape(x.shape), want) and (out[x.size:] == 0x55).all(), i
        inplace = np.ascontiguousarray(x).copy()
        fn(ctypes.byref(p), _ptr(inplace), _ptr(k), _ptr(inplace))
        assert np.array_equal(inplace, want), i


def test_float_tflite_with_unfoldable_mul_add_through_the_int8_pipeline(tmp_path):
    """A float .tflite whose MUL / ADD by constants follow a pool (nothing to fold them into):
    import, calibrate, quantize (report included) to int8; host C == golden."""
    from test_tflite_frontend import _conv_opts, _pool_opts

    from nnbuild import pipeline
    from nnbuild.hostrun import generate_and_build
    from nnbuild.manifest import load_manifest

    rng = np.random.default_rng(5)
    m = Tfl()
    x = m.tensor([1, 8, 8, 3], name="image")
    m.inputs = [x]
    P = S.Padding
    c1 = m.op(B.CONV_2D, [x, m.const(rng.normal(0, 0.4, (6, 3, 3, 3)).astype(np.float32)),
                          m.const(rng.normal(0, 0.1, 6).astype(np.float32))], [1, 8, 8, 6], _conv_opts(P.SAME, 1, A.RELU))
    mp = m.op(B.MAX_POOL_2D, [c1], [1, 4, 4, 6], _pool_opts(2, 2, P.VALID))
    mul = m.op(B.MUL, [mp, m.const(rng.uniform(-2, 2, 6).astype(np.float32))], [1, 4, 4, 6], _options(B.MUL, A.NONE))
    add = m.op(B.ADD, [mul, m.const(np.array([0.3], np.float32))], [1, 4, 4, 6], _options(B.ADD, A.RELU6))
    m.outputs = [m.op(B.MUL, [add, m.const(np.array(1.7, np.float32))], [1, 4, 4, 6], _options(B.MUL, A.RELU))]
    _write(tmp_path, m.bytes())
    np.savez(tmp_path / "calib.npz", images=_pixels((8, 8, 3), 64, 9))
    entry = load_manifest(_manifest(tmp_path, extra="    quantization: {scheme: int8, calibration: calib.npz}\n"
                                    )).model("imported")
    qgraph, report = pipeline.quantize_graph(entry, pipeline.import_model(entry))
    affine = [op for op in qgraph.ops if op.type == "channel_affine"]
    assert [op.attrs["affine"] for op in affine] == ["mul", "add", "mul"] and report["warnings"] == []
    px = _pixels((8, 8, 3), 24, 2)
    want = golden.run(qgraph, px).reshape(len(px), -1)
    assert len(np.unique(want)) > 10
    assert np.array_equal(generate_and_build(qgraph, tmp_path / "host", "imported").run(px), want)


def test_float_export_of_channel_affine_runs_in_tflm_and_reimports(tmp_path, monkeypatch):
    """export --float: a multiply is MUL, an add ADD (each re-imports as the same op), one that
    does both MUL then ADD (re-imported as two ops, the same values)."""
    from test_tflite_frontend import _tflm_float

    from nnbuild import reference
    from nnbuild.frontends.tflite import load_tflite

    monkeypatch.setattr(Net, "quantized", lambda self, out: (setattr(self.g, "outputs", [out]), self.g.validate())[1])
    n = Net((6, 6, 3), 4)
    c = n.conv(n.x, 4, 3, act="none")
    m1 = n.add("channel_affine", [c], {}, {"mul": np.array([0.5, -1.0, 2.0, 1.0], np.float32),
                                           "add": np.zeros(4, np.float32)})
    a1 = n.add("channel_affine", [m1], {}, {"mul": np.ones(4, np.float32), "add": np.full(4, 0.25, np.float32)})
    g = n.quantized(n.add("channel_affine", [a1], {}, {"mul": np.full(4, 1.5, np.float32),
                                                      "add": np.array([0.1, 0.2, -0.3, 0.0], np.float32)}))
    data = tflite.export_float(g)
    back, quantized = load_tflite(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)
    assert not quantized and [op.type for op in back.ops].count("channel_affine") == 4
    for x, y in zip(g.ops[2:4], back.ops[2:4]):
        assert all(np.array_equal(x.params[k], y.params[k]) for k in ("mul", "add"))
    px = _pixels((6, 6, 3), 8)
    first = g.ops[0].outputs[0]
    r = reference.run(g, px, outputs=[first, g.outputs[0]])
    ours = r[g.outputs[0]].reshape(len(px), -1)
    np.testing.assert_allclose(_tflm_float(data, r[first]), ours, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reference.run(back, px).reshape(ours.shape), ours, rtol=1e-6, atol=1e-6)
