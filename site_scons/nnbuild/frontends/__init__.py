"""Model frontends: each turns a framework's files into a float (or already quantized) ir.Graph.

A frontend is a subpackage of this package whose __init__ defines FRONTEND = Frontend(format,
files, load, source_files, required) and imports nothing heavy (the manifest loader reads it):
  source_files  the keys of its manifest section `<format>: {...}` that name files (resolved
                relative to the manifest into entry.source); `required` of them must be given
  files(entry)  the files the import reads (the build's dependencies), from the manifest entry
  load(entry)   -> Imported(graph, quantized): the graph in the IR's conventions (HWC, one
                input_stage); `quantized` is true for models that arrive quantized (their graph
                then carries meta["quantization"] and the pipeline skips calibration)
Frontends are discovered: adding a format is adding a subpackage. Graph rewrites are not a
frontend's job (nnbuild.passes); load_model(entry) is what the pipeline calls.
"""
import importlib
import pkgutil
from dataclasses import dataclass

from ..errors import NnbuildError


@dataclass(frozen=True)
class Frontend:
    format: str
    files: object
    load: object
    source_files: tuple = ()
    required: tuple = ()


@dataclass
class Imported:
    graph: object
    quantized: bool = False


def _discover():
    """Every subpackage is a frontend; its __init__ declares FRONTEND (and stays light)."""
    found = {}
    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if m.ispkg:
            fe = importlib.import_module(f"{__name__}.{m.name}").FRONTEND
            found[fe.format] = fe
    return found


FRONTENDS = _discover()
FORMATS = tuple(sorted(FRONTENDS))


def frontend(entry):
    fe = FRONTENDS.get(entry.format)
    if fe is None:
        raise NnbuildError(f"unknown model format '{entry.format}'", file=entry.manifest,
                           where=f"model '{entry.name}'", expected="one of " + ", ".join(FORMATS))
    return fe


def load_model(entry):
    """Import the model a manifest entry describes; the graph's name is the entry's name and
    its meta carries the labels (if any). A quantized import carries meta["quantization"]."""
    entry.check_files()
    imported = frontend(entry).load(entry)
    graph = imported.graph
    if imported.quantized and "quantization" not in graph.meta:
        raise AssertionError(f"frontend {entry.format} returned a quantized graph without its scheme")
    if entry.labels is not None:
        out_n = graph.tensors[graph.outputs[0]].size
        if len(entry.labels) != out_n:
            raise NnbuildError(f"{len(entry.labels)} labels for a model with {out_n} outputs",
                               file=entry.labels_file or entry.manifest,
                               where=entry.where("labels"),
                               expected=f"{out_n} labels, one per output")
        graph.meta["labels"] = list(entry.labels)
    return graph
