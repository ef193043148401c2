"""One format per group of activation tensors, the same way for every scheme.

Ops that keep their input's format (pooling, relu) join their tensors into one group; ops with a
fixed output format (lookup tables, softmax) fix their group's; every other group gets its format
from its calibration range through the scheme's strategy. A scheme passes three functions of its
rules: keeps_format(op) -> bool, fixed_format(op) -> format or None, and
choose(sample, lo, hi) -> (format, warning or None). A format is whatever the scheme records
(q7: frac bits; int8: (scale, zero point)).
"""
import numpy as np

from ..errors import NnbuildError
from . import stats


def share_groups(graph, keeps_format):
    """Union-find over tensor names. Returns {tensor name: representative name}."""
    parent = {n: n for n in graph.tensors}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for op in graph.ops:
        if keeps_format(op):
            for t in op.inputs:
                if t != graph.input:
                    parent[find(t)] = find(op.outputs[0])
    return {n: find(n) for n in graph.tensors}


def feeds_only_relu(graph, name):
    """True when every consumer is a plain ReLU: negative values of such a tensor may saturate
    freely (the ReLU zeroes them anyway), so they do not count when choosing its format."""
    users = graph.consumers(name)
    return bool(users) and name not in graph.outputs and all(
        u.type == "relu" and float(u.attrs.get("negative_slope", 0.0)) == 0.0 for u in users)


def assign(graph, pixels, keeps_format, fixed_format, choose, warnings):
    """{tensor name: format} for every activation tensor (graph input excluded); appends the
    strategy's warnings."""
    groups = share_groups(graph, keeps_format)
    fixed = {groups[op.outputs[0]]: fixed_format(op) for op in graph.ops if fixed_format(op) is not None}
    members = {}
    for name in graph.tensors:
        if name != graph.input:
            members.setdefault(groups[name], []).append(name)
    st = stats.collect(graph, pixels)
    formats = {}
    for rep, names in members.items():
        if rep in fixed:
            fmt = fixed[rep]
        else:
            # Tensors that only feed a plain ReLU are judged by the ReLU's output (same group).
            used = [n for n in names if not feeds_only_relu(graph, n)] or names
            lo = min(st[n].lo for n in used)
            hi = max(st[n].hi for n in used)
            sample = np.concatenate([st[n].sample for n in used])
            try:
                fmt, warn = choose(sample, lo, hi)
            except NnbuildError as e:
                if e.where:
                    raise
                op = graph.producer(rep)
                raise NnbuildError(e.message, where=f"layer '{op.name}' output '{rep}'" if op else f"tensor '{rep}'",
                                   expected=e.expected) from None
            if warn:
                warnings.append(f"tensor '{', '.join(names)}': {warn}")
        for n in names:
            formats[n] = fmt
    _align_concat_inputs(graph, groups, formats, set(fixed))
    return formats


def _align_concat_inputs(graph, groups, formats, fixed_groups):
    """Give a concat input the concat's format when nothing else reads that input's group: the
    concat then is a plain copy, and the input is rounded once instead of twice. Inputs read
    elsewhere (or with a fixed format) keep theirs; the concat requantizes them."""
    for op in graph.ops:
        if op.type != "concat":
            continue
        out = formats[op.outputs[0]]
        for t in op.inputs:
            rep = groups.get(t)
            if t == graph.input or rep in fixed_groups or rep == groups[op.outputs[0]]:
                continue
            members = [n for n in graph.tensors if groups.get(n) == rep]
            outside = [u for n in members for u in graph.consumers(n)
                       if u is not op and groups.get(u.outputs[0]) != rep]
            if not outside and not any(n in graph.outputs for n in members):
                for n in members:
                    formats[n] = out
