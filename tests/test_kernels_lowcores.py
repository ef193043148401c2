"""The no-DSP kernel paths (issue 13): `mla` (Cortex-M3: SMLAL on two output pixels packed in one
word) and `thumb1` (Cortex-M0/M0+: 4 pixels' biased byte lanes, MULS + ADD) == golden model, byte
for byte, on the host (the same plain C but for the loops) and in QEMU (the asm loops), q7 and int8. The random suites of test_kernels.py / test_kernels_s8.py also run every
variant on the host; here: the 64-bit runs' bound at its worst case and the QEMU boards."""
import shutil
import subprocess

import numpy as np
import pytest

import test_kernels as q7k
import test_kernels_s8 as s8k
from conftest import needs_arm
from nnbuild import csources, targets
from nnbuild.quantize.q7 import golden

ARM_ISAS = {"m3": "mla", "m0": "thumb1"}
LOOP_OP = {"mla": "smlal", "thumb1": "muls"}   # what the variant's conv really runs


def test_the_m3_gets_the_mla_variant_and_dsp_cores_keep_theirs():
    pick = {n: csources.isa_for(targets.get_target(n)) for n in ("m0", "m3", "m4", "m7", "m33", "host")}
    assert pick == {"m0": "thumb1", "m3": "mla", "m4": "dsp", "m7": "dsp", "m33": "dsp", "host": "ref"}


@pytest.fixture(scope="module", params=sorted(LOOP_OP))
def mla(request):
    return q7k.host_kernels(request.param)


@pytest.mark.parametrize("xv,wv", [(-128, -128), (-128, 127), (127, 127), (None, None)])
@pytest.mark.parametrize("c", [41, 63])   # K = 25 * c: 1025 and 1575 taps, several 252-term runs
def test_q7_runs_are_exact_at_the_largest_products(mla, xv, wv, c):
    """Every product at +-2^14 (the bound the packing relies on) and random data, long K, an odd
    output width (the single-pixel tail) and the padding border, against the golden model."""
    rng = np.random.default_rng(c)
    x = np.full((5, 7, c), xv, np.int8) if xv is not None else q7k._rand_i8(rng, (5, 7, c))
    w = np.full((3, 5, 5, c), wv, np.int8) if wv is not None else q7k._rand_i8(rng, (3, 5, 5, c))
    b = rng.integers(-(1 << 16), 1 << 16, 3).astype(np.int32)
    for shift, act in ((16, (-128, 127)), (20, (-128, 127)), (0, (-128, 127))):
        got = q7k.run_conv(mla, x, w, b, (1, 1), (2, 2), (1, 1), 1, shift, act)
        want = golden.conv2d(x[None], w, b, (1, 1), (2, 2), (1, 1), 1, shift, *act)[0]
        np.testing.assert_array_equal(got, want)


@pytest.fixture(scope="module", params=sorted(LOOP_OP))
def mla_s8(request):
    path = s8k.hostcc.build_shared(csources.kernel_sources(request.param),
                                   s8k.ROOT / "build" / "test_kernels_lowcores", include_dirs=s8k.KINC)
    return s8k.hostcc.load(path)


@pytest.mark.parametrize("seed", range(6))
def test_s8_long_windows_with_extreme_zero_points_match_golden(mla_s8, seed):
    """int8: padding taps hold in_zp (here -128 or 127, the extremes) in the packed column."""
    rng = np.random.default_rng(100 + seed)
    x, wt, b, _, mult, shift, out_zp, act, _, _, _, _ = s8k._conv_case(rng)
    c = int(rng.integers(30, 50))
    x = s8k._rand_i8(rng, (6, 5, c))
    wt = np.full((4, 5, 5, c), -128 if seed % 2 else 127, np.int8)
    wt[0] = s8k._rand_i8(rng, (5, 5, c))
    b = b[:1].repeat(4)
    mult, shift = s8k._rand_requant(rng, 4, lo=1e-6, hi=1e-4)
    in_zp = -128 if seed < 3 else 127
    case = (x, wt, b, in_zp, mult, shift, out_zp, act, (1, 1), (2, 2), (1, 1), 1)
    np.testing.assert_array_equal(s8k.run_conv(mla_s8, case), s8k.want_conv(case))


def _run_in_qemu(target, source, tmp_path):
    t = targets.get_target(target)
    (tmp_path / "cases.c").write_text(source)
    elf = tmp_path / "kernels.elf"
    platform = [s for s in csources.app_sources() if s.name == "platform.c"]
    sources = [*csources.board_sources(), *platform, tmp_path / "cases.c",
               *csources.kernel_sources(csources.isa_for(t))]
    cmd = targets.firmware_command(t, csources.TEMPLATE_DIR, sources, elf, include_dirs=q7k.KINC)
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(targets.qemu_command(t, elf), capture_output=True, text=True, timeout=300)
    assert "DONE 0" in r.stdout and r.returncode == 0, r.stdout + r.stderr


@needs_arm
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
@pytest.mark.parametrize("target", sorted(ARM_ISAS))
def test_q7_kernels_in_qemu_match_golden(target, tmp_path):
    assert csources.isa_for(targets.get_target(target)) == ARM_ISAS[target]
    _run_in_qemu(target, q7k._qemu_cases_source(big=target != "m0"), tmp_path)


@needs_arm
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
@pytest.mark.parametrize("target", sorted(ARM_ISAS))
def test_s8_kernels_in_qemu_match_golden(target, tmp_path):
    _run_in_qemu(target, s8k._qemu_cases_source(big=target != "m0"), tmp_path)


@needs_arm
@pytest.mark.parametrize("target", sorted(ARM_ISAS))
def test_the_variant_cross_compiles_warning_free_with_its_loop(target, tmp_path):
    """-Wall -Wextra -Werror -pedantic for the target's own files; their conv runs its loop."""
    isa = ARM_ISAS[target]
    cflags = [f for f in targets.get_target(target).cflags if f.startswith(("-mcpu", "-mthumb"))]
    for src in csources.kernel_sources(isa):
        if src.parent.name != isa:
            continue
        obj = tmp_path / f"{src.stem}.o"
        r = subprocess.run(["arm-none-eabi-gcc", *cflags, "-std=c99", "-pedantic", "-Wall", "-Wextra",
                            "-Werror", "-O2", "-c", str(src), "-o", str(obj),
                            *(f"-I{d}" for d in q7k.KINC)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        asm = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True,
                             check=True).stdout
        assert LOOP_OP[isa] in asm and "smlad" not in asm


HI_C = """
#include "nn_int8.h"
int32_t t_hi(int32_t a, int32_t b, int32_t c) { return nn_mla_hi_round(a, b, c); }
"""


@pytest.fixture(scope="module")
def split_prims():
    """The int8 primitives as ARMv6-M builds them (NN_SPLIT_MUL: no 64-bit multiply)."""
    out = s8k.ROOT / "build" / "test_kernels_lowcores"
    out.mkdir(parents=True, exist_ok=True)
    src = out / "split_prims.c"
    text = s8k.PRIMS_C + HI_C
    if not src.exists() or src.read_text() != text:
        src.write_text(text)
    lib = s8k.hostcc.load(s8k.hostcc.build_shared([src], out, include_dirs=s8k.KINC, defines=["NN_SPLIT_MUL"]))
    for f, n in ((lib.t_srdhm, 2), (lib.t_rdbpot, 2), (lib.t_mbqm, 3), (lib.t_requant, 6), (lib.t_hi, 3)):
        f.restype = s8k.I32
        f.argtypes = [s8k.I32] * n
    return lib


def test_split_multiply_is_the_64_bit_value_exactly(split_prims):
    rng = np.random.default_rng(13)
    edges = [-2**31, -2**31 + 1, -2**16 - 1, -2**16, -2**15, -1, 0, 1, 2**15, 2**16 - 1, 2**16, 2**31 - 1]
    vals = [*edges, *(int(v) for v in rng.integers(-2**31, 2**31, 300))]
    for i, a in enumerate(vals):
        for b in [*edges, *(int(v) for v in rng.integers(-2**31, 2**31, 8))]:
            c = [0, -1, 1, 2**20][i % 4]
            want = ((c << 32) + a * b + 2**31) >> 32
            want = (want + 2**31) % 2**32 - 2**31
            assert split_prims.t_hi(a, b, c) == want, (a, b, c)


def test_split_multiply_requant_matches_arith(split_prims):
    s8k.test_int8_primitives_match_arith(split_prims)
    s8k.test_requant_epilogue_matches_arith_below_its_bound(split_prims)
