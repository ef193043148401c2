"""One table of build targets: compiler flags, board files, linker memory, QEMU machine, budgets.

Memory regions are the ones QEMU 7.2 models for each machine (hw/arm/mps2.c, mps2-tz.c,
nrf51_soc.c), so that a linked image runs unchanged in the emulator:

* microbit (nRF51822): flash 256 KiB at 0x0, RAM 16 KiB at 0x20000000, SysTick on 16 MHz.
* mps2-an385/an386/an500: ZBT SSRAM1 4 MiB at 0x0 (code), SSRAM2/3 4 MiB at 0x20000000, 25 MHz.
* mps2-an505 (SSE-200, boots Secure, initial SVTOR 0x10000000): SSRAM1 through its Secure alias
  0x10000000 (4 MiB), SSRAM2+3 through the Secure alias 0x38000000 (4 MiB), 20 MHz.
* mps3-an547 (SSE-300, boots from ITCM at 0x0): ITCM 512 KiB at 0x0, DTCM 512 KiB at 0x20000000.

Default budgets are those of a typical real part with that core (the emulator has far more
memory, so the budget, not the region, is what the gate checks):
m0 nRF51822 16 KiB / 256 KiB, m3 LPC1768-class 64 KiB / 512 KiB, m4 STM32F411-class
128 KiB / 512 KiB, m7 STM32F746-class 320 KiB / 1 MiB, m33 STM32L552-class 256 KiB / 512 KiB,
m55 (Alif/SSE-300-class TCMs) 512 KiB / 512 KiB. RAM budget = .data + .bss + heap + stack reserve.

Instruction counting resolution (QEMU -icount shift=0, SysTick on the core clock): one tick is
1e9 / systick_hz instructions: m0 62.5 (16 MHz), m3/m4/m7 40 (25 MHz), m33 50 (20 MHz),
m55 31.25 (32 MHz). The firmware calibrates the factor at run time (platform.c), so these
values document the resolution; they are not used to convert.
"""
from dataclasses import dataclass, field, replace

from .errors import NnbuildError

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class Region:
    origin: int
    length: int


@dataclass(frozen=True)
class Target:
    name: str
    cpu: str                      # -mcpu value ("" for host)
    cflags: tuple                 # machine flags for compile and link
    float_abi: str                # "soft", "hard" or "host"
    fpu: str                      # -mfpu value or "" (none / implied by -mcpu)
    dsp: bool                     # __ARM_FEATURE_DSP present (ARMv7E-M / v8-M Mainline DSP)
    mve: bool                     # Helium
    machine: str | None           # qemu-system-arm -M value; None = runs natively
    qemu_args: tuple              # extra QEMU arguments
    board: str | None             # firmware_template/boards/<board>
    flash: Region | None
    ram: Region | None
    stack_bytes: int              # reserved stack (.stack section), counted in RAM
    heap_bytes: int               # reserved heap (.heap section), counted in RAM
    budget_ram: int
    budget_flash: int
    multilib: str | None          # arm-none-eabi-gcc -print-multi-directory for cflags
    systick_hz: int               # SysTick (core) clock QEMU gives the board: 1e9/hz instructions per tick
    notes: str = field(default="")
    clock_hz: int = 0             # typical core clock of a real part (CLOCK_HZ): bench's latency_ms

    @property
    def is_host(self):
        return self.machine is None


def _arm(name, cpu, extra, float_abi, fpu, dsp, mve, machine, board, flash, ram, stack,
         budget_ram, budget_flash, multilib, systick_hz, notes=""):
    flags = (f"-mcpu={cpu}", "-mthumb", f"-mfloat-abi={float_abi}", *((f"-mfpu={fpu}",) if fpu else ()),
             *extra)
    return Target(name, cpu, flags, float_abi, fpu, dsp, mve, machine, (), board, flash, ram,
                  stack, 0, budget_ram, budget_flash, multilib, systick_hz, notes)


TARGETS = {t.name: t for t in (
    _arm("m0", "cortex-m0plus", (), "soft", "", False, False, "microbit", "microbit",
         Region(0x00000000, 256 * KiB), Region(0x20000000, 16 * KiB), 2 * KiB,
         16 * KiB, 256 * KiB, "thumb/v6-m/nofp", 16_000_000,
         "QEMU models a Cortex-M0; m0plus code is the same ARMv6-M instruction set"),
    _arm("m3", "cortex-m3", (), "soft", "", False, False, "mps2-an385", "mps2-an385",
         Region(0x00000000, 4 * MiB), Region(0x20000000, 4 * MiB), 4 * KiB,
         64 * KiB, 512 * KiB, "thumb/v7-m/nofp", 25_000_000),
    _arm("m4", "cortex-m4", (), "hard", "fpv4-sp-d16", True, False, "mps2-an386", "mps2-an386",
         Region(0x00000000, 4 * MiB), Region(0x20000000, 4 * MiB), 4 * KiB,
         128 * KiB, 512 * KiB, "thumb/v7e-m+fp/hard", 25_000_000),
    _arm("m7", "cortex-m7", (), "hard", "fpv5-d16", True, False, "mps2-an500", "mps2-an500",
         Region(0x00000000, 4 * MiB), Region(0x20000000, 4 * MiB), 4 * KiB,
         320 * KiB, 1 * MiB, "thumb/v7e-m+dp/hard", 25_000_000),
    _arm("m33", "cortex-m33", (), "hard", "fpv5-sp-d16", True, False, "mps2-an505", "mps2-an505",
         Region(0x10000000, 4 * MiB), Region(0x38000000, 4 * MiB), 4 * KiB,
         256 * KiB, 512 * KiB, "thumb/v8-m.main+fp/hard", 20_000_000,
         "boots Secure; code and data use the Secure aliases of SSRAM1 and SSRAM2/3"),
    _arm("m55", "cortex-m55", (), "hard", "", True, True, "mps3-an547", "mps3-an547",
         Region(0x00000000, 512 * KiB), Region(0x20000000, 512 * KiB), 4 * KiB,
         512 * KiB, 512 * KiB, "thumb/v8-m.main+dp/hard", 32_000_000,
         "-mcpu=cortex-m55 with hard float implies MVE-F and the double-precision FPU"),
    Target("host", "", ("-O2",), "host", "", False, False, None, (), None, None, None,
           0, 0, 0, 0, None, 0, "runs natively; no linker memory, no budget"),
)}


# Typical core clock of a real part with each core, for `nnbuild bench`'s latency_ms (the cycle
# estimate divided by it): m0 nRF51822 16 MHz, m3 LPC1768 100 MHz, m4 STM32F411 100 MHz,
# m7 STM32F746 216 MHz, m33 STM32L552 110 MHz, m55 Alif Ensemble high-performance core 400 MHz
# (its high-efficiency M55 runs at 160 MHz). QEMU's boards run at other rates (systick_hz).
CLOCK_HZ = {"m0": 16_000_000, "m3": 100_000_000, "m4": 100_000_000, "m7": 216_000_000,
            "m33": 110_000_000, "m55": 400_000_000}
TARGETS = {n: replace(t, clock_hz=CLOCK_HZ.get(n, 0)) for n, t in TARGETS.items()}


def get_target(name):
    """The Target called `name`, or an NnbuildError listing the valid names."""
    try:
        return TARGETS[name]
    except (KeyError, TypeError):
        raise NnbuildError(f"unknown target {name!r}", where="target",
                           expected="one of " + ", ".join(TARGETS)) from None


def qemu_command(target, elf, args=(), extra=()):
    """The qemu-system-arm argument list that runs `elf` with semihosting argv `args`.

    -icount shift=0 makes virtual time advance 1 ns per executed instruction, so the firmware's
    timer reads instruction counts deterministically. Commas in arguments are doubled because
    QEMU's option parser treats a single comma as a separator."""
    if target.is_host:
        raise NnbuildError("the host target runs natively, not in QEMU", where=f"target {target.name}")
    sh = "enable=on,target=native,arg=" + ",arg=".join(
        str(a).replace(",", ",,") for a in ("firmware", *args))
    return ["qemu-system-arm", "-M", target.machine, "-nographic", "-monitor", "none",
            "-serial", "none", "-icount", "shift=0", "-semihosting-config", sh,
            *target.qemu_args, *extra, "-kernel", str(elf)]


def link_flags(target, board_dir):
    """Linker flags for a firmware image: the board's script, stack/heap reserve, rdimon."""
    return [*target.cflags, "-nostartfiles", "--specs=rdimon.specs",
            f"-T{board_dir}/{target.board}/board.ld", f"-L{board_dir}/common",
            f"-Wl,--defsym=__stack_size={target.stack_bytes}",
            f"-Wl,--defsym=__heap_size={target.heap_bytes}", "-Wl,--gc-sections"]


FIRMWARE_CFLAGS = ("-O2", "-g", "-ffunction-sections", "-fdata-sections", "-std=c99",
                   "-Wall", "-Wextra")


def firmware_sources(template_dir):
    """The target-independent firmware shell: startup, platform services, generic main."""
    return [f"{template_dir}/boards/common/startup.c", f"{template_dir}/app/platform.c",
            f"{template_dir}/app/main.c"]


def compile_flags(target, template_dir, include_dirs=(), defines=()):
    """Flags for compiling one firmware C file for `target` (FPU/DSP come from -mcpu/-mfpu)."""
    return [*target.cflags, *FIRMWARE_CFLAGS, f"-I{template_dir}/app",
            *(f"-I{d}" for d in include_dirs), *(f"-D{d}" for d in defines)]


def firmware_command(target, template_dir, sources, elf, map_file=None, include_dirs=(),
                     defines=(), extra_ldflags=()):
    """One arm-none-eabi-gcc call that compiles `sources` and links `elf` (tests, small images)."""
    if target.is_host:
        raise NnbuildError("the host target builds shared libraries (hostcc), not firmware",
                           where=f"target {target.name}")
    cmd = ["arm-none-eabi-gcc", *compile_flags(target, template_dir, include_dirs, defines),
           *link_flags(target, f"{template_dir}/boards"), "-o", str(elf), *map(str, sources)]
    if map_file:
        cmd.append(f"-Wl,-Map={map_file}")
    return [*cmd, *extra_ldflags]
