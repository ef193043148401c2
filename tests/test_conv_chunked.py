"""The DSP conv's chunked entries (dsp/nn_conv_chunked.h, issue 14: each quad's im2col in chunks
of kernel rows, the int32 sums carried in the scratch) give the ref kernels' bytes on seeded random
shapes (groups, depthwise, stride, pad, dilation, K % 4 != 0, every epilogue mode) with 1..k_h
chunks and one more (clamped), weights word-aligned and one byte off; they write only the scratch
their *_chunked_scratch_bytes(p, n) declares, which is the planner's mirror (q7_conv2d.py). Host
build with NN_EMULATE_DSP; the ARM loop (mac_rows_1x4) runs in QEMU (test_schedule.py)."""
import ctypes

import numpy as np
import pytest

from nnbuild.kernels import q7_conv2d
from test_kernels import ConvParams, _conv_case as q7_case, _guarded, _intact, _ptr, host_kernels
from test_kernels_s8 import ConvS8, _conv_case as s8_case, _fill, _lower, conv_op


@pytest.fixture(scope="module")
def libs():
    dsp = host_kernels("dsp")
    for f in ("nn_conv2d_q7_chunked_scratch_bytes", "nn_conv2d_s8_chunked_scratch_bytes"):
        getattr(dsp, f).restype = ctypes.c_int32
    return host_kernels("ref"), dsp


def _misaligned(w, off):
    """w's bytes at `off` bytes past a word boundary (the kernel then takes its unaligned path)."""
    buf = np.zeros(w.size + 8, np.int8)
    buf[off:off + w.size] = w.ravel()
    assert buf.ctypes.data % 4 == 0
    return buf[off:]


def _run_chunked(fn, scratch_fn, p, x, w, b, n_out, chunks, mirror):
    """fn(p, x, w, b, out, scratch, chunks) with exactly the scratch it declares (+ sentinels)."""
    size = scratch_fn(ctypes.byref(p), chunks)
    assert size == mirror, (size, mirror)
    scratch = _guarded(size // 2, np.int16, 0x5A5A)
    out = _guarded(n_out)
    fn(ctypes.byref(p), _ptr(x), _ptr(w), _ptr(b), _ptr(out), _ptr(scratch), chunks)
    _intact(out, n_out)
    _intact(scratch, size // 2, 0x5A5A)
    return out[:n_out]


def _chunk_counts(kh):
    return range(1, kh + 2)


def test_q7_chunked_matches_ref_with_every_chunk_count(libs):
    ref, dsp = libs
    rng = np.random.default_rng(1414)
    cases = 0
    while cases < 40:
        x, w, b, stride, pad, dil, groups, shift, act = q7_case(rng)
        h, wd, c = x.shape
        o, kh, kw, _ = w.shape
        if groups > 1 and c == groups and rng.integers(2):   # depthwise too, but mostly general
            continue
        cases += 1
        oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
        p = ConvParams(h, wd, c, oh, ow, o, kh, kw, stride[0], stride[1], pad[0], pad[1],
                       dil[0], dil[1], groups, shift, act[0], act[1])
        fields = {f: getattr(p, f) for f, _ in ConvParams._fields_}
        x, b = np.ascontiguousarray(x), np.ascontiguousarray(b, dtype=np.int32)
        n_out = oh * ow * o
        want = _guarded(n_out)
        ref.nn_conv2d_q7(ctypes.byref(p), _ptr(x), _ptr(np.ascontiguousarray(w)), _ptr(b), _ptr(want), None)
        for chunks in _chunk_counts(kh):
            wbuf = _misaligned(w, int(rng.integers(4)))
            mirror = q7_conv2d.chunked_scratch(fields, chunks)
            if chunks > 1:   # what the planner reserves for the chunked call
                assert q7_conv2d.scratch(dict(fields, chunks=chunks), "dsp") == mirror
            got = _run_chunked(dsp.nn_conv2d_q7_chunked, dsp.nn_conv2d_q7_chunked_scratch_bytes, p, x, wbuf, b,
                               n_out, chunks, mirror)
            assert np.array_equal(got, want[:n_out]), (fields, chunks)


@pytest.mark.parametrize("h, w, c, o, k, pad, groups", [
    (9, 11, 32, 16, 5, 2, 1),     # cifar10_m4's conv2 geometry: the by-taps im2col, 8 * 25 blocks
    (7, 6, 24, 6, 3, 1, 2),       # grouped, cin_g % 4 == 0
    (6, 9, 5, 7, 4, 0, 1),        # K % 4 != 0 in every chunk count
])
def test_q7_chunked_deep_layers_match_ref(libs, h, w, c, o, k, pad, groups):
    ref, dsp = libs
    rng = np.random.default_rng(h * w + c)
    x = rng.integers(-128, 128, (h, w, c)).astype(np.int8)
    wt = rng.integers(-128, 128, (o, k, k, c // groups)).astype(np.int8)
    b = rng.integers(-(1 << 18), 1 << 18, o).astype(np.int32)
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    for shift, act in ((9, (0, 127)), (8, (-128, 127)), (10, (-5, 90))):   # epilogue modes 2, 1, 0
        p = ConvParams(h, w, c, oh, ow, o, k, k, 1, 1, pad, pad, 1, 1, groups, shift, *act)
        fields = {f: getattr(p, f) for f, _ in ConvParams._fields_}
        want = _guarded(oh * ow * o)
        ref.nn_conv2d_q7(ctypes.byref(p), _ptr(x), _ptr(wt), _ptr(b), _ptr(want), None)
        for chunks in _chunk_counts(k):
            got = _run_chunked(dsp.nn_conv2d_q7_chunked, dsp.nn_conv2d_q7_chunked_scratch_bytes, p, x,
                               _misaligned(wt, chunks % 2), b, oh * ow * o, chunks,
                               q7_conv2d.chunked_scratch(fields, chunks))
            assert np.array_equal(got, want[:oh * ow * o]), (fields, chunks)


def test_s8_chunked_matches_ref_with_every_chunk_count(libs):
    ref, dsp = libs
    rng = np.random.default_rng(1415)
    for _ in range(40):
        case = s8_case(rng)
        x = np.ascontiguousarray(case[0])
        op, out_shape = conv_op(*case)
        low = _lower(op, [x.shape], out_shape)
        p = _fill(ConvS8, low.params)
        n_out = int(np.prod(out_shape))
        chan = np.ascontiguousarray(low.arrays["chan"])
        w = np.ascontiguousarray(low.arrays["weight"])
        want = _guarded(n_out)
        ref.nn_conv2d_s8(ctypes.byref(p), _ptr(x), _ptr(w), _ptr(chan), _ptr(want), None)
        for chunks in _chunk_counts(low.params["k_h"]):
            mirror = q7_conv2d.chunked_scratch(low.params, chunks)
            got = _run_chunked(dsp.nn_conv2d_s8_chunked, dsp.nn_conv2d_s8_chunked_scratch_bytes, p, x,
                               _misaligned(w, int(rng.integers(4))), chan, n_out, chunks, mirror)
            assert np.array_equal(got, want[:n_out]), (low.params, chunks)


def test_chunk_options_lower_the_scratch_on_dsp_only():
    """cifar10_m4's conv2 (5x5x32 -> 16): 6,400 B in one pass; 2 chunks (3 + 2 kernel rows) 3,840 B
    of columns + 256 B of sums; the counts that exist for k_h = 5 are 2, 3 and 5 (4 would be 2+2+1);
    depthwise layers and other variants have none."""
    conv2 = dict(in_h=16, in_w=16, in_c=32, out_h=16, out_w=16, out_c=16, k_h=5, k_w=5, stride_h=1,
                 stride_w=1, pad_h=2, pad_w=2, dil_h=1, dil_w=1, groups=1)
    opts = q7_conv2d.chunkings(conv2, "nn_conv2d_q7_relu", "dsp")
    assert opts == {2: ("nn_conv2d_q7_chunked", 4096), 3: ("nn_conv2d_q7_chunked", 2816),
                    5: ("nn_conv2d_q7_chunked", 1536)}
    assert q7_conv2d.chunkings(conv2, "nn_conv2d_s8", "dsp")[2] == ("nn_conv2d_s8_chunked", 4096)
    assert q7_conv2d.scratch(conv2, "dsp") == 6400 and q7_conv2d.scratch(dict(conv2, chunks=2), "dsp") == 4096
    assert q7_conv2d.scratch(dict(conv2, chunks=2), "thumb1") == q7_conv2d.scratch(conv2, "thumb1")
    assert q7_conv2d.chunkings(conv2, "nn_conv2d_q7", "thumb1") == {}
    assert q7_conv2d.chunkings(dict(conv2, in_c=16, out_c=16, groups=16), "nn_conv2d_q7", "dsp") == {}


def test_widened_weights_are_offered_for_quad_layers_on_dsp_only():
    """kernels/q7_conv2d.py: WIDE: a _quad layer (K >= 5) gets its one-pass entry with int16 weights
    as option 0, scratch 2 * out_c * ceil4(K) + the columns' 8 * ceil4(K); cifar's conv1 (K 75, not a
    multiple of 4: no chunks) gets only that; other variants and entries none."""
    conv2 = dict(in_h=16, in_w=16, in_c=32, out_h=16, out_w=16, out_c=16, k_h=5, k_w=5, stride_h=1,
                 stride_w=1, pad_h=2, pad_w=2, dil_h=1, dil_w=1, groups=1)
    opts = q7_conv2d.chunkings(conv2, "nn_conv2d_q7_relu_quad", "dsp")
    assert opts[0] == ("nn_conv2d_q7_relu_quad_wide", 2 * 16 * 800 + 6400) and {2, 3, 5} <= set(opts)
    conv1 = dict(conv2, in_h=32, in_w=32, in_c=3, out_h=32, out_w=32, out_c=32)
    assert q7_conv2d.chunkings(conv1, "nn_conv2d_s8_relu_quad", "dsp") == {
        0: ("nn_conv2d_s8_relu_quad_wide", 2 * 32 * 76 + 8 * 76)}
    assert q7_conv2d.chunkings(conv1, "nn_conv2d_q7_relu_quad", "thumb1") == {}
    assert 0 not in q7_conv2d.chunkings(conv2, "nn_conv2d_q7_relu", "dsp")
    tiny = dict(conv2, in_c=4, k_h=1, k_w=1, pad_h=0, pad_w=0)   # K = 4: one block, no _wide
    assert 0 not in q7_conv2d.chunkings(tiny, "nn_conv2d_q7_relu_quad", "dsp")
