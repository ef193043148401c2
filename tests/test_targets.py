"""Target table, board linker scripts and startup: every target links and runs in QEMU."""
import re
import subprocess

import pytest

from conftest import ROOT, needs_arm, needs_qemu
from nnbuild import emulator, memmap, targets
from nnbuild.errors import NnbuildError

TEMPLATE = ROOT / "firmware_template"
PLATFORM = ROOT / "tests" / "data" / "platform"
ARM = [name for name, t in targets.TARGETS.items() if not t.is_host]


def build_hello(target, out_dir, defines=()):
    """Link tests/data/platform/hello.c with the board startup; returns (CompletedProcess, elf, map)."""
    elf = out_dir / f"hello_{target.name}_{len(defines)}.elf"
    map_file = elf.with_suffix(".map")
    sources = [TEMPLATE / "boards/common/startup.c", TEMPLATE / "app/platform.c", PLATFORM / "hello.c"]
    cmd = targets.firmware_command(target, TEMPLATE, sources, elf, map_file, defines=defines)
    return subprocess.run(cmd, capture_output=True, text=True), elf, map_file


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    out = tmp_path_factory.mktemp("hello")
    cache = {}

    def get(name):
        if name not in cache:
            r, elf, map_file = build_hello(targets.get_target(name), out)
            assert r.returncode == 0, r.stderr
            cache[name] = (elf, map_file)
        return cache[name]
    return get


def test_get_target_known_and_unknown():
    t = targets.get_target("m4")
    assert t.machine == "mps2-an386" and t.dsp and t.float_abi == "hard"
    assert "-mfpu=fpv4-sp-d16" in t.cflags and "-mcpu=cortex-m4" in t.cflags
    assert targets.get_target("host").is_host
    with pytest.raises(NnbuildError) as e:
        targets.get_target("m5")
    assert "'m5'" in str(e.value) and "m0, m3, m4, m7, m33, m55, host" in str(e.value)


def test_dsp_flags_follow_the_architecture():
    assert [n for n in ARM if targets.get_target(n).dsp] == ["m4", "m7", "m33", "m55"]
    assert [n for n in ARM if targets.get_target(n).mve] == ["m55"]


def _ld_size(text):
    m = re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)([KM]?)", text)
    return int(m.group(1), 0) * {"": 1, "K": 1024, "M": 1024 * 1024}[m.group(2)]


@pytest.mark.parametrize("name", ARM)
def test_board_linker_script_matches_table(name):
    t = targets.get_target(name)
    text = (TEMPLATE / "boards" / t.board / "board.ld").read_text()
    regions = {m.group(1): (int(m.group(2), 16), _ld_size(m.group(3))) for m in re.finditer(
        r"(FLASH|RAM)\s*\([a-z]+\)\s*:\s*ORIGIN\s*=\s*(0x[0-9a-fA-F]+),\s*LENGTH\s*=\s*(\w+)", text)}
    assert regions["FLASH"] == (t.flash.origin, t.flash.length)
    assert regions["RAM"] == (t.ram.origin, t.ram.length)
    assert t.budget_ram <= t.ram.length and t.budget_flash <= t.flash.length


@needs_arm
@pytest.mark.parametrize("name", ARM)
def test_multilib_matches_flags_and_has_rdimon(name):
    t = targets.get_target(name)
    out = subprocess.run(["arm-none-eabi-gcc", *t.cflags, "-print-multi-directory"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == t.multilib
    lib = subprocess.run(["arm-none-eabi-gcc", *t.cflags, "-print-file-name=librdimon.a"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert lib.endswith(f"{t.multilib}/librdimon.a"), lib


def test_qemu_command_uses_icount_and_escapes_commas():
    cmd = targets.qemu_command(targets.get_target("m33"), "/x/fw.elf", ["batch", "a,b.bin"])
    assert cmd[:3] == ["qemu-system-arm", "-M", "mps2-an505"]
    assert cmd[cmd.index("-icount") + 1] == "shift=0"
    assert cmd[cmd.index("-semihosting-config") + 1] == \
        "enable=on,target=native,arg=firmware,arg=batch,arg=a,,b.bin"
    assert cmd[-2:] == ["-kernel", "/x/fw.elf"]
    with pytest.raises(NnbuildError):
        targets.qemu_command(targets.get_target("host"), "fw.elf")


@needs_arm
@needs_qemu
@pytest.mark.parametrize("name", ARM)
def test_hello_runs_and_exit_status_propagates(name, hello):
    elf, _ = hello(name)
    r = emulator.run_firmware(elf, name, timeout=20)
    assert (r.exit_code, r.stdout) == (0, "hello argc=1\n")
    r = emulator.run_firmware(elf, name, args=["7", "x-y"], timeout=20)
    assert (r.exit_code, r.stdout) == (7, "hello argc=3 [7] [x-y]\n")


@needs_arm
@needs_qemu
@pytest.mark.parametrize("name", ["m0", "m33"])
def test_platform_printf_subset(name, hello):
    elf, _ = hello(name)
    r = emulator.run_firmware(elf, name, args=["fmt"], timeout=20)
    assert r.exit_code == 0, r.stderr
    line1 = "%d|%5d|%-5d|%05d|%d|%u|%u|%x|%c|%%|%3s|%-3s|[%s] %d" % (
        -42, 7, 7, -7, -2**31, 4000000000, 123456789, 0xbeef, "q", "a", "b", "-12345-", 10)
    longs = "".join(chr(ord("a") + i % 26) for i in range(300))   # longer than the output buffer
    assert r.stdout.splitlines()[1:] == [line1, longs]


@needs_arm
@needs_qemu
def test_newlib_printf_still_works_through_rdimon(tmp_path):
    t = targets.get_target("m4")
    r, elf, _ = build_hello(t, tmp_path, defines=["USE_PRINTF"])
    assert r.returncode == 0, r.stderr
    r = emulator.run_firmware(elf, t, args=["3"], timeout=20)
    assert (r.exit_code, r.stdout) == (3, "hello argc=2 [3]\nnewlib printf 42\n")


@needs_arm
@needs_qemu
@pytest.mark.parametrize("name", ["m0", "m4", "m55"])
def test_fault_reports_exception_and_exits_100(name, hello):
    elf, _ = hello(name)
    r = emulator.run_firmware(elf, name, args=["fault"], timeout=20)
    assert r.exit_code == emulator.FAULT_EXIT
    assert "fault: unexpected exception 3" in r.stderr   # UDF escalates to HardFault (3)


@needs_arm
@pytest.mark.parametrize("name", ARM)
def test_oversized_static_array_fails_the_link(name, tmp_path):
    t = targets.get_target(name)
    r, elf, _ = build_hello(t, tmp_path, defines=[f"BIG_ARRAY={t.ram.length}"])
    assert r.returncode != 0 and not elf.exists()
    assert "region `RAM' overflowed" in r.stderr


@needs_arm
@pytest.mark.parametrize("name", ["m0", "m4"])
def test_stack_reserve_counts_toward_ram(name, tmp_path, hello):
    """An array that fits beside .data/.bss but not beside the stack reserve is rejected."""
    t = targets.get_target(name)
    elf, map_file = hello(name)
    rep = memmap.memory_report(elf, map_file, t)
    free = t.ram.length - rep["ram"]["total"]
    assert rep["ram"]["stack"] == t.stack_bytes
    r, _, _ = build_hello(t, tmp_path, defines=[f"BIG_ARRAY={free - 64}"])
    assert r.returncode == 0, r.stderr
    r, _, _ = build_hello(t, tmp_path, defines=[f"BIG_ARRAY={free + 64}"])
    assert r.returncode != 0 and "region `RAM' overflowed" in r.stderr
