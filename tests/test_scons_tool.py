"""The `nnbuild` SCons tool in a project of its own: examples/scons_project (own SConstruct, own
main.c) built with the real tools, for m4 (run in QEMU) and for the host; its rebuilds; its budget
gate; the tool's construction variables, the user's flags and exists().

Each test builds in a throwaway copy of the repository (test_build.copy_repo), with PYTHONPATH set
to the copy's site_scons so the example's `import nnbuild` finds the copy's package and tool.
"""
import os
import re
import subprocess

import numpy as np
import pytest
import yaml

from conftest import needs_arm, needs_qemu
from test_build import SCONS, copy_repo, nudge_weight

pytestmark = [needs_arm]

EXAMPLE = "examples/scons_project"
# main.c's fixed input: pixel i is (i * 37 + 11) mod 256
PIXELS = ((np.arange(28 * 28) * 37 + 11) % 256).astype(np.uint8).reshape(1, 28, 28, 1)


@pytest.fixture
def repo(tmp_path):
    return copy_repo(tmp_path / "repo")


def scons(repo, *args, check=True, cwd=None, env=None):
    env = dict(os.environ if env is None else env, PYTHONPATH=str(repo / "site_scons"))
    r = subprocess.run([SCONS, "-Q", *args], cwd=cwd or repo / EXAMPLE, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"scons {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


def golden_scores(repo):
    from nnbuild import golden, ir

    d = repo / EXAMPLE / "build" / "nnbuild" / "models" / "sample_digits"
    return golden.run(ir.load_graph(d / "quant.json", d / "quant.npz"), PIXELS).reshape(-1).tolist()


def printed_scores(stdout):
    m = re.search(r"^scores:((?: -?\d+)+)$", stdout, re.M)
    assert m, stdout
    return [int(v) for v in m.group(1).split()]


def edit_manifest(repo, edit):
    path = repo / EXAMPLE / "models.yaml"
    doc = yaml.safe_load(path.read_text())
    edit(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def ran(result):
    """Lines of work SCons did (step lines, compiler/archiver/linker commands), not up-to-date notes."""
    return [ln for ln in result.stdout.splitlines() if ln.strip() and "is up to date" not in ln]


@needs_qemu
@pytest.mark.parametrize("scheme", ["q7", "int8"])
def test_example_m4_runs_bit_exact_in_qemu_and_rebuilds_nothing(repo, scheme):
    from nnbuild.emulator import check_result, run_firmware

    edit_manifest(repo, lambda d: d["models"][0]["quantization"].update(scheme=scheme))
    first = scons(repo, "target=m4")
    assert "[nnbuild] memory map + budget gate build/m4/app.checked.elf" in first.stdout, first.stdout
    out = repo / EXAMPLE / "build" / "m4"
    for name in ("app.checked.elf", "app.checked.bin", "app.checked.hex", "memory_map.json", "report.html"):
        assert (out / name).stat().st_size > 0, name
    run = check_result(run_firmware(out / "app.checked.elf", "m4", timeout=120), what="example app")
    assert printed_scores(run.stdout) == golden_scores(repo)
    # the gate's memory map names the model's arena (from the link map nnbuild's toolchain writes)
    assert "sample_digits" in (out / "memory_map.txt").read_text()
    assert ran(scons(repo, "target=m4")) == []


def test_example_host_build_with_the_projects_own_gcc_matches_golden(repo):
    first = scons(repo, "target=host")
    # the kernels compile with the project's compiler and flags, plus nnbuild's include dirs
    kernel_cc = [ln for ln in first.stdout.splitlines() if re.search(r"kernels/ref/nn_conv2d_q7\.c", ln)]
    assert kernel_cc and kernel_cc[0].startswith("gcc ") and "-Wextra" in kernel_cc[0], first.stdout
    assert re.search(r"-I\S*kernels\b", kernel_cc[0]), kernel_cc[0]
    app = repo / EXAMPLE / "build" / "host" / "app"
    r = subprocess.run([str(app)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert printed_scores(r.stdout) == golden_scores(repo)
    assert ran(scons(repo, "target=host")) == []


def test_example_changed_weights_rebuild_only_the_model_and_its_link(repo):
    scons(repo, "target=m4")
    nudge_weight(repo / "models" / "sample" / "sample.caffemodel.h5", "conv1", factor=0.5)
    again = "\n".join(ran(scons(repo, "target=m4")))
    for step in ("import", "quantize", "codegen"):
        assert f"[nnbuild] {step} sample_digits" in again, again
    assert "CC build/nnbuild/m4/models/sample_digits/sample_digits.c" in again, again
    assert "LINK build/m4/app.elf" in again and "budget gate" in again, again
    assert "/kernels/" not in again.replace("build/nnbuild/m4/fw/kernels/", ""), again  # no kernel recompiled
    assert "startup.c" not in again and "platform.c" not in again, again


def test_example_over_budget_fails_with_the_gates_message(repo):
    edit_manifest(repo, lambda d: d["budgets"]["m4"].update(ram="4KiB"))
    r = scons(repo, "target=m4", check=False)
    assert r.returncode != 0
    assert "the firmware does not fit its budget" in r.stderr and "RAM" in r.stderr, r.stderr
    out = repo / EXAMPLE / "build" / "m4"
    assert not (out / "app.checked.elf").exists() and not (out / "app.checked.bin").exists()
    assert (out / "report.html").exists()   # what uses the memory, named by the message


USER_SCONSTRUCT = """
import os
import nnbuild
env = Environment(ENV={"PATH": os.environ["PATH"]}, tools=[], NNBUILD_TARGET="%(target)s")
tool = Tool("nnbuild", toolpath=[nnbuild.scons_tool_path()])
print("exists:", bool(tool.exists(env)))
if ARGUMENTS.get("build"):
    env.Tool("default")
    tool(env)
    env.Replace(NNBUILD_IMPORTCOMSTR="", NNBUILD_QUANTIZECOMSTR="", NNBUILD_CODEGENCOMSTR="",
                CCFLAGS=["-O1", "-DMY_PROJECT_FLAG=1"])
    models = env.NnModels("%(manifest)s")
    env.Append(CPPPATH=models.include_dirs)
    Default(models.library)
"""


def write_user_project(repo, target):
    d = repo / "user"
    d.mkdir()
    manifest = os.path.relpath(repo / "models.yaml", d)
    (d / "SConstruct").write_text(USER_SCONSTRUCT % {"target": target, "manifest": manifest})
    return d


def test_exists_reports_a_missing_cross_compiler(repo, tmp_path):
    import sys

    d = write_user_project(repo, "m4")
    assert "exists: True" in scons(repo, cwd=d).stdout
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python3")
    r = scons(repo, cwd=d, env=dict(os.environ, PATH=str(bindir)))
    assert "exists: False" in r.stdout, r.stdout + r.stderr


def test_tool_respects_the_users_flags_and_quiet_comstr(repo):
    d = write_user_project(repo, "host")
    r = scons(repo, "build=1", cwd=d)
    assert "[nnbuild] import" not in r.stdout and "[nnbuild] quantize" not in r.stdout, r.stdout
    assert (d / "build" / "nnbuild" / "models" / "sample_digits" / "quant.json").exists()
    cc = [ln for ln in r.stdout.splitlines() if ln.startswith("gcc ") and "sample_digits.c" in ln]
    assert cc and "-DMY_PROJECT_FLAG=1" in cc[0] and "-O1" in cc[0], r.stdout
    assert (d / "build" / "nnbuild" / "host" / "libnnmodels.a").stat().st_size > 0


TWO_TARGETS = """
import os
import nnbuild
env = Environment(ENV={"PATH": os.environ["PATH"]}, tools=["default"])
env.Tool("nnbuild", toolpath=[nnbuild.scons_tool_path()])
host = env.NnModels("%(manifest)s", target="host")
m0 = env.Clone()
m0.NnToolchain("m0")
small = m0.NnModels("%(manifest)s", target="m0")
Default(host.library, small.library)
"""


def test_two_targets_in_one_build_each_get_their_own_generated_code(repo):
    """One SConstruct builds the models for two targets: import and quantize run once, codegen
    once per target into <build>/<target>/models/<model>/, each planned for its kernel ISA
    (host: ref, no scratch; m0: thumb1's lanes); a second run does nothing."""
    d = repo / "user2"
    d.mkdir()
    (d / "SConstruct").write_text(TWO_TARGETS % {"manifest": os.path.relpath(repo / "models.yaml", d)})
    r = scons(repo, cwd=d)
    assert r.stdout.count("[nnbuild] import sample_digits") == 1, r.stdout
    assert r.stdout.count("[nnbuild] quantize sample_digits") == 1, r.stdout
    assert r.stdout.count("[nnbuild] codegen sample_digits") == 2, r.stdout
    import json

    scratch = {}
    for t in ("host", "m0"):
        plan = json.loads((d / "build" / "nnbuild" / t / "models" / "sample_digits" / "plan.json").read_text())
        scratch[t] = sum(b["bytes"] for b in plan["buffers"] if b["kind"] == "scratch")
    assert scratch["host"] == 0 and scratch["m0"] > 0, scratch
    assert ran(scons(repo, cwd=d)) == [], "a second run does nothing"
