"""The cycle estimate: nnbuild's own QEMU TCG plugin (cycle_plugin.c) prices every executed
instruction by the core's Technical Reference Manual timing table (docs/benchmarks.md).

    build_plugin(build_dir)   the plugin compiled with the host C compiler, cached by content
    run(elf, target, args, symbol, build_dir, timeout)   run firmware with the plugin counting
                              the cycles of one call of `symbol` (and its nn_profile_mark marks)

Instructions stay the exact, deterministic figure (QEMU -icount); cycles are an estimate of a
zero-wait-state part: no caches, flash wait states or bus contention.
"""
import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import NnbuildError
from ..hostcc import compiler      # the host runner's compiler ($CC, cc or gcc)

HERE = Path(__file__).resolve().parent
SOURCES = (HERE / "cycle_plugin.c", HERE / "qemu_plugin_api.h")
CFLAGS = ("-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror")
MARK_SYMBOL = "nn_profile_mark"
SLOWDOWN = 4      # QEMU runs this much slower with a callback per instruction: run budgets grow

# Which TRM table prices each target's core. M7, M33 and M55 use the M4 table: ARM publishes no
# cycle table for the M7's dual-issue pipeline, and M33/M55 are priced like the M4's 3-stage one.
CORE_TABLE = {"m0": "m0", "m3": "m3", "m4": "m4", "m7": "m4", "m33": "m4", "m55": "m4"}


@dataclass(frozen=True)
class Estimate:
    table: str            # the core whose table priced the run: "m4", "m3" or "m0"
    instructions: int     # instructions the plugin saw in the window (cross-check)
    cycles: int
    marks: tuple          # ((instructions, cycles) at each nn_profile_mark entry, ...)

    def layer_cycles(self, n_layers):
        """Cycles from mark i to mark i+1 for each layer, or None when the marks are missing."""
        if len(self.marks) != n_layers + 1:
            return [None] * n_layers
        return [self.marks[i + 1][1] - self.marks[i][1] for i in range(n_layers)]


def summary(est, target, macs, instructions=None):
    """The bench fields of an estimate: cycles, per MAC, the table used, latency at the target's
    typical clock (targets.CLOCK_HZ). `instructions`, the firmware's own count of the same
    inference, must agree with the plugin's (to the timer's resolution), or the plugin priced
    something else and this is an error."""
    if instructions is not None and abs(est.instructions - instructions) > 200 + 1e-4 * instructions:
        raise NnbuildError(f"the cycle plugin counted {est.instructions} instructions where the "
                           f"firmware measured {instructions}", where="cycle estimate",
                           expected="both to count the same call of the model's run function")
    return {
        "cycles_estimate": est.cycles,
        "cycles_per_mac": round(est.cycles / macs, 4) if macs else None,
        "cycle_table": f"cortex-{est.table}",
        "clock_hz": target.clock_hz or None,
        "latency_ms": round(est.cycles * 1e3 / target.clock_hz, 3) if target.clock_hz else None,
    }


def build_plugin(build_dir):
    """Path of the compiled plugin under `build_dir`/cycles, named by the hash of its sources,
    compiler and flags: built once, reused until one of them changes."""
    cc = compiler()
    h = hashlib.sha256("\0".join((cc, *CFLAGS)).encode())
    for src in SOURCES:
        h.update(src.read_bytes())
    out_dir = Path(build_dir) / "cycles"
    so = out_dir / f"cycle_plugin-{h.hexdigest()[:16]}.so"
    if so.is_file():
        return so
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".cycle_plugin-", suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        r = subprocess.run([cc, *CFLAGS, f"-I{HERE}", "-o", tmp, str(SOURCES[0])],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise NnbuildError(f"the cycle-estimate plugin does not compile:\n{r.stderr.strip()}",
                               file=SOURCES[0], expected=f"{cc} building a shared library")
        os.replace(tmp, so)      # complete or absent, never half written
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return so


def symbol_address(elf, name):
    """Address of function `name` in `elf` (Thumb bit cleared)."""
    from ..memmap import read_elf

    _, symbols = read_elf(elf)
    for s in symbols:
        if s["name"] == name and s["type"] == "func":
            return s["addr"]
    raise NnbuildError(f"no function {name} in the firmware image", file=elf,
                       expected="an image linked from nnbuild's generated model and platform.c")


def _qemu_value(path):
    return str(path).replace(",", ",,")    # QEMU's option syntax: a comma is doubled


def plugin_args(plugin, out, table, start, mark=None):
    """The QEMU arguments that load the plugin, counting from `start` (an address)."""
    opts = [_qemu_value(plugin), f"out={_qemu_value(out)}", f"core={table}", f"start={start:x}"]
    if mark is not None:
        opts.append(f"mark={mark:x}")
    return ["-plugin", ",".join(opts)]


def read_result(path, symbol):
    """The plugin's JSON result as an Estimate; an error when it wrote none or never saw `symbol`."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        raise NnbuildError("the cycle-estimate plugin wrote no result", file=path,
                           expected="QEMU to load the plugin and exit normally") from None
    if d.get("windows", 0) < 1:
        raise NnbuildError(f"{symbol} never ran, so there are no cycles to report",
                           where="cycle estimate", expected=f"the firmware to call {symbol}")
    return Estimate(d["core"], d["instructions"], d["cycles"], tuple(tuple(m) for m in d["marks"]))


def run(elf, target, args, symbol, build_dir, timeout, marks=True):
    """Run `elf` in QEMU with the plugin counting the first call of function `symbol`.
    Returns (stdout, Estimate). Any failure (no compiler, QEMU cannot load the plugin, no result)
    is an NnbuildError: never a number that was not measured."""
    from ..emulator import check_result, run_firmware
    from ..targets import get_target

    target = get_target(target) if isinstance(target, str) else target
    table = CORE_TABLE.get(target.name)
    if table is None:
        raise NnbuildError(f"no cycle table for target {target.name}", where="cycle estimate",
                           expected="one of " + ", ".join(CORE_TABLE))
    plugin = build_plugin(build_dir)
    start = symbol_address(elf, symbol)
    mark = symbol_address(elf, MARK_SYMBOL) if marks else None
    with tempfile.TemporaryDirectory(prefix="nnbuild-cycles-") as tmp:
        out = Path(tmp) / "cycles.json"
        args = [str(a) for a in args]
        result = run_firmware(elf, target, args=args, timeout=timeout,
                              qemu_extra=plugin_args(plugin, out, table, start, mark))
        check_result(result, what=f"{Path(elf).name} {' '.join(args)} (with the cycle plugin)")
        return result.stdout, read_result(out, symbol)
