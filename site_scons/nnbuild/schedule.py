"""The schedule stage between lowering and planning: which connected sets of row-wise steps run
fused, row by row, through line buffers instead of layer by layer through whole tensors.

A fused group is a DAG of steps whose kernels can run on a band of output rows (Kernel.rows:
input stage, conv, pools, and the element-wise steps: add, concat, relu/clamp, whose output row
y reads row y of each input). Each tensor a group's step writes is either a line buffer (every
reader is in the group: it holds only the rows some reader still needs) or a whole tensor (read
outside the group, or a graph output; readers inside the group read it in place). Inputs from
outside are whole tensors (or the caller's pixels), so groups and single steps mix freely and a
residual block's shortcut is a line buffer of the rows the eltwise has not yet added (or the
whole input, read from outside). A line buffer holds as many rows as its readers' windows span
at once, computed by running the schedule once with unbounded buffers; when the next row does
not fit, the rows no reader needs any more are dropped and the rest move to the front.

A max pool whose only input is a line buffer only it reads and whose window is at most stride + 1
rows is split by rows (max is separable): it takes its input one row at a time, pools it
horizontally and folds it into its output row, keeping only the pooled row two windows share
(cifar10_m4's conv1 -> pool1: 1 + 0.5 rows instead of 3). The command list of a group is
computed here, statically, by pulling rows from the group's whole outputs (`_simulate`, the one
furthest behind first): one command computes one output row of one step, after an optional move.

The planner (planner.plan with a schedule) sees each line buffer and each step's scratch with
its real size and the sub-steps it is live in (one sub-step per command; one per unfused step):
a scratch only during its step's commands, a line buffer only while a row it holds is still
to be read, so that e.g. a convolution's one-row output buffer, dead once the pool has taken the
row, shares bytes with the next convolution's scratch.

`choose(steps, g, memory, budget)` picks: `fast` is layer by layer; `small` the smallest arena
over the ways of fusing each connected set of streamable steps (each tensor between two of them
a line buffer or not); `auto` layer by layer when its arena fits `budget` (bytes, or None),
else `small`. `small` then gives each call that can run in chunks (Step.chunkings: the DSP
conv's im2col by chunks of kernel rows, less scratch for a few instructions) the fewest chunks
that give the smallest arena, one step at a time; `auto`, when its streamed arena is still over
the budget, the fewest that make it fit. A chunking that does not lower the arena is not used,
and `fast` never chunks. A layer-by-layer plan (`fast`, or `auto` within its budget) instead
gives each DSP conv with a widened-weights entry (Step.chunkings[0]: its int16 weights in the
scratch) that entry, in order, while the arena stays within the budget.
"""
import dataclasses
from dataclasses import dataclass, field
from itertools import product

from .planner import add_spans, input_span

MEMORY_MODES = ("auto", "fast", "small")
MAX_SEARCH_EDGES = 10       # components with more fusable tensors: all, none, each one cut, greedy


@dataclass
class Stage:
    """One step of a group, with the row geometry of its window along the height."""
    step: object
    window: str          # Kernel.rows.window
    in_h: int
    out_h: int
    k: int               # input rows one output row's window spans (dilation included)
    stride: int
    pad: int
    in_row_bytes: list   # per input: bytes of one row
    out_row_bytes: int
    srcs: list = field(default_factory=list)   # per input: the group's stage writing it, or None (outside)
    by_row: bool = False  # a max pool fed one input row at a time (split by rows, see _simulate)

    @property
    def carry_bytes(self):
        """A row-split max pool's carry row: the pooled row two windows share (k = stride + 1),
        and where each further row of a window is pooled before its max is taken."""
        return self.out_row_bytes if self.by_row and self.k > 1 else 0

    def needs(self, y):
        """[lo, hi): the input rows (inside the tensor) output row y reads (of every input)."""
        if self.window in ("pixels", "point"):
            return y, y + 1
        start = y * self.stride - self.pad
        end = start + self.k if self.window == "conv" else min(start + self.k, self.in_h + self.pad)
        return max(start, 0), min(end, self.in_h)


@dataclass
class Edge:
    """The buffer stage i writes: a line buffer holding rows [first, first + count) of `tensor`
    (cap rows), or the whole tensor (rows at their own place)."""
    tensor: str
    row_bytes: int
    cap: int             # rows (None while the first simulation measures it)
    whole: bool
    readers: list        # the group's stages reading it
    first: int = 0
    count: int = 0
    keep: dict = field(default_factory=dict)   # reader -> its first row still needed
    need: int = 0        # the most rows held at once (measured with cap None)


@dataclass
class Run:
    """One command: output row y of stage `stage`, from input rows [in_first, in_first+in_rows)
    held by its (first) input's buffer, into row slot `slot` of its output buffer, after dropping
    `drop` rows of that buffer (moving the `keep` rows after them to its front); `more`: the
    first row held by each further input's buffer (element-wise steps). A row-split max pool
    (Stage.by_row) has one command per input row `in_first` it takes, with `in_rows` one of
    the BY_ROW operations."""
    stage: int
    y: int
    in_first: int
    in_rows: int
    slot: int
    drop: int = 0
    keep: int = 0
    more: tuple = ()


# a row-split max pool's command: what it does with input row in_first (the only row held)
POOL_ROW, MAX_ROW, CARRY_OUT, CARRY_ROW = 0, 1, 2, 3
#   POOL_ROW   output row = the input row's horizontal windows (the window's first row)
#   MAX_ROW    carry = those windows; output row = max(output row, carry)
#   CARRY_OUT  output row = carry (the row this window shares with the previous one)
#   CARRY_ROW  carry = those windows; output row = carry (a window's first row, shared with the next)


@dataclass
class Group:
    stages: list
    edges: list          # Edge per stage: the buffer its output goes to
    runs: list

    @property
    def steps(self):
        return [st.step for st in self.stages]

    @property
    def inputs(self):
        """Whole tensors (or the pixels) the group reads from outside."""
        return sorted({t for st in self.stages for t, s in zip(st.step.inputs, st.srcs) if s is None})

    @property
    def outputs(self):
        return [e.tensor for e in self.edges if e.whole]

    @property
    def width(self):
        """Values per command in the generated table: 7 + one first row per further input."""
        return 7 + max(len(st.srcs) - 1 for st in self.stages)

    def carry_name(self, stage):
        return f"{stage.step.output}:carry"


@dataclass
class Schedule:
    steps: list
    graph: object
    groups: list = field(default_factory=list)

    def units(self):
        """The execution order: lone Steps and Groups, each after every unit it reads from (a
        group at its first step's place when that is already so)."""
        return _order(self.steps, self.groups)

    def add_buffers(self, packer):
        """Declare every buffer with its sub-step lifetime (planner.plan's schedule client)."""
        g = self.graph
        tensor_buffer, scratch_buffer, span = input_span(g)   # span: buffer -> [first, last, tensors, size]
        substep_step = []

        def write(tensor, t, alias=None):
            if alias is not None:
                tensor_buffer[tensor] = tensor_buffer[alias]
            else:
                tensor_buffer[tensor] = tensor
                span[tensor] = [t, t, [], g.tensors[tensor].size]
            span[tensor_buffer[tensor]][2].append(tensor)
            read(tensor, t)

        def read(tensor, t):
            if tensor in tensor_buffer:
                b = span[tensor_buffer[tensor]]
                b[1] = max(b[1], t)

        for unit in self.units():
            if not isinstance(unit, Group):
                t = len(substep_step)
                substep_step.append(unit.index)
                for i in unit.inputs:
                    read(i, t)
                write(unit.output, t, unit.alias)
                if unit.scratch:
                    name = f"{unit.name}:scratch"
                    packer.add_buffer(name, unit.scratch, t, t, "scratch")
                    scratch_buffer[unit.index] = name
                continue
            t0 = len(substep_step)
            written = [{} for _ in unit.edges]      # line buffer -> row -> (written, last read)
            scratch_at = []
            for r in unit.runs:
                t = len(substep_step)
                st = unit.stages[r.stage]
                substep_step.append(st.step.index)
                for tensor, src in zip(st.step.inputs, st.srcs):
                    if src is None or unit.edges[src].whole:
                        read(tensor, t)
                        continue
                    rows = written[src]             # the rows this command reads
                    lo, hi = (r.in_first, r.in_first + (r.in_rows != CARRY_OUT)) if st.by_row else st.needs(r.y)
                    for row in range(lo, hi):
                        rows[row] = (rows[row][0], t)
                e = unit.edges[r.stage]
                if e.whole:
                    if e.tensor not in tensor_buffer:
                        write(e.tensor, t)
                    read(e.tensor, t)
                else:                               # a row-split pool writes its row in several commands
                    first = written[r.stage].get(r.y, (t, t))[0]
                    written[r.stage][r.y] = (first, t)
                if st.step.scratch:
                    scratch_at.append((t, st.step.index))
            for st in unit.stages:
                if st.carry_bytes:
                    ts = [t0 + j for j, r in enumerate(unit.runs) if unit.stages[r.stage] is st]
                    packer.add_buffer(unit.carry_name(st), st.carry_bytes, ts[0], ts[-1], "rows")
            for e, rows in zip(unit.edges, written):
                if e.whole:
                    continue
                name = f"{e.tensor}:rows"
                spans = _merge(rows.values())
                packer.add_buffer(name, e.cap * e.row_bytes, spans[0][0], max(b for _, b in spans), "rows",
                                  [e.tensor], spans=spans)
                tensor_buffer[e.tensor] = name
            for st in unit.stages:                 # live only during its own commands
                if st.step.scratch:
                    name = f"{st.step.name}:scratch"
                    spans = _merge((t, t) for t, i in scratch_at if i == st.step.index)
                    packer.add_buffer(name, st.step.scratch, spans[0][0], spans[-1][1], "scratch", spans=spans)
                    scratch_buffer[st.step.index] = name
            assert len(substep_step) > t0
        for t in g.outputs:                         # copied out after the last sub-step
            span[tensor_buffer[t]][1] = len(substep_step) - 1
        add_spans(packer, g, span)
        return tensor_buffer, scratch_buffer, substep_step

    def to_json_dict(self):
        return {"groups": [{"steps": [s.index for s in grp.steps], "names": [s.name for s in grp.steps],
                            "line_buffers": [{"tensor": e.tensor, "rows": e.cap, "row_bytes": e.row_bytes}
                                             for e in grp.edges if not e.whole],
                            "inputs": grp.inputs, "outputs": grp.outputs,
                            "commands": len(grp.runs),
                            "moved_bytes": sum(r.keep * grp.edges[r.stage].row_bytes
                                               for r in grp.runs if r.drop)}
                           for grp in self.groups]}

    def describe(self):
        """Text lines for plan.txt: one per group."""
        out = []
        for i, grp in enumerate(self.groups):
            bufs = ", ".join([f"{e.tensor} {e.cap}x{e.row_bytes} B" for e in grp.edges if not e.whole]
                             + [f"{st.step.name} carry {st.carry_bytes} B" for st in grp.stages if st.carry_bytes])
            shape = " -> ".join(s.name for s in grp.steps)
            if any(len(st.srcs) > 1 or sum(i in e.readers for e in grp.edges) > 1
                   for i, st in enumerate(grp.stages)) or len(grp.outputs) > 1:
                shape = ", ".join(f"{s.name}({'+'.join(s.inputs)})" for s in grp.steps)
            out.append(f"fused group {i}: {shape}; line buffers {bufs or 'none'}; "
                       f"{len(grp.runs)} row commands")
        return out


def _merge(intervals):
    """Sorted, merged (first, last) intervals: a buffer is live while any of its rows is."""
    out = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _order(steps, groups):
    """Lone steps and groups in an order where every unit follows those writing its inputs
    (stable: by first step index among the ready ones); None when the units read each other."""
    of_step = {}
    for grp in groups:
        for s in grp.steps:
            of_step[s.index] = grp
    units, key = [], {}
    for s in steps:
        u = of_step.get(s.index, s)
        if id(u) not in key:
            key[id(u)] = len(units)
            units.append(u)
    writer = {}
    for u in units:
        for s in (u.steps if isinstance(u, Group) else [u]):
            writer[s.output] = key[id(u)]
    deps = []
    for j, u in enumerate(units):
        ins = u.inputs if isinstance(u, Group) else u.inputs
        deps.append({writer[t] for t in ins if t in writer and writer[t] != j})
    out, done = [], set()
    while len(out) < len(units):
        ready = [j for j in range(len(units)) if j not in done and deps[j] <= done]
        if not ready:
            return None
        done.add(ready[0])
        out.append(units[ready[0]])
    return out


def _stage(step, g):
    p = step.params
    ih, iw, _ = g.tensors[step.inputs[0]].shape
    oh, ow, oc = g.tensors[step.output].shape
    window = step.rows.window
    if window == "conv":
        k, stride, pad = p["dil_h"] * (p["k_h"] - 1) + 1, p["stride_h"], p["pad_h"]
    elif window == "pool":
        k, stride, pad = p["k_h"], p["stride_h"], p["pad_h"]
    else:
        k, stride, pad = 1, 1, 0
    in_rows = [g.tensors[t].shape[1] * g.tensors[t].shape[2] for t in step.inputs]
    return Stage(dataclasses.replace(step, alias=None), window, ih, oh, k, stride, pad, in_rows, ow * oc)


def _streamable(step, g):
    if step.rows is None or len(g.tensors[step.output].shape) != 3:
        return False
    if step.rows.window == "pool" and step.params["pad_h"] != 0 and step.op.startswith("avg_pool"):
        p = step.params     # its divisor clip at in_h + pad_h: kept unless a window reaches past in_h
        if (p["out_h"] - 1) * p["stride_h"] - p["pad_h"] + p["k_h"] > p["in_h"]:
            return False    # (kernels/common/nn_rows.h)
    if step.rows.window in ("pixels", "point"):
        return True         # element-wise: in a group its output gets its own rows (no alias)
    return step.alias is None and len(step.inputs) == 1


def fusable(steps, g):
    """The tensors that may be line buffers: written by a streamable step, read only by
    streamable steps (at least one), not a graph output."""
    readers = {}
    for s in steps:
        for t in s.inputs:
            readers.setdefault(t, []).append(s)
    out = []
    for s in steps:
        rs = readers.get(s.output, [])
        if (_streamable(s, g) and rs and all(_streamable(r, g) for r in rs)
                and s.output not in g.outputs):
            out.append(s.output)
    return out


def components(steps, g):
    """The connected sets of streamable steps joined by fusable tensors: [(steps, tensors)] in
    step order, with at least one tensor (the unit the search cuts, like the chain it was)."""
    tensors = fusable(steps, g)
    writer = {s.output: s for s in steps}
    parent = {s.index: s.index for s in steps}

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for t in tensors:
        for s in steps:
            if t in s.inputs:
                parent[root(s.index)] = root(writer[t].index)
    comp = {}
    for t in tensors:
        comp.setdefault(root(writer[t].index), []).append(t)
    return [([s for s in steps if root(s.index) == r], ts) for r, ts in sorted(comp.items(), key=lambda kv: min(
        writer[t].index for t in kv[1]))]


def chains(steps, g):
    """The fusable components' steps (kept under its old name: any fusable set, not only chains)."""
    return [c for c, _ in components(steps, g)]


def make_group(members, fused, g):
    """The group of `members` (steps in order) whose tensors in `fused` are line buffers."""
    stages = [_stage(s, g) for s in members]
    at = {st.step.output: j for j, st in enumerate(stages)}
    for st in stages:
        st.srcs = [at.get(t) for t in st.step.inputs]
    edges = []
    for j, st in enumerate(stages):
        readers = [i for i, o in enumerate(stages) if j in o.srcs]
        edges.append(Edge(st.step.output, st.out_row_bytes, None, st.step.output not in fused or not readers,
                          readers))
    for st in stages:   # a max pool reading a line buffer alone takes its rows one at a time
        src = st.srcs[0]
        st.by_row = (st.step.rows.hrow is not None and st.pad == 0 and st.k <= st.stride + 1 and src is not None
                     and not edges[src].whole and edges[src].readers == [stages.index(st)])
    _simulate(stages, edges)                 # measures each line buffer's rows
    for e in edges:
        e.cap = None if e.whole else e.need
        e.first, e.count, e.keep = 0, 0, {}
    return Group(stages, edges, _simulate(stages, edges))


def _simulate(stages, edges):
    """The group's commands: pull every row of its whole outputs (the one furthest behind
    first), each stage producing the rows its readers need, one at a time."""
    runs, done = [], [0] * len(stages)
    for e in edges:
        e.keep = {i: 0 for i in e.readers}

    def out_slot(i, y):
        """Where output row y of stage i goes: (slot, drop, keep), making room when full."""
        e, drop, keep = edges[i], 0, 0
        if e.whole:
            e.count += 1
            return y, 0, 0
        if e.cap is None:                          # measuring: the rows still needed, this one included
            e.need = max(e.need, 1, y + 1 - min(e.keep.values()))
        elif e.count == e.cap:                     # full: drop the rows every reader is past
            drop = min(min(e.keep.values()) - e.first, e.count)   # (all, when a stride skips rows)
            assert drop > 0, (i, y, e)
            keep = e.count - drop
            e.first, e.count = e.first + drop, keep
        slot = e.count
        e.count += 1
        assert e.first + slot == y
        return slot, drop, keep

    def pull(src, row):
        """Make row `row` of stage src's output present in its buffer."""
        e = edges[src]
        while e.first + e.count <= row:
            produce(src)

    def held(i, j):
        src = stages[i].srcs[j]
        if src is None or edges[src].whole:
            return 0, stages[i].in_h
        return edges[src].first, edges[src].count

    def produce(i):
        st, y = stages[i], done[i]
        lo, hi = st.needs(y)
        if st.by_row:
            return produce_by_row(i, y, lo, hi)
        for src in st.srcs:
            if src is not None:
                edges[src].keep[i] = lo
        for src in st.srcs:
            if src is not None:
                pull(src, hi - 1)
        first, rows = held(i, 0)
        more = tuple(held(i, j)[0] for j in range(1, len(st.srcs)))
        runs.append(Run(i, y, first, rows, *out_slot(i, y), more=more))
        finish(i)

    def finish(i):
        done[i] += 1
        if done[i] == stages[i].out_h:             # its inputs' rows are free for the other readers
            for src in stages[i].srcs:
                if src is not None:
                    edges[src].keep[i] = stages[src].out_h

    def produce_by_row(i, y, lo, hi):
        """Max pool row y = max over its window's rows of their horizontal windows; the row two
        windows share (k = stride + 1) is kept in the carry row."""
        st, src = stages[i], stages[i].srcs[0]
        slot, drop, keep = out_slot(i, y)
        first = lo
        if st.k > st.stride and y > 0 and lo == st.needs(y - 1)[1] - 1:
            runs.append(Run(i, y, lo, CARRY_OUT, slot, drop, keep))
            drop = keep = 0
            first = lo + 1
        for r in range(first, hi):
            edges[src].keep[i] = r
            pull(src, r)
            shared = st.k > st.stride and y + 1 < st.out_h and st.needs(y + 1)[0] == r
            if r == lo:
                op = CARRY_ROW if shared else POOL_ROW
            else:
                op = MAX_ROW
            runs.append(Run(i, y, r, op, slot, drop, keep))
            drop = keep = 0
        finish(i)

    sinks = [i for i, e in enumerate(edges) if e.whole]
    while True:
        left = [i for i in sinks if done[i] < stages[i].out_h]
        if not left:
            break
        produce(min(left, key=lambda i: (done[i] / stages[i].out_h, i)))
    return runs


def build(steps, g, cuts):
    """The schedule with the fusable components cut where `cuts` says: cuts[c] is one bool per
    fusable tensor of component c (True: a whole tensor, False: a line buffer); None when its
    groups would read each other's outputs (no order runs them) or could not run in step order
    (each group's steps contiguous: per-layer counts follow the order of the profile marks)."""
    groups = []
    for (members, tensors), cut in zip(components(steps, g), cuts):
        fused = {t for t, c in zip(tensors, cut) if not c}
        for part in _connected(members, fused):
            if len(part) > 1:
                groups.append(make_group(part, fused, g))
    order = _order(steps, groups)
    if order is None:
        return None
    seq = [s.index for u in order for s in (u.steps if isinstance(u, Group) else [u])]
    if seq != sorted(seq):      # the profile marks count steps in execution order (nnbuild bench)
        return None
    return Schedule(steps, g, groups)


def _connected(members, fused):
    """`members` split into the sets joined by `fused` tensors, each in step order."""
    part = {s.index: {s.index} for s in members}
    writer = {s.output: s.index for s in members}
    for s in members:
        for t in s.inputs:
            if t in fused and t in writer:
                a, b = part[writer[t]], part[s.index]
                if a is not b:
                    a |= b
                    for i in b:
                        part[i] = a
    seen, out = set(), []
    for s in members:
        if id(part[s.index]) not in seen:
            seen.add(id(part[s.index]))
            out.append([m for m in members if m.index in part[s.index]])
    return out


def _options(n):
    if n <= MAX_SEARCH_EDGES:
        return list(product((False, True), repeat=n))
    return [(False,) * n, (True,) * n] + [tuple(j == i for j in range(n)) for i in range(n)]


def smallest(steps, g, arena_of):
    """The schedule with the smallest arena (`arena_of(schedule)`), components cut one at a time
    (each one's best cutting with the others fixed; a large one's best single cut is then
    improved greedily, one tensor at a time); ties go to fewer line buffers."""
    return build(steps, g, _smallest_cuts(steps, g, arena_of))


def _smallest_cuts(steps, g, arena_of):
    cs = components(steps, g)
    cuts = [(False,) * len(ts) for _, ts in cs]

    def cost(trial):
        sch = build(steps, g, trial)
        return float("inf") if sch is None else arena_of(sch)

    best = cost(cuts)
    for i, (_, ts) in enumerate(cs):
        for opt in _options(len(ts)):
            trial = cuts[:i] + [opt] + cuts[i + 1:]
            a = cost(trial)
            if (a, -sum(opt)) < (best, -sum(cuts[i])):
                best, cuts = a, trial
        if len(ts) > MAX_SEARCH_EDGES:             # bounded: one pass over its tensors
            for j in range(len(ts)):
                opt = tuple(c != (k == j) for k, c in enumerate(cuts[i]))
                trial = cuts[:i] + [opt] + cuts[i + 1:]
                a = cost(trial)
                if (a, -sum(opt)) < (best, -sum(cuts[i])):
                    best, cuts = a, trial
    return cuts


def choose(steps, g, memory, arena_budget, plan_of):
    """(schedule or None for layer by layer, its plan) for manifest `memory` (MEMORY_MODES);
    `plan_of(schedule)` is planner.plan for these steps; `arena_budget` (bytes or None) is what
    `auto` compares the layer-by-layer arena with."""
    if memory not in MEMORY_MODES:
        raise ValueError(memory)
    for s in steps:
        if s.chunkings:
            set_chunks(s, 1)
    lbl = plan_of(None)
    if memory == "fast" or (memory == "auto" and (arena_budget is None or lbl.arena_bytes <= arena_budget)):
        return None, _widened(steps, plan_of, lbl, arena_budget)
    cuts, best = None, lbl
    if components(steps, g):
        trial = _smallest_cuts(steps, g, lambda s: plan_of(s).arena_bytes)
        sch = build(steps, g, trial)
        p = plan_of(sch) if sch is not None else None
        if p is not None and p.arena_bytes < lbl.arena_bytes:
            cuts, best = trial, p
    return _chunked(steps, g, cuts, plan_of, best, arena_budget if memory == "auto" else None)


def _widened(steps, plan_of, plan, budget):
    """The layer-by-layer plan with each step that has a widened-weights entry (Step.chunkings[0],
    the DSP conv's int16 weights in the scratch: fewer instructions, more RAM) on it, in order,
    while the arena stays within `budget` (None: no limit)."""
    for s in steps:
        if 0 not in (s.chunkings or {}):
            continue
        set_chunks(s, 0)
        p = plan_of(None)
        if budget is None or p.arena_bytes <= budget:
            plan = p
        else:
            set_chunks(s, 1)
    return plan


def set_chunks(step, n):
    """Run `step` in n chunks (1: its one-pass entry, 0: the one-pass entry with widened weights):
    its C entry, scratch and params["chunks"]."""
    step.kernel, step.scratch = step.chunkings[n]
    if n > 1:
        step.params["chunks"] = n
    else:
        step.params.pop("chunks", None)


def _chunked(steps, g, cuts, plan_of, plan, budget=None):
    """(schedule, plan) with each chunkable step at the fewest chunks that give the smallest arena
    (steps in order, the others as chosen so far; the schedule `cuts` rebuilt around the new
    scratch sizes, None: layer by layer). Its most chunks are tried first: when they do not lower
    the arena, no other count is tried. With a `budget` (auto): no chunks once the arena fits it,
    and a step's fewest chunks that make it fit (chunks cost instructions)."""
    def trial(step, n):
        set_chunks(step, n)
        return plan_of(None if cuts is None else build(steps, g, cuts))

    for s in steps:
        counts = sorted(n for n in (s.chunkings or {}) if n >= 1)
        if len(counts) < 2 or (budget is not None and plan.arena_bytes <= budget):
            continue
        if trial(s, counts[-1]).arena_bytes >= plan.arena_bytes:
            set_chunks(s, 1)
            continue
        best_n = 1
        for n in counts[1:]:
            p = trial(s, n)
            if p.arena_bytes < plan.arena_bytes:
                best_n, plan = n, p
                if budget is not None and p.arena_bytes <= budget:
                    break
        set_chunks(s, best_n)
    return plan.schedule, plan
