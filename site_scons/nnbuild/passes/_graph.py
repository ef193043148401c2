"""Small graph-editing helpers shared by the passes."""


def sole_reader(g, tensor):
    """The only op reading `tensor`, or None (several readers, none, or a graph output)."""
    users = g.consumers(tensor)
    if len(users) != 1 or tensor in g.outputs:
        return None
    return users[0]


def bypass(g, op):
    """Remove single-input `op`, its output now being its input's producer's output: readers of
    op's output read op's input instead. Keeps the output's name (later stages and reports name
    tensors after the last layer that wrote them, e.g. an in-place Caffe ReLU)."""
    src, dst = op.inputs[0], op.outputs[0]
    prod = g.producer(src)
    prod.outputs = [dst]
    del g.tensors[src]
    g.ops.remove(op)
