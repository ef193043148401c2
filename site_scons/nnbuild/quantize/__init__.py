"""q7 (power-of-two) quantization of a float IR graph against calibration images.

    qgraph = quantize(graph, calib_pixels, strategy="mse", report=report_dict)
    print(format_report(report_dict))

Steps: exact rewrites (rewrite.py) -> float activation statistics on the calibration images
(stats.py) -> one frac-bits choice per group of tensors that must share it -> integer parameters
per op (q7.py) -> report (report.py: frac bits, saturation, SQNR of the golden model vs float).
"""
import numpy as np

from ..errors import NnbuildError
from . import q7, rewrite, stats
from .report import evaluate, format_report, measure

DEFAULT_STRATEGY = "mse"
MIN_SAMPLES = 10

__all__ = ["quantize", "choose_frac_bits", "format_report", "evaluate", "DEFAULT_STRATEGY"]


def quantize(graph, calib_pixels, strategy=None, report=None):
    """A NEW quantized graph (the input graph is not modified).

    calib_pixels: uint8 (N, H, W, C) in the model's channel order, N >= 10.
    report: optional dict, filled with the quantization report (see report.measure)."""
    from .. import reference

    strategy = strategy or DEFAULT_STRATEGY
    if strategy not in stats.STRATEGIES:
        raise NnbuildError(f"unknown quantization strategy '{strategy}'", where="quantization.strategy",
                           expected=" or ".join(stats.STRATEGIES))
    if any(t.frac_bits is not None for t in graph.tensors.values()):
        raise NnbuildError("the graph is already quantized", where=f"model '{graph.name}'",
                           expected="a float graph from a frontend")
    pixels = reference.check_pixels(graph, calib_pixels)
    if len(pixels) < MIN_SAMPLES:
        raise NnbuildError(f"only {len(pixels)} calibration images", where=f"model '{graph.name}' calibration",
                           expected=f"at least {MIN_SAMPLES} images")
    fgraph = rewrite.relu_before_max_pool(graph.validate())
    warnings = []
    q7.check_weights(fgraph)      # absurd weights: a clear error before any calibration work
    bits = choose_frac_bits(fgraph, pixels, strategy, warnings)
    qgraph = q7.lower(fgraph, bits, warnings)
    qgraph.meta["quantization"] = {"scheme": "q7", "strategy": strategy, "samples": int(len(pixels))}
    if report is not None:
        report.clear()
        report.update(measure(fgraph, qgraph, pixels, strategy, warnings))
    return qgraph


def choose_frac_bits(graph, pixels, strategy, warnings):
    """{tensor name: frac bits} for every activation tensor (graph input excluded)."""
    groups = q7.share_groups(graph)
    st = stats.collect(graph, pixels)
    members = {}
    for name in graph.tensors:
        if name != graph.input:
            members.setdefault(groups[name], []).append(name)
    fixed = {}
    for op in graph.ops:
        if op.type in q7.FIXED_OUTPUT_BITS:
            fixed[groups[op.outputs[0]]] = q7.FIXED_OUTPUT_BITS[op.type]
    bits = {}
    for rep, names in members.items():
        if rep in fixed:
            f = fixed[rep]
        else:
            # Tensors that only feed a plain ReLU are judged by the ReLU's output (same group).
            used = [n for n in names if not q7.feeds_only_relu(graph, n)] or names
            lo = min(st[n].lo for n in used)
            hi = max(st[n].hi for n in used)
            sample = np.concatenate([st[n].sample for n in used])
            try:
                f, warn = stats.choose_bits(sample, lo, hi, strategy)
            except NnbuildError as e:
                if e.where:
                    raise
                op = graph.producer(rep)
                raise NnbuildError(e.message, where=f"layer '{op.name}' output '{rep}'" if op else f"tensor '{rep}'",
                                   expected=e.expected) from None
            if warn:
                warnings.append(f"tensor '{', '.join(names)}': {warn}")
        for n in names:
            bits[n] = f
    q7.align_concat_inputs(graph, groups, bits, fixed)
    return bits

