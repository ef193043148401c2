"""Exact graph rewrites applied before quantization.

relu_before_max_pool: `x -> max_pool -> relu` becomes `x -> relu -> max_pool`.
max and ReLU commute (ReLU is monotonic: max(relu(a), relu(b)) = relu(max(a, b))), so the float
result is identical. The gain is for q7: the producer of x (a conv) is now followed directly by a
ReLU, so its output range is non-negative, its frac bits are chosen from that range (one more bit
than a signed range), and the code generator can fuse the ReLU into the conv (act_min = 0).
Only plain ReLU (slope 0) is moved: that is the case that pays off.
"""
import copy

from .. import ir


def apply(graph):
    """A new graph with every max_pool -> relu pair swapped (see module doc)."""
    g = copy.deepcopy(graph)
    changed = True
    while changed:
        changed = False
        for i, pool in enumerate(g.ops):
            if pool.type != "max_pool":
                continue
            mid = pool.outputs[0]
            users = g.consumers(mid)
            if len(users) != 1 or mid in g.outputs:
                continue
            relu = users[0]
            if relu.type != "relu" or float(relu.attrs.get("negative_slope", 0.0)) != 0.0:
                continue
            _swap(g, pool, relu)
            changed = True
            break
    return g


def _swap(g, pool, relu):
    src, mid, dst = pool.inputs[0], pool.outputs[0], relu.outputs[0]
    new = _unique_name(g, f"{src}_relu")
    g.tensors[new] = ir.Tensor(new, tuple(g.tensors[src].shape), g.tensors[src].dtype)
    if mid != dst:      # an in-place Caffe ReLU keeps the pool's name for its output
        del g.tensors[mid]
    relu.inputs, relu.outputs = [src], [new]
    pool.inputs, pool.outputs = [new], [dst]
    # relu now runs first: move it to the pool's place in the execution order.
    g.ops.remove(relu)
    g.ops.insert(g.ops.index(pool), relu)
    # keep the tensor table in execution order too (reports list tensors in that order)
    order = [g.input] + [t for o in g.ops for t in o.outputs]
    g.tensors = {n: g.tensors[n] for n in order if n in g.tensors} | \
                {n: t for n, t in g.tensors.items() if n not in order}


def _unique_name(g, base):
    name, k = base, 1
    while name in g.tensors:
        k += 1
        name = f"{base}{k}"
    return name
