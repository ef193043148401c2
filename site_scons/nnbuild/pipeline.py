"""The one orchestrator: the only place that sequences import -> passes -> quantize -> lower ->
schedule -> plan -> emit. Each build step reads files and writes its artifacts atomically; SCons builders
(site_scons/site_tools/nn_models.py), the CLI (cli.py) and the host runner call exactly these, so
they can never disagree about what an artifact contains.

    import_step    model files (frontend) + passes  -> graph.json + graph.npz       (float IR)
    quantize_step  float IR + calibration images    -> quant.json + quant.npz + quant_report.txt
    codegen_step   quantized IR: lower, schedule, plan, emit -> <name>.c + <name>.h + plan.txt + plan.json
                   (per target: for its kernel ISA's scratch and, with memory: auto, its RAM)
"""
import json
import sys
from pathlib import Path

from . import ir
from .errors import NnbuildError, atomic_write, remove_outputs

# The entry of each build step. The tool code a step depends on (a change to it rebuilds the
# step's outputs) is found by scanning imports from there (depscan), so a new module is
# tracked as soon as the step imports it.
STEP_ENTRIES = {
    "import": ["nnbuild.pipeline:import_step"],
    "quantize": ["nnbuild.pipeline:quantize_step"],
    "codegen": ["nnbuild.pipeline:codegen_step"],
    "gate": ["nnbuild.firmware:gate", "nnbuild.firmware:budgets_for"],
}

PACKAGE_DIR = Path(__file__).resolve().parent


def step_sources(step, known=None):
    """The package files `step` runs (`known`: depscan's optional cache of scanned modules)."""
    from .depscan import module_files

    return module_files(STEP_ENTRIES[step], PACKAGE_DIR, known=known)


def import_model(entry):
    """The IR graph for one manifest entry: its frontend's graph (with the entry's labels) after
    the graph passes (nnbuild.passes). A model that arrives quantized is taken as it is."""
    from . import passes
    from .frontends import load_model

    graph = load_model(entry)
    return graph.validate() if _is_quantized(graph) else passes.run(graph)


def _is_quantized(graph):
    return "quantization" in graph.meta


def load_calibration(entry, graph):
    from . import calibration

    q = entry.quantization
    if not q or not q.calibration:
        raise NnbuildError(f"model '{entry.name}' has no calibration data",
                           file=entry.manifest_path, where=f"models[{entry.index}].quantization",
                           expected="quantization: {calibration: FILE.npz}")
    shape = graph.tensors[graph.input].shape
    return calibration.load_images(q.calibration, shape, samples=q.samples,
                                   channel_order=graph.meta.get("channel_order", "RGB"))


def quantize_graph(entry, graph):
    """(quantized graph, report): calibrated with the entry's scheme, or as imported when the
    model arrived quantized (no calibration data needed, a report without tensors)."""
    from .quantize import quantize

    if _is_quantized(graph):
        given, have = entry.quantization.scheme, graph.meta["quantization"]["scheme"]
        if "quantization.scheme" in entry.lines and given != have:     # never silently another scheme
            raise NnbuildError(f"model '{entry.name}' arrives quantized with scheme {have}, and the manifest "
                               f"asks for {given}", file=entry.manifest_path, where=entry.where("quantization.scheme"),
                               expected=f"scheme: {have}, or no quantization section")
        source = graph.meta["quantization"].get("imported", "the model file")
        if graph.meta["quantization"].get("record"):    # a frontend's record: derive the integer params
            from .quantize.int8.imported import from_record

            graph = from_record(graph)
        return graph, {"scheme": have, "model": entry.name, "strategy": f"as imported from {source}", "samples": 0,
                       "warnings": []}
    pixels = load_calibration(entry, graph)
    report = {}
    q = entry.quantization
    qgraph = quantize(graph, pixels, q.scheme, strategy=q.strategy, report=report, options=q.options())
    return qgraph, report


def generate_model(qgraph, out_dir, name, memory="fast", arena_budget=None, isa="*"):
    """lower -> schedule -> plan -> emit for one quantized model; returns (steps, plan, [header,
    source]). `memory` (manifest: fast, small, auto) and `arena_budget` (bytes available to the
    arena, for auto) pick layer-by-layer or streamed execution (nnbuild.schedule); `isa` (the
    kernel variant linked with it, csources.isa_for; "*": kernels.ANY_ISA) sizes the kernels' scratch."""
    from .codegen import generate
    from .lower import lower
    from .planner import plan as make_plan
    from .schedule import choose

    steps = lower(qgraph, isa)
    _, p = choose(steps, qgraph, memory, arena_budget, lambda sch: make_plan(steps, qgraph, sch))
    return steps, p, generate(qgraph, p, steps, out_dir, name)


def import_step(entry, graph_json, graph_npz):
    with _cleanup_on_error([graph_json, graph_npz]):
        import_model(entry).save(graph_json, graph_npz)


def quantize_step(entry, graph_json, graph_npz, quant_json, quant_npz, report_txt, eval_data=None):
    """`eval_data` (an .npz with images and labels) adds float vs q7 top-1 to the report."""
    from . import calibration, quantrecord
    from .quantize import evaluate, format_report

    record = quantrecord.record_path(quant_json)
    with _cleanup_on_error([quant_json, quant_npz, report_txt, record]):
        record.unlink(missing_ok=True)      # rewritten last: until then nothing vouches for the files
        graph = ir.load_graph(graph_json, graph_npz)
        qgraph, report = quantize_graph(entry, graph)
        if eval_data and not _is_quantized(graph):     # an imported model has no float twin to compare
            evaluate(graph, qgraph, *calibration.load_eval_data(eval_data, graph), report=report)
        qgraph.save(quant_json, quant_npz)
        with atomic_write(report_txt, "w") as f:
            f.write(format_report(report))
        quantrecord.write_record(quant_json, quant_npz, entry, graph)
        for w in report["warnings"]:        # a warning, not an error: the build goes on
            sys.stderr.write(f"nnbuild: warning: model '{entry.name}': {w}\n")


def arena_budget(entry, qgraph, ram=None):
    """The bytes `memory: auto` lets the arena use: the model's own `budget.ram` (an arena limit)
    and, with `ram` (firmware.model_ram: the target's RAM budget less its stack and heap
    reserves), that less the app's I/O buffer (the scores: the input lives in the arena) and
    OTHER_RAM for the rest of the firmware's statics. None: no limit known (auto is then layer by layer)."""
    limits = [entry.budget["ram"]] if entry.budget.get("ram") else []
    if ram is not None:
        io = sum(qgraph.tensors[t].size for t in qgraph.outputs)
        limits.append(ram - io - OTHER_RAM)
    return min(limits) if limits else None


OTHER_RAM = 1024    # the app's and platform's other statics (measured on m0: 931 B)


def codegen_step(entry, quant_json, quant_npz, out_c, out_h, plan_txt, plan_json=None, ram=None, isa="*"):
    """`plan_json`: the plan as data (buffers, lifetimes, peak, MACs per step) for the build report;
    `ram`: the target's RAM for models (arena_budget), which `memory: auto` decides with; `isa`:
    the target's kernel variant (csources.isa_for), whose scratch sizes the plan reserves."""
    with _cleanup_on_error([out_c, out_h, plan_txt] + ([plan_json] if plan_json else [])):
        qgraph = ir.load_graph(quant_json, quant_npz)
        _, plan, _ = generate_model(qgraph, Path(out_c).parent, entry.name, memory=entry.memory,
                                    arena_budget=arena_budget(entry, qgraph, ram), isa=isa)
        with atomic_write(plan_txt, "w") as f:
            f.write(plan.format_table())
        if plan_json:
            with atomic_write(plan_json, "w") as f:
                f.write(json.dumps(plan.to_json_dict(), indent=1, sort_keys=True) + "\n")


class _cleanup_on_error:
    """Remove a step's outputs when it fails, so no half-done artifact is trusted later."""

    def __init__(self, outputs):
        self.outputs = outputs

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            remove_outputs(self.outputs)
        return False
