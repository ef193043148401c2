"""Where nnbuild's own files are, in a checkout and in an installed package alike: the firmware
templates (C kernels, app, boards, sources.json) are `firmware_template/` beside this module (a
link to the checkout's top-level folder; package data in a wheel), and the SCons tool
(`site_tools/`, a link to site_scons/site_tools)."""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = Path(__file__).parent.joinpath("firmware_template").resolve()
SITE_TOOLS_DIR = Path(__file__).parent.joinpath("site_tools").resolve()


def scons_tool_path():
    """The folder holding the `nnbuild` SCons tool: env.Tool('nnbuild', toolpath=[scons_tool_path()])."""
    return str(SITE_TOOLS_DIR)
