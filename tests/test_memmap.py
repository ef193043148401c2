"""Memory report of real linked images (checked against arm-none-eabi-size) and the budget gate."""
import json
import re
import subprocess

import pytest

from conftest import ROOT, needs_arm
from nnbuild import memmap, targets
from nnbuild.errors import NnbuildError

TEMPLATE = ROOT / "firmware_template"
PLATFORM = ROOT / "tests" / "data" / "platform"
MODELS = ["tiny", "tiny_big"]
NN_MODEL_STRUCT = 68        # sizeof(nn_model) on 32-bit Arm (input: the pixels' place in the arena)


def build(target, out):
    """Compile each file to a named object (as the SCons build does), then link with a map."""
    t = targets.get_target(target)
    units = {"app/startup.o": TEMPLATE / "boards/common/startup.c",
             "app/platform.o": TEMPLATE / "app/platform.c",
             "app/main.o": TEMPLATE / "app/main.c",
             "app/fake_app.o": PLATFORM / "fake_app.c",
             "kernels/nn_fake_kernel.o": PLATFORM / "nn_fake_kernel.c",
             "models/tiny.o": PLATFORM / "memmodels.c"}
    objs = []
    for obj, src in units.items():
        (out / obj).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["arm-none-eabi-gcc", *targets.compile_flags(t, TEMPLATE), "-c", str(src),
                        "-o", str(out / obj)], check=True, capture_output=True)
        objs.append(str(out / obj))
    elf, map_file = out / "fw.elf", out / "fw.map"
    r = subprocess.run(["arm-none-eabi-gcc", *t.cflags, *targets.link_flags(t, TEMPLATE / "boards"),
                        "-o", str(elf), *objs, f"-Wl,-Map={map_file}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return elf, map_file


@pytest.fixture(scope="module", params=["m4", "m0"])
def image(request, tmp_path_factory):
    elf, map_file = build(request.param, tmp_path_factory.mktemp(request.param))
    return request.param, elf, map_file, memmap.memory_report(elf, map_file, request.param, MODELS)


def arm_size(*args):
    return subprocess.run(["arm-none-eabi-size", *args], capture_output=True, text=True, check=True).stdout


@needs_arm
def test_totals_match_arm_none_eabi_size(image):
    target, elf, _, rep = image
    text, data, bss = map(int, arm_size(str(elf)).splitlines()[1].split()[:3])
    assert rep["flash"]["total"] == text + data
    assert rep["ram"]["total"] == data + bss
    t = targets.get_target(target)
    assert rep["ram"]["stack"] == rep["stack_reserve"] == t.stack_bytes
    table = arm_size("-A", str(elf))
    sizes = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\.\S+)\s+(\d+)\s+\d+$", table, re.M)}
    for s in rep["sections"]:
        assert sizes[s["name"]] == s["size"]
    assert {s["name"] for s in rep["sections"]} >= {".vectors", ".text", ".rodata", ".data", ".bss", ".stack"}


@needs_arm
def test_models_by_symbol_prefix(image):
    _, _, _, rep = image
    tiny, big = rep["models"]["tiny"], rep["models"]["tiny_big"]
    assert (tiny["arena"], tiny["scratch"], tiny["other_ram"]) == (1024, 0, 0)
    assert tiny["weights"] == 1000 + 40 + NN_MODEL_STRUCT
    assert tiny["code"] > 0 and tiny["flash"] == tiny["weights"] + tiny["code"]
    assert (big["arena"], big["scratch"], big["ram"]) == (2048, 256, 2304)
    assert big["weights"] == 3000 + NN_MODEL_STRUCT
    assert {"name": "tiny_big_arena", "size": 2048, "kind": "bss"} in big["symbols"]


@needs_arm
def test_groups_by_object(image):
    _, _, _, rep = image
    g = rep["groups"]
    # memmodels.c is also the registry here, so it holds the app's I/O buffer too
    pool = next(s["size"] for s in rep["largest"] if s["name"] == "nn_app_pool")
    assert g["model:tiny"]["bss"] == 1024 + 2048 + 256 + pool
    tables = 1000 + 40 + 3000 + 2 * NN_MODEL_STRUCT + 8     # + nn_models[2]
    assert tables + 19 <= g["model:tiny"]["rodata"] <= tables + 19 + 16   # + the name strings
    assert g["kernels"]["bss"] == 64 * 4 and g["kernels"]["text"] > 0
    assert g["reserved"]["ram"] == rep["ram"]["stack"] + rep["ram"]["heap"]
    assert g["libc"]["text"] > 0 and g["app"]["bss"] > 0
    # every byte of RAM is attributed to exactly one group (padding between inputs aside)
    total = sum(v["ram"] for v in g.values())
    assert rep["ram"]["total"] - 64 <= total <= rep["ram"]["total"]


@needs_arm
def test_largest_symbols_and_json(image):
    _, _, _, rep = image
    top = rep["largest"][0]
    assert top["size"] >= 2048 and rep["largest"] == sorted(rep["largest"], key=lambda s: -s["size"])
    assert any(s["name"] == "tiny_big_arena" and s["model"] == "tiny_big" for s in rep["largest"])
    assert json.loads(json.dumps(rep))["ram"] == rep["ram"]
    text = memmap.format_report(rep)
    assert re.search(rf"^\s+tiny_big\s+{3000 + NN_MODEL_STRUCT}\s+\d+\s+2048\s+256\s+0\s+-$", text, re.M), text
    assert re.search(rf"^\s+RAM\s+{rep['ram']['total']} B ", text, re.M), text


@needs_arm
def test_budget_gate(image):
    target, elf, map_file, rep = image
    assert memmap.check_budget(rep) == []     # the target's default budget holds
    ram = rep["ram"]["total"]
    over = memmap.memory_report(elf, map_file, target, MODELS, {"ram": ram - 100, "flash": 10**7,
                                                                "models": {"tiny_big": {"ram": 2000}}})
    msgs = memmap.check_budget(over)
    assert len(msgs) == 2
    assert msgs[0].startswith(f"target {target}: RAM use {ram} bytes")
    assert f"budget of {ram - 100} bytes" in msgs[0] and "by 100 bytes (100 B)" in msgs[0]
    assert "tiny_big_arena 2.0 KiB (model tiny_big)" in msgs[0] and "stack reserve" in msgs[0]
    assert msgs[1] == (f"target {target}, model tiny_big: arena + scratch 2304 bytes (2.2 KiB) exceeds the "
                       "model's RAM budget of 2000 bytes (2.0 KiB) by 304 bytes (304 B); consumers: "
                       "tiny_big_arena 2.0 KiB, tiny_big_scratch 256 B")
    flash = rep["flash"]["total"]
    assert rep["totals"] == {"ram": ram, "flash": flash}
    msgs = memmap.check_budget(memmap.memory_report(elf, map_file, target, MODELS, {"flash": flash - 1}))
    assert len(msgs) == 1 and f"flash use {flash} bytes" in msgs[0] and "by 1 bytes" in msgs[0]
    # the image's limits may also be given under "target" (as firmware.budgets_for does)
    nested = {"target": {"ram": ram - 1, "flash": None}, "models": {}}
    msgs = memmap.check_budget(memmap.memory_report(elf, map_file, target, MODELS, nested))
    assert len(msgs) == 1 and "by 1 bytes" in msgs[0]


def test_bad_inputs_are_clear_errors(tmp_path):
    bad = tmp_path / "fw.elf"
    bad.write_bytes(b"not an elf at all")
    with pytest.raises(NnbuildError, match="not a little-endian 32-bit ELF"):
        memmap.read_elf(bad)
    with pytest.raises(NnbuildError, match="cannot read firmware image"):
        memmap.read_elf(tmp_path / "missing.elf")
    (tmp_path / "fw.map").write_text("Archive member included\n")
    with pytest.raises(NnbuildError, match="not a GNU ld map file"):
        memmap.read_map(tmp_path / "fw.map")


def test_object_groups():
    models = ["net", "net_small"]
    assert memmap.object_group("build/m4/net_small.o", models) == "model:net_small"
    assert memmap.object_group("build/m4/net.o", models) == "model:net"
    assert memmap.object_group("build/m4/kernels/conv.o", models) == "kernels"
    assert memmap.object_group("/usr/lib/x/libc.a(lib_a-memcpy.o)", models) == "libc"
    assert memmap.object_group("build/m4/app/main.o", models) == "app"
    assert memmap.symbol_model("net_small_arena", models) == "net_small"
    assert memmap.symbol_model("netx_arena", models) is None


@needs_arm
def test_percentages_are_of_what_binds_the_image(image):
    """A budget larger than the board's region is not what the image must fit: the map shows the
    use against the region then (m55: 512 KiB of flash under a 2 MiB budget was '21.8 % of 2 MiB')."""
    _, _, _, rep = image
    rep = json.loads(json.dumps(rep))
    region = rep["regions"]["flash"]["length"]
    rep["budgets"]["flash"] = 4 * region
    line = next(l for l in memmap.format_report(rep).splitlines() if l.startswith("  flash"))
    pct = 100.0 * rep["flash"]["total"] / region
    assert f"{pct:5.1f}% of {memmap.human(region)} (the board's region)" in line, line
    assert memmap.binding_limit(rep, "flash") == (region, "region")
    rep["budgets"]["flash"] = region // 2
    line = next(l for l in memmap.format_report(rep).splitlines() if l.startswith("  flash"))
    assert f"of {memmap.human(region // 2)}" in line and "region" not in line
