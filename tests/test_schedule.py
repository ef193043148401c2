"""Streamed, fused execution (nnbuild.schedule, `memory: small`): the generated C of a streamed
schedule gives the golden model's bytes on the host (portable and emulated-DSP kernels) and in
QEMU (dsp, mla, thumb1 variants), with a smaller arena than layer by layer."""
import json
import re
import subprocess

import numpy as np
import pytest

from conftest import CIFAR_TEST, ROOT, needs_arm, needs_qemu, needs_shared
from nnbuild import golden, schedule
from nnbuild.hostrun import HostModel, host_isa
from nnbuild.lower import lower
from nnbuild.pipeline import generate_model
from nnbuild.planner import plan
from test_planner import GraphBuilder


def _streamed_equals_golden(qgraph, pixels, tmp_path, name="m", expected=None):
    """Generate with memory: small for each host variant's scratch, run on the host (ref and dsp);
    returns (streamed, layer-by-layer) plans for dsp. `expected`: golden's outputs for `pixels`,
    when the caller has them already."""
    if expected is None:
        expected = golden.run(qgraph, pixels).reshape(len(pixels), -1)
    for dsp in (False, True):
        gen = tmp_path / f"gen{dsp}"
        _, p, _ = generate_model(qgraph, gen, name, memory="small", isa=host_isa(dsp))
        hm = HostModel(gen, name, tmp_path / f"lib{dsp}", dsp=dsp)
        got = hm.run(pixels)
        assert np.array_equal(got, expected), (qgraph.name, dsp, p.format_table())
        # the pixels prepared at the descriptor's `input` (in the arena, consumed by run), as the app does
        assert np.array_equal(hm.run_in_arena(pixels[:64]), expected[:64]), (qgraph.name, dsp)
    steps = lower(qgraph, "dsp")
    return p, plan(steps, qgraph)


# (h, w, c, layers): conv (out_c, k, stride, pad, dilation), pool (k, stride, kind[, pad, ceil])
CHAINS = {
    "cifar_like": (32, 32, 3, [("conv", 8, 5, 1, 2, 1), ("pool", 3, 2, "max_pool"), ("conv", 8, 5, 1, 2, 1),
                               ("pool", 3, 2, "avg_pool"), ("conv", 8, 3, 1, 1, 1)]),
    "strided_dilated": (19, 13, 1, [("conv", 4, 3, 2, 1, 1), ("conv", 6, 3, 1, 2, 2), ("pool", 2, 1, "max_pool"),
                                    ("conv", 4, 1, 1, 0, 1)]),
    "ceil_pools": (17, 11, 3, [("conv", 6, 3, 1, 0, 1), ("pool", 3, 2, "avg_pool"), ("pool", 2, 2, "max_pool"),
                               ("conv", 4, 2, 1, 1, 1)]),
    "wide_windows": (14, 9, 2, [("conv", 4, 5, 1, 4, 1), ("pool", 3, 1, "max_pool"), ("conv", 5, 3, 3, 0, 1),
                                ("pool", 2, 1, "avg_pool")]),
    "floor_pools": (16, 15, 3, [("conv", 6, 3, 1, 1, 1), ("pool", 3, 2, "max_pool", 1, False), ("conv", 6, 3, 1, 1, 1),
                                ("pool", 3, 2, "avg_pool", 1, False), ("pool", 2, 2, "max_pool", 0, False)]),
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_streamed_chains_equal_golden_on_the_host(chain, tmp_path):
    """Negative pads, strides, dilation, a clipped (ceil-mode) bottom, floor-mode pools (ceil_mode
    false: 16 -> 8 -> 4 -> 2, Caffe 9 -> 5 -> 3), max pools split by rows (k = stride + 1,
    k = stride) and not (k = 3, stride 1)."""
    h, w, c, layers = CHAINS[chain]
    b = GraphBuilder(h, w, c, seed=len(chain), name=chain)
    x = "data"
    for i, layer in enumerate(layers):
        if layer[0] == "conv":
            _, oc, k, stride, pad, dil = layer
            x = b.conv(f"conv{i}", x, oc, k, stride=stride, pad=pad, dilation=dil, act=(0, 127))
        else:
            x = b.pool(f"pool{i}", x, layer[1], layer[2], *layer[4:], kind=layer[3])
    b.fc("fc", x, 5)
    g = b.g
    p, lbl = _streamed_equals_golden(g, b.pixels(12), tmp_path)
    assert p.schedule is not None and p.schedule.groups, p.format_table()
    assert p.arena_bytes < lbl.arena_bytes


def _no_live_overlap(p):
    """At every sub-step the live buffers occupy disjoint bytes inside the arena."""
    for t in range(len(p.substep_step)):
        live = sorted((b.offset, b.offset + b.size, b.name) for b in p.buffers.values() if b.live_at(t) and b.size)
        for (_, e0, n0), (s1, _, n1) in zip(live, live[1:]):
            assert e0 <= s1, f"sub-step {t}: {n0} overlaps {n1}"
        assert all(e <= p.arena_bytes for _, e, _ in live)


def _residual(b, x):
    """conv -> conv -> add with the block's input -> relu (a residual block, shortcut 1:1)."""
    y = b.conv(f"{x}_a", x, b.shape(x)[2], 3, pad=1, act=(0, 127))
    y = b.conv(f"{x}_b", y, b.shape(x)[2], 3, pad=1)
    return b.relu(f"{x}_relu", b.add(f"{x}_sum", y, x))


def _projection(b, x, oc):
    """A downsampling block: conv stride 2 -> conv, plus a 1x1 stride-2 projection of the input."""
    y = b.conv(f"{x}_a", x, oc, 3, stride=2, pad=1, act=(0, 127))
    y = b.conv(f"{x}_b", y, oc, 3, pad=1)
    return b.relu(f"{x}_relu", b.add(f"{x}_sum", y, b.conv(f"{x}_proj", x, oc, 1, stride=2)))


def _inception(b, x):
    """Two branches of different depth concatenated along channels."""
    left = b.conv(f"{x}_l", x, 4, 3, pad=1, act=(0, 127))
    right = b.conv(f"{x}_r2", b.conv(f"{x}_r1", x, 3, 1, act=(0, 127)), 5, 3, pad=1, act=(0, 127))
    return b.concat(f"{x}_cat", [left, right])


BRANCHY = {
    "residual": (16, 16, 3, lambda b, x: b.pool("gap", _residual(b, _residual(b, b.conv("stem", x, 8, 3, pad=1,
                                                                                       act=(0, 127)))), 4, 4,
                                               kind="avg_pool")),
    "projection": (16, 12, 3, lambda b, x: b.pool("gap", _projection(b, b.conv("stem", x, 6, 3, pad=1), 10), 4, 4,
                                                     kind="avg_pool")),
    "inception": (15, 11, 2, lambda b, x: b.pool("p", _inception(b, b.conv("stem", x, 6, 3, pad=1)), 2, 2)),
    "padded_pools": (17, 10, 3, lambda b, x: b.pool("p2", b.conv("c2", b.pool("p1", b.conv("c1", x, 16, 3), 3, 2, pad=1),
                                                                  4, 1), 3, 1, pad=1)),
}


@pytest.mark.parametrize("net", sorted(BRANCHY))
def test_streamed_branches_equal_golden_on_the_host(net, tmp_path):
    """Eltwise SUM shortcuts (1:1 and projected), a concat of two branches of different depth and
    max pools with top/bottom padding run inside fused groups, bit-exact, in a smaller arena,
    and no two buffers live at the same sub-step share a byte."""
    h, w, c, body = BRANCHY[net]
    b = GraphBuilder(h, w, c, seed=len(net), name=net)
    b.fc("fc", body(b, "data"), 5)
    g = b.g
    p, lbl = _streamed_equals_golden(g, b.pixels(8), tmp_path)
    assert p.schedule is not None and p.arena_bytes < lbl.arena_bytes, p.format_table()
    fused = {s.op.split("+")[0] for grp in p.schedule.groups for s in grp.steps}
    want = {"residual": "add", "projection": "add", "inception": "concat", "padded_pools": "max_pool"}[net]
    assert want in fused, p.format_table()
    _no_live_overlap(p)
    _no_live_overlap(lbl)


def test_a_tensor_read_inside_and_outside_a_group_stays_whole():
    """The residual block's input, also read by a step that cannot stream (fc), is a whole tensor
    the group reads in place; the groups still run after everything they read."""
    b = GraphBuilder(10, 10, 2, name="both")
    x = b.conv("stem", "data", 4, 3, pad=1, act=(0, 127))
    y = _residual(b, x)
    b.concat("cat", [b.fc("fc1", y, 3), b.fc("fc2", x, 3)])
    g = b.g
    steps = lower(g)
    sch = schedule.smallest(steps, g, lambda s: plan(steps, g, s).arena_bytes)
    order = [u.index if hasattr(u, "index") else u.steps[0].index for u in sch.units()]
    written = {"pixels"}
    for u in sch.units():
        for s in (u.steps if hasattr(u, "stages") else [u]):
            written.add(s.output)
        ins = u.inputs if hasattr(u, "stages") else u.inputs
        assert set(ins) <= written, (order, ins)
    for grp in sch.groups:
        assert "stem" not in [e.tensor for e in grp.edges if not e.whole]


def _random_graphs(tmp_path, seeds, scheme):
    from test_firmware_random import random_net
    from nnbuild import pipeline
    from nnbuild.manifest import load_manifest

    manifest = {"version": 1, "models": [random_net(s, tmp_path, scheme=scheme) for s in seeds]}
    path = tmp_path / "nets.yaml"
    path.write_text(json.dumps(manifest))
    for entry in load_manifest(path).models:
        graph = pipeline.import_model(entry)
        yield entry.name, pipeline.quantize_graph(entry, graph)[0], pipeline.load_calibration(entry, graph)


@pytest.mark.parametrize("scheme", ["q7", "int8"])
def test_streamed_random_nets_equal_golden_on_the_host(scheme, tmp_path):
    """tests/test_firmware_random's generator (its branching seed 11 included): every net whose
    schedule streams is bit-exact, and the arena never grows."""
    streamed = 0
    for name, qgraph, images in _random_graphs(tmp_path, (11, 13, 21, 22, 23, 24), scheme):
        p, lbl = _streamed_equals_golden(qgraph, images[:16], tmp_path / name, name)
        assert p.arena_bytes <= lbl.arena_bytes
        _no_live_overlap(p)
        streamed += p.schedule is not None
    assert streamed >= 3


def test_arena_budget_leaves_room_for_the_scores_only():
    """The pixels are planned in the arena: the app's I/O buffer holds the scores (and frames)."""
    from types import SimpleNamespace
    from nnbuild.pipeline import OTHER_RAM, arena_budget

    b = GraphBuilder(16, 16, 3, name="budget")
    b.fc("fc", b.conv("conv", "data", 8, 3, pad=1), 4)
    assert arena_budget(SimpleNamespace(budget={}), b.g, ram=10000) == 10000 - 4 - OTHER_RAM
    assert arena_budget(SimpleNamespace(budget={"ram": 5000}), b.g, ram=10000) == 5000
    assert arena_budget(SimpleNamespace(budget={}), b.g) is None


def test_auto_is_layer_by_layer_when_it_fits_and_streams_when_not():
    b = GraphBuilder(16, 16, 3, name="auto")
    b.fc("fc", b.pool("pool", b.conv("conv", "data", 8, 3, pad=1), 2, 2), 4)
    g = b.g
    steps = lower(g)
    plan_of = lambda s: plan(steps, g, s)
    lbl = plan_of(None).arena_bytes
    assert schedule.choose(steps, g, "auto", None, plan_of)[0] is None
    assert schedule.choose(steps, g, "auto", lbl, plan_of)[0] is None
    sch, p = schedule.choose(steps, g, "auto", lbl - 1, plan_of)
    assert sch is not None and p.arena_bytes < lbl
    assert schedule.choose(steps, g, "fast", 0, plan_of)[0] is None
    assert schedule.choose(steps, g, "small", None, plan_of)[0] is not None


def test_plan_shows_the_schedule_and_every_sub_step_is_a_command():
    b = GraphBuilder(12, 12, 1, name="show")
    b.fc("fc", b.pool("pool", b.conv("conv", "data", 4, 3, pad=1), 3, 2), 4)
    g = b.g
    steps = lower(g)
    sch = schedule.smallest(steps, g, lambda s: plan(steps, g, s).arena_bytes)
    p = plan(steps, g, sch)
    text = p.format_table()
    assert re.search(r"fused group 0: [\w >-]*conv -> pool; line buffers .*carry", text), text
    d = p.to_json_dict()
    grp = d["schedule"]["groups"][0]
    assert grp["names"][-2:] == ["conv", "pool"]
    assert d["substeps"] == grp["commands"] + len(steps) - len(grp["steps"])   # one per unfused step
    # the reported peak is the most bytes live at one sub-step
    live = [sum(-(-b["bytes"] // 4) * 4 for b in d["buffers"] if b["first_substep"] <= t <= b["last_substep"])
            for t in range(d["substeps"])]
    assert d["peak_bytes"] == max(live)


def _resnet8(d, scheme, extra=None):
    """tools/bench_resnet20.py's net with one block per stage on 16x16 inputs: ResNet-8 (BN +
    Scale folded, Eltwise SUM shortcuts, 1x1 stride-2 projections, global average pool)."""
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    from bench_resnet20 import write_model

    return write_model(d, calib=16, n_eval=4, blocks=1, size=16, scheme=scheme, name=f"resnet8_{scheme}",
                       extra=extra)


@pytest.mark.parametrize("scheme", ["q7", "int8"])
def test_resnet8_streamed_equals_layer_by_layer_equals_golden_on_the_host(scheme, tmp_path):
    from nnbuild import pipeline
    from nnbuild.manifest import load_manifest

    entry = load_manifest(_resnet8(tmp_path / "net", scheme)).models[0]
    graph = pipeline.import_model(entry)
    qgraph = pipeline.quantize_graph(entry, graph)[0]
    images = pipeline.load_calibration(entry, graph)[:6]
    p, lbl = _streamed_equals_golden(qgraph, images, tmp_path, entry.name)
    generate_model(qgraph, tmp_path / "lbl", entry.name, memory="fast")
    got = HostModel(tmp_path / "lbl", entry.name, tmp_path / "liblbl").run(images)
    assert np.array_equal(got, golden.run(qgraph, images).reshape(len(images), -1))
    assert p.arena_bytes < lbl.arena_bytes, p.format_table()
    adds = [s for grp in p.schedule.groups for s in grp.steps if s.op.startswith("add")]
    assert adds, p.format_table()                    # shortcuts streamed
    _no_live_overlap(p)


def test_memory_map_shows_the_schedule_each_steps_live_bytes_and_the_peak():
    from nnbuild import memmap

    b = GraphBuilder(12, 12, 1, name="map")
    b.fc("fc", b.pool("pool", b.conv("conv", "data", 4, 3, pad=1), 3, 2), 4)
    g = b.g
    steps = lower(g)
    # all fused (the search keeps this input stage whole: the pixels are one arena buffer anyway)
    sch = schedule.build(steps, g, [(False,) * len(ts) for _, ts in schedule.components(steps, g)])
    d = plan(steps, g, sch).to_json_dict()
    pixels = next(b for b in d["buffers"] if b["kind"] == "input")
    assert pixels["name"] == g.input and pixels["bytes"] == 144 and pixels["start"] == 0
    a = memmap.arena_schedule(d)
    assert a["mode"] == "streamed" and a["peak_bytes"] == max(r["live_bytes"] for r in a["steps"])
    assert [r["group"] for r in a["steps"]] == [0, 0, 0, None]
    text = "\n".join(memmap._format_schedule("map", a))
    assert f"map: streamed, arena {d['arena_bytes']} B, peak live {d['peak_bytes']} B" in text
    assert "fused group 0: data -> conv -> pool; line buffers" in text, text
    peak = next(r for r in a["steps"] if r["index"] == a["peak_step"])
    assert re.search(rf"{peak['name']}\s+{peak['live_bytes']} B live\s+\(group 0\)\s+<- peak", text), text
    assert memmap.arena_schedule(plan(steps, g).to_json_dict())["mode"] == "layer by layer"


@needs_shared
@pytest.mark.parametrize("scheme", ["q7", "int8"])
def test_cifar_streamed_equals_golden_on_all_test_images(scheme, cifar_graph, tmp_path):
    from nnbuild.calibration import load_eval_data
    from nnbuild.quantize import quantize
    from conftest import CIFAR_CALIB

    calib = np.load(CIFAR_CALIB)["images"][:500]
    options = {"per_channel": True} if scheme == "int8" else {}
    qgraph = quantize(cifar_graph, calib, scheme, strategy="mse", options=options)
    images, _ = load_eval_data(CIFAR_TEST, cifar_graph)
    expected = golden.run(qgraph, images).reshape(len(images), -1)   # once: both host runs compare to it
    p, lbl = _streamed_equals_golden(qgraph, images, tmp_path, "cifar", expected)
    assert len(images) == 932 and lbl.arena_bytes == 40960
    # dsp: conv2's im2col in 5 chunks of one kernel row (1,280 B of columns + 256 B of sums, was
    # 6,400 B in one pass: 14,336 B); the 3,072 B of pixels live in the arena until conv1 reads
    # their last row (before: 11,744 B + a separate 3,072 B input buffer)
    assert p.arena_bytes == 10080 and "conv2d+relu, 5 chunks" in p.format_table(), p.format_table()
    # issue 14: `auto` with 12 KiB for the arena chunks only as far as it must: 2 chunks (3 + 2 rows)
    steps = lower(qgraph, "dsp")
    _, fit = schedule.choose(steps, qgraph, "auto", 12288, lambda s: plan(steps, qgraph, s))
    assert fit.arena_bytes == 12032 and [s.params.get("chunks", 1) for s in steps] == [1, 1, 1, 2, 1, 1, 1, 1]
    assert fit.schedule is not None and "conv2d+relu, 2 chunks" in fit.format_table(), fit.format_table()
    _, fast = schedule.choose(steps, qgraph, "fast", None, lambda s: plan(steps, qgraph, s))
    # fast never chunks; with no budget it widens every conv's weights to int16 in its scratch
    assert fast.arena_bytes == 45056 and not any("chunks" in s.params for s in steps)
    assert [s.kernel for s in steps if s.op.startswith("conv2d")] == [f"nn_conv2d_{'q7' if scheme == 'q7' else 's8'}_relu_quad_wide"] * 3
    # and that 12 KiB plan itself, run through the DSP variant (conv2's chunked entry) on all 932 images
    gen = tmp_path / "gen12k"
    _, fit, _ = generate_model(qgraph, gen, "cifar", memory="auto", arena_budget=12288, isa="dsp")
    assert fit.arena_bytes == 12032 and "conv2d+relu, 2 chunks" in fit.format_table()
    got = HostModel(gen, "cifar", tmp_path / "lib12k", dsp=True).run(images)
    assert np.array_equal(got, expected)


SCONS = str(ROOT / ".venv" / "bin" / "scons")


def _scons_check(*args):
    r = subprocess.run([SCONS, "-Q", "-C", str(ROOT), *map(str, args), "check"], capture_output=True, text=True)
    assert r.returncode == 0, f"scons {args} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


@needs_arm
@needs_qemu
@pytest.mark.parametrize("target", ["m4", "m3", "m0"])
def test_sample_streamed_in_qemu_equals_golden(target, tmp_path):
    """The dsp, mla and thumb1 conv variants and the ref pools behind the row entry points."""
    text = (ROOT / "models.yaml").read_text().replace("models/sample/", f"{ROOT}/models/sample/")
    text = text.replace("    budget: {ram: 10KiB}", "    budget: {ram: 10KiB}\n    memory: small")
    manifest = tmp_path / "sample_small.yaml"
    manifest.write_text(text)
    out = _scons_check(f"target={target}", f"manifest={manifest}", f"build_dir={tmp_path / 'build'}")
    assert re.search(rf"\[check\] {target} sample_digits: \d+/\d+ outputs identical", out), out
    assert "fused group 0" in (tmp_path / "build" / target / "models" / "sample_digits" / "plan.txt").read_text()


@needs_arm
@needs_qemu
def test_resnet8_streamed_in_qemu_equals_golden(tmp_path):
    """The int8 ResNet-8 with memory: small on m4 (dsp conv, nn_add_s8_rows, clamp rows)."""
    manifest = _resnet8(tmp_path / "net", "int8", extra={"memory": "small"})
    out = _scons_check("target=m4", f"manifest={manifest}", f"build_dir={tmp_path / 'build'}", "samples=4")
    assert re.search(r"\[check\] m4 resnet8_int8: 4/4 outputs identical", out), out
    assert "fused group 0" in (tmp_path / "build" / "m4" / "models" / "resnet8_int8" / "plan.txt").read_text()
    mm = (tmp_path / "build" / "m4" / "memory_map.txt").read_text()
    assert re.search(r"resnet8_int8: streamed, arena \d+ B, peak live \d+ B at step \d+", mm), mm
    assert re.search(r"fused group 0: \S+ -> ", mm) and "<- peak" in mm, mm


@pytest.fixture(scope="module")
def stock_cifar_builds(tmp_path_factory):
    """A build dir per committed CIFAR manifest, for its m0 and its m4 firmware: the model is
    imported and quantized once (the targets' common steps)."""
    return {m: tmp_path_factory.mktemp(m.replace(".", "_")) for m in ("cifar10.yaml", "cifar10_int8.yaml")}


@needs_shared
@needs_arm
@needs_qemu
@pytest.mark.parametrize("manifest", ["cifar10.yaml", "cifar10_int8.yaml"])
def test_cifar_on_m0_streams_by_itself_and_equals_golden(manifest, stock_cifar_builds):
    """memory: auto (the default) picks the streamed schedule from the m0's 16 KiB."""
    build = stock_cifar_builds[manifest]
    out = _scons_check("target=m0", f"manifest=manifests/{manifest}", f"build_dir={build}")
    assert re.search(r"\[check\] m0 cifar10_m4\w*: 20/20 outputs identical", out), out
    plan_txt = next((build / "m0" / "models").glob("*/plan.txt")).read_text()
    assert plan_txt.startswith("arena 10176 B") and "fused group 0" in plan_txt   # the pixels in it; thumb1 scratch


@needs_shared
@needs_arm
@needs_qemu
@pytest.mark.parametrize("manifest", ["cifar10.yaml", "cifar10_int8.yaml"])
def test_cifar_on_m4_in_12kib_streams_chunked_and_equals_golden(manifest, tmp_path, stock_cifar_builds):
    """Issue 14: with 12 KiB for the arena, `auto` streams cifar10_m4 on m4 with conv2's im2col in
    2 chunks (the ARM loop of dsp/nn_conv_chunked.h), bit-exact in QEMU, at most 3.5 % more
    instructions than layer by layer in the least arena that needs (40 KiB: 40,960 B, where conv3's
    weights are widened to int16 for free; measured +3.0 %, and +1.9 % on layer by layer with int8
    weights throughout); the stock manifest's 48 KiB widens conv1-3 too (12.7 % fewer than 12 KiB)."""
    from conftest import SHARED

    def check(path, build):
        out = _scons_check("target=m4", f"manifest={path}", f"build_dir={build}")
        m = re.search(r"\[check\] m4 cifar10_m4\w*: 20/20 outputs identical to the golden model, (\d+) instructions", out)
        assert m, out
        return int(m.group(1)), next((build / "m4" / "models").glob("*/plan.txt")).read_text()

    text = (ROOT / "manifests" / manifest).read_text().replace("../../shared", str(SHARED))
    small = tmp_path / manifest
    small.write_text(text.replace("    budget: {ram: 48KiB}", "    budget: {ram: 12KiB}"))
    assert small.read_text() != text
    streamed, plan_txt = check(small, tmp_path / "small")
    assert int(re.match(r"arena (\d+) B", plan_txt).group(1)) <= 12288 and "fused group 0" in plan_txt
    assert "conv2d+relu, 2 chunks" in plan_txt and "int16 w" not in plan_txt, plan_txt   # no room to widen
    lean = tmp_path / ("40k_" + manifest)
    lean.write_text(text.replace("    budget: {ram: 48KiB}", "    budget: {ram: 40KiB}"))
    whole, plan_txt = check(lean, tmp_path / "lbl")
    assert "layer by layer" in plan_txt and "chunks" not in plan_txt and "arena 40960 B" in plan_txt
    assert plan_txt.count("int16 w") == 1, plan_txt     # conv3: its scratch fits beside the peak
    assert streamed <= 1.035 * whole, (streamed, whole)
    fastest, plan_txt = check(ROOT / "manifests" / manifest, stock_cifar_builds[manifest])
    assert plan_txt.count("int16 w") == 3 and fastest < 0.9 * streamed, (fastest, streamed, plan_txt)


def test_manifest_memory_defaults_to_auto_and_signs_codegen(tmp_path):
    from nnbuild.manifest import load_manifest

    text = (ROOT / "models.yaml").read_text()
    assert load_manifest(ROOT / "models.yaml").models[0].memory == "auto"
    path = tmp_path / "m.yaml"
    path.write_text(text.replace("    budget: {ram: 10KiB}", "    budget: {ram: 10KiB}\n    memory: small"))
    entry = load_manifest(path).models[0]
    assert entry.memory == "small" and '"memory":"small"' in entry.fingerprint("name", "memory", "budget")
