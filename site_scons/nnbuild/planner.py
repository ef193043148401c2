"""Activation memory plan: tensor lifetimes over the step order, packed into one arena.

Buffers are the tensors written by steps (an in-place step's output shares its input's buffer)
and per-step kernel scratch (live only during its step). The graph's uint8 pixel input is the
caller's buffer and never enters the arena. The model output lives in the arena like any other
tensor and is kept live to the end, because the generated run function copies it out to the
caller's `scores` after the last step (so the caller's buffer can be any size-N array).

Packing is greedy by size (largest first, ties by first use, then name for determinism): each
buffer goes to the lowest 4-byte-aligned offset that does not overlap any already placed buffer
whose lifetime intersects its own. `peak_bytes` (the most bytes live at one step) is a lower
bound for any layer-by-layer plan; `arena_bytes` is what the packing achieved.
"""
from dataclasses import dataclass, field

ALIGN = 4


def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    name: str
    size: int            # bytes used (aligned up to ALIGN when placed)
    start: int           # first step index at which it is live (written)
    end: int             # last step index at which it is live (read)
    kind: str            # "tensor" or "scratch"
    tensors: list = field(default_factory=list)   # tensors stored here (several when in place)
    offset: int = None

    def live_at(self, i):
        return self.start <= i <= self.end

    def overlaps_in_time(self, other):
        return self.start <= other.end and other.start <= self.end


@dataclass
class StepRow:
    index: int
    name: str
    op: str
    live_bytes: int
    live: list           # buffer names live during this step, by offset
    macs: int = 0        # the step's multiply-accumulates (the report's cost per layer)
    kernel: str = ""     # the C kernel the step calls


@dataclass
class Plan:
    arena_bytes: int
    buffers: dict        # buffer name -> Buffer (with offset)
    tensor_buffer: dict  # tensor name -> buffer name
    scratch_buffer: dict  # step index -> buffer name (steps with scratch only)
    rows: list           # StepRow per step
    peak_bytes: int
    peak_step: int

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
        lines = [f"arena {self.arena_bytes} B, peak live {self.peak_bytes} B at step {self.peak_step}",
                 f"{'step':>4}  {'layer':<24} {'op':<22} {'live B':>8}  buffers (offset:bytes)"]
        for r in self.rows:
            bufs = ", ".join(f"{n}@{self.buffers[n].offset}:{self.buffers[n].size}" for n in r.live)
            mark = " <- peak" if r.index == self.peak_step else ""
            lines.append(f"{r.index:>4}  {r.name:<24} {r.op:<22} {r.live_bytes:>8}  {bufs}{mark}")
        return "\n".join(lines) + "\n"

    def to_json_dict(self):
        return {
            "arena_bytes": self.arena_bytes,
            "peak_bytes": self.peak_bytes,
            "peak_step": self.peak_step,
            "buffers": [{"name": b.name, "kind": b.kind, "offset": b.offset, "bytes": b.size,
                         "start": b.start, "end": b.end, "tensors": list(b.tensors)}
                        for b in sorted(self.buffers.values(), key=lambda b: (b.offset, b.name))],
            "steps": [{"index": r.index, "name": r.name, "op": r.op, "kernel": r.kernel, "macs": r.macs,
                       "live_bytes": r.live_bytes, "live": list(r.live)} for r in self.rows],
        }


def plan(steps, qgraph):
    """Lifetimes + arena offsets for `steps` (from nnbuild.lower.lower) of `qgraph`."""
    buffers, tensor_buffer, scratch_buffer = _buffers(steps, qgraph)
    _pack(list(buffers.values()))
    arena = max((b.offset + _align(b.size) for b in buffers.values()), default=0)
    rows = []
    for s in steps:
        live = sorted((b for b in buffers.values() if b.live_at(s.index)), key=lambda b: (b.offset, b.name))
        rows.append(StepRow(s.index, s.name, s.op, sum(_align(b.size) for b in live), [b.name for b in live],
                            macs=int(s.macs), kernel=s.kernel))
    peak = max(rows, key=lambda r: (r.live_bytes, -r.index)) if rows else None
    return Plan(arena_bytes=arena, buffers=buffers, tensor_buffer=tensor_buffer,
                scratch_buffer=scratch_buffer, rows=rows,
                peak_bytes=peak.live_bytes if peak else 0, peak_step=peak.index if peak else -1)


def _buffers(steps, g):
    buffers, tensor_buffer, scratch_buffer = {}, {}, {}
    last = len(steps) - 1
    for s in steps:
        if s.alias is not None:
            root = tensor_buffer[s.alias]
            tensor_buffer[s.output] = root
            buffers[root].tensors.append(s.output)
        else:
            buffers[s.output] = Buffer(s.output, g.tensors[s.output].size, s.index, s.index, "tensor", [s.output])
            tensor_buffer[s.output] = s.output
        for t in s.inputs:
            if t in tensor_buffer:      # the pixel input is the caller's, not in the arena
                b = buffers[tensor_buffer[t]]
                b.end = max(b.end, s.index)
        b = buffers[tensor_buffer[s.output]]
        b.end = max(b.end, s.index)
        if s.scratch:
            name = f"{s.name}:scratch"
            buffers[name] = Buffer(name, s.scratch, s.index, s.index, "scratch")
            scratch_buffer[s.index] = name
    for t in g.outputs:                 # copied out after the last step
        buffers[tensor_buffer[t]].end = last
    return buffers, tensor_buffer, scratch_buffer


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
