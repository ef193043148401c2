"""QEMU runner, instruction counting and the generic firmware application (main.c) on fake models."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, needs_arm, needs_qemu
from nnbuild import emulator, targets
from nnbuild.errors import NnbuildError

TEMPLATE = ROOT / "firmware_template"
PLATFORM = ROOT / "tests" / "data" / "platform"
ARM = [name for name, t in targets.TARGETS.items() if not t.is_host]
SPIN_A, SPIN_B = 100000, 25000          # fake_models.c
SUM_IN = (4, 4, 3)


def link(target, sources, elf, defines=()):
    cmd = targets.firmware_command(target, TEMPLATE, sources, elf, defines=defines)
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return elf


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    out = tmp_path_factory.mktemp("emu")
    srcs = [TEMPLATE / "boards/common/startup.c", TEMPLATE / "app/platform.c", PLATFORM / "hello.c"]
    return {n: link(targets.get_target(n), srcs, out / f"hello_{n}.elf") for n in ARM}


def build_app(target, out):
    srcs = [TEMPLATE / "boards/common/startup.c", TEMPLATE / "app/platform.c", TEMPLATE / "app/main.c",
            PLATFORM / "fake_models.c", PLATFORM / "fake_app.c"]
    return link(target, srcs, out / f"app_{target.name}.elf", defines=["NN_PROFILE"])


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return build_app(targets.get_target("m4"), tmp_path_factory.mktemp("app"))


def run_app(app_elf, args, cwd, target="m4"):
    return emulator.run_firmware(app_elf, target, args=[str(a) for a in args], timeout=30, cwd=cwd)


def sum_model(pixels):
    """Python twin of fake_models.c sum_run (C division truncates toward zero)."""
    x = pixels.reshape(-1, 3).astype(np.int64)
    acc = x.sum(axis=0)
    s = [int(np.trunc(a / 16)) - 64 for a in acc] + [int(pixels.reshape(-1)[0]) - 128]
    return np.clip(s, -128, 127).astype(np.int8)


# -- runner -------------------------------------------------------------------------------------

def test_missing_qemu_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(emulator, "QEMU", "qemu-system-arm-not-installed")
    with pytest.raises(NnbuildError) as e:
        emulator.run_firmware(tmp_path / "x.elf", "m4")
    assert "apt-get install qemu-system-arm" in str(e.value)


@needs_qemu
def test_missing_image_and_bad_arguments(tmp_path):
    with pytest.raises(NnbuildError, match="firmware image not found"):
        emulator.run_firmware(tmp_path / "none.elf", "m4")
    (tmp_path / "fw.elf").write_bytes(b"x")
    with pytest.raises(NnbuildError, match="whitespace"):
        emulator.run_firmware(tmp_path / "fw.elf", "m4", args=["a b"])
    with pytest.raises(NnbuildError, match="unknown target"):
        emulator.run_firmware(tmp_path / "fw.elf", "m9")


@needs_arm
@needs_qemu
def test_timeout_is_a_clear_error(hello):
    with pytest.raises(NnbuildError) as e:
        emulator.run_firmware(hello["m3"], "m3", args=["hang"], timeout=1.5)
    assert "did not finish within 1.5 s" in str(e.value) and "hang" in str(e.value)


def qemu_children(pid):
    """pids of qemu-system-arm processes whose parent is `pid` (from /proc)."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if comm.startswith("qemu-system") and int(rest[1]) == pid:
                found.append(int(d))
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


RUNNER = """
import sys
sys.path.insert(0, {site!r})
from nnbuild import emulator
try:
    emulator.run_firmware({elf!r}, "m3", args=["hang"], timeout=300)
except BaseException as e:
    print(type(e).__name__, e, flush=True)
    raise SystemExit(3)
"""


@needs_arm
@needs_qemu
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_runner_never_leaves_qemu_behind(hello, sig):
    """The process running QEMU is killed (as a killed `scons run` is): QEMU goes with it."""
    code = RUNNER.format(site=str(ROOT / "site_scons"), elf=str(hello["m3"]))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not qemu_children(p.pid) and time.time() < deadline:
        time.sleep(0.1)
    qemu = qemu_children(p.pid)
    assert qemu, "QEMU did not start"
    os.kill(p.pid, sig)                   # the runner only, not its process group
    p.wait(timeout=30)
    deadline = time.time() + 10
    while any(alive(q) for q in qemu) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(alive(q) for q in qemu), "qemu-system-arm outlived its runner"
    if sig != signal.SIGKILL:
        assert p.returncode != 0


def test_run_budget_follows_the_model():
    from nnbuild.firmware import run_budget

    sample, cifar = 328_448, 6_558_720           # MACs per inference (README)
    assert run_budget(sample) < run_budget(sample, inferences=20) < run_budget(cifar, inferences=20)
    assert run_budget(sample, inferences=20) < 60          # `scons check` of the sample model
    assert run_budget(sample, pixels=160 * 120 * 3) > run_budget(sample)
    # at least 8x what the slowest target (m0, 9.7 instructions/MAC) needs at QEMU's measured 80M/s
    assert run_budget(cifar, inferences=20) > 8 * 20 * cifar * 9.7 / 80e6


def test_model_macs_read_from_the_generated_header(tmp_path):
    from nnbuild.firmware import model_macs

    d = tmp_path / "models" / "net"
    d.mkdir(parents=True)
    (d / "net.h").write_text("#define NET_ARENA_BYTES 7840\n#define NET_MACS 328448u\n")
    assert model_macs(tmp_path, "net") == 328448
    (d / "net.h").write_text("#define NET_ARENA_BYTES 7840\n")
    with pytest.raises(NnbuildError, match="no NET_MACS"):
        model_macs(tmp_path, "net")
    with pytest.raises(NnbuildError, match="cannot read the generated header"):
        model_macs(tmp_path, "other")


def test_parse_json_line_takes_the_last_object():
    out = 'text\n{"a": 1}\nmore\n{"model": "x", "n": 2}\n'
    assert emulator.parse_json_line(out) == {"model": "x", "n": 2}
    with pytest.raises(NnbuildError, match="no JSON result line"):
        emulator.parse_json_line("hello\n{broken\n")


def test_check_result_reports_the_firmware_message():
    assert emulator.check_result(emulator.Result(0, "ok", "")).stdout == "ok"
    with pytest.raises(NnbuildError, match="status 2: error: unknown model"):
        emulator.check_result(emulator.Result(2, "", "error: unknown model 'x'\n"))
    with pytest.raises(NnbuildError, match="crashed"):
        emulator.check_result(emulator.Result(emulator.FAULT_EXIT, "", "fault: unexpected exception 3"))


# -- instruction counting ----------------------------------------------------------------------

@needs_arm
@needs_qemu
@pytest.mark.parametrize("name", ARM)
def test_instruction_count_of_a_known_loop(name, hello):
    """nn_spin(n) executes 2n + 2 instructions; the calibrated SysTick must agree to within one
    tick (31-63 instructions depending on the board's clock) plus ~40 for the timer reads."""
    n = 100000
    r = emulator.run_firmware(hello[name], name, args=["spin", str(n)], timeout=20)
    assert r.exit_code == 0, r.stderr
    d = emulator.parse_json_line(r.stdout)
    per_tick = d["q16"] / 65536
    t = targets.get_target(name)
    assert d["calibrated"] == 1 and abs(per_tick - 1e9 / t.systick_hz) < 0.001 * per_tick, d
    assert abs(d["instructions"] - (2 * n + 2)) <= per_tick + 40, d


@needs_arm
@needs_qemu
@pytest.mark.parametrize("name", ["m0", "m4"])
def test_instruction_count_across_timer_wraps(name, tmp_path):
    """With a 16-bit SysTick reload a 10M-instruction loop wraps the counter many times; the
    wrap-extended count must still be exact to a tick."""
    srcs = [TEMPLATE / "boards/common/startup.c", TEMPLATE / "app/platform.c", PLATFORM / "hello.c"]
    elf = link(targets.get_target(name), srcs, tmp_path / "wrap.elf", defines=["NN_PLAT_SYST_RELOAD=0xFFFFu"])
    n = 5_000_000
    r = emulator.run_firmware(elf, name, args=["spin", str(n)], timeout=30)
    d = emulator.parse_json_line(r.stdout)
    assert d["ticks"] > 2 * 65536
    # one tick + timer reads + the calibration's ~1e-5 relative error
    assert abs(d["instructions"] - (2 * n + 2)) <= d["q16"] / 65536 + 40 + 2e-5 * n, d


# -- the application ---------------------------------------------------------------------------

@needs_arm
@needs_qemu
def test_no_arguments_lists_the_linked_models(app, tmp_path):
    r = run_app(app, [], tmp_path)
    assert r.exit_code == 0, r.stderr
    d = emulator.parse_json_line(r.stdout)
    assert [m["name"] for m in d["models"]] == ["sum", "spin"]
    assert d["models"][0] == {"name": "sum", "input": [4, 4, 3], "outputs": 4, "macs": 48, "arena_bytes": 64}
    assert r.stdout.startswith("2 model(s)\nsum 4x4x3 RGB -> 4 scores")


@needs_arm
@needs_qemu
def test_batch_writes_all_scores(app, tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(7, *SUM_IN), dtype=np.uint8)
    images[0] = 255
    images[1] = 0
    (tmp_path / "in.bin").write_bytes(images.tobytes())
    r = run_app(app, ["batch", "sum", "in.bin", "out.bin"], tmp_path)
    assert r.exit_code == 0, r.stderr
    got = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=np.int8).reshape(7, 4)
    np.testing.assert_array_equal(got, np.stack([sum_model(im) for im in images]))
    d = emulator.parse_json_line(r.stdout)
    assert d["model"] == "sum" and d["inferences"] == 7 and d["instructions"] > 0


@needs_arm
@needs_qemu
def test_batch_instructions_per_inference(app, tmp_path):
    (tmp_path / "in.bin").write_bytes(bytes([1, 2, 3, 4] * 3))
    r = run_app(app, ["batch", "spin", "in.bin", "out.bin"], tmp_path)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out.bin").read_bytes() == bytes([1 ^ 4, 0xFF] * 3)
    d = emulator.parse_json_line(r.stdout)
    loops = 2 * SPIN_A + 2 + 2 * SPIN_B + 2
    # + three profile marks (timer reads) and the call: a few hundred instructions at most
    assert d["inferences"] == 3 and loops <= d["instructions"] + 40 <= loops + 400, d


@needs_arm
@needs_qemu
def test_bench_reports_layers(app, tmp_path):
    r = run_app(app, ["bench", "spin"], tmp_path)
    assert r.exit_code == 0, r.stderr
    d = emulator.parse_json_line(r.stdout)
    assert d["model"] == "spin" and d["macs"] == SPIN_A + SPIN_B
    a, b = d["layers"]
    assert (a["name"], a["op"], a["macs"]) == ("spin_a", "loop", SPIN_A)
    assert (b["name"], b["op"], b["macs"]) == ("spin_b", "loop", SPIN_B)
    assert abs(a["instructions"] - (2 * SPIN_A + 2)) <= 100
    assert abs(b["instructions"] - (2 * SPIN_B + 2)) <= 100
    layers = a["instructions"] + b["instructions"]
    assert layers <= d["instructions"] <= layers + 200
    # a model without profile marks: per-layer instructions are unknown, not zero
    d = emulator.parse_json_line(run_app(app, ["bench", "sum"], tmp_path).stdout)
    assert d["layers"] == [{"name": "sum", "op": "sum", "instructions": None, "macs": 48}]
    assert d["instructions"] > 0


@needs_arm
@needs_qemu
def test_classify_prints_top_k(app, tmp_path):
    rng = np.random.default_rng(9)
    frame = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    frame[..., 0] = 250   # red dominates
    (tmp_path / "f.raw").write_bytes(frame.tobytes())
    r = run_app(app, ["classify", "sum", "f.raw", 8, 8, "rgb888", "nearest", "stretch", 3], tmp_path)
    assert r.exit_code == 0, r.stderr
    scores = sum_model(frame[::2, ::2])       # nearest 8x8 -> 4x4 picks even rows/columns
    order = sorted(range(4), key=lambda i: (-int(scores[i]), i))[:3]
    labels = ["red", "green", "blue", "first"]
    lines = r.stdout.splitlines()[:3]
    assert lines == [f"{k + 1}. {labels[i]} (class {i}): {min(100, max(0, int(scores[i])))}%, score {scores[i]}"
                     for k, i in enumerate(order)]
    d = emulator.parse_json_line(r.stdout)
    assert [t["index"] for t in d["top"]] == order and d["top"][0]["label"] == labels[order[0]]
    assert d["instructions"] > 0


@needs_arm
@needs_qemu
def test_classify_gray_frame_without_labels_and_a_comma_in_the_path(app, tmp_path):
    (tmp_path / "a,b.raw").write_bytes(bytes([9, 1, 2, 3]))
    r = run_app(app, ["classify", "spin", "a,b.raw", 2, 2, "gray"], tmp_path)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[:2] == ["1. class 0: 10%, score 10", "2. class 1: 0%, score -1"]  # 9 ^ 3 = 10
    assert emulator.parse_json_line(r.stdout)["top"][1] == {"rank": 2, "index": 1, "label": None,
                                                          "score": -1, "percent": 0}


@needs_arm
@needs_qemu
def test_preprocess_writes_the_model_input(app, tmp_path):
    frame = np.arange(6 * 10 * 3, dtype=np.uint8).reshape(6, 10, 3)
    (tmp_path / "f.raw").write_bytes(frame.tobytes())
    args = ["preprocess", "sum", "f.raw", 10, 6, "rgb888", "nearest", "stretch", 1, 0, "o.bin"]
    r = run_app(app, args, tmp_path)
    assert r.exit_code == 0, r.stderr
    ys = [y * 6 // 4 for y in range(4)]
    xs = [10 - 1 - x * 10 // 4 for x in range(4)]   # flip_h
    expect = frame[np.ix_(ys, xs)]
    assert (tmp_path / "o.bin").read_bytes() == expect.tobytes()
    assert emulator.parse_json_line(r.stdout) == {"model": "sum", "bytes": 48}


@needs_arm
@needs_qemu
@pytest.mark.parametrize("args,status,message", [
    (["bench", "nope"], 2, "unknown model 'nope'; linked models: sum spin"),
    (["batch", "sum", "missing.bin", "o.bin"], 3, "cannot open input file 'missing.bin'"),
    (["batch", "sum", "short.bin", "o.bin"], 3, "ends inside input 1 (10 of 48 bytes"),
    (["batch", "spin", "fail.bin", "o.bin"], 4, "model spin failed (-7) on input 0"),
    (["frobnicate", "sum"], 1, "bad command line"),
    (["classify", "sum", "short.bin", "4", "4", "yuv"], 1, "unknown pixel format 'yuv'"),
    (["classify", "sum", "short.bin", "4", "4", "rgb888"], 3, "does not hold exactly 4x4 rgb888"),
    (["classify", "sum", "short.bin", "4000", "4000", "rgb888"], 5, "frame_bytes="),
])
def test_errors_exit_non_zero_with_a_message(app, tmp_path, args, status, message):
    (tmp_path / "short.bin").write_bytes(bytes(48 + 10))
    (tmp_path / "fail.bin").write_bytes(bytes([0, 255, 0, 0]))
    r = run_app(app, args, tmp_path)
    assert r.exit_code == status, (r.stdout, r.stderr)
    assert message in r.stderr


@needs_arm
@needs_qemu
def test_app_runs_on_the_smallest_target(tmp_path):
    elf = build_app(targets.get_target("m0"), tmp_path)
    images = np.arange(2 * 48, dtype=np.uint8).reshape(2, *SUM_IN)
    (tmp_path / "in.bin").write_bytes(images.tobytes())
    r = run_app(elf, ["batch", "sum", "in.bin", "out.bin"], tmp_path, target="m0")
    assert r.exit_code == 0, r.stderr
    got = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=np.int8).reshape(2, 4)
    np.testing.assert_array_equal(got, np.stack([sum_model(im) for im in images]))
    d = json.loads(r.stdout.splitlines()[-1])
    assert d["inferences"] == 2


@needs_arm
@needs_qemu
@pytest.mark.parametrize("name", ARM)
def test_ticks_move_forward_right_after_init(hello, name, tmp_path):
    """SysTick loads its reload value on the first tick without a wrap interrupt; a reading taken
    before that must not be a whole period ahead of the next one."""
    r = emulator.run_firmware(hello[name], name, args=["ticks0"], timeout=30, cwd=tmp_path)
    assert r.exit_code == 0, r.stderr
    ticks = int(r.stdout.split("ticks0 forward ")[1].split()[0])
    per_tick = 1e9 / targets.get_target(name).systick_hz
    assert abs(ticks * per_tick - 40002) < 3 * per_tick + 40, r.stdout   # nn_spin(20000) = 40,002 instructions
