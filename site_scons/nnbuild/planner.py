"""Activation memory plan: buffers with lifetimes on a timeline of sub-steps, packed into one arena.

The packer has TensorFlow Lite Micro's planner interface: `Packer.add_buffer(name, size, first,
last)` declares a buffer live from sub-step `first` to `last` (inclusive); `pack()` places them.
Layer-by-layer execution is one client of it (`plan` without a schedule: one sub-step per step);
streamed, fused execution (nnbuild.schedule) is another, whose sub-steps are the row commands
of its fused groups and whose buffers include line buffers with their real size and lifetime.

Layer-by-layer buffers are the tensors written by steps (an in-place step's output shares its
input's buffer) and per-step kernel scratch (live only during its step). The graph's uint8 pixel
input is a buffer too (kind "input", one byte per value, HWC), live from the start until the last
sub-step that reads it: the caller may prepare the pixels there (the descriptor's `input`), and
its bytes serve later steps once the input stage has consumed them. The model output lives in the arena
like any other tensor and is kept live to the end, because the generated run function copies it
out to the caller's `scores` after the last step (so the caller's buffer can be any size-N array).

Packing is greedy by size (largest first, ties by first use, then name for determinism): each
buffer goes to the lowest 4-byte-aligned offset that does not overlap any already placed buffer
whose lifetime intersects its own. `peak_bytes` (the most bytes live at one sub-step) is a lower
bound for any packing of these lifetimes; `arena_bytes` is what the packing achieved.
"""
from dataclasses import dataclass, field

ALIGN = 4


def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    name: str
    size: int            # bytes used (aligned up to ALIGN when placed)
    start: int           # first sub-step at which it is live (written)
    end: int             # last sub-step at which it is live (read)
    kind: str            # "tensor", "input" (the pixels), "scratch" or "rows" (a fused group's line buffer)
    tensors: list = field(default_factory=list)   # tensors stored here (several when in place)
    offset: int = None
    spans: list = None   # live sub-step intervals [(first, last)], when not all of start..end

    def intervals(self):
        return self.spans or [(self.start, self.end)]

    def live_at(self, i):
        return any(a <= i <= b for a, b in self.intervals())

    def overlaps_in_time(self, other):
        return any(a <= d and c <= b for a, b in self.intervals() for c, d in other.intervals())


@dataclass
class StepRow:
    index: int
    name: str
    op: str
    live_bytes: int
    live: list           # buffer names live during this step, by offset
    macs: int = 0        # the step's multiply-accumulates (the report's cost per layer)
    kernel: str = ""     # the C kernel the step calls
    chunks: int = 1      # the call's chunks (a chunked DSP conv's params["chunks"], schedule.set_chunks)


@dataclass
class Plan:
    arena_bytes: int
    buffers: dict        # buffer name -> Buffer (with offset)
    tensor_buffer: dict  # tensor name -> buffer name
    scratch_buffer: dict  # step index -> buffer name (steps with scratch only)
    rows: list           # StepRow per step
    peak_bytes: int
    peak_step: int
    substep_step: list = field(default_factory=list)   # sub-step -> the step it runs
    schedule: object = None   # nnbuild.schedule.Schedule when streamed, None: layer by layer

    @property
    def offsets(self):
        return {name: b.offset for name, b in self.buffers.items()}

    def tensor_offset(self, tensor):
        return self.buffers[self.tensor_buffer[tensor]].offset

    def scratch_offset(self, step_index):
        name = self.scratch_buffer.get(step_index)
        return None if name is None else self.buffers[name].offset

    def format_table(self):
        """Per-step memory table (text) for build logs and reports."""
        lines = [f"arena {self.arena_bytes} B, peak live {self.peak_bytes} B at step {self.peak_step}"]
        if self.schedule is not None:
            lines += [f"streamed: {len(self.substep_step)} sub-steps"] + self.schedule.describe()
        else:
            lines += ["layer by layer"]
        lines += [f"{'step':>4}  {'layer':<24} {'op':<22} {'live B':>8}  buffers (offset:bytes)"]
        for r in self.rows:
            bufs = ", ".join(f"{n}@{self.buffers[n].offset}:{self.buffers[n].size}" for n in r.live)
            mark = " <- peak" if r.index == self.peak_step else ""
            op = (f"{r.op}, {r.chunks} chunks" if r.chunks > 1 else
                  f"{r.op}, int16 w" if r.kernel.endswith("_wide") else r.op)
            lines.append(f"{r.index:>4}  {r.name:<24} {op:<22} {r.live_bytes:>8}  {bufs}{mark}")
        return "\n".join(lines) + "\n"

    def step_span(self, b):
        """(first, last) step a buffer is live in (its sub-steps may interleave several steps)."""
        steps = self.substep_step[b.start:b.end + 1] or [b.start]
        return min(steps), max(steps)

    def to_json_dict(self):
        d = {
            "arena_bytes": self.arena_bytes,
            "peak_bytes": self.peak_bytes,
            "peak_step": self.peak_step,
            "buffers": [{"name": b.name, "kind": b.kind, "offset": b.offset, "bytes": b.size,
                         "start": self.step_span(b)[0], "end": self.step_span(b)[1],
                         "first_substep": b.start, "last_substep": b.end, "tensors": list(b.tensors)}
                        for b in sorted(self.buffers.values(), key=lambda b: (b.offset, b.name))],
            "steps": [{"index": r.index, "name": r.name, "op": r.op, "kernel": r.kernel, "macs": r.macs,
                       "live_bytes": r.live_bytes, "live": list(r.live), **({"chunks": r.chunks} if r.chunks > 1 else {})}
                      for r in self.rows],
            "substeps": len(self.substep_step),
        }
        if self.schedule is not None:
            d["schedule"] = self.schedule.to_json_dict()
        return d


class Packer:
    """Buffers on a timeline of sub-steps, packed into one arena (TFLite Micro's AddBuffer)."""

    def __init__(self):
        self.buffers = {}

    def add_buffer(self, name, size, first, last, kind="tensor", tensors=(), spans=None):
        """`spans`: the sub-step intervals it is live in, when it is dead between them (a line
        buffer whose row is consumed before the next is written, a group's scratch); they
        must lie in first..last. Its offset is the same in all of them."""
        spans = sorted((int(a), int(b)) for a, b in spans) if spans else None
        if name in self.buffers or size < 0 or not 0 <= first <= last or (spans and (
                spans[0][0] != first or max(b for _, b in spans) != last or any(a > b for a, b in spans))):
            raise AssertionError(f"bad buffer {name!r}: {size} B, sub-steps {first}..{last} {spans}")
        b = Buffer(name, int(size), int(first), int(last), kind, list(tensors), spans=spans)
        self.buffers[name] = b
        return b

    def pack(self):
        """Place every buffer; returns the arena bytes."""
        _pack(list(self.buffers.values()))
        return max((b.offset + _align(b.size) for b in self.buffers.values()), default=0)

    def live(self, t):
        """The buffers live at sub-step `t`, by offset."""
        return sorted((b for b in self.buffers.values() if b.live_at(t)), key=lambda b: (b.offset or 0, b.name))

    def live_bytes(self, t):
        return sum(_align(b.size) for b in self.buffers.values() if b.live_at(t))


def plan(steps, qgraph, schedule=None):
    """Lifetimes + arena offsets for `steps` (from nnbuild.lower.lower) of `qgraph`, run layer by
    layer, or as `schedule` (nnbuild.schedule.Schedule) says: its `add_buffers(packer)` declares
    the buffers and returns (tensor_buffer, scratch_buffer, substep_step)."""
    packer = Packer()
    if schedule is None:
        tensor_buffer, scratch_buffer, substep_step = _layer_by_layer(packer, steps, qgraph)
    else:
        tensor_buffer, scratch_buffer, substep_step = schedule.add_buffers(packer)
    arena = packer.pack()
    rows = []
    by_step = {}
    for t, i in enumerate(substep_step):
        by_step.setdefault(i, []).append(t)
    for s in steps:
        subs = by_step.get(s.index, [])
        worst = max(subs, key=lambda t: (packer.live_bytes(t), -t)) if subs else None
        live = packer.live(worst) if subs else []
        rows.append(StepRow(s.index, s.name, s.op, packer.live_bytes(worst) if subs else 0,
                            [b.name for b in live], macs=int(s.macs), kernel=s.kernel,
                            chunks=s.params.get("chunks", 1)))
    peak_t = max(range(len(substep_step)), key=lambda t: (packer.live_bytes(t), -t), default=None)
    return Plan(arena_bytes=arena, buffers=packer.buffers, tensor_buffer=tensor_buffer,
                scratch_buffer=scratch_buffer, rows=rows,
                peak_bytes=packer.live_bytes(peak_t) if peak_t is not None else 0,
                peak_step=substep_step[peak_t] if peak_t is not None else -1,
                substep_step=list(substep_step), schedule=schedule)


def _layer_by_layer(packer, steps, g):
    """One sub-step per step: a tensor lives from the step writing it to the last step reading it."""
    tensor_buffer, scratch_buffer, span = input_span(g)
    for s in steps:
        if s.alias is not None:
            tensor_buffer[s.output] = tensor_buffer[s.alias]
        else:
            tensor_buffer[s.output] = s.output
            span[s.output] = [s.index, s.index, [], g.tensors[s.output].size]
        span[tensor_buffer[s.output]][2].append(s.output)
        for t in s.inputs + [s.output]:
            if t in tensor_buffer:
                span[tensor_buffer[t]][1] = max(span[tensor_buffer[t]][1], s.index)
    for t in g.outputs:                 # copied out after the last step
        span[tensor_buffer[t]][1] = len(steps) - 1
    add_spans(packer, g, span)
    for s in steps:
        if s.scratch:
            name = f"{s.name}:scratch"
            packer.add_buffer(name, s.scratch, s.index, s.index, "scratch")
            scratch_buffer[s.index] = name
    return tensor_buffer, scratch_buffer, [s.index for s in steps]


def input_span(g):
    """(tensor_buffer, scratch_buffer, span) to start a plan with: the pixel input (one uint8 per
    value) live from sub-step 0; each read extends it."""
    return {g.input: g.input}, {}, {g.input: [0, 0, [g.input], g.tensors[g.input].size]}


def add_spans(packer, g, span):
    """Declare the whole-tensor buffers `span` (name -> [first, last, tensors, size])."""
    for name, (first, last, tensors, size) in span.items():
        packer.add_buffer(name, size, first, last, "input" if name == g.input else "tensor", tensors)


def _pack(buffers):
    placed = []
    for b in sorted(buffers, key=lambda b: (-_align(b.size), b.start, b.name)):
        conflicts = sorted((p for p in placed if p.overlaps_in_time(b)), key=lambda p: p.offset)
        size = _align(b.size)
        candidates = sorted({0, *(p.offset + _align(p.size) for p in conflicts)})
        for off in candidates:
            if all(off + size <= p.offset or p.offset + _align(p.size) <= off for p in conflicts):
                b.offset = off
                break
        placed.append(b)
