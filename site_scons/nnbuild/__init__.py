"""nnbuild: trained CNNs -> quantized C -> Cortex-M firmware, as an SCons build.

Pure functions live in this package; SCons glue lives in site_scons/site_tools/.
"""
__version__ = "0.1.0"


def scons_tool_path():
    """The folder of the `nnbuild` SCons tool: env.Tool('nnbuild', toolpath=[nnbuild.scons_tool_path()])."""
    from .paths import scons_tool_path

    return scons_tool_path()
