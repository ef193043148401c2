"""The SCons build as a user drives it: incremental rebuilds, budget gate, bad input.

Each test runs `scons` in a throwaway copy of the repository (git-tracked files plus the sample
model), so it may edit weights, manifests and even tool sources without touching the real tree.
Which steps ran is read from the build's own step lines ("[nnbuild] quantize a", "[m4] CC ...").
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import yaml

from conftest import ROOT, needs_arm, needs_qemu
from nnbuild import csources

SCONS = str(ROOT / ".venv" / "bin" / "scons") if (ROOT / ".venv" / "bin" / "scons").exists() else "scons"

pytestmark = [needs_arm]


def copy_repo(dest):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if src.is_symlink():     # site_scons/nnbuild/firmware_template -> ../../firmware_template
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(src), dest / f)
        elif src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    return dest


def scons(cwd, *args, env=None, check=True):
    r = subprocess.run([SCONS, "-Q", *args], cwd=cwd, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"scons {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


def steps(result):
    """The build steps that ran, e.g. {'import a', 'quantize a', 'CC build/m4/models/a.o', ...}."""
    out = set()
    for line in result.stdout.splitlines():
        m = re.match(r"\[(nnbuild|m\d+)\] (.*)$", line)
        if m:
            out.add(m.group(2).strip())
    return out


def two_model_manifest(repo, **overrides):
    """models.yaml-like manifest with models a and b, each with its own copy of the sample weights."""
    base = yaml.safe_load((repo / "models.yaml").read_text())
    sample = base["models"][0]
    models = []
    for name in ("a", "b"):
        weights = repo / "models" / "sample" / f"{name}.caffemodel.h5"
        shutil.copy(repo / sample["weights"], weights)
        m = copy.deepcopy(sample)  # no shared sub-dicts: YAML would write them as aliases
        m.update(name=name, weights=str(weights.relative_to(repo)))
        m.update(overrides.get(name, {}))
        models.append(m)
    base["models"] = models
    path = repo / "two.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    return path


@pytest.fixture
def repo(tmp_path):
    return copy_repo(tmp_path / "repo")


# The default m4 build and the two-model m4 build, each done once per module (a sample build takes
# ~20 s, two models ~60 s): tests that would start by building the same fresh copy get a copy of
# the built tree (sources, build/, .sconsign; the copy is up to date, as the first test checks) and
# never write into the shared one.
@pytest.fixture(scope="module")
def built_m4(tmp_path_factory):
    """(tree, its first `scons target=m4` run) of a fresh copy of the repository."""
    tree = copy_repo(tmp_path_factory.mktemp("built_m4") / "repo")
    return tree, scons(tree, "target=m4")


@pytest.fixture(scope="module")
def built_two(tmp_path_factory):
    """A fresh copy with two.yaml (two_model_manifest), built for m4."""
    tree = copy_repo(tmp_path_factory.mktemp("built_two") / "repo")
    scons(tree, "target=m4", f"manifest={two_model_manifest(tree)}")
    return tree


def copy_built(tree, dest):
    shutil.copytree(tree, dest, symlinks=True)   # copy2: mtimes too; the firmware_template link as is
    return dest


@pytest.fixture
def built_repo(built_m4, tmp_path):
    return copy_built(built_m4[0], tmp_path / "repo")


@pytest.fixture
def built_two_repo(built_two, tmp_path):
    """(tree, its two.yaml)"""
    tree = copy_built(built_two, tmp_path / "repo")
    return tree, tree / "two.yaml"


def nudge_weight(path, layer, factor=None, ulp=False):
    with h5py.File(path, "r+") as f:
        w = f[f"data/{layer}/0"][...]
        flat = w.reshape(-1)
        if ulp:  # the smallest weight by one float step: same q7 model, different file
            i = int(abs(flat).argmin())
            flat[i] = float(flat[i]) + (abs(float(flat[i])) or 1e-30) * 2 ** -20
        else:
            flat *= factor
        f[f"data/{layer}/0"][...] = w


def test_default_build_outputs_and_nothing_to_do_twice(built_m4, built_repo):
    first, repo = built_m4[1], built_repo    # the shared build's output; its copy
    for name in ("firmware.elf", "firmware.bin", "firmware.hex", "memory_map.json", "memory_map.txt",
                 "firmware.unchecked.map"):
        assert (repo / "build" / "m4" / name).stat().st_size > 0, name
    assert {"import sample_digits", "quantize sample_digits", "codegen sample_digits"} <= steps(first)
    second = scons(repo, "target=m4")
    assert steps(second) == set(), second.stdout
    # sources.json kernels.size: those files only are built for size (the compiler records its flags)
    def flags(rel):
        obj = repo / "build" / "m4" / "fw" / rel.replace(".c", ".o")
        info = subprocess.run(["arm-none-eabi-readelf", "--debug-dump=info", str(obj)],
                              capture_output=True, text=True, check=True).stdout
        return next(ln for ln in info.splitlines() if "DW_AT_producer" in ln).split()
    assert "-Os" in flags("kernels/dsp/nn_avgpool_q7.c") and csources.built_for_size("kernels/dsp/nn_avgpool_q7.c")
    assert "-Os" not in flags("kernels/dsp/nn_conv2d_q7.c")


def test_targets_built_in_turn_keep_their_own_generated_code(built_repo):
    """Codegen is per (model, target): m4, then m0, then m4 again regenerates and recompiles
    nothing the second time for m4; import and quantize are shared, the C and plans of both
    targets coexist, each planned for its own kernel ISA's scratch (dsp on m4, thumb1 on m0)."""
    repo = built_repo                       # built for m4
    m0 = steps(scons(repo, "target=m0"))
    assert "codegen sample_digits" in m0 and not {"import sample_digits", "quantize sample_digits"} & m0, m0
    again = scons(repo, "target=m4")
    assert steps(again) == set(), again.stdout
    plans = {}
    for t in ("m4", "m0"):
        d = repo / "build" / t / "models" / "sample_digits"
        assert (d / "sample_digits.c").stat().st_size > 0 and (d / "sample_digits.h").exists()
        plans[t] = json.loads((d / "plan.json").read_text())
    scratch = {t: {b["name"]: b["bytes"] for b in p["buffers"] if b["kind"] == "scratch"} for t, p in plans.items()}
    assert scratch["m4"] != scratch["m0"] and "ip1:scratch" in scratch["m4"] and "ip1:scratch" not in scratch["m0"]
    assert not (repo / "build" / "models" / "sample_digits" / "sample_digits.c").exists()


def test_changed_weights_rebuild_only_that_model(built_two_repo):
    repo, manifest = built_two_repo         # built for m4
    nudge_weight(repo / "models/sample/a.caffemodel.h5", "conv1", factor=0.5)
    ran = steps(scons(repo, "target=m4", f"manifest={manifest}"))
    assert {"import a", "quantize a", "codegen a"} <= ran
    assert any(s.startswith("CC") and s.endswith("/a/a.c") for s in ran), ran
    assert any(s.startswith("LINK") for s in ran)
    assert not [s for s in ran if re.search(r"\bb\b|/b\.", s)], ran


def test_identical_requantization_does_not_recompile(built_two_repo):
    repo, manifest = built_two_repo         # built for m4
    nudge_weight(repo / "models/sample/a.caffemodel.h5", "ip1", ulp=True)
    ran = steps(scons(repo, "target=m4", f"manifest={manifest}"))
    assert {"import a", "quantize a"} <= ran
    assert "codegen a" not in ran and not any(s.startswith(("CC", "LINK")) for s in ran), ran


def test_editing_one_manifest_entry_touches_only_that_model(built_two_repo):
    repo, manifest = built_two_repo         # built for m4
    text = yaml.safe_load(manifest.read_text())
    text["models"][1]["quantization"]["samples"] = 200
    manifest.write_text(yaml.safe_dump(text, sort_keys=False))
    ran = steps(scons(repo, "target=m4", f"manifest={manifest}"))
    assert "quantize b" in ran
    assert not [s for s in ran if re.search(r"\ba\b|/a\.", s)], ran


def test_quantizer_source_change_requantizes(built_repo):
    repo = built_repo                       # built for m4
    q = repo / "site_scons" / "nnbuild" / "quantize" / "__init__.py"
    q.write_text(q.read_text() + "\n# a new quantizer version\n")
    ran = steps(scons(repo, "target=m4"))
    assert "quantize sample_digits" in ran
    assert "import sample_digits" not in ran


def test_model_over_its_budget_fails_and_leaves_no_firmware(repo):
    manifest = two_model_manifest(repo, b={"budget": {"ram": "1KiB"}})
    r = scons(repo, "target=m4", f"manifest={manifest}", check=False)
    assert r.returncode != 0
    msg = r.stderr
    assert "model 'b'" in msg or "model b" in msg, msg
    assert "1.0 KiB" in msg or "1024" in msg, msg
    assert re.search(r"exceeds.*by \d+ bytes", msg), msg
    assert "arena" in msg, msg   # names the top consumer
    assert not (repo / "build" / "m4" / "firmware.elf").exists()
    assert "Traceback" not in msg


def test_target_over_ram_budget_fails(repo):
    text = yaml.safe_load((repo / "models.yaml").read_text())
    text["budgets"]["m4"]["ram"] = "6KiB"   # 8 KiB now fits: memory: auto streams the sample
    (repo / "models.yaml").write_text(yaml.safe_dump(text, sort_keys=False))
    r = scons(repo, "target=m4", check=False)
    assert r.returncode != 0
    assert "m4" in r.stderr and "6.0 KiB" in r.stderr or "6144" in r.stderr, r.stderr
    assert not (repo / "build" / "m4" / "firmware.elf").exists()


@pytest.mark.parametrize("args, expected", [
    (["target=m99"], r"unknown target 'm99'.*m0, m3, m4"),
    (["target=m4", "model=nope"], r"nope.*sample_digits"),
    (["target=m4", "colour=blue"], r"unknown option\(s\) colour"),
    (["target=m4", "manifest=missing.yaml"], r"missing\.yaml"),
    (["target=m9"], r"unknown target 'm9'.*one of m0, m3, m4, m7, m33, m55\)$"),
    (["target=host"], r"target 'host' has no firmware image.*one of m0, m3, m4, m7, m33, m55\)$"),
    (["frame_bytes=-100000"], r"frame_bytes='-100000' is not accepted.*from 0 to"),
    (["frame_bytes=lots"], r"frame_bytes='lots' is not accepted"),
    (["check", "samples=0"], r"samples='0' is not accepted.*from 1 to"),
    (["check", "samples=-1"], r"samples='-1' is not accepted"),
    (["run", "image=x.png", "topk=3.5"], r"topk='3\.5' is not accepted"),
])
def test_bad_command_line(repo, args, expected):
    r = scons(repo, *args, check=False)
    assert r.returncode != 0
    assert re.search(expected, r.stderr.strip(), re.S), r.stderr
    assert "Traceback" not in r.stderr
    assert "host" not in r.stderr or "target=host" in args, r.stderr   # not offered as a choice


@pytest.mark.parametrize("edit, expected", [
    (lambda m: m["models"][0].update(wieghts="x.h5"), r"two\.yaml.*line \d+.*wieghts.*did you mean.*weights"),
    (lambda m: m["budgets"]["m4"].update(ram="12 parsecs"), r"two\.yaml.*12 parsecs"),
    (lambda m: m.update(models="nope"), r"two\.yaml.*models"),
])
def test_bad_manifest(repo, edit, expected):
    text = yaml.safe_load((repo / "models.yaml").read_text())
    edit(text)
    (repo / "two.yaml").write_text(yaml.safe_dump(text, sort_keys=False))
    r = scons(repo, "target=m4", "manifest=two.yaml", check=False)
    assert r.returncode != 0
    assert re.search(expected, r.stderr, re.S | re.I), r.stderr
    assert "Traceback" not in r.stderr


def test_malformed_yaml(repo):
    (repo / "bad.yaml").write_text("version: 1\nmodels: [\n  - name: x\n")
    r = scons(repo, "target=m4", "manifest=bad.yaml", check=False)
    assert r.returncode != 0 and re.search(r"bad\.yaml.*line \d+", r.stderr), r.stderr


def test_missing_toolchain_names_the_install_command(repo, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python3")
    env = dict(os.environ, PATH=str(bindir))
    r = scons(repo, "target=m4", env=env, check=False)
    assert r.returncode != 0
    assert "apt-get install gcc-arm-none-eabi" in r.stderr, r.stderr


def test_help_documents_every_option(repo):
    out = scons(repo, "-h").stdout
    for opt in ("target", "manifest", "model", "build_dir", "cache", "image", "samples", "topk", "frame_bytes",
                "verbose"):
        assert re.search(rf"^{opt}:", out, re.M), opt


@needs_qemu
@pytest.mark.repo_build
@pytest.mark.parametrize("target", ["m0", "m3", "m4", "m7", "m33", "m55"])
def test_every_target_runs_the_sample_model_bit_exact(target):
    """The real repository's default manifest, every target: QEMU outputs == golden bytes."""
    r = scons(ROOT, f"target={target}", "check", "samples=8", f"build_dir={ROOT / 'build'}")
    assert re.search(rf"\[check\] {target} sample_digits: 8/8 outputs identical", r.stdout), r.stdout


def test_image_larger_than_the_board_fails_even_with_a_generous_budget(repo):
    """Two sample models on the micro:bit (16 KiB RAM) with a 1 MiB budget: the board is the limit,
    and the gate (not a bare linker error) says so and names the models' arenas."""
    manifest = two_model_manifest(repo)
    text = yaml.safe_load(manifest.read_text())
    text["budgets"]["m0"]["ram"] = "1MiB"
    manifest.write_text(yaml.safe_dump(text, sort_keys=False))
    r = scons(repo, "target=m0", f"manifest={manifest}", check=False)
    assert r.returncode != 0
    assert re.search(r"target m0: RAM use \d+ bytes .*exceeds the board's RAM region of 16384 bytes", r.stderr), r.stderr
    assert "a_arena" in r.stderr and "b_arena" in r.stderr, r.stderr
    assert not list((repo / "build" / "m0").glob("*.elf"))


def test_parallel_build_and_cache_dir(repo, tmp_path):
    """-j2 builds two models at once; cache= lets a wiped tree get everything back from the cache."""
    manifest = two_model_manifest(repo)
    cache = tmp_path / "cache"
    first = scons(repo, "-j2", "target=m4", f"manifest={manifest}", f"cache={cache}")
    assert {"quantize a", "quantize b"} <= steps(first)
    elf = (repo / "build" / "m4" / "firmware.elf").read_bytes()
    shutil.rmtree(repo / "build")
    again = scons(repo, "-j2", "target=m4", f"manifest={manifest}", f"cache={cache}")
    assert not {"quantize a", "quantize b", "codegen a", "codegen b"} & steps(again), again.stdout
    assert "Retrieved" in again.stdout
    assert (repo / "build" / "m4" / "firmware.elf").read_bytes() == elf


def test_link_flag_change_relinks_and_regates(built_repo):
    """The stack reserve lives in the target table and reaches only the link command line."""
    repo = built_repo                       # built for m4
    t = repo / "site_scons" / "nnbuild" / "targets.py"
    text = t.read_text()
    m4 = text.index('_arm("m4"')
    end = text.index("4 * KiB,", m4)
    t.write_text(text[:end] + "8 * KiB," + text[end + len("4 * KiB,"):])
    ran = steps(scons(repo, "target=m4"))
    assert any(s.startswith("LINK") for s in ran) and any("budget gate" in s for s in ran), ran
    assert not any(s.startswith("CC") for s in ran), ran
    report = json.loads((repo / "build" / "m4" / "memory_map.json").read_text())
    assert report["stack_reserve"] == 8192, report["stack_reserve"]


def test_dollar_in_manifest_paths_and_spaces_in_checkout_and_build_dir(tmp_path):
    """"$" is a character of a path, never an SCons variable; spaces reach the tools quoted."""
    repo = copy_repo(tmp_path / "check out")
    weights = repo / "models" / "sample" / "w$(x).caffemodel.h5"
    shutil.copy(repo / "models" / "sample" / "sample.caffemodel.h5", weights)
    text = yaml.safe_load((repo / "models.yaml").read_text())
    text["models"][0]["weights"] = "models/sample/w$(x).caffemodel.h5"
    (repo / "dollar.yaml").write_text(yaml.safe_dump(text, sort_keys=False))
    r = scons(repo, "target=m4", "manifest=dollar.yaml", "build_dir=out dir")
    fw = repo / "out dir" / "m4"
    assert all((fw / n).stat().st_size > 0 for n in ("firmware.elf", "firmware.bin", "firmware.hex")), r.stdout
    weights.write_bytes(weights.read_bytes())   # same bytes: nothing to do, the file is tracked
    assert steps(scons(repo, "target=m4", "manifest=dollar.yaml", "build_dir=out dir")) == set()
    nudge_weight(weights, "conv1", factor=0.5)  # the "$" file itself is the dependency
    assert "import sample_digits" in steps(scons(repo, "target=m4", "manifest=dollar.yaml", "build_dir=out dir"))


FAKE_QEMU = "#!/bin/sh\n# a firmware that never exits\nexec sleep 1000\n"


def fake_qemu_env(tmp_path):
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    (bindir / "qemu-system-arm").write_text(FAKE_QEMU)
    (bindir / "qemu-system-arm").chmod(0o755)
    return dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")


def children_named(pid, name):
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True, text=True).stdout
    return [int(p) for p, pp, c in (ln.split(None, 2) for ln in out.splitlines()) if int(pp) == pid and c == name]


def test_hung_firmware_times_out_after_a_budget_from_the_model(built_repo, tmp_path):
    repo = built_repo                       # built for m4
    start = time.time()
    r = scons(repo, "target=m4", "run", "image=models/sample/test.npz:0", env=fake_qemu_env(tmp_path), check=False)
    took = time.time() - start
    assert r.returncode != 0 and re.search(r"did not finish within \d+(\.\d+)? s", r.stderr), r.stderr
    limit = float(re.search(r"within (\d+(?:\.\d+)?) s", r.stderr).group(1))
    assert limit < 30 and took < limit + 20, (limit, took)   # the sample model: ~10.7 s, not 600 s


def test_killed_scons_run_leaves_no_emulator(built_repo, tmp_path):
    repo = built_repo                       # built for m4
    p = subprocess.Popen([SCONS, "-Q", "target=m4", "run", "image=models/sample/test.npz:0"], cwd=repo,
                         env=fake_qemu_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, emu = time.time() + 60, []
    while not emu and time.time() < deadline:
        time.sleep(0.2)
        emu = children_named(p.pid, "sleep")
    assert emu, "the emulator never started"
    p.kill()                                  # SIGKILL to scons only, as an OOM killer or CI would
    p.wait()
    deadline = time.time() + 10
    while time.time() < deadline and subprocess.run(["kill", "-0", str(emu[0])], capture_output=True).returncode == 0:
        time.sleep(0.2)
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(emu[0])], capture_output=True, text=True).stdout.strip()
    assert state in ("", "Z"), f"emulator {emu[0]} still running ({state})"


def test_calibration_folder_of_images_builds_and_tracks_each_image(repo):
    """A calibration folder (documented in docs/manifest.md) builds; editing one of its images
    re-quantizes, and adding an unread file does nothing."""
    from nnbuild.imageio import write_png

    folder = repo / "models" / "sample" / "calib_png"
    folder.mkdir()
    with np.load(repo / "models" / "sample" / "calib.npz") as z:
        images = z["images"][:20]
    for i, img in enumerate(images):
        write_png(folder / f"{i:03d}.png", img)
    manifest = repo / "models.yaml"
    text = manifest.read_text()
    assert "calibration: models/sample/calib.npz" in text and "samples: 300" in text
    manifest.write_text(text.replace("calibration: models/sample/calib.npz", "calibration: models/sample/calib_png")
                        .replace("samples: 300", "samples: 20"))
    first = scons(repo, "target=m4")
    assert "quantize sample_digits" in steps(first)
    (folder / "notes.txt").write_text("not an image")
    assert steps(scons(repo, "target=m4")) == set()
    edited = images[3].copy()
    edited[:4] = 255
    write_png(folder / "003.png", edited)
    assert "quantize sample_digits" in steps(scons(repo, "target=m4"))
