"""SCons tool: the compiler for env['NN_TARGET'] (arm-none-eabi-gcc for the Cortex-M targets).

Flags come from nnbuild.targets (the one table of cores, boards and memory). The linker writes a
map file beside the ELF (declared by an emitter, so SCons knows and cleans it); the budget gate
(nn_models) makes the .bin and .hex from the checked ELF.
"""
import re
import shutil
import subprocess
import sys

import SCons.Action
import SCons.Subst
from SCons.Script import Exit

from nnbuild import targets as targets_mod
from nnbuild.paths import TEMPLATE_DIR

INSTALL_HINT = ("sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm "
                "(or run ./dev build, which installs them)")


def _link(target, source, env):
    """Link; when the only errors are memory-region overflows, link again with --noinhibit-exec
    so the budget gate can measure the image and name what uses the memory (it then fails the
    build). Any other link error (an undefined symbol, say) fails here as usual.

    The command is gnulink's LINKCOM as an argument list (no shell: paths may contain spaces)."""
    cmd = [str(a) for a in env.subst_list("$NN_GNU_LINKCOM", SCons.Subst.SUBST_CMD,
                                          target=target, source=source)[0]]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env["ENV"])
    if r.returncode == 0:
        sys.stdout.write(r.stdout)
        return 0
    errors = [ln for ln in r.stderr.splitlines() if "ld:" in ln or "error" in ln]
    overflow = re.compile(r"will not fit in region|region `\w+' overflowed|ld returned 1 exit status")
    if errors and all(overflow.search(ln) for ln in errors):
        r2 = subprocess.run(cmd + ["-Wl,--noinhibit-exec"], capture_output=True, text=True, env=env["ENV"])
        if r2.returncode == 0:
            sys.stderr.write("[link] the image overflows the board's memory; the budget gate reports what uses it\n")
            return 0
    sys.stderr.write(r.stdout + r.stderr)
    return 1


def _map_emitter(target, source, env):
    return target + [target[0].File(target[0].name.replace(".elf", ".map"))], source


def generate(env):
    t = env["NN_TARGET"]   # a firmware target: SConstruct refuses `host` with the valid choices
    if not exists(env):
        sys.stderr.write(f"scons: error: arm-none-eabi-gcc not found on PATH, needed for target "
                         f"'{t.name}'. Install it: {INSTALL_HINT}\n")
        Exit(2)
    env.Tool("gcc")
    env.Tool("gnulink")
    env.Tool("ar")
    prefix = "arm-none-eabi-"
    # Paths relative to the project top when the templates are inside it (SCons runs commands
    # there): the command lines, and so the cache signatures, do not name the checkout's folder.
    template = env.fs.Dir(str(TEMPLATE_DIR)).path
    board_dir = env.fs.Dir(str(TEMPLATE_DIR / "boards")).path
    env.Replace(CC=prefix + "gcc", LINK=prefix + "gcc", AR=prefix + "ar", RANLIB=prefix + "ranlib",
                OBJCOPY=prefix + "objcopy", PROGSUFFIX=".elf")
    env.Replace(CCFLAGS=[*targets_mod.compile_flags(t, template),
                         "-Werror", "-DNN_PROFILE"])
    env.Replace(LINKFLAGS=[*targets_mod.link_flags(t, board_dir), "-Wl,-Map=${TARGET.base}.map"])
    env.Append(PROGEMITTER=[_map_emitter])
    env["NN_GNU_LINKCOM"] = env["LINKCOM"]   # the gnulink command line, run by _link
    # varlist: the link's signature is its full command line (flags, stack reserve, scripts), so
    # a change to any of them relinks; a Python action is otherwise signed by its code only.
    env["LINKCOM"] = SCons.Action.Action(_link, "$LINKCOMSTR" if not env.get("verbose") else "$NN_GNU_LINKCOM",
                                         varlist=["NN_GNU_LINKCOM"])
    env["NN_TARGET_NAME"] = t.name
    if not env.get("verbose"):
        env.Replace(CCCOMSTR=f"[{t.name}] CC $SOURCE", LINKCOMSTR=f"[{t.name}] LINK $TARGET")


def exists(env):
    return shutil.which("arm-none-eabi-gcc") is not None
