"""int8 C kernels (*_s8, docs/int8_contract.md) == the int8 golden arithmetic, byte for byte.

Every case goes through the kernel registry's lowering (nnbuild.kernels, scheme int8: the bias
with the input zero point folded in, the struct fields) and then the C kernel, on every ISA
variant of firmware_template/sources.json built for the host (`ref`; `dsp` with NN_EMULATE_DSP),
and on the real instruction set in QEMU. Seeded random shapes cover padding (where the folded
bias needs the padding taps at in_zp), stride, dilation, groups, depthwise, every K % 4, the
DSP path's pixel-pair column builders, zero points across int8 and saturating extremes.

The expected bytes are the golden model's (the int8 scheme's per-op rules, nnbuild.quantize.int8),
computed on the same IR op that the registry lowers.
"""
import ctypes
import shutil
import subprocess
import types

import numpy as np
import pytest

from conftest import ROOT, needs_arm
from kernel_firmware import HEADER, buffers_c, c_array, c_struct, check_c, guarded_conv_c, main_c, run_in_qemu
from nnbuild import csources, hostcc, ir, kernels, targets
from nnbuild.errors import NnbuildError
from nnbuild.quantize.int8 import arith
from nnbuild.quantize.int8 import ops as rules
from test_kernels import GUARD, _guarded, _intact, _ptr, _rand_i8, conv_geometry, run_wide

KINC = csources.kernel_include_dirs()
I16, I32 = ctypes.c_int16, ctypes.c_int32


def golden(op, *args):
    """The golden model's result for `op` (the int8 scheme's rule, nnbuild.quantize.int8.ops) on
    single images: the single source of truth the kernels must equal."""
    return rules.rule(op).golden(op, [a[None] for a in args])[0]


# -- host builds ----------------------------------------------------------------------------------

def _struct(name, fields):
    return type(name, (ctypes.Structure,), {"_fields_": fields})


ConvS8 = _struct("ConvS8", [(n, I16) for n in (
    "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w",
    "pad_h", "pad_w", "dil_h", "dil_w", "groups", "in_zp", "out_zp", "act_min", "act_max")])
FcS8 = _struct("FcS8", [("in_n", I32), ("out_n", I32), ("out_zp", I16), ("act_min", I16), ("act_max", I16)])
PoolS8 = _struct("PoolS8", [(n, I16) for n in (
    "in_h", "in_w", "c", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w", "pad_h", "pad_w",
    "in_zp", "act_min", "act_max", "exclude_pad")])
AddS8 = _struct("AddS8", [("n", I32), *((n, I16) for n in ("a_zp", "b_zp", "left_shift", "out_zp", "act_min", "act_max")),
                          *((n, I32) for n in ("a_mult", "a_shift", "b_mult", "b_shift", "out_mult", "out_shift"))])


def _fill(cls, params):
    """The C struct from a lowering's params: the same field names, in the C order."""
    names = [f for f, _ in cls._fields_]
    # a pool's exclude_pad flag (last) is in the lowering only when set
    assert list(params) in (names, names[:-1] if names[-1] == "exclude_pad" else names), \
        "registry fields != nn_kernels.h struct"
    return cls(*(int(params.get(f, 0)) for f in names))


@pytest.fixture(scope="module", params=csources.host_isas())   # mve: QEMU only
def lib(request):
    defines = [] if request.param == "ref" else ["NN_EMULATE_DSP"]
    path = hostcc.build_shared(csources.kernel_sources(request.param), ROOT / "build" / "test_kernels_s8",
                               include_dirs=KINC, defines=defines)
    lib = hostcc.load(path)
    lib.nn_isa = request.param   # the variant, for its scratch mirror
    return lib


def _lower(op, inputs, out_shape, in_zps=None):
    """Lower `op` (scheme int8) in a one-op graph whose inputs have `inputs` shapes."""
    g = ir.Graph("t", "px", ["y"])
    for i, (name, shape) in enumerate(zip(op.inputs, inputs)):
        zp = 0 if in_zps is None else int(in_zps[i])
        g.tensors[name] = ir.Tensor(name, tuple(shape), "int8", {"scale": 0.05, "zero_point": zp})
    g.tensors["y"] = ir.Tensor("y", tuple(out_shape), "int8", {"scale": 0.05, "zero_point": 0})
    g.ops = [op]
    return kernels.find(op, "int8").lower(g, op)


def _rand_weights(rng, shape):
    return np.clip(_rand_i8(rng, shape), -127, 127).astype(np.int8)   # symmetric: [-127, 127]


def _rand_requant(rng, n, lo=1e-4, hi=0.9):
    """Per-channel (mult, shift) from real multipliers as TFLite's QuantizeMultiplier makes them;
    now and then one above 1 (a left shift) and one that is zero, and now and then tiny ones
    (right shifts past 22, where the DSP epilogue leaves its fast form)."""
    if rng.integers(4) == 0:
        lo = 1e-9
    reals = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    if n > 2 and rng.integers(4) == 0:
        reals[rng.integers(n)] = rng.uniform(1.0, 1.9)
        reals[rng.integers(n)] = 0.0
    ms = [arith.quantize_multiplier(r) for r in reals]
    return np.array([m for m, _ in ms], np.int32), np.array([s for _, s in ms], np.int32)


def _rand_zp(rng):
    return int(rng.choice([0, -128, 127, int(rng.integers(-128, 128))]))


def _rand_act(rng, out_zp):
    return [(-128, 127), (out_zp, 127), tuple(sorted(int(v) for v in rng.integers(-128, 128, 2)))][rng.integers(3)]


# -- conv2d ---------------------------------------------------------------------------------------

def _conv_case(rng, small=False):
    (h, w, c), cout, (kh, kw, cin_g), stride, pad, dil, groups = conv_geometry(rng, 9 if small else 13)
    x = _rand_i8(rng, (h, w, c))
    wt = _rand_weights(rng, (cout, kh, kw, cin_g))
    b = rng.integers(-(1 << 16), 1 << 16, cout).astype(np.int32)
    in_zp, out_zp = _rand_zp(rng), _rand_zp(rng)
    mult, shift = _rand_requant(rng, cout)
    return x, wt, b, in_zp, mult, shift, out_zp, _rand_act(rng, out_zp), stride, pad, dil, groups


def conv_op(x, wt, b, in_zp, mult, shift, out_zp, act, stride, pad, dil, groups):
    """The conv case as a quantized IR op and its output shape."""
    kh, kw = wt.shape[1:3]
    op = ir.Op("conv", "conv2d", ["x"], ["y"], attrs={
        "kernel": (kh, kw), "stride": stride, "pad": pad, "dilation": dil, "group": groups,
        "in_zp": in_zp, "out_zp": out_zp, "act_min": act[0], "act_max": act[1], "per_channel": True},
        params={"weight": wt, "bias": b, "out_mult": mult, "out_shift": shift})
    oh = ir.conv_output_size(x.shape[0], kh, stride[0], pad[0], dil[0])
    ow = ir.conv_output_size(x.shape[1], kw, stride[1], pad[1], dil[1])
    return op, (oh, ow, wt.shape[0])


def conv_arrays(op, low, isa):
    """The conv's arrays in the layout of the `isa` variant: the generator's Kernel.pack."""
    return {k: np.ascontiguousarray(v) for k, v in kernels.find(op, "int8").pack(low.params, low.arrays, isa).items()}


def run_conv(lib, case):
    x = case[0]
    op, out_shape = conv_op(*case)
    low = _lower(op, [x.shape], out_shape)
    p = _fill(ConvS8, low.params)
    n = int(np.prod(out_shape))
    out = _guarded(n)
    scratch_n = lib.nn_conv2d_s8_scratch_bytes(ctypes.byref(p)) // 2
    assert 2 * scratch_n == kernels.find(op, "int8").scratch(low.params, lib.nn_isa)
    scratch = _guarded(scratch_n, np.int16, 0x5A5A)
    a = conv_arrays(op, low, lib.nn_isa)
    lib.nn_conv2d_s8(ctypes.byref(p), _ptr(np.ascontiguousarray(x)), _ptr(a["weight"]), _ptr(a["chan"]),
                     _ptr(out), _ptr(scratch))
    _intact(out, n)
    _intact(scratch, scratch_n, 0x5A5A)
    if low.symbol != "nn_conv2d_s8":   # the entry the generator picked (nn_conv2d_s8_relu): same bytes
        out2 = _guarded(n)
        getattr(lib, low.symbol)(ctypes.byref(p), _ptr(np.ascontiguousarray(x)), _ptr(a["weight"]),
                                 _ptr(a["chan"]), _ptr(out2), _ptr(scratch))
        _intact(out2, n)
        _intact(scratch, scratch_n, 0x5A5A)
        assert np.array_equal(out2, out), f"{low.symbol} differs from nn_conv2d_s8"
        if low.symbol.endswith("_quad") and p.k_h * p.k_w * (p.in_c // p.groups) >= 5:
            run_wide(lib, "s8", p, (np.ascontiguousarray(x), a["weight"], a["chan"]), n, out)   # weights widened
    return out[:n].reshape(out_shape)


def want_conv(case):
    return golden(conv_op(*case)[0], case[0])


def test_conv2d_s8_random_matches_golden(lib):
    rng = np.random.default_rng(8128)
    for i in range(200):
        case = _conv_case(rng)
        assert np.array_equal(run_conv(lib, case), want_conv(case)), \
            f"case {i}: x{case[0].shape} w{case[1].shape} zp{case[3]} s{case[8]} p{case[9]} d{case[10]} g{case[11]}"


@pytest.mark.parametrize("h,w,c,o,k,stride,pad,dil", [
    (9, 11, 3, 5, (3, 5), (1, 2), (1, 0), (2, 1)),  # RGB-like rows: pairs staged, K % 4 = 1
    (8, 10, 8, 7, (3, 3), (1, 1), (1, 1), (1, 1)),  # whole blocks per kernel row, odd out_c
    (7, 9, 5, 4, (1, 1), (1, 1), (0, 0), (1, 1)),   # K = 5: one row of 5
    (6, 7, 2, 6, (3, 1), (2, 1), (1, 0), (1, 1)),   # K = 6 < 4 per row: per-pixel columns, pad rows
    (6, 6, 1, 3, (2, 3), (1, 1), (1, 1), (1, 1)),   # K = 6, rows of 3 < 4
    (5, 12, 4, 9, (2, 2), (1, 3), (0, 1), (2, 1)),  # dilated rows, stride 3 between the pair
    (12, 12, 3, 8, (5, 5), (1, 1), (2, 2), (1, 1)), # cifar's conv1 geometry (K = 75, pad 2)
    (8, 8, 32, 6, (5, 5), (1, 1), (2, 2), (1, 1)),  # cifar's deep 5x5 (K = 800)
    (9, 10, 16, 3, (3, 3), (1, 2), (2, 3), (2, 1)), # K = 144: quads by taps, mixed taps
    (5, 6, 6, 3, (5, 5), (1, 1), (2, 2), (1, 1)),   # K = 150, in_c % 4 != 0: pixel by pixel
    (5, 7, 3, 4, (5, 5), (1, 1), (2, 2), (1, 1)),   # K = 75 staged, quads across rows, a tail
    (4, 4, 64, 3, (1, 1), (1, 1), (0, 0), (1, 1)),  # K = 64: word-aligned rows (LDRD loop)
    (6, 13, 3, 5, (5, 5), (1, 1), (2, 2), (1, 1)),  # K = 75 by kernel rows: inside, both borders
    (5, 17, 2, 4, (2, 3), (1, 2), (0, 1), (1, 1)),  # in_c 2, stride 2 across a quad
    (4, 9, 4, 3, (1, 1), (1, 1), (2, 2), (1, 1)),   # k 1, pad 2: spans wholly padding
    (7, 16, 1, 3, (3, 5), (2, 2), (1, 2), (2, 1)),  # the _quad entry by rows: stride 2, dilated down
    (6, 12, 16, 2, (3, 3), (1, 1), (2, 2), (2, 2)), # the _quad entry by taps, dilated across
])
def test_conv2d_s8_padding_paths_match_golden(lib, h, w, c, o, k, stride, pad, dil):
    """Each DSP column builder (stage, byte stream, interior pairs) with the padding at in_zp,
    for zero points at both ends of int8 and in between."""
    rng = np.random.default_rng(h * 1000 + c * 10 + o)
    x = rng.integers(-128, 128, (h, w, c)).astype(np.int8)
    wt = rng.integers(-127, 128, (o, k[0], k[1], c)).astype(np.int8)
    b = rng.integers(-(1 << 16), 1 << 16, o).astype(np.int32)
    mult, shift = _rand_requant(rng, o, 1e-4, 2e-2)
    for in_zp, out_zp, act in ((-128, -128, (-128, 127)), (127, 5, (5, 127)), (-37, 20, (-50, 90)), (0, 0, (0, 127))):
        case = (x, wt, b, in_zp, mult, shift, out_zp, act, stride, pad, dil, 1)
        assert np.array_equal(run_conv(lib, case), want_conv(case)), (in_zp, out_zp)


def test_conv2d_s8_refuses_accumulators_past_its_bound():
    """The accumulator must stay below 2^30 (the epilogue's bound; it also keeps the folded
    partial sums in int32), and multipliers are TFLite's: one paragraph each, no C."""
    x = np.zeros((3, 3, 4), np.int8)
    wt = np.full((2, 3, 3, 4), 127, np.int8)
    b = np.array([2**31 - 2**14, 0], np.int32)   # in_zp -128: |x - in_zp| up to 255
    case = (x, wt, b, -128, *_rand_requant(np.random.default_rng(1), 2), 0, (-128, 127), (1, 1), (1, 1), (1, 1), 1)
    op, shape = conv_op(*case)
    with pytest.raises(NnbuildError, match="2\\^30"):
        _lower(op, [x.shape], shape)
    op.params["bias"] = np.array([2**30 - 1 - 255 * 127 * 36, 0], np.int32)   # at the bound
    _lower(op, [x.shape], shape)
    op.params["bias"][0] += 1
    with pytest.raises(NnbuildError, match="2\\^30"):
        _lower(op, [x.shape], shape)
    op.params["out_mult"] = np.array([-1, 5], np.int32)
    op.params["bias"] = np.zeros(2, np.int32)
    with pytest.raises(NnbuildError, match="out_mult"):
        _lower(op, [x.shape], shape)


# -- fully connected ------------------------------------------------------------------------------

def _fc_case(rng):
    n, o = int(rng.integers(1, 600)), int(rng.integers(1, 14))
    x, w = _rand_i8(rng, (1, 1, n)), _rand_weights(rng, (o, n))
    b = rng.integers(-(1 << 20), 1 << 20, o).astype(np.int32)
    in_zp, out_zp = _rand_zp(rng), _rand_zp(rng)
    mult, shift = _rand_requant(rng, o)
    return x, w, b, in_zp, mult, shift, out_zp, _rand_act(rng, out_zp)


def fc_op(x, w, b, in_zp, mult, shift, out_zp, act):
    return ir.Op("fc", "fully_connected", ["x"], ["y"], attrs={
        "in_zp": in_zp, "out_zp": out_zp, "act_min": act[0], "act_max": act[1], "per_channel": True},
        params={"weight": w, "bias": b, "out_mult": mult, "out_shift": shift})


def test_fc_s8_random_matches_golden(lib):
    rng = np.random.default_rng(99)
    for i in range(150):
        case = _fc_case(rng)
        x, w = case[0], case[1]
        low = _lower(fc_op(*case), [x.shape], (1, 1, w.shape[0]))
        p = _fill(FcS8, low.params)
        out = _guarded(w.shape[0])
        scratch_n = lib.nn_fc_s8_scratch_bytes(ctypes.byref(p)) // 2
        scratch = _guarded(scratch_n, np.int16, 0x5A5A)
        a = {k: np.ascontiguousarray(v) for k, v in low.arrays.items()}
        lib.nn_fc_s8(ctypes.byref(p), _ptr(np.ascontiguousarray(x)), _ptr(a["weight"]), _ptr(a["chan"]),
                     _ptr(out), _ptr(scratch))
        _intact(out, w.shape[0])
        _intact(scratch, scratch_n, 0x5A5A)
        want = golden(fc_op(*case), x).reshape(-1)
        assert np.array_equal(out[:w.shape[0]], want), f"case {i}: n={x.size} o={w.shape[0]} zp={case[3]}"


# -- pooling, clamp -------------------------------------------------------------------------------

def _pool_case(rng):
    while True:
        kernel = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        pad = (int(rng.integers(0, kernel[0])), int(rng.integers(0, kernel[1])))
        h = int(rng.integers(max(1, kernel[0] - 2 * pad[0]), 14))
        w = int(rng.integers(max(1, kernel[1] - 2 * pad[1]), 14))
        if not (ir.pool_has_empty_window(h, kernel[0], stride[0], pad[0])
                or ir.pool_has_empty_window(w, kernel[1], stride[1], pad[1])):
            zp = _rand_zp(rng)
            return _rand_i8(rng, (h, w, int(rng.integers(1, 19)))), kernel, stride, pad, zp, _rand_act(rng, zp)


def pool_op(kind, x, kernel, stride, pad, zp, act, exclude_pad=False):
    """The pooling case as a quantized IR op (avg: in_zp, the value of Caffe's counted padding;
    exclude_pad: none counted, TFLite's AVERAGE_POOL_2D)."""
    attrs = {"kernel": kernel, "stride": stride, "pad": pad, "act_min": act[0], "act_max": act[1]}
    if kind == "avg_pool":
        attrs["in_zp"] = zp
        if exclude_pad:
            attrs["exclude_pad"] = True
    op = ir.Op("pool", kind, ["x"], ["y"], attrs=attrs)
    oh = ir.pool_output_size(x.shape[0], kernel[0], stride[0], pad[0])
    ow = ir.pool_output_size(x.shape[1], kernel[1], stride[1], pad[1])
    return op, (oh, ow, x.shape[2])


def run_pool(lib, kind, x, kernel, stride, pad, zp, act, exclude_pad=False):
    op, (oh, ow, c) = pool_op(kind, x, kernel, stride, pad, zp, act, exclude_pad)
    low = _lower(op, [x.shape], (oh, ow, c), [zp])
    p = _fill(PoolS8, low.params)
    n = oh * ow * x.shape[2]
    out = _guarded(n)
    getattr(lib, kernels.find(op, "int8").symbol)(ctypes.byref(p), _ptr(np.ascontiguousarray(x)), _ptr(out))
    _intact(out, n)
    return out[:n].reshape(oh, ow, x.shape[2])


@pytest.mark.parametrize("kind", ["max_pool", "avg_pool"])
def test_pool_s8_random_matches_golden(lib, kind):
    rng = np.random.default_rng(5)
    for i in range(200):
        x, kernel, stride, pad, zp, act = _pool_case(rng)
        want = golden(pool_op(kind, x, kernel, stride, pad, zp, act)[0], x)
        got = run_pool(lib, kind, x, kernel, stride, pad, zp, act)
        assert np.array_equal(got, want), f"case {i}: x{x.shape} k{kernel} s{stride} p{pad} zp{zp} act{act}"


def test_avgpool_s8_exclude_pad_random_matches_golden(lib):
    """exclude_pad on random padded shapes, zero points and clamps: no padding cell counted."""
    rng = np.random.default_rng(12)
    for i in range(200):
        x, kernel, stride, pad, zp, act = _pool_case(rng)
        want = golden(pool_op("avg_pool", x, kernel, stride, pad, zp, act, True)[0], x)
        got = run_pool(lib, "avg_pool", x, kernel, stride, pad, zp, act, True)
        assert np.array_equal(got, want), f"case {i}: x{x.shape} k{kernel} s{stride} p{pad} zp{zp} act{act}"


def test_avgpool_s8_large_windows(lib):
    """Windows above 255 cells (the division fallback) with padding counted at the zero point."""
    x = np.random.default_rng(11).choice(np.array([-128, 127, -1, 1], np.int8), size=(20, 20, 6))
    for kernel, zp in [((16, 17), -128), ((20, 20), 127), ((3, 3), -3)]:
        for excl in (False, True):
            want = golden(pool_op("avg_pool", x, kernel, (2, 3), (1, 2), zp, (-128, 127), excl)[0], x)
            assert np.array_equal(run_pool(lib, "avg_pool", x, kernel, (2, 3), (1, 2), zp, (-128, 127), excl), want)


def test_relu_s8_is_a_clamp_in_place(lib):
    rng = np.random.default_rng(3)
    for n in [1, 3, 4, 5, 63, 257]:
        x = rng.integers(-128, 128, n).astype(np.int8)
        for lo, hi in [(-128, 127), (-5, 127), (17, 40)]:
            op = ir.Op("r", "relu", ["x"], ["y"], attrs={"act_min": lo, "act_max": hi})
            low = _lower(op, [(1, 1, n)], (1, 1, n))
            buf = np.concatenate([x, np.full(GUARD, -7, np.int8)])
            lib.nn_clamp_s8(_ptr(buf), low.params["n"], low.params["act_min"], low.params["act_max"])
            assert np.array_equal(buf[:n], np.clip(x, lo, hi)) and np.all(buf[n:] == -7)


# -- add, concat ----------------------------------------------------------------------------------

def _add_case(rng):
    """Parameters as TFLite prepares them: inputs scaled to twice the larger scale with 20 bits
    of headroom, the output multiplier undoing that."""
    s1, s2, so = (float(np.float32(v)) for v in np.exp(rng.uniform(np.log(0.01), np.log(0.5), 3)))
    twice = 2 * max(s1, s2)
    (m1, sh1), (m2, sh2) = arith.quantize_multiplier(s1 / twice), arith.quantize_multiplier(s2 / twice)
    mo, sho = arith.quantize_multiplier(twice / ((1 << 20) * so))
    zps = [_rand_zp(rng), _rand_zp(rng)]
    out_zp = _rand_zp(rng)
    return dict(in_zp=zps, in_mult=[m1, m2], in_shift=[sh1, sh2], left_shift=20, out_mult=mo,
                out_shift=sho, out_zp=out_zp, act_min=_rand_act(rng, out_zp)[0], act_max=127)


def test_add_s8_matches_tflm_and_runs_in_place(lib):
    rng = np.random.default_rng(4)
    for i in range(60):
        n = int(rng.integers(1, 300))
        a, b = _rand_i8(rng, (1, 1, n)), _rand_i8(rng, (1, 1, n))
        attrs = _add_case(rng)
        low = _lower(ir.Op("add", "add", ["a", "b"], ["y"], attrs=attrs), [a.shape, b.shape], (1, 1, n))
        p = _fill(AddS8, low.params)
        want = golden(ir.Op("add", "add", ["a", "b"], ["y"], attrs=attrs), a, b).reshape(-1)
        out = _guarded(n)
        lib.nn_add_s8(ctypes.byref(p), _ptr(a), _ptr(b), _ptr(out))
        _intact(out, n)
        assert np.array_equal(out[:n], want), i
        inplace = b.copy()
        lib.nn_add_s8(ctypes.byref(p), _ptr(a), _ptr(inplace), _ptr(inplace))
        assert np.array_equal(inplace.reshape(-1), want), i


def test_concat_s8_copies_or_requantizes_each_input(lib):
    rng = np.random.default_rng(6)
    for i in range(40):
        h, w = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        parts = [_rand_i8(rng, (h, w, int(rng.integers(1, 7)))) for _ in range(rng.integers(1, 4))]
        k = len(parts)
        requant = [bool(rng.integers(2)) for _ in parts]
        ms = [arith.quantize_multiplier(float(rng.uniform(0.2, 1.9))) for _ in parts]
        attrs = dict(in_zp=[_rand_zp(rng) for _ in parts], in_mult=[m for m, _ in ms], in_shift=[s for _, s in ms],
                     requant=requant, out_zp=_rand_zp(rng))
        out_c = sum(p.shape[2] for p in parts)
        names = [f"x{j}" for j in range(k)]
        op = ir.Op("cat", "concat", names, ["y"], attrs=attrs)
        low = _lower(op, [p.shape for p in parts], (h, w, out_c))
        lines = kernels.find(op, "int8").emit(types.SimpleNamespace(params=low.params, inputs=names, output="y"),
                                              types.SimpleNamespace(ptr=lambda t: t, int=str))
        assert [ln.split("(")[0] for ln in lines] == ["nn_concat_s8" if r else "nn_concat_q7" for r in requant]
        want = golden(op, *parts)
        out = _guarded(h * w * out_c)
        off = 0
        for p, z, m, s, r in zip(parts, attrs["in_zp"], attrs["in_mult"], attrs["in_shift"], requant):
            src = _ptr(np.ascontiguousarray(p))
            if r:
                lib.nn_concat_s8(src, h * w, p.shape[2], z, I32(m), s, attrs["out_zp"], _ptr(out), out_c, off)
            else:
                lib.nn_concat_q7(src, h * w, p.shape[2], 0, _ptr(out), out_c, off)
            off += p.shape[2]
        _intact(out, h * w * out_c)
        assert np.array_equal(out[:h * w * out_c].reshape(h, w, out_c), want), i


# -- softmax --------------------------------------------------------------------------------------

def test_softmax_s8_matches_golden(lib):
    """Seeded scales and depths (up to the 511-channel limit), rows of equal values, extremes."""
    from nnbuild.quantize.int8.ops import softmax as softmax_rule

    rng = np.random.default_rng(12)
    for i in range(80):
        depth = int(rng.choice([1, 2, 3, 10, 37, 100, 511])) if i % 4 else int(rng.integers(1, 64))
        pixels = int(rng.integers(1, 4))
        x = _rand_i8(rng, (1, pixels, depth))
        if i % 9 == 0:
            x[...] = x.flat[0]                       # every channel equal
        scale = float(np.float32(np.exp(rng.uniform(np.log(2.0 ** -18), np.log(2.0)))))
        op = ir.Op("sm", "softmax", ["x"], ["y"])
        op.params["exp_table"] = softmax_rule.exp_table(scale, op).astype(np.int32)
        low = _lower(op, [x.shape], x.shape)
        n = x.size
        out = _guarded(n)
        lib.nn_softmax_s8(_ptr(np.ascontiguousarray(x)), low.params["pixels"], low.params["depth"],
                          _ptr(np.ascontiguousarray(low.arrays["exp_table"])), _ptr(out))
        _intact(out, n)
        assert np.array_equal(out[:n].reshape(x.shape), golden(op, x)), (i, depth, scale)
    op = ir.Op("sm", "softmax", ["x"], ["y"], params={"exp_table": np.zeros(256, np.int32)})
    with pytest.raises(NnbuildError, match="511"):
        _lower(op, [(1, 1, 512)], (1, 1, 512))


# -- the primitives (kernels/common/nn_int8.h) against arith.py -------------------------------------

PRIMS_C = """#include "nn_int8.h"
int32_t t_srdhm(int32_t a, int32_t b) { return nn_srdhm(a, b); }
int32_t t_rdbpot(int32_t x, int32_t e) { return nn_rdbpot(x, e); }
int32_t t_mbqm(int32_t x, int32_t m, int32_t s) { return nn_mbqm(x, m, s); }
int32_t t_requant(int32_t acc, int32_t m, int32_t s, int32_t zp, int32_t lo, int32_t hi)
{
    return nn_requant_s8(acc, m, s, zp, lo, hi);
}
"""


@pytest.fixture(scope="module")
def prims(tmp_path_factory):
    out = tmp_path_factory.mktemp("prims")      # per worker: another may be writing build/'s copy
    src = out / "prims.c"
    src.write_text(PRIMS_C)
    lib = hostcc.load(hostcc.build_shared([src], out, include_dirs=KINC))
    for f, n in ((lib.t_srdhm, 2), (lib.t_rdbpot, 2), (lib.t_mbqm, 3), (lib.t_requant, 6)):
        f.restype = I32
        f.argtypes = [I32] * n
    return lib


def test_int8_primitives_match_arith(prims):
    rng = np.random.default_rng(31)
    edges = [-2**31, -2**31 + 1, -2**30, -3, -2, -1, 0, 1, 2, 3, 2**30, 2**31 - 1]
    mults = [0, 1, 2**30, 2**30 + 1, 2**31 - 1, *(int(v) for v in rng.integers(2**30, 2**31, 20))]
    for a in [*edges, *(int(v) for v in rng.integers(-2**31, 2**31, 200))]:
        for b in mults[:5] + [mults[5 + a % 20]]:
            assert prims.t_srdhm(a, b) == int(arith.srdhm(a, b)), (a, b)
        for e in [0, 1, 2, 5, 17, 30, 31]:
            assert prims.t_rdbpot(a, e) == int(arith.rounding_divide_by_pot(a, e)), (a, e)
    # ties of the rounding divide: both signs, away from zero
    for x in range(-40, 41):
        for e in (1, 2, 3):
            assert prims.t_rdbpot(x, e) == int(arith.rounding_divide_by_pot(x, e)), (x, e)
    for _ in range(3000):
        m, s = arith.quantize_multiplier(float(np.exp(rng.uniform(-25, 3))))
        x = int(rng.integers(-2**31, 2**31)) >> max(s, 0)   # x * 2^shift fits int32
        assert prims.t_mbqm(x, m, s) == int(arith.mbqm(x, m, s)), (x, m, s)


def test_requant_epilogue_matches_arith_below_its_bound(prims):
    """nn_requant_s8's fast path (shift < 0: SMMULR and a one-add rounding shift) and its general
    path, for accumulators up to the registry's bound |acc| < 2^30, rounding ties included."""
    rng = np.random.default_rng(32)
    accs = [-2**30 + 1, -2**30 + 2, -1, 0, 1, 2**30 - 1, *(int(v) for v in rng.integers(-2**30 + 1, 2**30, 3000))]
    for i, acc in enumerate(accs):
        m, s = arith.quantize_multiplier(float(np.exp(rng.uniform(-28, 1))))
        if i % 7 == 0:    # a tie of the final rounding: acc * m / 2^31 lands on k + 1/2 (times 2^-s)
            m, s = 2**30, int(rng.integers(-8, 0))
            acc = (int(rng.integers(-2**20, 2**20)) * 2 + 1) << (-s - 1 + 1)
        zp = int(rng.integers(-128, 128))
        lo, hi = [(-128, 127), (zp, 127), (-5, 9)][i % 3]
        x = acc << max(s, 0)
        if abs(x) >= 2**31:
            continue
        want = int(np.clip(int(arith.mbqm(acc, m, s)) + zp, lo, hi))
        assert prims.t_requant(acc, m, s, zp, lo, hi) == want, (acc, m, s, zp, lo, hi)


# -- on the real instruction set (QEMU) -----------------------------------------------------------

def _conv_c(i, case, src, isa="ref"):
    """Appends conv case i's C (input cx, weights cw in the `isa` variant's layout, channel records
    cc, golden output cy, params cp) to src; returns its op, lowering and golden output."""
    op, out_shape = conv_op(*case)
    low = _lower(op, [case[0].shape], out_shape)
    want = want_conv(case)
    a = conv_arrays(op, low, isa)
    src += [c_array("int8_t", f"cx{i}", case[0]), c_array("int8_t", f"cw{i}", a["weight"]),
            c_array("int32_t", f"cc{i}", a["chan"]), c_array("int8_t", f"cy{i}", want),
            c_struct("nn_conv_s8_params", f"cp{i}", low.params)]
    return op, low, want


def _fc_c(i, case, src, calls):
    """Appends fully connected case i's C (fx, fw, fc, golden fy, params fp) to src and its checked
    call to calls."""
    x, w = case[0], case[1]
    low = _lower(fc_op(*case), [x.shape], (1, 1, w.shape[0]))
    want = golden(fc_op(*case), x)
    a = low.arrays
    src += [c_array("int8_t", f"fx{i}", x), c_array("int8_t", f"fw{i}", a["weight"]),
            c_array("int32_t", f"fc{i}", a["chan"]), c_array("int8_t", f"fy{i}", want),
            c_struct("nn_fc_s8_params", f"fp{i}", low.params)]
    calls.append(f"nn_fc_s8(&fp{i}, fx{i}, fw{i}, fc{i}, out, scratch); "
                 f"bad += check(\"fc\", {i}, fy{i}, {w.shape[0]});")


def _pool_c(i, case, src, calls):
    """Appends pool case i's C (input px, then per kind its golden output and params) to src and
    the max, the average and the exclude_pad average pool's checked calls to calls; returns their
    largest output size."""
    x, kernel, stride, pad, zp, act = case
    src.append(c_array("int8_t", f"px{i}", x))
    largest = 1
    for kind, excl in (("max_pool", False), ("avg_pool", False), ("avg_pool", True)):
        op, out_shape = pool_op(kind, x, kernel, stride, pad, zp, act, excl)
        low = _lower(op, [x.shape], out_shape, [zp])
        want = golden(op, x)
        tag = f"{kind[:3]}{'x' if excl else ''}{i}"
        src += [c_array("int8_t", f"{tag}y", want), c_struct("nn_pool_s8_params", f"{tag}p", low.params)]
        calls.append(f"{kernels.find(op, 'int8').symbol}(&{tag}p, px{i}, out); "
                     f"bad += check(\"{kind}\", {i}, {tag}y, {want.size});")
        largest = max(largest, want.size)
    return largest


def _qemu_cases_source(big, isa="ref"):
    """C source: s8 kernels run on embedded cases lowered by the registry (laid out for the `isa`
    variant); main returns the number of mismatching cases."""
    rng = np.random.default_rng(2025)
    src = [HEADER]
    calls, max_out, max_scratch = [], 1, 4
    cases = [_conv_case(rng, small=True) for _ in range(50)]
    # cifar10_m4's layers with zero points (conv1 output: 32 KiB, not on the m0 board)
    for h, c, o in [(32, 3, 32), (16, 32, 16), (8, 16, 32)][0 if big else 1:]:
        mult, shift = _rand_requant(rng, o, 1e-4, 2e-2)
        cases.append((rng.integers(-128, 128, (h, h, c)).astype(np.int8),
                      rng.integers(-127, 128, (o, 5, 5, c)).astype(np.int8),
                      rng.integers(-(1 << 16), 1 << 16, o).astype(np.int32), -7, mult, shift, -128,
                      (-128, 127), (1, 1), (2, 2), (1, 1), 1))
    for i, case in enumerate(cases):
        op, low, want = _conv_c(i, case, src, isa)
        calls.append(f"nn_conv2d_s8(&cp{i}, cx{i}, cw{i}, cc{i}, out, scratch); "
                     f"bad += check(\"conv\", {i}, cy{i}, {want.size});")
        if low.symbol != "nn_conv2d_s8":   # the generator's entry for this layer too
            calls.append(f"memset(out, 0x5A, {want.size}); {low.symbol}(&cp{i}, cx{i}, cw{i}, cc{i}, out, scratch); "
                         f"bad += check(\"conv_relu\", {i}, cy{i}, {want.size});")
        p = low.params
        k = p["k_h"] * p["k_w"] * (p["in_c"] // p["groups"])
        if isa == "dsp" and low.symbol.endswith("_quad") and k >= 5:   # its weights widened in the scratch
            calls.append(f"memset(out, 0x5A, {want.size}); {low.symbol}_wide(&cp{i}, cx{i}, cw{i}, cc{i}, out, scratch); "
                         f"bad += check(\"conv_wide\", {i}, cy{i}, {want.size});")
            max_scratch = max(max_scratch, 2 * p["out_c"] * -(-k // 4) * 4 + 8 * -(-k // 4) * 4)
        max_out = max(max_out, want.size)
        max_scratch = max(max_scratch, kernels.find(op, "int8").scratch_bytes(low.params))   # any variant
    for i in range(20):
        case = _fc_case(rng)
        _fc_c(i, case, src, calls)
        max_scratch = max(max_scratch, 2 * case[0].size)
    for i in range(30):
        x, kernel, stride, pad, zp, act = _pool_case(rng)
        max_out = max(max_out, _pool_c(i, (x, kernel, stride, pad, zp, act), src, calls))
    for i in range(10):
        n = int(rng.integers(1, 300))
        a, b = _rand_i8(rng, (1, 1, n)), _rand_i8(rng, (1, 1, n))
        attrs = _add_case(rng)
        low = _lower(ir.Op("add", "add", ["a", "b"], ["y"], attrs=attrs), [a.shape, b.shape], (1, 1, n))
        src += [c_array("int8_t", f"aa{i}", a), c_array("int8_t", f"ab{i}", b),
                c_array("int8_t", f"ay{i}", golden(ir.Op("add", "add", ["a", "b"], ["y"], attrs=attrs), a, b)), c_struct("nn_add_s8_params", f"ap{i}", low.params)]
        calls.append(f"nn_add_s8(&ap{i}, aa{i}, ab{i}, out); bad += check(\"add\", {i}, ay{i}, {n});")
        max_out = max(max_out, n)
    for i in range(10):
        n = int(rng.integers(1, 200))
        x, (m, s), z, oz = _rand_i8(rng, (1, 1, n)), arith.quantize_multiplier(float(rng.uniform(0.2, 1.9))), _rand_zp(rng), _rand_zp(rng)
        op = ir.Op("cat", "concat", ["x"], ["y"], attrs=dict(in_zp=[z], in_mult=[m], in_shift=[s], requant=[True], out_zp=oz))
        src += [c_array("int8_t", f"qx{i}", x), c_array("int8_t", f"qy{i}", golden(op, x))]
        calls.append(f"nn_concat_s8(qx{i}, {n}, 1, {z}, {m}, {s}, {oz}, out, 1, 0); "
                     f"bad += check(\"concat\", {i}, qy{i}, {n});")
    from nnbuild.quantize.int8.ops import softmax as softmax_rule
    for i in range(5):
        depth, pixels = int(rng.choice([3, 10, 100, 511])), int(rng.integers(1, 3))
        x = _rand_i8(rng, (1, pixels, depth))
        op = ir.Op("sm", "softmax", ["x"], ["y"])
        op.params["exp_table"] = softmax_rule.exp_table(float(np.float32(2.0 ** -rng.uniform(1, 12))), op).astype(np.int32)
        src += [c_array("int8_t", f"sx{i}", x), c_array("int32_t", f"se{i}", op.params["exp_table"]),
                c_array("int8_t", f"sy{i}", golden(op, x))]
        calls.append(f"nn_softmax_s8(sx{i}, {pixels}, {depth}, se{i}, out); bad += check(\"softmax\", {i}, sy{i}, {x.size});")
        max_out = max(max_out, x.size)
    src.append(buffers_c(max_out + GUARD, max_scratch // 2 + 2))
    src += [check_c(), main_c(calls)]
    return "".join(src)


@needs_arm
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
@pytest.mark.parametrize("target", ["m4", "m0", "m55"])
def test_kernels_s8_in_qemu_match_golden(target, tmp_path):
    """The ARM builds (dsp variant: intrinsics + the asm MAC loop on m4/m55; ref on m0) == golden."""
    t = targets.get_target(target)
    run_in_qemu(target, _qemu_cases_source(big=target != "m0", isa=csources.isa_for(t)), tmp_path)


# -- a whole model: the sample network quantized with scheme int8 ---------------------------------

@pytest.fixture(scope="module")
def int8_sample(tmp_path_factory):
    """The default manifest's sample model with `scheme: int8` (paths made absolute), built once."""
    import yaml

    d = tmp_path_factory.mktemp("int8_sample")
    m = yaml.safe_load((ROOT / "models.yaml").read_text())
    entry = m["models"][0]
    for key in ("prototxt", "weights"):
        entry[key] = str(ROOT / entry[key])
    entry["quantization"]["scheme"] = "int8"
    entry["quantization"]["calibration"] = str(ROOT / entry["quantization"]["calibration"])
    (d / "int8.yaml").write_text(yaml.safe_dump(m, sort_keys=False))
    return d


def _scons(*args):
    scons = ROOT / ".venv" / "bin" / "scons"
    r = subprocess.run([str(scons) if scons.exists() else "scons", "-Q", "-C", str(ROOT), *map(str, args)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@needs_arm
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
@pytest.mark.parametrize("target", ["m4", "m0"])
def test_int8_sample_model_in_qemu_and_on_the_host_equals_golden(int8_sample, target):
    """Generated code for a whole int8 model (input stage, conv + fused relu, max pools, fc): QEMU
    (DSP kernels on m4, ref on m0) and the host builds (ref, emulated DSP) on 300 test digits."""
    from nnbuild import golden as golden_model
    from nnbuild import hostrun

    build = int8_sample / "build"
    out = _scons(f"target={target}", f"manifest={int8_sample / 'int8.yaml'}", f"build_dir={build}", "check",
                 "samples=8")
    assert f"[check] {target} sample_digits: 8/8 outputs identical" in out, out
    if target != "m4":
        return
    model = build / "models" / "sample_digits"
    qgraph = ir.load_graph(model / "quant.json", model / "quant.npz")
    assert qgraph.meta["quantization"]["scheme"] == "int8"
    x = np.load(ROOT / "models" / "sample" / "test.npz")["images"][:300]
    x = x.reshape(len(x), *qgraph.tensors[qgraph.input].shape)
    want = golden_model.run(qgraph, x).reshape(len(x), -1)
    for dsp in (False, True):
        host = hostrun.generate_and_build(qgraph, build / f"host_{dsp}", "sample_digits", dsp=dsp)
        assert np.array_equal(host.run(x).reshape(len(x), -1), want), f"dsp={dsp}"


# -- Helium (MVE) in QEMU (m55) -------------------------------------------------------------------
# As test_kernels.py's MVE test, for the *_s8 kernels: shapes at the mve/ loops' edges with zero
# points at both ends of int8, multipliers that keep most outputs inside int8 (and now and then
# one above 1: a left shift, which sends conv, depthwise and add to their scalar epilogues).

def _mve_conv_case(rng):
    from test_kernels import _moderate_shift, _mve_conv_case as q7_case
    x, wt, b, stride, pad, dil, groups, shift, act = q7_case(rng)
    wt = np.clip(wt, -127, 127).astype(np.int8)
    k = wt.shape[1] * wt.shape[2] * wt.shape[3]
    real = 2.0 ** -_moderate_shift(rng, k)
    mult, sh = _rand_requant(rng, wt.shape[0], real / 2, real * 2)
    if rng.integers(4) == 0:   # a multiplier above 1 somewhere
        mult[0], sh[0] = arith.quantize_multiplier(float(rng.uniform(1.0, 1.9)))
    in_zp, out_zp = _rand_zp(rng), _rand_zp(rng)
    return x, wt, b, in_zp, mult, sh, out_zp, _rand_act(rng, out_zp), stride, pad, dil, groups


def _mve_qemu_source_s8():
    rng = np.random.default_rng(5555)
    src = [HEADER]
    calls, max_out, max_scratch = [], 1, 4
    ties = []   # power-of-two multipliers: many exact halves, rounded away from zero
    for c, groups, o in ((3, 1, 6), (17, 1, 5), (9, 9, 9), (4, 2, 6)):   # dense, depthwise, grouped
        x = rng.integers(-8, 9, (5, 6, c)).astype(np.int8)
        wt = rng.integers(-8, 9, (o, 1, 3, c // groups)).astype(np.int8)
        shift = rng.integers(-6, 0, o).astype(np.int32)
        ties.append((x, wt, rng.integers(-300, 300, o).astype(np.int32), int(rng.integers(-3, 4)),
                     np.full(o, 1 << 30, np.int32), shift, 0, (-128, 127), (1, 1), (0, 1), (1, 1), groups))
    for i in range(40 + len(ties)):
        case = _mve_conv_case(rng) if i < 40 else ties[i - 40]
        op, low, want = _conv_c(i, case, src)
        scratch = kernels.find(op, "int8").scratch(low.params, "mve")
        calls.append(f"bad += guarded_conv(&cp{i}, cx{i}, cw{i}, cc{i}, {scratch}); "
                     f"bad += check(\"conv\", {i}, cy{i}, {want.size});")
        max_out, max_scratch = max(max_out, want.size), max(max_scratch, scratch)
    for i, n in enumerate([1, 15, 16, 17, 100, 512]):
        x, w, b, in_zp, mult, shift, out_zp, act = _fc_case(rng)
        x = rng.integers(-128, 128, (1, 1, n)).astype(np.int8)
        w = rng.integers(-127, 128, (w.shape[0], n)).astype(np.int8)
        _fc_c(i, (x, w, b[:w.shape[0]], in_zp, mult[:w.shape[0]], shift[:w.shape[0]], out_zp, act), src, calls)
        max_scratch = max(max_scratch, 2 * n)
    for i in range(16):
        x, kernel, stride, pad, zp, act = _pool_case(rng)
        if i % 4 == 0:   # channel counts around the 16- and 4-lane blocks
            x = rng.integers(-128, 128, x.shape[:2] + (int(rng.choice([15, 16, 17, 33])),)).astype(np.int8)
        max_out = max(max_out, _pool_c(i, (x, kernel, stride, pad, zp, act), src, calls))
    for i, n in enumerate([1, 3, 4, 5, 17, 100, 299]):
        a, b = _rand_i8(rng, (1, 1, n)), _rand_i8(rng, (1, 1, n))
        attrs = _add_case(rng)
        if i == 6:   # input multipliers above 1: the scalar path
            attrs["in_mult"][0], attrs["in_shift"][0] = arith.quantize_multiplier(1.5)
        add = ir.Op("add", "add", ["a", "b"], ["y"], attrs=attrs)
        low = _lower(add, [a.shape, b.shape], (1, 1, n))
        src += [c_array("int8_t", f"aa{i}", a), c_array("int8_t", f"ab{i}", b),
                c_array("int8_t", f"ay{i}", golden(add, a, b)), c_struct("nn_add_s8_params", f"ap{i}", low.params)]
        calls.append(f"nn_add_s8(&ap{i}, aa{i}, ab{i}, out); bad += check(\"add\", {i}, ay{i}, {n});")
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        src.append(c_array("int8_t", f"ky{i}", np.clip(a.reshape(-1), lo, hi)))
        calls.append(f"memcpy(out, aa{i}, {n}); nn_clamp_s8(out, {n}, {lo}, {hi}); bad += check(\"clamp\", {i}, ky{i}, {n});")
        max_out = max(max_out, n)
    src.append(buffers_c(max_out + GUARD, max_scratch // 2 + GUARD))
    src += [check_c(GUARD), guarded_conv_c("s8", GUARD), main_c(calls, reset_out=True)]
    return "".join(src)


@needs_arm
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
def test_mve_kernels_s8_in_qemu_match_golden(tmp_path):
    """m55's mve variant, every *_s8 kernel it has (and the q7 max pool the s8 one calls) ==
    golden on shapes at its edges, no write past an output or scratch."""
    assert csources.isa_for(targets.get_target("m55")) == "mve"
    run_in_qemu("m55", _mve_qemu_source_s8(), tmp_path)
