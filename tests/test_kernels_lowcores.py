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
from kernel_firmware import HEADER, buffers_c, c_array, c_struct, check_c, main_c, run_in_qemu
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
    lib = s8k.hostcc.load(path)
    lib.nn_isa = request.param   # the variant, for its scratch mirror (as test_kernels_s8's fixture)
    return lib


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


@needs_arm
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
@pytest.mark.parametrize("target", sorted(ARM_ISAS))
def test_q7_kernels_in_qemu_match_golden(target, tmp_path):
    assert csources.isa_for(targets.get_target(target)) == ARM_ISAS[target]
    run_in_qemu(target, q7k._qemu_cases_source(big=target != "m0"), tmp_path)


@needs_arm
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
@pytest.mark.parametrize("target", sorted(ARM_ISAS))
def test_s8_kernels_in_qemu_match_golden(target, tmp_path):
    run_in_qemu(target, s8k._qemu_cases_source(big=target != "m0"), tmp_path)


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
def split_prims(tmp_path_factory):
    """The int8 primitives as ARMv6-M builds them (NN_SPLIT_MUL: no 64-bit multiply)."""
    out = tmp_path_factory.mktemp("split_prims")   # per worker: another may be writing build/'s copy
    src = out / "split_prims.c"
    src.write_text(s8k.PRIMS_C + HI_C)
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


# thumb1's conv paths, each with its edge: (input h, w, c), (out_c, kh, kw), stride, pad, dil,
# groups. K % 4 = 1 (conv1-like: 1 channel, 5x5, the block's last channel ends in C), 2, 3
# and K < 4; 19 channels (a second block whose weights follow the first's); output widths that
# are no multiple of 4 (a short lane group: the general im2col); horizontal stride 2 (lanes 2C
# apart); a border window with no valid column; groups; K = 128 (one chunk) and 129 (two).
LANE_CASES = [
    ((12, 14, 1), (9, 5, 5), (1, 1), (2, 2), (1, 1), 1),
    ((7, 9, 2), (5, 1, 3), (1, 1), (0, 1), (1, 1), 1),
    ((6, 10, 3), (4, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    ((5, 11, 3), (19, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((6, 13, 2), (6, 3, 2), (2, 2), (1, 1), (1, 1), 1),
    ((11, 11, 2), (5, 2, 1), (1, 3), (2, 2), (2, 1), 1),
    ((5, 8, 4), (6, 3, 3), (1, 1), (1, 1), (1, 2), 2),
    ((3, 6, 32), (5, 2, 2), (1, 1), (0, 0), (1, 1), 1),
    ((4, 5, 129), (3, 1, 1), (1, 1), (0, 0), (1, 1), 1),
]


def _lane_case(rng, i, spec, extreme):
    (h, w, c), (o, kh, kw), stride, pad, dil, groups = spec
    if extreme:   # every product at +-2^14
        x = np.full((h, w, c), -128 if i % 2 else 127, np.int8)
        wt = np.full((o, kh, kw, c // groups), -128, np.int8)
    else:
        x, wt = q7k._rand_i8(rng, (h, w, c)), q7k._rand_i8(rng, (o, kh, kw, c // groups))
    b = rng.integers(-(1 << 16), 1 << 16, o).astype(np.int32)
    return x, wt, b, stride, pad, dil, groups


@pytest.mark.parametrize("extreme", [False, True])
def test_thumb1_lane_paths_match_golden_on_the_host(extreme):
    """q7 and int8 on each lane path (the host builds the loops' C twins)."""
    lib = q7k.host_kernels("thumb1")
    lib8 = s8k.hostcc.load(s8k.hostcc.build_shared(csources.kernel_sources("thumb1"), s8k.ROOT / "build" /
                                                   "test_kernels_lowcores", include_dirs=s8k.KINC))
    lib8.nn_isa = "thumb1"
    rng = np.random.default_rng(31)
    for i, spec in enumerate(LANE_CASES):
        x, wt, b, stride, pad, dil, groups = _lane_case(rng, i, spec, extreme)
        for shift, act in ((12, (-128, 127)), (1, (0, 127)), (-2, (-128, 127))):
            got = q7k.run_conv(lib, x, wt, b, stride, pad, dil, groups, shift, act)
            want = golden.conv2d(x[None], wt, b, stride, pad, dil, groups, shift, *act)[0]
            np.testing.assert_array_equal(got, want, err_msg=f"q7 case {i} shift {shift}")
        mult, sh = s8k._rand_requant(rng, wt.shape[0], lo=1e-6, hi=1e-3)
        for in_zp in (-128, 0, 127):
            case = (x, wt, b, in_zp, mult, sh, int(rng.integers(-128, 128)), (-128, 127), stride, pad, dil,
                    groups)
            np.testing.assert_array_equal(s8k.run_conv(lib8, case), s8k.want_conv(case),
                                          err_msg=f"int8 case {i} in_zp {in_zp}")


POOL_CASES = [((8, 10, 5), (2, 2), (2, 2), (0, 0)), ((9, 9, 3), (2, 2), (2, 2), (0, 0)),
              ((7, 6, 4), (2, 2), (1, 1), (0, 0)), ((9, 8, 3), (3, 3), (2, 2), (1, 1))]


def _lane_qemu_source(extreme):
    """C source: LANE_CASES (q7, int8) and POOL_CASES (max) against golden; main returns the misses."""
    rng = np.random.default_rng(32)
    src = [HEADER]
    calls, max_out, max_scratch = [], 1, 4
    for i, spec in enumerate(LANE_CASES):
        x, wt, b, stride, pad, dil, groups = _lane_case(rng, i, spec, extreme)
        # 12 and 9: the asm epilogue (K % 4 = 1, 2, 3, 0 among them); 1: the C requantisation
        shift, act = ((12, (-128, 127)), (9, (0, 127)), (1, (0, 127)))[i % 3]
        want = golden.conv2d(x[None], wt, b, stride, pad, dil, groups, shift, *act)[0]
        (h, w, c), (o, kh, kw, _) = x.shape, wt.shape
        src += [c_array("int8_t", f"cx{i}", x), c_array("int8_t", f"cw{i}", wt),
                c_array("int32_t", f"cb{i}", b), c_array("int8_t", f"cy{i}", want),
                f"static const nn_conv_params cp{i} = {{{h},{w},{c},{want.shape[0]},{want.shape[1]},{o},"
                f"{kh},{kw},{stride[0]},{stride[1]},{pad[0]},{pad[1]},{dil[0]},{dil[1]},{groups},"
                f"{shift},{act[0]},{act[1]}}};\n"]
        calls.append(f"nn_conv2d_q7(&cp{i}, cx{i}, cw{i}, cb{i}, out, scratch); "
                     f"bad += check(\"conv\", {i}, cy{i}, {want.size});")
        max_out = max(max_out, want.size)
        max_scratch = max(max_scratch, q7k.conv_scratch_bytes(kh, kw, c // groups))
        # int8 on the same path (lanes_acc's asm and the C epilogue), in_zp at an extreme
        mult, sh = s8k._rand_requant(rng, o, lo=1e-6, hi=1e-3)
        case = (x, wt, b, (-128, 127)[i % 2], mult, sh, int(rng.integers(-128, 128)), (-128, 127),
                stride, pad, dil, groups)
        op, out_shape = s8k.conv_op(*case)
        low = s8k._lower(op, [x.shape], out_shape)
        src += [c_array("int8_t", f"sw{i}", low.arrays["weight"]),
                c_array("int32_t", f"sc{i}", low.arrays["chan"]),
                c_array("int8_t", f"sy{i}", s8k.want_conv(case)),
                c_struct("nn_conv_s8_params", f"sp{i}", low.params)]
        calls.append(f"nn_conv2d_s8(&sp{i}, cx{i}, sw{i}, sc{i}, out, scratch); "
                     f"bad += check(\"conv_s8\", {i}, sy{i}, {want.size});")
    for i, ((h, w, c), kernel, stride, pad) in enumerate(POOL_CASES):
        x = np.full((h, w, c), -128, np.int8) if extreme else q7k._rand_i8(rng, (h, w, c))
        want = golden.max_pool(x[None], kernel, stride, pad)[0]
        src += [c_array("int8_t", f"px{i}", x), c_array("int8_t", f"py{i}", want),
                f"static const nn_pool_params pp{i} = {{{h},{w},{c},{want.shape[0]},{want.shape[1]},"
                f"{kernel[0]},{kernel[1]},{stride[0]},{stride[1]},{pad[0]},{pad[1]},0}};\n"]
        calls.append(f"nn_maxpool_q7(&pp{i}, px{i}, out); bad += check(\"maxpool\", {i}, py{i}, {want.size});")
        max_out = max(max_out, want.size)
    src.append(buffers_c(max_out, max_scratch // 2))
    src += [check_c(), main_c(calls)]
    return "".join(src)


@needs_arm
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
@pytest.mark.parametrize("extreme", [False, True])
def test_thumb1_lane_paths_match_golden_in_qemu(extreme, tmp_path):
    """The same paths through the LDM/MULS asm on the m0 board, q7 and int8 (and the max pool)."""
    run_in_qemu("m0", _lane_qemu_source(extreme), tmp_path)
