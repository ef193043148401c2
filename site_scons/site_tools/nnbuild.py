"""SCons tool `nnbuild`: models.yaml -> compiled model code in *your* SConstruct.

    env.Tool('nnbuild', toolpath=[nnbuild.scons_tool_path()])   # or this folder of a checkout
    models = env.NnModels('models.yaml', target='m4')  # import -> quantize -> codegen -> compile
    env.Append(CPPPATH=models.include_dirs)            # <model>.h, nn_model.h
    app = env.Program('app.elf', ['main.c', models.library])
    env.NnGate(app)                                    # memory map + budget gate + build report

NnModels returns an object with `library` (lib<NNBUILD_LIBNAME>.a), `objects` (the same objects:
generated models + the kernels of the target's ISA), `include_dirs`, `headers` (the generated
<model>.h), `entries` (manifest entries) and `target`. The kernels and models compile with the
environment's own $CC/$CCFLAGS/$CPPDEFINES plus nnbuild's include dirs. NnGate(program) checks
the linked image against the manifest's budgets and writes <stem>.checked.elf/.bin/.hex,
memory_map.{json,txt} and report.{json,html} beside it (NnGate(elf, program) names the ELF);
a link made with env.NnToolchain(target) also gives it the link map for a per-model account.
env.NnToolchain(target) applies nnbuild's own arm-none-eabi-gcc set-up for a target and returns
the board's start-up sources (startup.c, platform.c: semihosting I/O under QEMU), for a project
that has none of its own.

Construction variables (set with SetDefault; override them before or after env.Tool):
    NNBUILD_TARGET      target name when NnModels gets none (m0 ... m55, host)    default m4
    NNBUILD_BUILD_DIR   artifacts: <dir>/models/<model>/ (IR, quantized), <dir>/<target>/ (C, plan,
                        objects: <dir>/<target>/models/<model>/<model>.c/.h)   default #build/nnbuild
    NNBUILD_LIBNAME     name of the static library                                  default nnmodels
    NNBUILD_<STEP>COMSTR  what a step prints (IMPORT, QUANTIZE, CODEGEN, REGISTRY, GATE); "" is quiet
"""
import importlib
import os
import sys


def _package_back():
    """SCons registers a tool module in sys.modules under the tool's name, which is also the
    package's: put the package back (importing it from beside this folder when not installed)."""
    here = os.path.dirname(os.path.realpath(__file__))
    if getattr(sys.modules.get("nnbuild"), "__file__", None) == __file__:
        del sys.modules["nnbuild"]
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]
    try:
        try:
            return _attach(importlib.import_module("nnbuild"))
        except ImportError:   # a checkout's site_scons/site_tools used without installing the package
            sys.path.insert(0, os.path.dirname(here))
            return _attach(importlib.import_module("nnbuild"))
    finally:
        sys.path[:] = saved + [p for p in sys.path if p not in saved]


def _attach(package):
    """Submodules imported before the tool loaded stay attributes of the package."""
    for name, module in list(sys.modules.items()):
        if name.startswith("nnbuild.") and name.count(".") == 1 and module is not None:
            setattr(package, name.split(".", 1)[1], module)
    return package


_package_back()

from SCons.Script import Exit  # noqa: E402

from nnbuild import csources  # noqa: E402
from nnbuild import manifest as manifest_mod  # noqa: E402
from nnbuild import targets as targets_mod  # noqa: E402
from nnbuild.errors import NnbuildError  # noqa: E402
from nnbuild.paths import TEMPLATE_DIR  # noqa: E402

TOOLPATH = [os.path.dirname(os.path.abspath(__file__))]


class Models:
    """What NnModels built: link `library` (or `objects`), compile with `include_dirs`."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return f"<nnbuild models {[e.name for e in self.entries]} for {self.target.name}>"


def _fail(message):
    sys.stderr.write(f"scons: error: {message}\n")
    Exit(2)


def _node_dir(env, value):
    """A Dir node for a construction variable that is a node or a path ("#..." allowed)."""
    return value if hasattr(value, "abspath") else env.fs.Dir(env.subst(value))


def _build_dir(env):
    d = _node_dir(env, env["NNBUILD_BUILD_DIR"])
    env["NN_BUILD"] = d
    return d


def _template_dir(env, rel):
    """A folder of nnbuild's C templates as a node (a path relative to the project when inside it)."""
    return env.fs.Dir(str(TEMPLATE_DIR / rel))


def include_dirs(env, entries, target):
    """Kernel + app include dirs and each model's generated-code folder for `target`, as nodes."""
    return [env.fs.Dir(str(d)) for d in csources.include_dirs()] + \
        [env["NN_BUILD"].Dir(f"{target.name}/models/{e.name}") for e in entries]


def _select(manifest, target, models):
    if models:
        entries = [manifest.model(m) for m in ([models] if isinstance(models, str) else models)]
    else:
        entries = [e for e in manifest.models if e.builds_for(target.name)]
    if not entries:
        raise NnbuildError(f"no model of the manifest is built for target '{target.name}'",
                           file=manifest.path, where="models[*].targets")
    return entries


_GENERATED = {}   # (build dir, manifest, model, target) -> generated .c: each chain is declared once


def _generated(env, build, entry, target, manifest, isa):
    """The generated C of `entry` for `target` (in <build>/<target>/models/<model>/: planned for
    the target's kernel ISA and, with `memory: auto`, its RAM, firmware.model_ram); the import
    and quantize steps before it are shared by every target."""
    from nnbuild.firmware import model_ram

    key = (build.abspath, entry.manifest_path, entry.name, target.name)
    if key not in _GENERATED:
        ram = model_ram(manifest, target) if entry.memory == "auto" else None
        _GENERATED[key] = env.NnModel(entry, target.name, isa, ram)
    return _GENERATED[key]


def nn_models(env, manifest, target=None, models=None):
    """Build the manifest's models for `target`; returns a Models (see the module docstring).
    `manifest`: a path (relative to the calling SConscript), a File node or a loaded Manifest."""
    try:
        if isinstance(manifest, manifest_mod.Manifest):
            m = manifest
        else:
            node = manifest if hasattr(manifest, "abspath") else env.fs.File(str(manifest))
            m = manifest_mod.load_manifest(node.srcnode().abspath)
        t = targets_mod.get_target(target or env.subst("$NNBUILD_TARGET") or m.default_target or "m4")
        entries = _select(m, t, models)
        isa = csources.isa_for(t)
        kernels = csources.kernel_sources_rel(isa)
    except NnbuildError as e:
        _fail(str(e))
    build = _build_dir(env)
    out = build.Dir(t.name)
    generated = [_generated(env, build, e, t, m, isa) for e in entries]
    cenv = env.Clone(NN_TARGET=t)
    dirs = include_dirs(cenv, entries, t)
    cenv.AppendUnique(CPPPATH=dirs)
    template = env.fs.Dir(str(TEMPLATE_DIR))
    objects = []
    for rel in kernels:   # one object per kernel file: the linker keeps only what a model calls
        size = {"CCFLAGS": [*cenv["CCFLAGS"], "-Os"]} if csources.built_for_size(rel) else {}
        objects += cenv.Object(out.File(f"fw/{rel[:-2]}.o"), template.File(rel), **size)
    for e, c in zip(entries, generated):
        objects += cenv.Object(out.File(f"models/{e.name}.o"), c)
    library = cenv.StaticLibrary(out.File(env.subst("${LIBPREFIX}$NNBUILD_LIBNAME${LIBSUFFIX}")), objects)
    headers = [c.dir.File(f"{e.name}.h") for e, c in zip(entries, generated)]
    result = Models(library=library, objects=objects, include_dirs=dirs, headers=headers,
                    entries=entries, target=t, manifest=m, env=cenv)
    env["NNBUILD_MODELS"] = result   # NnGate's default
    return result


def nn_gate(env, target, program=None, models=None):
    """The budget gate on a linked image: NnGate(program) or NnGate(elf, program)."""
    if program is None:
        program, target = target, None
    nodes = env.arg2nodes(program, env.fs.File)
    if not nodes:
        _fail("NnGate needs the linked program (the node list env.Program returned)")
    models = models or env.get("NNBUILD_MODELS")
    if models is None:
        _fail("NnGate needs the models the program links: call env.NnModels(...) first or pass models=")
    if models.target.is_host:
        _fail("NnGate checks a firmware image's memory: the host target has no budget to check")
    elf = nodes[0]
    if target is None:
        stem = elf.name[:-len(".elf")] if elf.name.endswith(".elf") else elf.name
        target = elf.dir.File(stem + ".checked.elf")
    # the link map, when the link declared one (nnbuild's toolchain does): a per-model account
    sources = [elf] + [n for n in nodes[1:2] if n.name.endswith(".map")]
    over = {"NN_TARGET": models.target, "NN_MANIFEST": models.manifest, "NN_ENTRIES": models.entries,
            "NN_BUILD": models.env["NN_BUILD"], "NN_TARGET_NAME": models.target.name}
    if not env.get("OBJCOPY"):
        over["OBJCOPY"] = _objcopy(env)
    genv = env.Override(over)
    return genv.NnGateFiles(target, sources)


def _objcopy(env):
    cc = env.subst("$CC")
    return cc[:-len("gcc")] + "objcopy" if cc.endswith("gcc") else "objcopy"


def nn_toolchain(env, target=None):
    """nnbuild's arm-none-eabi-gcc set-up for `target` in this environment; returns the board's
    start-up sources (compile them when the project has no start-up code of its own)."""
    try:
        t = targets_mod.get_target(target or env.subst("$NNBUILD_TARGET"))
    except NnbuildError as e:
        _fail(str(e))
    env["NN_TARGET"] = t
    env.Tool("nn_toolchain", toolpath=TOOLPATH)
    return [env.fs.File(str(p)) for p in csources.board_sources()] + \
        [env.fs.File(str(TEMPLATE_DIR / "app" / "platform.c"))]


def generate(env):
    env.SetDefault(NNBUILD_TARGET="m4", NNBUILD_BUILD_DIR="#build/nnbuild", NNBUILD_LIBNAME="nnmodels")
    env.Tool("nn_models", toolpath=TOOLPATH)
    env.AddMethod(nn_models, "NnModels")
    env.AddMethod(nn_gate, "NnGate")
    env.AddMethod(nn_toolchain, "NnToolchain")


def exists(env):
    """A C compiler for $NNBUILD_TARGET: $CC when set, else arm-none-eabi-gcc (firmware targets)."""
    cc = env.subst("$CC")
    if cc:
        return env.Detect(cc)
    try:
        t = targets_mod.get_target(env.subst("$NNBUILD_TARGET") or "m4")
    except NnbuildError:
        return False
    return env.Detect("gcc" if t.is_host else "arm-none-eabi-gcc")
