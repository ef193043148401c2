"""Compile C sources with the build machine's compiler into a shared library for ctypes.

Used by the host build of generated models and by kernel tests, so that most bit-exactness
testing needs no emulator. Libraries are cached by a hash of the flags, the sources and every
header they include (as the compiler reports it, so nothing is found by globbing).
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from .errors import NnbuildError

WARNINGS = ["-Wall", "-Wextra", "-Werror", "-std=c99", "-pedantic"]


def compiler():
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise NnbuildError("no host C compiler found", expected="cc or gcc on PATH (apt-get install gcc)")
    return cc


def _included_headers(sources, preprocessor_flags):
    """The non-system headers `sources` include, as `cc -MM` lists them (make rules)."""
    cmd = [compiler(), *preprocessor_flags, "-MM", *map(str, sources)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise NnbuildError("host C compilation failed:\n" + r.stderr.strip(), where=" ".join(cmd))
    deps = set()
    for rule in r.stdout.replace("\\\n", " ").splitlines():
        if ":" in rule:
            deps.update(d.replace("\\ ", " ") for d in re.split(r"(?<!\\)\s+", rule.split(":", 1)[1]) if d)
    return sorted(Path(d) for d in deps if not d.endswith(".c"))


def build_shared(sources, out_dir, include_dirs=(), defines=(), extra_flags=("-O2",)):
    """Compile `sources` into <out_dir>/lib<hash>.so and return its path (cached by content)."""
    sources = [Path(s) for s in sources]
    cpp_flags = ["-std=c99", *(f"-I{d}" for d in include_dirs), *(f"-D{d}" for d in defines)]
    # -z defs: an unresolved symbol (e.g. a weight layout marker, nn_kernels.h) fails here, in
    # one message, rather than when ctypes loads the library
    flags = [*WARNINGS, *extra_flags, "-fPIC", "-shared", "-Wl,-z,defs", *cpp_flags[1:]]
    h = hashlib.sha256(" ".join([compiler(), *flags]).encode())
    for s in sorted(sources):
        h.update(str(s).encode())
        h.update(s.read_bytes())
    for hdr in _included_headers(sources, cpp_flags):
        h.update(str(hdr).encode())
        h.update(hdr.read_bytes())
    out_dir = Path(out_dir)
    lib = out_dir / f"lib{h.hexdigest()[:16]}.so"
    if lib.exists():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    cmd = [compiler(), *flags, "-o", str(tmp), *map(str, sources), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise NnbuildError("host C compilation failed:\n" + r.stderr.strip(), where=" ".join(cmd))
    os.replace(tmp, lib)
    return lib


def load(path):
    return ctypes.CDLL(str(path))
