"""`nnbuild export --format cmake`: a self-contained folder a CMake project adds with add_subdirectory().

    CMakeLists.txt        library nnbuild_models (OBJECT: the memory map sees its files; ALIAS
                          nnbuild::models); on firmware targets the
                          board library nnbuild_board (ALIAS nnbuild::board) and the function
                          nnbuild_gate(<executable>): nnbuild's memory map + budget gate after each link
    toolchain-<t>.cmake   arm-none-eabi-gcc with the target's -mcpu/-mthumb/-mfloat-abi/-mfpu
    nnbuild.json          what was exported: target, kernel ISA, models, budgets (the gate's input)
    models/<name>/        the generated <name>.c/.h of every model the manifest builds for the target
    kernels/, app/        exactly the kernel sources those models call on the target's ISA (and the
                          kernels those call), and the headers they include, at their
                          firmware_template/ paths
    board/                start-up code, semihosting platform and linker scripts of QEMU's board

The folder is assembled under a temporary name and renamed into place (whole or absent); its bytes
depend only on the inputs: no dates, no paths of the generating machine (CMake paths are relative
to CMAKE_CURRENT_SOURCE_DIR, and the gate finds nnbuild through NNBUILD_PYTHON / NNBUILD_ROOT).
"""
import json
import os
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from .. import csources
from ..errors import NnbuildError
from ..paths import TEMPLATE_DIR

FORMAT = "cmake"
FOLDER = True          # writes one folder for many models (export_folder), not one file (export)
SCHEME = None          # q7 and int8 models alike
MARKER = "nnbuild.json"
BOARD_FILES = ("boards/common/startup.c", "app/platform.c", "app/platform.h", "boards/common/sections.ld")
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"', re.M)
_IDENT = re.compile(r"\bnn_[A-Za-z0-9_]+\b")
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)    # kernels name each other in comments


def kernel_closure(symbols, isa, template=TEMPLATE_DIR):
    """The kernel sources (relative to firmware_template/) that define `symbols` on `isa`, and
    the kernels those call. A kernel's functions live in the file named after it (nn_x.c
    defines nn_x and its helpers): the rule the source list and the kernel registry share."""
    by_stem = {PurePosixPath(r).stem: r for r in csources.kernel_sources_rel(isa)}
    missing = sorted(set(symbols) - set(by_stem))
    if missing:
        raise NnbuildError(f"no kernel source defines {', '.join(missing)}", file=csources.LIST_FILE,
                           where=f"kernels.isa.{isa}", expected="a file <symbol>.c for every kernel symbol")
    todo, done = sorted(set(symbols)), set()
    while todo:
        stem = todo.pop()
        if stem not in done:
            done.add(stem)
            text = _COMMENT.sub(" ", (Path(template) / by_stem[stem]).read_text())
            todo += sorted(s for s in set(_IDENT.findall(text)) if s in by_stem and s not in done)
    return sorted(by_stem[s] for s in done)


def header_closure(texts, include_dirs, template=TEMPLATE_DIR):
    """Every firmware_template/ header reached from `texts` [(folder relative to the template,
    C text)] through #include "...", looked up as the compiler does (the including file's folder,
    then `include_dirs`); names found nowhere (the models' own headers) are skipped."""
    seen, todo = set(), list(texts)
    while todo:
        folder, text = todo.pop()
        for name in _INCLUDE.findall(text):
            for d in [folder, *include_dirs]:
                cand = PurePosixPath(d) / name
                if (Path(template) / cand).is_file():
                    if str(cand) not in seen:
                        seen.add(str(cand))
                        todo.append((str(cand.parent), (Path(template) / cand).read_text()))
                    break
    return sorted(seen)


def folder_files(models, target, budgets):
    """{relative path: bytes} of the whole exported folder. `models`: [(name, {file name: C text},
    kernel symbols it calls)], `target`: targets.Target, `budgets`: firmware.budgets_for(...)."""
    isa = csources.isa_for(target)
    kinc = [p.as_posix() for p in csources.kernel_include_dirs(root=PurePosixPath())]
    ainc = [p.as_posix() for p in csources.include_dirs(root=PurePosixPath())][len(kinc):]
    files = {}
    symbols = set()
    for name, generated, syms in models:
        files.update({f"models/{name}/{f}": t.encode() for f, t in sorted(generated.items())})
        symbols |= set(syms)
    kernels = kernel_closure(symbols, isa)
    texts = [("", t) for _, generated, _ in models for t in generated.values()]
    texts += [(str(PurePosixPath(k).parent), (TEMPLATE_DIR / k).read_text()) for k in kernels]
    # the board's files go to board/ as they are: its own header is among them, nn_model.h is
    # the models' (platform.c includes both)
    board = [] if target.is_host else [*BOARD_FILES, f"boards/{target.board}/board.ld"]
    headers = header_closure(texts, kinc + ainc)
    for rel in kernels + headers:
        files[rel] = (TEMPLATE_DIR / rel).read_bytes()
    for rel in board:
        files[f"board/{PurePosixPath(rel).name}"] = (TEMPLATE_DIR / rel).read_bytes()
    names = [n for n, _, _ in models]
    info = {"format": 1, "target": target.name, "isa": isa, "models": names, "budgets": budgets,
            "kernels": kernels}
    files[MARKER] = (json.dumps(info, indent=1, sort_keys=True) + "\n").encode()
    if not target.is_host:
        files[f"toolchain-{target.name}.cmake"] = toolchain_text(target).encode()
    files["CMakeLists.txt"] = cmakelists_text(target, isa, names, kernels, kinc, ainc).encode()
    return dict(sorted(files.items()))


def toolchain_text(target):
    flags = " ".join(target.cflags)
    return f"""# Generated by nnbuild: arm-none-eabi-gcc for target {target.name} ({target.cpu}).
#   cmake -DCMAKE_TOOLCHAIN_FILE=<this folder>/toolchain-{target.name}.cmake ...
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "objcopy of the toolchain (the gate writes .bin/.hex)")
# the compiler's own test program cannot link without a board: test by compiling only
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
# The machine flags: in the initial flags, and (through NNBUILD_MACHINE_FLAGS) as usage
# requirements of nnbuild::models, so a -DCMAKE_C_FLAGS=... of the user cannot drop them
set(NNBUILD_MACHINE_FLAGS {flags})
set(CMAKE_C_FLAGS_INIT "{flags}")
set(CMAKE_ASM_FLAGS_INIT "{flags}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
"""


def _paths(rels, indent="    "):
    return "\n".join(f"{indent}${{CMAKE_CURRENT_SOURCE_DIR}}/{r}" for r in rels)


def cmakelists_text(target, isa, names, kernels, kinc, ainc):
    sources = [f"models/{n}/{n}.c" for n in names] + kernels
    public = ainc + [f"models/{n}" for n in names]
    text = f"""# Generated by nnbuild (`nnbuild export --format cmake`). Do not edit: export again.
# Models {", ".join(names)} for target {target.name}; kernels: the {isa} variant.
#
#   add_subdirectory(<this folder> nnbuild)
#   target_link_libraries(app PRIVATE nnbuild::models)     # <model>.h: <model>_run(pixels, scores)
""" + ("" if target.is_host else f"""#   target_link_libraries(app PRIVATE nnbuild::board)      # optional: QEMU's {target.machine} board
#   nnbuild_gate(app)                                      # optional: memory map + budget gate
# Firmware: cmake -DCMAKE_TOOLCHAIN_FILE=<this folder>/toolchain-{target.name}.cmake ...
""") + f"""cmake_minimum_required(VERSION 3.16)
project(nnbuild_models LANGUAGES C)

add_library(nnbuild_models OBJECT
{_paths(sources)}
)
add_library(nnbuild::models ALIAS nnbuild_models)
set_target_properties(nnbuild_models PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_include_directories(nnbuild_models
  PUBLIC
{_paths(public)}
  PRIVATE
{_paths(kinc)}
)
# one section per function and array: --gc-sections drops what the models do not use
target_compile_options(nnbuild_models PRIVATE $<$<C_COMPILER_ID:GNU,Clang>:-ffunction-sections -fdata-sections>)
# with nnbuild's toolchain file: its -mcpu/-mfpu/-mfloat-abi for the models and whatever links them
if(CMAKE_CROSSCOMPILING AND NNBUILD_MACHINE_FLAGS)
  target_compile_options(nnbuild_models PUBLIC ${{NNBUILD_MACHINE_FLAGS}})
  target_link_options(nnbuild_models INTERFACE ${{NNBUILD_MACHINE_FLAGS}})
endif()
"""
    if isa == "dsp":
        text += """
# The dsp kernels use the DSP extension's intrinsics where the compiler targets a core that has it
# (__ARM_FEATURE_DSP, from -mcpu) and their bit-exact C emulation elsewhere (a host build).
if(CMAKE_CROSSCOMPILING)
  set(_nnbuild_emulate OFF)
else()
  set(_nnbuild_emulate ON)
endif()
option(NNBUILD_EMULATE_DSP "compile the dsp kernels with the C emulation of the DSP intrinsics" ${_nnbuild_emulate})
if(NNBUILD_EMULATE_DSP)
  target_compile_definitions(nnbuild_models PRIVATE NN_EMULATE_DSP)
endif()
"""
    if target.is_host:
        return text
    return text + f"""
# QEMU's {target.machine} board: vector table and reset (startup.c), semihosting stdio/argv/exit
# (platform.c), linker scripts with the stack and heap reserves the gate counts. Defined for
# firmware builds (a toolchain file) only, as is the gate.
set(NNBUILD_PYTHON "" CACHE FILEPATH "Python that runs nnbuild's gate (nnbuild installed, or see NNBUILD_ROOT)")
set(NNBUILD_ROOT "" CACHE PATH "an nnbuild checkout whose site_scons/ holds the nnbuild package")
set(NNBUILD_EXPORT_DIR "${{CMAKE_CURRENT_SOURCE_DIR}}" CACHE INTERNAL "the exported folder (nnbuild.json)")
if(NOT CMAKE_CROSSCOMPILING)
  function(nnbuild_gate tgt)
    message(FATAL_ERROR "nnbuild_gate(${{tgt}}): the gate measures firmware images; configure with "
                        "-DCMAKE_TOOLCHAIN_FILE=${{NNBUILD_EXPORT_DIR}}/toolchain-{target.name}.cmake")
  endfunction()
  return()
endif()

add_library(nnbuild_board OBJECT
    ${{CMAKE_CURRENT_SOURCE_DIR}}/board/startup.c
    ${{CMAKE_CURRENT_SOURCE_DIR}}/board/platform.c
)
add_library(nnbuild::board ALIAS nnbuild_board)
set_target_properties(nnbuild_board PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_include_directories(nnbuild_board PUBLIC ${{CMAKE_CURRENT_SOURCE_DIR}}/board
  PRIVATE ${{CMAKE_CURRENT_SOURCE_DIR}}/app)
if(NNBUILD_MACHINE_FLAGS)
  target_compile_options(nnbuild_board PUBLIC ${{NNBUILD_MACHINE_FLAGS}})
endif()
target_link_options(nnbuild_board INTERFACE
    -nostartfiles --specs=rdimon.specs
    -T${{CMAKE_CURRENT_SOURCE_DIR}}/board/board.ld -L${{CMAKE_CURRENT_SOURCE_DIR}}/board
    LINKER:--defsym=__stack_size={target.stack_bytes} LINKER:--defsym=__heap_size={target.heap_bytes}
    LINKER:--gc-sections
)

# nnbuild_gate(<executable>): after each link, nnbuild measures the image (memory map: the
# .map file this adds) and checks it against the manifest's budgets for {target.name} (saved in
# nnbuild.json); over budget, the image is deleted and the build fails with nnbuild's message.
# nnbuild is found through NNBUILD_PYTHON (a Python that can import nnbuild) and, for a checkout
# that is not installed, NNBUILD_ROOT (its site_scons/ goes on PYTHONPATH).
function(nnbuild_gate tgt)
  if(NOT NNBUILD_PYTHON)
    message(FATAL_ERROR "nnbuild_gate(${{tgt}}): set NNBUILD_PYTHON to a Python that can import nnbuild "
                        "(and NNBUILD_ROOT to an nnbuild checkout if it is not installed)")
  endif()
  set(map "${{CMAKE_CURRENT_BINARY_DIR}}/${{tgt}}.map")
  target_link_options(${{tgt}} PRIVATE "LINKER:-Map=${{map}}")
  set(run ${{NNBUILD_PYTHON}})
  if(NNBUILD_ROOT)
    set(run ${{CMAKE_COMMAND}} -E env "PYTHONPATH=${{NNBUILD_ROOT}}/site_scons" ${{NNBUILD_PYTHON}})
  endif()
  add_custom_command(TARGET ${{tgt}} POST_BUILD
    COMMAND ${{run}} -m nnbuild.cli gate --export "${{NNBUILD_EXPORT_DIR}}" --elf "$<TARGET_FILE:${{tgt}}>"
            --map "${{map}}" --objcopy "${{CMAKE_OBJCOPY}}"
    COMMENT "nnbuild: memory map + budget gate of ${{tgt}}"
    VERBATIM)
endfunction()
"""


def write_folder(files, out_dir):
    """Write `files` ({relative path: bytes}) as the folder `out_dir`, replacing a previous export
    (a folder holding nnbuild.json) and nothing else; whole or absent."""
    out = Path(out_dir)
    if out.exists() and not (out.is_dir() and ((out / MARKER).is_file() or not any(out.iterdir()))):
        raise NnbuildError("the output exists and is not an nnbuild CMake export", file=out,
                           expected="a new folder, an empty one or a previous export (with nnbuild.json)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as e:
        raise NnbuildError(f"cannot create the export folder: {e.strerror}", file=out,
                           expected="a writable folder path") from None
    try:
        for rel, data in files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        old = None
        if out.exists():
            old = out.with_name(f"{tmp.name}.old")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise NnbuildError(f"cannot write the export folder: {e.strerror}", file=e.filename or out,
                           expected="a writable folder with room for the export") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def export_folder(models, target, budgets, out_dir):
    """Export `models` [(name, quantized ir.Graph)] for `target`; returns the number of files."""
    from .. import kernels
    from ..pipeline import generate_model

    generated = []
    with tempfile.TemporaryDirectory(prefix="nnbuild-cmake-") as tmp:
        for name, qgraph in models:
            steps, _, paths = generate_model(qgraph, tmp, name, isa=csources.isa_for(target))
            marker = {kernels.LAYOUT_SOURCE} if any(s.layout for s in steps) else set()
            generated.append((name, {Path(p).name: Path(p).read_text() for p in paths},
                              sorted({s.kernel for s in steps} | marker)))
    files = folder_files(generated, target, budgets)
    write_folder(files, out_dir)
    return len(files)


# -- the gate, run by nnbuild_gate() through `nnbuild gate` --------------------------------------

def load_info(export_dir):
    path = Path(export_dir) / MARKER
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise NnbuildError(f"cannot read the export's description: {getattr(e, 'strerror', None) or e}",
                           file=path, expected="the nnbuild.json of `nnbuild export --format cmake`") from None
    if not isinstance(info, dict) or info.get("format") != 1 or not isinstance(info.get("models"), list):
        raise NnbuildError("not an nnbuild CMake export description", file=path,
                           expected='format 1 with "target", "models" and "budgets" (export again)')
    return info


def gate(export_dir, elf, map_file, objcopy="arm-none-eabi-objcopy"):
    """nnbuild's budget gate (firmware.gate) on a user's linked `elf`: writes <elf>.bin/.hex and
    <elf>.memory_map.json/.txt beside it when every budget of nnbuild.json holds; else deletes
    the ELF and raises the gate's message. Returns the memory map text."""
    from types import SimpleNamespace

    from .. import firmware
    from ..targets import get_target

    info = load_info(export_dir)
    target = get_target(info["target"])
    if target.is_host:
        raise NnbuildError("the gate measures firmware images, and this export is for the host",
                           file=Path(export_dir) / MARKER, expected="an export for a firmware target")
    budgets = info.get("budgets") or {}
    manifest = SimpleNamespace(budget=lambda _t: dict(budgets.get("target") or {}))
    entries = [SimpleNamespace(name=n, budget=(budgets.get("models") or {}).get(n)) for n in info["models"]]
    elf = Path(elf)
    base = elf.with_suffix("") if elf.suffix == ".elf" else elf
    outputs = {"elf": elf, "bin": Path(f"{base}.bin"), "hex": Path(f"{base}.hex"),
               "json": Path(f"{base}.memory_map.json"), "txt": Path(f"{base}.memory_map.txt")}
    firmware.gate(elf, map_file, target, manifest, entries, outputs, objcopy=objcopy)
    return outputs["txt"].read_text()
