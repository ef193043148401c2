"""The quantization report: what the quantizer chose and what it costs, measured on data.

A report is a plain dict (JSON-able, so the build can store it):
  model, strategy, samples, warnings: [str],
  tensors: [{name, frac_bits, min, max, saturated, sqnr_db, warning}]   (calibration set, q7 golden
           vs float; warning: None or why this tensor loses information, see quality_warnings)
  layers:  [{name, type, weight_frac_bits, out_shift, weight_saturated}]
  eval:    {n, float_correct, q7_correct, float_top1, q7_top1}  (after evaluate(), else absent)
"""
import math

import numpy as np

from .. import golden, reference
from .q7 import params as q7

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
    of the dequantized q7 values."""
    names = [n for n in qgraph.tensors if n != qgraph.input]
    acc = {n: {"sig": 0.0, "err": 0.0, "sat": 0, "count": 0, "lo": math.inf, "hi": -math.inf} for n in names}
    for i in range(0, len(pixels), batch):
        chunk = pixels[i:i + batch]
        fv = reference.run_all(fgraph, chunk, batch=batch)
        qv = golden.run(qgraph, chunk, outputs=names, batch=batch)
        for n in names:
            f = qgraph.tensors[n].quant["frac_bits"]
            v, a = fv[n], acc[n]
            # in units of the q7 step (exact: a power-of-two scale); sums are scaled back below
            u = (v * np.float32(2.0 ** f)).reshape(-1)
            # saturated: the error exceeds rounding's half step (u = 127.5 rounds to 127 or 128)
            a["sat"] += int(np.count_nonzero(u > 127.5)) + int(np.count_nonzero(u < -128.5))
            a["sig"] += float(np.einsum("i,i->", u, u, dtype=np.float64)) * 4.0 ** -f    # float64 squares
            np.subtract(qv[n].reshape(-1), u, out=u)
            a["err"] += float(np.einsum("i,i->", u, u, dtype=np.float64)) * 4.0 ** -f
            a["count"] += v.size
            a["lo"] = min(a["lo"], float(v.min()))
            a["hi"] = max(a["hi"], float(v.max()))
    tensors = []
    for n in names:
        a = acc[n]
        tensors.append({
            "name": n, "frac_bits": int(qgraph.tensors[n].quant["frac_bits"]),
            "min": round(a["lo"], 6), "max": round(a["hi"], 6),
            "saturated": a["sat"] / max(a["count"], 1),
            "sqnr_db": _sqnr(a["sig"], a["err"]),
        })
    warnings = list(warnings) + quality_warnings(fgraph, tensors)
    layers = []
    for op in qgraph.ops:
        if op.type in ("conv2d", "fully_connected"):
            fop = fgraph.op(op.name)
            w = np.asarray(fop.params["weight"], np.float64) * 2.0 ** op.attrs["weight_frac_bits"]
            layers.append({"name": op.name, "type": op.type,
                           "weight_frac_bits": int(op.attrs["weight_frac_bits"]),
                           "out_shift": int(op.attrs["out_shift"]),
                           "weight_saturated": float(np.mean(np.round(w) > 127))})
    return {"model": qgraph.name, "strategy": strategy, "samples": int(len(pixels)),
            "warnings": list(warnings), "tensors": tensors, "layers": layers}


def quality_warnings(graph, tensors):
    """Set each tensor's "warning" (None or the reason) and return one message per flagged group
    of tensors that share frac bits. A tensor that only feeds a ReLU is not judged (its negative
    values may saturate by design; the ReLU's output is judged), nor is the saturation of a
    fixed-format output (sigmoid/tanh/softmax: saturating at 1.0 costs at most one step)."""
    by_name = {t["name"]: t for t in tensors}
    skip = {n for n in by_name if q7.feeds_only_relu(graph, n)}
    fixed = {op.outputs[0] for op in graph.ops if q7.rule(op).fixed_bits is not None}
    groups = q7.share_groups(graph)
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
        out.append(f"tensor '{t['name']}' (frac bits {t['frac_bits']}, calibration range "
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
    """Float and q7 top-1 on an evaluation set; stored as report["eval"] when a report is given.
    `float_scores` (the float graph's outputs on `pixels`) may be passed to avoid recomputing."""
    labels = np.asarray(labels).reshape(-1)
    if float_scores is None:
        float_scores = reference.run(graph, pixels)
    f_ok = int(np.sum(top1(float_scores) == labels))
    q_ok = int(np.sum(top1(golden.run(qgraph, pixels)) == labels))
    n = int(len(labels))
    res = {"n": n, "float_correct": f_ok, "q7_correct": q_ok,
           "float_top1": f_ok / n if n else 0.0, "q7_top1": q_ok / n if n else 0.0}
    if report is not None:
        report["eval"] = res
    return res


def format_report(report):
    """Human-readable text of a report dict."""
    lines = [f"q7 quantization of '{report.get('model', '?')}': strategy {report.get('strategy')}, "
             f"{report.get('samples')} calibration images", ""]
    warnings = report.get("warnings", [])
    if warnings:    # first, so that nobody reads the tables without seeing them
        lines += [f"WARNING: {w}" for w in warnings] + [""]
    lines.append(f"{'tensor':<24} {'frac':>4} {'min':>10} {'max':>10} {'saturated':>10} {'SQNR dB':>8}")
    for t in report.get("tensors", []):
        flag = f"  <-- {t['warning']}" if t.get("warning") else ""
        lines.append(f"{t['name']:<24} {t['frac_bits']:>4} {t['min']:>10.4g} {t['max']:>10.4g} "
                     f"{100 * t['saturated']:>9.4f}% {t['sqnr_db']:>8.2f}{flag}")
    lines += ["", f"{'layer':<24} {'type':<16} {'w frac':>6} {'shift':>5} {'w sat':>8}"]
    for l in report.get("layers", []):
        lines.append(f"{l['name']:<24} {l['type']:<16} {l['weight_frac_bits']:>6} {l['out_shift']:>5} "
                     f"{100 * l['weight_saturated']:>7.3f}%")
    ev = report.get("eval")
    if ev:
        lines += ["", f"top-1 on {ev['n']} images: float {ev['float_correct']} ({100 * ev['float_top1']:.2f} %), "
                      f"q7 {ev['q7_correct']} ({100 * ev['q7_top1']:.2f} %)"]
    return "\n".join(lines) + "\n"
