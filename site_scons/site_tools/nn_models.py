"""SCons tool `nn_models`: the model chain as builders with real dependencies.

    env.NnModel(entry)          import -> quantize -> codegen for one manifest entry; returns the
                                generated .c node. Artifacts go to <build_dir>/models/<name>/ (they do not
                                depend on the target, so several targets share them).
    env.NnRegistry(file, entries, frame_bytes)
                                nn_models.c: the models linked into one firmware and its I/O buffer.
    env.NnGate(elf, map)        memory map + budget gate: writes firmware.elf/memory_map.{json,txt}
                                only when the linked image fits.

Every builder's sources are what its output really depends on: the model's files (content
signatures), a Value holding the model's manifest entry (so editing one entry rebuilds one model)
and the Python modules of the step (a new quantizer rebuilds what it affects). The actions are thin:
they call nnbuild.pipeline / nnbuild.memmap, which hold the logic.
"""
import json
import sys

import SCons.Action
import SCons.Builder

from nnbuild import pipeline
from nnbuild.errors import NnbuildError


# The manifest fields each step reads: editing any other field (a budget, say) rebuilds nothing here.
IMPORT_FIELDS = ("name", "format", "prototxt", "weights", "input", "labels", "labels_file")


def _run_step(what, func):
    """Turn NnbuildError into one clear paragraph and a failed build step (no traceback)."""
    try:
        func()
    except NnbuildError as e:
        sys.stderr.write(f"nnbuild: error: {what}: {e}\n")
        return 1
    return 0


# -- import -----------------------------------------------------------------------------------

def _import_emitter(target, source, env):
    entry = env["NN_ENTRY"]
    out = env["NN_BUILD"].Dir(f"models/{entry.name}")
    targets = [out.File("graph.json"), out.File("graph.npz")]
    sources = [env.Value(entry.fingerprint(*IMPORT_FIELDS))] + [env.File(str(p)) for p in entry.import_files()]
    return targets, sources + [env.File(str(p)) for p in pipeline.step_sources("import")]


def _import_action(target, source, env):
    entry = env["NN_ENTRY"]
    return _run_step(f"importing model '{entry.name}'",
                     lambda: pipeline.import_step(entry, target[0].abspath, target[1].abspath))


# -- quantize ---------------------------------------------------------------------------------

def _quantize_emitter(target, source, env):
    entry = env["NN_ENTRY"]
    out = env["NN_BUILD"].Dir(f"models/{entry.name}")
    targets = [out.File("quant.json"), out.File("quant.npz"), out.File("quant_report.txt")]
    extra = [env.File(str(entry.quantization.calibration))] if entry.quantization.calibration else []
    return targets, list(source) + [env.Value(entry.fingerprint("quantization"))] + extra + \
        [env.File(str(p)) for p in pipeline.step_sources("quantize")]


def _quantize_action(target, source, env):
    entry = env["NN_ENTRY"]
    return _run_step(f"quantizing model '{entry.name}'", lambda: pipeline.quantize_step(
        entry, source[0].abspath, source[1].abspath, *(t.abspath for t in target)))


# -- codegen ----------------------------------------------------------------------------------

def _codegen_emitter(target, source, env):
    entry = env["NN_ENTRY"]
    out = env["NN_BUILD"].Dir(f"models/{entry.name}")
    targets = [out.File(f"{entry.name}.c"), out.File(f"{entry.name}.h"), out.File("plan.txt")]
    # only the name matters here: labels etc. reach codegen through the quantized graph
    return targets, list(source[:2]) + [env.Value(entry.name)] + \
        [env.File(str(p)) for p in pipeline.step_sources("codegen")]


def _codegen_action(target, source, env):
    entry = env["NN_ENTRY"]
    return _run_step(f"generating C for model '{entry.name}'", lambda: pipeline.codegen_step(
        entry, source[0].abspath, source[1].abspath, *(t.abspath for t in target)))


def _registry_action(target, source, env):
    """nn_models.c: the linked models, and an I/O buffer for the largest input + scores plus
    `frame_bytes` of camera frame (sizes read from each model's quantized graph)."""
    from nnbuild import codegen, ir

    spec = json.loads(source[0].read())

    def write():
        need = 0
        for q_json, q_npz in zip(source[1::2], source[2::2]):
            g = ir.load_graph(q_json.abspath, q_npz.abspath)
            need = max(need, g.tensors[g.input].size + sum(g.tensors[t].size for t in g.outputs))
        codegen.generate_registry(spec["names"], target[0].dir.abspath, pool_bytes=need + spec["frame_bytes"])

    return _run_step("writing the model registry", write)


def _nn_registry(env, target, entries, frame_bytes):
    """nn_models.c for the models `entries` linked into one firmware."""
    spec = env.Value(json.dumps({"names": [e.name for e in entries], "frame_bytes": frame_bytes}))
    quant = []
    for e in entries:
        d = env["NN_BUILD"].Dir(f"models/{e.name}")
        quant += [d.File("quant.json"), d.File("quant.npz")]
    return env.NnRegistryFile(target, [spec] + quant)


# -- memory map + budget gate -----------------------------------------------------------------

def _gate_action(target, source, env):
    from nnbuild import firmware

    return _run_step(f"checking memory of target '{env['NN_TARGET'].name}'", lambda: firmware.gate(
        unchecked_elf=source[0].abspath, map_file=source[1].abspath, target=env["NN_TARGET"],
        manifest=env["NN_MANIFEST"], entries=env["NN_ENTRIES"],
        elf=target[0].abspath, json_path=target[1].abspath, txt_path=target[2].abspath))


def _gate_emitter(target, source, env):
    from nnbuild import firmware

    d = target[0].dir
    budgets = firmware.budgets_for(env["NN_MANIFEST"], env["NN_TARGET"], env["NN_ENTRIES"])
    tool_code = [pipeline.PACKAGE_DIR / "memmap.py", pipeline.PACKAGE_DIR / "firmware.py"]
    return [d.File("firmware.elf"), d.File("memory_map.json"), d.File("memory_map.txt")], \
        list(source) + [env.Value(json.dumps(budgets, sort_keys=True))] + [env.File(str(p)) for p in tool_code]


def _nn_model(env, entry):
    """Chain the three steps for one model; returns the generated C file node."""
    e = env.Override({"NN_ENTRY": entry})
    d = env["NN_BUILD"].Dir(f"models/{entry.name}")
    graph = e.NnImport(d.File("graph.json"), [])
    quant = e.NnQuantize(d.File("quant.json"), graph)
    code = e.NnCodegen(d.File(f"{entry.name}.c"), quant)
    return code[0]


def generate(env):
    quiet = lambda verb: f"[nnbuild] {verb} $NN_ENTRY_NAME"  # noqa: E731
    env.Append(BUILDERS={
        "NnImport": SCons.Builder.Builder(
            action=SCons.Action.Action(_import_action, quiet("import")), emitter=_import_emitter),
        "NnQuantize": SCons.Builder.Builder(
            action=SCons.Action.Action(_quantize_action, quiet("quantize")), emitter=_quantize_emitter),
        "NnCodegen": SCons.Builder.Builder(
            action=SCons.Action.Action(_codegen_action, quiet("codegen")), emitter=_codegen_emitter),
        "NnRegistryFile": SCons.Builder.Builder(
            action=SCons.Action.Action(_registry_action, "[nnbuild] registry $TARGET")),
        "NnGate": SCons.Builder.Builder(
            action=SCons.Action.Action(_gate_action, "[nnbuild] memory map + budget gate $TARGET"),
            emitter=_gate_emitter),
    })
    env["NN_ENTRY_NAME"] = lambda target, source, env, for_signature: \
        env["NN_ENTRY"].name if "NN_ENTRY" in env else ""
    env.AddMethod(_nn_model, "NnModel")
    env.AddMethod(_nn_registry, "NnRegistry")


def exists(env):
    return True
