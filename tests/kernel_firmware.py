"""Kernel cases as firmware (tests/test_kernels*.py): C arrays of the inputs and of the golden
outputs, check() of the output buffer against them, a main() that counts the misses, built for a
target with its kernel variant and run in QEMU. One runner, so that every such test builds, runs
and judges the same way."""
import subprocess

import numpy as np

from nnbuild import csources, targets

HEADER = '#include <stdint.h>\n#include <string.h>\n#include "platform.h"\n#include "nn_kernels.h"\n'


def c_array(ctype, name, values):
    body = ",".join(str(int(v)) for v in np.asarray(values).reshape(-1)) or "0"
    return f"static const {ctype} {name}[] __attribute__((aligned(4))) = {{{body}}};\n"


def c_struct(ctype, name, params):
    return f"static const {ctype} {name} = {{{', '.join(f'.{k} = {int(v)}' for k, v in params.items())}}};\n"


def buffers_c(out_n, scratch_n):
    """C: the word-aligned `out` (int8) and `scratch` (int16) buffers of out_n and scratch_n elements."""
    return (f"static int8_t out[{out_n}] __attribute__((aligned(4)));\n"
            f"static int16_t scratch[{scratch_n}] __attribute__((aligned(4)));\n")


def check_c(guard=0):
    """C: check(what, i, want, n) is 0 when the n bytes of `out` equal want (and, with guard, the
    guard bytes after them still hold the 0x5A sentinels), else 1 and a line that names the case."""
    overrun = ("" if not guard else
               f"    int j;\n    for (j = n; j < n + {guard}; j++)\n"
               "        if (out[j] != 0x5A) { nn_printf(\"OVERRUN %s %d\\n\", what, i); return 1; }\n")
    return ("static int check(const char *what, int i, const int8_t *want, int n)\n{\n" + overrun +
            "    if (memcmp(out, want, (size_t)n) == 0) return 0;\n"
            "    nn_printf(\"MISMATCH %s %d\\n\", what, i);\n    return 1;\n}\n")


def guarded_conv_c(scheme, guard):
    """C: guarded_conv(p, x, w, b, n) runs nn_conv2d_<scheme> (q7 or s8) with `out` and exactly
    its n declared scratch bytes followed by sentinels; 1 when the declared size is not n or a
    sentinel broke."""
    params = "nn_conv_params" if scheme == "q7" else "nn_conv_s8_params"
    return (f"static int guarded_conv(const {params} *p, const int8_t *x, const int8_t *w,\n"
            "                        const int32_t *b, int32_t n)\n{\n    int j;\n"
            f"    if (nn_conv2d_{scheme}_scratch_bytes(p) != n) {{ nn_printf(\"SCRATCH\\n\"); return 1; }}\n"
            "    memset(scratch, 0x5A, sizeof scratch);\n    memset(out, 0x5A, sizeof out);\n"
            f"    nn_conv2d_{scheme}(p, x, w, b, out, scratch);\n"
            f"    for (j = n; j < n + {guard}; j++)\n"
            "        if (((const uint8_t *)scratch)[j] != 0x5A) { nn_printf(\"SCRATCH OVERRUN\\n\"); return 1; }\n"
            "    return 0;\n}\n")


def main_c(calls, reset_out=False):
    """C: main() runs the calls (C statements that add their misses to `bad`) and returns (and
    prints after DONE) the number of misses. reset_out: `out` is refilled with sentinels before
    each call that does not set it itself (guarded_conv, memcpy), so check() sees overruns."""
    if reset_out:
        calls = [c if c.startswith(("bad += guarded_conv", "memcpy")) else "memset(out, 0x5A, sizeof out); " + c
                 for c in calls]
    return ("int main(int argc, char **argv)\n{\n    int bad = 0;\n    (void)argc; (void)argv;\n    "
            + "\n    ".join(calls) + "\n    nn_printf(\"DONE %d\\n\", bad);\n    return bad;\n}\n")


def run_in_qemu(target, source, tmp_path, timeout=300):
    """Builds `source` (cases.c) with the board, platform.c and the target's kernel variant, runs
    it in QEMU; asserts that it printed DONE 0 and exited 0."""
    t = targets.get_target(target)
    (tmp_path / "cases.c").write_text(source)
    elf = tmp_path / "kernels.elf"
    platform = [s for s in csources.app_sources() if s.name == "platform.c"]
    sources = [*csources.board_sources(), *platform, tmp_path / "cases.c",
               *csources.kernel_sources(csources.isa_for(t))]
    cmd = targets.firmware_command(t, csources.TEMPLATE_DIR, sources, elf,
                                   include_dirs=csources.kernel_include_dirs())
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(targets.qemu_command(t, elf), capture_output=True, text=True, timeout=timeout)
    assert "DONE 0" in r.stdout and r.returncode == 0, r.stdout + r.stderr
