"""The DSP conv's fused ReLU channel loops (dsp/nn_conv_mat_mult.h: mm4_relu_q7 and _s8, issue 13):
hand-written functions on ARM, which only the m4 QEMU build runs, so these cases run there. They
enter their 9-block passes by an ADD PC on (nb - 1) % 9 and q7 takes the rounding half up front,
so the cases
cover every entry residue (nb = 2..20 blocks, K = 4 nb - 3..4 nb), channel counts that are odd
and one, pixel counts that leave a short last quad, and accumulators at the contract's bound
(|bias| + 2^14 K + 2^(s-1) = 2^31 - 1: kernels/_checks.py) in both directions."""
import numpy as np
import pytest

from conftest import needs_arm
from kernel_firmware import HEADER, buffers_c, c_array, check_c, main_c, run_in_qemu
from nnbuild.kernels import _checks
from nnbuild.kernels.q7_conv2d import pack_weight
from nnbuild.quantize.q7 import golden
from test_kernels import conv_scratch_bytes


def _cases(quad=False):
    """quad: widths whose output rows are whole quads (the _quad and _quad_wide entries' layers)."""
    rng = np.random.default_rng(913)
    out = []
    for nb in range(2, 21):
        shapes = [(kh, kw, c) for kh in range(1, 6) for kw in range(1, 6) for c in range(1, 12)
                  if (kh * kw * c + 3) // 4 == nb]
        kh, kw, c = shapes[int(rng.integers(len(shapes)))]
        o = int(rng.choice([1, 3, 5, 8]))
        h, w = int(rng.integers(kh, kh + 4)), int(rng.integers(kw, kw + 6))
        if quad:
            w = kw - 1 + 4 * int(rng.integers(1, 3))
        x = rng.integers(-128, 128, (h, w, c)).astype(np.int8)
        wt = rng.integers(-128, 128, (o, kh, kw, c)).astype(np.int8)
        b = rng.integers(-(1 << 16), 1 << 16, o).astype(np.int32)
        out.append((x, wt, b, int(rng.integers(2, 12))))
    # the accumulator bound: all products +2^14 (x = w = -128) with the largest bias the contract
    # allows, and all products -2^14 - 128 * 127... with the most negative bias
    for s in (2, 9, 20):
        kh, kw, c, o = 3, 3, 4, 3
        K = kh * kw * c
        edge = 2**31 - 1 - (1 << 14) * K - (1 << (s - 1))
        x = np.full((3, 6 if quad else 7, c), -128, np.int8)
        wt = np.full((o, kh, kw, c), -128, np.int8)
        wt[1] = 127
        b = np.array([edge, -edge, edge - 12345], np.int32)
        out.append((x, wt, b, s))
    return out


def test_bound_cases_sit_on_the_contract():
    for x, wt, b, s in _cases()[-3:]:
        op = type("Op", (), {"name": "c", "attrs": {}, "type": "conv"})()
        _checks.check_acc(op, b, wt[0].size, 1 << (s - 1))   # accepted exactly at the bound
        with pytest.raises(Exception, match="overflow the int32 accumulator"):
            _checks.check_acc(op, b + np.int32(1) * (b > 0), wt[0].size, 1 << (s - 1))


@needs_arm
def test_fused_relu_loop_in_qemu_matches_golden(tmp_path):
    src, calls, n_out, n_scratch = [HEADER], [], 1, 2
    for i, (x, wt, b, s) in enumerate(_cases()):
        (h, w, c), (o, kh, kw, _) = x.shape, wt.shape
        want = golden.conv2d(x[None], wt, b, (1, 1), (0, 0), (1, 1), 1, s, 0, 127)[0]
        geo = dict(k_h=kh, k_w=kw, in_c=c, groups=1)
        src += [c_array("int8_t", f"x{i}", x), c_array("int8_t", f"w{i}", pack_weight(wt, geo, "dsp")),
                c_array("int32_t", f"b{i}", b), c_array("int8_t", f"y{i}", want)]
        src.append(f"static const nn_conv_params p{i} = {{{h},{w},{c},{want.shape[0]},{want.shape[1]},{o},"
                   f"{kh},{kw},1,1,0,0,1,1,1,{s},0,127}};\n")
        calls.append(f"memset(out, 0x5A, sizeof out); nn_conv2d_q7_relu(&p{i}, x{i}, w{i}, b{i}, out, scratch); "
                     f"bad += check(\"fused\", {i}, y{i}, {want.size});")
        n_out = max(n_out, want.size)
        n_scratch = max(n_scratch, conv_scratch_bytes(kh, kw, c, "dsp") // 2)   # int16 elements
    src += [buffers_c(n_out, n_scratch), check_c(), main_c(calls)]
    run_in_qemu("m4", "".join(src), tmp_path, timeout=120)


@needs_arm
def test_fused_relu_loop_s8_in_qemu_matches_golden(tmp_path):
    """mm4_relu_s8: the same residues through nn_conv2d_s8_relu (act [out_zp, 127], shifts in
    -22..-1: the generator's entry for them), zero points on both sides, multipliers that keep
    most outputs inside int8 so a wrong sum shows."""
    from test_kernels_s8 import _conv_c, arith
    rng = np.random.default_rng(914)
    src, calls, n_out = [HEADER], [], 1
    for i, (x, wt, b, _) in enumerate(_cases()[:-3]):
        o = wt.shape[0]
        wt = np.clip(wt, -127, 127).astype(np.int8)
        out_zp = int(rng.integers(-128, 20))
        ms = [arith.quantize_multiplier(r) for r in np.exp(rng.uniform(np.log(2e-4), np.log(4e-3), o))]
        mult, shift = np.array([m for m, _ in ms], np.int32), np.array([e for _, e in ms], np.int32)
        case = (x, wt, b, int(rng.integers(-128, 128)), mult, shift, out_zp, (out_zp, 127),
                (1, 1), (0, 0), (1, 1), 1)
        op, low, want = _conv_c(i, case, src, "dsp")
        assert low.symbol.startswith("nn_conv2d_s8_relu"), low.symbol   # _relu or _relu_quad
        calls.append(f"memset(out, 0x5A, sizeof out); {low.symbol}(&cp{i}, cx{i}, cw{i}, cc{i}, out, scratch); "
                     f"bad += check(\"fused_s8\", {i}, cy{i}, {want.size});")
        n_out = max(n_out, want.size)
    src += [buffers_c(n_out, conv_scratch_bytes(5, 5, 11, "dsp") // 2), check_c(), main_c(calls)]
    run_in_qemu("m4", "".join(src), tmp_path, timeout=120)


@needs_arm
@pytest.mark.parametrize("scheme", ["q7", "s8"])
def test_wide_entries_in_qemu_match_golden(tmp_path, scheme):
    """nn_conv2d_*_relu_quad_wide (dsp/nn_conv_wide.h: the weights widened to int16 in the scratch,
    11-instruction blocks in the same 9-block passes, 44 bytes each) on every entry residue, with
    exactly its declared scratch (sentinels after it)."""
    from test_kernels_s8 import _conv_c, arith
    rng = np.random.default_rng(915)
    src, calls, n_out, n_scratch = [HEADER], [], 1, 2
    cases = _cases(quad=True)
    for i, (x, wt, b, s) in enumerate(cases if scheme == "q7" else cases[:-3]):   # the bound: q7's
        (h, w, c), (o, kh, kw, _) = x.shape, wt.shape
        if kw * c < 4:   # not a _quad layer (its rows would be pixel by pixel)
            continue
        k4 = -(-kh * kw * c // 4) * 4
        if scheme == "q7":
            want = golden.conv2d(x[None], wt, b, (1, 1), (0, 0), (1, 1), 1, s, 0, 127)[0]
            src += [c_array("int8_t", f"x{i}", x), c_array("int8_t", f"w{i}", pack_weight(wt, dict(k_h=kh, k_w=kw, in_c=c, groups=1), "dsp")),
                    c_array("int32_t", f"b{i}", b), c_array("int8_t", f"y{i}", want)]
            src.append(f"static const nn_conv_params p{i} = {{{h},{w},{c},{want.shape[0]},{want.shape[1]},{o},"
                       f"{kh},{kw},1,1,0,0,1,1,1,{s},0,127}};\n")
            args, params, y = f"&p{i}, x{i}, w{i}, b{i}", f"&p{i}", f"y{i}"
        else:
            wt = np.clip(wt, -127, 127).astype(np.int8)
            out_zp = int(rng.integers(-128, 20))
            ms = [arith.quantize_multiplier(r) for r in np.exp(rng.uniform(np.log(2e-4), np.log(4e-3), o))]
            case = (x, wt, b, int(rng.integers(-128, 128)),
                    np.array([m for m, _ in ms], np.int32), np.array([e for _, e in ms], np.int32), out_zp,
                    (out_zp, 127), (1, 1), (0, 0), (1, 1), 1)
            _, low, want = _conv_c(i, case, src, "dsp")
            assert low.symbol == "nn_conv2d_s8_relu_quad", low.symbol
            args, params, y = f"&cp{i}, cx{i}, cw{i}, cc{i}", f"&cp{i}", f"cy{i}"
        need = 2 * o * k4 + 8 * k4
        calls.append(f"memset(scratch, 0x5A, sizeof scratch); memset(out, 0x5A, sizeof out); "
                     f"bad += nn_conv2d_{scheme}_relu_quad_wide_scratch_bytes({params}) != {need}; "
                     f"nn_conv2d_{scheme}_relu_quad_wide({args}, out, scratch); "
                     f"bad += check(\"wide\", {i}, {y}, {want.size}); "
                     f"bad += ((const uint8_t *)scratch)[{need}] != 0x5A;")
        n_out = max(n_out, want.size)
        n_scratch = max(n_scratch, need // 2 + 2)
    assert len(calls) >= 15
    src += [buffers_c(n_out, n_scratch), check_c(), main_c(calls)]
    run_in_qemu("m4", "".join(src), tmp_path, timeout=120)
