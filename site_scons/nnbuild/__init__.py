"""nnbuild: trained CNNs -> quantized C -> Cortex-M firmware, as an SCons build.

Pure functions live in this package; SCons glue lives in site_scons/site_tools/.
"""
__version__ = "0.1.0"
