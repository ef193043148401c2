#!/usr/bin/env python3
"""The arena of each net layer by layer (`memory: fast`) and streamed (`memory: small`), as one
JSON line: a CIFAR-size ResNet-20 and its small ResNet-8 variant (tools/bench_resnet20.py, random
weights) and the random test nets (tests/test_firmware_random.py), in q7 and int8, plus the fused
groups of each streamed schedule. Only planning: nothing is compiled.

    .venv/bin/python tools/arena_report.py [--dir build/arena_report] [--calib 40]
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "site_scons"), str(ROOT / "tools"), str(ROOT / "tests")]

from nnbuild import pipeline, schedule  # noqa: E402
from nnbuild.lower import lower  # noqa: E402
from nnbuild.manifest import load_manifest  # noqa: E402
from nnbuild.planner import plan  # noqa: E402


def arenas(qgraph):
    """{layer_by_layer, streamed, groups}: arena bytes of both plans and the fused groups' steps."""
    steps = lower(qgraph)
    sch, p = schedule.choose(steps, qgraph, "small", None, lambda s: plan(steps, qgraph, s))
    lbl = plan(steps, qgraph).arena_bytes
    return {"layer_by_layer": lbl, "streamed": p.arena_bytes,
            "reduction": round(1 - p.arena_bytes / lbl, 3),
            "groups": [[s.name for s in grp.steps] for grp in (sch.groups if sch else [])]}


def entries(d, calib):
    from bench_resnet20 import write_model
    from test_firmware_random import SEEDS, random_net

    for scheme in ("q7", "int8"):
        for name, blocks, size in (("resnet20", 3, 32), ("resnet8", 1, 16)):
            m = write_model(d / f"{name}_{scheme}", calib=calib, n_eval=1, blocks=blocks, size=size,
                            scheme=scheme, name=name)
            yield scheme, load_manifest(m).models[0]
        seeds = [s for s in SEEDS if scheme == "q7" or s != SEEDS[1]]   # LRN/PReLU: q7 only
        path = d / f"random_{scheme}.yaml"
        sub = d / f"random_{scheme}"
        sub.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"version": 1, "models": [random_net(s, sub, scheme=scheme) for s in seeds]}))
        yield from ((scheme, e) for e in load_manifest(path).models)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=str(ROOT / "build" / "arena_report"), help="work directory")
    ap.add_argument("--calib", type=int, default=40, help="calibration images per ResNet")
    args = ap.parse_args()
    out = {}
    for scheme, entry in entries(Path(args.dir).resolve(), args.calib):
        graph = pipeline.import_model(entry)
        out[f"{entry.name}_{scheme}"] = arenas(pipeline.quantize_graph(entry, graph)[0])
        sys.stderr.write(f"{entry.name} {scheme}: {out[f'{entry.name}_{scheme}']['layer_by_layer']} -> "
                         f"{out[f'{entry.name}_{scheme}']['streamed']} B\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
