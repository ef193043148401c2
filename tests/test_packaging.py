"""pyproject.toml: a wheel of nnbuild carries every module, the `nnbuild` command and the firmware
templates (every C source of sources.json) as package data, found through nnbuild.paths."""
import shutil
import subprocess
import sys
import zipfile

from conftest import ROOT
from nnbuild import csources


def test_wheel_has_the_package_the_command_and_the_firmware_templates(tmp_path):
    src = tmp_path / "src"        # build from a copy: an in-tree build leaves build/ and egg-info behind
    for name in ("site_scons", "firmware_template"):
        shutil.copytree(ROOT / name, src / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (wheel,) = (tmp_path / "dist").glob("nnbuild-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT / "site_scons")) for p in (ROOT / "site_scons" / "nnbuild").rglob("*.py")
               if "firmware_template" not in p.parts}
    assert modules and modules <= names, sorted(modules - names)
    c_files = csources.kernel_sources("ref") + csources.kernel_sources("dsp") + csources.app_sources()
    wanted = {f"nnbuild/firmware_template/{p.relative_to(csources.TEMPLATE_DIR).as_posix()}"
              for p in [csources.LIST_FILE, csources.TEMPLATE_DIR / "kernels" / "nn_kernels.h", *c_files]}
    assert wanted <= names, sorted(wanted - names)
    # the SCons tool, found by env.Tool('nnbuild', toolpath=[nnbuild.scons_tool_path()])
    tools = {f"nnbuild/site_tools/{n}.py" for n in ("nnbuild", "nn_models", "nn_toolchain", "nn_trust")}
    assert tools <= names, sorted(tools - names)
    assert {"nnbuild/cycles/cycle_plugin.c", "nnbuild/cycles/qemu_plugin_api.h"} <= names   # bench's cycle plugin
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "nnbuild = nnbuild.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
