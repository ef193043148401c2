"""The cycle estimate: our QEMU plugin against hand-counted snippets, its errors, and bench's fields."""
import subprocess

import pytest

from conftest import ROOT, needs_arm, needs_qemu
from nnbuild import cycles, targets
from nnbuild.errors import NnbuildError

TEMPLATE = ROOT / "firmware_template"
DATA = ROOT / "tests" / "data" / "cycles"

# (snippet, target, instructions, cycles), each counted by hand with the rules of
# docs/benchmarks.md ("The cycle estimate"); the comments in snippets.S give the per-instruction figures.
HAND_COUNTED = [
    # movs, movs, muls, smull, smlal, smlad: 1 each; sdiv 12; bx lr 1+2
    ("alu", "m4", 8, 6 * 1 + 12 + 3),
    # movs 1, sub 1, mov 1, str #imm 1, ldr 2+1 (after a store), ldr 1, ldr 1 (pipelined),
    # ldr 2 (its base is the previous load's result), str [reg] 1 (after an ldr), ldr 2,
    # ldrd 3, ldr 2, add 1, bx lr 3
    ("loads", "m4", 14, 1 + 1 + 1 + 1 + 3 + 1 + 1 + 2 + 1 + 2 + 3 + 2 + 1 + 3),
    # push {r4,r5,lr} 4, mov 1, ldm {r2,r3} 3, movs 1, 3x subs, bne taken 3 + 3, not taken 1,
    # pop {r4,r5,pc} 4 + 2
    ("loop", "m4", 11, 4 + 1 + 3 + 1 + 3 + 3 + 3 + 1 + 6),
    # movs 1, b to a 32-bit instruction at a halfword address 1 + 3, add.w 1, bx lr 3
    ("wide", "m4", 4, 1 + 4 + 1 + 3),
    # movs, movs 1 each; mul, mla, mls, smull, umull, smlal, umlal 1 each on the M4; udiv 12; bx lr 3
    ("mul", "m4", 11, 2 + 7 + 12 + 3),
    # the M3's: mul 1, mla 2, mls 2, smull 3, umull 3, smlal 4, umlal 4
    ("mul", "m3", 11, 2 + 1 + 2 + 2 + 3 + 3 + 4 + 4 + 12 + 3),
    # the m0 table: push {r4,lr} 3, mov 1, ldr 2, ldr 2 (no pipelining), str 2, movs 1,
    # 2x subs, bne taken 3, not taken 1, bl 4, bx lr 3, pop {r4,pc} 3 + 2
    ("m0", "m0", 13, 3 + 1 + 2 + 2 + 2 + 1 + 2 + 3 + 1 + 4 + 3 + 5),
]


@pytest.fixture(scope="module")
def snippets(tmp_path_factory):
    out = tmp_path_factory.mktemp("cycles")
    elves = {}
    for name in ("m4", "m3", "m0"):
        srcs = [TEMPLATE / "boards/common/startup.c", TEMPLATE / "app/platform.c", DATA / "main.c",
                DATA / "snippets.S"]
        elf = out / f"snippets_{name}.elf"
        r = subprocess.run(targets.firmware_command(targets.get_target(name), TEMPLATE, srcs, elf),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        elves[name] = elf
    return out, elves


def test_plugin_is_built_once_and_cached_by_content(tmp_path):
    so = cycles.build_plugin(tmp_path)
    mtime = so.stat().st_mtime_ns
    assert cycles.build_plugin(tmp_path) == so and so.stat().st_mtime_ns == mtime
    assert [p.name for p in (tmp_path / "cycles").iterdir()] == [so.name]    # no temporary left


@needs_arm
@needs_qemu
@pytest.mark.parametrize("snippet, target, instructions, expected", HAND_COUNTED)
def test_hand_counted_snippets(snippets, snippet, target, instructions, expected):
    build, elves = snippets
    _, est = cycles.run(elves[target], target, [snippet], f"snip_{snippet}", build, timeout=20, marks=False)
    assert est.table == target
    assert (est.instructions, est.cycles) == (instructions, expected)


@needs_arm
@needs_qemu
def test_a_plugin_qemu_cannot_load_is_an_error_not_a_number(snippets, monkeypatch, tmp_path):
    build, elves = snippets
    fake = tmp_path / "not_a_plugin.so"
    fake.write_text("not an ELF shared object")
    monkeypatch.setattr(cycles, "build_plugin", lambda build_dir: fake)
    with pytest.raises(NnbuildError, match="with the cycle plugin.*(?i:plugin)"):
        cycles.run(elves["m4"], "m4", ["alu"], "snip_alu", build, timeout=20, marks=False)


@needs_arm
@needs_qemu
def test_a_window_that_never_opens_and_a_missing_symbol_are_errors(snippets):
    build, elves = snippets
    with pytest.raises(NnbuildError, match="snip_loop never ran"):
        cycles.run(elves["m4"], "m4", ["alu"], "snip_loop", build, timeout=20, marks=False)
    with pytest.raises(NnbuildError, match="no function nope_run"):
        cycles.run(elves["m4"], "m4", ["alu"], "nope_run", build, timeout=20, marks=False)


def test_plugin_arguments_double_commas_and_result_errors(tmp_path):
    args = cycles.plugin_args("/a,b/p.so", "/o,ut.json", "m4", 0x8001, 0x9000)
    assert args == ["-plugin", "/a,,b/p.so,out=/o,,ut.json,core=m4,start=8001,mark=9000"]
    with pytest.raises(NnbuildError, match="wrote no result"):
        cycles.read_result(tmp_path / "missing.json", "f")
    (tmp_path / "half.json").write_text('{"core": "m4", "win')
    with pytest.raises(NnbuildError, match="wrote no result"):
        cycles.read_result(tmp_path / "half.json", "f")


def test_every_target_has_a_table_and_a_clock():
    for name, t in targets.TARGETS.items():
        if not t.is_host:
            assert cycles.CORE_TABLE[name] in ("m4", "m3", "m0") and t.clock_hz >= 16_000_000, name
    est = cycles.Estimate("m4", 10, 25, ((0, 0), (4, 10), (10, 25)))
    assert est.layer_cycles(2) == [10, 15] and est.layer_cycles(3) == [None] * 3
    with pytest.raises(NnbuildError, match="counted 10 instructions where the firmware measured 1000"):
        cycles.summary(est, targets.get_target("m4"), macs=5, instructions=1000)
    s = cycles.summary(est, targets.get_target("m4"), macs=5, instructions=12)
    assert s == {"cycles_estimate": 25, "cycles_per_mac": 5.0, "cycle_table": "cortex-m4",
                 "clock_hz": 100_000_000, "latency_ms": 0.0}


@needs_arm
@needs_qemu
def test_bench_reports_cycles_beside_instructions(tmp_path):
    from nnbuild import firmware
    from nnbuild.manifest import load_manifest

    manifest = ROOT / "models.yaml"
    entry = load_manifest(manifest).model("sample_digits")
    b = firmware.bench(entry, "m4", manifest, build_dir=tmp_path / "build")
    ins, cyc = b["instructions"], b["cycles_estimate"]
    # every instruction costs at least one cycle; the M4 table adds loads, MACs and refills
    assert ins < cyc < 3 * ins
    assert b["cycles_per_mac"] == round(cyc / b["macs"], 4)
    assert b["latency_ms"] == round(cyc * 1e3 / 100_000_000, 3) and b["cycle_table"] == "cortex-m4"
    layers = b["layers"]
    assert all(layer["cycles_estimate"] >= layer["instructions"] for layer in layers)
    # the layers (mark to mark) are the run minus its entry and the copy of the scores
    assert 0.97 * cyc < sum(layer["cycles_estimate"] for layer in layers) <= cyc


@needs_arm
@needs_qemu
def test_bench_all_prints_every_figure_in_one_json(capsys, monkeypatch, tmp_path):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("bench_all", ROOT / "tools" / "bench_all.py")
    bench_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_all)
    monkeypatch.setattr(bench_all, "MODELS", bench_all.MODELS[:1])        # sample_digits only
    monkeypatch.setattr(bench_all, "BUILD", tmp_path)   # not build/bench: a bench_all run may be using it
    assert bench_all.main(["--targets", "m4", "--skip-accuracy", "--check", "2"]) == 0
    d = json.loads(capsys.readouterr().out)
    r = d["sample_digits"]["targets"]["m4"]
    for key in (*bench_all.BENCH_FIELDS, "nn_flash_bytes", "conv_layers", "max_conv_instructions_per_mac"):
        assert r[key] is not None, key
    assert r["bit_exact"] == {"images": 2, "identical": 2}
    assert r["instructions"] < r["cycles_estimate"] and r["kernel_bytes"] < r["nn_flash_bytes"] < r["flash_bytes"]
    assert set(r["conv_layers"]) == {"conv1+relu1", "conv2+relu2"}
    assert r["max_conv_instructions_per_mac"] == max(c["instructions_per_mac"] for c in r["conv_layers"].values())
    goal = {(g["model"], g["target"], g["field"]): g for g in d["goals"]}
    assert goal[("cifar10_m4", "m4", "instructions")]["ok"] is None      # not measured: no verdict
    assert len(goal) == len(bench_all.GOALS)
