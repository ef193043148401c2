"""The schedule stage between lowering and planning: which chains of row-wise steps run fused,
row by row, through line buffers instead of layer by layer through whole tensors.

A fused group is a chain of steps whose kernels can run on a band of output rows (Kernel.rows:
input stage, conv, pools with pad_h 0), each reading only the previous one's output, which
nothing else reads. Every edge inside a group is a sliding-window line buffer holding as many
rows as the consumer's window spans (kernel, dilation; pools: their window): when the next row
does not fit, the rows still needed move to the front. A max pool inside a group whose window
is at most stride + 1 rows is split by rows (max is separable): it takes its input one row at
a time, pools it horizontally and folds it into its output row, keeping only the pooled row two
windows share (cifar10_m4's conv1 -> pool1: 1 + 0.5 rows instead of 3). The group's first step reads a whole
tensor (or the caller's pixels) and its last writes a whole tensor, so groups and single steps
mix freely. The command list of a group is computed here, statically, by pulling rows from the
last step (`_simulate`): one command computes one output row of one step, after an optional move.

The planner (planner.plan with a schedule) sees each line buffer and each step's scratch with
its real size and the sub-steps it is live in (one sub-step per command; one per unfused step):
a scratch only during its step's commands, a line buffer only while a row it holds is still
to be read, so that e.g. a convolution's one-row output buffer, dead once the pool has taken the
row, shares bytes with the next convolution's scratch.

`choose(steps, g, memory, budget)` picks: `fast` is layer by layer; `small` the smallest arena
over the ways of cutting each chain into groups; `auto` layer by layer when its arena fits
`budget` (bytes, or None), else `small`.
"""
from dataclasses import dataclass, field
from itertools import product

MEMORY_MODES = ("auto", "fast", "small")
MAX_SEARCH_EDGES = 10       # chains with more edges try fewer cuttings (all, none, one cut)


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
    in_row_bytes: int
    out_row_bytes: int
    by_row: bool = False  # a max pool fed one input row at a time (split by rows, see _simulate)

    @property
    def carry_bytes(self):
        """A row-split max pool's carry row: the pooled row two windows share (k = stride + 1),
        and where each further row of a window is pooled before its max is taken."""
        return self.out_row_bytes if self.by_row and self.k > 1 else 0

    def needs(self, y):
        """[lo, hi): the input rows (inside the tensor) output row y reads."""
        if self.window == "pixels":
            return y, y + 1
        start = y * self.stride - self.pad
        end = start + self.k if self.window == "conv" else min(start + self.k, self.in_h + self.pad)
        return max(start, 0), min(end, self.in_h)


@dataclass
class Edge:
    """The line buffer between stage i and i+1 (holds rows [first, first + count) of `tensor`)."""
    tensor: str
    row_bytes: int
    cap: int
    first: int = 0
    count: int = 0
    keep: int = 0        # the consumer's first needed row: rows before it may be dropped


@dataclass
class Run:
    """One command: output row y of stage `stage`, from input rows [in_first, in_first+in_rows)
    held by its input buffer, into row slot `slot` of its output buffer, after dropping `drop`
    rows of that buffer (moving the `keep` rows after them to its front). A row-split max pool
    (Stage.by_row) has one command per input row `in_first` it takes, with `in_rows` one of
    the BY_ROW operations."""
    stage: int
    y: int
    in_first: int
    in_rows: int
    slot: int
    drop: int = 0
    keep: int = 0


# a row-split max pool's command: what it does with input row in_first (the only row held)
POOL_ROW, MAX_ROW, CARRY_OUT, CARRY_ROW = 0, 1, 2, 3
#   POOL_ROW   output row = the input row's horizontal windows (the window's first row)
#   MAX_ROW    carry = those windows; output row = max(output row, carry)
#   CARRY_OUT  output row = carry (the row this window shares with the previous one)
#   CARRY_ROW  carry = those windows; output row = carry (a window's first row, shared with the next)


@dataclass
class Group:
    stages: list
    edges: list
    runs: list

    @property
    def steps(self):
        return [st.step for st in self.stages]

    @property
    def input(self):
        return self.stages[0].step.inputs[0]

    @property
    def output(self):
        return self.stages[-1].step.output

    def carry_name(self, stage):
        return f"{stage.step.output}:carry"


@dataclass
class Schedule:
    steps: list
    graph: object
    groups: list = field(default_factory=list)

    def units(self):
        """The execution order: each item a lone Step or a Group (at its first step's place)."""
        first = {grp.steps[0].index: grp for grp in self.groups}
        inside = {s.index for grp in self.groups for s in grp.steps}
        out = []
        for s in self.steps:
            if s.index in first:
                out.append(first[s.index])
            elif s.index not in inside:
                out.append(s)
        return out

    def add_buffers(self, packer):
        """Declare every buffer with its sub-step lifetime (planner.plan's schedule client)."""
        g = self.graph
        tensor_buffer, scratch_buffer, substep_step = {}, {}, []
        span = {}                                   # root buffer -> [first, last, tensors, size]

        def write(tensor, t, alias=None):
            if alias is not None:
                tensor_buffer[tensor] = tensor_buffer[alias]
            else:
                tensor_buffer[tensor] = tensor
                span[tensor] = [t, t, [], g.tensors[tensor].size]
            span[tensor_buffer[tensor]][2].append(tensor)
            read(tensor, t)

        def read(tensor, t):
            if tensor in tensor_buffer:             # the pixel input is the caller's
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
            t0, last = len(substep_step), len(unit.stages) - 1
            written = [{} for _ in unit.edges]      # edge -> row -> (written, last read)
            scratch_at = []
            for r in unit.runs:
                t = len(substep_step)
                st = unit.stages[r.stage]
                substep_step.append(st.step.index)
                if r.stage == 0:
                    read(unit.input, t)
                else:                               # the rows this command reads
                    rows = written[r.stage - 1]
                    lo, hi = (r.in_first, r.in_first + (r.in_rows != CARRY_OUT)) if st.by_row else st.needs(r.y)
                    for row in range(lo, hi):
                        rows[row] = (rows[row][0], t)
                if r.stage == last:
                    if unit.output not in tensor_buffer:
                        write(unit.output, t)
                    read(unit.output, t)
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
        for name, (first, lst, tensors, size) in span.items():
            packer.add_buffer(name, size, first, lst, "tensor", tensors)
        return tensor_buffer, scratch_buffer, substep_step

    def to_json_dict(self):
        return {"groups": [{"steps": [s.index for s in grp.steps], "names": [s.name for s in grp.steps],
                            "line_buffers": [{"tensor": e.tensor, "rows": e.cap, "row_bytes": e.row_bytes}
                                             for e in grp.edges],
                            "commands": len(grp.runs),
                            "moved_bytes": sum(r.keep * grp.edges[r.stage].row_bytes
                                               for r in grp.runs if r.drop)}
                           for grp in self.groups]}

    def describe(self):
        """Text lines for plan.txt: one per group."""
        out = []
        for i, grp in enumerate(self.groups):
            bufs = ", ".join([f"{e.tensor} {e.cap}x{e.row_bytes} B" for e in grp.edges]
                             + [f"{st.step.name} carry {st.carry_bytes} B" for st in grp.stages if st.carry_bytes])
            out.append(f"fused group {i}: {' -> '.join(s.name for s in grp.steps)}; "
                       f"line buffers {bufs}; {len(grp.runs)} row commands")
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


def _stage(step, g):
    p = step.params
    (ih, iw, ic), (oh, ow, oc) = g.tensors[step.inputs[0]].shape, g.tensors[step.output].shape
    window = step.rows.window
    if window == "conv":
        k, stride, pad = p["dil_h"] * (p["k_h"] - 1) + 1, p["stride_h"], p["pad_h"]
    elif window == "pool":
        k, stride, pad = p["k_h"], p["stride_h"], p["pad_h"]
    else:
        k, stride, pad = 1, 1, 0
    return Stage(step, window, ih, oh, k, stride, pad, iw * ic, ow * oc)


def _streamable(step, g):
    if step.rows is None or step.alias is not None or len(step.inputs) != 1:
        return False
    if step.rows.window == "pool" and step.params["pad_h"] != 0:
        return False        # the pools' divisor clip at in_h + pad_h (kernels/common/nn_rows.h)
    return len(g.tensors[step.output].shape) == 3


def chains(steps, g):
    """Maximal chains of streamable steps, each reading only the previous one's output."""
    readers = {}
    for s in steps:
        for t in s.inputs:
            readers.setdefault(t, []).append(s)
    by_output = {s.output: s for s in steps}
    out = []
    for s in steps:
        prev = by_output.get(s.inputs[0]) if s.inputs else None
        if prev is not None and _links(prev, s, readers, g):
            continue                               # not a chain head
        chain = [s]
        while True:
            nxt = readers.get(chain[-1].output, [])
            if len(nxt) != 1 or not _links(chain[-1], nxt[0], readers, g):
                break
            chain.append(nxt[0])
        if len(chain) > 1:
            out.append(chain)
    return out


def _links(a, b, readers, g):
    return (_streamable(a, g) and _streamable(b, g) and b.inputs == [a.output]
            and len(readers.get(a.output, [])) == 1 and a.output not in g.outputs)


def make_group(chain, g):
    stages = [_stage(s, g) for s in chain]
    for st in stages[1:]:   # a max pool after a streamed step takes its rows one at a time
        st.by_row = st.step.rows.hrow is not None and st.pad == 0 and st.k <= st.stride + 1
    edges = [Edge(a.step.output, a.out_row_bytes, 1 if b.by_row else b.k) for a, b in zip(stages, stages[1:])]
    return Group(stages, edges, _simulate(stages, edges))


def _simulate(stages, edges):
    """The group's commands: pull every output row of the last stage, each stage producing the
    rows its consumer needs, one at a time."""
    runs, done = [], [0] * len(stages)

    def out_slot(i, y):
        """Where output row y of stage i goes: (slot, drop, keep), making room when full."""
        if i == len(stages) - 1:
            return y, 0, 0
        e, drop, keep = edges[i], 0, 0
        if e.count == e.cap:                       # full: drop the rows the consumer is past
            drop = min(e.keep - e.first, e.count)  # (all, when a stride skips rows)
            assert drop > 0, (i, y, e)
            keep = e.count - drop
            e.first, e.count = e.first + drop, keep
        slot = e.count
        e.count += 1
        assert e.first + slot == y
        return slot, drop, keep

    def pull(i, row):
        """Make input row `row` of stage i present in its input buffer."""
        e = edges[i - 1]
        while e.first + e.count <= row:
            produce(i - 1)

    def produce(i):
        st, y = stages[i], done[i]
        lo, hi = st.needs(y)
        if st.by_row:
            return produce_by_row(i, y, lo, hi)
        if i == 0:
            in_first, in_rows = 0, st.in_h
        else:
            edges[i - 1].keep = lo
            pull(i, hi - 1)
            in_first, in_rows = edges[i - 1].first, edges[i - 1].count
        runs.append(Run(i, y, in_first, in_rows, *out_slot(i, y)))
        done[i] += 1

    def produce_by_row(i, y, lo, hi):
        """Max pool row y = max over its window's rows of their horizontal windows; the row two
        windows share (k = stride + 1) is kept in the carry row."""
        st, e = stages[i], edges[i - 1]
        slot, drop, keep = out_slot(i, y)
        first = lo
        if st.k > st.stride and y > 0 and lo == stages[i].needs(y - 1)[1] - 1:
            runs.append(Run(i, y, lo, CARRY_OUT, slot, drop, keep))
            drop = keep = 0
            first = lo + 1
        for r in range(first, hi):
            e.keep = r
            pull(i, r)
            shared = st.k > st.stride and y + 1 < st.out_h and stages[i].needs(y + 1)[0] == r
            if r == lo:
                op = CARRY_ROW if shared else POOL_ROW
            else:
                op = MAX_ROW
            runs.append(Run(i, y, r, op, slot, drop, keep))
            drop = keep = 0
        done[i] += 1

    for _ in range(stages[-1].out_h):
        produce(len(stages) - 1)
    return runs


def build(steps, g, cuts):
    """The schedule with these chains cut where `cuts` says: cuts[c] is one bool per edge of
    chain c (True: a whole tensor, False: a line buffer)."""
    groups = []
    for chain, cut in zip(chains(steps, g), cuts):
        run = [chain[0]]
        for s, c in zip(chain[1:], cut):
            if c:
                if len(run) > 1:
                    groups.append(make_group(run, g))
                run = [s]
            else:
                run.append(s)
        if len(run) > 1:
            groups.append(make_group(run, g))
    return Schedule(steps, g, groups)


def _options(n):
    if n <= MAX_SEARCH_EDGES:
        return list(product((False, True), repeat=n))
    return [(False,) * n, (True,) * n] + [tuple(j == i for j in range(n)) for i in range(n)]


def smallest(steps, g, arena_of):
    """The schedule with the smallest arena (`arena_of(schedule)`), chains cut one at a time
    (each chain's best cutting with the others fixed); ties go to fewer line buffers."""
    cs = chains(steps, g)
    cuts = [(False,) * (len(c) - 1) for c in cs]
    best = arena_of(build(steps, g, cuts))
    for i, c in enumerate(cs):
        for opt in _options(len(c) - 1):
            trial = cuts[:i] + [opt] + cuts[i + 1:]
            a = arena_of(build(steps, g, trial))
            if (a, -sum(opt)) < (best, -sum(cuts[i])):
                best, cuts = a, trial
    return build(steps, g, cuts)


def choose(steps, g, memory, arena_budget, plan_of):
    """(schedule or None for layer by layer, its plan) for manifest `memory` (MEMORY_MODES);
    `plan_of(schedule)` is planner.plan for these steps; `arena_budget` (bytes or None) is what
    `auto` compares the layer-by-layer arena with."""
    if memory not in MEMORY_MODES:
        raise ValueError(memory)
    lbl = plan_of(None)
    if memory == "fast" or (memory == "auto" and (arena_budget is None or lbl.arena_bytes <= arena_budget)):
        return None, lbl
    if not chains(steps, g):
        return None, lbl
    sch = smallest(steps, g, lambda s: plan_of(s).arena_bytes)
    p = plan_of(sch)
    return (sch, p) if p.arena_bytes < lbl.arena_bytes else (None, lbl)
