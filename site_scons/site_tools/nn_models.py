"""SCons tool `nn_models`: the model chain as builders with real dependencies.

    env.NnModel(entry, target, isa, ram)
                                import -> quantize -> codegen for one manifest entry; returns the
                                generated .c node. The IR and quantized model go to
                                <build_dir>/models/<name>/ (they do not depend on the target, so
                                several targets share them); the C and its plan to
                                <build_dir>/<target>/models/<name>/ (they depend on the target's
                                kernel ISA, whose scratch the plan holds, and on its RAM for
                                `memory: auto`), so targets built in turn or together never
                                overwrite each other's.
    env.NnRegistry(file, entries, frame_bytes)
                                nn_models.c: the models linked into one firmware and its I/O buffer.
    env.NnGateFiles(elf, unchecked)
                                memory map + budget gate: writes firmware.elf/.bin/.hex and
                                memory_map.{json,txt} together (.bin/.hex named after the ELF), only when the linked image fits;
                                report.{json,html} (the build report) also when it does not.
    env.NnRemoveOnFailure(nodes)
                                delete `nodes` when the build fails (no old firmware looks valid).

Every builder's sources are what its output really depends on: the model's files (content
signatures), a Value holding only the manifest fields the step reads (so editing one entry
rebuilds one model, and a budget edit re-runs only the gate) and the Python modules of the step,
found by scanning its imports (nnbuild.depscan: a new quantizer rebuilds what it affects).
Paths become nodes through env.fs, never env.File: a "$" in a path is not an SCons variable.
The actions are thin: they call nnbuild.pipeline / nnbuild.firmware, which hold the logic.
"""
import json
import os
import sys

import SCons.Action
import SCons.Builder
from SCons.Script import Exit

from nnbuild import calibration, pipeline
from nnbuild.errors import NnbuildError


def _run_step(what, func):
    """Turn NnbuildError into one clear paragraph and a failed build step (no traceback)."""
    try:
        func()
    except NnbuildError as e:
        sys.stderr.write(f"nnbuild: error: {what}: {e}\n")
        return 1
    return 0


# -- the model chain: one table row per step -------------------------------------------------
#   outputs: file names in build/models/<model>/ (codegen: build/<target>/models/<model>/)
#   fields:  the manifest fields the step reads (editing any other field, a budget say, reruns nothing)
#   files:   input files besides the previous step's outputs (content signatures)
#   run:     the pipeline function, given the entry, the previous outputs and its own outputs
MODEL_STEPS = {
    "import": dict(
        verb="importing",
        outputs=lambda e: ["graph.json", "graph.npz"],
        fields=("name", "format", "source", "input", "labels", "labels_file"),
        files=lambda e: e.import_files(),
        run=lambda e, prev, out, tgt: pipeline.import_step(e, *out)),
    "quantize": dict(
        verb="quantizing",
        outputs=lambda e: ["quant.json", "quant.npz", "quant_report.txt"],
        fields=("quantization",),
        files=lambda e: calibration.source_files(e.quantization.calibration) if e.quantization.calibration else [],
        run=lambda e, prev, out, tgt: pipeline.quantize_step(e, *prev, *out)),
    "codegen": dict(
        verb="generating C for",
        outputs=lambda e: [f"{e.name}.c", f"{e.name}.h", "plan.txt", "plan.json"],
        fields=("name", "memory", "budget"),   # labels etc. reach the generator through the quantized graph
        files=lambda e: [],
        run=lambda e, prev, out, tgt: pipeline.codegen_step(e, *prev, *out, ram=tgt["ram"], isa=tgt["isa"])),
}
GLUE = __file__  # this file: a change to how steps are wired reruns them too


class _ScanCache(dict):
    """depscan's "module:sha256" -> imports, kept in <build_dir>/.depscan.json between runs so a
    no-op build parses no unchanged module. Valid only for the same depscan.py (its hash is
    stored); only the entries used by this run are written back."""

    def __init__(self, path):
        import hashlib

        from nnbuild import depscan

        self.path, self.used = path, set()
        with open(depscan.__file__, "rb") as f:
            self.scanner = hashlib.sha256(f.read()).hexdigest()
        try:
            with open(path) as f:
                data = json.load(f)
            modules = data["modules"] if data.get("scanner") == self.scanner else {}
            ok = isinstance(modules, dict) and all(isinstance(v, list) for v in modules.values())
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            ok = False
        super().__init__(modules if ok else {})
        self.loaded = dict(self)

    def __contains__(self, key):
        self.used.add(key)
        return super().__contains__(key)

    def save(self):
        keep = {k: self[k] for k in sorted(self.used) if k in self}
        if keep != self.loaded:
            from nnbuild.errors import atomic_write

            with atomic_write(self.path, "w") as f:
                json.dump({"scanner": self.scanner, "modules": keep}, f)


_SCAN_CACHE = {}   # build dir -> _ScanCache


def _step_sources(env, step):
    """The tool code of `step`, found by depscan (cached per build dir)."""
    import atexit

    d = env["NN_BUILD"].abspath
    if d not in _SCAN_CACHE:
        _SCAN_CACHE[d] = _ScanCache(os.path.join(d, ".depscan.json"))
        atexit.register(_SCAN_CACHE[d].save)
    try:
        return pipeline.step_sources(step, known=_SCAN_CACHE[d])
    except NnbuildError as e:   # tool code that cannot be scanned: one paragraph, no traceback
        sys.stderr.write(f"scons: error: finding the tool code of the {step} step: {e}\n")
        Exit(2)


# Manifest fields that hold file paths (absolute once the manifest is loaded). Their signature
# uses the path relative to the manifest, so two checkouts in different directories sign a step
# alike and share `cache=DIR`; the files' contents are signed on their own (content signatures).
PATH_FIELDS = {"source": None, "labels_file": (), "input": ("mean_file",), "quantization": ("calibration",)}


def portable_fingerprint(entry, fields):
    """entry.fingerprint(*fields) with every path made relative to the manifest's folder."""
    d = json.loads(entry.fingerprint(*fields))
    base = os.path.dirname(os.path.abspath(entry.manifest_path)) if entry.manifest_path else None

    def rel(v):
        return os.path.relpath(v, base) if base and isinstance(v, str) and os.path.isabs(v) else v

    for field, keys in PATH_FIELDS.items():
        if field not in d:
            continue
        if keys == ():
            d[field] = rel(d[field])
        elif isinstance(d[field], dict):
            for k in (d[field] if keys is None else keys):
                if k in d[field]:
                    d[field][k] = rel(d[field][k])
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


def _step_builder(step):
    # The closures hold only the step's name: SCons signs an action by its code and closure, and
    # the table's lambdas would be signed by their addresses (a rebuild on every run).
    def emitter(target, source, env):
        spec, entry = MODEL_STEPS[step], env["NN_ENTRY"]
        out = _model_dir(env, entry.name, env["NN_GEN"]["target"] if step == "codegen" else None)
        previous = list(source[:2])   # the previous step's .json + .npz (none for import)
        inputs = [env.Value(portable_fingerprint(entry, spec["fields"]))] + \
            [env.fs.File(str(p)) for p in [*spec["files"](entry), *_step_sources(env, step), GLUE]]
        if step == "codegen":   # the plan holds the ISA's scratch; memory: auto decides with the RAM
            inputs.append(env.Value(json.dumps(env["NN_GEN"], sort_keys=True)))
        return [out.File(n) for n in spec["outputs"](entry)], previous + inputs

    def action(target, source, env):
        spec, entry = MODEL_STEPS[step], env["NN_ENTRY"]
        prev = [s.abspath for s in source[:2]] if step != "import" else []
        return _run_step(f"{spec['verb']} model '{entry.name}'",
                         lambda: spec["run"](entry, prev, [t.abspath for t in target], env.get("NN_GEN")))

    return SCons.Builder.Builder(action=SCons.Action.Action(action, f"$NNBUILD_{step.upper()}COMSTR"),
                                 emitter=emitter)


def _registry_action(target, source, env):
    """nn_models.c: the linked models, and an I/O buffer for the largest scores plus `frame_bytes`
    of camera frame (sizes read from each model's quantized graph; the app prepares each model's
    input in its arena, at the descriptor's `input`)."""
    from nnbuild import codegen, ir

    spec = json.loads(source[0].read())

    def write():
        need = 0
        for q_json, q_npz in zip(source[1::2], source[2::2]):
            g = ir.load_graph(q_json.abspath, q_npz.abspath)
            need = max(need, sum(g.tensors[t].size for t in g.outputs))
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
# One action writes the whole flashable set, so it is always from one link: SCons deletes a
# target's old outputs before running its action, and the gate renames its new ones into place
# together only after every budget holds (never an ELF of one build beside a .bin of another).
# The build report (report.json + its rendering report.html) is written also when the gate fails.
GATE_OUTPUTS = ("firmware.elf", "firmware.bin", "firmware.hex", "memory_map.json", "memory_map.txt",
                "report.json", "report.html")
REPORT_OUTPUTS = ("report.json", "report.html")


def _model_dir(env, name, target=None):
    """Where a model's artifacts go: <build>/models/<name>/ (import, quantize: shared by the
    targets) or, given the target's name, <build>/<target>/models/<name>/ (codegen)."""
    return env["NN_BUILD"].Dir(f"{target}/models/{name}" if target else f"models/{name}")


def _plans(env):
    """Each linked model's plan.json (codegen's, for this target), the report's per-model data."""
    return {e.name: _model_dir(env, e.name, env["NN_TARGET"].name).File("plan.json") for e in env["NN_ENTRIES"]}


def _gate_action(target, source, env):
    from nnbuild import firmware

    return _run_step(f"checking memory of target '{env['NN_TARGET'].name}'", lambda: firmware.gate(
        unchecked_elf=source[0].abspath, map_file=source[1].abspath, target=env["NN_TARGET"],
        manifest=env["NN_MANIFEST"], entries=env["NN_ENTRIES"],
        outputs=dict(zip(("elf", "bin", "hex", "json", "txt", "report_json", "report_html"),
                         (t.abspath for t in target))),
        objcopy=env.subst("$OBJCOPY"), plans={name: f.abspath for name, f in _plans(env).items()}))


def _gate_emitter(target, source, env):
    from nnbuild import firmware

    d = target[0].dir
    budgets = firmware.budgets_for(env["NN_MANIFEST"], env["NN_TARGET"], env["NN_ENTRIES"])
    tool_code = [env.fs.File(str(p)) for p in _step_sources(env, "gate")]
    # the target's whole table row (regions, stack reserve, ...): the report and the check use it
    table = env.Value(repr(env["NN_TARGET"]))
    plans = [f for _, f in sorted(_plans(env).items())]
    # the ELF as named; .bin/.hex after its stem; the memory map and report beside it
    stem = target[0].name[:-len(".elf")] if target[0].name.endswith(".elf") else target[0].name
    names = [target[0].name, stem + ".bin", stem + ".hex", *GATE_OUTPUTS[3:]]
    return [d.File(n) for n in names], \
        list(source) + plans + [env.Value(json.dumps(budgets, sort_keys=True)), table] + tool_code


def _remove_on_failure(env, outputs, keep_for=()):
    """When any build step fails (except the named aliases, e.g. a failed `scons check`), delete
    `outputs` at exit: a failed rebuild must not leave the previous firmware looking valid."""
    import atexit

    from SCons.Script import GetBuildFailures

    from nnbuild.errors import remove_outputs

    def at_exit():
        failed = [f for f in GetBuildFailures() if str(f.node) not in keep_for]
        # the gate itself failed: its report describes this build (and its message points to it)
        own = any(f.node in outputs for f in failed)
        stale = [n for n in outputs if not (own and n.name in REPORT_OUTPUTS)]
        present = [n for n in stale if os.path.exists(n.abspath)]   # not the cached n.exists()
        if failed and present:
            remove_outputs([n.abspath for n in present])
            sys.stderr.write("nnbuild: removed the previous " + ", ".join(n.name for n in present)
                             + " of this target: they would not match the inputs of this failed build\n")

    atexit.register(at_exit)


def _nn_model(env, entry, target, isa, ram=None):
    """Chain the three steps for one model on `target` (its name); returns the generated C file
    node. `isa`: the target's kernel variant (csources.isa_for), whose scratch the plan reserves;
    `ram`: the target's RAM for models (firmware.model_ram), for `memory: auto`. Import and
    quantize are declared once per build dir however many targets ask (SCons would refuse two
    builders for one file)."""
    e = env.Override({"NN_ENTRY": entry, "NN_GEN": {"target": target, "isa": isa, "ram": ram}})
    d = _model_dir(env, entry.name)
    quant_json = d.File("quant.json")
    if quant_json.has_builder():
        quant = [quant_json, d.File("quant.npz")]
    else:
        graph = e.NnImport(d.File("graph.json"), [])
        quant = e.NnQuantize(quant_json, graph)
    code = e.NnCodegen(_model_dir(env, entry.name, target).File(f"{entry.name}.c"), quant)
    return code[0]


def generate(env):
    env.Append(BUILDERS={
        "NnImport": _step_builder("import"),
        "NnQuantize": _step_builder("quantize"),
        "NnCodegen": _step_builder("codegen"),
        "NnRegistryFile": SCons.Builder.Builder(
            action=SCons.Action.Action(_registry_action, "$NNBUILD_REGISTRYCOMSTR")),
        "NnGateFiles": SCons.Builder.Builder(
            action=SCons.Action.Action(_gate_action, "$NNBUILD_GATECOMSTR"),
            emitter=_gate_emitter),
    })
    # what each step prints (SCons convention: set $NNBUILD_<STEP>COMSTR to "" for a quiet build)
    env.SetDefault(**{f"NNBUILD_{step.upper()}COMSTR": f"[nnbuild] {step} $NN_ENTRY_NAME" for step in MODEL_STEPS},
                   NNBUILD_REGISTRYCOMSTR="[nnbuild] registry $TARGET",
                   NNBUILD_GATECOMSTR="[nnbuild] memory map + budget gate $TARGET")
    env["NN_ENTRY_NAME"] = lambda target, source, env, for_signature: \
        env["NN_ENTRY"].name if "NN_ENTRY" in env else ""
    env.AddMethod(_nn_model, "NnModel")
    env.AddMethod(_nn_registry, "NnRegistry")
    env.AddMethod(_remove_on_failure, "NnRemoveOnFailure")


def exists(env):
    return True
