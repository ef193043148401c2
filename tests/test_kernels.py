"""C kernels (firmware_template/kernels) == golden model, byte for byte.

The whole suite runs against every kernel ISA variant of firmware_template/sources.json, built for
the host with nnbuild.hostcc: `ref` (portable C) and `dsp` with NN_EMULATE_DSP (C emulations of
SMLAD/SXTB16/...). Seeded random cases cover odd shapes, padding, stride, dilation, groups,
depthwise, shifts <= 0 and large, and saturating extremes.
"""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ROOT, needs_arm
from kernel_firmware import HEADER, buffers_c, c_array, check_c, guarded_conv_c, main_c, run_in_qemu
from nnbuild import csources, hostcc, ir, kernels, targets
from nnbuild.kernels.q7_conv2d import pack_weight, quad_entry
from nnbuild.quantize.q7 import golden

KINC = csources.kernel_include_dirs()
GUARD = 16  # sentinel bytes after every output and scratch buffer


class ConvParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int16) for n in (
        "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w",
        "pad_h", "pad_w", "dil_h", "dil_w", "groups", "out_shift", "act_min", "act_max")]


class FcParams(ctypes.Structure):
    _fields_ = [("in_n", ctypes.c_int32), ("out_n", ctypes.c_int32),
                ("out_shift", ctypes.c_int16), ("act_min", ctypes.c_int16), ("act_max", ctypes.c_int16)]


class PoolParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int16) for n in (
        "in_h", "in_w", "c", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w", "pad_h", "pad_w",
        "exclude_pad")]


def _ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def host_kernels(isa):
    """The kernels of ISA variant `isa` as a host library (dsp and later ones emulated); its
    `nn_isa` names the variant (the weight layout its convolutions read: pack_weight)."""
    defines = [] if isa == "ref" else ["NN_EMULATE_DSP"]
    path = hostcc.build_shared(csources.kernel_sources(isa), ROOT / "build" / "test_kernels",
                               include_dirs=KINC, defines=defines)
    lib = hostcc.load(path)
    lib.nn_isa = isa
    return lib


@pytest.fixture(scope="module", params=csources.host_isas())   # mve: QEMU only
def lib(request):
    return host_kernels(request.param)


def _guarded(n, dtype=np.int8, fill=0x5A):
    """A buffer of n elements plus GUARD sentinel elements; check with _intact."""
    return np.full(n + GUARD, fill, dtype=dtype)


def _intact(buf, n, fill=0x5A):
    assert np.all(buf[n:] == np.array(fill, dtype=buf.dtype)), "kernel wrote past its buffer"


def _rand_i8(rng, shape):
    """int8 data; a third of the cases use only the extremes -128/127 to force saturation."""
    mode = rng.integers(3)
    if mode == 0:
        return rng.choice(np.array([-128, 127], np.int8), size=shape)
    if mode == 1:
        return rng.integers(-128, 128, size=shape).astype(np.int8)
    return rng.integers(-20, 21, size=shape).astype(np.int8)


def _rand_shift(rng):
    return int(rng.choice([rng.integers(-4, 1), rng.integers(1, 14), rng.integers(14, 40)]))


def _rand_act(rng):
    return [(-128, 127), (0, 127), tuple(sorted(rng.integers(-128, 128, 2)))][rng.integers(3)]


# -- conv2d ---------------------------------------------------------------------------------------

def conv_scratch_bytes(kh, kw, cin_g, isa=None):
    """docs/q7_contract.md, per variant: dsp four int16 columns of K = kh*kw*cin_g values padded
    to whole blocks of 4, mla K words, thumb1 4 int32 lanes of at most 128 such taps, mve three
    int8 columns, ref none (the kernel writes the padding, so a smaller buffer shows up as a broken
    sentinel); isa None: the most of any variant (a buffer shared by every variant's runs)."""
    k = kh * kw * cin_g
    k4 = (k + 3) // 4 * 4
    need = {"ref": 0, "dsp": 8 * k4, "mla": 4 * k, "thumb1": 16 * min(k4, 128), "mve": 3 * k}
    return max(need.values()) if isa is None else need[isa]


def conv_weight(w, c, groups, isa, off=0):
    """w (out_c, k_h, k_w, cin_g) in the layout of the `isa` variant (the generator's
    pack_weight), starting `off` bytes into a word-aligned buffer."""
    packed = pack_weight(w, dict(k_h=w.shape[1], k_w=w.shape[2], in_c=c, groups=groups), isa).reshape(-1)
    buf = np.zeros(packed.size + off, np.int8)   # numpy's buffers: 16-byte aligned
    buf[off:] = packed
    return buf[off:]


def run_conv(lib, x, w, b, stride, pad, dil, groups, shift, act, off=0):
    """w: (out_c, k_h, k_w, cin_g), passed in the library's variant's layout, `off` bytes off
    word alignment."""
    h, wd, c = x.shape
    o, kh, kw, _ = w.shape
    oh = ir.conv_output_size(h, kh, stride[0], pad[0], dil[0])
    ow = ir.conv_output_size(wd, kw, stride[1], pad[1], dil[1])
    p = ConvParams(h, wd, c, oh, ow, o, kh, kw, stride[0], stride[1], pad[0], pad[1],
                   dil[0], dil[1], groups, shift, act[0], act[1])
    out = _guarded(oh * ow * o)
    # the size the kernel itself declares: the sentinels below prove that it is enough
    scratch_n = lib.nn_conv2d_q7_scratch_bytes(ctypes.byref(p)) // 2  # in int16 elements
    scratch = _guarded(scratch_n, np.int16, 0x5A5A)
    x = np.ascontiguousarray(x)
    w = conv_weight(w, c, groups, lib.nn_isa, off)
    b = np.ascontiguousarray(b, dtype=np.int32)
    lib.nn_conv2d_q7(ctypes.byref(p), _ptr(x), _ptr(w), _ptr(b), _ptr(out), _ptr(scratch))
    _intact(out, oh * ow * o)
    _intact(scratch, scratch_n, 0x5A5A)
    if relu_entry(groups, c, shift, act):   # the generator's entry for these layers: same bytes
        out2 = _guarded(oh * ow * o)
        lib.nn_conv2d_q7_relu(ctypes.byref(p), _ptr(x), _ptr(w), _ptr(b), _ptr(out2), _ptr(scratch))
        _intact(out2, oh * ow * o)
        _intact(scratch, scratch_n, 0x5A5A)
        assert np.array_equal(out2, out), "nn_conv2d_q7_relu differs from nn_conv2d_q7"
        if quad_entry(conv_geo(p)):   # the entry of those whose quads go by rows or taps
            out2 = _guarded(oh * ow * o)
            lib.nn_conv2d_q7_relu_quad(ctypes.byref(p), _ptr(x), _ptr(w), _ptr(b), _ptr(out2), _ptr(scratch))
            _intact(out2, oh * ow * o)
            _intact(scratch, scratch_n, 0x5A5A)
            assert np.array_equal(out2, out), "nn_conv2d_q7_relu_quad differs from nn_conv2d_q7"
            if kh * kw * (c // groups) >= 5:   # and with its weights widened in the scratch
                run_wide(lib, "q7", p, (x, w, b), oh * ow * o, out)
    return out[:oh * ow * o].reshape(oh, ow, o)


def run_wide(lib, scheme, p, arrays, n, want):
    """nn_conv2d_<scheme>_relu_quad_wide on the case (p: its params struct, arrays: input,
    weights in the variant's layout, bias / records) with exactly its declared scratch, which
    sentinels guard; its bytes == want (the general entry's)."""
    entry = f"nn_conv2d_{scheme}_relu_quad_wide"
    scratch_n = getattr(lib, entry + "_scratch_bytes")(ctypes.byref(p)) // 2
    if lib.nn_isa == "dsp":
        geo = conv_geo(p)
        k4 = -(-geo["k_h"] * geo["k_w"] * (geo["in_c"] // geo["groups"]) // 4) * 4
        assert 2 * scratch_n == 2 * p.out_c * k4 + 8 * k4
    scratch = _guarded(scratch_n, np.int16, 0x5A5A)
    out = _guarded(n)
    getattr(lib, entry)(ctypes.byref(p), *(_ptr(a) for a in arrays), _ptr(out), _ptr(scratch))
    _intact(out, n)
    _intact(scratch, scratch_n, 0x5A5A)
    assert np.array_equal(out[:n], want[:n]), f"{entry} differs"


def conv_geo(p):
    """The geometry fields of an nn_conv_params (ctypes) as kernels/q7_conv2d.py names them."""
    return {k: getattr(p, k) for k in ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w",
                                       "stride_h", "stride_w", "pad_h", "pad_w", "dil_h", "dil_w", "groups")}


def relu_entry(groups, in_c, shift, act):
    """The layers kernels/q7_conv2d.py gives nn_conv2d_q7_relu: general, shift 2..31, act 0..127."""
    return not (groups > 1 and in_c == groups) and 2 <= shift <= 31 and tuple(act) == (0, 127)


def conv_geometry(rng, top=13):
    """A random conv's (h, w, c), cout, (kh, kw, cin_g), stride, pad, dil, groups: dense, grouped
    or depthwise (with a multiplier), input sides below `top` but at least one dilated window."""
    groups = int(rng.choice([1, 1, 1, 2, 3, 0]))  # 0: depthwise
    cin_g = int(rng.integers(1, 9))
    if groups == 0:
        c = int(rng.integers(1, 17))
        groups, cin_g, cout = c, 1, c * int(rng.integers(1, 3))
    else:
        c = groups * cin_g
        cout = groups * int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    pad = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    h = max(int(rng.integers(1, top)), dil[0] * (kh - 1) + 1 - 2 * pad[0])
    w = max(int(rng.integers(1, top)), dil[1] * (kw - 1) + 1 - 2 * pad[1])
    return (h, w, c), cout, (kh, kw, cin_g), stride, pad, dil, groups


def _conv_case(rng):
    (h, w, c), cout, (kh, kw, cin_g), stride, pad, dil, groups = conv_geometry(rng)
    x = _rand_i8(rng, (h, w, c))
    wt = _rand_i8(rng, (cout, kh, kw, cin_g))
    b = rng.integers(-(1 << 20), 1 << 20, cout).astype(np.int32)
    return x, wt, b, stride, pad, dil, groups, _rand_shift(rng), _rand_act(rng)


def test_conv2d_random_matches_golden(lib):
    rng = np.random.default_rng(1234)
    for i in range(200):
        x, w, b, stride, pad, dil, groups, shift, act = _conv_case(rng)
        want = golden.conv2d(x[None], w, b, stride, pad, dil, groups, shift, *act)[0]
        got = run_conv(lib, x, w, b, stride, pad, dil, groups, shift, act)
        assert np.array_equal(got, want), f"case {i}: x{x.shape} w{w.shape} s{stride} p{pad} d{dil} g{groups} sh{shift}"


def test_conv2d_cifar_layers_match_golden(lib):
    """The shapes of the sample network: RGB 5x5 (K = 75, not a multiple of 4) and deep 5x5."""
    rng = np.random.default_rng(7)
    for (h, c, o) in [(32, 3, 32), (16, 32, 16), (8, 16, 32)]:
        x = rng.integers(-128, 128, (h, h, c)).astype(np.int8)
        w = rng.integers(-128, 128, (o, 5, 5, c)).astype(np.int8)
        b = rng.integers(-(1 << 16), 1 << 16, o).astype(np.int32)
        want = golden.conv2d(x[None], w, b, 1, 2, 1, 1, 9, 0, 127)[0]
        assert np.array_equal(run_conv(lib, x, w, b, (1, 1), (2, 2), (1, 1), 1, 9, (0, 127)), want)


@pytest.mark.parametrize("h,w,c,o,k,stride,pad,dil", [
    (9, 11, 3, 5, (3, 5), (1, 2), (1, 0), (2, 1)),  # RGB-like rows: pairs staged, K % 4 = 1
    (8, 10, 8, 7, (3, 3), (1, 1), (1, 1), (1, 1)),  # whole blocks per kernel row, odd out_c
    (7, 9, 5, 4, (1, 1), (1, 1), (0, 0), (1, 1)),   # K = 5: one row of 5, K % 4 = 1
    (6, 7, 2, 6, (1, 1), (2, 1), (0, 0), (1, 1)),   # K = 2 < 4: every pair builds its words
    (6, 6, 1, 3, (2, 3), (1, 1), (1, 1), (1, 1)),   # K = 6, rows of 3 < 4: per-pixel columns
    (5, 12, 4, 9, (2, 2), (1, 3), (0, 1), (2, 1)),  # dilated rows, stride 3 between the pair
])
def test_conv2d_pair_paths_match_golden(lib, h, w, c, o, k, stride, pad, dil):
    """Shapes that send output pixel pairs through each column builder of the DSP path (both
    pixels inside the input or not, K % 4 = 0..3, rows shorter than a block) and many weight
    rows per group (the MAC loop reads a row's first block from before the row)."""
    rng = np.random.default_rng(h * 1000 + c * 10 + o)
    x = rng.integers(-128, 128, (h, w, c)).astype(np.int8)
    wt = rng.integers(-128, 128, (o, k[0], k[1], c)).astype(np.int8)
    b = rng.integers(-(1 << 16), 1 << 16, o).astype(np.int32)
    for shift, act in ((8, (0, 127)), (7, (-128, 127)), (5, (-20, 90))):
        want = golden.conv2d(x[None], wt, b, stride, pad, dil, 1, shift, *act)[0]
        assert np.array_equal(run_conv(lib, x, wt, b, stride, pad, dil, 1, shift, act), want)


QUAD_SHAPES = [
    (7, 9, 16, 5, (3, 3), (1, 1), (1, 1), (1, 1), 1),   # K = 144, in_c % 4 = 0: quads by taps
    (9, 10, 16, 3, (3, 3), (1, 2), (2, 3), (2, 1), 1),  # ... strided, dilated: mixed taps
    (6, 7, 32, 4, (3, 2), (1, 3), (1, 1), (1, 2), 2),   # groups of 16 channels, stride 3 in a quad
    (5, 6, 6, 3, (5, 5), (1, 1), (2, 2), (1, 1), 1),    # K = 150, in_c % 4 != 0: pixel by pixel
    (5, 7, 3, 4, (5, 5), (1, 1), (2, 2), (1, 1), 1),    # K = 75 staged: borders, quads wrap rows
    (3, 3, 8, 2, (3, 3), (2, 2), (1, 1), (1, 1), 1),    # 4 pixels of 2 rows, K = 72
    (2, 3, 5, 3, (1, 2), (1, 1), (0, 0), (1, 1), 1),    # 4 pixels, K = 10 % 4 = 2
    (1, 2, 4, 2, (1, 1), (1, 1), (0, 0), (1, 1), 1),    # 2 pixels: a tail quad only
    # small windows by kernel rows (im2col_quad_small): one row's quads inside the input, at the
    # left / right border, rows above / below it; odd widths, in_c 1..4, strides in a quad
    (6, 13, 3, 5, (5, 5), (1, 1), (2, 2), (1, 1), 1),   # K = 75: conv1's shape, 13 wide
    (7, 11, 1, 3, (3, 5), (2, 1), (1, 2), (1, 1), 1),   # in_c 1, stride 2 down
    (5, 17, 2, 4, (2, 3), (1, 2), (0, 1), (1, 1), 1),   # in_c 2, stride 2 across a quad
    (5, 9, 3, 2, (3, 3), (1, 1), (1, 1), (2, 1), 1),    # dilated down: rows 2 apart
    (4, 9, 4, 3, (1, 1), (1, 1), (2, 2), (1, 1), 1),    # k 1, pad 2: spans wholly outside
    (3, 8, 10, 2, (1, 3), (1, 4), (0, 1), (1, 1), 1),   # span 150 B > NN_QSPAN_MAX: per pixel
    (3, 2, 3, 5, (1, 1), (1, 1), (0, 0), (1, 1), 1),    # K = 3 < 4: every row builds its block
    (4, 4, 64, 3, (1, 1), (1, 1), (0, 0), (1, 1), 1),   # K = 64: word-aligned rows (LDRD loop)
    (3, 5, 72, 2, (1, 1), (1, 1), (0, 0), (1, 1), 2),   # groups, K = 36 per group, 5 pixels
]


# layers of the _quad entries (kernels/q7_conv2d.py: quad_entry, dsp/nn_conv_rows4.h): out_w % 4
# == 0; quads by kernel rows (K <= 128) at borders, strided across, dilated down, in_c 1; by taps
# (K > 128) with padding, dilation across, groups
QUAD_ENTRY_SHAPES = [
    (6, 8, 3, 5, (5, 5), (1, 1), (2, 2), (1, 1), 1),    # K = 75: conv1's window
    (7, 16, 1, 3, (3, 5), (2, 2), (1, 2), (2, 1), 1),   # in_c 1, stride 2, dilated down
    (4, 4, 8, 2, (1, 1), (1, 1), (0, 0), (1, 1), 1),    # K = 8, one quad
    (5, 8, 16, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1),   # K = 144 by taps, borders
    (6, 12, 16, 2, (3, 3), (1, 1), (2, 2), (2, 2), 1),  # taps dilated across
    (6, 7, 32, 3, (3, 3), (1, 2), (1, 1), (1, 1), 2),   # groups of 16 channels, stride 2
]


def test_quad_entry_shapes_take_the_quad_entry():
    """The shapes below do exercise nn_conv2d_q7_relu_quad (run_conv calls it when quad_entry)."""
    for h, w, c, o, k, stride, pad, dil, groups in QUAD_ENTRY_SHAPES:
        ow = ir.conv_output_size(w, k[1], stride[1], pad[1], dil[1])
        assert quad_entry(dict(in_h=h, in_w=w, in_c=c, out_w=ow, k_h=k[0], k_w=k[1], stride_w=stride[1],
                               dil_w=dil[1], groups=groups))
    assert not quad_entry(dict(in_h=4, in_w=4, in_c=64, out_w=4, k_h=1, k_w=1, stride_w=1, dil_w=1, groups=1))


@pytest.mark.parametrize("h,w,c,o,k,stride,pad,dil,groups", QUAD_SHAPES + QUAD_ENTRY_SHAPES)
def test_conv2d_quad_paths_match_golden(lib, h, w, c, o, k, stride, pad, dil, groups):
    """Shapes that send output pixel quads through each column builder of the DSP path (small
    windows staged, taps inside / outside / mixed, pixel by pixel, quads across rows, tails of
    1-3 pixels) and each MAC entry (first rows that build their block, K < 4, word-aligned rows
    and the same weights one byte off alignment)."""
    rng = np.random.default_rng(h * 1000 + c * 10 + o + groups)
    x = rng.integers(-128, 128, (h, w, c)).astype(np.int8)
    wt = rng.integers(-128, 128, (o * groups, k[0], k[1], c // groups)).astype(np.int8)
    b = rng.integers(-(1 << 16), 1 << 16, o * groups).astype(np.int32)
    for shift, act in ((8, (0, 127)), (7, (-128, 127)), (5, (-20, 90))):
        want = golden.conv2d(x[None], wt, b, stride, pad, dil, groups, shift, *act)[0]
        for off in (0, 1):   # the weights where the generator puts them, and misaligned
            got = run_conv(lib, x, wt, b, stride, pad, dil, groups, shift, act, off)
            assert np.array_equal(got, want), (shift, act, off)


def test_conv2d_output_saturates_and_accumulates_in_int32(lib):
    # every product is 127*127 -> acc = bias + 25*16129*3; with shift 0 everything clips to 127
    x = np.full((5, 5, 3), 127, np.int8)
    w = np.full((2, 5, 5, 3), 127, np.int8)
    b = np.array([0, -25 * 16129 * 3 - 5], np.int32)
    got = run_conv(lib, x, w, b, (1, 1), (0, 0), (1, 1), 1, 0, (-128, 127))
    assert got.reshape(-1).tolist() == [127, -5]


def test_conv_scratch_matches_planner_table():
    """The conv kernel's registered scratch (what the planner reserves) is the size each variant
    declares: dsp's four columns, thumb1's lanes, nothing for ref; ANY_ISA the largest."""
    k = kernels.find(ir.Op("c", "conv2d", ["x"], ["y"]), "q7")
    geo = ({"k_h": 3, "k_w": 5, "in_c": 6, "groups": 2}, (3, 5, 3))
    for isa, want in (("dsp", 8 * 48), ("thumb1", 16 * 48), ("mla", 4 * 45), ("mve", 3 * 45), ("ref", 0)):
        assert k.scratch(geo[0], isa) == conv_scratch_bytes(*geo[1], isa) == want
    assert k.scratch_bytes(geo[0]) == conv_scratch_bytes(*geo[1]) == 16 * 48
    cifar_conv2 = {"k_h": 5, "k_w": 5, "in_c": 32, "groups": 1}   # K = 800: dsp needs the most
    assert k.scratch_bytes(cifar_conv2, "dsp") == k.scratch_bytes(cifar_conv2) == 8 * 800
    assert k.scratch_bytes(cifar_conv2, "thumb1") == 16 * 128 and k.scratch_bytes(cifar_conv2, "ref") == 0


# -- fully connected ------------------------------------------------------------------------------

def run_fc(lib, x, w, b, shift, act):
    o, n = w.shape
    p = FcParams(n, o, shift, act[0], act[1])
    out = _guarded(o)
    scratch_n = lib.nn_fc_q7_scratch_bytes(ctypes.byref(p)) // 2
    scratch = _guarded(scratch_n, np.int16, 0x5A5A)
    x = np.ascontiguousarray(x.reshape(-1))
    w = np.ascontiguousarray(w)
    b = np.ascontiguousarray(b, dtype=np.int32)
    lib.nn_fc_q7(ctypes.byref(p), _ptr(x), _ptr(w), _ptr(b), _ptr(out), _ptr(scratch))
    _intact(out, o)
    _intact(scratch, scratch_n, 0x5A5A)
    return out[:o]


def test_fc_random_matches_golden(lib):
    rng = np.random.default_rng(99)
    for i in range(150):
        n, o = int(rng.integers(1, 600)), int(rng.integers(1, 14))
        x = _rand_i8(rng, (1, 1, 1, n))
        w = _rand_i8(rng, (o, n))
        b = rng.integers(-(1 << 20), 1 << 20, o).astype(np.int32)
        shift, act = _rand_shift(rng), _rand_act(rng)
        want = golden.fully_connected(x, w, b, shift, *act).reshape(-1)
        assert np.array_equal(run_fc(lib, x, w, b, shift, act), want), f"case {i}: n={n} o={o} shift={shift}"


# -- pooling --------------------------------------------------------------------------------------

def run_pool(lib, fn, x, kernel, stride, pad, exclude_pad=False, ceil=True):
    h, w, c = x.shape
    oh = ir.pool_output_size(h, kernel[0], stride[0], pad[0], ceil)
    ow = ir.pool_output_size(w, kernel[1], stride[1], pad[1], ceil)
    p = PoolParams(h, w, c, oh, ow, kernel[0], kernel[1], stride[0], stride[1], pad[0], pad[1], int(exclude_pad))
    out = _guarded(oh * ow * c)
    x = np.ascontiguousarray(x)
    getattr(lib, fn)(ctypes.byref(p), _ptr(x), _ptr(out))
    _intact(out, oh * ow * c)
    return out[:oh * ow * c].reshape(oh, ow, c)


def _nonempty_windows(size, k, stride, pad):
    out = ir.pool_output_size(size, k, stride, pad)
    return all(ir.pool_window(o, k, stride, pad, size)[0] < ir.pool_window(o, k, stride, pad, size)[1]
               for o in range(out))


def _pool_case(rng, max_k=5):
    """A pooling case whose windows all hold an input cell (the kernels' precondition; Caffe
    itself yields -FLT_MAX/garbage for empty windows, e.g. kernel < stride without padding)."""
    while True:
        kernel = (int(rng.integers(1, max_k + 1)), int(rng.integers(1, max_k + 1)))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        pad = (int(rng.integers(0, kernel[0])), int(rng.integers(0, kernel[1])))  # Caffe: pad < kernel
        h = int(rng.integers(max(1, kernel[0] - 2 * pad[0]), 14))
        w = int(rng.integers(max(1, kernel[1] - 2 * pad[1]), 14))
        if _nonempty_windows(h, kernel[0], stride[0], pad[0]) and _nonempty_windows(w, kernel[1], stride[1], pad[1]):
            return _rand_i8(rng, (h, w, int(rng.integers(1, 19)))), kernel, stride, pad


@pytest.mark.parametrize("fn,ref", [("nn_maxpool_q7", golden.max_pool), ("nn_avgpool_q7", golden.avg_pool)])
def test_pool_random_matches_golden(lib, fn, ref):
    rng = np.random.default_rng(5)
    for i in range(200):
        x, kernel, stride, pad = _pool_case(rng)
        want = ref(x[None], kernel, stride, pad)[0]
        got = run_pool(lib, fn, x, kernel, stride, pad)
        assert np.array_equal(got, want), f"case {i}: x{x.shape} k{kernel} s{stride} p{pad}"


def test_avgpool_exclude_pad_random_matches_golden(lib):
    """exclude_pad (divisor = the window's input cells) on random shapes; padded cases only, where
    the two divisors differ somewhere, and the golden itself differs from Caffe's there."""
    rng = np.random.default_rng(12)
    differs = 0
    for i in range(200):
        x, kernel, stride, pad = _pool_case(rng)
        if max(pad) == 0:
            continue
        want = golden.avg_pool(x[None], kernel, stride, pad, exclude_pad=True)[0]
        differs += not np.array_equal(want, golden.avg_pool(x[None], kernel, stride, pad)[0])
        got = run_pool(lib, "nn_avgpool_q7", x, kernel, stride, pad, exclude_pad=True)
        assert np.array_equal(got, want), f"case {i}: x{x.shape} k{kernel} s{stride} p{pad}"
    assert differs > 50


def test_pool_floor_mode_random_matches_golden(lib):
    """Floor mode (ceil_mode false) needs nothing in C: the kernels take out_h/out_w from the
    struct. Random shapes where floor mode has fewer windows than Caffe's, max and both divisors."""
    rng = np.random.default_rng(13)
    fewer = 0
    for i in range(300):
        x, kernel, stride, pad = _pool_case(rng)
        h, w, _ = x.shape
        if kernel[0] > h + 2 * pad[0] or kernel[1] > w + 2 * pad[1]:
            continue
        fewer += any(ir.pool_output_size(n, k, s, p, False) < ir.pool_output_size(n, k, s, p)
                     for n, k, s, p in zip((h, w), kernel, stride, pad))
        cases = [("nn_maxpool_q7", golden.max_pool(x[None], kernel, stride, pad, ceil=False), False)]
        cases += [("nn_avgpool_q7", golden.avg_pool(x[None], kernel, stride, pad, excl, ceil=False), excl)
                  for excl in (False, True)]
        for fn, want, excl in cases:
            got = run_pool(lib, fn, x, kernel, stride, pad, excl, ceil=False)
            assert np.array_equal(got, want[0]), f"case {i} {fn}: x{x.shape} k{kernel} s{stride} p{pad} excl {excl}"
    assert fewer > 100


def test_avgpool_large_windows_and_rounding(lib):
    """Windows above 255 cells (the kernels' division fallback) and every divisor up to 255."""
    rng = np.random.default_rng(11)
    x = rng.choice(np.array([-128, 127, -1, 1], np.int8), size=(20, 20, 5))
    for kernel in [(16, 17), (20, 20), (3, 3)]:
        for excl in (False, True):
            want = golden.avg_pool(x[None], kernel, (2, 3), (1, 2), exclude_pad=excl)[0]
            assert np.array_equal(run_pool(lib, "nn_avgpool_q7", x, kernel, (2, 3), (1, 2), excl), want)
    # one output per divisor n = 1..255 (window 1 x n over a row): sums across the rounding edges
    for n in range(1, 256):
        row = rng.integers(-128, 128, (1, n, 4)).astype(np.int8)
        row[0, :, 0] = -128
        row[0, :, 1] = 127
        want = golden.avg_pool(row[None], (1, n), (1, 1), (0, 0))[0]
        assert np.array_equal(run_pool(lib, "nn_avgpool_q7", row, (1, n), (1, 1), (0, 0)), want), n


# -- element-wise ---------------------------------------------------------------------------------

def test_relu_and_leaky_relu_in_place(lib):
    rng = np.random.default_rng(3)
    for n in [1, 3, 4, 5, 63, 257]:
        x = rng.integers(-128, 128, n).astype(np.int8)
        buf = np.concatenate([x, np.full(GUARD, -7, np.int8)])
        lib.nn_relu_q7(_ptr(buf), n)
        assert np.array_equal(buf[:n], golden.relu(x)) and np.all(buf[n:] == -7)
        for slope in [3277, -32768, 32767, 1]:
            buf = x.copy()
            lib.nn_leaky_relu_q7(_ptr(buf), n, slope)
            assert np.array_equal(buf, golden.relu(x, slope)), (n, slope)


def test_elementwise_max_of_rows(lib):
    """nn_max_q7 (a streamed max pool's vertical half; DSP: SSUB8+SEL by words) on every length
    around the 8- and 4-byte blocks and at every byte offset."""
    rng = np.random.default_rng(31)
    for n in [0, 1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 63, 257]:
        for off in range(4):
            a, x = rng.integers(-128, 128, (2, n + off + GUARD)).astype(np.int8)
            want = a.copy()
            want[off:off + n] = np.maximum(a[off:off + n], x[off:off + n])
            lib.nn_max_q7(_ptr(a[off:]), _ptr(x[off:]), n)
            assert np.array_equal(a, want), (n, off)


def test_add_matches_golden_and_runs_in_place(lib):
    rng = np.random.default_rng(4)
    for i in range(60):
        n = int(rng.integers(1, 300))
        a, b = _rand_i8(rng, n), _rand_i8(rng, n)
        sa, sb = int(rng.integers(0, 12)), int(rng.integers(0, 12))
        so = int(rng.integers(-3, 16))
        want = golden.add([a, b], [sa, sb], so)
        out = _guarded(n)
        lib.nn_add_q7(_ptr(a), sa, _ptr(b), sb, so, _ptr(out), n)
        _intact(out, n)
        assert np.array_equal(out[:n], want), i
        inplace = a.copy()
        lib.nn_add_q7(_ptr(inplace), sa, _ptr(b), sb, so, _ptr(inplace), n)
        assert np.array_equal(inplace, want), i


def test_concat_matches_golden(lib):
    rng = np.random.default_rng(6)
    for i in range(40):
        h, w = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        parts = [_rand_i8(rng, (h, w, int(rng.integers(1, 7)))) for _ in range(rng.integers(1, 4))]
        shifts = [int(rng.integers(-3, 5)) for _ in parts]
        want = golden.concat([p[None] for p in parts], shifts)[0]
        out_c = sum(p.shape[2] for p in parts)
        out = _guarded(h * w * out_c)
        off = 0
        for p, s in zip(parts, shifts):
            lib.nn_concat_q7(_ptr(np.ascontiguousarray(p)), h * w, p.shape[2], s, _ptr(out), out_c, off)
            off += p.shape[2]
        _intact(out, h * w * out_c)
        assert np.array_equal(out[:h * w * out_c].reshape(h, w, out_c), want), i


def test_requant_rounding_examples_from_contract(lib):
    """round_shift(-3,1)=-1, (-5,2)=-1, (-6,2)=-1, (-7,2)=-2; s<0 saturates; huge s gives 0."""
    def rq(values, shift):
        x = np.array(values, np.int8)
        out = _guarded(len(values))
        lib.nn_concat_q7(_ptr(x), len(values), 1, shift, _ptr(out), 1, 0)
        return out[:len(values)].tolist()
    assert rq([-3], 1) == [-1]
    assert rq([-5, -6, -7, 5, 6], 2) == [-1, -1, -2, 1, 2]
    assert rq([3, -3, 64, -65, 0], -1) == [6, -6, 127, -128, 0]
    assert rq([127, -128], 31) == [0, 0]
    # int32 accumulators that would overflow if the rounding term were added first
    x = np.zeros((1, 1, 1), np.int8)
    b = np.array([2**31 - 1], np.int32)
    got = run_conv(lib, x, np.zeros((1, 1, 1, 1), np.int8), b, (1, 1), (0, 0), (1, 1), 1, 24, (-128, 127))
    assert got.item() == golden.requant(np.int64(2**31 - 1), 24).item() == 127


def test_lut_and_softmax_match_golden(lib):
    rng = np.random.default_rng(8)
    table = rng.integers(-128, 128, 256).astype(np.int8)
    x = rng.integers(-128, 128, 1000).astype(np.int8)
    out = _guarded(1000)
    lib.nn_lut_q7(_ptr(x), _ptr(table), _ptr(out), 1000)
    _intact(out, 1000)
    assert np.array_equal(out[:1000], golden.lut(x, table))
    for f_in in [0, 2, 4, 7]:
        exp_table = np.round(2.0 ** 16 * np.exp(-np.arange(256) * 2.0 ** -f_in)).astype(np.int32)
        for n in [1, 2, 10, 100]:
            logits = _rand_i8(rng, n)
            out = _guarded(n)
            lib.nn_softmax_q7(_ptr(logits), n, _ptr(exp_table), _ptr(out))
            _intact(out, n)
            assert np.array_equal(out[:n], golden.softmax(logits[None], exp_table)[0]), (f_in, n)


def test_input_stage_matches_golden(lib):
    rng = np.random.default_rng(10)
    for off_len in [1, 3, 12 * 12 * 3]:
        px = rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)
        shift = int(rng.integers(1, 20))
        mul = int(rng.integers(1, 1 << 12))
        off = rng.integers(0, 256 * mul, off_len).astype(np.int32)
        out = _guarded(px.size)
        lib.nn_input_stage_q7(_ptr(px), px.size, mul, _ptr(off), off_len, shift, _ptr(out))
        _intact(out, px.size)
        want = golden.input_stage(px[None], mul, off, shift)[0]
        assert np.array_equal(out[:px.size].reshape(px.shape), want), off_len



def test_input_stage_off8_matches_golden(lib):
    """off_base + off8 * off_mul is the contract's int32 offset: halves of the output grid (rounding
    ties, cifar10_m4's case), whole steps, and arbitrary multipliers with offsets on coarser grids."""
    rng = np.random.default_rng(12)
    for case in range(15):
        px = rng.integers(0, 256, (9, 7, 3)).astype(np.uint8)
        off8 = rng.integers(0, 256, px.size).astype(np.uint8)
        shift = int(rng.integers(2, 22))
        if case % 3 == 0:
            mul, k = 1 << (shift - 1), shift - 1
        elif case % 3 == 1:
            mul, k = 1 << shift, shift
        else:
            mul = int(rng.integers(1 << (shift - 2), 1 << (shift + 1)))
            k = max(0, mul.bit_length() - 1 - int(rng.integers(0, 3)))
        base = -int(rng.integers(-8, 9)) << shift if case % 2 else 0   # int8: a folded zero point
        out = _guarded(px.size)
        lib.nn_input_stage_off8_q7(_ptr(px), px.size, mul, _ptr(off8), 1 << k, (1 << (shift - 1)) - base,
                                   shift, _ptr(out))
        _intact(out, px.size)
        off = (base + (off8.astype(np.int64) << k)).astype(np.int32)
        want = golden.input_stage(px[None], mul, off, shift)[0]
        assert np.array_equal(out[:px.size].reshape(px.shape), want), (case, shift, k, mul)
        assert len(np.unique(want)) > 50, case   # a real test: not everything saturated

def test_input_stage_off4_matches_golden(lib):
    """The 4-bit table (kernels/q7_input_stage.nibble_table: per image row and channel a base byte,
    then nibbles) gives nn_input_stage_off8_q7's integers: the general kernel for any channel count
    and odd widths, the 3-channel one for even widths, on whole images and on bands of rows."""
    from nnbuild.kernels.q7_input_stage import nibble_table, off4_symbol
    rng = np.random.default_rng(13)
    shapes = [(5, 8, 3), (4, 7, 3), (3, 9, 1), (6, 4, 4), (2, 5, 2), (1, 4, 3)]
    for case, (h, w, c) in enumerate(shapes * 3):
        px = rng.integers(0, 256, (h, w, c)).astype(np.uint8)
        base8 = rng.integers(0, 241, (h, 1, c))
        res = rng.integers(0, 16, (h, w, c))
        res[:, 0] = 0 if case % 2 else 15                                # residuals at both ends
        off8 = (base8 + res).astype(np.uint8).reshape(-1)
        tab = nibble_table(off8, (h, w, c))
        assert tab is not None and tab.size == h * (c + (w * c + 1) // 2), (h, w, c)
        shift = int(rng.integers(2, 22))
        mul = int(rng.integers(1 << (shift - 2), 1 << shift))
        k = max(0, mul.bit_length() - 1 - int(rng.integers(0, 3)))
        base = -int(rng.integers(-8, 9)) << (shift - 3) if case % 2 else 0
        off = (base + (off8.astype(np.int64) << k)).astype(np.int32)
        want = golden.input_stage(px[None], mul, off, shift)[0].reshape(-1)
        assert np.mean(np.abs(want.astype(int)) < 127) > 0.5, case        # mostly not saturated
        sym = off4_symbol((h, w, c))
        stride, n = tab.size // h, w * c
        for y0, y1 in [(0, h), (h // 2, h)]:                               # whole image, a band
            out = _guarded((y1 - y0) * n)
            args = [_ptr(px.reshape(-1)[y0 * n:]), y1 - y0, w]
            args += [] if sym.endswith("c3_q7") else [c]
            getattr(lib, sym)(*args, mul, _ptr(tab[y0 * stride:]), 1 << k, (1 << (shift - 1)) - base,
                              shift, _ptr(out))
            _intact(out, (y1 - y0) * n)
            assert np.array_equal(out[:(y1 - y0) * n], want[y0 * n:y1 * n]), (case, sym, y0)
    assert off4_symbol((32, 32, 3)) == "nn_input_stage_off4c3_q7"
    off8 = np.zeros(2 * 4 * 3, np.uint8)
    off8[5] = 16                                                          # a residual of 16: no table
    assert nibble_table(off8, (2, 4, 3)) is None
    assert nibble_table(np.zeros(3, np.uint8), (1, 1, 3)) is None        # not smaller than off8


# -- cross-compilation ----------------------------------------------------------------------------

ARM_CPUS = {
    "m0": ["-mcpu=cortex-m0plus", "-mthumb"],
    "m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
    "m33": ["-mcpu=cortex-m33", "-mthumb"],
    "m55": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"],   # as targets.py: MVE needs the hard-float ABI here
}


def _cross_compile(target, src, obj):
    cmd = ["arm-none-eabi-gcc", *ARM_CPUS[target], "-std=c99", "-pedantic", "-Wall", "-Wextra",
           "-Werror", "-O2", "-c", str(src), "-o", str(obj), *(f"-I{d}" for d in KINC)]
    return subprocess.run(cmd, capture_output=True, text=True)


@needs_arm
@pytest.mark.parametrize("target", sorted(ARM_CPUS))
def test_kernels_cross_compile_warning_free(target, tmp_path):
    """The target's kernel variant, and ref (which every core can run), build with -Wall -Wextra
    -Werror; DSP cores really get the SMLAD variant."""
    isa = csources.isa_for(targets.get_target(target))
    # m0: tests/test_kernels_lowcores.py; m55: Helium (mve over dsp)
    assert isa == {"m0": "thumb1", "m55": "mve"}.get(target, "dsp")
    objdump = shutil.which("arm-none-eabi-objdump")
    for src in [*csources.kernel_sources("ref"), *csources.kernel_sources(isa)]:
        r = _cross_compile(target, src, tmp_path / f"{src.parent.name}_{src.stem}.o")
        assert r.returncode == 0, r.stderr
    if objdump:
        arch = ["-m", "armv8.1-m.main"] if isa == "mve" else []   # objdump shows MVE only so
        asm = subprocess.run([objdump, "-d", *arch, str(tmp_path / f"{isa}_nn_conv2d_q7.o")],
                             capture_output=True, text=True, check=True).stdout
        assert ("smlad" in asm) == (isa == "dsp")
        assert ("vmlava.s8" in asm) == (isa == "mve")   # objdump's name for VMLADAVA.S8


@needs_arm
def test_dsp_variant_refuses_a_core_without_dsp(tmp_path):
    """A dsp/ file built for a core without the extension stops the build with one clear line
    instead of compiling something else."""
    src = next(s for s in csources.kernel_sources("dsp") if s.parent.name == "dsp")
    r = _cross_compile("m0", src, tmp_path / "x.o")
    assert r.returncode != 0 and "needs the DSP extension" in r.stderr


# -- on the real instruction set (QEMU) -----------------------------------------------------------
# The host tests above run the DSP path through C emulations; on ARM it runs ACLE intrinsics and a
# hand-scheduled SMLAD loop. This firmware replays seeded cases against golden outputs in QEMU.

def _pool_case_c(i, x, kernel, stride, pad, src, calls):
    """Appends pool case i: its input px, the max and average pools' golden outputs and checked
    calls (pp: Caffe's divisor), and the exclude_pad average's (ppx: the window's input cells).
    Returns the output's size."""
    src.append(c_array("int8_t", f"px{i}", x))
    for kind, ref in (("max", golden.max_pool), ("avg", golden.avg_pool)):
        want = ref(x[None], kernel, stride, pad)[0]
        src.append(c_array("int8_t", f"{kind}y{i}", want))
        calls.append(f"nn_{kind}pool_q7(&pp{i}, px{i}, out); bad += check(\"{kind}pool\", {i}, {kind}y{i}, {want.size});")
    geometry = (f"{x.shape[0]},{x.shape[1]},{x.shape[2]},{want.shape[0]},{want.shape[1]},{kernel[0]},"
                f"{kernel[1]},{stride[0]},{stride[1]},{pad[0]},{pad[1]}")
    src.append(f"static const nn_pool_params pp{i} = {{{geometry},0}};\n")
    src += [c_array("int8_t", f"avgxy{i}", golden.avg_pool(x[None], kernel, stride, pad, exclude_pad=True)[0]),
            f"static const nn_pool_params ppx{i} = {{{geometry},1}};\n"]
    calls.append(f"nn_avgpool_q7(&ppx{i}, px{i}, out); bad += check(\"avgxpool\", {i}, avgxy{i}, {want.size});")
    return want.size


def _qemu_cases_source(n_conv=60, n_fc=20, n_pool=30, big=True, misalign=False, isa="ref", chunked=False):
    """C source: kernels run on embedded cases (conv weights in the `isa` variant's layout; the
    chunked entries' in plain rows of K, cwp); main returns the number of mismatching cases."""
    rng = np.random.default_rng(2024)
    src = [HEADER]
    calls, max_out, max_scratch = [], 1, 2
    cases = [_conv_case(rng) for _ in range(n_conv)]
    # the sample network's layers: RGB input (K % 4 = 3) and deep 5x5 layers (the first one's
    # 32 KiB output does not fit the m0 board's 16 KiB RAM)
    for h, c, o in [(32, 3, 32), (16, 32, 16), (8, 16, 32)][0 if big else 1:]:
        cases.append((rng.integers(-128, 128, (h, h, c)).astype(np.int8),
                      rng.integers(-128, 128, (o, 5, 5, c)).astype(np.int8),
                      rng.integers(-(1 << 16), 1 << 16, o).astype(np.int32),
                      (1, 1), (2, 2), (1, 1), 1, 9, (0, 127)))
    # the DSP path's quad builders and MAC entries (test_conv2d_quad_paths_match_golden); with
    # misalign (m4: the dsp variant), the last ones with the weights one byte off word alignment
    # (the LDRD loop must not take them)
    for h, wd, c, o, k, stride, pad, dil, groups in QUAD_ENTRY_SHAPES:   # the _quad entry too
        cases.append((rng.integers(-128, 128, (h, wd, c)).astype(np.int8),
                      rng.integers(-128, 128, (o * groups, k[0], k[1], c // groups)).astype(np.int8),
                      rng.integers(-(1 << 16), 1 << 16, o * groups).astype(np.int32),
                      stride, pad, dil, groups, 8, (0, 127)))
    for h, wd, c, o, k, stride, pad, dil, groups in QUAD_SHAPES:
        cases.append((rng.integers(-128, 128, (h, wd, c)).astype(np.int8),
                      rng.integers(-128, 128, (o * groups, k[0], k[1], c // groups)).astype(np.int8),
                      rng.integers(-(1 << 16), 1 << 16, o * groups).astype(np.int32),
                      stride, pad, dil, groups, 7, (-128, 127)))
    misaligned = set(range(len(cases) - 3, len(cases))) if misalign else set()
    for i, (x, w, b, stride, pad, dil, groups, shift, act) in enumerate(cases):
        want = golden.conv2d(x[None], w, b, stride, pad, dil, groups, shift, *act)[0]
        (h, wd, c), (o, kh, kw, _) = x.shape, w.shape
        off = 1 if i in misaligned else 0
        src += [c_array("int8_t", f"cx{i}", x),
                c_array("int8_t", f"cw{i}", np.concatenate([np.zeros(off, np.int8),
                                                            pack_weight(w, dict(k_h=kh, k_w=kw, in_c=c, groups=groups),
                                                                        isa).reshape(-1)])),
                c_array("int32_t", f"cb{i}", b), c_array("int8_t", f"cy{i}", want)]
        src.append(f"static const nn_conv_params cp{i} = {{{h},{wd},{c},{want.shape[0]},{want.shape[1]},{o},"
                   f"{kh},{kw},{stride[0]},{stride[1]},{pad[0]},{pad[1]},{dil[0]},{dil[1]},{groups},"
                   f"{shift},{act[0]},{act[1]}}};\n")
        calls.append(f"nn_conv2d_q7(&cp{i}, cx{i}, cw{i} + {off}, cb{i}, out, scratch); "
                     f"bad += check(\"conv\", {i}, cy{i}, {want.size});")
        if relu_entry(groups, c, shift, act):   # the generator's entry for these layers too
            calls.append(f"memset(out, 0x5A, {want.size}); "
                         f"nn_conv2d_q7_relu(&cp{i}, cx{i}, cw{i} + {off}, cb{i}, out, scratch); "
                         f"bad += check(\"conv_relu\", {i}, cy{i}, {want.size});")
            geo = dict(in_h=h, in_w=wd, in_c=c, out_w=want.shape[1], k_h=kh, k_w=kw, stride_w=stride[1],
                       dil_w=dil[1], groups=groups)
            if quad_entry(geo):
                calls.append(f"memset(out, 0x5A, {want.size}); "
                             f"nn_conv2d_q7_relu_quad(&cp{i}, cx{i}, cw{i} + {off}, cb{i}, out, scratch); "
                             f"bad += check(\"conv_quad\", {i}, cy{i}, {want.size});")
                if isa == "dsp" and kh * kw * (c // groups) >= 5:   # its weights widened in the scratch
                    calls.append(f"memset(out, 0x5A, {want.size}); "
                                 f"nn_conv2d_q7_relu_quad_wide(&cp{i}, cx{i}, cw{i} + {off}, cb{i}, out, scratch); "
                                 f"bad += check(\"conv_wide\", {i}, cy{i}, {want.size});")
                    k4 = -(-kh * kw * (c // groups) // 4) * 4
                    max_scratch = max(max_scratch, 2 * o * k4 + 8 * k4)
        max_out = max(max_out, want.size)
        max_scratch = max(max_scratch, conv_scratch_bytes(kh, kw, c // groups))
        if chunked:
            src.append(c_array("int8_t", f"cwp{i}", np.concatenate([np.zeros(off, np.int8), w.reshape(-1)])))
        for n in sorted({2, kh}) if chunked else ():   # the DSP variant's chunked entry (issue 14)
            calls.append(f"memset(out, 0x5A, {want.size}); "
                         f"nn_conv2d_q7_chunked(&cp{i}, cx{i}, cwp{i} + {off}, cb{i}, out, scratch, {n}); "
                         f"bad += check(\"conv_chunked\", {i}, cy{i}, {want.size});")
            max_scratch = max(max_scratch, 8 * ((-(-kh // n) * kw * (c // groups) + 3) // 4 * 4) + 16 * o // groups)
    for i in range(n_fc):
        n, o = int(rng.integers(1, 600)), int(rng.integers(1, 14))
        x, w = _rand_i8(rng, (1, 1, 1, n)), _rand_i8(rng, (o, n))
        b = rng.integers(-(1 << 20), 1 << 20, o).astype(np.int32)
        shift, act = _rand_shift(rng), _rand_act(rng)
        want = golden.fully_connected(x, w, b, shift, *act)
        src += [c_array("int8_t", f"fx{i}", x), c_array("int8_t", f"fw{i}", w),
                c_array("int32_t", f"fb{i}", b), c_array("int8_t", f"fy{i}", want)]
        src.append(f"static const nn_fc_params fp{i} = {{{n},{o},{shift},{act[0]},{act[1]}}};\n")
        calls.append(f"nn_fc_q7(&fp{i}, fx{i}, fw{i}, fb{i}, out, scratch); bad += check(\"fc\", {i}, fy{i}, {o});")
        max_scratch = max(max_scratch, 2 * n)
    for i in range(n_pool):
        max_out = max(max_out, _pool_case_c(i, *_pool_case(rng), src, calls))
    x = rng.integers(-128, 128, 203).astype(np.int8)
    src += [c_array("int8_t", "rx", x), c_array("int8_t", "ry", golden.relu(x))]
    calls.append("memcpy(out, rx, 203); nn_relu_q7(out, 203); bad += check(\"relu\", 0, ry, 203);")
    mx = rng.integers(-128, 128, 203).astype(np.int8)   # nn_max_q7 one byte off alignment
    src += [c_array("int8_t", "mx", mx), c_array("int8_t", "my", np.maximum(x[1:], mx[1:]))]
    calls.append("memcpy(out, rx + 1, 202); nn_max_q7(out, mx + 1, 202); bad += check(\"max\", 0, my, 202);")
    src.append(buffers_c(max_out + GUARD, max_scratch // 2 + 2))
    src += [check_c(), main_c(calls)]
    return "".join(src)


@needs_arm
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
@pytest.mark.parametrize("target", ["m4", "m0", "m55"])
def test_kernels_in_qemu_match_golden(target, tmp_path):
    """The ARM builds (dsp variant: intrinsics + asm MAC loop on m4/m55; ref on m0) == golden."""
    t = targets.get_target(target)
    run_in_qemu(target, _qemu_cases_source(big=target != "m0", misalign=target == "m4",
                                           isa=csources.isa_for(t), chunked=target == "m4"),
                tmp_path, timeout=120)


# -- Helium (MVE) in QEMU (m55) -------------------------------------------------------------------
# The mve/ kernels have no host emulation: QEMU's mps3-an547 runs them. Seeded shapes aimed at
# their edges: K % 16 != 0 (tail-predicated last iteration), odd channel counts (the 2-channel
# tile's single channel, the 4-lane blocks' tails), tiles of 3 pixels with 1 or 2 left over,
# clipped windows, groups, depthwise with multipliers, strides, dilation; shifts chosen so that
# outputs mostly do not saturate (a wrong accumulator must show).

def _moderate_shift(rng, k):
    """A right shift that keeps most outputs of a K-term int8 dot product inside int8."""
    return max(0, int(np.log2(max(1, k) * 64 * 64) / 2 + 6) - 7 + int(rng.integers(-1, 2)))


def _mve_conv_case(rng):
    kind = int(rng.integers(4))   # 0 dense, 1 grouped, 2 depthwise (multiplier 1..3), 3 deep
    if kind == 2:
        c = int(rng.integers(1, 38))
        groups, cin_g, cout = c, 1, c * int(rng.integers(1, 4))
    else:
        groups = 1 if kind != 1 else int(rng.integers(2, 4))
        cin_g = int(rng.integers(1, 8)) if kind != 3 else int(rng.integers(15, 40))
        c, cout = groups * cin_g, groups * int(rng.integers(1, 12))
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    pad = (int(rng.integers(0, kh)), int(rng.integers(0, kw)))
    h = max(int(rng.integers(3, 12)), dil[0] * (kh - 1) + 1)
    w = max(int(rng.integers(3, 12)), dil[1] * (kw - 1) + 1)
    x = rng.integers(-128, 128, (h, w, c)).astype(np.int8)
    wt = rng.integers(-128, 128, (cout, kh, kw, cin_g)).astype(np.int8)
    b = rng.integers(-(1 << 14), 1 << 14, cout).astype(np.int32)
    act = [(-128, 127), (0, 127), (-50, 60)][rng.integers(3)]
    return x, wt, b, stride, pad, dil, groups, _moderate_shift(rng, kh * kw * cin_g), act


def _mve_qemu_source():
    rng = np.random.default_rng(55)
    src = [HEADER]
    calls, max_out, max_scratch = [], 1, 4
    for i in range(40):
        x, w, b, stride, pad, dil, groups, shift, act = _mve_conv_case(rng)
        want = golden.conv2d(x[None], w, b, stride, pad, dil, groups, shift, *act)[0]
        (h, wd, c), (o, kh, kw, _) = x.shape, w.shape
        src += [c_array("int8_t", f"cx{i}", x), c_array("int8_t", f"cw{i}", w),
                c_array("int32_t", f"cb{i}", b), c_array("int8_t", f"cy{i}", want)]
        src.append(f"static const nn_conv_params cp{i} = {{{h},{wd},{c},{want.shape[0]},{want.shape[1]},{o},"
                   f"{kh},{kw},{stride[0]},{stride[1]},{pad[0]},{pad[1]},{dil[0]},{dil[1]},{groups},"
                   f"{shift},{act[0]},{act[1]}}};\n")
        scratch = conv_scratch_bytes(kh, kw, c // groups, "mve")
        calls.append(f"bad += guarded_conv(&cp{i}, cx{i}, cw{i}, cb{i}, {scratch}); "
                     f"bad += check(\"conv\", {i}, cy{i}, {want.size});")
        max_out, max_scratch = max(max_out, want.size), max(max_scratch, scratch)
    for i, n in enumerate([1, 15, 16, 17, 31, 100, 511, 512]):
        o = int(rng.integers(1, 12))
        x, w = rng.integers(-128, 128, (1, 1, 1, n)).astype(np.int8), rng.integers(-128, 128, (o, n)).astype(np.int8)
        b = rng.integers(-(1 << 14), 1 << 14, o).astype(np.int32)
        shift = _moderate_shift(rng, n)
        want = golden.fully_connected(x, w, b, shift, -128, 127)
        src += [c_array("int8_t", f"fx{i}", x), c_array("int8_t", f"fw{i}", w),
                c_array("int32_t", f"fb{i}", b), c_array("int8_t", f"fy{i}", want)]
        src.append(f"static const nn_fc_params fp{i} = {{{n},{o},{shift},-128,127}};\n")
        calls.append(f"nn_fc_q7(&fp{i}, fx{i}, fw{i}, fb{i}, out, scratch); bad += check(\"fc\", {i}, fy{i}, {o});")
    pools = [(rng.integers(-128, 128, (h, w, c)).astype(np.int8), k, s, p) for h, w, c, k, s, p in [
        (9, 9, 1, (3, 3), (2, 2), (1, 1)), (8, 7, 15, (2, 3), (2, 1), (0, 1)), (7, 7, 16, (3, 3), (2, 2), (0, 0)),
        (6, 9, 17, (3, 2), (1, 2), (1, 0)), (5, 5, 33, (5, 5), (1, 1), (2, 2)), (20, 20, 5, (17, 17), (3, 3), (1, 1))]]
    for i, case in enumerate(pools):
        max_out = max(max_out, _pool_case_c(i, *case, src, calls))
    for i, n in enumerate([1, 3, 4, 5, 17, 100, 257]):
        a, b = rng.integers(-128, 128, n).astype(np.int8), rng.integers(-128, 128, n).astype(np.int8)
        sa, sb, so = int(rng.integers(0, 8)), int(rng.integers(0, 8)), int(rng.integers(-2, 10))
        src += [c_array("int8_t", f"aa{i}", a), c_array("int8_t", f"ab{i}", b),
                c_array("int8_t", f"ay{i}", golden.add([a, b], [sa, sb], so))]
        calls.append(f"nn_add_q7(aa{i}, {sa}, ab{i}, {sb}, {so}, out, {n}); bad += check(\"add\", {i}, ay{i}, {n});")
        calls.append(f"memcpy(out, aa{i}, {n}); nn_add_q7(out, {sa}, ab{i}, {sb}, {so}, out, {n}); "
                     f"bad += check(\"add in place\", {i}, ay{i}, {n});")
        calls.append(f"memcpy(out, aa{i}, {n}); nn_relu_q7(out, {n}); bad += check(\"relu\", {i}, ry{i}, {n});")
        src.append(c_array("int8_t", f"ry{i}", golden.relu(a)))
        max_out = max(max_out, n)
    src.append(buffers_c(max_out + GUARD, max_scratch // 2 + GUARD))
    # the conv runs with exactly its declared scratch followed by sentinels; out is reset to
    # sentinels before every case so that check() sees writes past the output
    src += [check_c(GUARD), guarded_conv_c("q7", GUARD), main_c(calls, reset_out=True)]
    return "".join(src)


@needs_arm
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
def test_mve_kernels_in_qemu_match_golden(tmp_path):
    """m55 runs the mve variant (Helium: VMLADAVA tiles, tail predication, gathers, scatters):
    every q7 kernel it has == golden on shapes at its edges, no write past an output or scratch."""
    assert csources.isa_for(targets.get_target("m55")) == "mve"
    run_in_qemu("m55", _mve_qemu_source(), tmp_path)
