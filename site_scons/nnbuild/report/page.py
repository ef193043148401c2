"""The build report as one self-contained HTML page: inline CSS and SVG, no script, no network.

A pure function of the report dict (data.collect): the same dict gives the same bytes (fixed
number formats, the dict's sorted order, no clock). Every number a test or a reader checks is
also in a data-* attribute, raw, beside its formatted text. Hover text is SVG <title>.
"""
from html import escape

from ..memmap import human

# Colour-blind-safe palette (Okabe-Ito + greys): stable by position, so identical builds match.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#7F7F7F", "#332288", "#117733", "#882255", "#44AA99")
SCRATCH = "#BBBBBB"
WIDTH = 760

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:20px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}h3{font-size:15px}
table{border-collapse:collapse;margin:6px 0 14px}td,th{padding:2px 8px;text-align:left}
td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even){background:#f4f4f4}
.ok{color:#117733;font-weight:bold}.bad{color:#b00;font-weight:bold}.violation{color:#b00}
.cap{margin:6px 0 0;color:#555}.sw{display:inline-block;width:10px;height:10px;margin-right:4px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:0 0 10px}.legend>span{white-space:nowrap}
.hbar{height:9px;background:#0072B2;min-width:1px}.note{color:#666}
svg text{font:11px system-ui,sans-serif;fill:#333}
svg .limit{stroke:#b00;stroke-width:2;stroke-dasharray:5 3}svg .region{stroke:#333;stroke-width:2}
svg .arena{stroke:#333;stroke-dasharray:2 2}svg .over{fill:#b00;fill-opacity:.45}svg .peak{fill:#b00;fill-opacity:.08}
svg .buf{stroke:#fff;stroke-width:.5}svg .scratch{stroke:#555;stroke-width:.5}
"""


def _e(x):
    return escape(str(x), quote=True)


def _f(x):
    """SVG coordinate: one decimal, fixed (byte-identical output)."""
    return f"{x:.1f}"


def _bytes(n):
    return f"{n:,} B"


def _num(n, key, fmt=_bytes):
    return f'<span class="num" data-{key}="{n}">{_e(fmt(n))}</span>'


def _colour(i):
    return PALETTE[i % len(PALETTE)]


# -- memory ----------------------------------------------------------------------------------

def _bar(key, segments, marks, scale):
    """A horizontal stacked bar: segments [(label, bytes)] against vertical marks [(label, bytes,
    css class)]; `scale` bytes span the width. Marks beyond the scale are left to the legend."""
    px = (lambda b: WIDTH * b / scale) if scale else (lambda b: 0.0)
    out = [f'<svg class="bar" data-bar="{_e(key)}" width="{WIDTH + 10}" height="64" '
           f'viewBox="0 0 {WIDTH + 10} 64" role="img">']
    x = 0.0
    for i, (label, size) in enumerate(segments):
        w = px(size)
        out.append(f'<rect data-segment="{_e(label)}" data-bytes="{size}" x="{_f(x)}" y="6" width="{_f(w)}" '
                   f'height="24" fill="{_colour(i)}"><title>{_e(label)}: {_bytes(size)} ({human(size)})</title></rect>')
        x += w
    limit = min((m[1] for m in marks), default=None)
    total = sum(size for _, size in segments)
    if limit is not None and total > limit:   # the overshoot, shaded red over the bar
        out.append(f'<rect class="over" data-over="{total - limit}" x="{_f(px(limit))}" y="6" '
                   f'width="{_f(px(total) - px(limit))}" height="24"><title>over by {_bytes(total - limit)}'
                   f'</title></rect>')
    for row, (label, size, cls) in enumerate(m for m in marks if m[1] <= scale):
        mx = px(size)
        anchor = "end" if mx > WIDTH / 2 else "start"
        out.append(f'<line class="{cls}" x1="{_f(mx)}" x2="{_f(mx)}" y1="0" y2="36"/>'
                   f'<text x="{_f(mx)}" y="{48 + 12 * row}" text-anchor="{anchor}">{_e(label)} '
                   f'{_bytes(size)}</text>')
    out.append("</svg>")
    return "".join(out)


def _legend(segments, total, attr):
    items = [f'<span data-{attr}="{_e(label)}" data-bytes="{size}"><span class="sw" style="background:'
             f'{_colour(i)}"></span>{_e(label)} {_bytes(size)} ({100.0 * size / total if total else 0:.1f} %)</span>'
             for i, (label, size) in enumerate(segments)]
    return '<p class="legend">' + "".join(items) + "</p>"


def _memory_kind(report, key, what):
    mem = report["memory"]
    used = mem[key]["total"]
    budget = mem["budgets"].get(key)
    region = (mem["regions"].get(key) or {}).get("length")
    limit = report["limits"][key]
    scale = max([used] + ([limit["bytes"]] if limit else []))
    # the region first: the budget's dashed line stays visible on top when both are equal
    marks = [m for m in (("board region", region, "region"), ("budget", budget, "limit")) if m[1] is not None]
    sections = [(s["name"], s[key]) for s in mem["sections"] if s[key]]
    groups = [(g, v[key]) for g, v in mem["groups"].items() if v[key]]
    state = ("no limit" if not limit else
             f'{100.0 * used / limit["bytes"]:.1f} % of the {limit["kind"]} ({_bytes(limit["bytes"])})')
    over = limit and used > limit["bytes"]
    beyond = [f"{label} {_bytes(size)}" for label, size, _ in marks if size > scale]
    return (f'<section class="memkind" data-kind="{key}" data-used="{used}" '
            f'data-limit="{limit["bytes"] if limit else ""}">'
            f'<h3>{what}: {_num(used, "used")} <span class="{"bad" if over else "note"}">{_e(state)}</span></h3>'
            + (f'<p class="note">beyond the scale: {_e(", ".join(beyond))}</p>' if beyond else "")
            + '<p class="cap">by section</p>' + _bar(f"{key}-sections", sections, marks, scale) + _legend(sections, used, "section")
            + '<p class="cap">by group (object files)</p>' + _bar(f"{key}-groups", groups, marks, scale)
            + _legend(groups, used, "group") + "</section>")


def _models_table(mem):
    cols = ("weights", "code", "arena", "scratch", "other_ram", "ram", "flash")
    head = "".join(f'<th class="r">{c.replace("_", " ")}</th>' for c in cols)
    rows = []
    for name, m in mem["models"].items():
        cells = "".join(f'<td class="r" data-{c.replace("_", "-")}="{m[c]}">{_bytes(m[c])}</td>' for c in cols)
        budget = "-" if m.get("ram_budget") is None else _bytes(m["ram_budget"])
        rows.append(f'<tr data-model-memory="{_e(name)}"><td>{_e(name)}</td>{cells}<td class="r">{budget}</td></tr>')
    return (f"<table><tr><th>model</th>{head}<th class=\"r\">RAM budget</th></tr>" + "".join(rows) + "</table>")


def _symbols_table(mem):
    largest = mem["largest"]
    top = max((s["size"] for s in largest), default=0) or 1
    rows = [f'<tr data-symbol="{_e(s["name"])}"><td>{_e(s["name"])}</td><td>{_e(s["kind"])}</td>'
            f'<td>{_e(s["model"] or "")}</td><td class="r" data-bytes="{s["size"]}">{_bytes(s["size"])}</td>'
            f'<td style="width:240px"><div class="hbar" style="width:{100.0 * s["size"] / top:.1f}%"></div></td></tr>'
            for s in largest]
    return ("<table><tr><th>symbol</th><th>kind</th><th>model</th><th class=\"r\">size</th><th></th></tr>"
            + "".join(rows) + "</table>")


# -- per model ---------------------------------------------------------------------------------

def _timeline(name, model):
    """Steps on x, arena offsets on y (0 at the bottom), one rectangle per buffer over its lifetime;
    the peak step shaded, the arena size and the arena limit drawn as lines."""
    plan, limit = model["plan"], model["arena_limit"]
    steps, buffers = plan["steps"], plan["buffers"]
    n = max(len(steps), 1)
    left, top, pw, ph = 64, 12, WIDTH - 80, 240
    top_bytes = max([plan["arena_bytes"], plan["peak_bytes"], 1]
                    + ([limit["bytes"]] if limit and 0 < limit["bytes"] <= 2 * plan["arena_bytes"] else []))
    ymax = top_bytes * 1.08
    cw = pw / n
    y = lambda b: top + ph - ph * b / ymax   # noqa: E731 (a local coordinate map)
    out = [f'<svg class="timeline" data-model="{_e(name)}" width="{WIDTH}" height="{ph + 56}" '
           f'viewBox="0 0 {WIDTH} {ph + 56}" role="img"><title>arena of {_e(name)}: steps (x) by offset (y)</title>',
           f'<rect x="{left}" y="{top}" width="{_f(pw)}" height="{ph}" fill="#fafafa" stroke="#ccc"/>']
    if plan["peak_step"] >= 0:
        out.append(f'<rect class="peak" data-peak-step="{plan["peak_step"]}" x="{_f(left + cw * plan["peak_step"])}" '
                   f'y="{top}" width="{_f(cw)}" height="{ph}"><title>peak: {_bytes(plan["peak_bytes"])} live at '
                   f'step {plan["peak_step"]}</title></rect>')
    tensor_i = 0
    for b in sorted(buffers, key=lambda b: (b["start"], b["offset"], b["name"])):
        scratch = b["kind"] == "scratch"
        colour = SCRATCH if scratch else _colour(tensor_i)
        tensor_i += 0 if scratch else 1
        x0, x1 = left + cw * b["start"], left + cw * (b["end"] + 1)
        y0, y1 = y(b["offset"] + b["bytes"]), y(b["offset"])
        held = f' ({", ".join(b["tensors"])})' if b["tensors"] and b["tensors"] != [b["name"]] else ""
        out.append(f'<rect class="{"scratch" if scratch else "buf"}" data-buffer="{_e(b["name"])}" '
                   f'data-kind="{b["kind"]}" data-offset="{b["offset"]}" data-bytes="{b["bytes"]}" '
                   f'data-start="{b["start"]}" data-end="{b["end"]}" x="{_f(x0)}" y="{_f(y0)}" '
                   f'width="{_f(x1 - x0)}" height="{_f(max(y1 - y0, 0.5))}" fill="{colour}">'
                   f'<title>{_e(b["kind"])} {_e(b["name"])}{_e(held)}: {_bytes(b["bytes"])} at offset '
                   f'{b["offset"]:,}, live in steps {b["start"]}-{b["end"]}</title></rect>')
        if x1 - x0 > 7 * len(b["name"]) + 6 and y1 - y0 > 13:
            out.append(f'<text x="{_f(x0 + 3)}" y="{_f(y0 + 12)}" fill="#fff">{_e(b["name"])}</text>')
    lines = [("arena", plan["arena_bytes"], "arena")]
    if limit and 0 <= limit["bytes"] <= top_bytes:
        lines.append(("limit", limit["bytes"], "limit"))
    for label, v, cls in lines:
        out.append(f'<line class="{cls}" x1="{left}" x2="{_f(left + pw)}" y1="{_f(y(v))}" y2="{_f(y(v))}"/>'
                   f'<text x="{left - 4}" y="{_f(y(v) + 4)}" text-anchor="end">{label}</text>')
    every = max(1, -(-n // 30))
    for s in steps[::every]:
        out.append(f'<text x="{_f(left + cw * (s["index"] + 0.5))}" y="{top + ph + 14}" '
                   f'text-anchor="middle">{s["index"]}</text>')
    out.append(f'<text x="{_f(left + pw / 2)}" y="{top + ph + 34}" text-anchor="middle">step</text>'
               f'<text x="{left - 4}" y="{top + ph}" text-anchor="end">0</text></svg>')
    return "".join(out)


def _layers_table(model):
    layers = model["layers"]
    measured = any(layer["instructions"] is not None for layer in layers)
    key = "instructions" if measured else "macs"
    top = max((layer[key] or 0 for layer in layers), default=0) or 1
    head = ("<tr><th class=\"r\">step</th><th>layer</th><th>op</th><th>kernel</th><th class=\"r\">MACs</th>"
            "<th class=\"r\">live bytes</th><th class=\"r\">instructions</th><th class=\"r\">instr/MAC</th>"
            f"<th>{key}</th></tr>")
    rows = []
    for layer in layers:
        ins, ipm = layer["instructions"], layer["instructions_per_mac"]
        rows.append(
            f'<tr data-layer="{_e(layer["name"])}" data-step="{layer["index"]}"><td class="r">{layer["index"]}</td>'
            f'<td>{_e(layer["name"])}</td><td>{_e(layer["op"])}</td><td>{_e(layer["kernel"])}</td>'
            f'<td class="r" data-macs="{layer["macs"]}">{layer["macs"]:,}</td>'
            f'<td class="r" data-live-bytes="{layer["live_bytes"]}">{layer["live_bytes"]:,}</td>'
            f'<td class="r" data-instructions="{"" if ins is None else ins}">{"-" if ins is None else f"{ins:,}"}</td>'
            f'<td class="r">{"-" if ipm is None else f"{ipm:.3f}"}</td>'
            f'<td style="width:200px"><div class="hbar" style="width:{100.0 * (layer[key] or 0) / top:.1f}%">'
            f'</div></td></tr>')
    total_macs = sum(layer["macs"] for layer in layers)
    bench = model["bench"]
    total = ""
    if bench and bench.get("instructions"):
        ipm = f' ({bench["instructions_per_mac"]:.3f} per MAC)' if bench.get("instructions_per_mac") else ""
        total = f', {_num(bench["instructions"], "instructions", lambda v: f"{v:,}")} instructions per inference{ipm}'
    note = ("" if measured else '<p class="note">no instruction counts: run <code>nnbuild bench --report '
            'FILE.html</code> for a report with them.</p>')
    return (f'<p>{_num(total_macs, "macs", lambda v: f"{v:,}")} MACs per inference{total}</p>{note}'
            f"<table>{head}{''.join(rows)}</table>")


def _model(name, model, mem):
    plan, limit = model["plan"], model["arena_limit"]
    peak_name = next((s["name"] for s in plan["steps"] if s["index"] == plan["peak_step"]), "")
    if limit is None:
        limit_text = "no limit"
    elif limit["bytes"] < 0:   # the rest of the image alone is over: no arena fits
        limit_text = (f'none: the rest of the image exceeds the {_e(limit["source"])} by '
                      f'{_num(-limit["bytes"], "limit-overshoot")}')
    else:
        limit_text = f'{_num(limit["bytes"], "limit-bytes")} ({_e(limit["source"])})'

    scratch = sum(b["bytes"] for b in plan["buffers"] if b["kind"] == "scratch")
    return (f'<section class="model" data-model="{_e(name)}" data-arena-bytes="{plan["arena_bytes"]}" '
            f'data-peak-bytes="{plan["peak_bytes"]}" data-peak-step="{plan["peak_step"]}" '
            f'data-limit-bytes="{"" if limit is None else limit["bytes"]}">'
            f'<h2>model {_e(name)}</h2>'
            f'<p>arena {_num(plan["arena_bytes"], "arena")} (linked: {_bytes(mem["models"][name]["arena"])}); '
            f'peak live {_num(plan["peak_bytes"], "peak")} at step {plan["peak_step"]} ({_e(peak_name)}); '
            f'largest arena that fits: {limit_text}; {len(plan["buffers"])} buffers '
            f'({_bytes(scratch)} of kernel scratch)</p>'
            f'<p><span class="sw" style="background:{PALETTE[0]}"></span>tensor '
            f'<span class="sw" style="background:{SCRATCH}"></span>scratch '
            f'<span class="sw" style="background:#f7dcdc"></span>peak step; dashed red: the limit</p>'
            + _timeline(name, model) + "<h3>per layer</h3>" + _layers_table(model) + "</section>")


def render(report):
    """The HTML page of a report dict (data.collect)."""
    mem = report["memory"]
    status = ('<p class="ok" data-fits="true">fits its budgets</p>' if report["fits"] else
              '<p class="bad" data-fits="false">does not fit its budgets</p><ul>'
              + "".join(f'<li class="violation">{_e(v)}</li>' for v in report["violations"]) + "</ul>")
    body = [f'<h1>nnbuild build report: target {_e(report["target"])} ({_e(report["machine"])})</h1>', status,
            "<h2>memory</h2>", _memory_kind(report, "ram", "RAM"), _memory_kind(report, "flash", "flash"),
            "<h3>models</h3>", _models_table(mem), "<h3>largest symbols</h3>", _symbols_table(mem)]
    body += [_model(name, m, mem) for name, m in report["models"].items()]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>nnbuild report: {_e(report['target'])}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
