"""The scratch contract, per ISA: every kernel variant's C nn_*_scratch_bytes() == the Python
mirror the planner uses for that variant (Kernel.scratch(params, isa), nnbuild.kernels), on
seeded random shapes.

The C side owns the size (like CMSIS-NN's *_get_buffer_size, which also differs per ISA); a model
is planned for the variant it links (csources.isa_for(target)). The host-buildable variants are
compared here; mve's C functions are compared in QEMU by test_kernels.py / test_kernels_s8.py
(their guarded convs check nn_conv2d_*_scratch_bytes() against the mirror). test_kernels.py
proves the size is enough: its kernels run with exactly that scratch followed by sentinels.
"""
import ctypes

import numpy as np
import pytest

from conftest import ROOT
from nnbuild import csources, hostcc, ir, kernels
from nnbuild.kernels import q7_conv2d
from test_kernels import ConvParams, FcParams
from test_kernels_s8 import ConvS8, FcS8

CONV_FIELDS = [f for f, _ in ConvParams._fields_]


def _lib(isa):
    path = hostcc.build_shared(csources.kernel_sources(isa), ROOT / "build" / "test_scratch",
                               include_dirs=csources.kernel_include_dirs(),
                               defines=[] if isa == "ref" else ["NN_EMULATE_DSP"])
    lib = hostcc.load(path)
    for f in ("nn_conv2d_q7", "nn_fc_q7", "nn_conv2d_s8", "nn_fc_s8"):
        getattr(lib, f + "_scratch_bytes").restype = ctypes.c_int32
    return lib


@pytest.fixture(scope="module")
def libs():
    return {isa: _lib(isa) for isa in csources.host_isas()}   # mve: QEMU only


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
                  out_shift=7, act_min=-128, act_max=127, in_zp=-3, out_zp=5)
    return op, fields


def _struct(cls, fields):
    return cls(*(fields[f] for f, _ in cls._fields_))


def test_conv_scratch_c_equals_python_mirror_per_isa(libs):
    rng = np.random.default_rng(2026)
    seen, sizes = set(), set()
    for i in range(300):
        op, fields = _conv_case(rng)
        k = fields["k_h"] * fields["k_w"] * (fields["in_c"] // fields["groups"])
        seen.add((fields["groups"] == fields["in_c"] > 1, fields["groups"] > 1,
                  fields["dil_h"] * fields["dil_w"] > 1, k % 4))
        for scheme, c_name, cls in (("q7", "nn_conv2d_q7", ConvParams), ("int8", "nn_conv2d_s8", ConvS8)):
            kernel = kernels.find(op, scheme)
            for isa, lib in libs.items():
                got = getattr(lib, c_name + "_scratch_bytes")(ctypes.byref(_struct(cls, fields)))
                want = kernel.scratch(fields, isa)
                assert got == want, f"case {i} {c_name} ({isa}): {fields}"
                sizes.add((isa, want == 0))
    # the cases covered depthwise, groups, dilation and every K % 4
    assert {s[0] for s in seen} == {True, False} and {s[1] for s in seen} == {True, False}
    assert {s[2] for s in seen} == {True, False} and {s[3] for s in seen} == {0, 1, 2, 3}
    assert ("ref", True) in sizes and ("dsp", False) in sizes and ("dsp", True) not in sizes


def test_chunked_conv_scratch_c_equals_python_mirror(libs):
    """The DSP variant's chunked entries (issue 14): C *_chunked_scratch_bytes(p, n) == the mirror the
    planner uses for params["chunks"] = n (one chunk's columns + 16 B of sums per channel of a
    group); every other variant's entry (ref/) ignores the count: its scratch is as it was."""
    lib = libs["dsp"]
    for other in libs.values():
        for f in ("nn_conv2d_q7_chunked_scratch_bytes", "nn_conv2d_s8_chunked_scratch_bytes"):
            getattr(other, f).restype = ctypes.c_int32
    rng = np.random.default_rng(1414)
    smaller = 0
    for i in range(200):
        op, fields = _conv_case(rng)
        for chunks in range(1, fields["k_h"] + 2):
            for scheme, c_name, cls in (("q7", "nn_conv2d_q7", ConvParams), ("int8", "nn_conv2d_s8", ConvS8)):
                kernel = kernels.find(op, scheme)
                got = getattr(lib, c_name + "_chunked_scratch_bytes")(ctypes.byref(_struct(cls, fields)), chunks)
                assert got == q7_conv2d.chunked_scratch(fields, chunks), f"case {i} {c_name} {chunks}: {fields}"
                if chunks > 1:
                    assert kernel.scratch(dict(fields, chunks=chunks), "dsp") == got
                    smaller += got < kernel.scratch(fields, "dsp")
                for isa, other in libs.items():   # ref/'s twin: the variant's own conv and scratch
                    if isa != "dsp":
                        assert kernel.scratch(dict(fields, chunks=chunks), isa) == kernel.scratch(fields, isa) \
                            == getattr(other, c_name + "_chunked_scratch_bytes")(ctypes.byref(_struct(cls, fields)), chunks)
    assert smaller > 100


def test_fc_scratch_c_equals_python_mirror_per_isa(libs):
    rng = np.random.default_rng(7)
    op = ir.Op("fc", "fully_connected", ["x"], ["y"])
    for i in range(200):
        shape = tuple(int(v) for v in rng.integers(1, 24, 3))
        n_in, n_out = int(np.prod(shape)), int(rng.integers(1, 50))
        fields = dict(in_n=n_in, out_n=n_out, out_shift=7, out_zp=5, act_min=-128, act_max=127)
        for scheme, c_name, cls in (("q7", "nn_fc_q7", FcParams), ("int8", "nn_fc_s8", FcS8)):
            for isa, lib in libs.items():
                got = getattr(lib, c_name + "_scratch_bytes")(ctypes.byref(_struct(cls, fields)))
                assert got == kernels.find(op, scheme).scratch(fields, isa), f"case {i} {c_name} ({isa}): {shape}"
                assert got == (2 * n_in if isa == "dsp" else 0)   # only the DSP loop widens the input


def test_every_isa_has_a_scratch_size_and_any_isa_is_the_largest():
    """Every variant of sources.json (mve included) has a row in every scratch table, and the
    ANY_ISA size (a plan valid for every core) is the largest of them; the DSP conv's four columns
    cost nothing on the other cores."""
    conv = kernels.find(ir.Op("c", "conv2d", ["x"], ["y"]), "q7")
    p = {"k_h": 5, "k_w": 5, "in_c": 32, "groups": 1}   # cifar10_m4's conv2: K = 800
    per_isa = {isa: conv.scratch(p, isa) for isa in csources.isas()}
    assert per_isa == {"ref": 0, "dsp": 6400, "mla": 3200, "thumb1": 2048, "mve": 2400}
    assert conv.scratch_bytes(p) == max(per_isa.values()) == conv.scratch_bytes(p, "dsp")
    for op_type, scheme, isa, symbol in kernels.registered():
        k = kernels.find(ir.Op("o", op_type, ["x"], ["y"]), scheme, isa)
        if k.scratch is not None:
            params = {"k_h": 3, "k_w": 3, "in_c": 8, "groups": 1, "in_n": 100}
            assert all(k.scratch_bytes(params, i) >= 0 for i in csources.isas()), symbol


def test_every_scratch_mirror_has_its_c_function_and_back(libs):
    """A registered kernel declares scratch exactly when its C side has <symbol>_scratch_bytes()."""
    for op_type, scheme, isa, symbol in kernels.registered():
        k = kernels.find(ir.Op("o", op_type, ["x"], ["y"]), scheme, isa)
        for lib in libs.values():
            assert hasattr(lib, f"{symbol}_scratch_bytes") == (k.scratch is not None), symbol
