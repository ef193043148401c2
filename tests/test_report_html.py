"""The build report (build/<target>/report.json + report.html).

Pure tests of the data and the page on hand-made inputs, then real builds rendered in headless
Chromium (Debian's `chromium`, installed by ./dev): the DOM the browser built must hold every
model, section, buffer and layer with the JSON's numbers, and a screenshot is taken.
"""
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, needs_arm, needs_qemu, needs_shared

from nnbuild import report as build_report
from nnbuild.errors import NnbuildError

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (./dev installs it)")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# -- hand-made inputs ------------------------------------------------------------------------

def memory(name="m<&\"x>", arena=96, ram_budget=None, ram_total=4000, ram_budget_target=8192):
    model = {"weights": 500, "code": 100, "arena": arena, "scratch": 0, "other_ram": 0, "ram": arena,
             "flash": 600, "ram_budget": ram_budget, "symbols": []}
    return {
        "elf": "/home/someone/build/m4/firmware.elf", "target": "m4", "machine": "mps2-an386",
        "regions": {"flash": {"origin": 0, "length": 1 << 22}, "ram": {"origin": 1 << 29, "length": 1 << 22}},
        "sections": [{"name": ".text", "addr": 0, "size": 3000, "kind": "text", "ram": 0, "flash": 3000},
                     {"name": ".bss", "addr": 1 << 29, "size": ram_total, "kind": "bss", "ram": ram_total, "flash": 0}],
        "ram": {"data": 0, "bss": ram_total, "heap": 0, "stack": 0, "total": ram_total},
        "flash": {"text": 3000, "rodata": 0, "data_init": 0, "total": 3000},
        "totals": {"ram": ram_total, "flash": 3000}, "stack_reserve": 0, "heap_reserve": 0,
        "groups": {"app": {"text": 2400, "rodata": 0, "data": 0, "bss": ram_total - arena,
                           "ram": ram_total - arena, "flash": 2400},
                   f"model:{name}": {"text": 600, "rodata": 0, "data": 0, "bss": arena, "ram": arena, "flash": 600}},
        "models": {name: model},
        "largest": [{"name": f"{name}_arena", "size": arena, "kind": "bss", "section": ".bss", "model": name}],
        "budgets": {"ram": ram_budget_target, "flash": 1 << 19},
    }


def plan():
    """Two steps: a tensor live over both, one per step, and a scratch buffer in step 1."""
    return {"arena_bytes": 96, "peak_bytes": 96, "peak_step": 1,
            "buffers": [{"name": "a", "kind": "tensor", "offset": 0, "bytes": 32, "start": 0, "end": 1, "tensors": ["a"]},
                        {"name": "b<i>", "kind": "tensor", "offset": 32, "bytes": 32, "start": 1, "end": 1,
                         "tensors": ["b<i>", "c"]},
                        {"name": "l1:scratch", "kind": "scratch", "offset": 64, "bytes": 32, "start": 1, "end": 1,
                         "tensors": []}],
            "steps": [{"index": 0, "name": "l0", "op": "conv2d", "kernel": "k0", "macs": 1000, "live_bytes": 32,
                       "live": ["a"]},
                      {"index": 1, "name": "l1", "op": "max_pool", "kernel": "k1", "macs": 0, "live_bytes": 96,
                       "live": ["a", "b<i>", "l1:scratch"]}]}


def bench(name, layers=(("l0", "conv2d", 2500), ("l1", "max_pool", 300))):
    return {"model": name, "target": "m4", "instructions": 3000, "macs": 1000, "instructions_per_mac": 3.0,
            "layers": [{"name": n, "op": op, "instructions": i, "macs": 0} for n, op, i in layers]}


def test_data_and_page_from_hand_made_inputs():
    name = "m<&\"x>"
    r = build_report.collect(memory(name), {name: plan()}, ["over by 1 byte"])
    assert r["memory"]["elf"] == "firmware.elf"           # no machine path in the report
    assert r["fits"] is False and r["violations"] == ["over by 1 byte"]
    assert r["limits"] == {"ram": {"bytes": 8192, "kind": "budget"}, "flash": {"bytes": 1 << 19, "kind": "budget"}}
    # what is left of the target's RAM budget once everything but this arena is counted
    assert r["models"][name]["arena_limit"] == {"bytes": 8192 - (4000 - 96), "source": "target RAM budget"}
    assert [row["instructions"] for row in r["models"][name]["layers"]] == [None, None]
    page = build_report.render(r)
    assert page == build_report.render(json.loads(json.dumps(r)))
    assert "<script" not in page and "http" not in page and "/home/someone" not in page
    assert "m&lt;&amp;&quot;x&gt;" in page and name not in page      # names are escaped everywhere
    crowded = build_report.render(build_report.collect(memory(name, ram_total=9000), {name: plan()}))
    assert 'data-limit-overshoot="712"' in crowded      # 9000 - 96 of other RAM vs 8192: no arena fits
    assert page.count('data-buffer="') == 3 and 'data-buffer="b&lt;i&gt;"' in page


def test_arena_limit_is_the_smaller_of_model_and_image_limits():
    loose = build_report.collect(memory("m", ram_budget=10_000), {"m": plan()})
    assert loose["models"]["m"]["arena_limit"] == {"bytes": 8192 - (4000 - 96), "source": "target RAM budget"}
    tight = build_report.collect(memory("m", ram_budget=200), {"m": plan()})
    assert tight["models"]["m"]["arena_limit"] == {"bytes": 200, "source": "model RAM budget"}


def test_bench_counts_join_the_plan_by_step_and_a_mismatch_is_an_error():
    r = build_report.collect(memory("m"), {"m": plan()})
    with_bench = build_report.add_bench(r, bench("m"))
    layers = with_bench["models"]["m"]["layers"]
    assert [(x["instructions"], x["instructions_per_mac"]) for x in layers] == [(2500, 2.5), (300, None)]
    assert with_bench["models"]["m"]["bench"]["instructions"] == 3000
    assert build_report.add_bench(with_bench, bench("m")) == with_bench      # joining again changes nothing
    with pytest.raises(NnbuildError, match="do not match the build's plan"):
        build_report.add_bench(r, bench("m", layers=(("l0", "conv2d", 1),)))
    with pytest.raises(NnbuildError, match="not in the build report"):
        build_report.add_bench(r, bench("other"))
    with pytest.raises(NnbuildError, match="no memory plan"):
        build_report.collect(memory("m"), {})


def test_bench_report_file_names_and_missing_build(tmp_path):
    from nnbuild import firmware

    with pytest.raises(NnbuildError, match=r"must end in \.html"):
        firmware.bench_report(bench("m"), tmp_path / "r.htm", build_dir=tmp_path)
    with pytest.raises(NnbuildError, match="cannot read the build report data"):
        firmware.bench_report(bench("m"), tmp_path / "r.html", build_dir=tmp_path)
    assert not list(tmp_path.iterdir())


# -- the browser -----------------------------------------------------------------------------

class _Dom(HTMLParser):
    """Elements of a page with their attributes, the data-bar / data-model they sit in, and the
    text of each element with a data-* number (spans)."""

    def __init__(self):
        super().__init__()
        self.elements, self.stack, self.text = [], [], {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        ctx = {k: v for e in self.stack for k, v in e.items()
               if k in ("data-bar", "data-model", "data-layer", "data-symbol")}
        el = {"tag": tag, **ctx, **a}
        self.elements.append(el)
        if tag not in ("br", "meta", "img", "hr", "input", "link"):   # HTML's void elements
            self.stack.append(el)

    def handle_startendtag(self, tag, attrs):   # <line/>: no children
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if any(e["tag"] == tag for e in self.stack):
            while self.stack.pop()["tag"] != tag:
                pass

    def handle_data(self, data):
        if self.stack:
            self.text[id(self.stack[-1])] = self.text.get(id(self.stack[-1]), "") + data

    def find(self, **attrs):
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [e for e in self.elements if all(e.get(k) == v for k, v in want.items())]

    def one(self, **attrs):
        found = self.find(**attrs)
        assert len(found) == 1, (attrs, found)
        return found[0]


def chromium(page, tmp_path, *args):
    r = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
                        Path(page).resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def check_in_browser(page, data, tmp_path):
    """The DOM Chromium built from `page` shows everything of `data` (its report.json)."""
    html = chromium(page, tmp_path, "--dump-dom")
    dom = _Dom()
    dom.feed(html)
    mem = data["memory"]
    assert dom.one(tag="p", data_fits="true" if data["fits"] else "false")
    for key in ("ram", "flash"):
        kind = dom.one(tag="section", data_kind=key)
        assert int(kind["data-used"]) == mem[key]["total"]
        assert kind["data-limit"] == ("" if data["limits"][key] is None else str(data["limits"][key]["bytes"]))
        for s in mem["sections"]:
            if s[key]:
                assert int(dom.one(tag="rect", data_bar=f"{key}-sections", data_segment=s["name"])["data-bytes"]) == s[key]
        for g, v in mem["groups"].items():
            if v[key]:
                assert int(dom.one(tag="rect", data_bar=f"{key}-groups", data_segment=g)["data-bytes"]) == v[key]
    for s in mem["largest"]:
        assert dom.one(tag="td", data_symbol=s["name"], data_bytes=str(s["size"]))
    assert data["models"], "a build report without models"
    for name, m in data["models"].items():
        p, limit = m["plan"], m["arena_limit"]
        sec = dom.one(tag="section", data_model=name)
        assert (int(sec["data-arena-bytes"]), int(sec["data-peak-bytes"]), int(sec["data-peak-step"])) == \
            (p["arena_bytes"], p["peak_bytes"], p["peak_step"])
        assert sec["data-limit-bytes"] == ("" if limit is None else str(limit["bytes"]))
        peak = dom.one(tag="span", data_peak=str(p["peak_bytes"]))
        assert dom.text[id(peak)] == f"{p['peak_bytes']:,} B"
        if limit is not None and limit["bytes"] >= 0:
            shown = dom.one(tag="span", data_limit_bytes=str(limit["bytes"]))
            assert dom.text[id(shown)] == f"{limit['bytes']:,} B"
        elif limit is not None:
            shown = dom.one(tag="span", data_limit_overshoot=str(-limit["bytes"]))
            assert dom.text[id(shown)] == f"{-limit['bytes']:,} B"
        assert int(dom.one(tag="rect", data_model=name, data_peak_step=str(p["peak_step"]))["data-peak-step"]) == p["peak_step"]
        rects = dom.find(tag="rect", data_model=name)
        drawn = {r["data-buffer"]: r for r in rects if "data-buffer" in r}
        assert sorted(drawn) == sorted(b["name"] for b in p["buffers"])
        for b in p["buffers"]:
            r = drawn[b["name"]]
            assert (r["data-kind"], int(r["data-offset"]), int(r["data-bytes"]), int(r["data-start"]),
                    int(r["data-end"])) == (b["kind"], b["offset"], b["bytes"], b["start"], b["end"])
        assert {b["kind"] for b in p["buffers"]} >= {"tensor"}
        for layer in m["layers"]:
            row = dict(data_model=name, data_layer=layer["name"])
            assert int(dom.one(tag="tr", **row)["data-step"]) == layer["index"]
            assert dom.one(tag="td", data_macs=str(layer["macs"]), **row)
            assert dom.one(tag="td", data_live_bytes=str(layer["live_bytes"]), **row)
            ins = layer["instructions"]
            assert dom.one(tag="td", data_instructions="" if ins is None else str(ins), **row)
    for v in data["violations"]:
        assert any(dom.text.get(id(e)) == v for e in dom.find(tag="li", **{"class": "violation"}))
    shot = tmp_path / "report.png"
    chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1000,1800")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    return dom


def build(manifest, target, build_dir, check=True):
    r = subprocess.run([str(ROOT / ".venv/bin/scons"), "-Q", "-C", str(ROOT), f"target={target}",
                        f"manifest={manifest}", f"build_dir={build_dir}"], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def report_of(build_dir, target):
    d = Path(build_dir) / target
    return d / "report.html", json.loads((d / "report.json").read_text())


@needs_arm
@needs_chromium
def test_default_build_report_in_the_browser_and_identical_for_identical_builds(tmp_path):
    build(ROOT / "models.yaml", "m4", tmp_path / "one")
    page, data = report_of(tmp_path / "one", "m4")
    assert data["fits"] and list(data["models"]) == ["sample_digits"]
    assert any(b["kind"] == "scratch" for b in data["models"]["sample_digits"]["plan"]["buffers"])
    check_in_browser(page, data, tmp_path)
    build(ROOT / "models.yaml", "m4", tmp_path / "two")       # another directory: no paths leak in
    for name in ("report.html", "report.json"):
        assert (tmp_path / "one/m4" / name).read_bytes() == (tmp_path / "two/m4" / name).read_bytes(), name


@needs_arm
@needs_chromium
def test_over_budget_build_writes_the_report_and_points_to_it(tmp_path):
    text = yaml.safe_load((ROOT / "models.yaml").read_text())
    m = text["models"][0]
    weights = tmp_path / "w.caffemodel.h5"
    shutil.copy(ROOT / m["weights"], weights)
    m.update(prototxt=str(ROOT / m["prototxt"]), weights=str(weights))
    m["quantization"]["calibration"] = str(ROOT / m["quantization"]["calibration"])
    text["budgets"]["m4"]["ram"] = "8KiB"
    m["memory"] = "fast"   # (memory: auto would stream it into 8 KiB)
    manifest = tmp_path / "tight.yaml"
    manifest.write_text(yaml.safe_dump(text))
    r = build(manifest, "m4", tmp_path / "b", check=False)
    page = tmp_path / "b/m4/report.html"
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert f"build report (what uses the memory): {page}" in r.stderr, r.stderr
    assert not (tmp_path / "b/m4/firmware.elf").exists() and not (tmp_path / "b/m4/memory_map.json").exists()
    _, data = report_of(tmp_path / "b", "m4")
    assert not data["fits"] and data["limits"]["ram"] == {"bytes": 8192, "kind": "budget"}
    check_in_browser(page, data, tmp_path)
    # a failure in an earlier step leaves no report of the previous build behind
    weights.write_bytes(weights.read_bytes()[:1000])
    r = build(manifest, "m4", tmp_path / "b", check=False)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "removed the previous report.json, report.html" in r.stderr, r.stderr
    assert not page.exists()


@needs_arm
@needs_qemu
@needs_chromium
def test_bench_report_has_the_per_layer_instructions(tmp_path):
    from nnbuild import firmware
    from nnbuild.manifest import load_manifest

    manifest = ROOT / "models.yaml"
    entry = load_manifest(manifest).model("sample_digits")
    result = firmware.bench(entry, "m4", manifest, build_dir=tmp_path / "b")
    page = tmp_path / "out" / "bench.html"
    firmware.bench_report(result, page, build_dir=tmp_path / "b")
    data = json.loads(page.with_suffix(".json").read_text())
    layers = data["models"]["sample_digits"]["layers"]
    assert [x["instructions"] for x in layers] == [x["instructions"] for x in result["layers"]]
    assert all(x["instructions"] > 0 for x in layers)
    check_in_browser(page, data, tmp_path)


@needs_shared
@needs_arm
@needs_chromium
def test_cifar_report_in_the_browser_is_small(tmp_path):
    build(ROOT / "manifests" / "cifar10.yaml", "m4", tmp_path / "b")
    page, data = report_of(tmp_path / "b", "m4")
    assert data["models"]["cifar10_m4"]["plan"]["arena_bytes"] == 45056   # int16 conv weights in the scratch
    assert page.stat().st_size < 60_000
    check_in_browser(page, data, tmp_path)


@needs_shared
@needs_arm
@needs_chromium
def test_cifar_over_the_m0_budget_writes_the_report(tmp_path):
    manifest = tmp_path / "cifar10_fast.yaml"   # layer by layer (memory: auto streams it into the m0)
    manifest.write_text((ROOT / "manifests" / "cifar10.yaml").read_text()
                        .replace("../../shared", str(ROOT.parent / "shared"))
                        .replace("    budget: {ram: 48KiB}", "    budget: {ram: 48KiB}\n    memory: fast"))
    r = build(manifest, "m0", tmp_path / "b", check=False)
    page = tmp_path / "b/m0/report.html"
    assert r.returncode != 0 and f"build report (what uses the memory): {page}" in r.stderr, r.stderr
    _, data = report_of(tmp_path / "b", "m0")
    assert not data["fits"] and "cifar10_m4" in data["models"]
    check_in_browser(page, data, tmp_path)
