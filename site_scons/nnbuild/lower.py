"""Quantized IR -> the sequence of kernel calls the generated C makes (one Step per op).

A loop over the kernel registry (nnbuild.kernels): each op finds the kernel registered for its
type and the graph's scheme, whose `lower` refuses what the C kernel cannot do (so that a model
that generates also compiles and runs) and gives the call's parameters. Element-wise kernels
write over an input that dies at that step (Step.alias), which the planner turns into shared
storage. Activation fusion is a graph pass (nnbuild.passes.fuse_activation), not done here.
"""
from dataclasses import dataclass, field

from . import kernels
from .errors import NnbuildError


@dataclass
class Step:
    index: int
    name: str            # layer name: the IR op's name (fused ops are named "conv2+relu2")
    op: str              # what it computes, e.g. "conv2d" or "conv2d+relu" (fused activation)
    kernel: str          # C kernel function
    inputs: list         # tensor names read (the first may be the graph's pixel input)
    output: str          # tensor written
    alias: str = None    # input tensor whose storage the output reuses (in place), or None
    params: dict = field(default_factory=dict)   # scalar kernel arguments / struct fields
    arrays: dict = field(default_factory=dict)   # role -> np.ndarray (weight, bias, off, table...)
    scratch: int = 0     # kernel scratch bytes on the ISA lowered for (Kernel.scratch, <kernel>_scratch_bytes())
    macs: int = 0
    struct: str = None   # C parameter struct type, when the kernel takes one
    emit: object = None  # Kernel.emit: the C statements of this call
    rows: object = None  # Kernel.rows: how it runs on a band of output rows (None: whole layers only)
    chunkings: dict = None  # n -> (C symbol, scratch): Kernel.chunks, the call in n chunks (schedule.set_chunks)
    layout: str = None   # Kernel.layout: the weight layout its arrays are in, when that is per variant


def lower(qgraph, isa=kernels.ANY_ISA):
    """Return the list of Steps executing `qgraph` (a quantized ir.Graph) in order, with the
    kernel scratch of the `isa` variant (csources.isa_for(target); ANY_ISA: the most of any)
    and the constant arrays in its layout (Kernel.pack)."""
    from .quantize import scheme_of

    qgraph.validate()
    scheme = scheme_of(qgraph).NAME
    for name, t in qgraph.tensors.items():
        if name != qgraph.input and t.quant is None:
            raise NnbuildError(f"tensor '{name}' has no quantization record: the graph is not quantized",
                               where=f"graph {qgraph.name}", expected="a graph from nnbuild.quantize")
    if len(qgraph.outputs) != 1:
        raise NnbuildError(f"graph has {len(qgraph.outputs)} outputs", where=f"graph {qgraph.name}",
                           expected="exactly one output tensor (the logits)")
    if not qgraph.ops or qgraph.ops[0].type != "input_stage":
        raise NnbuildError("the first op is not input_stage", where=f"graph {qgraph.name}",
                           expected="ops[0] to be the input_stage converting uint8 pixels")
    steps = []
    for op in qgraph.ops:
        if (op.type == "input_stage") != (qgraph.input in op.inputs):
            raise NnbuildError(f"op reads {op.inputs}", where=f"op '{op.name}' ({op.type})",
                               expected=f"only the input_stage to read the pixel input '{qgraph.input}'")
        k = kernels.find(op, scheme, isa)
        low = k.lower(qgraph, op)
        act = op.attrs.get("activation", "none")
        arrays = k.pack(low.params, low.arrays, isa) if k.pack else low.arrays
        step = Step(index=len(steps), name=op.name, op=op.type + ("" if act == "none" else f"+{act}"),
                    kernel=low.symbol or k.symbol, inputs=list(op.inputs), output=op.outputs[0],
                    params=low.params, arrays=arrays, macs=low.macs, struct=low.struct or k.struct, emit=k.emit,
                    rows=None if low.whole else k.rows,
                    scratch=k.scratch_bytes(low.params, isa), layout=k.layout(low.params, low.arrays, isa))
        more = k.chunks(low.params, step.kernel, isa) if k.chunks and isa != kernels.ANY_ISA else None
        if more:
            step.chunkings = {1: (step.kernel, step.scratch), **more}
        step.alias = _inplace_input(qgraph, op, k.inplace)
        steps.append(step)
    return steps


def _inplace_input(g, op, candidates):
    """The input (among `candidates` indices) the output may overwrite: one whose value is not
    needed after this op and that is not the graph's pixel input or output."""
    later = g.ops[g.ops.index(op) + 1:]
    for i in candidates:
        src = op.inputs[i]
        if src == g.input or src in g.outputs:
            continue
        if not any(src in o.inputs for o in later) and op.inputs.count(src) == 1:
            return src
    return None
