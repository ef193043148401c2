"""The scratch contract: every kernel variant's C nn_*_scratch_bytes() == the Python mirror the
planner uses (the kernel registry's Kernel.scratch, nnbuild.kernels), on seeded random shapes.

The C side owns the contract (like CMSIS-NN's *_get_buffer_size); every variant returns the same
size so that one memory plan serves every target. test_kernels.py proves the size is enough:
its kernels run with exactly that scratch followed by sentinels.
"""
import ctypes

import numpy as np
import pytest

from conftest import ROOT
from nnbuild import csources, hostcc, ir, kernels
from test_kernels import ConvParams, FcParams

CONV_FIELDS = [f for f, _ in ConvParams._fields_]


def _lib(isa):
    path = hostcc.build_shared(csources.kernel_sources(isa), ROOT / "build" / "test_scratch",
                               include_dirs=csources.kernel_include_dirs(),
                               defines=[] if isa == "ref" else ["NN_EMULATE_DSP"])
    lib = hostcc.load(path)
    lib.nn_conv2d_q7_scratch_bytes.restype = ctypes.c_int32
    lib.nn_fc_q7_scratch_bytes.restype = ctypes.c_int32
    return lib


@pytest.fixture(scope="module")
def libs():
    return {isa: _lib(isa) for isa in csources.host_isas()}   # mve: same C helper, QEMU only


def _conv_case(rng):
    """A conv op as the lowering sees it: (ir op, nn_conv_params fields)."""
    kind = rng.integers(4)   # 0 plain, 1 grouped, 2 depthwise (x multiplier), 3 deep
    cin_g = int(rng.integers(1, 13))
    groups = 1 if kind in (0, 3) else int(rng.integers(2, 6))
    if kind == 2:
        cin_g, groups = 1, int(rng.integers(2, 33))
    if kind == 3:
        cin_g = int(rng.integers(13, 200))
    c, oc = groups * cin_g, groups * int(rng.integers(1, 5))
    kh, kw = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    sh, sw, dh, dw = (int(v) for v in rng.integers(1, 4, 4))
    ph, pw = int(rng.integers(0, kh)), int(rng.integers(0, kw))
    h = max(int(rng.integers(1, 40)), dh * (kh - 1) + 1)
    w = max(int(rng.integers(1, 40)), dw * (kw - 1) + 1)
    oh, ow = ir.conv_output_size(h, kh, sh, ph, dh), ir.conv_output_size(w, kw, sw, pw, dw)
    op = ir.Op("conv", "conv2d", ["x"], ["y"], attrs={
        "kernel": [kh, kw], "stride": [sh, sw], "pad": [ph, pw], "dilation": [dh, dw], "group": groups})
    fields = dict(in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=oc, k_h=kh, k_w=kw,
                  stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw, dil_h=dh, dil_w=dw, groups=groups,
                  out_shift=7, act_min=-128, act_max=127)
    return op, ConvParams(*(fields[f] for f in CONV_FIELDS))


def test_conv_scratch_c_equals_python_mirror(libs):
    rng = np.random.default_rng(2026)
    seen = set()
    for i in range(300):
        op, p = _conv_case(rng)
        want = kernels.find(op, "q7").scratch({f: getattr(p, f) for f in CONV_FIELDS})
        k = p.k_h * p.k_w * (p.in_c // p.groups)
        seen.add((p.groups == p.in_c > 1, p.groups > 1, p.dil_h * p.dil_w > 1, k % 4))
        for isa, lib in libs.items():
            got = lib.nn_conv2d_q7_scratch_bytes(ctypes.byref(p))
            assert got == want, f"case {i} ({isa}): {dict((f, getattr(p, f)) for f in CONV_FIELDS)}"
    # the cases covered depthwise, groups, dilation and every K % 4
    assert {s[0] for s in seen} == {True, False} and {s[1] for s in seen} == {True, False}
    assert {s[2] for s in seen} == {True, False} and {s[3] for s in seen} == {0, 1, 2, 3}


def test_fc_scratch_c_equals_python_mirror(libs):
    rng = np.random.default_rng(7)
    for i in range(200):
        shape = tuple(int(v) for v in rng.integers(1, 24, 3))
        n_out = int(rng.integers(1, 50))
        op = ir.Op("fc", "fully_connected", ["x"], ["y"])
        p = FcParams(int(np.prod(shape)), n_out, 7, -128, 127)
        want = kernels.find(op, "q7").scratch({"in_n": p.in_n, "out_n": p.out_n})
        for isa, lib in libs.items():
            assert lib.nn_fc_q7_scratch_bytes(ctypes.byref(p)) == want, f"case {i} ({isa}): {shape}"


def test_every_scratch_mirror_has_its_c_function_and_back(libs):
    """A registered kernel declares scratch exactly when its C side has <symbol>_scratch_bytes()."""
    for op_type, scheme, isa, symbol in kernels.registered():
        k = kernels.find(ir.Op("o", op_type, ["x"], ["y"]), scheme, isa)
        for lib in libs.values():
            assert hasattr(lib, f"{symbol}_scratch_bytes") == (k.scratch is not None), symbol
