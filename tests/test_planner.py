"""Lowering (fusion, in place, generation-time errors) and the arena planner."""
import math

import numpy as np
import pytest

from nnbuild import ir
from nnbuild.errors import NnbuildError
from nnbuild import kernels
from nnbuild.passes import fuse_activation
from nnbuild.lower import lower
from nnbuild.planner import plan


class GraphBuilder:
    """Hand-built quantized graphs (random int8 weights, shifts that keep outputs unsaturated),
    in the format fixed by ir.py + docs/q7_contract.md. Also imported by test_codegen.py."""

    def __init__(self, h, w, c, seed=0, per_channel_off=False, name="g"):
        self.rng = np.random.default_rng(seed)
        self._g = ir.Graph(name=name, input="pixels", outputs=[], meta={"quantization": {"scheme": "q7"}})
        self._g.tensors["pixels"] = ir.Tensor("pixels", (h, w, c), "uint8")
        mean = self.rng.integers(90, 160, size=(c,) if per_channel_off else (h * w * c,))
        # q = (p - mean) * 0.6 at frac bits 0 (the data tensor claims 5, so real values are +-3
        # and sigmoid/tanh/softmax tables are not saturated): mul = 0.6 * 2^10, off = mean * mul
        mul, shift = 614, 10
        self._op("input_stage", "data", [], (h, w, c), 5,
                 {"scale": 0.6, "mul": mul, "shift": shift}, {"off": (mean * mul).astype(np.int32)})
        self._g.ops[0].inputs = ["pixels"]

    @property
    def g(self):
        """The graph as the pipeline hands it to lowering: a ReLU that alone reads a conv / fc
        output is fused into it (passes.fuse_activation; q7 then clamps at 0, act_min = 0)."""
        self._g = fuse_activation.apply(self._g)
        for op in self._g.ops:
            if op.attrs.get("activation") == "relu":
                op.attrs["act_min"] = max(0, op.attrs["act_min"])
        return self._g

    def _op(self, kind, name, inputs, shape, frac_bits, attrs=None, params=None):
        self._g.tensors[name] = ir.Tensor(name, tuple(int(d) for d in shape), "int8", {"frac_bits": int(frac_bits)})
        self._g.ops.append(ir.Op(name, kind, list(inputs), [name], dict(attrs or {}), dict(params or {})))
        self._g.outputs = [name]
        return name

    def shape(self, t):
        return self._g.tensors[t].shape

    def fb(self, t):
        return self._g.tensors[t].quant["frac_bits"]

    def conv(self, name, x, oc, k, stride=1, pad=0, group=1, dilation=1, act=(-128, 127)):
        h, w, c = self.shape(x)
        oh = ir.conv_output_size(h, k, stride, pad, dilation)
        ow = ir.conv_output_size(w, k, stride, pad, dilation)
        terms = k * k * (c // group)
        s = max(1, round(math.log2(math.sqrt(terms) * 60 * 70 / 45)))
        fw = s      # keeps frac bits near the input's (only s enters the arithmetic)
        weight = self.rng.integers(-128, 128, size=(oc, k, k, c // group)).astype(np.int8)
        bias = self.rng.integers(-3000, 3000, size=(oc,)).astype(np.int32)
        attrs = {"kernel": (k, k), "stride": (stride, stride), "pad": (pad, pad),
                 "dilation": (dilation, dilation), "group": group, "weight_frac_bits": fw,
                 "out_shift": s, "act_min": act[0], "act_max": act[1]}
        return self._op("conv2d", name, [x], (oh, ow, oc), self.fb(x) + fw - s, attrs,
                        {"weight": weight, "bias": bias})

    def fc(self, name, x, n):
        n_in = int(np.prod(self.shape(x)))
        s = max(1, round(math.log2(math.sqrt(n_in) * 60 * 70 / 45)))
        weight = self.rng.integers(-128, 128, size=(n, n_in)).astype(np.int8)
        bias = self.rng.integers(-3000, 3000, size=(n,)).astype(np.int32)
        attrs = {"weight_frac_bits": s, "out_shift": s, "act_min": -128, "act_max": 127}
        return self._op("fully_connected", name, [x], (1, 1, n), self.fb(x), attrs,
                        {"weight": weight, "bias": bias})

    def pool(self, name, x, k, stride, pad=0, ceil=True, kind="max_pool"):
        h, w, c = self.shape(x)
        oh, ow = ir.pool_output_size(h, k, stride, pad, ceil), ir.pool_output_size(w, k, stride, pad, ceil)
        return self._op(kind, name, [x], (oh, ow, c), self.fb(x),
                        {"kernel": (k, k), "stride": (stride, stride), "pad": (pad, pad)}
                        | ({} if ceil else {"ceil_mode": False}))

    def relu(self, name, x, slope=0.0):
        attrs = {"negative_slope": slope, "slope_q15": max(-32768, min(32767, round(slope * 32768)))}
        return self._op("relu", name, [x], self.shape(x), self.fb(x), attrs)

    def add(self, name, a, b):
        fm = max(self.fb(a), self.fb(b))
        attrs = {"in_shifts": [fm - self.fb(a), fm - self.fb(b)], "out_shift": 1}
        return self._op("add", name, [a, b], self.shape(a), fm - 1, attrs)

    def concat(self, name, xs):
        f_out = min(self.fb(x) for x in xs)
        h, w, _ = self.shape(xs[0])
        attrs = {"shifts": [self.fb(x) - f_out for x in xs]}
        return self._op("concat", name, xs, (h, w, sum(self.shape(x)[2] for x in xs)), f_out, attrs)

    def lut(self, name, x, kind="sigmoid"):
        f = self.fb(x)
        q = np.arange(-128, 128) * 2.0 ** -f
        vals = 1 / (1 + np.exp(-q)) if kind == "sigmoid" else np.tanh(q)
        table = np.clip(np.floor(vals * 128 + 0.5), -128, 127).astype(np.int8)
        return self._op(kind, name, [x], self.shape(x), 7, {}, {"table": table})

    def softmax(self, name, x):
        from nnbuild.quantize.tables import softmax_exp_table
        return self._op("softmax", name, [x], self.shape(x), 7, {},
                        {"exp_table": softmax_exp_table(2.0 ** -self.fb(x))})

    def pixels(self, n, seed=1):
        h, w, c = self._g.tensors["pixels"].shape
        return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, c)).astype(np.uint8)


def cifar_graph():
    """The cifar10_m4 net's shapes: conv1 32x32x32, pool1 16x16x32, relu1, conv2+relu2, pool2 (ave),
    conv3+relu3, pool3 (ave), ip1."""
    b = GraphBuilder(32, 32, 3, name="cifar")
    x = b.conv("conv1", "data", 32, 5, pad=2)
    x = b.pool("pool1", x, 3, 2)
    x = b.relu("relu1", x)
    x = b.relu("relu2", b.conv("conv2", x, 16, 5, pad=2))
    x = b.pool("pool2", x, 3, 2, kind="avg_pool")
    x = b.relu("relu3", b.conv("conv3", x, 32, 5, pad=2))
    x = b.pool("pool3", x, 3, 2, kind="avg_pool")
    b.fc("ip1", x, 10)
    return b


def assert_no_overlap(p):
    """At every step, the live buffers occupy disjoint byte ranges inside the arena."""
    for row in p.rows:
        spans = sorted((p.buffers[n].offset, p.buffers[n].offset + p.buffers[n].size, n) for n in row.live)
        for (s0, e0, n0), (s1, e1, n1) in zip(spans, spans[1:]):
            assert e0 <= s1, f"step {row.index}: {n0} [{s0},{e0}) overlaps {n1} [{s1},{e1})"
        assert all(e <= p.arena_bytes and s % 4 == 0 for s, e, _ in spans)


# -- lowering ------------------------------------------------------------------------------------

def test_cifar_lowering_fuses_conv_relu_and_runs_relu_after_pool_in_place():
    steps = lower(cifar_graph().g)
    assert [s.name for s in steps] == ["data", "conv1", "pool1", "relu1", "conv2+relu2", "pool2",
                                       "conv3+relu3", "pool3", "ip1"]
    by = {s.name: s for s in steps}
    assert by["conv2+relu2"].params["act_min"] == 0 and by["conv2+relu2"].output == "relu2"
    assert by["conv1"].params["act_min"] == -128
    assert by["relu1"].alias == "pool1" and by["relu1"].kernel == "nn_relu_q7"
    assert by["conv1"].macs == 32 * 32 * 32 * 5 * 5 * 3
    assert by["ip1"].macs == 4 * 4 * 32 * 10
    assert by["conv2+relu2"].scratch == 8 * 5 * 5 * 32


def test_cifar_plan_per_isa_scratch():
    """Lowered for a target's ISA, a step reserves that variant's scratch only: the DSP conv's four
    columns on dsp, none on ref (direct conv, fc without widening); unlowered ("*"): the largest."""
    g = cifar_graph().g
    scratch = {isa: {s.name: s.scratch for s in lower(g, isa) if s.scratch} for isa in ("ref", "dsp", "thumb1", "*")}
    assert scratch["ref"] == {}
    assert scratch["dsp"] == {"conv1": 8 * 76, "conv2+relu2": 8 * 800, "conv3+relu3": 8 * 400, "ip1": 2 * 512}
    assert scratch["thumb1"] == {"conv1": 16 * 76, "conv2+relu2": 16 * 128, "conv3+relu3": 16 * 128}
    assert scratch["*"] == {"conv1": 16 * 76, "conv2+relu2": 8 * 800, "conv3+relu3": 8 * 400, "ip1": 2 * 512}
    arena = {isa: plan(lower(g, isa), g).arena_bytes for isa in ("ref", "dsp", "thumb1")}
    assert arena["ref"] <= arena["thumb1"] and arena["ref"] <= arena["dsp"] == 40960


def test_relu_with_second_consumer_is_not_fused_nor_in_place():
    b = GraphBuilder(6, 6, 2)
    c = b.conv("c", "data", 4, 3, pad=1)
    r = b.relu("r", c)
    b.add("sum", c, r)
    steps = lower(b.g)
    assert [s.name for s in steps] == ["data", "c", "r", "sum"]
    assert steps[2].alias is None          # c is still read by sum
    assert steps[3].alias == "c"           # add overwrites its first input, dead afterwards


def _bad(builder_fn, match):
    b = GraphBuilder(8, 8, 3)
    builder_fn(b)
    with pytest.raises(NnbuildError, match=match) as e:
        lower(b.g)
    return e.value


def test_op_type_without_a_kernel_is_rejected_naming_the_op():
    with pytest.raises(NnbuildError, match="no C kernel for op type 'tanh' in scheme nope") as e:
        kernels.find(ir.Op("weird", "tanh", ["x"], ["y"]), "nope")
    assert "weird" in str(e.value)


def test_generation_time_errors_name_the_op():
    def concat_h(b):
        b.g.tensors["cat"] = ir.Tensor("cat", (16, 8, 3), "int8", {"frac_bits": 0})
        b.g.ops.append(ir.Op("cat", "concat", ["data", "data"], ["cat"], {"shifts": [0, 0]}))
        b.g.outputs = ["cat"]
    assert "op 'cat'" in str(_bad(concat_h, "the op's shape rule"))

    def big_kernel(b):
        b.conv("c", "data", 4, 3)
        op = b.g.ops[-1]
        op.attrs["kernel"] = (11, 11)
        op.params["weight"] = np.zeros((4, 11, 11, 3), np.int8)
    assert "op 'c'" in str(_bad(big_kernel, "the op's shape rule"))

    def big_shift(b):
        b.conv("c", "data", 4, 3)
        b.g.ops[-1].attrs["out_shift"] = 40000
    _bad(big_shift, "out_shift = 40000 does not fit")

    def huge_bias(b):
        b.conv("c", "data", 4, 3)
        b.g.ops[-1].params["bias"] = np.full(4, 2**31 - 1000, np.int32)
    _bad(huge_bias, "overflow the int32 accumulator")

    def add3(b):
        b._op("add", "a3", ["data", "data", "data"], (8, 8, 3), 0, {"in_shifts": [0, 0, 0], "out_shift": 0})
    _bad(add3, "add of 3 inputs")

    def unquantized(b):
        b.conv("c", "data", 4, 3)
        b.g.tensors["c"].quant = None
    _bad(unquantized, "not quantized")


# -- planner -------------------------------------------------------------------------------------

def test_cifar_plan_reaches_layer_by_layer_minimum():
    g = cifar_graph().g
    steps = lower(g)
    p = plan(steps, g)
    assert p.arena_bytes == 40960 == 32 * 32 * 32 + 16 * 16 * 32
    assert p.peak_bytes == 40960 and steps[p.peak_step].name == "pool1"
    assert p.tensor_offset("relu1") == p.tensor_offset("pool1")     # relu1 in place
    # the 3,072 B of pixels live in the arena during the input stage only (44,032 -> 40,960 B of RAM)
    assert p.buffers[g.input].size == 3072 and p.step_span(p.buffers[g.input]) == (0, 0)
    assert_no_overlap(p)
    # conv1's step holds input + output + scratch (thumb1's 4 int32 lanes: 16*ceil4(5*5*3) = 1216 B)
    row = p.rows[1]
    assert row.live_bytes == 3072 + 32768 + 1216
    assert sorted(row.live) == sorted(["data", "conv1", "conv1:scratch"])
    assert "pool1" in p.format_table() and "40960" in p.format_table()


def test_small_graph_step_table_by_hand():
    # data 4x4x2 (32 B) -> c conv 3x3 pad1 -> 4x4x3 (48 B, scratch 16*ceil4(9*2) = 320 B)
    # -> r relu in place -> p maxpool 2x2 -> 2x2x3 (12 B) -> f fc 5 (5 B, scratch 24 B)
    b = GraphBuilder(4, 4, 2)
    c = b.conv("c", "data", 3, 3, pad=1)
    p_ = b.pool("p", b.relu("r", b.pool("p0", c, 1, 1)), 2, 2)
    b.fc("f", p_, 5)
    g = b.g
    steps = lower(g)
    assert [s.name for s in steps] == ["data", "c", "p0", "r", "p", "f"]
    pl = plan(steps, g)
    assert [r.live_bytes for r in pl.rows] == [
        32 + 32,        # data: the pixels (in the arena, uint8) and the input stage's output
        32 + 48 + 320,  # c: in, out, scratch (the pixels are dead)
        48 + 48,        # p0 (1x1 pool copies)
        48,             # r in place on p0
        48 + 12,        # p
        12 + 8 + 24,    # f: in, out (5 B -> 8 aligned), scratch 2*12
    ]
    assert [sorted(r.live) for r in pl.rows][5] == sorted(["p", "f", "f:scratch"])
    assert pl.tensor_buffer["r"] == "p0"
    assert sorted(pl.rows[0].live) == ["data", "pixels"] and pl.buffers["pixels"].kind == "input"
    assert (pl.buffers["pixels"].start, pl.buffers["pixels"].end) == (0, 0)
    assert pl.buffers["f:scratch"].size == kernels.find(g.op("f"), "q7").scratch_bytes({"in_n": 12}) == 24
    assert pl.peak_bytes == 400 and pl.peak_step == 1
    assert_no_overlap(pl)
    assert pl.arena_bytes == 400


def random_graph(seed, n_ops=8, fc=False):
    """A random branchy graph on 10x10 maps: conv (incl. depthwise), relu/leaky, add, concat,
    pooling with padding, sigmoid/tanh; optionally a fully connected head."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(10, 10, 3, seed=seed, per_channel_off=bool(seed % 2))
    xs = ["data"]
    for i in range(n_ops):
        x = xs[rng.integers(len(xs))]
        kind = rng.integers(7)
        c = b.shape(x)[2]
        if kind == 0:
            k = int(rng.choice([1, 3]))
            y = b.conv(f"c{i}", x, int(3 + rng.integers(1, 6)), k, pad=k // 2)
        elif kind == 1:
            y = b.conv(f"dw{i}", x, c, 3, pad=1, group=c)
        elif kind == 2:
            y = b.relu(f"r{i}", x, slope=float(rng.choice([0.0, 0.1, -0.25])))
        elif kind == 3:
            same = [t for t in xs if b.shape(t) == b.shape(x) and t != x]
            y = b.add(f"a{i}", x, same[0]) if same else b.relu(f"r{i}", x)
        elif kind == 4:
            y = b.concat(f"k{i}", [x, xs[rng.integers(len(xs))]])
        elif kind == 5:
            y = b.pool(f"p{i}", x, 3, 1, pad=1, kind=str(rng.choice(["max_pool", "avg_pool"])))
        else:
            y = b.lut(f"l{i}", x, kind=str(rng.choice(["sigmoid", "tanh"])))
        xs.append(y)
    if fc:
        b.fc("head", xs[-1], 7)
    else:
        b.g.outputs = [xs[-1]]
    return b


@pytest.mark.parametrize("seed", range(8))
def test_random_branchy_graphs_never_overlap(seed):
    b = random_graph(seed)
    steps = lower(b.g)
    p = plan(steps, b.g)
    assert_no_overlap(p)
    assert p.peak_bytes <= p.arena_bytes
    # simulate the arena: every step finds its inputs intact, then writes its output and scratch
    arena = np.full(p.arena_bytes, -1, np.int64)
    tag = {b.g.input: -3}               # the caller prepares the pixels in the arena before run
    off = p.tensor_offset(b.g.input)
    arena[off:off + b.g.tensors[b.g.input].size] = -3
    def intact(t):
        off = p.tensor_offset(t)
        return (arena[off:off + b.g.tensors[t].size] == tag[t]).all()

    for s in steps:
        reads = list(s.inputs)
        assert all(intact(t) for t in reads), f"an input of {s.name} was clobbered"
        if s.scratch:
            off = p.scratch_offset(s.index)
            arena[off:off + s.scratch] = -2
        tag[s.output] = s.index
        off = p.tensor_offset(s.output)
        arena[off:off + b.g.tensors[s.output].size] = s.index
        # the kernel reads its inputs while writing: only the in-place input may be overwritten
        assert all(intact(t) for t in reads if t != s.alias), f"{s.name} overwrote its own input"
    out = b.g.outputs[0]
    assert (arena[p.tensor_offset(out):p.tensor_offset(out) + b.g.tensors[out].size] == tag[out]).all()


def test_empty_pooling_windows_rule():
    """Caffe's ceil mode can place a last window wholly past the input; that is detected."""
    from nnbuild import ir

    assert ir.pool_has_empty_window(8, 1, 3, 0)        # windows at 0, 3, 6, 9: the last is empty
    assert not ir.pool_has_empty_window(32, 3, 2, 0)   # cifar pool1
    assert not ir.pool_has_empty_window(5, 3, 2, 1)    # Caffe drops the window in the trailing pad
    for size in range(1, 12):
        for k in range(1, 4):
            for s in range(1, 4):
                for p in range(0, k):
                    out = ir.pool_output_size(size, k, s, p)
                    windows = [ir.pool_window(o, k, s, p, size)[:2] for o in range(out)]
                    assert ir.pool_has_empty_window(size, k, s, p) == any(e <= b for b, e in windows)
