"""The conv entry the generator picks (issue 13, flash): nn_conv2d_q7_relu / nn_conv2d_s8_relu for
general layers whose epilogue is the fused ReLU (their _quad form when out_w % 4 == 0 and the quads
go by rows or taps), nn_conv2d_q7 / nn_conv2d_s8 for the rest, and a firmware of fused-ReLU convs
that links no other epilogue body, nor (all _quad) the other im2col paths (nm on the ELF). The kernels' bytes
are checked against the general entry in test_kernels.py / test_kernels_s8.py (host and QEMU)."""
import subprocess

import numpy as np
import pytest

from conftest import needs_arm
from nnbuild import csources, kernels, targets
from nnbuild.pipeline import generate_model
from test_kernels_s8 import _lower, conv_op
from test_planner import GraphBuilder


def relu_net(act2=(0, 127), size=12):
    """conv+relu, pool, conv (act2), fc: both convs general (3 and 8 input channels); size 12: c1
    takes the _quad entry (out_w 12), c2 not (out_w 6); size 16: both (kernels/q7_conv2d.py:
    quad_entry)."""
    b = GraphBuilder(size, size, 3, seed=3, name="relu_net")
    x = b.conv("c1", "data", 8, 3, pad=1, act=(0, 127))
    x = b.pool("p1", x, 2, 2)
    x = b.conv("c2", x, 8, 3, pad=1, act=act2)
    b.fc("fc", x, 4)
    return b


def q7_symbol(act, shift=9, group=1, c=8, size=6):
    b = GraphBuilder(size, size, c, name="one")
    b.conv("c", "data", c, 3, pad=1, group=group, act=act)
    op = b.g.ops[-1]
    op.attrs["out_shift"] = shift
    return kernels.find(op, "q7").lower(b.g, op).symbol


def test_q7_entry_follows_the_dsp_epilogue_rule():
    assert q7_symbol((0, 127)) == "nn_conv2d_q7_relu"
    assert q7_symbol((0, 127), shift=2) == q7_symbol((0, 127), shift=31) == "nn_conv2d_q7_relu"
    assert q7_symbol((0, 127), group=2) == "nn_conv2d_q7_relu"        # grouped, not depthwise
    assert q7_symbol((0, 127), size=8) == "nn_conv2d_q7_relu_quad"    # out_w 8, K 72 by rows
    assert q7_symbol((0, 127), size=8, c=16) == "nn_conv2d_q7_relu_quad"           # K 144 by taps
    assert q7_symbol((0, 127), size=8, c=18, group=2) == "nn_conv2d_q7_relu"     # cin_g 9 > 128 / 9
    assert q7_symbol((0, 127), size=8, c=16, group=16) == "nn_conv2d_q7"         # depthwise
    assert q7_symbol((-128, 127), size=8) == "nn_conv2d_q7"
    assert q7_symbol((0, 127), group=8) == "nn_conv2d_q7"             # depthwise: its own loop
    for act, shift in (((-128, 127), 9), ((0, 100), 9), ((1, 127), 9), ((0, 127), 1), ((0, 127), 0), ((0, 127), -3)):
        assert q7_symbol(act, shift) == "nn_conv2d_q7", (act, shift)


def s8_symbol(shift, act, out_zp=-5, groups=1, c=4, size=5):
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (size, size, c)).astype(np.int8)
    w = rng.integers(-127, 128, (c, 3, 3, c // groups)).astype(np.int8)
    b = np.zeros(c, np.int32)
    mult = np.full(c, 1 << 30, np.int32)
    shift = np.asarray(shift, np.int32)
    op, out_shape = conv_op(x, w, b, 3, mult, shift, out_zp, act, (1, 1), (1, 1), (1, 1), groups)
    return _lower(op, [x.shape], out_shape).symbol


def test_s8_entry_follows_the_dsp_epilogue_rule():
    assert s8_symbol([-1, -22, -9, -9], (-5, 127)) == "nn_conv2d_s8_relu"
    assert s8_symbol([-9] * 4, (-128, 127), out_zp=-128) == "nn_conv2d_s8_relu"   # relu = none here
    assert s8_symbol([-9] * 4, (-128, 127)) == "nn_conv2d_s8"          # no activation
    assert s8_symbol([-9] * 4, (-5, 100)) == "nn_conv2d_s8"            # relu6-like clamp
    assert s8_symbol([-9, -9, -23, -9], (-5, 127)) == "nn_conv2d_s8"   # one shift outside -22..-1
    assert s8_symbol([-9, 0, -9, -9], (-5, 127)) == "nn_conv2d_s8"
    assert s8_symbol([-9] * 4, (-5, 127), groups=4) == "nn_conv2d_s8"  # depthwise
    assert s8_symbol([-9] * 4, (-5, 127), size=4) == "nn_conv2d_s8_relu_quad"   # out_w 4, K 36 by rows
    assert s8_symbol([-9] * 4, (-5, 127), size=4, groups=4) == "nn_conv2d_s8"


def test_dsp_weight_rows_are_padded_to_words_at_generation_time():
    """The DSP variant's general conv reads rows of ceil4(K), the K % 4 gap leading (its im2col
    columns' gap); every other variant, and the depthwise loop, rows of K (Kernel.pack)."""
    from nnbuild.kernels.q7_conv2d import weight_row
    from nnbuild.lower import lower

    g = relu_net().g
    plain = {s.name: s.arrays["weight"] for s in lower(g, "ref") if s.op.startswith("conv2d")}
    for isa in ("ref", "mla", "thumb1", "mve", kernels.ANY_ISA, "dsp"):
        for s in lower(g, isa):
            if s.op.startswith("conv2d"):
                w = s.arrays["weight"].reshape(len(s.arrays["weight"]), -1)
                k = plain[s.name][0].size
                gap = (-k) % 4 if isa == "dsp" else 0            # c1: K = 27 -> 28; c2: K = 72
                assert w.shape[1] == k + gap == weight_row(s.params, isa), (isa, s.name)
                assert not w[:, :gap].any()
                assert np.array_equal(w[:, gap:], plain[s.name].reshape(len(w), -1)), (isa, s.name)
    dw = {"k_h": 3, "k_w": 3, "in_c": 8, "groups": 8}
    assert weight_row(dw, "dsp") == 9                             # depthwise: the direct loop
    assert weight_row(dict(dw, groups=2), "dsp") == 36 and weight_row(dict(dw, groups=4), "dsp") == 20


def _linked_symbols(g, tmp_path, target, memory, size=12):
    t = targets.get_target(target)
    steps, _, paths = generate_model(g, tmp_path, "relu_net", memory=memory, isa=csources.isa_for(t))
    main = tmp_path / "main.c"
    main.write_text('#include <stdint.h>\n#include "relu_net.h"\n'
                    f"static uint8_t px[{size} * {size} * 3];\nstatic int8_t scores[4];\n"
                    "int main(void) { return relu_net_run(px, scores); }\n")
    platform = [s for s in csources.app_sources() if s.name == "platform.c"]
    elf = tmp_path / "net.elf"
    cmd = targets.firmware_command(t, csources.TEMPLATE_DIR, [*csources.board_sources(), *platform, main,
                                   paths[1], *csources.kernel_sources(csources.isa_for(t))], elf,
                                   include_dirs=[*csources.kernel_include_dirs(), tmp_path])
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], check=True, capture_output=True, text=True).stdout
    return steps, {line.split()[-1] for line in nm.splitlines() if line.strip()}


EPILOGUES = {"mat_mult_4px_requant", "mat_mult_4px_int8", "mat_mult_4px_relu"}


def quad_symbol(memory):
    """A _quad layer's entry: layer by layer (fast, no budget) with its weights widened to int16 in
    the scratch (kernels/q7_conv2d.py: WIDE, schedule.choose), streamed the one-pass one."""
    return "nn_conv2d_q7_relu_quad_wide" if memory == "fast" else "nn_conv2d_q7_relu_quad"


@needs_arm
@pytest.mark.parametrize("memory", ["fast", "small"])
def test_a_model_of_fused_relu_convs_links_one_epilogue(tmp_path, memory):
    steps, syms = _linked_symbols(relu_net().g, tmp_path, "m4", memory)
    convs = [s for s in steps if s.op.startswith("conv2d")]
    # small: the plan may run a conv's im2col in chunks (nn_conv2d_q7_chunked, dsp/nn_conv_chunked.h)
    chunked = [s.kernel == "nn_conv2d_q7_chunked" for s in convs]
    picks = [quad_symbol(memory), "nn_conv2d_q7_relu"]
    assert [s.kernel for s, c in zip(convs, chunked) if not c] == [k for k, c in zip(picks, chunked) if not c]
    assert sum(chunked) < 2 and (memory == "small" or not any(chunked))
    assert syms & EPILOGUES == {"mat_mult_4px_relu"}
    assert {s.kernel for s in convs} <= syms and "nn_conv2d_q7" not in syms
    assert bool(syms & {"nn_conv2d_q7_relu_rows", "nn_conv2d_q7_relu_quad_rows"}) == (memory == "small")
    assert ("nn_conv2d_q7_chunked" in syms) == any(chunked)


# what only the pixel-by-pixel / short-quad paths of nn_conv2d_q7_relu need
GENERAL_ONLY = {"stage_window", "im2col_quad_small", "mat_mult_tail", "nn_conv2d_q7_relu"}


@needs_arm
@pytest.mark.parametrize("memory", ["fast", "small"])
def test_a_model_of_quad_entry_convs_links_no_other_im2col(tmp_path, memory):
    steps, syms = _linked_symbols(relu_net(size=16).g, tmp_path, "m4", memory, size=16)
    assert [s.kernel for s in steps if s.op.startswith("conv2d")] == [quad_symbol(memory)] * 2
    # widened: neither the int8 MAC loops nor the C channel loop
    body = {"mm4w_relu_q7"} if memory == "fast" else {"mat_mult_4px_relu", "mm4_relu_q7"}
    assert {quad_symbol(memory), *body} <= syms
    forbidden = GENERAL_ONLY | ({"mat_mult_4px_relu", "mac_1x4_aligned", "mm4_relu_q7"} if memory == "fast" else set())
    assert not syms & forbidden, syms & forbidden


@needs_arm
def test_a_model_with_another_epilogue_links_the_general_entry(tmp_path):
    """The contrast that shows nm sees them: conv c2 without activation needs the int8 body."""
    steps, syms = _linked_symbols(relu_net(act2=(-128, 127)).g, tmp_path, "m4", "fast")
    assert [s.kernel for s in steps if s.op.startswith("conv2d")] == ["nn_conv2d_q7_relu_quad_wide", "nn_conv2d_q7"]
    assert {"nn_conv2d_q7", "nn_conv2d_q7_relu_quad_wide", "mm4w_relu_q7", "mat_mult_4px_int8"} <= syms


@needs_arm
@pytest.mark.parametrize("target", ["m55", "m3", "m0"])
def test_other_variants_link_the_relu_entry_as_a_forward(tmp_path, target):
    """mve, mla and thumb1 have no specialised entry: ref's forwards to their own nn_conv2d_q7."""
    _, syms = _linked_symbols(relu_net().g, tmp_path, target, "fast")
    assert {"nn_conv2d_q7_relu_quad", "nn_conv2d_q7_relu", "nn_conv2d_q7"} <= syms and not syms & EPILOGUES
