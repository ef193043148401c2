"""Working with a linked firmware image: the budget gate, and running it in QEMU.

    gate()          memory map of the linked image; writes firmware.elf/.bin/.hex + memory_map.{json,txt}
                    as one set, only when every budget holds (a failing build leaves none behind)
    run_batch()     model outputs for many inputs, computed on the target
    check_action()  `scons check`: target outputs == golden model bytes
    run_action()    `scons run image=...`: C preprocessing + model + top-k on the target
    bench()         `nnbuild bench`: instructions and estimated cycles per inference and per layer, memory
    bench_report()  `nnbuild bench --report`: the gate's build report with those counts joined in
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import ir
from .errors import NnbuildError, staged_outputs

ROOT = Path(__file__).resolve().parents[2]


DEFAULT_BUILD_DIR = ROOT / "build"


def budgets_for(manifest, target, entries):
    """The target's budget (manifest, else the target's default) and each model's own limit."""
    total = {"ram": target.budget_ram, "flash": target.budget_flash}
    total.update(manifest.budget(target.name) or {})
    return {"target": total, "models": {e.name: dict(e.budget or {}) for e in entries}}


def model_ram(manifest, target):
    """The RAM the target's budget leaves for models (arenas and the app's I/O buffer): its RAM
    budget less the stack and heap reserves (memory: auto, pipeline.arena_budget)."""
    ram = budgets_for(manifest, target, [])["target"]["ram"]
    return None if not ram else ram - target.stack_bytes - target.heap_bytes


def gate(unchecked_elf, map_file, target, manifest, entries, outputs, objcopy="arm-none-eabi-objcopy",
         plans=None):
    """Check the linked image against the budgets; only then write `outputs` (keys elf, bin, hex,
    json, txt -> paths) as one set: staged under temporary names, renamed together at the end.
    With `plans` ({model: plan.json}) and outputs report_json/report_html, the build report is
    written first, also when a budget fails (that is when it is needed most)."""
    from . import memmap

    budgets = budgets_for(manifest, target, entries)
    report = memmap.memory_report(unchecked_elf, map_file, target, [e.name for e in entries], budgets)
    report["elf"] = str(outputs["elf"])  # what the report describes once the gate passes
    violations = memmap.check_budget(report)
    if plans is not None:
        from . import report as build_report

        loaded = build_report.load_plans(plans)
        page = build_report.collect(report, loaded, violations)
        build_report.write(page, outputs["report_json"], outputs["report_html"])
        for name, plan in loaded.items():   # the memory map shows why each arena is what it is
            if name in report["models"]:
                report["models"][name]["arena_schedule"] = memmap.arena_schedule(plan)
    if violations:
        os.unlink(unchecked_elf)  # nothing flashable is left behind; the .map stays for diagnosis
        where = f"\n  build report (what uses the memory): {outputs['report_html']}" if plans is not None else ""
        raise NnbuildError("the firmware does not fit its budget:\n  " + "\n  ".join(violations) + where)
    keys = ("elf", "bin", "hex", "json", "txt")
    with staged_outputs([outputs[k] for k in keys]) as staged:
        tmp = dict(zip(keys, staged))
        with open(tmp["json"], "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)
            f.write("\n")
        with open(tmp["txt"], "w") as f:
            f.write(memmap.format_report(report))
        shutil.copyfile(unchecked_elf, tmp["elf"])
        os.chmod(tmp["elf"], 0o755)
        for fmt, key in (("binary", "bin"), ("ihex", "hex")):
            r = subprocess.run([objcopy, "-O", fmt, tmp["elf"], tmp[key]], capture_output=True, text=True)
            if r.returncode != 0:
                raise NnbuildError(f"{objcopy} -O {fmt} failed: {r.stderr.strip()}", file=unchecked_elf)


# -- running ----------------------------------------------------------------------------------

# A hung firmware is stopped after a time derived from the work it was given, not a fixed one.
# Generous bounds: the sample model takes 9.7 instructions per MAC on m0 (1.3-3 elsewhere) and
# QEMU (-icount shift=0) ran it at ~80M instructions/s on a loaded 2-core machine.
INSTRUCTIONS_PER_MAC = 16
INSTRUCTIONS_PER_RUN = 2_000_000      # start-up, timer calibration, semihosting I/O
INSTRUCTIONS_PER_PIXEL = 200          # C preprocessing of a camera frame (resize, convert)
SLOWEST_QEMU = 10_000_000             # instructions per second QEMU reaches at the least
QEMU_START_SECONDS = 10.0


def model_macs(target_dir, name):
    """MACs per inference of a model built for a target (`target_dir`: <build>/<target>/, beside
    its firmware.elf), from its generated header (`#define <NAME>_MACS`)."""
    header = Path(target_dir) / "models" / name / f"{name}.h"
    try:
        text = header.read_text()
    except OSError as e:
        raise NnbuildError(f"cannot read the generated header: {e.strerror}", file=header,
                           expected="the model built by scons") from None
    m = re.search(rf"^#define {re.escape(name.upper())}_MACS (\d+)u?$", text, re.M)
    if not m:
        raise NnbuildError(f"no {name.upper()}_MACS in the generated header", file=header)
    return int(m.group(1))


def run_budget(macs, inferences=1, pixels=0):
    """Seconds a QEMU run of `inferences` inferences of a `macs`-MAC model (plus `pixels` of
    preprocessing) may take before it counts as hung."""
    instructions = INSTRUCTIONS_PER_RUN + inferences * macs * INSTRUCTIONS_PER_MAC + pixels * INSTRUCTIONS_PER_PIXEL
    return QEMU_START_SECONDS + instructions / SLOWEST_QEMU


def execute(elf, target, args, timeout=600):
    """Run firmware in QEMU with arguments; returns stdout. Non-zero exit -> NnbuildError."""
    from .emulator import check_result, run_firmware

    args = [str(a) for a in args]
    result = run_firmware(elf, target, args=args, timeout=timeout)
    return check_result(result, what=f"{Path(elf).name} {' '.join(args)}").stdout


def last_json(stdout, what):
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise NnbuildError(f"{what}: the firmware printed no JSON result:\n{stdout.strip()}")


def scons_build(manifest_path, target, model=None, build_dir=DEFAULT_BUILD_DIR):
    """Build firmware through SCons (the one way artifacts are made); returns the ELF path."""
    scons = Path(sys.executable).with_name("scons")
    cmd = [str(scons) if scons.exists() else "scons", "-Q", "-C", str(ROOT), f"target={target}",
           f"manifest={Path(manifest_path).resolve()}", f"build_dir={Path(build_dir).resolve()}",
           *([f"model={model}"] if model else [])]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise NnbuildError("the firmware build failed:\n" + (r.stdout + r.stderr).strip(), where=" ".join(cmd))
    return Path(build_dir) / target / "firmware.elf"


def run_batch(entry, target_name, images, elf=None):
    """(scores (N, out_n) int8, the firmware's JSON summary) for uint8 images (N, H, W, C)."""
    from .targets import get_target

    target = get_target(target_name)
    elf = elf or scons_build(entry.manifest_path, target_name, entry.name)
    with tempfile.TemporaryDirectory(prefix="nnbuild-batch-") as tmp:
        inp, outp = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        inp.write_bytes(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
        budget = run_budget(model_macs(Path(elf).parent, entry.name), inferences=len(images))
        stdout = execute(elf, target, ["batch", entry.name, inp, outp], timeout=budget)
        info = last_json(stdout, "batch")
        scores = np.frombuffer(outp.read_bytes(), dtype=np.int8).reshape(len(images), -1)
    return scores, info


def sample_inputs(entry, graph, count):
    """`count` of the model's calibration images, spread evenly (deterministic)."""
    from .pipeline import load_calibration

    images = load_calibration(entry, graph)
    idx = np.linspace(0, len(images) - 1, num=min(count, len(images))).astype(int)
    return images[idx]


def check_action(env, samples):
    """`scons check`: every model's outputs on the target == the golden model's, byte for byte."""
    from . import golden

    target, entries = env["NN_TARGET"], env["NN_ENTRIES"]
    build = Path(env["NN_BUILD"].abspath)
    elf = build / target.name / "firmware.elf"
    failed = False
    for e in entries:
        d = build / "models" / e.name
        qgraph = ir.load_graph(d / "quant.json", d / "quant.npz")
        try:
            images = sample_inputs(e, qgraph, samples)
            expected = golden.run(qgraph, images).reshape(len(images), -1)
            got, info = run_batch(e, target.name, images, elf=elf)
        except NnbuildError as err:
            sys.stderr.write(f"nnbuild: error: check of model '{e.name}' on {target.name}: {err}\n")
            return 1
        same = np.all(got == expected, axis=1)
        ins = info.get("instructions")
        print(f"[check] {target.name} {e.name}: {int(same.sum())}/{len(same)} outputs identical to the "
              f"golden model" + (f", {ins} instructions/inference" if ins else ""))
        if not same.all():
            i = int(np.argmin(same))
            print(f"[check]   first mismatch: sample {i}: target {got[i].tolist()} golden {expected[i].tolist()}")
            failed = True
    return 1 if failed else 0


def run_action(env, img, topk):
    """`scons run image=FILE` (`img` decoded, HxWx3 or HxW uint8): preprocessing in C on the
    target, then the model, then top-k."""
    target, entries = env["NN_TARGET"], env["NN_ENTRIES"]
    elf = Path(env["NN_BUILD"].abspath) / target.name / "firmware.elf"
    try:
        fmt = "gray" if img.ndim == 2 else "rgb888"
        with tempfile.TemporaryDirectory(prefix="nnbuild-run-") as tmp:
            frame = Path(tmp) / "frame.raw"
            frame.write_bytes(np.ascontiguousarray(img).tobytes())
            for e in entries:
                budget = run_budget(model_macs(elf.parent, e.name), pixels=img.size)
                out = execute(elf, target, ["classify", e.name, frame, img.shape[1], img.shape[0], fmt,
                                            "bilinear", "crop", topk], timeout=budget)
                print(out, end="")
    except NnbuildError as err:
        sys.stderr.write(f"nnbuild: error: {err}\n")
        return 1
    return 0


def _plan_groups(plan_json):
    """The fused groups (lists of step indices) of the plan code generation wrote, or [] when the
    model runs layer by layer (or the build wrote no plan.json)."""
    try:
        plan = json.loads(Path(plan_json).read_text())
    except (OSError, ValueError):
        return []
    return [g["steps"] for g in (plan.get("schedule") or {}).get("groups", [])]


def fuse_group_layers(layers, groups):
    """One entry per fused group instead of its steps: inside a group the steps interleave row by
    row, so the firmware's per-step marks cannot split its instructions (they all fall on the
    group's last step). A per-layer figure that cannot be measured is not reported as a number."""
    first = {g[0]: g for g in groups if g}
    inside = {i for g in groups for i in g}
    out = []
    for i, layer in enumerate(layers):
        if i in first:
            members = [layers[j] for j in first[i] if j < len(layers)]
            ins = [m.get("instructions") for m in members]
            cyc = [m.get("cycles_estimate") for m in members]
            out.append({"name": " -> ".join(m["name"] for m in members), "op": "fused_group",
                        "instructions": None if None in ins else sum(ins),
                        "macs": sum(m.get("macs", 0) for m in members),
                        "cycles_estimate": None if None in cyc else sum(cyc)})
        elif i not in inside:
            out.append(layer)
    return out


def bench(entry, target_name, manifest_path, build_dir=DEFAULT_BUILD_DIR):
    """Instructions and the cycle estimate per inference (and per layer), MACs and memory of one
    model on a target."""
    from . import cycles
    from .targets import get_target

    target = get_target(target_name)
    elf = scons_build(manifest_path, target_name, entry.name, build_dir)
    budget = run_budget(model_macs(elf.parent, entry.name), inferences=2)  # + profiled run
    stdout, est = cycles.run(elf, target, ["bench", entry.name], f"{entry.name}_run", build_dir,
                             timeout=budget * cycles.SLOWDOWN)
    result = last_json(stdout, "bench")
    mem = json.loads((elf.parent / "memory_map.json").read_text())
    model_mem = mem.get("models", {}).get(entry.name, {})
    macs = result.get("macs") or sum(layer.get("macs", 0) for layer in result.get("layers", []))
    ins = result.get("instructions")
    layers = result.get("layers", [])
    for layer, c in zip(layers, est.layer_cycles(len(layers))):
        layer["cycles_estimate"] = c
    layers = fuse_group_layers(layers, _plan_groups(elf.parent / "models" / entry.name / "plan.json"))
    return {
        "model": entry.name, "target": target_name,
        "instructions": ins, "macs": macs,
        "instructions_per_mac": round(ins / macs, 4) if ins and macs else None,
        **cycles.summary(est, target, macs, ins),
        "ram_bytes": mem["totals"]["ram"], "flash_bytes": mem["totals"]["flash"],
        "arena_bytes": model_mem.get("arena"), "weights_bytes": model_mem.get("weights"),
        "kernel_bytes": mem.get("groups", {}).get("kernels", {}).get("flash"),   # linked kernel code
        "stack_reserve": mem.get("stack_reserve"),
        "layers": layers,
    }


def bench_report(result, html_path, build_dir=DEFAULT_BUILD_DIR):
    """The build report of the firmware `result` (bench()) ran, with its per-layer instruction
    counts: `html_path` (.html) and its data beside it (.json). The build's own report.html is left
    as the gate wrote it (it is a tracked build output)."""
    from . import report as build_report

    html_path = Path(html_path)
    if html_path.suffix != ".html":
        raise NnbuildError("the report file must end in .html", where="--report",
                           expected="FILE.html (its data goes to FILE.json beside it)")
    gated = build_report.load(Path(build_dir) / result["target"] / "report.json")
    build_report.write(build_report.add_bench(gated, result), html_path.with_suffix(".json"), html_path)
