"""Quantization of a float IR graph against calibration images, by a pluggable scheme.

    qgraph = quantize(graph, calib_pixels, scheme="q7", strategy="mse", report=report_dict)
    print(format_report(report_dict))

A scheme is a subpackage (q7/, int8/) exporting NAME, STRATEGIES, DEFAULT_STRATEGY,
quantize(fgraph, pixels, strategy, warnings[, options]), GOLDEN (op type -> bit-exact integer op),
dequantize(q, tensor), output_affine(tensor) and describe(tensor) (its format in a few words, for
the report); a scheme with options (int8: per_channel) lists their defaults in OPTIONS. Schemes are discovered: adding one is adding a
subpackage. The manifest's `quantization.scheme` selects it; the quantized graph records it in
meta["quantization"]["scheme"], from which later stages find it (scheme_of).
Shared here: range statistics (stats.py), the report (report.py) and lookup tables (tables.py).
"""
import importlib
import pkgutil

from ..errors import NnbuildError

DEFAULT_SCHEME = "q7"
MIN_SAMPLES = 10

__all__ = ["quantize", "scheme", "scheme_of", "schemes", "format_report", "evaluate", "DEFAULT_SCHEME"]


def schemes():
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


def scheme(name, where="quantization.scheme"):
    """The scheme package called `name`, or a clear error listing the known ones."""
    if name not in schemes():
        raise NnbuildError(f"unknown quantization scheme '{name}'", where=where,
                           expected="one of " + ", ".join(schemes()))
    return importlib.import_module(f"{__name__}.{name}")


def scheme_of(qgraph):
    """The scheme a quantized graph was made with."""
    q = qgraph.meta.get("quantization")
    if not q or "scheme" not in q:
        raise NnbuildError("the graph is not quantized", where=f"model '{qgraph.name}'",
                           expected="a graph from nnbuild.quantize")
    return scheme(q["scheme"], where=f"model '{qgraph.name}' meta.quantization")


def quantize(graph, calib_pixels, scheme_name=DEFAULT_SCHEME, strategy=None, report=None, options=None):
    """A NEW quantized graph (the input graph is not modified).

    graph: a float graph after the pipeline's passes (nnbuild.passes).
    calib_pixels: uint8 (N, H, W, C) in the model's channel order, N >= 10.
    report: optional dict, filled with the quantization report (see report.measure).
    options: optional dict of scheme options (e.g. int8's {"per_channel": False})."""
    from .. import reference
    from .report import measure

    s = scheme(scheme_name)
    strategy = strategy or s.DEFAULT_STRATEGY
    if strategy not in s.STRATEGIES:
        raise NnbuildError(f"unknown quantization strategy '{strategy}' for scheme {s.NAME}",
                           where="quantization.strategy", expected=" or ".join(s.STRATEGIES))
    known = getattr(s, "OPTIONS", {})
    unknown = sorted(set(options or {}) - set(known))
    if unknown:
        raise NnbuildError(f"unknown option(s) {', '.join(map(repr, unknown))} for quantization scheme {s.NAME}",
                           where="quantization", expected="options among " + ", ".join(known) if known
                           else f"no options (scheme {s.NAME} has none)")
    if any(t.quant is not None for t in graph.tensors.values()):
        raise NnbuildError("the graph is already quantized", where=f"model '{graph.name}'",
                           expected="a float graph from a frontend")
    pixels = reference.check_pixels(graph, calib_pixels)
    if len(pixels) < MIN_SAMPLES:
        raise NnbuildError(f"only {len(pixels)} calibration images", where=f"model '{graph.name}' calibration",
                           expected=f"at least {MIN_SAMPLES} images")
    fgraph = graph.validate()
    warnings = []
    if hasattr(s, "OPTIONS"):
        qgraph = s.quantize(fgraph, pixels, strategy, warnings, dict(options or {}))
    else:
        qgraph = s.quantize(fgraph, pixels, strategy, warnings)
    qgraph.meta["quantization"].update(strategy=strategy, samples=int(len(pixels)))
    if report is not None:
        report.clear()
        report.update(measure(fgraph, qgraph, pixels, strategy, warnings))
    return qgraph


def __getattr__(name):      # the report's functions, imported on first use: the manifest loader
    if name in ("evaluate", "format_report"):     # reads schemes() and needs no numpy
        from . import report

        return getattr(report, name)
    raise AttributeError(name)
