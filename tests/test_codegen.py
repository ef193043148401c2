"""Generated C: bit-exact with the golden model on the host, const weights in flash, determinism,
generation-time errors."""
import ctypes
import filecmp
import re
import subprocess

import numpy as np
import pytest

from conftest import (CIFAR_CALIB, CIFAR_H5, CIFAR_MEAN, CIFAR_PROTOTXT, CIFAR_TEST, needs_arm,
                      needs_shared)
from nnbuild import csources, golden, hostcc
from nnbuild.codegen import generate, generate_registry
from nnbuild.pipeline import generate_model
from nnbuild.quantize.tables import softmax_exp_table
from nnbuild.errors import NnbuildError
from nnbuild.hostrun import HostModel, generate_and_build, kernel_sources
from nnbuild.lower import lower
from nnbuild.planner import plan
from test_planner import GraphBuilder, cifar_graph, random_graph

@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hostbuild")


def mixed_graph():
    """Every op family in one graph: strided/dilated/grouped/depthwise conv, padded pools, leaky relu,
    relu that cannot run in place, add, concat with shifts, sigmoid, tanh, fc, softmax."""
    b = GraphBuilder(9, 7, 3, seed=5, per_channel_off=True)
    c1 = b.conv("c1", "data", 8, 3, stride=2, pad=1)                 # 5x4x8
    dw = b.conv("dw", c1, 8, 3, pad=1, group=8)                       # depthwise
    g2 = b.conv("g2", c1, 8, 3, pad=2, group=2, dilation=2)          # grouped + dilated
    r = b.relu("r_keep", dw)                                          # dw also read by add: copy + relu
    lk = b.relu("leaky", g2, slope=0.1)                               # in place
    s = b.add("sum", r, dw)
    cat = b.concat("cat", [s, lk])                                    # 5x4x16, sum has 1 frac bit less
    mp = b.pool("mp", cat, 3, 2, pad=1)                               # ceil mode + pad
    sg = b.lut("sig", mp, "sigmoid")
    th = b.lut("tanh", b.pool("ap", cat, 2, 2, pad=1, kind="avg_pool"), "tanh")
    both = b.concat("cat2", [sg, th])
    b.softmax("prob", b.fc("fc", both, 6))
    return b


def host_equals_golden(b, build_dir, name, n=6, dsp=False):
    pixels = b.pixels(n, seed=11)
    model = generate_and_build(b.g, build_dir, name, dsp=dsp)
    got = model.run(pixels)
    want = golden.run(b.g, pixels).reshape(n, -1)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(model.run_in_arena(pixels), want)   # prepared at model.input
    return model, want


# -- bit exactness -------------------------------------------------------------------------------

@pytest.mark.parametrize("dsp", [False, True], ids=["portable", "dsp-emulated"])
def test_cifar_shaped_model_bit_exact(build_dir, dsp):
    b = cifar_graph()
    model, want = host_equals_golden(b, build_dir, "cifar", dsp=dsp)
    assert len(set(map(tuple, want))) == len(want)      # outputs differ per image: a real test
    info = model.info()
    # dsp: layer by layer with no budget, every conv's weights widened to int16 in its scratch
    assert info["arena_bytes"] == (45056 if dsp else 40960)
    assert info["layer_names"][4] == "conv2+relu2" and info["layer_ops"][4] == "conv2d+relu"
    assert info["macs"] == sum(info["layer_macs"]) == 2457600 + 3276800 + 819200 + 5120


@pytest.mark.parametrize("dsp", [False, True], ids=["portable", "dsp-emulated"])
def test_mixed_ops_bit_exact(build_dir, dsp):
    b = mixed_graph()
    steps = lower(b.g)
    assert steps[[s.name for s in steps].index("r_keep")].alias is None
    assert steps[[s.name for s in steps].index("leaky")].alias == "g2"
    _, want = host_equals_golden(b, build_dir, "mixed", n=8, dsp=dsp)
    assert want.min() >= 0 and (want.sum(axis=1) > 100).all()    # softmax probabilities (q7)


@pytest.mark.parametrize("seed", range(4))
def test_random_graphs_bit_exact(build_dir, seed):
    b = random_graph(seed, n_ops=9, fc=bool(seed % 2))
    host_equals_golden(b, build_dir, f"rnd{seed}", n=4, dsp=bool(seed >= 2))


def test_descriptor_fields(build_dir):
    b = cifar_graph()
    b.g.meta.update(labels=["plane", 'say "hi"', "b?", "c", "d", "e", "f", "g", "h", "\u00fc"],
                    channel_order="BGR")
    b.g.tensors["ip1"].quant = {"frac_bits": 1}    # logits in steps of 0.5: exp table zero from d = 24
    model = HostModel(b.g, "described", build_dir)
    info = model.info()
    # the pixels' place: the planned arena offset, 4-aligned (the app prepares them there)
    addr = ctypes.cast(model.model.input, ctypes.c_void_p).value
    header = (model.generated_dir / "described.h").read_text()
    assert addr % 4 == 0 and f"#define DESCRIBED_INPUT_OFFSET {model.plan.tensor_offset(b.g.input)} " in header
    assert info["labels"] == b.g.meta["labels"]
    assert info["channel_order"] == "BGR" and info["input_shape"] == (32, 32, 3) and info["out_n"] == 10
    f = b.fb("ip1")
    assert info["out_scale"] == 2.0 ** -f and info["out_zero_point"] == 0
    full, stored = softmax_exp_table(2.0 ** -f), info["softmax_exp_table"]
    # stored up to the last non-zero entry (flash); the app reads zeros after it
    assert stored.size == 24 and stored[-1] > 0 and not full[stored.size:].any()
    np.testing.assert_array_equal(stored, full[:stored.size])
    assert stored[0] == 65536


def test_softmax_exp_table_values():
    t = softmax_exp_table(2.0 ** -4)
    assert t.dtype == np.int32 and t.shape == (256,)
    assert [int(v) for v in t[:4]] == [65536, 61565, 57835, 54331]   # round(65536 * exp(-d/16))
    assert int(softmax_exp_table(1.0)[12]) == 0 and int(softmax_exp_table(1.0)[11]) == 1


def test_profile_marks_bracket_every_layer(tmp_path):
    b = cifar_graph()
    gen = tmp_path / "gen"
    steps, _, paths = generate_model(b.g, gen, "prof")
    rec = tmp_path / "rec.c"
    rec.write_text("int marks[64]; int n_marks;\n"
                   "void nn_profile_mark(int layer);\n"
                   "void nn_profile_mark(int layer) { marks[n_marks++] = layer; }\n")
    lib = hostcc.load(hostcc.build_shared([paths[1], rec, *kernel_sources()], tmp_path,
                                          include_dirs=[*csources.include_dirs(), gen], defines=["NN_PROFILE"]))
    scores = np.zeros(10, np.int8)
    px = b.pixels(1)[0]
    lib.prof_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    assert lib.prof_run(px.ctypes.data, scores.ctypes.data) == 0
    n = ctypes.c_int.in_dll(lib, "n_marks").value
    marks = (ctypes.c_int * 64).in_dll(lib, "marks")[:n]
    assert marks == list(range(len(steps) + 1))


# -- flash / RAM placement -----------------------------------------------------------------------

@needs_arm
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m0plus"])
def test_weights_in_rodata_arena_in_bss(tmp_path, cpu):
    b = cifar_graph()
    _, p, paths = generate_model(b.g, tmp_path, "placed")
    obj = tmp_path / "placed.o"
    subprocess.run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-Os", "-Wall", "-Wextra", "-Werror",
                    "-std=c99", "-pedantic", "-fdata-sections", *(f"-I{d}" for d in csources.include_dirs()),
                    f"-I{tmp_path}", "-c", str(paths[1]), "-o", str(obj)], check=True)
    table = subprocess.run(["arm-none-eabi-objdump", "-t", str(obj)], check=True,
                           capture_output=True, text=True).stdout
    syms = {}
    for line in table.splitlines():
        m = re.match(r"^[0-9a-f]+ .{7} (\S+)\s+([0-9a-f]+) (\S+)$", line)
        if m:
            syms[m.group(3)] = (m.group(1), int(m.group(2), 16))
    for layer, n_w, n_b in (("conv1", 32 * 5 * 5 * 3, 32), ("conv2_relu2", 16 * 5 * 5 * 32, 16), ("ip1", 5120, 10)):
        sec, size = syms[f"placed_{layer}_weight"]
        assert sec.startswith(".rodata") and size == n_w
        sec, size = syms[f"placed_{layer}_bias"]
        assert sec.startswith(".rodata") and size == 4 * n_b
    assert syms["placed_data_off"][0].startswith(".rodata")
    assert syms["placed_model"][0].startswith(".rodata")
    assert syms["placed_arena"] == (".bss.placed_arena", 40960)
    # alignment: every weight array is 4-byte aligned in its section
    sections = subprocess.run(["arm-none-eabi-readelf", "-S", "-W", str(obj)], check=True,
                              capture_output=True, text=True).stdout
    for line in sections.splitlines():
        m = re.search(r"\] (\.rodata\.placed_\w+_weight)\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)", line)
        if m:
            assert int(m.group(2)) % 4 == 0, line


# -- determinism and layout ----------------------------------------------------------------------

def test_generated_files_are_deterministic(tmp_path):
    paths1 = generate_model(cifar_graph().g, tmp_path / "a", "det")[2]
    paths2 = generate_model(cifar_graph().g, tmp_path / "b", "det")[2]
    for p1, p2 in zip(paths1, paths2):
        assert filecmp.cmp(p1, p2, shallow=False)
    reg1 = generate_registry(["det", "other"], tmp_path / "a")
    reg2 = generate_registry(["det", "other"], tmp_path / "b")
    assert filecmp.cmp(reg1, reg2, shallow=False)
    text = open(paths1[1]).read()
    assert str(tmp_path) not in text
    # diff-friendly: no line of constant data holds more than 16 values
    rows = [l for l in text.splitlines() if re.match(r"^\s+-?\d+u?,", l)]
    assert rows and max(l.count(",") for l in rows) <= 16
    assert "static int8_t det_arena[DET_ARENA_BYTES] __attribute__((aligned(4)));" in text
    assert re.search(r"/\* \[4\] conv2\+relu2: conv2d\+relu, 16x16x32 -> 16x16x16\n"
                     r"\s+\* relu1 @\d+ \(8192 B\) -> relu2 @\d+ \(4096 B\), scratch @\d+ \(6400 B\), 3276800 MACs \*/",
                     text)
    header = open(paths1[0]).read()
    for macro, value in (("DET_INPUT_H", "32"), ("DET_INPUT_C", "3"), ("DET_OUTPUT_N", "10"),
                         ("DET_ARENA_BYTES", "40960")):
        assert f"#define {macro} {value}\n" in header


def test_registry_lists_models(tmp_path):
    text = open(generate_registry(["m_a", "m_b"], tmp_path)).read()
    assert "&m_a_model,\n    &m_b_model," in text and "const int nn_model_count = 2;" in text
    assert "nn_model_count = 0" in open(generate_registry([], tmp_path / "e")).read()
    with pytest.raises(NnbuildError, match="more than once"):
        generate_registry(["m", "m"], tmp_path)



@pytest.mark.parametrize("dsp", [False, True], ids=["portable", "dsp-emulated"])
def test_integer_mean_image_gets_the_uint8_offset_table(build_dir, dsp):
    """cifar10_m4's case: a per-pixel integer mean at frac bits -1 (off = mean * 2^(shift-1)):
    nn_input_stage_off8_q7 with a uint8 table (off = base + off8 * off_mul), the same integers."""
    b = cifar_graph()
    st = b.g.ops[0]
    mean = np.random.default_rng(3).integers(1, 256, st.params["off"].size)   # 0: 255 * mul + 2^23 overflows
    st.attrs.update(mul=1 << 23, shift=24)
    st.params["off"] = (mean << 23).astype(np.int32)
    step = lower(b.g)[0]
    assert step.kernel == "nn_input_stage_off8_q7" and step.arrays["off"].dtype == np.uint8
    base = (1 << 23) - step.params["add"]
    assert base == mean.min() << 23 and step.params["off_mul"] % (1 << 23) == 0
    np.testing.assert_array_equal(base + step.arrays["off"].astype(np.int64) * step.params["off_mul"], mean << 23)
    host_equals_golden(b, build_dir, f"off8{int(dsp)}", dsp=dsp)


def _smooth_mean_graph(h, w, c):
    """A chain on an (h, w, c) input whose integer mean image varies by at most 15 along each image
    row of a channel (the 4-bit table's case), at grid 2^-1 like cifar10_m4's."""
    b = GraphBuilder(h, w, c, seed=h + w, name=f"smooth{w}")
    x = b.pool("pool", b.conv("conv", "data", 4, 3, pad=1, act=(0, 127)), 2, 2, kind="avg_pool")
    b.fc("fc", x, 5)
    rng = np.random.default_rng(w)
    mean = rng.integers(90, 140, (h, 1, c)) + rng.integers(0, 16, (h, w, c))
    st = b.g.ops[0]
    st.attrs.update(mul=1 << 23, shift=24)
    st.params["off"] = (mean.reshape(-1) << 23).astype(np.int32)
    return b, mean.reshape(-1)


@pytest.mark.parametrize("w, symbol", [(8, "nn_input_stage_off4c3_q7"), (7, "nn_input_stage_off4_q7")])
def test_smooth_mean_image_gets_the_4bit_table(build_dir, tmp_path, w, symbol):
    """A mean image within 15 of its minimum along every row and channel: per row and channel a base
    byte plus 4-bit residuals, the RGB kernel for even widths, the general one otherwise; the same
    bytes as the golden model layer by layer (portable, dsp) and streamed row by row."""
    b, mean = _smooth_mean_graph(6, w, 3)
    step = lower(b.g)[0]
    assert step.kernel == symbol and step.arrays["off"].size == 6 * (3 + (w * 3 + 1) // 2)
    base = (1 << 23) - step.params["add"]
    assert base == mean.min() << 23 and step.params["off_mul"] == 1 << 23
    for dsp in (False, True):
        host_equals_golden(b, build_dir, f"off4{w}{int(dsp)}", dsp=dsp)
    pixels = b.pixels(4, seed=2)
    want = golden.run(b.g, pixels).reshape(4, -1)
    # every fusable tensor a line buffer (the search would keep the input stage whole here: the
    # pixels are a whole arena buffer either way, so its line buffer would only add bytes)
    from nnbuild import schedule
    steps = lower(b.g)
    sch = schedule.build(steps, b.g, [(False,) * len(ts) for _, ts in schedule.components(steps, b.g)])
    p = plan(steps, b.g, sch)
    (tmp_path / "gen").mkdir()
    generate(b.g, p, steps, tmp_path / "gen", "streamed")
    assert p.schedule.groups[0].steps[0].op == "input_stage"
    np.testing.assert_array_equal(HostModel(tmp_path / "gen", "streamed", tmp_path / "lib").run(pixels), want)


@needs_arm
def test_a_model_links_only_the_input_stage_it_calls(tmp_path):
    """Generation-time choice of the kernel entry point: the 4-bit RGB model's image, linked for m4
    from its run function with --gc-sections, holds nn_input_stage_off4c3_q7 and none of the
    other input-stage kernels (each its own file: the linker drops them)."""
    from nnbuild import targets
    b, _ = _smooth_mean_graph(6, 8, 3)
    t = targets.get_target("m4")
    _, _, paths = generate_model(b.g, tmp_path, "linked", isa=csources.isa_for(t))   # its weight layout
    elf = tmp_path / "linked.elf"
    subprocess.run(["arm-none-eabi-gcc", *t.cflags, *targets.FIRMWARE_CFLAGS, "-Werror",
                    *(f"-I{d}" for d in csources.include_dirs()), f"-I{tmp_path}", str(paths[1]),
                    *map(str, csources.kernel_sources(csources.isa_for(t))), "--specs=nosys.specs",
                    "-nostartfiles", "-Wl,--gc-sections", "-Wl,-e,linked_run", "-o", str(elf)], check=True)
    names = set(subprocess.run(["arm-none-eabi-nm", str(elf)], check=True, capture_output=True,
                               text=True).stdout.split())
    stages = {n for n in names if n.startswith("nn_input_stage")}
    assert stages == {"nn_input_stage_off4c3_q7"}, stages
    convs = {"nn_conv2d_q7", "nn_conv2d_q7_relu", "nn_conv2d_q7_relu_quad", "nn_conv2d_q7_relu_quad_wide"}
    assert convs & names and "nn_avgpool_q7" in names and "nn_maxpool_q7" not in names


@pytest.mark.parametrize("off, mul, shift", [
    (np.arange(48) ** 2 * 614, 614, 10),                  # quotients up to 2209 on the grid of 614
    ((np.arange(48) ** 2 - 5) << 4, 16, 4),               # the same from a negative base
    ((np.arange(48) * 8) << 20, 2**31 // 256, 24),        # 255 * mul + 2^23 leaves int32
])
def test_offsets_without_an_exact_uint8_form_keep_the_int32_table(off, mul, shift):
    from nnbuild.kernels.q7_input_stage import compact_offsets
    assert compact_offsets(np.asarray(off, np.int32), mul, shift) is None
    b = GraphBuilder(4, 4, 3)
    b.g.ops[0].attrs.update(mul=mul, shift=shift)
    b.g.ops[0].params["off"] = np.asarray(off, np.int32)
    b.fc("fc", "data", 2)
    step = lower(b.g)[0]
    assert step.kernel == "nn_input_stage_q7" and step.arrays["off"].dtype == np.int32

# -- generation-time errors ----------------------------------------------------------------------

def test_bad_inputs_fail_at_generation_and_write_nothing(tmp_path):
    g = cifar_graph().g
    steps = lower(g)
    p = plan(steps, g)
    with pytest.raises(NnbuildError, match="not a C identifier"):
        generate(g, p, steps, tmp_path, "9lives")
    g.meta["labels"] = ["a", "b"]
    with pytest.raises(NnbuildError, match="2 labels for 10 outputs") as e:
        generate(g, p, steps, tmp_path, "ok")
    assert "meta.labels" in str(e.value)
    g.meta["labels"] = None
    g.meta["channel_order"] = "RGBA"
    with pytest.raises(NnbuildError, match="channel_order 'RGBA'"):
        generate(g, p, steps, tmp_path, "ok")
    assert list(tmp_path.iterdir()) == []


def test_host_run_rejects_wrong_input(build_dir):
    model = generate_and_build(cifar_graph().g, build_dir, "cifar")
    with pytest.raises(NnbuildError, match="uint8"):
        model.run(np.zeros((1, 32, 32, 3), np.float32))
    with pytest.raises(NnbuildError, match="shape"):
        model.run(np.zeros((1, 16, 32, 3), np.uint8))


# -- the real CIFAR-10 model ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_cifar():
    from nnbuild.frontends.caffe import load_caffe
    from nnbuild.quantize import quantize

    g = load_caffe(CIFAR_PROTOTXT, CIFAR_H5, input_shape=(32, 32, 3), mean=CIFAR_MEAN, scale=1.0,
                   channel_order="RGB", name="cifar10_m4")
    q = quantize(g, np.load(CIFAR_CALIB)["images"][:200])
    test = np.load(CIFAR_TEST)
    x, y = test["images"][:200], test["labels"][:200]
    return q, x, y, golden.run(q, x).reshape(len(x), -1)


@needs_shared
@pytest.mark.parametrize("dsp", [False, True], ids=["portable", "dsp-emulated"])
def test_real_cifar10_host_build_bit_exact(real_cifar, build_dir, dsp):
    q, x, y, want = real_cifar
    model = generate_and_build(q, build_dir, "cifar10_m4", dsp=dsp)
    got = model.run(x)
    np.testing.assert_array_equal(got, want)
    assert model.plan.arena_bytes == 40960          # conv1 output + pool1 output (the pixels in it too)
    np.testing.assert_array_equal(model.run_in_arena(x[:50]), want[:50])   # pixels at model.input
    top1 = float((got.argmax(axis=1) == y).mean())
    assert top1 > 0.7, top1                          # measured 0.80 on all 932 test images


def test_host_runs_in_parallel_threads_with_one_library_copy_each(build_dir):
    """The generated model is not reentrant (one static arena): parallel host runs load one copy
    of the library per thread, and give the bytes of a serial run and of the golden model."""
    b = mixed_graph()
    pixels = b.pixels(70, seed=5)
    model = HostModel(b.g, "parallel", build_dir)
    serial = model.run(pixels, workers=1)
    np.testing.assert_array_equal(model.run(pixels, workers=3), serial)
    np.testing.assert_array_equal(serial, golden.run(b.g, pixels).reshape(70, -1))
    assert len(model._copies) == 2
