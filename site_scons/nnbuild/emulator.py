"""Run a firmware image under QEMU with semihosting and collect its output and exit status.

QEMU runs with -icount shift=0 (see targets.qemu_command): one executed instruction is one ns of
virtual time, which the firmware's calibrated SysTick turns into instruction counts. Semihosting
file paths are resolved relative to `cwd`. Arguments cannot contain spaces (QEMU joins them
with spaces into one command line).
"""
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
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


def run_firmware(elf, target, args=(), timeout=60.0, cwd=None, qemu_extra=()):
    """Run `elf` for `target` (a Target or its name) with semihosting argv `args` (and the
    QEMU arguments `qemu_extra`, e.g. the cycle plugin's -plugin).

    Returns Result(exit_code, stdout, stderr); the firmware's own exit status is the exit code.
    Raises NnbuildError when QEMU is missing, the image is missing, an argument cannot be passed,
    the run exceeds `timeout` seconds or this process is interrupted. QEMU never outlives the
    call: it runs in its own process group, which is killed on every way out (see _qemu)."""
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
    cmd = qemu_command(target, elf.resolve(), args, extra=qemu_extra)
    with _qemu(cmd, cwd) as (p, interrupted):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise NnbuildError(f"QEMU ({target.machine}) did not finish within {timeout:g} s",
                               file=elf, where="args " + " ".join(map(str, args)),
                               expected="the firmware to exit through semihosting; "
                                        "a hang or an endless loop in the model?") from None
        if interrupted:
            raise NnbuildError(f"QEMU run stopped: this process got {signal.Signals(interrupted[0]).name}",
                               file=elf)
    return Result(p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def _die_with_parent(parent):
    """In the forked child before exec: the kernel kills QEMU when its parent dies, even by
    SIGKILL (Linux prctl PR_SET_PDEATHSIG; a no-op elsewhere)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)           # PR_SET_PDEATHSIG
        if os.getppid() != parent:          # the parent died before prctl took effect
            os._exit(1)


def _load_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()   # resolved once here: the forked child only calls it


@contextlib.contextmanager
def _qemu(cmd, cwd):
    """Start QEMU in its own process group and kill that group on every way out: return,
    exception, timeout, and SIGINT/SIGTERM/SIGHUP to this process (handled here, then passed
    to the previous handler: SCons's own handlers only stop scheduling new steps and would wait
    for QEMU). If this process is killed outright, PR_SET_PDEATHSIG kills QEMU."""
    parent = os.getpid()
    p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True,
                         preexec_fn=lambda: _die_with_parent(parent))
    interrupted = []

    def kill():
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)

    def on_signal(signum, frame):
        interrupted.append(signum)
        kill()
        previous = installed.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    installed = {}
    if threading.current_thread() is threading.main_thread():   # handlers only work there
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            installed[sig] = signal.signal(sig, on_signal)
    try:
        yield p, interrupted
    finally:
        kill()
        p.wait()
        for pipe in (p.stdout, p.stderr):
            pipe.close()
        for sig, previous in installed.items():
            signal.signal(sig, previous)


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
