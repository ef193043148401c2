"""Run a firmware image under QEMU with semihosting and collect its output and exit status.

QEMU runs with -icount shift=0 (see targets.qemu_command): one executed instruction is one ns of
virtual time, which the firmware's calibrated SysTick turns into instruction counts. Semihosting
file paths are resolved relative to `cwd`. Arguments cannot contain spaces (QEMU joins them
with spaces into one command line).
"""
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import NnbuildError
from .targets import get_target, qemu_command

QEMU = "qemu-system-arm"
INSTALL_HINT = "qemu-system-arm on PATH (Debian/Ubuntu: apt-get install qemu-system-arm)"
FAULT_EXIT = 100   # NN_EXIT_FAULT in firmware_template/app/platform.h


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run_firmware(elf, target, args=(), timeout=60.0, cwd=None):
    """Run `elf` for `target` (a Target or its name) with semihosting argv `args`.

    Returns Result(exit_code, stdout, stderr); the firmware's own exit status is the exit code.
    Raises NnbuildError when QEMU is missing, the image is missing, an argument cannot be passed
    or the run exceeds `timeout` seconds (the process is killed)."""
    target = get_target(target) if isinstance(target, str) else target
    if shutil.which(QEMU) is None:
        raise NnbuildError(f"{QEMU} not found", expected=INSTALL_HINT)
    elf = Path(elf)
    if not elf.is_file():
        raise NnbuildError("firmware image not found", file=elf, expected="a linked ELF file")
    for a in args:
        if not str(a) or any(c.isspace() for c in str(a)):
            raise NnbuildError(f"semihosting argument {str(a)!r} is empty or contains whitespace",
                               where=f"run {elf.name}", expected="arguments without spaces")
    cmd = qemu_command(target, elf.resolve(), args)
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise NnbuildError(f"QEMU ({target.machine}) did not finish within {timeout:g} s",
                           file=elf, where="args " + " ".join(map(str, args)),
                           expected="the firmware to exit through semihosting; "
                                    "a hang or an endless loop in the model?") from None
    return Result(p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


def parse_json_line(stdout, where="firmware output"):
    """The last line of `stdout` that parses as a JSON object."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    raise NnbuildError("no JSON result line in the firmware output", where=where,
                       expected="a line with one JSON object; output was:\n" + stdout[-2000:])


def check_result(result, what="firmware"):
    """Raise NnbuildError with the firmware's own message when it exited non-zero."""
    if result.exit_code != 0:
        why = " (crashed: unexpected exception)" if result.exit_code == FAULT_EXIT else ""
        raise NnbuildError(f"{what} exited with status {result.exit_code}{why}: "
                           + (result.stderr.strip() or result.stdout.strip()[-2000:]))
    return result
