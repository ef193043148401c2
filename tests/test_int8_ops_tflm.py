"""The int8 scheme's add, concat, sigmoid, tanh and softmax against TensorFlow Lite Micro itself:
every output byte of the golden op equals what TFLM's reference kernels compute on a one-op
.tflite with the same (scale, zero point)s; plus the edge cases and the refusals."""
import subprocess
import sys

import numpy as np
import pytest

from nnbuild.errors import NnbuildError
from nnbuild.ir import Graph, Op, Tensor
from nnbuild.quantize.int8 import fixedpoint
from nnbuild.quantize.int8.ops import RULES

_tflm_ops = pytest.importorskip("_tflm_ops", reason="tflite-micro (the int8 oracle) is not installed")

ALL_Q = np.arange(-128, 128, dtype=np.int8)


def f32(x):
    return float(np.float32(x))


def quantized_op(op_type, in_shapes, q_in, q_out=None, attrs=None):
    """A one-op graph quantized by the op's int8 rule: (op with attrs/params, q_out)."""
    names = [f"in{i}" for i in range(len(in_shapes))]
    tensors = {n: Tensor(n, tuple(s), "int8") for n, s in zip(names, in_shapes)}
    tensors["out"] = Tensor("out", tuple(in_shapes[0]), "int8")
    graph = Graph("g", names[0], ["out"], tensors)
    op = Op("layer", op_type, names, ["out"], attrs=dict(attrs or {}))
    rule = RULES[op_type]
    q_out = rule.fixed_params if rule.fixed_params else q_out
    attrs, params = rule.params(graph, op, q_in, q_out, {}, [])
    op.attrs.update(attrs)
    op.params.update(params)
    return op, q_out


def golden(op, args):
    return RULES[op.type].golden(op, args)


def random_q(rng, lo=-3.0, hi=0.5):
    return f32(10 ** rng.uniform(lo, hi)), int(rng.integers(-128, 128))


def random_int8(rng, shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


# -- sigmoid / tanh ---------------------------------------------------------------------------

LUT_CASES = [(0.1, 0), (0.02, -5), (1 / 16, 3), (0.5, 127), (3e-3, -128), (1.0, 0), (20.0, 0), (1e-6, 10),
             (f32(2 ** -28), 0), (0.0078125, -128), (0.25, 127)]
ORACLE = {"sigmoid": "logistic", "tanh": "tanh"}


@pytest.mark.parametrize("op_type", ["sigmoid", "tanh"])
@pytest.mark.parametrize("case", range(len(LUT_CASES) + 6))
def test_lut_table_is_tflm_on_all_256_inputs(op_type, case):
    rng = np.random.default_rng(case)
    q_in = LUT_CASES[case] if case < len(LUT_CASES) else random_q(rng, -4, 1)
    op, _ = quantized_op(op_type, [(1, 1, 256)], [q_in])
    want = getattr(_tflm_ops, ORACLE[op_type])(ALL_Q.reshape(1, 1, 1, 256), q_in).reshape(256)
    assert op.params["table"].dtype == np.int8 and op.params["table"].shape == (256,)
    np.testing.assert_array_equal(op.params["table"], want)


@pytest.mark.parametrize("op_type,function,out_q", [("sigmoid", lambda r: 1 / (1 + np.exp(-r)), (1 / 256, -128)),
                                                    ("tanh", np.tanh, (1 / 128, 0))])
def test_lut_fixed_output_and_close_to_the_real_function(op_type, function, out_q):
    assert RULES[op_type].fixed_params == out_q
    scale, zp = 0.05, 7
    op, _ = quantized_op(op_type, [(1, 1, 256)], [(scale, zp)])
    table = op.params["table"].astype(np.int64)
    real = (table - out_q[1]) * out_q[0]
    assert np.all(np.diff(table) >= 0)                          # monotone
    assert np.abs(real - function((ALL_Q.astype(np.int64) - zp) * f32(scale))).max() <= 1.5 * out_q[0]


@pytest.mark.parametrize("op_type", ["sigmoid", "tanh"])
def test_lut_golden_on_a_batch_equals_tflm(op_type):
    rng = np.random.default_rng(11)
    x = random_int8(rng, (3, 4, 5, 6))
    q_in = (f32(0.037), -20)
    op, _ = quantized_op(op_type, [x.shape[1:]], [q_in])
    np.testing.assert_array_equal(golden(op, [x]), getattr(_tflm_ops, ORACLE[op_type])(x, q_in))


@pytest.mark.parametrize("scale", [2 ** -29, 2.0 ** 35])
def test_lut_refuses_input_scales_tflm_cannot_prepare(scale):
    with pytest.raises(NnbuildError, match="input scale"):
        quantized_op("sigmoid", [(1, 1, 4)], [(scale, 0)])


# -- add ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_add_equals_tflm_on_random_shapes_and_scales(seed):
    rng = np.random.default_rng(100 + seed)
    shape = tuple(int(d) for d in rng.integers(1, 7, 4))
    q1, q2, q_out = random_q(rng), random_q(rng), random_q(rng)
    if seed % 4 == 0:
        q2 = q1                                                 # equal input scales
    relu = seed % 3 == 0
    op, _ = quantized_op("add", [shape[1:]] * 2, [q1, q2], q_out, {"activation": "relu"} if relu else None)
    x1, x2 = random_int8(rng, shape), random_int8(rng, shape)
    want = _tflm_ops.add(x1, x2, q1, q2, q_out, activation=1 if relu else 0)
    np.testing.assert_array_equal(golden(op, [x1, x2]), want)


@pytest.mark.parametrize("q1,q2,q_out", [
    ((0.1, -128), (0.1, 127), (0.2, 0)),                        # extreme zero points
    ((0.5, 0), (0.5, 0), (0.001, 0)),                           # saturates both ways
    ((0.02, 3), (0.3, -7), (0.3, -128)),                        # very different scales
    ((1e-4, 0), (1.0, 0), (1.0, 127)),                          # an input multiplier far below 1
])
def test_add_edge_cases_equal_tflm(q1, q2, q_out):
    x1 = np.repeat(ALL_Q, 256).reshape(1, 16, 16, 256)          # every pair of int8 values
    x2 = np.tile(ALL_Q, 256).reshape(1, 16, 16, 256)
    op, _ = quantized_op("add", [(16, 16, 256)] * 2, [q1, q2], q_out)
    got = golden(op, [x1, x2])
    np.testing.assert_array_equal(got, _tflm_ops.add(x1, x2, q1, q2, q_out))
    if q_out[0] == 0.001:
        assert got.min() == -128 and got.max() == 127


def test_add_attrs_are_tflm_prepare():
    op, _ = quantized_op("add", [(1, 1, 1)] * 2, [(0.5, 1), (0.25, -2)], (1.0, 3), {"activation": "relu"})
    a = op.attrs
    assert a["in_zp"] == [1, -2] and a["left_shift"] == 20 and a["out_zp"] == 3
    assert a["in_mult"] == [1 << 30, 1 << 30] and a["in_shift"] == [0, -1]     # 1/2 and 1/4
    assert (a["out_mult"], a["out_shift"]) == (1 << 30, -19)                    # 1 / 2^20
    assert (a["act_min"], a["act_max"]) == (3, 127)


def test_add_refuses_what_tflm_refuses():
    with pytest.raises(NnbuildError, match="output multiplier"):   # 2*max/(2^20 s_out) >= 1
        quantized_op("add", [(1, 1, 1)] * 2, [(1.0, 0), (1.0, 0)], (2.0 ** -19, 0))
    with pytest.raises(NnbuildError, match="two inputs"):
        quantized_op("add", [(1, 1, 1)] * 3, [(1.0, 0)] * 3, (1.0, 0))
    with pytest.raises(NnbuildError, match="positive finite scale"):
        quantized_op("add", [(1, 1, 1)] * 2, [(0.0, 0), (1.0, 0)], (1.0, 0))
    with pytest.raises(NnbuildError, match="pixel input"):
        quantized_op("add", [(1, 1, 1)] * 2, [None, (1.0, 0)], (1.0, 0))


# -- concat ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_concat_equals_tflm_with_quantize_before_differing_inputs(seed):
    rng = np.random.default_rng(200 + seed)
    n, h, w = (int(d) for d in rng.integers(1, 5, 3))
    k = int(rng.integers(1, 5))
    q_out = random_q(rng)
    q_ins = [random_q(rng) if rng.random() < 0.6 else q_out for _ in range(k)]
    xs = [random_int8(rng, (n, h, w, int(rng.integers(1, 6)))) for _ in range(k)]
    op, _ = quantized_op("concat", [x.shape[1:] for x in xs], q_ins, q_out)
    assert op.attrs["requant"] == [q != q_out for q in q_ins]
    np.testing.assert_array_equal(golden(op, xs), _tflm_ops.concat(xs, q_ins, q_out))


def test_concat_copies_equal_inputs_and_requantizes_zero_point_only_changes():
    x = ALL_Q.reshape(1, 1, 1, 256)
    q_out = (0.1, 10)
    op, _ = quantized_op("concat", [(1, 1, 256)] * 3, [q_out, (0.1, -128), (0.1, 127)], q_out)
    assert op.attrs["requant"] == [False, True, True]
    got = golden(op, [x, x, x])
    np.testing.assert_array_equal(got[..., :256], x)
    np.testing.assert_array_equal(got[..., 256:512], np.clip(ALL_Q.astype(int) + 138, -128, 127).reshape(x.shape))
    np.testing.assert_array_equal(got, _tflm_ops.concat([x, x, x], [q_out, (0.1, -128), (0.1, 127)], q_out))


@pytest.mark.parametrize("q_in", [(2.0, 127), (1e-3, -128), (0.5, -128), (1.0, 0)])
def test_concat_requantization_edge_cases_equal_tflm(q_in):
    x = ALL_Q.reshape(1, 1, 1, 256)
    q_out = (f32(0.0133), -3)
    op, _ = quantized_op("concat", [(1, 1, 256)] * 2, [q_in, q_out], q_out)
    np.testing.assert_array_equal(golden(op, [x, x]), _tflm_ops.concat([x, x], [q_in, q_out], q_out))


def test_tflm_concatenation_itself_refuses_differing_scales():
    x = np.zeros((1, 1, 1, 2), np.int8)
    with pytest.raises(RuntimeError):
        _tflm_ops.concat([x, x], [(0.1, 0), (0.2, 0)], (0.2, 0), requantize=False)


def test_concat_refuses_a_requantization_that_leaves_int32():
    with pytest.raises(NnbuildError, match="fits int32"):
        quantized_op("concat", [(1, 1, 1)] * 2, [(1.0, 0), (2.0 ** -30, 0)], (2.0 ** -30, 0))


# -- softmax -----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(16))
def test_softmax_equals_tflm_on_random_rows(seed):
    rng = np.random.default_rng(300 + seed)
    depth = int(rng.choice([1, 2, 3, 10, 37, 100, 256, 511]))
    rows = int(rng.integers(1, 24))
    q_in = random_q(rng, -3, 1)
    spread = 10 ** rng.uniform(0, 2.5)
    x = np.clip(np.round(rng.normal(0, spread, (rows, depth))), -128, 127).astype(np.int8)
    op, _ = quantized_op("softmax", [(1, rows, depth)], [q_in])
    got = golden(op, [x.reshape(1, 1, rows, depth)]).reshape(rows, depth)
    np.testing.assert_array_equal(got, _tflm_ops.softmax(x, q_in))


@pytest.mark.parametrize("scale", [f32(2 ** -25), 1e-3, 0.0625, 1.0, 40.0, 1e6])
def test_softmax_edge_rows_equal_tflm(scale):
    rows = [np.zeros(511), np.full(511, -128), np.r_[127, np.full(510, -128)], np.r_[-128, np.full(510, 127)],
            np.arange(-128, 128).repeat(2)[:511], np.r_[np.zeros(509), 1, -1]]
    x = np.array(rows, np.int8)
    op, _ = quantized_op("softmax", [(1, len(rows), 511)], [(scale, 5)])
    got = golden(op, [x.reshape(1, 1, *x.shape)]).reshape(x.shape)
    np.testing.assert_array_equal(got, _tflm_ops.softmax(x, (scale, 5)))


def test_softmax_table_is_tflm_exp_and_zero_where_tflm_skips():
    op, _ = quantized_op("softmax", [(1, 1, 10)], [(1.0, 0)])
    table = op.params["exp_table"]
    assert table.dtype == np.int32 and table.shape == (256,)
    assert table[0] == 2 ** 31 - 1                               # exp(0) = One in Q0
    real = table / 2.0 ** 31
    np.testing.assert_allclose(real[:16], np.exp(-np.arange(16.0)), atol=2e-6)
    assert np.all(table[32:] == 0)                                # diff_min = -31 at scale 1


def test_softmax_refuses_more_channels_than_tflm_survives():
    with pytest.raises(NnbuildError, match="at most 511"):
        quantized_op("softmax", [(1, 1, 512)], [(0.1, 0)])
    with pytest.raises(NnbuildError, match="input scale"):
        quantized_op("softmax", [(1, 1, 8)], [(2.0 ** -27, 0)])


def test_tflm_softmax_aborts_on_512_equal_values():
    """Why MAX_DEPTH is 511: TFLM's TFLITE_CHECK on the final shift aborts the process."""
    code = ("import numpy as np, _tflm_ops as T\n"
            "T.softmax(np.zeros((1, {}), np.int8), (0.1, 0))\n")
    env_path = [str(p) for p in sys.path]
    for n, ok in ((511, True), (512, False)):
        r = subprocess.run([sys.executable, "-c", "import sys; sys.path[:0] = %r\n" % env_path + code.format(n)],
                           capture_output=True, timeout=120)
        assert (r.returncode == 0) == ok, r.stderr.decode()[-500:]


# -- fixed-point primitives --------------------------------------------------------------------

def test_get_reciprocal_and_exp_against_real_values():
    x = np.array([1 << 19, 3 << 19, 100 << 19, 511 << 19], np.int64)      # 1, 3, 100, 511 in Q12
    recip, bits = fixedpoint.get_reciprocal(x, 12)
    real = recip / 2.0 ** 31 / 2.0 ** bits
    np.testing.assert_allclose(real, 1 / np.array([1, 3, 100, 511.0]), rtol=1e-8)
    a = -np.arange(0, 32 << 26, 1 << 24, dtype=np.int64)                 # Q5.26 in [-32, 0]
    np.testing.assert_allclose(fixedpoint.exp_on_negative_values(a, 5) / 2.0 ** 31,
                               np.exp(a / 2.0 ** 26), atol=5e-7)   # gemmlowp: ~2e-7


# -- through the scheme's quantize flow --------------------------------------------------------

def _branchy_float_graph(rng):
    """pixels -> input_stage -> two convs -> add, sigmoid, tanh -> concat -> softmax."""
    hw, c = (6, 5), 4
    t = {n: Tensor(n, hw + (ch,)) for n, ch in [("x", 3), ("a", c), ("b", c), ("s", c), ("sg", c), ("th", c),
                                               ("cat", 3 * c), ("out", 3 * c)]}
    t["px"] = Tensor("px", hw + (3,), "uint8")

    def conv(name, out):
        w = rng.normal(0, 0.4, (c, 3, 3, 3)).astype(np.float32)
        return Op(name, "conv2d", ["x"], [out], {"kernel": [3, 3], "stride": [1, 1], "pad": [1, 1], "dilation": [1, 1],
                                                  "group": 1}, {"weight": w, "bias": rng.normal(0, 0.2, c).astype(np.float32)})
    ops = [Op("in", "input_stage", ["px"], ["x"], {"scale": 1 / 64}), conv("ca", "a"), conv("cb", "b"),
           Op("sum", "add", ["a", "b"], ["s"]), Op("sig", "sigmoid", ["a"], ["sg"]), Op("tan", "tanh", ["b"], ["th"]),
           Op("cat", "concat", ["sg", "th", "s"], ["cat"]), Op("sm", "softmax", ["cat"], ["out"])]
    return Graph("branchy", "px", ["out"], t, ops)


def test_quantized_graph_ops_equal_tflm_on_their_golden_inputs():
    """The int8 flow gives these ops their (scale, zp)s (fixed ones for sigmoid/tanh/softmax, the
    concat's own for its inputs); each op's golden output on the golden model's own tensors is
    TFLM's output for that op with those parameters."""
    from nnbuild import golden as golden_model
    from nnbuild.quantize import quantize

    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (16, 6, 5, 3)).astype(np.uint8)
    q = quantize(_branchy_float_graph(rng), pixels, "int8")
    qp = {n: (t.quant["scale"], t.quant["zero_point"]) for n, t in q.tensors.items() if t.quant}
    assert qp["sg"] == (1 / 256, -128) and qp["th"] == (1 / 128, 0) and qp["out"] == (1 / 256, -128)
    v = golden_model.run(q, pixels, outputs=list(qp))
    np.testing.assert_array_equal(v["sg"], _tflm_ops.logistic(v["a"], qp["a"]))
    np.testing.assert_array_equal(v["th"], _tflm_ops.tanh(v["b"], qp["b"]))
    np.testing.assert_array_equal(v["s"], _tflm_ops.add(v["a"], v["b"], qp["a"], qp["b"], qp["s"]))
    ins = [v[n] for n in ("sg", "th", "s")]
    np.testing.assert_array_equal(v["cat"], _tflm_ops.concat(ins, [qp[n] for n in ("sg", "th", "s")], qp["cat"]))
    np.testing.assert_array_equal(v["out"], _tflm_ops.softmax(v["cat"], qp["cat"]))
    assert len(np.unique(v["out"])) > 20                        # not a degenerate softmax
    assert any(q.op("cat").attrs["requant"])                    # a fixed-params input is requantized


@pytest.mark.parametrize("op_type,n_in", [("sigmoid", 1), ("tanh", 1), ("softmax", 1), ("add", 2), ("concat", 2)])
def test_golden_of_a_hand_made_op_without_its_params_is_one_clear_error(op_type, n_in):
    op = Op("bare", op_type, [f"in{i}" for i in range(n_in)], ["out"])
    with pytest.raises(NnbuildError, match="nnbuild.quantize"):
        golden(op, [np.zeros((1, 2, 2, 3), np.int8)] * n_in)
