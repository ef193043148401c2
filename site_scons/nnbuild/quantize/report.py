"""The quantization report: what the quantizer chose and what it costs, measured on data.

A report is a plain dict (JSON-able, so the build can store it):
  model, scheme, strategy, samples, warnings: [str],
  tensors: [{name, <the tensor's quant record>, format, min, max, saturated, sqnr_db, warning}]
           (calibration set, golden vs float; format: the scheme's describe(), e.g. "frac 7" or
           "s=0.0235 z=-12"; warning: None or why this tensor loses information, quality_warnings)
  layers:  [{name, type, format, weight_saturated, <the scheme's layer_info()>}]
  eval:    {n, scheme, float_correct, <scheme>_correct, float_top1, <scheme>_top1}  (after evaluate())
"""
import math

import numpy as np

from .. import golden, reference
from . import scheme_of
from .groups import feeds_only_relu

# A tensor is flagged when more than SAT_WARN of its calibration values saturate, when its SQNR is
# below SQNR_WARN_DB, or when it is below SQNR_FAIR_DB and SQNR_DROP_DB below its input's (this
# layer lost the signal its input still had).
SAT_WARN = 0.01
SQNR_WARN_DB = 10.0
SQNR_FAIR_DB = 20.0
SQNR_DROP_DB = 20.0


def measure(fgraph, qgraph, pixels, strategy, warnings, batch=100):
    """Run the float graph and the golden model side by side on `pixels` and report per tensor
    the fraction of saturated values (clipped by more than rounding's half step) and the SQNR
    of the dequantized values (scheme.dequantize: the report works for every scheme)."""
    s = scheme_of(qgraph)
    names = [n for n in qgraph.tensors if n != qgraph.input]
    acc = {n: {"sig": 0.0, "err": 0.0, "sat": 0, "count": 0, "lo": math.inf, "hi": -math.inf} for n in names}
    limits = {n: _limits(s, qgraph.tensors[n]) for n in names}
    for i in range(0, len(pixels), batch):
        chunk = pixels[i:i + batch]
        fv = reference.run_all(fgraph, chunk, batch=batch)
        qv = golden.run(qgraph, chunk, outputs=names, batch=batch)
        for n in names:
            v, a = fv[n].reshape(-1), acc[n]
            lo, hi = limits[n]
            # saturated: the error exceeds rounding's half step beyond the int8 range's ends
            a["sat"] += int(np.count_nonzero(v > hi)) + int(np.count_nonzero(v < lo))
            a["sig"] += float(np.einsum("i,i->", v, v, dtype=np.float64))
            err = s.dequantize(qv[n].reshape(-1), qgraph.tensors[n])
            err -= v
            a["err"] += float(np.einsum("i,i->", err, err))
            a["count"] += v.size
            a["lo"] = min(a["lo"], float(v.min()))
            a["hi"] = max(a["hi"], float(v.max()))
    tensors = []
    for n in names:
        a, t = acc[n], qgraph.tensors[n]
        tensors.append({
            "name": n, **t.quant, "format": s.describe(t),
            "min": round(a["lo"], 6), "max": round(a["hi"], 6),
            "saturated": a["sat"] / max(a["count"], 1),
            "sqnr_db": _sqnr(a["sig"], a["err"]),
        })
    warnings = list(warnings) + quality_warnings(fgraph, tensors, s)
    layers = [{"name": op.name, "type": op.type, **s.layer_info(op, fgraph.op(op.name))}
              for op in qgraph.ops if "weight" in op.params]
    return {"model": qgraph.name, "scheme": s.NAME, "strategy": strategy, "samples": int(len(pixels)),
            "warnings": list(warnings), "tensors": tensors, "layers": layers}


def _limits(s, tensor):
    """The real values beyond which a tensor's values saturate: the int8 ends +- half a step."""
    lo, zero, one, hi = s.dequantize(np.array([-128, 0, 1, 127]), tensor)
    half = (one - zero) / 2
    return lo - half, hi + half


def quality_warnings(graph, tensors, s):
    """Set each tensor's "warning" (None or the reason) and return one message per flagged group
    of tensors that share frac bits. A tensor that only feeds a ReLU is not judged (its negative
    values may saturate by design; the ReLU's output is judged), nor is the saturation of a
    fixed-format output (sigmoid/tanh/softmax: saturating at 1.0 costs at most one step)."""
    by_name = {t["name"]: t for t in tensors}
    skip = {n for n in by_name if feeds_only_relu(graph, n)}
    fixed = s.fixed_outputs(graph)
    groups = s.share_groups(graph)
    flagged = {}
    for t in tensors:
        t["warning"] = None
        if t["name"] in skip:
            continue
        why = []
        if t["name"] not in fixed and t["saturated"] > SAT_WARN:
            why.append(f"{100 * t['saturated']:.1f} % of its values saturate")
        up = _input_sqnr(graph, t["name"], by_name, skip)
        if t["sqnr_db"] < SQNR_WARN_DB:
            why.append(f"SQNR {t['sqnr_db']:.1f} dB")
        elif up is not None and t["sqnr_db"] < min(SQNR_FAIR_DB, up - SQNR_DROP_DB):
            why.append(f"SQNR {t['sqnr_db']:.1f} dB, {up - t['sqnr_db']:.1f} dB below its input's")
        if why:
            t["warning"] = ", ".join(why)
            flagged.setdefault(groups[t["name"]], []).append(t)
    out = []
    for members in flagged.values():
        t = members[0]
        also = "".join(f"; '{m['name']}': {m['warning']}" for m in members[1:])
        out.append(f"tensor '{t['name']}' ({t['format']}, calibration range "
                   f"[{t['min']:g}, {t['max']:g}]): {t['warning']}{also}; check that the calibration "
                   f"images represent the data, or try strategy minmax")
    return out


def _input_sqnr(graph, name, by_name, skip):
    """The lowest finite SQNR among the judged tensors that feed `name`'s producer (looking
    through tensors that are not judged), or None (graph input, or exact inputs)."""
    op = graph.producer(name)
    found = []
    for i in (op.inputs if op else []):
        if i in skip:
            found.append(_input_sqnr(graph, i, by_name, skip))
        elif i in by_name:
            found.append(by_name[i]["sqnr_db"])
    found = [v for v in found if v is not None and math.isfinite(v)]
    return min(found) if found else None


def _sqnr(sig, err):
    if err == 0.0:
        return math.inf
    if sig == 0.0:
        return -math.inf
    return round(10.0 * math.log10(sig / err), 3)


def top1(scores):
    """First index of the maximum per row (the contract's top-1)."""
    return np.asarray(scores).reshape(len(scores), -1).argmax(axis=1)


def evaluate(graph, qgraph, pixels, labels, report=None, float_scores=None):
    """Float and quantized (golden) top-1 on an evaluation set; stored as report["eval"] when a report is given.
    `float_scores` (the float graph's outputs on `pixels`) may be passed to avoid recomputing."""
    labels = np.asarray(labels).reshape(-1)
    if float_scores is None:
        float_scores = reference.run(graph, pixels)
    f_ok = int(np.sum(top1(float_scores) == labels))
    q_ok = int(np.sum(top1(golden.run(qgraph, pixels)) == labels))
    n = int(len(labels))
    name = scheme_of(qgraph).NAME
    res = {"n": n, "scheme": name, "float_correct": f_ok, f"{name}_correct": q_ok,
           "float_top1": f_ok / n if n else 0.0, f"{name}_top1": q_ok / n if n else 0.0}
    if report is not None:
        report["eval"] = res
    return res


def format_report(report):
    """Human-readable text of a report dict."""
    lines = [f"{report.get('scheme', 'q7')} quantization of '{report.get('model', '?')}': strategy "
             f"{report.get('strategy')}, {report.get('samples')} calibration images", ""]
    warnings = report.get("warnings", [])
    if warnings:    # first, so that nobody reads the tables without seeing them
        lines += [f"WARNING: {w}" for w in warnings] + [""]
    lines.append(f"{'tensor':<24} {'format':<18} {'min':>10} {'max':>10} {'saturated':>10} {'SQNR dB':>8}")
    for t in report.get("tensors", []):
        flag = f"  <-- {t['warning']}" if t.get("warning") else ""
        lines.append(f"{t['name']:<24} {t['format']:<18} {t['min']:>10.4g} {t['max']:>10.4g} "
                     f"{100 * t['saturated']:>9.4f}% {t['sqnr_db']:>8.2f}{flag}")
    lines += ["", f"{'layer':<24} {'type':<16} {'weights':<28} {'w sat':>8}"]
    for l in report.get("layers", []):
        lines.append(f"{l['name']:<24} {l['type']:<16} {l['format']:<28} {100 * l['weight_saturated']:>7.3f}%")
    ev = report.get("eval")
    if ev:
        sc = ev.get("scheme", "q7")
        lines += ["", f"top-1 on {ev['n']} images: float {ev['float_correct']} ({100 * ev['float_top1']:.2f} %), "
                      f"{sc} {ev[sc + '_correct']} ({100 * ev[sc + '_top1']:.2f} %)"]
    return "\n".join(lines) + "\n"
