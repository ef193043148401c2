"""The conv entry the generator picks (issue 13, flash): nn_conv2d_q7_relu / nn_conv2d_s8_relu for
general layers whose epilogue is the fused ReLU, nn_conv2d_q7 / nn_conv2d_s8 for the rest, and a
firmware of fused-ReLU convs that links no other epilogue body (nm on the ELF). The kernels' bytes
are checked against the general entry in test_kernels.py / test_kernels_s8.py (host and QEMU)."""
import subprocess

import numpy as np
import pytest

from conftest import needs_arm
from nnbuild import csources, kernels, targets
from nnbuild.pipeline import generate_model
from test_kernels_s8 import _lower, conv_op
from test_planner import GraphBuilder


def relu_net(act2=(0, 127)):
    """conv+relu, pool, conv (act2), fc: both convs general (3 and 8 input channels)."""
    b = GraphBuilder(12, 12, 3, seed=3, name="relu_net")
    x = b.conv("c1", "data", 8, 3, pad=1, act=(0, 127))
    x = b.pool("p1", x, 2, 2)
    x = b.conv("c2", x, 8, 3, pad=1, act=act2)
    b.fc("fc", x, 4)
    return b


def q7_symbol(act, shift=9, group=1, c=8):
    b = GraphBuilder(6, 6, c, name="one")
    b.conv("c", "data", c, 3, pad=1, group=group, act=act)
    op = b.g.ops[-1]
    op.attrs["out_shift"] = shift
    return kernels.find(op, "q7").lower(b.g, op).symbol


def test_q7_entry_follows_the_dsp_epilogue_rule():
    assert q7_symbol((0, 127)) == "nn_conv2d_q7_relu"
    assert q7_symbol((0, 127), shift=2) == q7_symbol((0, 127), shift=31) == "nn_conv2d_q7_relu"
    assert q7_symbol((0, 127), group=2) == "nn_conv2d_q7_relu"        # grouped, not depthwise
    assert q7_symbol((0, 127), group=8) == "nn_conv2d_q7"             # depthwise: its own loop
    for act, shift in (((-128, 127), 9), ((0, 100), 9), ((1, 127), 9), ((0, 127), 1), ((0, 127), 0), ((0, 127), -3)):
        assert q7_symbol(act, shift) == "nn_conv2d_q7", (act, shift)


def s8_symbol(shift, act, out_zp=-5, groups=1, c=4):
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (5, 5, c)).astype(np.int8)
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


def _linked_symbols(g, tmp_path, target, memory):
    t = targets.get_target(target)
    steps, _, paths = generate_model(g, tmp_path, "relu_net", memory=memory, isa=csources.isa_for(t))
    main = tmp_path / "main.c"
    main.write_text('#include <stdint.h>\n#include "relu_net.h"\n'
                    "static uint8_t px[12 * 12 * 3];\nstatic int8_t scores[4];\n"
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


@needs_arm
@pytest.mark.parametrize("memory", ["fast", "small"])
def test_a_model_of_fused_relu_convs_links_one_epilogue(tmp_path, memory):
    steps, syms = _linked_symbols(relu_net().g, tmp_path, "m4", memory)
    # small: the plan may run a conv's im2col in chunks (nn_conv2d_q7_chunked, dsp/nn_conv_chunked.h)
    chunked = [s.kernel == "nn_conv2d_q7_chunked" for s in steps if s.op.startswith("conv2d")]
    assert [s.kernel for s in steps if s.op.startswith("conv2d") and "chunks" not in s.params] \
        == ["nn_conv2d_q7_relu"] * (2 - sum(chunked))
    assert sum(chunked) < 2 and (memory == "small" or not any(chunked))
    assert syms & EPILOGUES == {"mat_mult_4px_relu"}
    assert "nn_conv2d_q7_relu" in syms and "nn_conv2d_q7" not in syms
    assert ("nn_conv2d_q7_relu_rows" in syms) == (memory == "small")
    assert ("nn_conv2d_q7_chunked" in syms) == any(chunked)


@needs_arm
def test_a_model_with_another_epilogue_links_the_general_entry(tmp_path):
    """The contrast that shows nm sees them: conv c2 without activation needs the int8 body."""
    steps, syms = _linked_symbols(relu_net(act2=(-128, 127)).g, tmp_path, "m4", "fast")
    assert [s.kernel for s in steps if s.op.startswith("conv2d")] == ["nn_conv2d_q7_relu", "nn_conv2d_q7"]
    assert {"nn_conv2d_q7", "nn_conv2d_q7_relu", "mat_mult_4px_int8", "mat_mult_4px_relu"} <= syms


@needs_arm
@pytest.mark.parametrize("target", ["m55", "m3", "m0"])
def test_other_variants_link_the_relu_entry_as_a_forward(tmp_path, target):
    """mve, mla and thumb1 have no specialised entry: ref's forwards to their own nn_conv2d_q7."""
    _, syms = _linked_symbols(relu_net().g, tmp_path, target, "fast")
    assert {"nn_conv2d_q7_relu", "nn_conv2d_q7"} <= syms and not syms & EPILOGUES
