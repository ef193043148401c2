"""Memory map of a linked firmware image and the RAM/flash budget gate.

Sources: the ELF32 file (section headers and symbol table, parsed here with struct) and the GNU
ld .map file (which object or archive member each input section came from).

Accounting, the same as arm-none-eabi-size's Berkeley format:
* flash = every allocated section with file contents (.vectors, .text, .rodata, .ARM.exidx, and
  the initial values of .data);
* RAM = every allocated writable section: .data + .bss + the reserved .heap and .stack.

Per model (by symbol name prefix `<model>_`, the code generator's convention): weights = its
read-only data, code = its functions, arena = `<model>_arena`, scratch = `<model>_scratch` (if
the generator emits one; the planner normally keeps scratch inside the arena), other RAM = any
other writable data of the model. Groups (by the object a section came from): each model, the
kernels (objects under a `kernels` directory), libc (toolchain archives), app (everything else),
reserved (stack + heap).
"""
import re
import struct
from pathlib import Path

from .errors import NnbuildError
from .targets import get_target

SHT_NOBITS = 8
SHT_SYMTAB = 2
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
STT_OBJECT, STT_FUNC = 1, 2
RESERVED_SECTIONS = {".stack": "stack", ".heap": "heap"}
LARGEST_N = 15


# -- ELF --------------------------------------------------------------------------------------

def read_elf(path):
    """Sections and sized symbols of a little-endian ELF32 file.

    Returns (sections, symbols): sections = [{name, type, flags, addr, size}], symbols =
    [{name, addr, size, type, section}] with section = the section's name ('' if none)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise NnbuildError(f"cannot read firmware image: {e.strerror}", file=path) from None
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise NnbuildError("not a little-endian 32-bit ELF file", file=path,
                           expected="an ELF image linked by arm-none-eabi-gcc")
    try:
        shoff, = struct.unpack_from("<I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
        raw = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
        strtab = raw[shstrndx]

        def cstr(table_off, idx):
            end = data.index(b"\0", table_off + idx)
            return data[table_off + idx:end].decode("utf-8", "replace")

        sections = [{"name": cstr(strtab[4], s[0]), "type": s[1], "flags": s[2], "addr": s[3],
                     "size": s[5], "offset": s[4], "link": s[6], "entsize": s[9]} for s in raw]
        symbols = []
        for sec in sections:
            if sec["type"] != SHT_SYMTAB:
                continue
            names_off = sections[sec["link"]]["offset"]
            for i in range(sec["size"] // 16):
                st_name, value, size, info, _other, shndx = struct.unpack_from(
                    "<IIIBBH", data, sec["offset"] + 16 * i)
                kind = info & 0xF
                if size == 0 or kind not in (STT_OBJECT, STT_FUNC) or shndx == 0 or shndx >= len(sections):
                    continue
                symbols.append({"name": cstr(names_off, st_name),
                                "addr": value & ~1 if kind == STT_FUNC else value, "size": size, "type": "func" if kind == STT_FUNC else "object",
                                "section": sections[shndx]["name"]})
    except (struct.error, ValueError, IndexError):
        raise NnbuildError("truncated or corrupt ELF file", file=path) from None
    return sections, symbols


def section_kind(sec):
    """'text', 'rodata', 'data', 'bss' for allocated sections, None for the rest."""
    if not sec["flags"] & SHF_ALLOC or sec["size"] == 0:
        return None
    if sec["type"] == SHT_NOBITS:
        return "bss"
    if sec["flags"] & SHF_WRITE:
        return "data"
    return "text" if sec["flags"] & SHF_EXECINSTR else "rodata"


# -- map file ---------------------------------------------------------------------------------

_OUT_RE = re.compile(r"^(\.\S+|COMMON)(?:\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+).*)?$")
_IN_RE = re.compile(r"^ (\S+)(?:\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*))?$")
_CONT_RE = re.compile(r"^\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")


def read_map(path):
    """Input sections placed by the linker: [{out, name, addr, size, object}] (size > 0)."""
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as e:
        raise NnbuildError(f"cannot read linker map: {e.strerror}", file=path) from None
    try:
        start = lines.index("Linker script and memory map") + 1
    except ValueError:
        raise NnbuildError("not a GNU ld map file", file=path,
                           expected="the file written by -Wl,-Map=<file>") from None
    out, pending, entries = None, None, []
    for line in lines[start:]:
        m = _OUT_RE.match(line)
        if m and not line.startswith(" "):
            out, pending = m.group(1), None
            continue
        m = _IN_RE.match(line)
        if m and m.group(1) not in ("*fill*",) and not m.group(1).startswith("*"):
            if m.group(2) is None:
                pending = m.group(1)   # long section name: address, size, object on the next line
            else:
                entries.append(_entry(out, m.group(1), m.group(2), m.group(3), m.group(4)))
                pending = None
            continue
        m = _CONT_RE.match(line)
        if m and pending:
            entries.append(_entry(out, pending, *m.groups()))
        pending = None
    return [e for e in entries if e["size"] > 0 and e["out"]]


def _entry(out, name, addr, size, obj):
    return {"out": out, "name": name, "addr": int(addr, 16), "size": int(size, 16), "object": obj.strip()}


def object_group(obj, models):
    """Which group an object file (or archive member) belongs to."""
    if obj.endswith(")") or ".a(" in obj or obj.endswith(".a"):
        return "libc"
    p = Path(obj)
    stem = p.stem
    for name in sorted(models, key=len, reverse=True):
        if stem == name or stem.startswith(name + "_") or name in p.parent.parts:
            return f"model:{name}"
    if "kernels" in p.parts or stem.startswith("nn_kernel"):
        return "kernels"
    return "app"


def symbol_model(name, models):
    for m in sorted(models, key=len, reverse=True):
        if name.startswith(m + "_"):
            return m
    return None


# -- report -----------------------------------------------------------------------------------

def memory_report(elf, map_file, target, models=(), budgets=None):
    """A JSON-able memory report of a linked image. See the module docstring for the accounting.

    `target`: Target or name. `models`: model names linked in the image. `budgets`:
    {"ram": bytes, "flash": bytes, "models": {name: {"ram": bytes}}} (the image's limits may
    also sit under a "target" key); missing values fall back to the target's defaults
    (per-model budgets are optional)."""
    target = get_target(target) if isinstance(target, str) else target
    models = list(models)
    budgets = dict(budgets or {})
    budgets.update({k: v for k, v in (budgets.pop("target", None) or {}).items() if v is not None})
    sections, symbols = read_elf(elf)
    entries = read_map(map_file) if map_file else []

    sec_rows = []
    ram = {"data": 0, "bss": 0, "heap": 0, "stack": 0}
    flash = {"text": 0, "rodata": 0, "data_init": 0}
    kinds = {}
    for s in sections:
        kind = section_kind(s)
        if kind is None:
            continue
        kinds[s["name"]] = kind
        in_ram, in_flash = kind in ("data", "bss"), kind != "bss"
        sec_rows.append({"name": s["name"], "addr": s["addr"], "size": s["size"], "kind": kind,
                         "ram": s["size"] if in_ram else 0, "flash": s["size"] if in_flash else 0})
        if kind == "data":
            ram["data"] += s["size"]
            flash["data_init"] += s["size"]
        elif kind == "bss":
            ram[RESERVED_SECTIONS.get(s["name"], "bss")] += s["size"]
        else:
            flash[kind] += s["size"]
    ram["total"] = sum(ram.values())
    flash["total"] = sum(flash.values())

    groups = {}

    def add(group, kind, size):
        g = groups.setdefault(group, {"text": 0, "rodata": 0, "data": 0, "bss": 0, "ram": 0, "flash": 0})
        g[kind] += size
        g["ram"] += size if kind in ("data", "bss") else 0
        g["flash"] += size if kind != "bss" else 0

    for e in entries:
        kind = kinds.get(e["out"])
        if kind:
            add(object_group(e["object"], models), kind, e["size"])
    for sec, name in RESERVED_SECTIONS.items():
        if ram[name]:
            add("reserved", "bss", ram[name])

    per_model = {m: {"weights": 0, "code": 0, "arena": 0, "scratch": 0, "other_ram": 0, "symbols": []}
                 for m in models}
    for sym in symbols:
        m = symbol_model(sym["name"], models)
        kind = kinds.get(sym["section"])
        if m is None or kind is None:
            continue
        d = per_model[m]
        if sym["name"] == f"{m}_arena":
            d["arena"] += sym["size"]
        elif sym["name"] == f"{m}_scratch":
            d["scratch"] += sym["size"]
        elif kind in ("data", "bss"):
            d["other_ram"] += sym["size"]
        elif kind == "text":
            d["code"] += sym["size"]
        else:
            d["weights"] += sym["size"]
        d["symbols"].append({"name": sym["name"], "size": sym["size"], "kind": kind})
    model_budgets = budgets.get("models") or {}
    for m, d in per_model.items():
        d["ram"] = d["arena"] + d["scratch"] + d["other_ram"]
        d["flash"] = d["weights"] + d["code"]
        d["symbols"] = sorted(d["symbols"], key=lambda s: (-s["size"], s["name"]))[:LARGEST_N]
        d["ram_budget"] = (model_budgets.get(m) or {}).get("ram")

    largest = sorted(({"name": s["name"], "size": s["size"], "kind": kinds[s["section"]],
                       "section": s["section"], "model": symbol_model(s["name"], models)}
                      for s in symbols if s["section"] in kinds),
                     key=lambda s: (-s["size"], s["name"]))[:LARGEST_N]
    return {
        "elf": str(elf), "target": target.name, "machine": target.machine,
        "regions": {"flash": _region(target.flash), "ram": _region(target.ram)},
        "sections": sec_rows, "ram": ram, "flash": flash,
        "totals": {"ram": ram["total"], "flash": flash["total"]},
        "stack_reserve": ram["stack"], "heap_reserve": ram["heap"],
        "groups": dict(sorted(groups.items())), "models": per_model, "largest": largest,
        "budgets": {"ram": budgets.get("ram", target.budget_ram),
                    "flash": budgets.get("flash", target.budget_flash)},
    }


def _region(r):
    return None if r is None else {"origin": r.origin, "length": r.length}


# -- budget gate ------------------------------------------------------------------------------

def human(n):
    """Bytes as '123 B' / '12.3 KiB' / '1.20 MiB'."""
    if abs(n) < 1024:
        return f"{n} B"
    if abs(n) < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.2f} MiB"


def _consumers(report, ram):
    """The biggest users of RAM (with the stack/heap reserves) or of flash."""
    items = [(s["size"], s["name"], f" (model {s['model']})" if s["model"] else "")
             for s in report["largest"] if (s["kind"] in ("data", "bss")) == ram]
    if ram:
        items += [(report["ram"]["stack"], "stack reserve", ""), (report["ram"]["heap"], "heap reserve", "")]
    items = sorted((i for i in items if i[0] > 0), key=lambda i: -i[0])[:5]
    return ", ".join(f"{name} {human(size)}{owner}" for size, name, owner in items)


def binding_limit(report, key):
    """(bytes, "budget" or "region") that binds `key` ("ram"/"flash"): the smaller of the budget
    and the board's own memory region (the budget on a tie); (None, None) when neither exists."""
    limits = []
    if report["budgets"].get(key) is not None:
        limits.append((report["budgets"][key], "budget"))
    region = report["regions"].get(key)
    if region:
        limits.append((region["length"], "region"))
    return min(limits, key=lambda lim: lim[0], default=(None, None))


def check_budget(report):
    """Violation messages (empty list = within budget): image RAM/flash vs the board's memory
    regions and the target budget, and each model's arena + scratch (+ other RAM) vs its own budget."""
    problems = []
    t = report["target"]
    for what, key in (("RAM", "ram"), ("flash", "flash")):
        used = report[key]["total"]
        limit, kind = binding_limit(report, key)
        text = "" if limit is None else (
            f"the budget of {limit} bytes ({human(limit)})" if kind == "budget" else
            f"the board's {what} region of {limit} bytes ({human(limit)}) at {report['regions'][key]['origin']:#010x}")
        if limit is not None and used > limit:
            problems.append(
                f"target {t}: {what} use {used} bytes ({human(used)}) exceeds {text} by "
                f"{used - limit} bytes ({human(used - limit)}); biggest consumers: {_consumers(report, key == 'ram')}")
    for name, d in report["models"].items():
        budget = d.get("ram_budget")
        if budget is not None and d["ram"] > budget:
            parts = [(d["arena"], f"{name}_arena"), (d["scratch"], f"{name}_scratch"),
                     (d["other_ram"], "other model data")]
            top = ", ".join(f"{n} {human(s)}" for s, n in sorted(parts, key=lambda p: -p[0]) if s)
            problems.append(
                f"target {t}, model {name}: arena + scratch {d['ram']} bytes ({human(d['ram'])}) "
                f"exceeds the model's RAM budget of {budget} bytes ({human(budget)}) by "
                f"{d['ram'] - budget} bytes ({human(d['ram'] - budget)}); consumers: {top}")
    return problems


# -- text -------------------------------------------------------------------------------------

def _pct(d, key):
    """Use against what binds it: a budget larger than the board is not what the image must fit."""
    limit, kind = binding_limit(d, key)
    if not limit:
        return "no budget"
    used = d[key]["total"]
    return f"{100.0 * used / limit:5.1f}% of {human(limit)}" + (" (the board's region)" if kind == "region" else "")


def arena_schedule(plan):
    """What the memory map says about a model's arena, from its plan.json (planner.Plan.to_json_dict):
    layer by layer or streamed, the fused groups with their line buffers, each step's live bytes
    at its worst sub-step and the peak, so the arena's size can be read off the map."""
    groups = (plan.get("schedule") or {}).get("groups", [])
    return {"mode": "streamed" if groups else "layer by layer", "arena_bytes": plan["arena_bytes"],
            "peak_bytes": plan["peak_bytes"], "peak_step": plan["peak_step"],
            "groups": [{"steps": g["names"], "line_buffers": g["line_buffers"], "commands": g["commands"]}
                       for g in groups],
            "steps": [{"index": r["index"], "name": r["name"], "live_bytes": r["live_bytes"],
                       "group": next((k for k, g in enumerate(groups) if r["index"] in g["steps"]), None)}
                      for r in plan["steps"]]}


def _format_schedule(m, a):
    out = [f"  {m}: {a['mode']}, arena {a['arena_bytes']} B, peak live {a['peak_bytes']} B at step {a['peak_step']}"]
    for k, g in enumerate(a["groups"]):
        bufs = ", ".join(f"{b['tensor']} {b['rows']}x{b['row_bytes']} B" for b in g["line_buffers"]) or "none"
        out.append(f"    fused group {k}: {' -> '.join(g['steps'])}; line buffers {bufs}; {g['commands']} row commands")
    for r in a["steps"]:
        where = "" if r["group"] is None else f"  (group {r['group']})"
        mark = "  <- peak" if r["index"] == a["peak_step"] else ""
        out.append(f"    {r['index']:>4}  {r['name']:<28} {r['live_bytes']:>8} B live{where}{mark}")
    return out


def format_report(d):
    """A readable text table of a memory_report() dict."""
    r, f = d["ram"], d["flash"]
    out = [f"Memory map of {d['elf']} (target {d['target']}, {d['machine']})",
           f"  RAM   {r['total']:>9} B  {_pct(d, 'ram')}   "
           f"(.data {human(r['data'])}, .bss {human(r['bss'])}, heap {human(r['heap'])}, "
           f"stack {human(r['stack'])})",
           f"  flash {f['total']:>9} B  {_pct(d, 'flash')}   "
           f"(.text {human(f['text'])}, .rodata {human(f['rodata'])}, .data init {human(f['data_init'])})",
           "", "Sections                      address       size   ram   flash"]
    for s in d["sections"]:
        out.append(f"  {s['name']:<24} 0x{s['addr']:08x} {s['size']:>10}   {'yes' if s['ram'] else '-':<5} "
                   f"{'yes' if s['flash'] else '-'}")
    out += ["", "By group                          flash        RAM"]
    for g, v in d["groups"].items():
        out.append(f"  {g:<28} {v['flash']:>10} {v['ram']:>10}")
    if d["models"]:
        out += ["", "Models               weights       code      arena    scratch  other RAM  RAM budget"]
        for m, v in d["models"].items():
            b = human(v["ram_budget"]) if v["ram_budget"] is not None else "-"
            out.append(f"  {m:<16} {v['weights']:>10} {v['code']:>10} {v['arena']:>10} {v['scratch']:>10} "
                       f"{v['other_ram']:>10}  {b}")
    scheds = [(m, v["arena_schedule"]) for m, v in d["models"].items() if v.get("arena_schedule")]
    if scheds:
        out += ["", "Arena schedule (per step: the most bytes live in the arena while it runs)"]
        for m, a in scheds:
            out += _format_schedule(m, a)
    out += ["", "Largest symbols          size  kind    name"]
    for s in d["largest"]:
        out.append(f"  {'':<14}{s['size']:>10}  {s['kind']:<7} {s['name']}")
    return "\n".join(out) + "\n"
