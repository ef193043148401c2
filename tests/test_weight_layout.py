"""The weight layout link guard (nn_kernels.h: NN_WEIGHT_LAYOUT): a model whose weights are laid out
for one kernel variant (the DSP conv's rows of ceil4(K), Kernel.pack) links only with variants
that read that layout; a mismatched link fails naming the layout, a matched one is unchanged."""
import difflib
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import CIFAR_H5, ROOT, needs_arm
from nnbuild import csources, golden, kernels, targets
from nnbuild.codegen import generate
from nnbuild.errors import NnbuildError
from nnbuild.exporters.cmake import kernel_closure
from nnbuild.hostrun import HostModel
from nnbuild.kernels import q7_conv2d
from nnbuild.lower import lower
from nnbuild.planner import plan
from test_planner import GraphBuilder, cifar_graph

MARKER = re.compile(r"\bnn_weight_layout_(\w+)\s*=")


def _marker_defined_in(path):
    return MARKER.findall(path.read_text())


def _marker_defined(isa):
    src = [p for p in csources.kernel_sources(isa) if p.stem == kernels.LAYOUT_SOURCE]
    assert len(src) == 1, isa
    return _marker_defined_in(src[0])


def test_every_variant_defines_exactly_the_marker_of_its_layout():
    header = (csources.TEMPLATE_DIR / "kernels" / "nn_kernels.h").read_text()
    for isa in csources.isas():
        assert _marker_defined(isa) == [kernels.weight_layout(isa)], isa
        assert f"extern const uint8_t nn_weight_layout_{kernels.weight_layout(isa)};" in header
    assert kernels.weight_layout(kernels.ANY_ISA) == kernels.weight_layout("ref") == "plain"


def test_variants_of_one_layout_pack_alike_and_of_two_differently():
    # the table (kernels.WEIGHT_LAYOUTS) against the packing itself, on seeded conv shapes
    rng = np.random.default_rng(7)
    for _ in range(40):
        cin, groups = int(rng.integers(1, 9)), 1
        p = {"k_h": int(rng.integers(1, 6)), "k_w": int(rng.integers(1, 6)), "in_c": cin, "out_c": 4,
             "groups": groups}
        w = rng.integers(-128, 128, (4, p["k_h"], p["k_w"], cin), dtype=np.int8)
        for a in csources.isas():
            for b in csources.isas():
                wa, wb = q7_conv2d.pack_weight(w, p, a), q7_conv2d.pack_weight(w, p, b)
                same = wa.shape == wb.shape and np.array_equal(wa, wb)
                if kernels.weight_layout(a) == kernels.weight_layout(b):
                    assert same, (a, b, p)
                elif q7_conv2d.taps(p) % 4:
                    assert not same, (a, b, p)


def _layouts(g, isa):
    return {s.name: s.layout for s in lower(g, isa) if s.layout}


def test_only_steps_whose_arrays_depend_on_the_variant_name_a_layout():
    g = cifar_graph().g     # conv1: K = 75 (a K % 4 gap); conv2, conv3: K = 800
    assert _layouts(g, "dsp") == {"conv1": "ceil4"}
    for isa in (kernels.ANY_ISA, "ref", "mla", "thumb1", "mve"):
        assert _layouts(g, isa) == {"conv1": "plain"}, isa
    b = GraphBuilder(8, 8, 4, name="portable")      # K % 4 == 0 and a depthwise conv (plain on dsp too)
    x = b.conv("c1", "data", 8, 3, pad=1)
    x = b.conv("dw", x, 8, 3, pad=1, group=8)
    b.fc("fc", x, 10)
    for isa in csources.isas():
        assert _layouts(b.g, isa) == {}, isa


def _generate_without_marker(g, isa, out_dir, name):
    """The model as generated before the guard: its steps with no layout."""
    steps = lower(g, isa)
    for s in steps:
        s.layout = None
    return generate(g, plan(steps, g), steps, out_dir, name)


def _generate(g, isa, out_dir, name):
    steps = lower(g, isa)
    return generate(g, plan(steps, g), steps, out_dir, name)


def _marker_only_diff(g, isa, tmp_path, name):
    """Generate with and without the marker: the C differs only by the marker's line (and a blank)."""
    new = _generate(g, isa, tmp_path / "new", name)
    old = _generate_without_marker(g, isa, tmp_path / "old", name)
    assert open(new[0]).read() == open(old[0]).read()
    diff = [d for d in difflib.ndiff(open(old[1]).read().splitlines(), open(new[1]).read().splitlines())
            if d[:1] in "+-"]
    return diff


@pytest.mark.parametrize("isa", ["dsp", kernels.ANY_ISA])
def test_generated_c_changes_only_by_the_marker_reference(tmp_path, isa):
    diff = _marker_only_diff(cifar_graph().g, isa, tmp_path, "cif")
    layout = kernels.weight_layout(isa)
    assert diff == [f"+     NN_WEIGHT_LAYOUT({layout});   /* conv1: weights in this layout (nn_kernels.h) */",
                    "+ "], diff


def test_sample_and_cifar_models_change_only_by_the_marker(tmp_path):
    from nnbuild import pipeline
    from nnbuild.manifest import load_manifest

    models = [("sample_digits", ROOT / "models.yaml")]
    if CIFAR_H5.exists():
        models.append(("cifar10_m4", ROOT / "manifests" / "cifar10.yaml"))
    for name, manifest in models:
        entry = load_manifest(manifest).model(name)
        q, _ = pipeline.quantize_graph(entry, pipeline.import_model(entry))
        for isa in ("dsp", "ref"):
            diff = _marker_only_diff(q, isa, tmp_path / f"{name}{isa}", name)
            assert [d[2:].split(";")[0].strip() for d in diff] == [
                f"NN_WEIGHT_LAYOUT({kernels.weight_layout(isa)})", ""], (name, isa, diff)


def test_mismatched_host_link_fails_naming_both_layouts(tmp_path):
    b = cifar_graph()
    gen_any, gen_dsp = tmp_path / "any", tmp_path / "dsp"
    _generate(b.g, kernels.ANY_ISA, gen_any, "cif")
    _generate(b.g, "dsp", gen_dsp, "cif")
    with pytest.raises(NnbuildError, match=r"'plain' layout, but the dsp kernels read the 'ceil4' layout") as e:
        HostModel(gen_any, "cif", tmp_path / "lib", dsp=True)
    assert "cif.c" in str(e.value) and "isa='dsp'" in str(e.value)
    with pytest.raises(NnbuildError, match=r"'ceil4' layout, but the ref kernels read the 'plain' layout"):
        HostModel(gen_dsp, "cif", tmp_path / "lib", dsp=False)
    # matched links build and run bit-exact
    px = b.pixels(4)
    want = golden.run(b.g, px).reshape(len(px), -1)
    for gen, dsp in ((gen_any, False), (gen_dsp, True)):    # (cached by content in build/)
        assert np.array_equal(HostModel(gen, "cif", ROOT / "build" / "test_weight_layout", dsp=dsp).run(px), want)


def _arm(cmd):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True)


def _cross_link(tmp_path, model_c, isa, target="m4"):
    """Link a generated model with `isa`'s kernels (those it calls, and the variant's marker)."""
    t, model_c = targets.get_target(target), Path(model_c)
    name = model_c.stem
    main = tmp_path / "main.c"
    main.write_text(f'#include "{name}.h"\nstatic uint8_t px[{name.upper()}_INPUT_H * {name.upper()}_INPUT_W'
                    f' * {name.upper()}_INPUT_C];\nstatic int8_t scores[{name.upper()}_OUTPUT_N];\n'
                    f"int main(void) {{ return {name}_run(px, scores); }}\n")
    syms = set(re.findall(r"\b(nn_\w+)\(", model_c.read_text())) & {p.stem for p in csources.kernel_sources(isa)}
    kernels_c = [csources.TEMPLATE_DIR / k for k in kernel_closure(syms | {kernels.LAYOUT_SOURCE}, isa)]
    platform = [s for s in csources.app_sources() if s.name == "platform.c"]
    elf = tmp_path / f"{name}_{isa}.elf"
    cmd = targets.firmware_command(t, csources.TEMPLATE_DIR, [*csources.board_sources(), *platform, main,
                                   model_c, *kernels_c], elf,
                                   include_dirs=[*csources.kernel_include_dirs(), model_c.parent])
    return _arm(cmd), elf


def _flash(elf):
    size = _arm(["arm-none-eabi-size", "-A", elf]).stdout
    return sum(int(m.group(2)) for m in re.finditer(r"^(\.text|\.rodata|\.data)\S*\s+(\d+)", size, re.M))


@needs_arm
def test_mismatched_cross_link_fails_and_matched_costs_no_instruction(tmp_path):
    g = cifar_graph().g
    any_c = _generate(g, kernels.ANY_ISA, tmp_path / "any", "cif")[1]
    dsp_c = _generate(g, "dsp", tmp_path / "dsp", "cif")[1]
    r, _ = _cross_link(tmp_path / "any", any_c, "dsp")
    assert r.returncode != 0 and "undefined reference to `nn_weight_layout_plain'" in r.stderr, r.stderr
    r, _ = _cross_link(tmp_path / "dsp", dsp_c, "mve", target="m55")    # mve reads plain rows
    assert r.returncode != 0 and "undefined reference to `nn_weight_layout_ceil4'" in r.stderr, r.stderr
    r, elf = _cross_link(tmp_path / "dsp", dsp_c, "dsp")
    assert r.returncode == 0, r.stderr
    nm = _arm(["arm-none-eabi-nm", "-S", elf]).stdout
    assert re.search(r"^[0-9a-f]+ 00000001 R nn_weight_layout_ceil4$", nm, re.M), nm
    # the same firmware without the marker: no other byte of flash, not one instruction more
    old_c = _generate_without_marker(g, "dsp", tmp_path / "old", "cif")[1]
    r, old_elf = _cross_link(tmp_path / "old", old_c, "dsp")
    assert r.returncode == 0, r.stderr
    assert 0 < _flash(elf) - _flash(old_elf) <= 8

    def run_code(elf):
        dis = _arm(["arm-none-eabi-objdump", "-d", "--no-addresses", "--no-show-raw-insn",
                    "--disassemble=cif_run", elf]).stdout
        return [line for line in dis.splitlines() if line.startswith("\t")]
    assert run_code(elf) and run_code(elf) == run_code(old_elf)


def test_cmake_export_carries_the_marker_its_models_reference(tmp_path):
    from nnbuild.exporters import cmake
    from nnbuild.targets import get_target

    b = GraphBuilder(8, 8, 4, name="portable")      # K % 4 == 0: no marker, no marker file
    b.fc("fc", b.conv("c1", "data", 8, 3, pad=1), 10)
    for target, isa, models, want in (("m4", "dsp", [("cif", cifar_graph().g)], "ceil4"),
                                      ("m3", "mla", [("cif", cifar_graph().g)], "plain"),
                                      ("m4", "dsp", [("portable", b.g)], None)):
        out = tmp_path / f"{target}{want}"
        cmake.export_folder(models, get_target(target), {}, out)
        marker = sorted(out.glob("kernels/*/nn_weight_layout.c"))
        model_c = (out / "models" / models[0][0] / f"{models[0][0]}.c").read_text()
        if want is None:
            assert marker == [] and "NN_WEIGHT_LAYOUT" not in model_c
        else:
            assert [p.relative_to(out).as_posix() for p in marker] == [
                f"kernels/{'dsp' if isa == 'dsp' else 'ref'}/nn_weight_layout.c"]
            assert _marker_defined_in(marker[0]) == [want] and f"NN_WEIGHT_LAYOUT({want});" in model_c
