"""The firmware's C sources and include dirs, from the one list firmware_template/sources.json.

SConstruct, the host runner and the tests read sources through these functions; nothing else
globs for kernel or app sources. Kernels come in ISA variants: `ref` (portable C) and variants
such as `dsp` whose files replace their base's files of the same name (TensorFlow Lite Micro's
reference/optimized layout). Paths are returned under `root` (default: firmware_template/), so
SConstruct can ask for them inside its variant dir.
"""
import json
from functools import lru_cache
from pathlib import Path, PurePosixPath

from .errors import NnbuildError
from .paths import TEMPLATE_DIR

LIST_FILE = TEMPLATE_DIR / "sources.json"
ISA_PREFERENCE = ("mve", "dsp", "mla", "thumb1", "ref")   # best first; isa_for picks the first a target can run
# ARMv6-M / ARMv8-M Baseline cores: Thumb-1 multiplies only (no MLA, no SMLAL): thumb1, not mla
NO_LONG_MULTIPLY = ("cortex-m0", "cortex-m0plus", "cortex-m1", "cortex-m23")
# variants that only an ARM core (or QEMU) runs: no C emulation of their intrinsics on the host
NO_HOST_BUILD = ("mve",)


def _bad(where, expected, path):
    return NnbuildError("malformed C source list", file=path, where=where, expected=expected)


def _rel_paths(value, where, path, suffix):
    """A list of relative POSIX paths inside firmware_template/ (ending in `suffix`, if given)."""
    if not isinstance(value, list):
        raise _bad(where, "a list of paths relative to firmware_template/", path)
    for v in value:
        p = PurePosixPath(v) if isinstance(v, str) else None
        if p is None or p.is_absolute() or ".." in p.parts or not str(p) or (suffix and p.suffix != suffix):
            raise _bad(f"{where}: {v!r}", "a relative path inside firmware_template/"
                       + (f" ending in {suffix}" if suffix else ""), path)
    return [str(PurePosixPath(v)) for v in value]


def parse(doc, path=LIST_FILE):
    """Validate the decoded sources.json `doc`; returns it normalised (pure: no file access)."""
    groups = ("kernels", "app", "board")
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), dict) for k in groups):
        raise _bad("top level", 'an object with "kernels", "app" and "board" objects', path)
    k = doc["kernels"]
    isa = k.get("isa")
    if not isinstance(isa, dict) or not isinstance(isa.get("ref"), dict):
        raise _bad("kernels.isa", 'an object of ISA variants with at least "ref"', path)
    variants = {}
    for name, v in isa.items():
        where = f"kernels.isa.{name}"
        if not isinstance(v, dict) or "sources" not in v:
            raise _bad(where, 'an object with "base" and "sources"', path)
        base = v.get("base")
        if (name == "ref") != (base is None) or (base is not None and base not in isa):
            raise _bad(f"{where}.base", '"ref" has base null, every other variant names an existing '
                       "variant", path)
        variants[name] = {"base": base, "sources": _rel_paths(v["sources"], f"{where}.sources", path, ".c")}
    for name in variants:   # every chain must end at ref
        seen, n = set(), name
        while n is not None:
            if n in seen:
                raise _bad(f"kernels.isa.{name}.base", "a chain of bases that ends at ref (no cycle)", path)
            seen.add(n)
            n = variants[n]["base"]
    size = _rel_paths(k.get("size", []), "kernels.size", path, ".c")
    listed = {rel for v in variants.values() for rel in v["sources"]}
    for rel in size:
        if rel not in listed:
            raise _bad(f"kernels.size: {rel!r}", "a kernel source that a variant lists", path)
    return {
        "kernel_include_dirs": _rel_paths(k.get("include_dirs"), "kernels.include_dirs", path, None),
        "size_sources": frozenset(size),
        "isa": variants,
        "app_include_dirs": _rel_paths(doc["app"].get("include_dirs"), "app.include_dirs", path, None),
        "app_sources": _rel_paths(doc["app"].get("sources"), "app.sources", path, ".c"),
        "board_sources": _rel_paths(doc["board"].get("sources"), "board.sources", path, ".c"),
    }


@lru_cache(maxsize=None)
def _load(path):
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as e:
        raise NnbuildError(f"cannot read the C source list: {e.strerror}", file=path,
                           expected="firmware_template/sources.json") from None
    except ValueError as e:
        raise NnbuildError(f"the C source list is not valid JSON: {e}", file=path,
                           expected="a JSON object (firmware_template/sources.json)") from None
    return parse(doc, path)


def _listing(path=LIST_FILE):
    return _load(str(path))


def _under(rels, root):
    root = Path(root)
    return [root / r for r in rels]


def isas(path=LIST_FILE):
    """The kernel ISA variants the list defines (e.g. ['ref', 'dsp'])."""
    return list(_listing(path)["isa"])


def host_isas(path=LIST_FILE):
    """The variants the host runner and the host tests can build (all but NO_HOST_BUILD)."""
    return [i for i in isas(path) if i not in NO_HOST_BUILD]


def kernel_sources_rel(isa, path=LIST_FILE):
    """The kernel sources of `isa` relative to firmware_template/: its base's files with its own
    files of the same name put in their place, sorted."""
    variants = _listing(path)["isa"]
    if isa not in variants:
        raise NnbuildError(f"unknown kernel ISA variant {isa!r}", file=path, where="kernels.isa",
                           expected="one of " + ", ".join(variants))
    chain = []
    while isa is not None:
        chain.append(isa)
        isa = variants[isa]["base"]
    by_name = {}
    for name in reversed(chain):   # ref first, each variant over its base
        for rel in variants[name]["sources"]:
            by_name[PurePosixPath(rel).name] = rel
    return sorted(by_name.values())


def built_for_size(rel, path=LIST_FILE):
    """True for a kernel source (relative to firmware_template/) that the firmware compiles with
    -Os: a cold layer whose flash counts more than its share of the time (kernels.size)."""
    return str(PurePosixPath(rel)) in _listing(path)["size_sources"]


def kernel_sources(isa, root=TEMPLATE_DIR, path=LIST_FILE):
    return _under(kernel_sources_rel(isa, path), root)


def app_sources(root=TEMPLATE_DIR, path=LIST_FILE):
    return _under(_listing(path)["app_sources"], root)


def board_sources(root=TEMPLATE_DIR, path=LIST_FILE):
    """The target-independent board start-up code (the board's linker script is chosen apart)."""
    return _under(_listing(path)["board_sources"], root)


def kernel_include_dirs(root=TEMPLATE_DIR, path=LIST_FILE):
    return _under(_listing(path)["kernel_include_dirs"], root)


def include_dirs(root=TEMPLATE_DIR, path=LIST_FILE):
    """Kernel and app include dirs (what generated model code and the firmware compile with)."""
    return kernel_include_dirs(root, path) + _under(_listing(path)["app_include_dirs"], root)


def firmware_sources(isa, root=TEMPLATE_DIR, path=LIST_FILE):
    """Everything a firmware image compiles besides the generated model code."""
    return kernel_sources(isa, root, path) + app_sources(root, path) + board_sources(root, path)


def isa_for(target, path=LIST_FILE):
    """The best kernel variant `target` (a targets.Target) can run that the list defines:
    mve on Helium cores, else dsp on cores with the DSP extension, else mla on ARMv7-M cores
    (SMLAL, no DSP: the M3), else thumb1 on ARMv6-M cores (the M0/M0+), else ref (the host)."""
    thumb1 = target.cpu in NO_LONG_MULTIPLY
    mla = bool(target.cpu) and not thumb1
    can = {"mve": target.mve, "dsp": target.dsp, "mla": mla, "thumb1": thumb1, "ref": True}
    have = isas(path)
    return next(i for i in ISA_PREFERENCE if can[i] and i in have)
