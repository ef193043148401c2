"""Exporters: write a quantized model in another tool chain's format (`nnbuild export --format F`).

An exporter is a module of this package that defines
  FORMAT   the name given to --format (e.g. "tflite")
  SUFFIX   the usual file suffix (".tflite")
  SCHEME   the quantization scheme it writes ("int8"): other models are refused
  export(qgraph) -> bytes   the whole file, deterministic, or NnbuildError naming the layer
  export_float(graph) -> bytes   optional: the float graph before quantization (`--float`)
A folder exporter (cmake) sets FOLDER = True (SCHEME None: any scheme) and defines instead
  export_folder(models, target, budgets, out_dir) -> number of files: every model
  [(name, quantized graph)] of the manifest for one target, written as one folder
Modules without FORMAT (e.g. tflite_schema, the schema facts) are helpers. Exporters are
discovered: adding a format is adding a module.
"""
import importlib
import pkgutil

from ..errors import NnbuildError


def _discover():
    found = {}
    for name in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        mod = importlib.import_module(f"{__name__}.{name}")
        fmt = getattr(mod, "FORMAT", None)
        if fmt is not None:
            if fmt in found:
                raise AssertionError(f"exporter format {fmt!r} defined twice")
            found[fmt] = mod
    return found


EXPORTERS = _discover()
FORMATS = tuple(sorted(EXPORTERS))


def exporter(fmt):
    """The exporter module of `fmt`, or a clear error listing the known formats."""
    mod = EXPORTERS.get(fmt)
    if mod is None:
        raise NnbuildError(f"unknown export format '{fmt}'", where="--format", expected="one of " + ", ".join(FORMATS))
    return mod


def export(qgraph, fmt):
    """The bytes of `qgraph` in format `fmt`; the model must be quantized with the exporter's scheme."""
    return exporter(fmt).export(qgraph)
