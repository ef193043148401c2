"""The quantization report: what the quantizer chose and what it costs, measured on data.

A report is a plain dict (JSON-able, so the build can store it):
  model, strategy, samples, warnings: [str],
  tensors: [{name, frac_bits, min, max, saturated, sqnr_db}]   (calibration set, q7 golden vs float)
  layers:  [{name, type, weight_frac_bits, out_shift, weight_saturated}]
  eval:    {n, float_correct, q7_correct, float_top1, q7_top1}  (after evaluate(), else absent)
"""
import math

import numpy as np

from .. import golden, reference


def measure(fgraph, qgraph, pixels, strategy, warnings, batch=100):
    """Run the float graph and the golden model side by side on `pixels` and report per tensor
    the fraction of saturated values and the SQNR of the dequantized q7 values."""
    names = [n for n in qgraph.tensors if n != qgraph.input]
    acc = {n: {"sig": 0.0, "err": 0.0, "sat": 0, "count": 0, "lo": math.inf, "hi": -math.inf} for n in names}
    for i in range(0, len(pixels), batch):
        chunk = pixels[i:i + batch]
        fv = reference.run_all(fgraph, chunk, batch=batch)
        qv = golden.run(qgraph, chunk, outputs=names, batch=batch)
        for n in names:
            f = qgraph.tensors[n].quant["frac_bits"]
            v = fv[n].astype(np.float64)
            scaled = np.round(v * 2.0 ** f)
            a = acc[n]
            a["sig"] += float(np.sum(v * v))
            a["err"] += float(np.sum((golden.dequantize(qgraph, n, qv[n]) - v) ** 2))
            a["sat"] += int(np.count_nonzero((scaled > 127) | (scaled < -128)))
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
    lines.append(f"{'tensor':<24} {'frac':>4} {'min':>10} {'max':>10} {'saturated':>10} {'SQNR dB':>8}")
    for t in report.get("tensors", []):
        lines.append(f"{t['name']:<24} {t['frac_bits']:>4} {t['min']:>10.4g} {t['max']:>10.4g} "
                     f"{100 * t['saturated']:>9.4f}% {t['sqnr_db']:>8.2f}")
    lines += ["", f"{'layer':<24} {'type':<16} {'w frac':>6} {'shift':>5} {'w sat':>8}"]
    for l in report.get("layers", []):
        lines.append(f"{l['name']:<24} {l['type']:<16} {l['weight_frac_bits']:>6} {l['out_shift']:>5} "
                     f"{100 * l['weight_saturated']:>7.3f}%")
    ev = report.get("eval")
    if ev:
        lines += ["", f"top-1 on {ev['n']} images: float {ev['float_correct']} ({100 * ev['float_top1']:.2f} %), "
                      f"q7 {ev['q7_correct']} ({100 * ev['q7_top1']:.2f} %)"]
    for w in report.get("warnings", []):
        lines.append(f"warning: {w}")
    return "\n".join(lines) + "\n"
