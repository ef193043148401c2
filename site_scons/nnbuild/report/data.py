"""The build report's data: one JSON-able dict from what the build already computed.

Inputs: the gate's memory report (memmap.memory_report), each model's plan (planner.Plan
.to_json_dict(), written by codegen as plan.json), the budget violations, and optionally bench
results (firmware.bench: instructions per inference and per layer). Everything the HTML page
shows is in this dict (report.json), so CI can diff it and the page is a rendering of it only.
"""
from pathlib import PurePath

from ..errors import NnbuildError
from ..memmap import binding_limit

FORMAT = 1


def arena_limit(memory, name):
    """The largest arena of model `name` that still fits, and what binds it: the model's own RAM
    budget less its other RAM, or what the image's RAM limit (budget or board region) leaves once
    everything but this arena is counted, whichever is smaller (None without either)."""
    m = memory["models"][name]
    limits = []
    if m.get("ram_budget") is not None:
        limits.append((m["ram_budget"] - (m["ram"] - m["arena"]), "model RAM budget"))
    limit, kind = binding_limit(memory, "ram")
    if limit is not None:
        limits.append((limit - (memory["ram"]["total"] - m["arena"]),
                       "target RAM budget" if kind == "budget" else "board RAM region"))
    if not limits:
        return None
    size, source = min(limits, key=lambda lim: lim[0])
    return {"bytes": size, "source": source}


def _layers(name, plan, bench):
    """Per step: MACs and live bytes (plan), instructions from bench when there is one. The
    firmware reports its layers in step order; any disagreement with the plan is an error, not a
    silently shifted table."""
    steps = plan["steps"]
    measured = None
    if bench is not None:
        measured = bench.get("layers") or []
        got = [(layer.get("name"), layer.get("op")) for layer in measured]
        want = [(s["name"], s["op"]) for s in steps]
        if got != want:
            raise NnbuildError(f"model '{name}': the firmware's layers do not match the build's plan",
                               expected=f"{len(want)} layers {[n for n, _ in want]}, got "
                                        f"{len(got)} {[n for n, _ in got]}")
    rows = []
    for i, s in enumerate(steps):
        ins = measured[i].get("instructions") if measured is not None else None
        rows.append({"index": s["index"], "name": s["name"], "op": s["op"], "kernel": s.get("kernel", ""),
                     "macs": s.get("macs", 0), "live_bytes": s["live_bytes"], "instructions": ins,
                     "instructions_per_mac": round(ins / s["macs"], 3) if ins and s.get("macs") else None})
    return rows


def collect(memory, plans, violations=(), bench=None):
    """The report dict. `memory`: memmap.memory_report(); `plans`: {model: plan dict};
    `violations`: memmap.check_budget() messages; `bench`: {model: firmware.bench() dict}."""
    bench = bench or {}
    memory = dict(memory, elf=PurePath(memory["elf"]).name)   # no machine paths in the report
    missing = sorted(set(memory["models"]) - set(plans))
    if missing:
        raise NnbuildError(f"no memory plan for model(s) {', '.join(missing)}",
                           expected="plan.json of every linked model (written by the codegen step)")
    models = {}
    for name in sorted(memory["models"]):
        b = bench.get(name)
        models[name] = {
            "plan": plans[name],
            "arena_limit": arena_limit(memory, name),
            "layers": _layers(name, plans[name], b),
            "bench": None if b is None else {k: b.get(k) for k in ("instructions", "macs", "instructions_per_mac")},
        }
    limits = {}
    for key in ("ram", "flash"):
        limit, kind = binding_limit(memory, key)
        limits[key] = None if limit is None else {"bytes": limit, "kind": kind}
    return {"format": FORMAT, "target": memory["target"], "machine": memory["machine"],
            "fits": not violations, "violations": list(violations), "limits": limits,
            "memory": memory, "models": models}
