"""The kernel registry: which C function executes an op of a quantization scheme, and how.

A `Kernel` is registered by (op type, scheme, ISA) with
  symbol   the C function (kernels/nn_kernels.h). Its ISA variants (ref/, dsp/, mla/, thumb1/,
           mve/) share the name: the firmware's source list picks the variant at link time, as
           in TFLite Micro; `isa="*"` registers for all of them.
  struct   the C parameter struct the call takes by pointer (None: scalar arguments)
  lower    lower(graph, op) -> Lowered: the constraint checks (a model that generates also compiles
           and runs: everything the C kernel cannot do is refused here, naming the op), the struct
           fields / scalar arguments, the constant arrays and the MAC count
  scratch  scratch(params, isa) -> bytes of arena scratch of the `isa` variant; the mirror of
           the C function `<symbol>_scratch_bytes()` of firmware_template/kernels/<isa>/
           (tests/test_scratch.py checks that they agree). Scratch is per ISA, as CMSIS-NN's
           *_get_buffer_size, so a model is lowered and planned per target (its ISA:
           csources.isa_for); Kernel.scratch_bytes(params, ANY_ISA) is the most any variant needs.
  emit     emit(step, ctx) -> [C statements] for one call (ctx: codegen.model's pointer/symbol helpers)
  inplace  indices of the inputs the output may overwrite (element-wise kernels)
  pack     pack(params, arrays, isa) -> arrays laid out as the `isa` variant reads them (None:
           the same for every variant; ANY_ISA: the layout of ref); today the DSP conv's
           word-aligned weight rows (kernels/q7_conv2d.py: weight_row). A step whose arrays
           some variant lays out differently gets the layout's name (Kernel.layout): the
           generated model then references its link marker (weight_layout).
  rows     Rows, when the kernel can run on a band of output rows (streamed execution,
           nnbuild.schedule; C entry points kernels/ref/nn_*_rows.c), else None
  chunks   chunks(params, symbol, isa) -> {n: (C symbol, scratch bytes)} for n >= 2: the ways the
           `isa` variant can run the call in n chunks with less scratch (the DSP conv's K
           chunks, issue 14; schedule.choose picks n, params["chunks"] = n), or {} / None

Lowering (nnbuild.lower) and code generation (nnbuild.codegen) are loops over this table.
Adding a kernel = adding a module here that calls `register(...)`: modules are discovered.
"""
import importlib
import pkgutil
from dataclasses import dataclass, field

import numpy as np

from ..csources import ISA_PREFERENCE
from ..errors import NnbuildError

ANY_ISA = "*"
CALL_ARGS = ("chunks",)   # params the call takes as its last argument, never struct fields

# The weight layout each variant's kernels read (Kernel.pack), named as the marker its
# nn_weight_layout.c defines: nn_weight_layout_<name>. A model with arrays whose layout depends
# on the variant references the marker of the layout it was generated in (NN_WEIGHT_LAYOUT,
# nn_kernels.h), so it links only with variants that read that layout; others stay portable.
WEIGHT_LAYOUTS = {"dsp": "ceil4"}     # conv rows of ceil4(K); every other variant: "plain" (rows of K)
LAYOUT_SOURCE = "nn_weight_layout"    # the per-variant C file that defines the marker


def weight_layout(isa):
    """The name of the weight layout the `isa` variant reads (ANY_ISA: ref's)."""
    return WEIGHT_LAYOUTS.get(isa, "plain")


@dataclass
class Lowered:
    params: dict = field(default_factory=dict)   # struct fields / scalar arguments
    arrays: dict = field(default_factory=dict)   # role -> np.ndarray (weight, bias, off, table...)
    macs: int = 0
    symbol: str = None                           # overrides Kernel.symbol (a wrapper's choice)
    struct: str = None                           # overrides Kernel.struct (with symbol)
    whole: bool = False                          # this op runs only on whole layers (no Kernel.rows)


@dataclass(frozen=True)
class Rows:
    window: str     # the input rows an output row reads: "conv", "pool" (pad_h 0 only), "pixels"
                    # (the input stage) or "point" (element-wise: row y of every input, any number)
    emit: object    # emit(step, ctx, band) -> [C statements]; band: C expressions y0, y1, in_first,
                    # in_rows (input rows held), inp (row in_first), out (row y0), scratch; for
                    # "point": ins (row y of each input), n (output row bytes), w (pixels per row)
    hrow: object = None   # max pools: emit_hrow(step, ctx, inp, out) -> [C statements], the
                          # horizontal windows of one input row (the pool split by rows)


@dataclass(frozen=True)
class Kernel:
    op: str
    scheme: str
    symbol: str
    lower: object
    emit: object
    struct: str = None
    scratch: object = None
    inplace: tuple = ()
    isa: str = ANY_ISA
    rows: Rows = None
    pack: object = None
    chunks: object = None

    def scratch_bytes(self, params, isa=ANY_ISA):
        """Arena bytes one call needs on `isa`; ANY_ISA: the most of any variant (a plan that is
        valid whichever variant is linked)."""
        if self.scratch is None:
            return 0
        return max(self.scratch(params, i) for i in (ISA_PREFERENCE if isa == ANY_ISA else (isa,)))

    def layout(self, params, arrays, isa=ANY_ISA):
        """weight_layout(isa) when pack lays `arrays` (as lowered) out differently on some variant,
        else None (the same bytes on every variant: the call is portable)."""
        if self.pack is None:
            return None
        mine = self.pack(params, arrays, isa)
        for other in ISA_PREFERENCE:
            theirs = self.pack(params, arrays, other)
            if any(_differ(mine[role], theirs[role]) for role in mine):
                return weight_layout(isa)
        return None


def _differ(a, b):
    return np.shape(a) != np.shape(b) or not np.array_equal(a, b)


_REGISTRY = {}


def register(kernel):
    key = (kernel.op, kernel.scheme, kernel.isa)
    if key in _REGISTRY:
        raise AssertionError(f"kernel for {key} registered twice")
    _REGISTRY[key] = kernel
    return kernel


def find(op, scheme, isa=ANY_ISA):
    """The kernel for `op` (an ir.Op) in `scheme` on `isa` (an ISA-specific entry wins)."""
    k = _REGISTRY.get((op.type, scheme, isa)) or _REGISTRY.get((op.type, scheme, ANY_ISA))
    if k is None:
        have = sorted({o for (o, s, _) in _REGISTRY if s == scheme})
        raise NnbuildError(f"no C kernel for op type '{op.type}' in scheme {scheme}",
                           where=f"op '{op.name}' ({op.type})", expected="one of " + ", ".join(have))
    return k


def registered():
    return [(*key, k.symbol) for key, k in sorted(_REGISTRY.items())]


def _discover():
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if not mod.startswith("_"):
            importlib.import_module(f"{__name__}.{mod}")


_discover()
